# Two CAs, one database (issue #12, finding 7): the admin endpoint of a
# virtual host acts only on its own CA's records. A private httpd with two
# virtual hosts on two ports, each with its own CA (A: the test PKI, B: the
# "other" CA of t/conf/scep/other), both recording in one SQLite database
# and both with the same Location names (so both have a profile "/enroll"):
#   /enroll   SetHandler scep, SCEPApproval manual
#   /admin    SetHandler scep-admin behind Basic auth
#             (t/lifecycle/admins.htpasswd: alice, bob)
# From A's admin, B's held enrollment is 404 for get, approve and reject
# (API and page), B's certificate cannot be read or revoked and B's
# one-time challenges are neither listed nor revocable; B's own admin still
# decides it, and A's admin its own.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLifecycle qw(admin_auth q_str);

plan tests => 41;

my $FP_A = uc sha256_hex(pem_file_der(pki('ca.pem')));
my $FP_B = uc sha256_hex(pem_file_der(pki('other', 'ca.pem')));
my $PORT_B = free_port();

my $VHOST = <<'EOC';
    <Location /enroll>
        SetHandler scep
        SCEPChallengePassword @SECRET@
        SCEPApproval manual
        SCEPOneTimeChallenges on
    </Location>
    <Location /admin>
        SetHandler scep-admin
        AuthType Basic
        AuthName "mod_scep two CAs"
        AuthUserFile "@PKI@/../../lifecycle/admins.htpasswd"
        Require valid-user
    </Location>
EOC
(my $vhost_a = $VHOST) =~ s/\@SECRET\@/scope-a-secret/;
(my $vhost_b = $VHOST) =~ s/\@SECRET\@/scope-b-secret/;

my $conf = <<"EOC";
\@HTTPD_BASE\@
LoadModule mpm_event_module "\@MODULES\@/mod_mpm_event.so"
\@AUTH_MODULES\@
Listen 127.0.0.1:$PORT_B
# one database for both CAs
DBDriver sqlite3
DBDParams "\@DB\@"
DBDInitSQL "PRAGMA journal_mode=WAL"
<VirtualHost 127.0.0.1:\@PORT\@>
    \@TEST_CA\@
$vhost_a</VirtualHost>
<VirtualHost 127.0.0.1:$PORT_B>
    SCEPCACertificateFile "\@PKI\@/other/ca.pem"
    SCEPCACertificateKeyFile "\@PKI\@/other/ca.key"
    SCEPRACertificateFile "\@PKI\@/other/ra.pem"
    SCEPRACertificateKeyFile "\@PKI\@/other/ra.key"
$vhost_b</VirtualHost>
EOC

my $h = private_httpd(name => 'two-cas', conf => $conf);
my %PORT = (A => $h->{port}, B => $PORT_B);

