# One-time challenges bound to an identity, the challenge API of the admin
# endpoint behind Basic authentication, and challenge throttling (README:
# "One-time challenges", SCEPOneTimeChallenges, SCEPChallengeThrottle,
# "SetHandler scep-admin"). Locations in t/conf/otp.conf.in:
#   /otp           one-time challenges only, SCEPProfileName otp
#   /otp-both      static secret and one-time challenges (profile /otp-both)
#   /otp-throttle  static secret, SCEPChallengeThrottle 3 10m
#   /otp-admin     SetHandler scep-admin, Basic auth (t/otp/admins.htpasswd)
# Ends with 50 concurrent enrollments racing for one challenge, against
# SQLite (main server) and PostgreSQL (scep_pg, when SCEP_TEST_PGSQL is set).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use Digest::SHA qw(sha256_hex);
use IO::Socket::INET ();
use JSON::PP ();
use MIME::Base64 qw(encode_base64 decode_base64);
use lib 't/lib';
use SCEPTest qw(:all);

my $RACE_N = 50;
my $PG = $ENV{SCEP_TEST_PGSQL} ? 1 : 0;

my $t0 = time;
my $ADMIN = 'Basic ' . encode_base64('admin:otp-admin-pass', '');
my $JSON = JSON::PP->new->canonical;
my %SECRETS;    # every secret and wrong guess sent: none may reach the error_log

