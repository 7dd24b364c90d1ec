# Challenges checked by httpd's authentication providers
# (SCEPChallengeAuthProvider): the request's first CN is the user, its
# challengePassword the password, asked of mod_authn_file (an htpasswd file
# made here with htpasswd -B) and mod_authn_dbd (a table of bcrypt hashes in
# the private httpd's own SQLite database), alone and in order. A private
# httpd with one process and its own records:
#   /file   SCEPChallengeAuthProvider file,  SCEPChallengeThrottle 3 10m
#   /dbd    SCEPChallengeAuthProvider dbd
#   /both   SCEPChallengeAuthProvider file dbd
#   /broken the same with an AuthUserFile that does not exist
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use IO::Socket::INET ();
use lib 't/lib';
use SCEPTest qw(:all);

my $t0 = time;
my $rnd = sub { unpack 'H*', pack 'N2', map { int rand 2**32 } 1 .. 2 };
my %SECRETS;    # every password and wrong guess sent: none may reach a log

sub q_str { my $s = shift; $s =~ s/'/''/g; "'$s'" }

my $W = work_dir();
my $H;
END { private_httpd_stop($H) if $H }

# the devices and their passwords (the challenges their requests carry)
my %FILE = ('dev-file' => 'file-pass-' . $rnd->(), 'dev-both' => 'both-file-pass-' . $rnd->());
my %DBD = ('dev-dbd' => 'dbd-pass-' . $rnd->(), 'dev-both' => 'both-dbd-pass-' . $rnd->());
$SECRETS{$_} = 1 for values %FILE, values %DBD;

# bcrypt, as htpasswd makes it: "user:$2y$..."
sub bcrypt_line {
    my ($user, $pass) = @_;
    my $r = run_cmd(['htpasswd', '-nbB', $user, $pass]);
    die "htpasswd -nbB: $r->{err}" if $r->{rc};
    (my $line = $r->{out}) =~ s/\s+\z//;
    return $line;
}

my $HTPASSWD = "$W/devices.htpasswd";
{
    my @users = sort keys %FILE;
    my $r = run_cmd(['htpasswd', '-bcB', $HTPASSWD, $users[0], $FILE{ $users[0] }]);
    die "htpasswd -bcB: $r->{err}" if $r->{rc};
    for my $u (@users[1 .. $#users]) {
        $r = run_cmd(['htpasswd', '-bB', $HTPASSWD, $u, $FILE{$u}]);
        die "htpasswd -bB: $r->{err}" if $r->{rc};
    }
}

my $BASE = <<"EOC";
\@HTTPD_BASE\@
\@ONE_CHILD\@
\@AUTH_MODULES\@
LoadModule authn_dbd_module "\@MODULES\@/mod_authn_dbd.so"
LogLevel info scep:debug authn_file:debug authn_dbd:debug dbd:debug
\@SQLITE_DB\@
\@TEST_CA\@
SCEPChallengeThrottle off
EOC
my $QUERY = 'AuthDBDUserPWQuery "SELECT password FROM device_passwords WHERE cn = %s"';
my $CONF = $BASE . <<"EOC";
<Location /file>
    SetHandler scep
    SCEPChallengeAuthProvider file
    AuthUserFile "$HTPASSWD"
    SCEPChallengeThrottle 3 10m
</Location>
<Location /dbd>
    SetHandler scep
    SCEPChallengeAuthProvider dbd
    $QUERY
</Location>
<Location /broken>
    SetHandler scep
    SCEPChallengeAuthProvider file dbd
    AuthUserFile "$W/no-such.htpasswd"
    $QUERY
</Location>
<Location /both>
    SetHandler scep
    SCEPChallengeAuthProvider file dbd
    AuthUserFile "$HTPASSWD"
    $QUERY
</Location>
EOC

# the table mod_authn_dbd reads, in the database mod_dbd opens
sub prepare_db {
    my $db = shift;
    my $sql = "CREATE TABLE device_passwords (cn TEXT PRIMARY KEY, password TEXT NOT NULL);\n";
    for my $u (sort keys %DBD) {
        my (undef, $hash) = split /:/, bcrypt_line($u, $DBD{$u}), 2;
        $sql .= 'INSERT INTO device_passwords VALUES (' . q_str($u) . ', ' . q_str($hash) . ");\n";
    }
    db_exec($sql, file => $db);
}

my @KEYS;
sub next_key { @KEYS ? shift @KEYS : new_key() }

# enroll_at(path, challenge, subject, local_addr => A) -> (req, rep)
sub enroll_at {
    my ($path, $challenge, $subject, %o) = @_;
    $SECRETS{$challenge} = 1 if defined $challenge;
    my $req = build_request(key => next_key(), subject => $subject, challenge => $challenge);
    my $resp = send_request($req, port => $H->{port}, path => $path,
                            ($o{local_addr} ? (local_addr => $o{local_addr}) : ()));
    my $rep = $resp->{status} == 200 ? parse_reply($resp, $req) : { err => "HTTP $resp->{status}" };
    return ($req, $rep);
}

sub answer {
    my $rep = shift;
    return join '|', $rep->{pkiStatus} // '-', $rep->{failInfo} // '-', $rep->{failInfoText} // $rep->{err} // '';
}

sub txn { db_rows('SELECT * FROM scep_transactions WHERE transaction_id = ' . q_str($_[0]), file => $H->{db})->[0] // {} }

# a loopback source address of its own, so that the throttle counts from zero
sub fresh_addr {
    for (1 .. 20) {
        my $a = join '.', 127, 1 + int rand 250, 1 + int rand 250, 2 + int rand 250;
        my $s = IO::Socket::INET->new(LocalAddr => $a, LocalPort => 0, Proto => 'tcp');
        if ($s) { close $s; return $a }
    }
    return undef;
}

my $WRONG = qr/^2\|2\|the challengePassword is wrong\z/;

@KEYS = new_keys((2048) x 16);
$H = private_httpd(name => 'authn', conf => $CONF, prepare_db => \&prepare_db);
ok($H->{ok}, 'a private httpd whose Locations ask mod_authn_file and mod_authn_dbd') or diag($H->{err});

SKIP: {
skip 'httpd did not start', 1 unless $H->{ok};

########## mod_authn_file
{
    my ($req, $rep) = enroll_at('/file', $FILE{'dev-file'}, '/CN=dev-file');
    is(answer($rep), '0|-|', "file: the device's CN and its htpasswd password: SUCCESS");
    ok($rep->{cert_file}, 'with a certificate');
    is(txn($req->{tid})->{status} // '', 'ISSUED', 'recorded ISSUED');

    my $src = fresh_addr();
    SKIP: {
        skip 'cannot bind a 127/8 source address other than 127.0.0.1', 8 unless $src;
        my @tids;
        for my $i (1 .. 3) {
            my $guess = "file-wrong-$i-" . $rnd->();
            my ($r, $p) = enroll_at('/file', $guess, '/CN=dev-file', local_addr => $src);
            like(answer($p), $WRONG, "file: a wrong password (#$i): FAILURE badRequest");
            push @tids, $r->{tid};
        }
        is(join(',', map { txn($_)->{auth_failed} // '-' } @tids), '1,1,1', 'each is recorded as a failed attempt');
        is(db_value('SELECT count(*) FROM scep_auth_failures WHERE client_addr = ' . q_str($src)
                    . " AND profile = '/file'", file => $H->{db}), 3,
           'and counted for SCEPChallengeThrottle (3 rows in scep_auth_failures)');
        my ($r, $p) = enroll_at('/file', $FILE{'dev-file'}, '/CN=dev-file', local_addr => $src);
        like(answer($p), qr/^2\|2\|too many failed attempts/,
             'then the right password from the same address: throttled');
        ok(!$p->{cert_file}, 'no certificate for it');
        my ($r2, $p2) = enroll_at('/file', $FILE{'dev-file'}, '/CN=dev-file');
        is(answer($p2), '0|-|', 'the right password from another address: SUCCESS');
    }

    # each from an address of its own: /file throttles after three failures
    my (undef, $p) = enroll_at('/file', $FILE{'dev-file'}, '/CN=dev-unknown', local_addr => fresh_addr());
    like(answer($p), $WRONG, "file: a CN the file does not know (with another device's password): FAILURE");
    (undef, $p) = enroll_at('/file', $FILE{'dev-file'}, '/O=Example/OU=dev-file', local_addr => fresh_addr());
    like(answer($p), $WRONG, 'file: a request without a CN (the right password): FAILURE');
    (undef, $p) = enroll_at('/file', undef, '/CN=dev-file', local_addr => fresh_addr());
    like(answer($p), qr/^2\|2\|the request has no challengePassword\z/, 'file: no challengePassword: FAILURE');
    (undef, $p) = enroll_at('/file', $DBD{'dev-dbd'}, '/CN=dev-dbd', local_addr => fresh_addr());
    like(answer($p), $WRONG, 'file: a device only the database knows: FAILURE at the file-only Location');
}

########## mod_authn_dbd
{
    my ($req, $rep) = enroll_at('/dbd', $DBD{'dev-dbd'}, '/CN=dev-dbd');
    is(answer($rep), '0|-|', "dbd: the device's CN and its password (bcrypt in SQLite): SUCCESS");
    is(txn($req->{tid})->{status} // '', 'ISSUED', 'recorded ISSUED');
    my (undef, $p) = enroll_at('/dbd', 'dbd-wrong-' . $rnd->(), '/CN=dev-dbd');
    like(answer($p), $WRONG, 'dbd: a wrong password: FAILURE badRequest');
    (undef, $p) = enroll_at('/dbd', $DBD{'dev-dbd'}, '/CN=dev-nobody');
    like(answer($p), $WRONG, 'dbd: a CN the table does not have: FAILURE');
    # a CN that would be an SQL injection if the query were built by hand
    (undef, $p) = enroll_at('/dbd', $DBD{'dev-dbd'}, "/CN=x' OR cn = 'dev-dbd");
    like(answer($p), $WRONG, 'dbd: a CN with SQL in it is only a name: FAILURE');
    (undef, $p) = enroll_at('/dbd', $DBD{'dev-dbd'}, '/O=dev-dbd');
    like(answer($p), $WRONG, 'dbd: a request without a CN: FAILURE');
}

########## two providers in order: file, then dbd
{
    my ($req, $rep) = enroll_at('/both', $DBD{'dev-dbd'}, '/CN=dev-dbd');
    is(answer($rep), '0|-|', 'file dbd: a device only the second provider (dbd) knows: SUCCESS');
    ($req, $rep) = enroll_at('/both', $FILE{'dev-file'}, '/CN=dev-file');
    is(answer($rep), '0|-|', 'file dbd: a device the first provider (file) knows: SUCCESS');
    ($req, $rep) = enroll_at('/both', $FILE{'dev-both'}, '/CN=dev-both');
    is(answer($rep), '0|-|', 'file dbd: a device both know, with the password of the first: SUCCESS');
    # as mod_auth_basic: the first provider that knows the user decides; a
    # wrong password there is not tried against the next one
    ($req, $rep) = enroll_at('/both', $DBD{'dev-both'}, '/CN=dev-both');
    like(answer($rep), $WRONG, 'file dbd: a device both know, with the password of the second only: FAILURE '
         . '(the first provider that knows the device decides, as with mod_auth_basic)');
    is(txn($req->{tid})->{auth_failed} // '', 1, 'counted as a failed attempt');
    (undef, $rep) = enroll_at('/both', 'both-wrong-' . $rnd->(), '/CN=dev-dbd');
    like(answer($rep), $WRONG, 'file dbd: a wrong password for the device of the second: FAILURE');
    (undef, $rep) = enroll_at('/both', $DBD{'dev-dbd'}, '/CN=dev-nobody');
    like(answer($rep), $WRONG, 'file dbd: a CN neither knows: FAILURE');
}

########## a provider that cannot answer: no decision, not a failed attempt
{
    # the first provider's file cannot be read: the second is not asked
    my ($req, $rep) = enroll_at('/broken', $DBD{'dev-dbd'}, '/CN=dev-dbd');
    is(answer($rep), '2|2|the enrollment service cannot decide now; try again later',
       "file dbd, the file missing: FAILURE \"cannot decide now\" (dbd, which knows the device, is not asked)");
    my $row = txn($req->{tid});
    like($row->{fail_text} // '', qr/an authentication provider \(SCEPChallengeAuthProvider\) failed/,
         'the record says a provider failed');
    is($row->{auth_failed} // '', 0, 'not counted as a failed attempt');
    like(read_file("$H->{dir}/logs/error_log"),
         qr/SCEP00323: authentication provider file could not check the challenge of dev-dbd/,
         'error_log: SCEP00323 names the provider and the device');
}

########## the passwords stay secret
{
    my $log = read_file("$H->{dir}/logs/error_log");
    my @leaked = grep { index($log, $_) >= 0 } sort keys %SECRETS;
    ok(keys(%SECRETS) >= 9 && !@leaked, 'error_log (scep, authn_file, authn_dbd, dbd at debug): none of the '
       . scalar(keys %SECRETS) . ' passwords and guesses sent appears') or diag("leaked: @leaked");
    my $raw = join '', map { -e $_ ? read_file($_) : '' } map { $H->{db} . $_ } '', '-wal';
    my @stored = grep { index($raw, $_) >= 0 } sort keys %SECRETS;
    ok(length $raw && !@stored, 'nor do the SQLite files (records, requests, the password table)')
        or diag("stored: @stored");
    # but for the provider that could not answer: mod_authn_file's (AH01620)
    # and SCEP00323; and prefork's note that its one worker (ONE_CHILD) was
    # busy when a connection came (AH00161: the server's size, not an error)
    my @bad = grep { /\] \[(?:[\w.]+:)?(?:warn|error|crit|alert|emerg)\] / && !/SCEP00323|AH01620|AH00161/ } split /\n/, $log;
    ok(!@bad, "the private httpd's error_log: no other [warn] or worse") or diag(join "\n", @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);
}
}
private_httpd_stop($H);
undef $H;

########## a provider that does not exist: httpd does not start
{
    (my $conf = $BASE . <<'EOC') =~ s/\@HTPASSWD\@/$HTPASSWD/g;
<Location /nosuch>
    SetHandler scep
    SCEPChallengeAuthProvider file nosuch
    AuthUserFile "@HTPASSWD@"
</Location>
EOC
    my $h = private_httpd(name => 'nosuch', conf => $conf);
    ok(!$h->{ok}, 'SCEPChallengeAuthProvider naming a provider nobody registered: httpd does not start');
    like($h->{out} . $h->{err}, qr/SCEPChallengeAuthProvider nosuch: no such authentication provider \(is mod_authn_nosuch loaded\?\)/,
         'and says which provider, and which module to load');
    like($h->{out} . $h->{err}, qr{/nosuch|httpd\.conf:\d+}, 'and where');
    private_httpd_stop($h) if $h->{ok};
}

note(sprintf 't/54-authn-provider.t took %ds', time - $t0);
error_log_clean();
done_testing();