sub rows { db_rows(shift, file => $h->{db}) }
sub txn  { rows('SELECT * FROM scep_transactions WHERE id = ' . (0 + (shift // 0)))->[0] || {} }

# api('A', POST => 'enrollments/7/approve', json => {...})
sub api {
    my ($node, $method, $rel, %o) = @_;
    my @h = admin_auth($o{user} || 'alice');
    my $body;
    if ($method eq 'POST') {
        push @h, 'Content-Type' => 'application/json';
        $body = $o{json} ? JSON::PP->new->canonical->encode($o{json}) : '';
    }
    my $r = http(port => $PORT{$node}, method => $method, path => "/admin/api/$rel",
                 headers => \@h, body => $body);
    $r->{json} = eval { JSON::PP->new->decode($r->{body}) }
        if ($r->{headers}{'content-type'} // '') =~ m{^application/json};
    return $r;
}

# the page of a node: (response, CSRF token of its cookie)
sub page {
    my ($node) = @_;
    my $r = http(port => $PORT{$node}, path => '/admin/', headers => [admin_auth('alice')]);
    my ($token) = ($r->{headers}{'set-cookie'} // '') =~ /scep_admin_csrf=([0-9A-Fa-f]+)/;
    return ($r, $token);
}

sub ui_post {
    my ($node, $token, $action, %form) = @_;
    my $body = join '&', map { "$_=$form{$_}" } sort keys %form;
    return http(port => $PORT{$node}, method => 'POST', path => "/admin/ui/$action",
                headers => [admin_auth('alice'), Cookie => "scep_admin_csrf=$token",
                            'Content-Type' => 'application/x-www-form-urlencoded'],
                body => "csrf=$token&$body");
}

# a request held for approval at a node's /enroll: (transactionID, row id)
sub held {
    my ($node, $cn) = @_;
    my $trust = $node eq 'A' ? pki('all.pem') : pki('other', 'all.pem');
    my $req = build_request(recipient => $trust, subject => "/CN=$cn",
                            challenge => $node eq 'A' ? 'scope-a-secret' : 'scope-b-secret');
    my $resp = send_request($req, port => $PORT{$node}, path => '/enroll');
    my $rep = $resp->{status} == 200 ? parse_reply($resp, $req, trust => $trust) : {};
    my $row = rows('SELECT id FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid}))->[0];
    return ($rep->{pkiStatus} // "HTTP $resp->{status}", $row ? $row->{id} : 0);
}

ok($h->{ok}, 'httpd with two virtual hosts, two CAs and one database starts') or diag($h->{err});
SKIP: {
    skip 'httpd did not start', 40 unless $h->{ok};

    ########## one held request at each CA
    my ($st_a, $id_a) = held('A', 'scope-a-1');
    my ($st_b, $id_b) = held('B', 'scope-b-1');
    is("$st_a $st_b", '3 3', 'a request held for approval at each CA');
    is(txn($id_a)->{ca}, $FP_A, "A's in the database with CA A");
    is(txn($id_b)->{ca}, $FP_B, "B's in the database with CA B");

    ########## A's administrator and B's enrollment
    my $r = api('A', GET => "enrollments/$id_a");
    is($r->{status}, 200, "A's admin: GET its own enrollment: 200");
    $r = api('A', GET => "enrollments/$id_b");
    is($r->{status}, 404, "A's admin: GET B's enrollment: 404");
    unlike($r->{body}, qr/scope-b-1/, 'and nothing of it in the answer');
    $r = api('A', GET => 'enrollments?status=PENDING&limit=1000');
    my @ids = map { $_->{id} } @{ ($r->{json} || {})->{enrollments} || [] };
    ok((grep { $_ == $id_a } @ids) && !(grep { $_ == $id_b } @ids),
       "A's list of held enrollments has A's and not B's") or diag("listed: @ids");

    $r = api('A', POST => "enrollments/$id_b/approve");
    is($r->{status}, 404, "A's admin: approve B's enrollment: 404") or diag($r->{body});
    $r = api('A', POST => "enrollments/$id_b/reject", json => { reason => 'not yours' });
    is($r->{status}, 404, "A's admin: reject B's enrollment: 404") or diag($r->{body});
    my $t = txn($id_b);
    is($t->{status}, 'PENDING', "B's enrollment is still PENDING");
    ok(!defined $t->{decided_by} && !defined $t->{fail_text}, 'undecided, no reason recorded');
    is(rows("SELECT count(*) AS n FROM scep_certificates WHERE subject LIKE '%scope-b-1%'")->[0]{n}, 0,
       'no certificate was issued for it');

    ########## the same through A's page
    my ($pg, $token) = page('A');
    is($pg->{status}, 200, "A's page: 200");
    ok($token, 'with a CSRF cookie');
    $token //= '';
    like($pg->{body}, qr/scope-a-1/, "it shows A's held request");
    unlike($pg->{body}, qr/scope-b-1/, "and nothing of B's");
    $r = ui_post('A', $token, 'approve', id => $id_b);
    like($r->{headers}{location} // '', qr/notice=Failed/, "A's page: approve B's enrollment fails")
        or diag("$r->{status} " . ($r->{headers}{location} // ''));
    $r = ui_post('A', $token, 'reject', id => $id_b, reason => 'not-yours');
    like($r->{headers}{location} // '', qr/notice=Failed/, "A's page: reject B's enrollment fails")
        or diag("$r->{status} " . ($r->{headers}{location} // ''));
    is(txn($id_b)->{status}, 'PENDING', "B's enrollment is still PENDING");

    ########## B's administrator decides it
    $r = api('B', GET => "enrollments/$id_b");
    is($r->{status}, 200, "B's admin: GET B's enrollment: 200");
    is(api('B', GET => "enrollments/$id_a")->{status}, 404, "B's admin: GET A's enrollment: 404");
    $r = api('B', POST => "enrollments/$id_b/approve", user => 'bob');
    is($r->{status}, 200, "B's admin approves it: 200") or diag($r->{body});
    my $serial_b = ($r->{json} || {})->{serial} // 'none';
    my $cert = rows('SELECT ca, der FROM scep_certificates WHERE serial = ' . q_str($serial_b))->[0] || {};
    is($cert->{ca}, $FP_B, 'the certificate is recorded for CA B');
    my $pem = work_file('cert-b', 'pem');
    write_file($pem, "-----BEGIN CERTIFICATE-----\n" . ($cert->{der} // '') . "\n-----END CERTIFICATE-----\n");
    ok(openssl_verify(pki('other', 'ca.pem'), $pem), 'and signed by CA B');
    is(txn($id_b)->{decided_by}, 'bob', 'decided by B\'s administrator');

    ########## B's certificate from A
    $r = api('A', GET => "certificates/$serial_b");
    is($r->{status}, 404, "A's admin: GET B's certificate: 404");
    $r = api('A', POST => "certificates/$serial_b/revoke", json => { reason => 'keyCompromise' });
    is($r->{status}, 404, "A's admin: revoke B's certificate: 404");
    $r = ui_post('A', $token, 'revoke', serial => $serial_b, reason => 'keyCompromise');
    like($r->{headers}{location} // '', qr/notice=Failed/, "A's page: revoke B's certificate fails");
    ok(!defined rows('SELECT revoked_at FROM scep_certificates WHERE serial = ' . q_str($serial_b))->[0]{revoked_at},
       "B's certificate is not revoked");
    is(api('B', GET => "certificates/$serial_b")->{status}, 200, "B's admin reads it: 200");

    ########## B's one-time challenges from A
    $r = api('B', POST => 'challenges', json => { profile => '/enroll' });
    is($r->{status}, 201, "B's admin makes a one-time challenge: 201") or diag($r->{body});
    my $cid = ($r->{json} || {})->{id} // 0;
    $r = api('A', GET => 'challenges');
    is($r->{status}, 200, "A's admin: GET challenges: 200");
    ok(!grep({ ($_->{id} // '') eq $cid } @{ ($r->{json} || {})->{challenges} || [] }),
       "B's challenge is not listed at A");
    $r = api('A', POST => "challenges/$cid/revoke");
    is($r->{status}, 404, "A's admin: revoke B's challenge: 404");
    $r = ui_post('A', $token, 'revoke-challenge', id => $cid);
    like($r->{headers}{location} // '', qr/notice=Failed/, "A's page: revoke B's challenge fails");
    ok(!defined rows("SELECT revoked_at FROM scep_challenges WHERE id = $cid")->[0]{revoked_at},
       "B's challenge is still open");
    ok(grep({ ($_->{id} // '') eq $cid } @{ (api('B', GET => 'challenges')->{json} || {})->{challenges} || [] }),
       "and listed at B");

    ########## A's administrator still decides A's
    $r = api('A', POST => "enrollments/$id_a/approve");
    is($r->{status}, 200, "A's admin approves A's enrollment: 200") or diag($r->{body});
    my $serial_a = ($r->{json} || {})->{serial} // 'none';
    is(rows('SELECT ca FROM scep_certificates WHERE serial = ' . q_str($serial_a))->[0]{ca}, $FP_A,
       'recorded for CA A');
}
private_httpd_stop($h);
# AH00045/AH00046: a loaded machine stops httpd slowly; not the module's doing
my @bad = grep { /\[(?:\w+:)?(?:warn|error|crit|alert|emerg)\]/ && !/AH0004[56]/ }
          split /\n/, eval { read_file("$h->{dir}/logs/error_log") } // '';
ok(!@bad, 'the two-CA httpd logged nothing at [warn] or worse') or diag(join "\n", @bad);
