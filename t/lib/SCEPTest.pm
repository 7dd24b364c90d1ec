package SCEPTest;
# Helpers for mod_scep's Apache::Test suite: raw HTTP to 127.0.0.1, the
# scepreq tool, certmonger and micromdm scepclient runs in scratch
# directories, programs run in the foreground, in the background or several
# at once, database queries (SQLite, PostgreSQL and MariaDB), DER/PEM
# utilities, private httpd instances, and the error_log police. The command
# lines themselves are in t/lib/SCEPCommand.pm (re-exported here).
#
# Every helper talks to 127.0.0.1 only. Scratch files go to
# t/logs/work/<test file>/, which is emptied when a test file starts.
use strict;
use warnings;

use Exporter 'import';
use Apache::Test ();
use Apache::TestConfig ();
use Carp qw(croak);
use Digest::SHA ();
use File::Basename qw(basename dirname);
use File::Path qw(mkpath rmtree);
use File::Spec::Functions qw(catfile catdir);
use IO::Socket::INET ();
use JSON::PP ();
use MIME::Base64 qw(encode_base64 decode_base64);
use POSIX ();
use Test::More ();
use Time::HiRes ();
use SCEPCommand qw(:all);

our @EXPORT_OK = (qw(
    t_dir pki challenge port base_url work_dir work_file
    http get_caps http10
    run_cmd run_cmds start_cmd cmd_alive cmd_wait cmd_output poll sqlite_hold
    run_at_once run_parallel
    scepreq scepreq_bin new_key new_keys build_request send_request parse_reply enroll
    openssl_csr
    b64_std b64_escaped b64_wrapped b64_url
    certmonger_enroll certmonger_session certmonger_submit micromdm_enroll micromdm_start
    micromdm_pending
    db_rows db_value db_exec pg_conninfo sqlite_file
    read_file write_file pem_certs_der pem_file_der cert_info cert_serial_info cert_fp key_fp
    openssl_verify asn1parse der_serial_bytes norm_serial
    private_httpd private_httpd_stop private_httpd_start_again httpd_bin modules_dir
    httpd_config_test preload_shim
    log_mark error_log_lines error_log_clean
), @SCEPCommand::EXPORT_OK);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

$SIG{PIPE} = 'IGNORE';

######################################################################
# paths and configuration

sub vars { Apache::Test::vars(@_) }

sub t_dir { vars('t_dir') }

# pki('ca.pem') -> t/conf/scep/ca.pem
sub pki { catfile(vars('scep_pki'), @_) }

sub sqlite_file { vars('scep_db') }

sub challenge {
    my $c = read_file(pki('challenge'));
    $c =~ s/\s+\z//;
    return $c;
}

# Port of the main server, or of a <VirtualHost NAME> section.
sub port {
    my $vhost = shift;
    my $cfg = Apache::Test::config();
    return $cfg->{vars}->{port} unless $vhost;
    my $vh = $cfg->{vhosts}->{$vhost} or croak "no vhost $vhost in the test config";
    return $vh->{port};
}

sub base_url {
    my $vhost = shift;
    return 'http://127.0.0.1:' . port($vhost);
}

my $WORK;
my $WORK_PID;    # the process that made $WORK
my $SEQ = 0;

# t/logs/work/<test file basename>/ (fresh for each test file)
sub work_dir {
    unless ($WORK) {
        (my $name = basename($0)) =~ s/\.t\z//;
        $WORK = catdir(vars('t_logs'), 'work', $name);
        rmtree($WORK) if -d $WORK;
        mkpath($WORK);
        $WORK_PID = $$;
    }
    return $WORK;
}

# A new unique path in the work dir: work_file('req', 'der') -> .../req-7.der
# (.../req-<pid>-7.der in a forked child: children count from the same
# number, so their names carry their pid)
sub work_file {
    my ($stem, $ext) = @_;
    $SEQ++;
    my $dir = work_dir();
    my $pid = $$ == $WORK_PID ? '' : "$$-";
    return catfile($dir, "$stem-$pid$SEQ" . (defined $ext ? ".$ext" : ''));
}

sub read_file {
    my $f = shift;
    open my $fh, '<:raw', $f or croak "$f: $!";
    local $/;
    my $d = <$fh>;
    return defined $d ? $d : '';
}

sub write_file {
    my ($f, $data) = @_;
    open my $fh, '>:raw', $f or croak "$f: $!";
    print $fh $data;
    close $fh or croak "$f: $!";
    return $f;
}

######################################################################
# HTTP: a small raw client, so that request lines, headers and bodies are
# sent exactly as written (literal '+', no Content-Type, HTTP/1.0 ...).

