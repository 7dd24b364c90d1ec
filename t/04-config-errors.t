# Configuration errors stop httpd at start-up, also under `httpd -t`
# (style.md rule 8): each bad configuration is a minimal httpd.conf that
# loads mod_dbd and mod_scep itself; the message must carry the SCEP tag,
# name the directive, and give file:line where the directive was written.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);

my $P = vars_pki();
sub vars_pki { Apache::Test::vars('scep_pki') }

my $W = work_dir();
my $unreadable = "$W/unreadable.key";
write_file($unreadable, read_file("$P/ca.key"));
chmod 0000, $unreadable;
my $root_reads_all = -r $unreadable;    # root ignores the mode bits

my $CA = qq{SCEPCACertificateFile "$P/ca.pem"\nSCEPCACertificateKeyFile "$P/ca.key"\n};
my $RA = qq{SCEPRACertificateFile "$P/ra.pem"\nSCEPRACertificateKeyFile "$P/ra.key"\n};
my $LOC = qq{<Location /scep>\n    SetHandler scep\n    SCEPChallengePasswordFile "$P/challenge"\n</Location>\n};

# [name, configuration body, tag or syntax, directive whose line is quoted,
#  further regex]
my @cases = (
    ['CA key does not match the CA certificate',
     qq{SCEPCACertificateFile "$P/ca.pem"\nSCEPCACertificateKeyFile "$P/other/ca.key"\n$RA$LOC},
     'SCEP00004', 'SCEPCACertificateKeyFile', qr/does not match/],
    ['RA not issued by the CA',
     qq{${CA}SCEPRACertificateFile "$P/other/ra.pem"\nSCEPRACertificateKeyFile "$P/other/ra.key"\n$LOC},
     'SCEP00004', 'SCEPRACertificateFile', qr/not issued by the CA/],
    ['RA certificate without RA key',
     qq{${CA}SCEPRACertificateFile "$P/ra.pem"\n$LOC},
     'SCEP00004', 'SCEPRACertificateFile', qr/key/],
    ['RA key without RA certificate',
     qq{${CA}SCEPRACertificateKeyFile "$P/ra.key"\n$LOC},
     'SCEP00004', 'SCEPRACertificateKeyFile', qr/certificate/],
    ['RA key does not match the RA certificate',
     qq{${CA}SCEPRACertificateFile "$P/ra.pem"\nSCEPRACertificateKeyFile "$P/ca.key"\n$LOC},
     'SCEP00004', 'SCEPRACertificateKeyFile', qr/does not match/],
    ['CA certificate without key',
     qq{SCEPCACertificateFile "$P/ca.pem"\n$RA$LOC},
     'SCEP00003', 'SCEPCACertificateFile', qr/SCEPCACertificateKeyFile is missing/],
    ['CA key without certificate',
     qq{SCEPCACertificateKeyFile "$P/ca.key"\n$LOC},
     'SCEP00003', 'SCEPCACertificateKeyFile', qr/SCEPCACertificateFile is missing/],
    ['CA certificate file does not exist',
     qq{SCEPCACertificateFile "$W/no-such-ca.pem"\nSCEPCACertificateKeyFile "$P/ca.key"\n$RA$LOC},
     'SCEP00004', 'SCEPCACertificateFile', qr/no-such-ca\.pem/],
    ($root_reads_all ? () :
    ['CA key file unreadable (mode 000)',
     qq{SCEPCACertificateFile "$P/ca.pem"\nSCEPCACertificateKeyFile "$unreadable"\n$RA$LOC},
     'SCEP00004', 'SCEPCACertificateKeyFile', qr/unreadable\.key/]),
    ['CA without digitalSignature/keyEncipherment and no RA',
     qq{SCEPCACertificateFile "$P/noke/ca.pem"\nSCEPCACertificateKeyFile "$P/noke/ca.key"\n$LOC},
     'SCEP00004', 'SCEPCACertificateFile', qr/digitalSignature/],
    ['an end-entity certificate as the CA',
     qq{SCEPCACertificateFile "$P/ra.pem"\nSCEPCACertificateKeyFile "$P/ra.key"\n$LOC},
     'SCEP00004', 'SCEPCACertificateFile', qr/not a CA certificate/],
    ['intermediate CA without SCEPCAChainFile',
     qq{SCEPCACertificateFile "$P/inter/ca.pem"\nSCEPCACertificateKeyFile "$P/inter/ca.key"\n}
       . qq{SCEPRACertificateFile "$P/inter/ra.pem"\nSCEPRACertificateKeyFile "$P/inter/ra.key"\n$LOC},
     'SCEP00004', 'SCEPCACertificateFile', qr/SCEPCAChainFile/],
    ['RA without any CA',
     qq{$RA$LOC},
     'SCEP00002', 'SCEPRACertificateFile', qr/SCEPCACertificateFile/],
    ['chain file without any CA',
     qq{SCEPCAChainFile "$P/ca.pem"\n$LOC},
     'SCEP00002', 'SCEPCAChainFile', qr/SCEPCACertificateFile/],
    ['RA not issued by the CA, inside a <VirtualHost>',
     qq{$CA$RA$LOC<VirtualHost 127.0.0.1:\@PORT2\@>\n    SCEPRACertificateFile "$P/other/ra.pem"\n}
       . qq{    SCEPRACertificateKeyFile "$P/other/ra.key"\n</VirtualHost>\n},
     'SCEP00004', 'SCEPRACertificateFile', qr/in [^)]*\(\S+:(\d+)\)/, '<VirtualHost'],
    ['SCEPValidity banana',
     qq{$CA$RA<Location /scep>\n    SetHandler scep\n    SCEPValidity banana\n</Location>\n},
     'syntax', 'SCEPValidity', qr/banana/],
    ['SCEPMaxRequestBody below 1024',
     qq{$CA$RA<Location /scep>\n    SetHandler scep\n    SCEPMaxRequestBody 10\n</Location>\n},
     'syntax', 'SCEPMaxRequestBody', qr/1024/],
    ['SCEPChallengePasswordFile that does not exist',
     qq{$CA$RA<Location /scep>\n    SetHandler scep\n    SCEPChallengePasswordFile "$W/no-such-secret"\n</Location>\n},
     'syntax', 'SCEPChallengePasswordFile', qr/no-such-secret/],
    ['SCEPCACertificateFile inside <Location>',
     qq{$CA$RA<Location /scep>\n    SetHandler scep\n    SCEPCACertificateFile "$P/ca.pem"\n</Location>\n},
     'syntax', 'SCEPCACertificateFile', qr/not allowed|cannot occur/i],
);