sub q_str { my $s = shift; $s =~ s/'/''/g; "'$s'" }

######################################################################
# fresh RSA keys, made in parallel up front (each enrollment gets its own)

my @KEYS;
sub next_key { @KEYS ? shift @KEYS : new_key() }

######################################################################
# the admin API

# api('POST', 'challenges', {json}, auth => 0|'Basic ...', content_type => CT, vhost => V)
sub api {
    my ($method, $call, $body, %o) = @_;
    my @h;
    my $auth = exists $o{auth} ? $o{auth} : $ADMIN;
    push @h, Authorization => $auth if $auth;
    my $ct = exists $o{content_type} ? $o{content_type} : 'application/json';
    push @h, 'Content-Type' => $ct if $method eq 'POST' && defined $ct;
    my $r = http(method => $method, path => "/otp-admin/api/$call", vhost => $o{vhost}, headers => \@h,
                 body => defined $body ? (ref $body ? $JSON->encode($body) : $body)
                                       : ($method eq 'POST' ? '' : undef));
    $r->{json} = eval { JSON::PP->new->decode($r->{body}) } if ($r->{headers}{'content-type'} // '') =~ /json/;
    return $r;
}

# a challenge through the API: returns (id, secret)
sub make_challenge {
    my (%o) = @_;
    my $vhost = delete $o{vhost};
    my $r = api('POST', 'challenges', { profile => 'otp', ttl => '10m', %o }, vhost => $vhost);
    my $j = $r->{json} || {};
    $SECRETS{ $j->{challenge} } = 1 if $j->{challenge};
    # (0, 'none') after a failure, so that the checks that follow fail instead of dying
    return ($r->{status} == 201 ? ($j->{id}, $j->{challenge}) : (0, 'none'), $r);
}

######################################################################
# enrollment helpers

# enroll_at('/otp', challenge, cn, sans => [...], vhost => V) -> (req, rep)
sub enroll_at {
    my ($path, $chal, $cn, %o) = @_;
    $SECRETS{$chal} = 1 if defined $chal && $chal ne 'none';
    my $req = build_request(key => next_key(), subject => "/CN=$cn", challenge => $chal,
                            args => [map { ('--san-dns', $_) } @{ $o{sans} || [] }]);
    my $resp = send_request($req, path => $path, vhost => $o{vhost});
    my $rep = $resp->{status} == 200 ? parse_reply($resp, $req) : { http => $resp->{status} };
    return ($req, $rep, $resp);
}

sub is_success {
    my ($rep, $label) = @_;
    return is($rep->{pkiStatus} // '', '0', "$label: SUCCESS")
        || diag('failInfo=' . ($rep->{failInfo} // '-') . ' ' . ($rep->{failInfoText} // $rep->{err} // ''));
}

sub is_failure {
    my ($rep, $text, $label) = @_;
    my $ok = ($rep->{pkiStatus} // '') eq '2' && ($rep->{failInfo} // '') eq '2'
             && ($rep->{failInfoText} // '') =~ $text;
    return ok($ok, "$label: FAILURE badRequest (failInfo 2), failInfoText matches $text")
        || diag('pkiStatus=' . ($rep->{pkiStatus} // '-') . ' failInfo=' . ($rep->{failInfo} // '-')
                . ' text=' . ($rep->{failInfoText} // $rep->{err} // ''));
}

# subject and subjectAltName lines of `openssl x509 -text`
sub x509_text {
    my $f = shift;
    my $r = run_cmd(['openssl', 'x509', '-in', $f, '-noout', '-text']);
    my ($subject) = $r->{out} =~ /^\s*Subject:\s*(.*?)\s*$/m;
    my ($san) = $r->{out} =~ /X509v3 Subject Alternative Name:[^\n]*\n\s*(.*?)\s*$/m;
    return { subject => $subject // '', san => $san // '', text => $r->{out} };
}

sub serial_of { my $rep = shift; $rep->{cert_file} ? norm_serial(cert_info($rep->{cert_file})->{serial}) : '' }

# A POST of a PKIOperation from a chosen loopback source address (the
# throttle counts per client address); -> { status, body, error }
sub post_from {
    my ($src, $path, $der, %o) = @_;
    my $port = port($o{vhost});
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, LocalAddr => $src,
                                     Proto => 'tcp', Timeout => 30)
        or return { status => 0, error => "connect from $src: $!" };
    binmode $sock;
    my $req = "POST $path?operation=PKIOperation HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n"
            . "Connection: close\r\nContent-Type: application/x-pki-message\r\n"
            . 'Content-Length: ' . length($der) . "\r\n\r\n" . $der;
    my $resp = '';
    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 60;
        my $off = 0;
        while ($off < length $req) {
            my $n = syswrite($sock, $req, 65536, $off) or last;
            $off += $n;
        }
        while (sysread($sock, my $buf, 65536)) { $resp .= $buf }
        alarm 0;
    };
    alarm 0;
    close $sock;
    my ($status) = $resp =~ m{\AHTTP/\d\.\d (\d{3})};
    my $i = index($resp, "\r\n\r\n");
    return { status => $status || 0, body => $i >= 0 ? substr($resp, $i + 4) : '', error => $@ };
}

# a random loopback address of 127/8 that we can bind to, for this run only
sub fresh_loopback {
    for (1 .. 20) {
        my $a = join '.', 127, 1 + int rand 250, 1 + int rand 250, 2 + int rand 250;
        my $s = IO::Socket::INET->new(LocalAddr => $a, LocalPort => 0, Proto => 'tcp');
        if ($s) { close $s; return $a }
    }
    return undef;
}

@KEYS = new_keys((2048) x (20 + $RACE_N));
note(sprintf 'made %d RSA keys in %ds', scalar @KEYS, time - $t0);
my @race_keys = splice @KEYS, 0, $RACE_N;

########## the API behind Basic authentication
my ($bound_id, $bound_secret);
{
    my $before = db_value('SELECT count(*) FROM scep_challenges');
    my $r = api('POST', 'challenges', { profile => 'otp' }, auth => undef);
    is($r->{status}, 401, 'POST api/challenges without credentials: 401');
    like($r->{headers}{'www-authenticate'} // '', qr/^Basic realm=/, 'with a Basic challenge');
    $r = api('POST', 'challenges', { profile => 'otp' },
             auth => 'Basic ' . encode_base64('admin:not-the-password', ''));
    is($r->{status}, 401, 'with a wrong password: 401');
    $r = api('GET', 'challenges', undef, auth => undef);
    is($r->{status}, 401, 'GET api/challenges without credentials: 401');

    for my $ct ('text/plain', 'application/x-www-form-urlencoded', undef) {
        $r = api('POST', 'challenges', { profile => 'otp' }, content_type => $ct);
        is($r->{status}, 415, 'POST with ' . ($ct ? "Content-Type $ct" : 'no Content-Type') . ': 415');
    }
    like(($r->{json} || {})->{error} // '', qr/application\/json/, '415 says which Content-Type');

    $r = api('POST', 'challenges', { profile => 'no-such-profile' });
    is($r->{status}, 400, 'unknown profile: 400');
    like(($r->{json} || {})->{error} // '', qr/profile/, 'the error names the profile');
    $r = api('POST', 'challenges', { profile => 'otp', ttl => '10s' });
    is($r->{status}, 400, 'ttl below 60s: 400');
    $r = api('POST', 'challenges', { profile => 'otp', subject => [{ type => 'CN', value => 'x' }],
                                     san => [{ type => 'nonsense', value => 'x' }] });
    is($r->{status}, 400, 'an unusable bound subjectAltName: 400');
    is(db_value('SELECT count(*) FROM scep_challenges'), $before, 'no challenge stored by the refused calls');

    my $t = time;
    $r = api('POST', 'challenges', { profile => 'otp', ttl => '10m',
                                     subject => [{ type => 'CN', value => 'bound-dev' },
                                                 { type => 'O', value => 'Example' }],
                                     san => [{ type => 'dns', value => 'bound.example.com' }] });
    is($r->{status}, 201, 'POST api/challenges (bound to a subject and a DNS name): 201')
        or diag($r->{body});
    like($r->{headers}{'content-type'} // '', qr{^application/json}, 'answered in JSON');
    my $j = $r->{json} || {};
    $SECRETS{ $j->{challenge} } = 1 if $j->{challenge};
    ($bound_id, $bound_secret) = ($j->{id} // 0, $j->{challenge} // 'none');
    like($bound_secret // '', qr/^\S{16,}\z/, 'the answer holds the secret ("challenge")');
    is($j->{profile} // '', 'otp', 'for profile otp');
    ok(($j->{expires_at} // 0) >= $t + 600 - 5 && ($j->{expires_at} // 0) <= time + 600 + 5,
       'expiring in 10 minutes');

    $r = api('GET', 'challenges');
    is($r->{status}, 200, 'GET api/challenges: 200');
    my ($listed) = grep { ($_->{id} // '') eq $bound_id } @{ ($r->{json} || {})->{challenges} || [] };
    ok($listed, 'lists the new challenge');
    is_deeply([@{$listed || {}}{qw(profile subject san created_by)}],
              ['otp', '/CN=bound-dev/O=Example', 'dns:bound.example.com', 'admin'],
              'with its profile, bound names and creator');
    my $hash = sha256_hex($bound_secret);
    ok(index($r->{body}, $bound_secret) < 0, 'the list does not contain the secret');
    ok($r->{body} !~ /"hash"|"challenge"\s*:\s*"/ && index(lc $r->{body}, $hash) < 0,
       'nor the hash of the secret');

    # the database holds the SHA-256 of the secret and never the secret
    my $rows = db_rows("SELECT * FROM scep_challenges WHERE id = $bound_id");
    is(lc($rows->[0]{hash} // ''), $hash, 'scep_challenges holds the SHA-256 of the secret');
    ok(!grep({ defined && index($_, $bound_secret) >= 0 } values %{ $rows->[0] || {} }),
       'no column holds the secret');
    is_deeply([@{ $rows->[0] || {} }{qw(profile subject san created_by)}],
              ['otp', '/CN=bound-dev/O=Example', 'dns:bound.example.com', 'admin'],
              'the row has the profile, the bound names and the creator');
    my $raw = join '', map { -e $_ ? read_file($_) : '' } map { sqlite_file() . $_ } '', '-wal';
    ok(length $raw && index($raw, $bound_secret) < 0, 'the SQLite files do not contain the secret');

    # the HTML form is not a way around the double-submit token
    $r = http(method => 'POST', path => '/otp-admin/ui/challenge', body => 'profile=otp&csrf=0123',
              headers => [Authorization => $ADMIN, 'Content-Type' => 'application/x-www-form-urlencoded']);
    is($r->{status}, 403, 'POST ui/challenge without the CSRF cookie: 403');
}

########## a bound challenge decides the names
{
    my ($req, $rep, $resp) = enroll_at('/otp', $bound_secret, 'evil-name', sans => ['evil.example.com']);
    is_success($rep, 'bound challenge at /otp, CSR asks CN=evil-name and DNS:evil.example.com');
    my $x = $rep->{cert_file} ? x509_text($rep->{cert_file}) : {};
    is($x->{subject} // '', 'CN = bound-dev, O = Example', 'the certificate has exactly the bound subject');
    is($x->{san} // '', 'DNS:bound.example.com', 'and exactly the bound subjectAltName');
    ok(($x->{text} // '') !~ /evil/, 'nothing of the requested names');
    my $serial = serial_of($rep);
    my $ch = db_rows("SELECT used_at, used_tid FROM scep_challenges WHERE id = $bound_id")->[0] || {};
    ok($ch->{used_at}, 'the challenge is marked used');
    is($ch->{used_tid} // '', $req->{tid}, 'by this transaction');

    # the same bytes again: the same certificate, no challenge needed
    my $rep2 = parse_reply(send_request($req, path => '/otp'), $req);
    is_success($rep2, 'the identical request resent after success');
    is(serial_of($rep2), $serial, 'gets the same certificate again');
    is(db_value("SELECT count(*) FROM scep_transactions WHERE transaction_id = " . q_str($req->{tid})), 1,
       'one transactions row for it');
    is(db_value("SELECT count(*) FROM scep_certificates WHERE subject = 'O=Example,CN=bound-dev'"), 1,
       'one certificate with the bound subject');

    # another key and CSR with the same challenge
    my (undef, $rep3) = enroll_at('/otp', $bound_secret, 'second-use');
    is_failure($rep3, qr/already used/, 'the used challenge with another key and CSR');

    my $r = api('GET', 'challenges');
    ok(!grep({ ($_->{id} // '') eq $bound_id } @{ ($r->{json} || {})->{challenges} || [] }),
       'the used challenge is no longer listed as open');
    $r = api('POST', "challenges/$bound_id/revoke");
    like($r->{status}, qr/^40[49]\z/, 'revoking a used challenge: 404 or 409');
}

########## only one-time challenges at /otp; an unbound one keeps the profile's names
{
    my (undef, $rep) = enroll_at('/otp', challenge(), 'static-at-otp');
    is_failure($rep, qr/challengePassword is wrong/, 'the static test secret at /otp (one-time only)');

    my ($id, $secret) = make_challenge();
    ok($id, 'an unbound challenge for otp');
    my (undef, $rep2) = enroll_at('/otp', $secret, 'free-dev', sans => ['free-dev.example.com']);
    is_success($rep2, 'unbound challenge at /otp');
    my $x = $rep2->{cert_file} ? x509_text($rep2->{cert_file}) : {};
    is($x->{subject} // '', 'CN = free-dev', 'subject from the request (profile rules)');
    is($x->{san} // '', 'DNS:free-dev.example.com', 'DNS name from the request (SCEPSubjectAltName dns request)');
}

########## revoked
{
    # a Content-Type with parameters is still application/json
    my $r = api('POST', 'challenges', { profile => 'otp' }, content_type => 'application/json; charset=utf-8');
    is($r->{status}, 201, 'Content-Type application/json; charset=utf-8: 201');
    my ($id, $secret) = @{ $r->{json} || {} }{qw(id challenge)};
    $SECRETS{$secret} = 1 if $secret;
    ($id, $secret) = ($id // 0, $secret // 'none');
    $r = api('POST', "challenges/$id/revoke");
    is($r->{status}, 200, 'POST api/challenges/ID/revoke: 200');
    ok(($r->{json} || {})->{revoked}, '{"revoked": true}');
    ok(db_value("SELECT revoked_at FROM scep_challenges WHERE id = $id"), 'revoked_at is recorded');
    $r = api('GET', 'challenges');
    ok(!grep({ ($_->{id} // '') eq $id } @{ ($r->{json} || {})->{challenges} || [] }),
       'the revoked challenge is not listed');
    my (undef, $rep) = enroll_at('/otp', $secret, 'revoked-use');
    is_failure($rep, qr/revoked/, 'a revoked challenge');
    $r = api('POST', "challenges/$id/revoke");
    like($r->{status}, qr/^40[49]\z/, 'revoking it again: 404 or 409');
    $r = api('POST', 'challenges/999999/revoke');
    is($r->{status}, 404, 'revoking an unknown challenge: 404');
}

########## expired
{
    my ($id, $secret) = make_challenge(ttl => '60m');
    ok($id, 'a challenge valid for 60 minutes');
    db_rows('UPDATE scep_challenges SET expires_at = ' . (time - 5) . " WHERE id = $id");
    my (undef, $rep) = enroll_at('/otp', $secret, 'expired-use');
    is_failure($rep, qr/expired/, 'the challenge with expires_at set in the past');
    ok(!db_value("SELECT used_at FROM scep_challenges WHERE id = $id"), 'it was not consumed');
}

########## a challenge is valid only where its profile is
{
    my ($id, $secret) = make_challenge();
    my ($req, $rep) = enroll_at('/otp-both', $secret, 'wrong-profile');
    is_failure($rep, qr/another enrollment point/, 'challenge for otp at /otp-both (profile /otp-both)');
    ok(!db_value("SELECT used_at FROM scep_challenges WHERE id = $id"), 'the refusal did not consume it');
    # only the SHA-256 of a challenge is stored: the record of the refused
    # request must not give the secret of this still open challenge away
    my $csr = decode_base64(db_value('SELECT csr FROM scep_transactions WHERE transaction_id = '
                                     . q_str($req->{tid})) // '');
    ok(index($csr, $secret) < 0, "the refused request's recorded CSR does not hold the open challenge's secret")
        or diag('scep_transactions.csr keeps the challengePassword attribute: the secret of an open '
                . 'one-time challenge can be read from the database');
    my (undef, $rep2) = enroll_at('/otp', $secret, 'right-profile');
    is_success($rep2, 'the same challenge at /otp');
}

########## /otp-both: the static secret and one-time challenges
{
    my (undef, $rep) = enroll_at('/otp-both', 'otp-both-static-secret', 'both-static');
    is_success($rep, '/otp-both with its static secret');
    my $x = $rep->{cert_file} ? x509_text($rep->{cert_file}) : {};
    is($x->{subject} // '', 'CN = both-static', 'subject from the request');

    my ($id, $secret) = make_challenge(profile => '/otp-both', subject => [{ type => 'CN', value => 'both-bound' }]);
    ok($id, 'a challenge for profile /otp-both (the Location path)');
    my ($req2, $rep2) = enroll_at('/otp-both', $secret, 'both-one-time');
    is_success($rep2, '/otp-both with a one-time challenge');
    $x = $rep2->{cert_file} ? x509_text($rep2->{cert_file}) : {};
    is($x->{subject} // '', 'CN = both-bound', 'with its bound subject');
    is(db_value("SELECT used_tid FROM scep_challenges WHERE id = $id"), $req2->{tid}, 'consumed by it');
    my (undef, $rep3) = enroll_at('/otp-both', $secret, 'both-one-time-again');
    is_failure($rep3, qr/already used/, 'the same one-time challenge again at /otp-both');
    my (undef, $rep4) = enroll_at('/otp-both', 'otp-both-wrong', 'both-wrong');
    is_failure($rep4, qr/challengePassword is wrong/, 'a wrong secret at /otp-both');
    my (undef, $rep5) = enroll_at('/otp-both', 'otp-both-static-secret', 'both-static-2');
    is_success($rep5, 'the static secret still works after the one-time challenge was used');
}

########## throttling: 3 failures per address in 10 minutes at /otp-throttle
{
    my $mark = log_mark();
    my $src = fresh_loopback();
    my $other = fresh_loopback();
    SKIP: {
        skip 'cannot bind a 127/8 source address other than 127.0.0.1', 15
            unless $src && $other && $src ne $other;
        note("throttle: requests from $src (and $other)");
        my @wrong;
        for my $i (1 .. 3) {
            my $guess = "otp-throttle-guess-$i";
            $SECRETS{$guess} = 1;
            my $req = build_request(key => next_key(), subject => "/CN=throttle-$i", challenge => $guess);
            my $resp = post_from($src, '/otp-throttle', $req->{der});
            my $rep = $resp->{status} == 200 ? parse_reply($resp, $req, decrypt => 0) : {};
            is_failure($rep, qr/challengePassword is wrong/, "wrong challenge #$i from $src");
            push @wrong, $req;
        }
        my $req = build_request(key => next_key(), subject => '/CN=throttle-right',
                                challenge => 'otp-throttle-static-secret');
        $SECRETS{'otp-throttle-static-secret'} = 1;
        my $resp = post_from($src, '/otp-throttle', $req->{der});
        my $rep = $resp->{status} == 200 ? parse_reply($resp, $req) : {};
        is_failure($rep, qr/too many failed attempts/,
                   'then the right static secret from the same address');
        ok(!$rep->{cert_file}, 'no certificate for it');
        is(db_value("SELECT count(*) FROM scep_certificates WHERE subject = 'CN=throttle-right'"), 0,
           'none recorded');

        my $req2 = build_request(key => next_key(), subject => '/CN=throttle-other',
                                 challenge => 'otp-throttle-static-secret');
        my $resp2 = post_from($other, '/otp-throttle', $req2->{der});
        my $rep2 = $resp2->{status} == 200 ? parse_reply($resp2, $req2) : {};
        is_success($rep2, "the right static secret from another address ($other)");

        my $rows = db_rows('SELECT transaction_id, client_addr, auth_failed, status FROM scep_transactions '
                           . 'WHERE client_addr = ' . q_str($src) . ' ORDER BY id');
        is(scalar @$rows, 4, "four transactions recorded for $src");
        is(join(',', map { $_->{auth_failed} } @$rows), '1,1,1,0',
           'the three wrong challenges count as failed attempts, the throttled request does not');
        is(join(',', map { $_->{transaction_id} } @$rows[0 .. 2]), join(',', map { $_->{tid} } @wrong),
           'with their transaction IDs');

        # each failed attempt is logged with the client address and the transaction ID
        my @log = error_log_lines($mark);
        for my $i (0 .. 2) {
            my $tid = $wrong[$i]{tid};
            ok((grep { /SCEP00201: refused transaction \Q$tid\E from \Q$src\E \(profile \/otp-throttle\): badRequest: the challengePassword is wrong/ } @log),
               'error_log: SCEP00201 with transaction ID and address for wrong challenge #' . ($i + 1))
                or diag(join "\n", grep { /SCEP00201/ } @log);
        }
        my $tid = $req->{tid};
        ok((grep { /SCEP00201: refused transaction \Q$tid\E from \Q$src\E .*too many failed attempts/ } @log),
           'error_log: SCEP00201 for the throttled request');
    }
}

########## 50 concurrent enrollments, one challenge: exactly one wins

# Builds $RACE_N requests (own keys), sends them at once, and checks the
# answers and the records. $db: {} for SQLite, {pg => 1} for PostgreSQL.
sub race {
    my ($label, $secret, $challenge_id, %o) = @_;
    my %db = $o{vhost} ? (pg => 1) : ();
    my $n = 0;
    my @reqs = map { build_request(key => $_, subject => "/CN=race-$o{tag}-" . ++$n, challenge => $secret) }
               @{ $o{keys} };
    # every child waits on the pipe, then all send at once
    my $t = time;
    my @bodies = run_at_once(map {
        my $der = $_->{der};
        sub {
            my $resp = post_from('127.0.0.1', '/otp', $der, vhost => $o{vhost});
            return $resp->{status} == 200 ? $resp->{body} : "HTTP $resp->{status} $resp->{error}";
        }
    } @reqs);
    note(sprintf '%s: %d answers in %ds', $label, scalar @bodies, time - $t);

    my (@ok, @bad, @other);
    for my $i (0 .. $#reqs) {
        my $body = $bodies[$i];
        my $rep = $body =~ /\AHTTP / ? { err => $body } : parse_reply($body, $reqs[$i]);
        if (($rep->{pkiStatus} // '') eq '0' && $rep->{cert_file}) {
            push @ok, [$reqs[$i], $rep];
        }
        elsif (($rep->{pkiStatus} // '') eq '2' && ($rep->{failInfo} // '') eq '2'
               && ($rep->{failInfoText} // '') =~ /already used/) {
            push @bad, $reqs[$i];
        }
        else {
            push @other, ($rep->{failInfoText} // $rep->{err} // '?');
        }
    }
    is(scalar @ok, 1, "$label: exactly one SUCCESS");
    is(scalar @bad, $RACE_N - 1, "$label: " . ($RACE_N - 1) . ' FAILURE badRequest "already used"')
        or diag("other answers:\n" . join("\n", @other[0 .. ($#other > 9 ? 9 : $#other)]));
    my $win = $ok[0] ? $ok[0][0]{tid} : '-';
    my $ch = db_rows("SELECT used_tid FROM scep_challenges WHERE id = $challenge_id", %db)->[0] || {};
    is($ch->{used_tid} // '', $win, "$label: the challenge's used_tid is the winner's transaction");
    my $tids = join ',', map { q_str($_->{tid}) } @reqs;
    my $issued = db_rows('SELECT transaction_id, serial FROM scep_transactions WHERE status = '
                         . "'ISSUED' AND transaction_id IN ($tids)", %db);
    is(scalar @$issued, 1, "$label: one ISSUED row among the $RACE_N transactions");
    is($issued->[0]{transaction_id} // '', $ch->{used_tid} // 'x', "$label: it is used_tid's row");
    is(db_value('SELECT count(*) FROM scep_certificates WHERE serial = ' . q_str($issued->[0]{serial} // '')
                . " OR subject LIKE 'CN=race-$o{tag}-%'", %db), 1,
       "$label: one certificates row");
    is(db_value("SELECT count(*) FROM scep_transactions WHERE status = 'REJECTED' AND transaction_id IN ($tids)",
                %db), $RACE_N - 1, "$label: the " . ($RACE_N - 1) . ' refusals are recorded');
    is(norm_serial($issued->[0]{serial} // ''), $ok[0] ? serial_of($ok[0][1]) : 'x',
       "$label: the winner's certificate is the recorded one");
    # a loser that got as far as signing (its consuming UPDATE found the
    # challenge used and rolled the certificate back) issued nothing: its
    # row must not name a certificate (FOREIGN KEY (ca, serial))
    my $dangling = db_rows('SELECT t.transaction_id, t.status, t.serial FROM scep_transactions t '
                           . "WHERE t.transaction_id IN ($tids) AND t.serial IS NOT NULL AND NOT EXISTS "
                           . '(SELECT 1 FROM scep_certificates c WHERE c.ca = t.ca AND c.serial = t.serial)', %db);
    is(scalar @$dangling, 0, "$label: no transactions row names a certificate that was not issued")
        or diag(scalar(@$dangling) . " rows, e.g. $dangling->[0]{status} $dangling->[0]{transaction_id} "
                . "serial $dangling->[0]{serial}");
}

{
    my ($id, $secret) = make_challenge();
    ok($id, 'SQLite race: a challenge for otp');
    race("SQLite: $RACE_N enrollments at once with one challenge", $secret, $id,
         keys => \@race_keys, tag => 'sq');
}

########## SQLite's group commit: a refused write leaves the others of its group
# 20 requests racing for one challenge, 10 with challenges of their own, and
# 5 copies of one request at /scep (static challenge), sent at once: the
# writes that meet in one group commit (README, durability) are rolled back
# one by one. The race's losers fail before writing; a copy that loses has
# written its certificate when its transaction row conflicts, and only its
# savepoint takes that certificate back.
# The groups do not depend on timing: the sqlite3 shell holds SQLite's write
# lock through the burst (a second, less than apr_dbd_sqlite3's 1.6 s of
# retries on a busy BEGIN), so each child's first write waits with the
# writers' lock and the writes that come meanwhile queue into one group.
{
    my $from = log_mark();
    my ($id, $secret) = make_challenge();
    my @own = map { [make_challenge()] } 1 .. 10;
    my $n = 0;
    my $tid = sub { uc unpack 'H*', pack 'N4', map { int rand 2**32 } 1 .. 4 };
    my @race = map { build_request(key => $_, subject => '/CN=group-race-' . ++$n, challenge => $secret,
                                   tid => $tid->()) } @race_keys[0 .. 19];
    my @solo = map { build_request(key => $race_keys[20 + $_], subject => "/CN=group-own-$_",
                                   challenge => $own[$_][1], tid => $tid->()) } 0 .. 9;
    my $copy = build_request(key => $race_keys[30], subject => '/CN=group-copy', tid => $tid->());
    # 5 copies of one request with a one-time challenge of its own: the
    # copy whose write comes first consumes it; the others are the same
    # request, answered with its certificate (as a resend is), not refused
    my ($otp_copy_id, $otp_copy_secret) = make_challenge();
    my $otp_copy = build_request(key => $race_keys[31], subject => '/CN=group-otp-copy',
                                 challenge => $otp_copy_secret, tid => $tid->());
    my @reqs = (@race, @solo, ($copy) x 5, ($otp_copy) x 5);
    my ($holder, $locked) = sqlite_hold(sqlite_file(), 'BEGIN IMMEDIATE;', 1);
    ok($locked, 'group commit: the sqlite3 shell holds the write lock')
        or diag(cmd_output($holder));
    my @bodies = run_at_once(map {
        my ($der, $path) = ($reqs[$_]{der}, $_ < 30 || $_ >= 35 ? '/otp' : '/scep');
        sub {
            my $resp = post_from('127.0.0.1', $path, $der);
            return $resp->{status} == 200 ? $resp->{body} : "HTTP $resp->{status} $resp->{error}";
        }
    } 0 .. $#reqs);
    my $held = cmd_wait($holder, 30);
    is($held->{rc}, 0, 'group commit: ... and committed after the burst') or diag(cmd_output($holder));
    my @status = map {
        my $rep = $bodies[$_] =~ /\AHTTP / ? {} : parse_reply($bodies[$_], $reqs[$_]);
        ($rep->{pkiStatus} // '') eq '0' && $rep->{cert_file} ? 'ok'
            : ($rep->{failInfoText} // '') =~ /already used/ ? 'used' : ($rep->{failInfoText} // $bodies[$_]);
    } 0 .. $#reqs;
    is(scalar(grep { $_ eq 'ok' } @status[0 .. 19]), 1, 'group commit: one of the 20 racing requests wins')
        or diag(join ',', @status[0 .. 19]);
    is(scalar(grep { $_ eq 'used' } @status[0 .. 19]), 19, 'group commit: 19 get "already used"');
    is(join(',', @status[20 .. 29]), join(',', ('ok') x 10),
       'group commit: the 10 requests with challenges of their own all succeed');
    my @used = map { db_value("SELECT used_tid FROM scep_challenges WHERE id = $own[$_][0]") // '' } 0 .. 9;
    is(join(',', @used), join(',', map { $_->{tid} } @solo), 'group commit: each own challenge consumed by its request');
    my $tids = join ',', map { q_str($_->{tid}) } @solo;
    is(db_value("SELECT count(*) FROM scep_transactions t JOIN scep_certificates c ON c.ca = t.ca "
                . "AND c.serial = t.serial WHERE t.status = 'ISSUED' AND t.transaction_id IN ($tids)"), 10,
       'group commit: their 10 records and certificates are written');
    my @copies = map { parse_reply($_, $copy) } @bodies[30 .. 34];
    my %serials = map { (serial_of($_) // 'none') => 1 } @copies;
    ok(!exists $serials{none} && keys %serials == 1,
       'group commit: the 5 copies of one request all get the same certificate')
        or diag(join ',', keys %serials);
    is(db_value("SELECT count(*) FROM scep_certificates WHERE subject = 'CN=group-copy'"), 1,
       'group commit: one certificate row for the copies (the losers\' rolled back)');
    my @otp_copies = map { parse_reply($_, $otp_copy) } @bodies[35 .. 39];
    my %otp_serials = map { (serial_of($_) || ($_->{failInfoText} // 'no reply')) => 1 } @otp_copies;
    ok(keys %otp_serials == 1 && !grep({ !serial_of($_) } @otp_copies),
       'group commit: the 5 copies of a request with a one-time challenge all get its certificate')
        or diag(join ',', keys %otp_serials);
    is(db_value("SELECT count(*) FROM scep_certificates WHERE subject = 'CN=group-otp-copy'"), 1,
       'group commit: one certificate row for them');
    is(db_value("SELECT used_tid FROM scep_challenges WHERE id = $otp_copy_id") // '', $otp_copy->{tid},
       'group commit: their challenge consumed once, by that transaction');
    my @groups = grep { /SCEP00111: group commit: (\d+) writes/ && $1 >= 2 } error_log_lines($from);
    ok(@groups, 'group commit: writes met in a group (SCEP00111 at debug)')
        or diag('no SCEP00111 line with 2 writes or more');
    ok((grep { /: (\d+) writes in one transaction, (\d+) of them rolled back/ && $2 >= 1 && $2 < $1 } @groups),
       'group commit: a group rolled back a refused write and committed the others')
        or diag(join "\n", @groups);
}

SKIP: {
    skip 'SCEP_TEST_PGSQL is not set: no PostgreSQL race', 11 unless $PG;
    my $VH = 'scep_pg';
    # the scep_pg virtual host serves the main server's Locations, /otp-admin
    # and /otp (profile otp) among them; its admin API writes to PostgreSQL
    my ($id, $secret, $r) = make_challenge(vhost => $VH);
    is($r->{status}, 201, 'scep_pg: POST api/challenges for profile otp (a Location it serves): 201')
        or diag($r->{body});
    is(db_value("SELECT count(*) FROM scep_challenges WHERE id = $id", pg => 1), 1,
       'scep_pg: the challenge is stored in PostgreSQL')
        if $id;
    unless ($id) {
        # so that the race itself is still tested: the row the API would store
        note('the challenge is inserted into PostgreSQL directly instead');
        my $ca = db_value('SELECT ca FROM scep_challenges LIMIT 1');
        $secret = uc unpack 'H*', pack 'N4', map { int rand 2**32 } 1 .. 4;
        $SECRETS{$secret} = 1;
        my $now = time;
        my $sql = 'INSERT INTO scep_challenges (ca, hash, profile, created_by, created_at, expires_at) '
                . 'VALUES (' . join(',', q_str($ca), q_str(uc sha256_hex($secret)), "'otp'", "'t/50'",
                                    $now, $now + 600) . ') RETURNING id';
        $id = db_value($sql, pg => 1) or die "the challenge was not inserted into PostgreSQL\n";
    }
    race("PostgreSQL (scep_pg): $RACE_N enrollments at once with one challenge", $secret, $id,
         keys => \@race_keys, tag => 'pg', vhost => $VH);
}

########## secrets never reach the log
{
    my $log = join "\n", error_log_lines(0);
    my @leaked = grep { index($log, $_) >= 0 } sort keys %SECRETS;
    ok(keys(%SECRETS) >= 10 && !@leaked, 'error_log: none of the ' . scalar(keys %SECRETS)
       . ' secrets and wrong guesses sent appears') or diag("leaked: @leaked");
    my $raw = join '', map { -e $_ ? read_file($_) : '' } map { sqlite_file() . $_ } '', '-wal';
    my @stored = grep { /^[0-9A-F]{32}\z/i && index($raw, $_) >= 0 } sort keys %SECRETS;
    ok(!@stored, 'no one-time secret in the SQLite files') or diag("stored: @stored");
}

note(sprintf 't/50-challenges.t took %ds', time - $t0);
# AH01617: mod_auth_basic's own [error] line for the wrong-password request
error_log_clean(allow => ['AH01617']);
done_testing();