# http(method => 'GET', path => '/scep?operation=GetCACaps', vhost => undef,
#      port => N, headers => [Name => value, ...], body => BYTES,
#      version => '1.1' | '1.0', host => 1, local_addr => '127.x.y.z' (the
#      client address httpd sees))
# Returns { status, reason, protocol, headers => {lc name => value},
#           body, head, error }.
sub http {
    my %a = @_;
    my $method = $a{method} || 'GET';
    my $port = $a{port} || port($a{vhost});
    my $version = $a{version} || '1.1';
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                     ($a{local_addr} ? (LocalAddr => $a{local_addr}) : ()),
                                     Proto => 'tcp', Timeout => 30)
        or return { status => 0, error => "connect 127.0.0.1:$port: $!" };
    binmode $sock;
    my $req = "$method $a{path} HTTP/$version\r\n";
    my @h = @{ $a{headers} || [] };
    $req .= "Host: 127.0.0.1:$port\r\n" if $version ne '1.0' || $a{host};
    $req .= "Connection: close\r\n" if $version ne '1.0';
    while (my ($k, $v) = splice @h, 0, 2) {
        $req .= "$k: $v\r\n";
    }
    $req .= "Content-Length: " . length($a{body}) . "\r\n"
        if defined $a{body} && !$a{no_length};
    $req .= "\r\n";
    $req .= $a{body} if defined $a{body};

    my $resp = '';
    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm($a{timeout} || 60);
        my $off = 0;
        while ($off < length $req) {
            my $n = syswrite($sock, $req, 65536, $off);
            last unless $n;    # the server may close early (413)
            $off += $n;
        }
        while (1) {
            my $n = sysread($sock, my $buf, 65536);
            last unless $n;
            $resp .= $buf;
        }
        alarm 0;
    };
    alarm 0;
    close $sock;
    my $err = $@;
    my %r = (status => 0, headers => {}, body => '', raw => $resp);
    $r{error} = $err if $err;
    my $i = index($resp, "\r\n\r\n");
    return \%r if $i < 0;
    my $head = substr($resp, 0, $i);
    my $body = substr($resp, $i + 4);
    my ($status_line, @lines) = split /\r\n/, $head;
    @r{qw(protocol status reason)} = $status_line =~ m{^(HTTP/\d\.\d) (\d{3}) ?(.*)$};
    $r{status} ||= 0;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $k = lc $k;
        $r{headers}{$k} = exists $r{headers}{$k} ? "$r{headers}{$k}, $v" : $v;
    }
    if (($r{headers}{'transfer-encoding'} || '') =~ /chunked/i) {
        my $out = '';
        while ($body =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $out .= substr($body, 0, $len, '');
            $body =~ s/\A\r\n//;
        }
        $body = $out;
    }
    $r{head} = $head;
    $r{body} = $body;
    return \%r;
}

sub http10 { http(@_, version => '1.0') }

sub get_caps {
    my %a = @_;
    my $q = 'operation=GetCACaps';
    $q .= "&message=$a{message}" if defined $a{message};
    return http(path => ($a{path} || '/scep') . "?$q", vhost => $a{vhost});
}

######################################################################
# running programs

# One forked child per job, each returning the bytes it wants to hand back
# (written to a file, read by the parent): run_parallel(sub { ... return
# BYTES }, ...) -> (BYTES, ...). A job that dies returns "died: ...".
# run_at_once holds every child until all are forked, then releases them
# together through a pipe (races).
sub run_parallel { return _fork_jobs(0, @_) }
sub run_at_once { return _fork_jobs(1, @_) }

sub _fork_jobs {
    my ($together, @jobs) = @_;
    pipe(my $rd, my $wr) or die "pipe: $!";
    my (@pids, @files);
    for my $job (@jobs) {
        my $f = work_file('job', 'out');
        push @files, $f;
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if (!$pid) {
            close $wr;
            sysread($rd, my $x, 1) if $together;    # EOF when the parent closes $wr
            my $out = eval { $job->() } // "died: $@";
            write_file($f, $out);
            POSIX::_exit(0);    # no END blocks, no Test::More in a child
        }
        push @pids, $pid;
    }
    close $rd;
    select undef, undef, undef, 0.3 if $together;
    close $wr;
    waitpid($_, 0) for @pids;
    return map { -e $_ ? read_file($_) : '' } @files;
}

# start_cmd([prog, args...], env => {K => V}, cwd => DIR, stdin => FILE)
# -> { pid, cmd, out, err (files) }: the program in the background, in its
# own process group
sub start_cmd {
    my ($cmd, %o) = @_;
    my $out = work_file('cmd', 'out');
    my $err = work_file('cmd', 'err');
    my $pid = spawn($cmd, stdout => $out, stderr => $err,
                    map { $_ => $o{$_} } grep { exists $o{$_} } qw(env cwd stdin));
    return { pid => $pid, cmd => join(' ', @$cmd), out => $out, err => $err };
}

# still running? (a finished one is reaped and its status kept)
sub cmd_alive {
    my $p = shift;
    return 0 if defined $p->{status};
    return 1 if waitpid($p->{pid}, POSIX::WNOHANG()) != $p->{pid};
    $p->{status} = $?;
    return 0;
}

# what it wrote so far: stdout . stderr
sub cmd_output {
    my $p = shift;
    return join '', map { -e $_ ? read_file($_) : '' } $p->{out}, $p->{err};
}

# cmd_wait(PROC, TIMEOUT (60 s)) -> { rc, signal, out, err, timed_out, cmd }:
# waits at most TIMEOUT seconds for it to end, else kills its process group
# (timed_out 1; kill => 1 kills it at once, also timed_out)
sub cmd_wait {
    my ($p, $timeout, %o) = @_;
    my $timed_out = 0;
    if (!defined $p->{status}) {
        eval {
            die "timeout\n" if $o{kill};
            local $SIG{ALRM} = sub { die "timeout\n" };
            alarm($timeout || 60);
            waitpid($p->{pid}, 0);
            $p->{status} = $?;
            alarm 0;
        };
        alarm 0;
        if ($@) {
            $timed_out = 1;
            kill 'KILL', -$p->{pid};
            waitpid($p->{pid}, 0);
            $p->{status} = $?;
        }
    }
    # (no kill of the process group after a normal exit: `httpd -k start`
    # leaves a daemon that may not have left the group yet)
    my $st = $p->{status};
    return {
        cmd => $p->{cmd},
        rc => $st >> 8, signal => $st & 127, timed_out => $timed_out,
        out => read_file($p->{out}), err => read_file($p->{err}),
    };
}