plan tests => 3 + 4 * @cases + 3 + 1;

my $modules = modules_dir();
my $so = Apache::Test::vars('scep_so');

sub conf_text {
    my ($name, $body, %o) = @_;
    my $dir = "$W/$name";
    mkdir $dir;
    my $text = <<"EOC";
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$o{port}
PidFile "$dir/httpd.pid"
ErrorLog "$dir/error_log"
DefaultRuntimeDir "$dir"
LoadModule mpm_event_module "$modules/mod_mpm_event.so"
LoadModule authz_core_module "$modules/mod_authz_core.so"
@{[ $o{no_dbd} ? '' : qq{LoadModule dbd_module "$modules/mod_dbd.so"} ]}
LoadModule scep_module "$so"
@{[ $o{no_dbd} ? '' : qq{DBDriver sqlite3\nDBDParams "$dir/scep.sqlite"} ]}
EOC
    $text .= $body;
    $text =~ s/\@PORT2\@/$o{port2}/g;
    my $file = write_file("$dir/httpd.conf", $text);
    return ($file, $text, $dir);
}

# line number of the last line that starts with $word
sub line_of {
    my ($text, $word) = @_;
    my @l = split /\n/, $text;
    my $found = 0;
    for my $i (0 .. $#l) {
        $found = $i + 1 if $l[$i] =~ /^\s*\Q$word\E\b/;
    }
    return $found;
}