# run_cmd([prog, args...], timeout => 60, env => {K => V}, cwd => DIR,
#         stdin => FILE) -> { rc, signal, out, err, timed_out, cmd }
sub run_cmd {
    my ($cmd, %o) = @_;
    return cmd_wait(start_cmd($cmd, %o), $o{timeout});
}

# run_cmds([cmd], [cmd], ..., timeout => S): every command at once -> the
# run_cmd results, in order
sub run_cmds {
    my @cmds = grep { ref } @_;
    my %o = grep { !ref } @_;
    my @p = map { start_cmd($_) } @cmds;
    my $until = time + ($o{timeout} || 120);
    return map { cmd_wait($_, ($until - time) > 1 ? $until - time : 1) } @p;
}

# poll(SECONDS, sub { ... }): calls the sub every 0.1 s until it returns
# true or SECONDS have passed; -> its last value
sub poll {
    my ($seconds, $cond) = @_;
    my $until = Time::HiRes::time() + $seconds;
    while (1) {
        my $v = $cond->();
        return $v if $v || Time::HiRes::time() >= $until;
        Time::HiRes::sleep(0.1);
    }
}

# sqlite_hold(FILE, SQL, SECONDS): the sqlite3 shell runs SQL, which opens
# a transaction (BEGIN IMMEDIATE: SQLite's write lock; BEGIN and a SELECT:
# its read lock), keeps it SECONDS, then commits. -> (the shell, for
# cmd_wait and cmd_output; true once SQL has run, false if not within 10 s)
sub sqlite_hold {
    my ($file, $sql, $seconds) = @_;
    my $flag = work_file('sqlite-held', 'flag');
    my $script = work_file('hold', 'sql');
    unlink $flag;
    write_file($script, "$sql\n.shell touch $flag\n.shell sleep $seconds\nCOMMIT;\n");
    my $shell = start_cmd(sqlite3_cmd($file), stdin => $script);
    return ($shell, poll(10, sub { -e $flag }));
}

# openssl genrsa; traditional => 1 for PKCS#1 (micromdm scepclient)
sub new_key {
    my %o = @_;
    my $f = $o{file} || work_file('key', 'pem');
    my $r = run_cmd(['openssl', 'genrsa', ($o{traditional} ? '-traditional' : ()),
                     '-out', $f, $o{bits} || 2048]);
    croak "openssl genrsa failed: $r->{err}" if $r->{rc};
    return $f;
}

# new_keys(BITS, BITS, ...) -> fresh RSA key files of those sizes, made in
# parallel (new_keys((2048) x 20): twenty 2048-bit keys)
sub new_keys {
    my @bits = @_;
    my @files = map { work_file("rsa$_", 'pem') } @bits;
    my @r = run_cmds(map { ['openssl', 'genrsa', '-out', $files[$_], $bits[$_]] } 0 .. $#bits);
    for my $i (0 .. $#r) {
        croak "openssl genrsa $bits[$i] failed: $r[$i]{err}" if $r[$i]{rc} || !-s $files[$i];
    }
    return @files;
}

sub scepreq_bin {
    my $b = catfile(vars('scep_top'), 'client', 'scepreq');
    croak "$b is missing: run make" unless -x $b;
    return $b;
}

sub scepreq { run_cmd([scepreq_bin(), @_]) }

# build_request(key => FILE (new one if absent), subject => '/CN=x',
#   challenge => S (default: the test challenge; undef for none),
#   cipher, digest, type, tid, nonce, signer_self_key, tamper => [..],
#   omit => [..], all_recipients => 1, recipient => FILE, args => [..])
# -> { der, file, key, signer, tid, nonce, subject,
#      counts => { certs, signed_attrs, recipients } (what the message holds) }
sub build_request {
    my %o = @_;
    my $key = $o{key} || new_key();
    my $file = work_file('req', 'der');
    my $signer = work_file('signer', 'pem');
    my @a = ('build', '--recipient', $o{recipient} || pki('all.pem'), '--key', $key,
             '--signer-out', $signer, '--print', '-o', $file);
    my $subject = exists $o{subject} ? $o{subject} : '/CN=scep-test-' . $SEQ;
    push @a, '--subject', $subject if defined $subject;
    my $chal = exists $o{challenge} ? $o{challenge} : challenge();
    push @a, '--challenge', $chal if defined $chal;
    for my $opt (qw(cipher digest type tid nonce)) {
        push @a, "--$opt", $o{$opt} if defined $o{$opt};
    }
    push @a, '--signer-self-key', $o{signer_self_key} if $o{signer_self_key};
    push @a, '--all-recipients' if $o{all_recipients};
    push @a, '--tamper', $_ for @{ $o{tamper} || [] };
    push @a, '--omit', $_ for @{ $o{omit} || [] };
    push @a, @{ $o{args} || [] };
    my $r = scepreq(@a);
    croak "scepreq build failed ($r->{rc}): $r->{err}" if $r->{rc};
    my %p = $r->{out} =~ /^(\w+)=(.*)$/mg;
    return { der => read_file($file), file => $file, key => $key, signer => $signer,
             tid => $p{tid}, nonce => $p{nonce}, subject => $subject,
             counts => { map { $_ => $p{$_} } qw(certs signed_attrs recipients) } };
}

# Base64 forms of a GET message= value, as the clients send them.
sub b64_std { my $b = encode_base64($_[0], ''); return $b }

# certmonger: standard base64, '+', '/', '=' %-escaped, no line breaks
sub b64_escaped {
    my $b = b64_std($_[0]);
    $b =~ s/([+\/=])/sprintf('%%%02X', ord $1)/ge;
    return $b;
}

# sscep/Cisco: 64 columns joined by %0A; '+', '=' escaped, '/' literal
sub b64_wrapped {
    my $b = encode_base64($_[0]);    # 76 columns; re-wrap to 64
    $b =~ s/\n//g;
    my @l = $b =~ /(.{1,64})/g;
    $b = join("\n", @l) . "\n";
    $b =~ s/([+=\n])/sprintf('%%%02X', ord $1)/ge;
    return $b;
}

# micromdm <= 2.3: URL-safe alphabet, no padding
sub b64_url {
    my $b = b64_std($_[0]);
    $b =~ tr{+/}{-_};
    $b =~ s/=+\z//;
    return $b;
}

# send_request($req_or_der, method => 'POST'|'GET', path => '/scep',
#   vhost or port, local_addr, headers => [Name => value] (POST), query =>
#   'operation=PKIOperation' (POST), content_type => CT
#   (undef: no header), encode => \&b64_escaped (GET), get_query => sub)
sub send_request {
    my ($req, %o) = @_;
    my $der = ref $req ? $req->{der} : $req;
    my $path = $o{path} || '/scep';
    my $method = $o{method} || 'POST';
    if ($method eq 'GET') {
        my $enc = $o{encode} || \&b64_escaped;
        my $msg = $enc->($der);
        my $q = $o{message_first} ? "message=$msg&operation=PKIOperation"
                                  : "operation=PKIOperation&message=$msg";
        return http(method => 'GET', path => "$path?$q", vhost => $o{vhost}, port => $o{port},
                    local_addr => $o{local_addr});
    }
    my $q = exists $o{query} ? $o{query} : 'operation=PKIOperation';
    my @h = @{ $o{headers} || [] };
    my $ct = exists $o{content_type} ? $o{content_type} : 'application/x-pki-message';
    push @h, 'Content-Type' => $ct if defined $ct;
    return http(method => 'POST', path => $path . (defined $q ? "?$q" : ''),
                vhost => $o{vhost}, port => $o{port}, headers => \@h, body => $der,
                local_addr => $o{local_addr});
}

# parse_reply($http_response_or_bytes, $req, trust => FILE, decrypt => 1)
# -> { rc, raw_out, err, cert_file, %key=value from scepreq parse }
sub parse_reply {
    my ($resp, $req, %o) = @_;
    my $body = ref $resp ? $resp->{body} : $resp;
    my $in = write_file(work_file('rep', 'der'), $body);
    my @a = ('parse', '-i', $in, '--verify', $o{trust} || pki('all.pem'));
    my $cert;
    if ($req && !(exists $o{decrypt} && !$o{decrypt})) {
        $cert = work_file('issued', 'pem');
        push @a, '--key', $req->{key}, '--signer-cert', $req->{signer}, '--out-cert', $cert;
    }
    push @a, '--expect-nonce', $req->{nonce} if $req && $req->{nonce};
    my $r = scepreq(@a);
    my %p = $r->{out} =~ /^(\w+)=(.*)$/mg;
    $p{rc} = $r->{rc};
    $p{err} = $r->{err};
    $p{raw_out} = $r->{out};
    $p{cert_file} = $cert if $cert && -s $cert;
    return \%p;
}

# build + send + parse in one go: enroll(build => {...}, send => {...})
sub enroll {
    my %o = @_;
    my $req = build_request(%{ $o{build} || {} });
    my $resp = send_request($req, %{ $o{send} || {} });
    my $rep = $resp->{status} == 200 ? parse_reply($resp, $req, %{ $o{parse} || {} }) : {};
    return ($req, $resp, $rep);
}

# A CSR made by `openssl req` for what scepreq cannot ask for (keyUsage,
# EKU, basicConstraints, IP/email/URI/UPN names, a template name):
# openssl_csr(key => FILE, subject => [[CN => 'x'], [OU => 'y']] (in DER order),
#     challenge => S (default: the test challenge; undef for none),
#     san => ['DNS:a', 'IP:10.1.2.3', ...], ext => ['keyUsage = ...', ...],
#     template => 'WifiTemplate')
sub openssl_csr {
    my %o = @_;
    my @ext = @{ $o{ext} || [] };
    push @ext, 'subjectAltName = ' . join(', ', @{ $o{san} }) if $o{san} && @{ $o{san} };
    push @ext, "1.3.6.1.4.1.311.20.2 = ASN1:BMPSTRING:$o{template}" if defined $o{template};
    my $cnf = "[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n"
            . "string_mask = utf8only\nutf8 = yes\n";
    $cnf .= "req_extensions = ext\n" if @ext;
    $cnf .= "[dn]\n";
    my $i = 0;
    $cnf .= $i++ . ".$_->[0] = $_->[1]\n" for @{ $o{subject} || [[CN => 'prof-device']] };
    $cnf .= "[attrs]\n";
    my $ch = exists $o{challenge} ? $o{challenge} : challenge();
    $cnf .= "challengePassword = $ch\n" if defined $ch;
    $cnf .= "[ext]\n" . join("\n", @ext) . "\n" if @ext;
    my $cfg = write_file(work_file('csr', 'cnf'), $cnf);
    my $out = work_file('csr', 'pem');
    my $r = run_cmd(['openssl', 'req', '-new', '-key', $o{key}, '-config', $cfg, '-out', $out]);
    die "openssl req: $r->{err}\n$cnf" if $r->{rc};
    return $out;
}

######################################################################
# real clients

# certmonger with private state in DIR, in a private session bus that ends
# with the script: certmonger_session(DIR, [shell lines], timeout => S).
# A later session on the same DIR picks the saved requests up again (a
# request left in CA_WORKING is submitted again at once). certmonger-session
# is started by D-Bus activation (a certmonger -s started by hand needs
# /var/lib/certmonger/lock, i.e. root).
sub certmonger_session {
    my ($d, $lines, %o) = @_;
    my %env = certmonger_env($d);
    my $script = write_file(work_file('certmonger', 'sh'), join("\n", 'set -u', @$lines, ''));
    return run_cmd(['dbus-run-session', '--', 'sh', $script], env => \%env,
                   timeout => $o{timeout} || 60);
}

# one enrollment in a fresh certmonger session:
# certmonger_enroll(url => URL, cn => NAME, challenge => S|undef, ca => FILE)
# -> { status, list, cert, key, rc, out, err, dir }
sub certmonger_enroll {
    my %o = @_;
    my $d = work_file('certmonger');
    my $timeout = $o{timeout} || $ENV{SCEP_TEST_CERTMONGER_TIMEOUT} || 60;
    my $ca = $o{ca} || pki('ca.pem');
    my $chal = exists $o{challenge} ? $o{challenge} : challenge();
    my $q = sub { my $s = shift; $s =~ s/'/'\\''/g; "'$s'" };
    my $r = certmonger_session($d, [
        "getcert add-scep-ca -s -c scep-test -u " . $q->($o{url}) . " -N " . $q->($ca),
        "timeout $timeout getcert request -s -c scep-test -f $d/out/cert.pem -k $d/out/key.pem"
            . (defined $chal ? ' -L ' . $q->($chal) : '')
            . ' -N ' . $q->("CN=$o{cn}") . ' -w -v',
        'echo "getcert-request-rc=$?"',
        'getcert list -s'], timeout => $timeout + 20);
    my ($status) = $r->{out} =~ /^\s*status:\s*(\S+)/m;
    return { %$r, status => $status || '', dir => $d,
             cert => "$d/out/cert.pem", key => "$d/out/key.pem" };
}

# scep-submit (no daemon): certmonger_submit(url => URL, '-c') ...
sub certmonger_submit {
    my ($url, @args) = @_;
    return run_cmd(['/usr/lib/certmonger/scep-submit', '-u', $url, @args], timeout => 30);
}

# micromdm scepclient. It keeps csr.pem and self.pem in its working
# directory and reuses them, so each identity gets its own dir.
# micromdm_enroll(url => URL, dir => DIR (new if absent), key => FILE (new
# PKCS#1 key if absent), cn => NAME, challenge => S, out => 'cert.pem',
# timeout => S) -> run_cmd's result + { dir, key, cert }
sub micromdm_enroll {
    my %o = @_;
    my ($cmd, $info) = _micromdm(%o);
    my $r = run_cmd($cmd, cwd => $info->{dir}, timeout => $o{timeout} || 60);
    return { %$r, %$info };
}

# the same in the background: start_cmd's process + { dir, key, cert }
sub micromdm_start {
    my %o = @_;
    my ($cmd, $info) = _micromdm(%o);
    return { %{ start_cmd($cmd, cwd => $info->{dir}) }, %$info };
}

# scepclient at a Location that holds its request: it reports PENDING,
# then sleeps 30 s before it resends. micromdm_pending(same options,
# timeout => S (30)) runs it until it has said PENDING (at most S seconds)
# and stops it -> run_cmd's result + { dir, key, cert, waiting } (waiting:
# it was still running, i.e. waiting to resend, once it had said PENDING)
sub micromdm_pending {
    my %o = @_;
    my $mm = micromdm_start(%o);
    my $pending = poll($o{timeout} || 30, sub { cmd_output($mm) =~ /pkiStatus=PENDING/ || !cmd_alive($mm) });
    my $waiting = $pending && cmd_alive($mm) ? 1 : 0;
    my $r = cmd_wait($mm, 0, kill => 1);
    return { %$r, (map { $_ => $mm->{$_} } qw(dir key cert)), waiting => $waiting };
}

sub _micromdm {
    my %o = @_;
    my $d = $o{dir} || work_file('micromdm');
    mkpath($d) unless -d $d;
    my $key = $o{key} || "$d/key.pem";
    new_key(file => $key, traditional => 1) unless -e $key;
    my $cert = catfile($d, $o{out} || 'cert.pem');
    my $chal = exists $o{challenge} ? $o{challenge} : challenge();
    return (['scepclient', '-server-url', $o{url}, '-private-key', $key,
             '-certificate', $cert, (defined $chal ? ('-challenge', $chal) : ()),
             '-cn', $o{cn} || 'scepclient'],
            { dir => $d, key => $key, cert => $cert });
}

######################################################################
# databases

sub pg_conninfo { $ENV{SCEP_TEST_PGSQL} }

# The database a query goes to: (no option) the test server's SQLite, file
# => PATH another SQLite database; pg => 1 the SCEP_TEST_PGSQL database,
# with conninfo => CI another one (or search_path); mysql => 1 the scratch
# MariaDB's database scep. -> the run_cmd result of SQL there.
sub _db_run {
    my ($sql, %o) = @_;
    my $cmd = $o{mysql} ? mariadb_cmd('-e', $sql)
            : $o{pg}    ? psql_cmd($o{conninfo} || pg_conninfo(), '-A', '-t', '-c', $sql)
            :             sqlite3_cmd($o{file} || sqlite_file(), @{ $o{sqlite_args} || [] }, $sql);
    my $r = run_cmd($cmd);
    croak "query failed ($sql): $r->{err}" if $r->{rc};
    return $r;
}

# db_exec($sql, same options as db_rows) -> what the shell printed; dies
# if the statement fails
sub db_exec { return _db_run(@_)->{out} }

# db_rows($sql, pg => 1 | mysql => 1 | file => PATH, conninfo => CI)
# -> [ {column => value}, ... ] (NULL is undef). On PostgreSQL $sql may
# also be an INSERT/UPDATE ... RETURNING.
sub db_rows {
    my ($sql, %o) = @_;
    if ($o{mysql}) {
        # batch output: a header line, then tab-separated rows; NULL for NULL
        my @lines = split /\n/, _db_run($sql, %o)->{out};
        return [] unless @lines;
        my @cols = split /\t/, shift @lines, -1;
        my @rows;
        for my $line (@lines) {
            my @v = map { $_ eq 'NULL' ? undef : $_ } split /\t/, $line, -1;
            push @rows, { map { $cols[$_] => $v[$_] } 0 .. $#cols };
        }
        return \@rows;
    }
    my $r = $o{pg} ? _db_run("WITH q AS ($sql) SELECT coalesce(json_agg(q), '[]'::json) FROM q", %o)
                   : _db_run($sql, %o, sqlite_args => ['-json']);
    my $out = $r->{out};
    return [] unless $out =~ /\S/;
    return JSON::PP->new->decode($out);
}

# first column of the first row
sub db_value {
    my $rows = db_rows(@_);
    return undef unless @$rows;
    my ($k) = keys %{ $rows->[0] };
    return $rows->[0]{$k};
}

######################################################################
# certificates and DER

# DER of every certificate in a PEM text, in order
sub pem_certs_der {
    my $pem = shift;
    my @der;
    while ($pem =~ /-----BEGIN CERTIFICATE-----\s*(.*?)-----END CERTIFICATE-----/sg) {
        push @der, decode_base64($1);
    }
    return @der;
}

sub pem_file_der { my @d = pem_certs_der(read_file($_[0])); return $d[0] }

# uppercase hex SHA-256 of a key's SubjectPublicKeyInfo DER (the key_fp column)
sub key_fp {
    my $r = run_cmd(['openssl', 'pkey', '-in', shift, '-pubout', '-outform', 'DER']);
    return $r->{rc} ? '' : uc Digest::SHA::sha256_hex($r->{out});
}

# uppercase hex SHA-256 of a PEM certificate's DER (the signer_fp column)
sub cert_fp {
    my $der = pem_file_der(shift);
    return defined $der ? uc Digest::SHA::sha256_hex($der) : '';
}

# cert_info(FILE_PEM) -> { subject, issuer, serial, not_before, not_after,
#   pubkey (PEM) }
sub cert_info {
    my $f = shift;
    my $r = run_cmd(['openssl', 'x509', '-in', $f, '-noout', '-nameopt', 'RFC2253',
                     '-subject', '-issuer', '-serial', '-startdate', '-enddate']);
    return undef if $r->{rc};
    my %i;
    for (split /\n/, $r->{out}) {
        $i{subject} = $1 if /^subject=(.*)$/;
        $i{issuer} = $1 if /^issuer=(.*)$/;
        $i{serial} = $1 if /^serial=(.*)$/;
        $i{not_before} = $1 if /^notBefore=(.*)$/;
        $i{not_after} = $1 if /^notAfter=(.*)$/;
    }
    my $k = run_cmd(['openssl', 'x509', '-in', $f, '-noout', '-pubkey']);
    $i{pubkey} = $k->{out};
    return \%i;
}

# openssl verify -CAfile CA CERT -> 1 if "CERT: OK"
sub openssl_verify {
    my ($ca, $cert, @untrusted) = @_;
    my $r = run_cmd(['openssl', 'verify', '-CAfile', $ca,
                     (map { ('-untrusted', $_) } @untrusted), $cert]);
    return $r->{rc} == 0 && $r->{out} =~ /: OK$/m ? 1 : 0;
}

# asn1parse of a DER file -> list of { offset, depth, hl, len, cons, tag, value }
sub asn1parse {
    my $file = shift;
    my $r = run_cmd(['openssl', 'asn1parse', '-inform', 'DER', '-in', $file]);
    croak "asn1parse: $r->{err}" if $r->{rc};
    my @n;
    for (split /\n/, $r->{out}) {
        next unless /^\s*(\d+):d=\s*(\d+)\s+hl=\s*(\d+)\s+l=\s*(\d+|inf)\s+(cons|prim):\s*(.*?)\s*$/;
        my ($tag, $value) = split /\s*:/, $6, 2;
        $tag =~ s/\s+$//;
        push @n, { offset => $1, depth => $2, hl => $3, len => $4, cons => $5 eq 'cons',
                   tag => $tag, value => $value };
    }
    return @n;
}

# The serial number's content octets, read from a certificate's DER.
sub der_serial_bytes {
    my $der = shift;
    my $pos = 0;
    my $hdr = sub {    # -> (tag, content offset, content length)
        my $p = shift;
        my $tag = ord substr($der, $p, 1);
        my $l = ord substr($der, $p + 1, 1);
        my $off = $p + 2;
        if ($l & 0x80) {
            my $n = $l & 0x7f;
            $l = 0;
            $l = ($l << 8) | ord(substr($der, $off++, 1)) for 1 .. $n;
        }
        return ($tag, $off, $l);
    };
    my (undef, $cert_off) = $hdr->(0);          # Certificate SEQUENCE
    my (undef, $tbs_off) = $hdr->($cert_off);   # TBSCertificate SEQUENCE
    my ($tag, $off, $len) = $hdr->($tbs_off);
    if ($tag == 0xa0) {                          # [0] version
        ($tag, $off, $len) = $hdr->($off + $len);
    }
    return undef unless $tag == 0x02;            # INTEGER
    return substr($der, $off, $len);
}

# Serial bytes -> { hex, bits, positive, minimal, octets }
sub cert_serial_info {
    my $file = shift;
    my $bytes = der_serial_bytes(pem_file_der($file));
    my @b = unpack 'C*', $bytes;
    my $hex = uc unpack 'H*', $bytes;
    my $bits = 0;
    my @s = @b;
    shift @s while @s && $s[0] == 0;
    if (@s) {
        my $top = $s[0];
        my $tb = 0;
        $tb++, $top >>= 1 while $top;
        $bits = 8 * (@s - 1) + $tb;
    }
    return {
        hex => norm_serial($hex), bits => $bits, octets => scalar @b,
        positive => (@b && $b[0] < 0x80 && @s) ? 1 : 0,
        minimal => (@b == 1 || !($b[0] == 0 && $b[1] < 0x80)) ? 1 : 0,
    };
}

# uppercase hex without leading zeros, for comparing serial spellings
sub norm_serial {
    my $s = uc(shift // '');
    $s =~ s/[^0-9A-F]//g;
    $s =~ s/^0+(?=.)//;
    return $s;
}

######################################################################
# private httpd instances (config-error checks, single-CA mode)

sub httpd_bin { vars('httpd') || '/usr/sbin/apache2' }

sub modules_dir {
    my $apxs = vars('apxs') || 'apxs';
    my $d = `$apxs -q LIBEXECDIR 2>/dev/null`;
    chomp $d if defined $d;
    return $d && -d $d ? $d : '/usr/lib/apache2/modules';
}

# What every private instance starts with: its own root, port, pid and log
# files, and the modules mod_scep needs (the MPM and others are the
# caller's). Its place in a configuration is written @HTTPD_BASE@.
my $HTTPD_BASE = <<'EOC';
ServerRoot "@DIR@"
ServerName 127.0.0.1
Listen 127.0.0.1:@PORT@
PidFile "@DIR@/logs/httpd.pid"
ErrorLog "@DIR@/logs/error_log"
DefaultRuntimeDir "@DIR@/logs"
LogLevel info
LoadModule authz_core_module "@MODULES@/mod_authz_core.so"
LoadModule dbd_module "@MODULES@/mod_dbd.so"
LoadModule scep_module "@SCEP_SO@"
EOC

# Lines of their own in a configuration, where they stand (indented as
# the placeholder is): @TEST_CA@, the test PKI's CA in RA mode;
# @AUTH_MODULES@, the modules of Basic authentication (scep-admin);
# @ONE_CHILD@, prefork with one child, so that one process serves every
# request; @SQLITE_DB@, the instance's SQLite database (@DB@) for mod_dbd;
# @MANUAL_POINT@, an enrollment point that holds requests for approval
# (/life-manual, as in t/conf/lifecycle.conf.in); @ADMIN@, the admin
# endpoint at /adm for the users of lifecycle/admins.htpasswd.
my %BLOCK = (
    MANUAL_POINT => <<'EOC',
<Location /life-manual>
    SetHandler scep
    SCEPChallengePasswordFile "@PKI@/challenge"
    SCEPApproval manual
</Location>
EOC
    ADMIN => <<'EOC',
<Location /adm>
    SetHandler scep-admin
    AuthType Basic
    AuthName "mod_scep admin"
    AuthUserFile "@PKI@/../../lifecycle/admins.htpasswd"
    Require valid-user
</Location>
EOC
    ONE_CHILD => <<'EOC',
LoadModule mpm_prefork_module "@MODULES@/mod_mpm_prefork.so"
StartServers 1
MinSpareServers 1
MaxSpareServers 1
ServerLimit 1
MaxRequestWorkers 1
MaxConnectionsPerChild 0
EOC
    SQLITE_DB => <<'EOC',
DBDriver sqlite3
DBDParams "@DB@"
DBDInitSQL "PRAGMA journal_mode=WAL"
DBDInitSQL "PRAGMA busy_timeout=10000"
EOC
    TEST_CA => <<'EOC',
SCEPCACertificateFile "@PKI@/ca.pem"
SCEPCACertificateKeyFile "@PKI@/ca.key"
SCEPRACertificateFile "@PKI@/ra.pem"
SCEPRACertificateKeyFile "@PKI@/ra.key"
EOC
    AUTH_MODULES => <<'EOC',
LoadModule authn_core_module "@MODULES@/mod_authn_core.so"
LoadModule authn_file_module "@MODULES@/mod_authn_file.so"
LoadModule auth_basic_module "@MODULES@/mod_auth_basic.so"
LoadModule authz_user_module "@MODULES@/mod_authz_user.so"
EOC
);

sub _block {
    my ($indent, $name) = @_;
    return "$indent\@$name\@\n" unless $BLOCK{$name};
    return $BLOCK{$name} =~ s/^/$indent/mgr;
}

# private_httpd(name => 'single', conf => TEXT) where TEXT may use
# @HTTPD_BASE@ (the lines above), the blocks above, @DIR@
# (instance dir), @PORT@, @MODULES@, @SCEP_SO@, @PKI@, @DB@; a fresh
# SQLite database with the schema is made at @DB@ (then prepare_db => CODE,
# if given, is called with its path before httpd starts; env => {K => V}
# adds to httpd's environment).
# Starts httpd and waits until it answers; returns { dir, port, conf, rc,
# out, err, ok }.
sub private_httpd {
    my %o = @_;
    my $h;
    for my $try (1 .. 3) {
        $h = _private_httpd(%o);
        # another process may take a free_port() before httpd binds it
        last if $h->{ok} || $o{port} || ($h->{out} . $h->{err}) !~ /Address already in use|could not bind/i;
    }
    return $h;
}

sub _private_httpd {
    my %o = @_;
    my $dir = catdir(work_dir(), "httpd-$o{name}");
    rmtree($dir);
    mkpath("$dir/logs");
    my $port = $o{port} || free_port();
    my $db = "$dir/scep.sqlite";
    my $schema = catfile(vars('scep_top'), 'conf', 'schema-sqlite3.sql');
    my $s = run_cmd(schema_cmd(sqlite => $db, $schema));
    croak "schema: $s->{err}" if $s->{rc};
    $o{prepare_db}->($db) if $o{prepare_db};
    my %sub = (DIR => $dir, PORT => $port, MODULES => modules_dir(),
               SCEP_SO => vars('scep_so'), PKI => vars('scep_pki'), DB => $db);
    (my $text = $o{conf}) =~ s/^\@HTTPD_BASE\@\n/$HTTPD_BASE/m;
    $text =~ s/^([ \t]*)\@(\w+)\@\n/_block($1, $2)/mge;
    $text =~ s/\@(\w+)\@/exists $sub{$1} ? $sub{$1} : "\@$1\@"/ge;
    my $conf = write_file("$dir/httpd.conf", $text);
    my $r = run_cmd([httpd_bin(), '-d', $dir, '-f', $conf, '-k', 'start'], timeout => 30,
                    ($o{env} ? (env => $o{env}) : ()));
    my $ok = 0;
    if ($r->{rc} == 0) {
        for (1 .. 50) {
            my $t = http(port => $port, path => '/', timeout => 5);
            if ($t->{status}) { $ok = 1; last }
            select undef, undef, undef, 0.1;
        }
    }
    unless ($ok) {
        # the reason is in httpd's own log once it got that far
        $r->{err} .= eval { read_file("$dir/logs/error_log") } // '';
    }
    return { %$r, dir => $dir, port => $port, conf => $conf, ok => $ok, db => $db };
}

# httpd_config_test(DIR, NAME, TEXT): `httpd -t` of TEXT written to
# DIR/NAME.conf -> (run_cmd's result, its stdout and stderr, the file)
sub httpd_config_test {
    my ($dir, $name, $text) = @_;
    my $file = write_file("$dir/$name.conf", $text);
    my $r = run_cmd([httpd_bin(), '-t', '-d', $dir, '-f', $file], timeout => 30);
    return ($r, $r->{out} . $r->{err}, $file);
}

# preload_shim(NAME, C_TEXT) -> the LD_PRELOAD value for a private httpd
# (its env): what is preloaded already (the sanitized pass's ASan runtime
# comes first), then C_TEXT built here with cc as a shared object (dies
# when it does not build)
sub preload_shim {
    my ($name, $c) = @_;
    my $src = write_file(work_file($name, 'c'), $c);
    my $so = work_file($name, 'so');
    my $cc = run_cmd(['cc', '-U_FORTIFY_SOURCE', '-shared', '-fPIC', '-o', $so, $src, '-ldl'],
                     timeout => 60);
    die "cc $name: $cc->{out}$cc->{err}" if $cc->{rc};
    return join(' ', grep { $_ } $ENV{LD_PRELOAD}, $so);
}

# start a stopped private httpd again on its configuration, database and
# port (not a fresh instance): 1 once it answers
sub private_httpd_start_again {
    my $h = shift;
    my $r = run_cmd([httpd_bin(), '-d', $h->{dir}, '-f', $h->{conf}, '-k', 'start'], timeout => 30);
    return 0 if $r->{rc};
    return poll(10, sub { http(port => $h->{port}, path => '/', timeout => 5)->{status} }) ? 1 : 0;
}

sub private_httpd_stop {
    my $h = shift;
    return unless $h && $h->{conf};
    run_cmd([httpd_bin(), '-d', $h->{dir}, '-f', $h->{conf}, '-k', 'stop'], timeout => 30);
    my $pidf = "$h->{dir}/logs/httpd.pid";
    for (1 .. 50) {
        last unless -e $pidf;
        select undef, undef, undef, 0.1;
    }
}

######################################################################
# the error_log police

sub error_log_file { catfile(vars('t_logs'), 'error_log') }

# byte offset of the end of error_log now
sub log_mark { my $f = error_log_file(); return -e $f ? -s $f : 0 }

my $LOG_START;
sub _start { $LOG_START = log_mark() unless defined $LOG_START; $LOG_START }

sub error_log_lines {
    my $from = shift // 0;
    my $f = error_log_file();
    return () unless -e $f;
    open my $fh, '<', $f or return ();
    seek $fh, $from, 0;
    my @l = <$fh>;
    chomp @l;
    return @l;
}

# error_log_clean(allow => [tag or regex, ...], from_start => 1)
# One Test::More assertion: no [warn], [error], [crit], [alert] or [emerg]
# line was logged since this test file loaded SCEPTest (or since the server
# started with from_start), except lines matching an allowed tag/regex.
sub error_log_clean {
    my %o = @_;
    my $from = $o{from_start} ? 0 : _start();
    my @allow = map { ref $_ ? $_ : qr/\Q$_\E/ } @{ $o{allow} || [] };
    my @bad;
    for my $l (error_log_lines($from)) {
        next unless $l =~ /\] \[(?:[\w.]+:)?(?:warn|error|crit|alert|emerg)\] /;
        next if grep { $l =~ $_ } @allow;
        push @bad, $l;
    }
    my $ok = Test::More::ok(!@bad, 'error_log: no [warn] or worse from this test file');
    Test::More::diag(join "\n", 'unexpected error_log lines:', @bad[0 .. ($#bad > 9 ? 9 : $#bad)])
        if @bad;
    return $ok;
}

# remember where error_log ended when the test file loaded this module
_start() if eval { Apache::Test::config(); 1 };

1;