my $httpd = httpd_bin();

# the base configuration is fine: every failure below comes from the case
{
    my ($file, $text, $dir) = conf_text('good', "$CA$RA$LOC", port => free_port());
    my $r = run_cmd([$httpd, '-t', '-d', $dir, '-f', $file], timeout => 30);
    is($r->{rc}, 0, 'control: a valid CA + RA configuration passes httpd -t')
        or diag($r->{out} . $r->{err});
    like($r->{out} . $r->{err}, qr/Syntax OK/, 'control: Syntax OK');
}
{
    my ($file, $text, $dir) = conf_text('good-chain',
        qq{SCEPCACertificateFile "$P/inter/ca.pem"\nSCEPCACertificateKeyFile "$P/inter/ca.key"\n}
      . qq{SCEPCAChainFile "$P/inter/chain.pem"\n}
      . qq{SCEPRACertificateFile "$P/inter/ra.pem"\nSCEPRACertificateKeyFile "$P/inter/ra.key"\n$LOC},
        port => free_port());
    my $r = run_cmd([$httpd, '-t', '-d', $dir, '-f', $file], timeout => 30);
    is($r->{rc}, 0, 'control: intermediate CA with SCEPCAChainFile passes httpd -t')
        or diag($r->{out} . $r->{err});
}

my $n = 0;
for my $c (@cases) {
    my ($name, $body, $tag, $directive, $extra, $line_of) = @$c;
    $n++;
    my ($file, $text, $dir) = conf_text("case$n", $body, port => free_port(), port2 => free_port());
    my $r = run_cmd([$httpd, '-t', '-d', $dir, '-f', $file], timeout => 30);
    my $out = $r->{out} . $r->{err};
    isnt($r->{rc}, 0, "$name: httpd -t fails");
    if ($tag eq 'syntax') {
        my $line = line_of($text, $directive);
        like($out, qr/Syntax error on line $line of \Q$file\E/, "$name: httpd names $file:$line");
        like($out, qr/\Q$directive\E/, "$name: the message names $directive");
    }
    else {
        like($out, qr/\Q$tag\E: /, "$name: tagged $tag");
        my $line = line_of($text, $directive);
        like($out, qr/\Q$directive\E.*\Q$file\E:$line\b/,
             "$name: names $directive at $file:$line");
    }
    if ($line_of) {
        my $line = line_of($text, $line_of);
        like($out, qr/\Q$file\E:$line\b/, "$name: names the $line_of at line $line");
    }
    else {
        like($out, $extra, "$name: explains ($extra)");
    }
    diag("$name:\n$out") if $ENV{SCEP_TEST_VERBOSE};
}

# mod_dbd missing: caught when httpd really starts (post_config), not by -t
{
    my ($file, $text, $dir) = conf_text('no-dbd', "$CA$RA$LOC", port => free_port(), no_dbd => 1);
    my $r = run_cmd([$httpd, '-d', $dir, '-f', $file, '-DFOREGROUND'], timeout => 20);
    ok(!$r->{timed_out} && $r->{rc} != 0, 'without mod_dbd: httpd refuses to start')
        or diag("rc=$r->{rc} timed_out=$r->{timed_out}");
    my $log = ($r->{out} . $r->{err}) . (eval { read_file("$dir/error_log") } // '');
    like($log, qr/SCEP00005: .*dbd/i, 'without mod_dbd: SCEP00005 explains that mod_dbd is needed');
    ok(!-e "$dir/httpd.pid", 'without mod_dbd: no server left running');
}

chmod 0600, $unreadable;
# none of this touched the test server
error_log_clean();
