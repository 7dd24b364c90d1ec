# Two nodes, one database (issue #7; README Operations "Several nodes"):
# two private httpd instances with the same CA and RA, on different ports,
# sharing the suite's PostgreSQL database (SCEP_TEST_PGSQL). Each node has
#   /scep          static challenge (the test PKI's)
#   /n72-legacy    static challenge, SCEPLegacyAlgorithms on (micromdm scepclient)
#   /n72-otp       one-time challenges only, SCEPProfileName n72-otp
#   /n72-manual    static challenge, SCEPApproval manual (and legacy algorithms)
#   /n72-otp-manual  one-time challenges, SCEPApproval manual
#   /n72-crl       SetHandler scep-crl
#   /n72-admin     SetHandler scep-admin behind Basic auth
#                  (t/lifecycle/admins.htpasswd: alice, bob)
#   /n72-ocsp      SetHandler scep-ocsp: node A's responses are signed by the
#                  CA, node B's by the delegated responder (SCEPOCSPSigner
#                  ocsp.pem, a server-level line of node B only); both with
#                  mod_socache_shmcb loaded, so each keeps answers without a
#                  nonce in its own cache (SCEPOCSPCache's default)
# Asserts: enrollments through both nodes land in the one database with
# distinct serials (scepreq, certmonger, micromdm scepclient); a one-time
# challenge made on A is used once across both nodes, also under a race
# split over both; a request held on A is approved on B and polled there
# (CertPoll and resend, also by micromdm scepclient); a rejection on one
# node is seen on the other; GetCert on B for A's certificate; a challenge
# revoked on B is refused on A; a challenge consumed by a PENDING request
# (/n72-otp-manual) is refused on the other node;
# concurrent approvals on both nodes decide once; the CRL after revocations
# on either node (also at the same moment) is the same on both, numbers
# increasing, one CRL per number; OCSP (openssl ocsp, POST with and without
# a nonce, and GET with the request in the URL): a certificate enrolled on
# one node is good on both, signed as each node is configured; revoked
# through one node's admin API it is revoked with its reason on both at
# the next request (no wait), also where the same request was answered
# "good" from a node's cache just before; a serial never issued is unknown;
# every certificate revoked above is revoked through OCSP with the CRL's
# reason. The database is shared with the other
# test files: everything is counted by this run's CN prefix.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use MIME::Base64 qw(encode_base64 decode_base64);
use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use POSIX ();
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLifecycle qw(crl_text q_str);

plan skip_all => 'SCEP_TEST_PGSQL is not set (a libpq conninfo for a scratch database)'
    unless $ENV{SCEP_TEST_PGSQL};
plan tests => 197;

my $T0 = time;
my $CA = pki('ca.pem');
my $CA_FP = uc sha256_hex(pem_file_der($CA));
# this run's names: unique across reruns against the same database
my $P = sprintf 'n72-%x%04x', time, $$ & 0xffff;
my $RACE_N = 10;
my %PASSWORD = (alice => 'alice-pw-4711', bob => 'bob-pw-0815');

sub pg_rows  { db_rows(shift, pg => 1) }
sub pg_value { db_value(shift, pg => 1) }
sub serial_of  { my $f = shift; $f && -s $f ? norm_serial((cert_info($f) || {})->{serial}) : '' }
# the serial as mod_scep spells it (API, records): uppercase hex, whole bytes
sub api_serial { my $f = shift; $f && -s $f ? uc((cert_info($f) || {})->{serial} // '') : '' }
sub subject_of { my $f = shift; $f && -s $f ? (cert_info($f) || {})->{subject} // '' : '' }
sub pub_of_key  { run_cmd(['openssl', 'pkey', '-in', shift, '-pubout'])->{out} }
sub pub_of_cert { my $f = shift; $f ? (cert_info($f) || {})->{pubkey} // '' : '' }
sub why { my $r = shift; 'pkiStatus=' . ($r->{pkiStatus} // '-') . ' failInfo=' . ($r->{failInfo} // '-')
          . ' ' . ($r->{failInfoText} // '') . ' ' . ($r->{err} // '') }

######################################################################
# the two nodes

my $CONNINFO = pg_conninfo();
(my $conninfo_q = $CONNINFO) =~ s/"/\\"/g;
my $HTPASSWD = t_dir() . '/lifecycle/admins.htpasswd';

my $NODE_CONF = <<"EOC";
\@HTTPD_BASE\@
LoadModule mpm_event_module "\@MODULES\@/mod_mpm_event.so"
\@AUTH_MODULES\@
# a small node: one child of 16 threads (two at most)
StartServers 1
ServerLimit 2
ThreadsPerChild 16
MaxRequestWorkers 32
MinSpareThreads 4
MaxSpareThreads 32
LimitRequestLine 32768
# OCSP by GET: the request's base64 may hold a '/', sent as %2F
AllowEncodedSlashes NoDecode
# the OCSP responses' cache (SCEPOCSPCache's default when it is loaded)
LoadModule socache_shmcb_module "\@MODULES\@/mod_socache_shmcb.so"
DBDriver pgsql
DBDParams "$conninfo_q"
DBDMin 0
DBDKeep 2
DBDMax 16
# every request comes from 127.0.0.1, and the other test files' refusals
# are in the same database
SCEPChallengeThrottle off
\@TEST_CA\@
<Location /scep>
    SetHandler scep
    SCEPChallengePasswordFile "\@PKI\@/challenge"
</Location>
<Location /n72-legacy>
    SetHandler scep
    SCEPChallengePasswordFile "\@PKI\@/challenge"
    SCEPLegacyAlgorithms on
</Location>
<Location /n72-otp>
    SetHandler scep
    SCEPOneTimeChallenges on
    SCEPProfileName n72-otp
    SCEPValidity 30d
</Location>
<Location /n72-manual>
    SetHandler scep
    SCEPChallengePasswordFile "\@PKI\@/challenge"
    SCEPApproval manual
    # micromdm scepclient polls here too (single DES + SHA-1)
    SCEPLegacyAlgorithms on
</Location>
# one-time challenges with manual approval: a challenge is consumed by the PENDING request
<Location /n72-otp-manual>
    SetHandler scep
    SCEPOneTimeChallenges on
    SCEPProfileName n72-otp-manual
    SCEPApproval manual
</Location>
<Location /n72-crl>
    SetHandler scep-crl
</Location>
<Location /n72-admin>
    SetHandler scep-admin
    AuthType Basic
    AuthName "mod_scep two nodes"
    AuthUserFile "$HTPASSWD"
    Require valid-user
</Location>
<Location /n72-ocsp>
    SetHandler scep-ocsp
</Location>
EOC
# server-level lines of one node: B's OCSP responses are signed by the
# delegated responder of the test PKI (OCSPSigning, ocsp-nocheck); A's by
# the CA. Both valid 1 hour (A: the default)
my %NODE_EXTRA = (A => '', B => <<"EOC");
SCEPOCSPSigner "\@PKI\@/ocsp.pem" "\@PKI\@/ocsp.key"
SCEPOCSPValidity 1h
EOC

my (%NODE, @STARTED);
END { private_httpd_stop($_) for @STARTED }
for my $n ('A', 'B') {
    my $h = private_httpd(name => "node-$n", conf => $NODE_CONF . $NODE_EXTRA{$n});
    push @STARTED, $h;
    $NODE{$n} = $h;
    ok($h->{ok}, "node $n starts on port $h->{port} (DBDriver pgsql)") or diag($h->{err});
}
unless ($NODE{A}{ok} && $NODE{B}{ok}) {
    # fail this file only (BAIL_OUT would stop the whole suite)
    diag('a node did not start: nothing else to test');
    exit 1;
}
my %PORT = map { $_ => $NODE{$_}{port} } keys %NODE;
isnt($PORT{A}, $PORT{B}, "two ports ($PORT{A}, $PORT{B})");

######################################################################
# helpers, each taking the node

my $JSON = JSON::PP->new->canonical;

# api('A', POST => 'challenges', json => {...}, user => 'alice')
sub api {
    my ($node, $method, $rel, %o) = @_;
    my $user = $o{user} || 'alice';
    my @h = (Authorization => 'Basic ' . encode_base64("$user:$PASSWORD{$user}", ''));
    my $body = $o{json} ? $JSON->encode($o{json}) : undef;
    if ($method eq 'POST') {
        push @h, 'Content-Type' => 'application/json';
        $body //= '';
    }
    my $r = http(method => $method, path => "/n72-admin/api/$rel", port => $PORT{$node},
                 headers => \@h, body => $body);
    $r->{json} = eval { JSON::PP->new->decode($r->{body}) }
        if ($r->{headers}{'content-type'} // '') =~ m{^application/json};
    return $r;
}

# send a built request to a node's Location: (resp, rep)
sub send_to {
    my ($node, $req, $path, %o) = @_;
    my $resp = send_request($req, port => $PORT{$node}, path => $path, %{ $o{send} || {} });
    my $rep = $resp->{status} == 200 ? parse_reply($resp, $o{as} || $req) : { err => "HTTP $resp->{status}" };
    return ($resp, $rep);
}

# a PKCSReq at a node: (req, rep)
sub enroll_on {
    my ($node, $path, %b) = @_;
    my $send = delete $b{send};
    my $req = build_request(%b);
    my (undef, $rep) = send_to($node, $req, $path, send => $send);
    return ($req, $rep);
}

# CertPoll (GetCertInitial) for an earlier PKCSReq, at a node
sub poll_on {
    my ($node, $orig, $path) = @_;
    my $req = build_request(key => $orig->{key}, subject => $orig->{subject}, tid => $orig->{tid},
                            type => 20, challenge => undef, args => ['--issuer-subject', $CA]);
    my (undef, $rep) = send_to($node, $req, $path);
    return $rep;
}

# GetCRL (PKIOperation) at a node: the CRL's DER or ''
sub getcrl_on {
    my ($node, $path) = @_;
    my $req = build_request(subject => "/CN=$P-getcrl", type => 22, challenge => undef,
                            args => ['--issuer-serial', $CA]);
    my $resp = send_request($req, port => $PORT{$node}, path => $path);
    return ('', { err => "HTTP $resp->{status}" }) unless $resp->{status} == 200;
    my $in = write_file(work_file('getcrl-rep', 'der'), $resp->{body});
    my $crl = work_file('getcrl', 'pem');
    my $r = scepreq('parse', '-i', $in, '--verify', pki('all.pem'), '--key', $req->{key},
                    '--signer-cert', $req->{signer}, '--out-crl', $crl, '--expect-nonce', $req->{nonce});
    my %p = $r->{out} =~ /^(\w+)=(.*)$/mg;
    $p{err} = $r->{err};
    my $der = -s $crl ? run_cmd(['openssl', 'crl', '-in', $crl, '-outform', 'DER'])->{out} : '';
    return ($der, \%p);
}

# GET a node's CRL Location: (status, DER, crl_text)
sub crl_on {
    my $node = shift;
    my $r = http(port => $PORT{$node}, path => '/n72-crl');
    my $der = $r->{status} == 200 ? $r->{body} : '';
    return ($r->{status}, $der, crl_text($der));
}

my @KEYS = new_keys((2048) x ($RACE_N + 4));
note(sprintf 'nodes up and %d keys made in %ds; CN prefix %s', scalar @KEYS, time - $T0, $P);

######################################################################
# 1. enrollments through both nodes: one database, distinct serials
my %CERT;    # name -> { file, key, serial, node }
{
    my @runs = (['A', 'a-post', {}], ['B', 'b-get', { method => 'GET' }], ['B', 'b-post', {}],
                ['A', 'a-get', { method => 'GET' }]);
    for my $run (@runs) {
        my ($node, $name, $send) = @$run;
        my ($req, $rep) = enroll_on($node, '/scep', subject => "/CN=$P-$name", send => $send);
        is($rep->{pkiStatus} // '', '0', "scepreq $name via node $node: SUCCESS") or diag(why($rep));
        my $c = $rep->{cert_file};
        $CERT{$name} = { file => $c, key => $req->{key}, serial => serial_of($c), api => api_serial($c), node => $node };
    }

    my $cm = certmonger_enroll(url => "http://127.0.0.1:$PORT{A}/scep", cn => "$P-cm-a");
    is($cm->{status}, 'MONITORING', 'certmonger via node A: MONITORING') or diag("$cm->{out}\n$cm->{err}");
    $CERT{'cm-a'} = { file => $cm->{cert}, key => $cm->{key}, serial => serial_of($cm->{cert}), api => api_serial($cm->{cert}), node => 'A' };

    my $mm = micromdm_enroll(url => "http://127.0.0.1:$PORT{B}/n72-legacy", cn => "$P-mm-b");
    is($mm->{rc}, 0, 'micromdm scepclient via node B: exit 0') or diag("$mm->{out}\n$mm->{err}");
    $CERT{'mm-b'} = { file => $mm->{cert}, key => $mm->{key}, serial => serial_of($mm->{cert}), api => api_serial($mm->{cert}), node => 'B' };

    my @names = sort keys %CERT;
    is(scalar(grep { $CERT{$_}{file} && -s $CERT{$_}{file} && openssl_verify($CA, $CERT{$_}{file}) } @names),
       6, 'all six certificates verify against the one CA');
    is(join(',', map { subject_of($CERT{$_}{file}) } @names), join(',', map { "CN=$P-$_" } @names),
       'each with its own subject');
    my %seen = map { $CERT{$_}{serial} => 1 } grep { $CERT{$_}{serial} } @names;
    is(scalar keys %seen, 6, 'six distinct serials');

    my $rows = pg_rows("SELECT c.serial, c.subject, c.der, t.status, t.profile FROM scep_certificates c "
                       . "JOIN scep_transactions t ON t.ca = c.ca AND t.serial = c.serial "
                       . "WHERE c.subject LIKE 'CN=$P-%' AND upper(c.ca) = '$CA_FP' ORDER BY c.subject");
    is(scalar @$rows, 6, 'six certificates of this run in PostgreSQL, each with its transaction');
    is(join(',', sort map { norm_serial($_->{serial}) } @$rows), join(',', sort keys %seen),
       'the database has exactly the serials the clients got');
    ok(!grep({ $_->{status} ne 'ISSUED' } @$rows), 'all ISSUED');
    my %by_subject = map { $_->{subject} => $_ } @$rows;
    ok(!grep({ my $r = $by_subject{"CN=$P-$_"};
               !$r || decode_base64($r->{der}) ne (pem_file_der($CERT{$_}{file}) // '') } @names),
       "each row's DER is the certificate its client holds");
    is(($by_subject{"CN=$P-mm-b"} || {})->{profile} // '', '/n72-legacy', 'micromdm: profile /n72-legacy');
    is(pg_value("SELECT count(*) FROM scep_certificates WHERE subject LIKE 'CN=$P-%' GROUP BY serial "
                . 'HAVING count(*) > 1'), undef, 'no serial twice');

    # a request made on A, resent unchanged to B: the same certificate, no second one
    my $again = build_request(subject => "/CN=$P-resend");
    my (undef, $r1) = send_to('A', $again, '/scep');
    my (undef, $r2) = send_to('B', $again, '/scep');
    is(($r1->{pkiStatus} // '') . '/' . ($r2->{pkiStatus} // ''), '0/0', 'a request on A, resent to B: SUCCESS twice');
    ok($r1->{cert_file} && $r2->{cert_file} && pem_file_der($r1->{cert_file}) eq pem_file_der($r2->{cert_file}),
       'B answers the certificate A issued');
    is(pg_value("SELECT count(*) FROM scep_certificates WHERE subject = 'CN=$P-resend'"), 1, 'one certificate');
    is(pg_value('SELECT count(*) FROM scep_transactions WHERE transaction_id = ' . q_str($again->{tid})), 1,
       'one transactions row');
}

# GetCert at node B for a certificate node A issued
{
    my $c = $CERT{'a-post'};
    my $req = build_request(subject => "/CN=$P-getcert", type => 21, challenge => undef,
                            args => ['--issuer-serial', $c->{file}]);
    my (undef, $rep) = send_to('B', $req, '/scep');
    is($rep->{pkiStatus} // '', '0', 'GetCert at node B for a certificate issued on node A: SUCCESS') or diag(why($rep));
    ok($rep->{cert_file} && pem_file_der($rep->{cert_file}) eq (pem_file_der($c->{file}) // ''),
       'GetCert returns that certificate');
}

######################################################################
# 2. a one-time challenge made on A: used once, on B; refused afterwards on both
{
    my $r = api('A', POST => 'challenges', json => { profile => 'n72-otp', ttl => '10m' });
    is($r->{status}, 201, "node A: POST api/challenges: 201") or diag($r->{body});
    my ($id, $secret) = @{ $r->{json} || {} }{qw(id challenge)};
    ($id, $secret) = ($id // 0, $secret // 'none');
    my $listed = api('B', GET => 'challenges');
    ok(grep({ ($_->{id} // '') eq $id } @{ ($listed->{json} || {})->{challenges} || [] }),
       'node B lists it among the open challenges');

    my ($req, $rep) = enroll_on('B', '/n72-otp', key => shift @KEYS, subject => "/CN=$P-otp-1",
                                challenge => $secret);
    is($rep->{pkiStatus} // '', '0', 'the challenge at node B: SUCCESS') or diag(why($rep));
    my $serial = serial_of($rep->{cert_file});

    my (undef, $onA) = enroll_on('A', '/n72-otp', key => shift @KEYS, subject => "/CN=$P-otp-2",
                                 challenge => $secret);
    is(($onA->{pkiStatus} // '-') . '/' . ($onA->{failInfo} // '-'), '2/2',
       'the same challenge at node A: FAILURE badRequest') or diag(why($onA));
    like($onA->{failInfoText} // '', qr/already used/, 'node A says it is already used');
    my (undef, $onB) = enroll_on('B', '/n72-otp', key => shift @KEYS, subject => "/CN=$P-otp-3",
                                 challenge => $secret);
    is(($onB->{pkiStatus} // '-') . '/' . ($onB->{failInfo} // '-'), '2/2',
       'and again at node B: FAILURE badRequest') or diag(why($onB));
    like($onB->{failInfoText} // '', qr/already used/, 'node B says it is already used');

    # the winner resends its request to A: its certificate, no challenge needed
    my (undef, $resent) = send_to('A', $req, '/n72-otp');
    is(serial_of($resent->{cert_file}), $serial, 'the successful request resent to node A: the same certificate');

    my $ch = pg_rows("SELECT used_at, used_tid, revoked_at FROM scep_challenges WHERE id = $id")->[0] || {};
    ok($ch->{used_at}, 'PostgreSQL: the challenge is used');
    is($ch->{used_tid} // '', $req->{tid}, "by node B's transaction");
    my $t = pg_rows("SELECT subject, status, serial FROM scep_transactions WHERE subject LIKE 'CN=$P-otp-%' "
                    . 'ORDER BY subject');
    is(join(',', map { "$_->{subject}:$_->{status}" } @$t),
       "CN=$P-otp-1:ISSUED,CN=$P-otp-2:REJECTED,CN=$P-otp-3:REJECTED",
       'one ISSUED and two REJECTED transactions');
    is(pg_value("SELECT count(*) FROM scep_certificates WHERE subject LIKE 'CN=$P-otp-%'"), 1,
       'one certificate with it');
    is(norm_serial($t->[0]{serial}), $serial, 'the one the client got');
    for my $n ('A', 'B') {
        my $l = api($n, GET => 'challenges');
        ok(!grep({ ($_->{id} // '') eq $id } @{ ($l->{json} || {})->{challenges} || [] }),
           "node $n no longer lists it as open");
    }
}

# a challenge made on A, revoked on B, is refused on A
{
    my $r = api('A', POST => 'challenges', json => { profile => 'n72-otp', ttl => '10m' });
    my ($id, $secret) = @{ $r->{json} || {} }{qw(id challenge)};
    ($id, $secret) = ($id // 0, $secret // 'none');
    $r = api('B', POST => "challenges/$id/revoke", user => 'bob');
    is($r->{status}, 200, 'a challenge made on node A, revoked on node B: 200') or diag($r->{body});
    like(api('A', POST => "challenges/$id/revoke")->{status}, qr/^40[49]\z/,
         'revoking it again on node A: 404 or 409');
    my (undef, $rep) = enroll_on('A', '/n72-otp', key => new_key(), subject => "/CN=$P-otp-revoked",
                                 challenge => $secret);
    is(($rep->{pkiStatus} // '-') . '/' . ($rep->{failInfo} // '-'), '2/2', 'used on node A: FAILURE badRequest')
        or diag(why($rep));
    like($rep->{failInfoText} // '', qr/revoked/, 'it says revoked');
}

# with manual approval, the PENDING request consumes the challenge: a second
# device on the other node is refused, the first is approved and polls anywhere
{
    my $r = api('B', POST => 'challenges', json => { profile => 'n72-otp-manual', ttl => '10m',
                                                    subject => [{ type => 'CN', value => "$P-otpm-bound" }] },
                user => 'bob');
    is($r->{status}, 201, 'node B: a challenge for n72-otp-manual, bound to a subject') or diag($r->{body});
    my ($id, $secret) = @{ $r->{json} || {} }{qw(id challenge)};
    ($id, $secret) = ($id // 0, $secret // 'none');
    my ($req, $rep) = enroll_on('A', '/n72-otp-manual', key => new_key(), subject => "/CN=$P-otpm-1",
                                challenge => $secret);
    is($rep->{pkiStatus} // '', '3', 'used at node A: PENDING') or diag(why($rep));
    is(pg_value("SELECT used_tid FROM scep_challenges WHERE id = $id") // '', $req->{tid},
       'PostgreSQL: the PENDING request consumed the challenge');
    my (undef, $other) = enroll_on('B', '/n72-otp-manual', key => new_key(), subject => "/CN=$P-otpm-2",
                                   challenge => $secret);
    is(($other->{pkiStatus} // '-') . '/' . ($other->{failInfo} // '-'), '2/2',
       'another request with it at node B: FAILURE badRequest') or diag(why($other));
    like($other->{failInfoText} // '', qr/already used/, 'already used');
    my $tid_id = pg_value('SELECT id FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid})) // 0;
    $r = api('A', POST => "enrollments/$tid_id/approve");
    is($r->{status}, 200, 'node A approves the first') or diag($r->{body});
    my $p = poll_on('B', $req, '/n72-otp-manual');
    is($p->{pkiStatus} // '', '0', 'CertPoll on node B: SUCCESS') or diag(why($p));
    is(subject_of($p->{cert_file}), "CN=$P-otpm-bound", "with the challenge's bound subject");
    is(pg_value("SELECT count(*) FROM scep_certificates WHERE subject LIKE 'CN=$P-otpm-%'"), 1, 'one certificate');
}

######################################################################
# 3. the race: $RACE_N requests with one challenge, split over both nodes
{
    my $r = api('B', POST => 'challenges', json => { profile => 'n72-otp', ttl => '10m' }, user => 'bob');
    is($r->{status}, 201, "node B: a challenge for the race") or diag($r->{body});
    my ($id, $secret) = @{ $r->{json} || {} }{qw(id challenge)};
    ($id, $secret) = ($id // 0, $secret // 'none');
    my @reqs = map { build_request(key => shift @KEYS, subject => "/CN=$P-race-$_", challenge => $secret) }
               1 .. $RACE_N;
    my @node = map { $_ % 2 ? 'A' : 'B' } 0 .. $#reqs;
    my $t = time;
    my @bodies = run_at_once(map {
        my $i = $_;
        sub {
            my $resp = send_request($reqs[$i], port => $PORT{ $node[$i] }, path => '/n72-otp');
            return $resp->{status} == 200 ? $resp->{body} : "HTTP $resp->{status} " . ($resp->{error} // '');
        }
    } 0 .. $#reqs);
    note(sprintf 'race: %d answers in %ds', scalar @bodies, time - $t);
    my (@ok, $used, @other);
    for my $i (0 .. $#reqs) {
        my $rep = $bodies[$i] =~ /\A(?:HTTP |died)/ ? { err => $bodies[$i] } : parse_reply($bodies[$i], $reqs[$i]);
        if (($rep->{pkiStatus} // '') eq '0' && $rep->{cert_file}) { push @ok, [$i, $rep] }
        elsif (($rep->{pkiStatus} // '') eq '2' && ($rep->{failInfo} // '') eq '2'
               && ($rep->{failInfoText} // '') =~ /already used/) { $used++ }
        else { push @other, "node $node[$i]: " . why($rep) }
    }
    is(scalar @ok, 1, "race over both nodes: exactly one SUCCESS of $RACE_N");
    is($used // 0, $RACE_N - 1, 'race: the others FAILURE badRequest "already used"')
        or diag(join "\n", @other);
    my $win = @ok ? $reqs[ $ok[0][0] ]{tid} : '-';
    note('race won by node ' . (@ok ? $node[ $ok[0][0] ] : '-'));
    is(pg_value("SELECT used_tid FROM scep_challenges WHERE id = $id") // '', $win,
       "race: the challenge's used_tid is the winner's transaction");
    my $issued = pg_rows("SELECT transaction_id, serial FROM scep_transactions WHERE subject LIKE 'CN=$P-race-%' "
                         . "AND status = 'ISSUED'");
    is(scalar @$issued, 1, 'race: one ISSUED row');
    is(pg_value("SELECT count(*) FROM scep_certificates WHERE subject LIKE 'CN=$P-race-%'"), 1,
       'race: one certificate in PostgreSQL');
    is(norm_serial($issued->[0]{serial} // ''), @ok ? serial_of($ok[0][1]{cert_file}) : 'x',
       "race: it is the winner's certificate");
    is(pg_value("SELECT count(*) FROM scep_transactions WHERE subject LIKE 'CN=$P-race-%' AND status = 'REJECTED'"),
       $RACE_N - 1, 'race: the refusals are recorded');
    is(pg_value("SELECT count(*) FROM scep_transactions t WHERE t.subject LIKE 'CN=$P-race-%' AND t.serial IS NOT NULL "
                . 'AND NOT EXISTS (SELECT 1 FROM scep_certificates c WHERE c.ca = t.ca AND c.serial = t.serial)'),
       0, 'race: no row names a certificate that was not issued');
}

######################################################################
# 4. manual approval: held on A, approved on B, polled on B
{
    my ($req, $rep) = enroll_on('A', '/n72-manual', subject => "/CN=$P-man-1");
    is($rep->{pkiStatus} // '', '3', 'node A /n72-manual: PENDING') or diag(why($rep));
    my $row = pg_rows('SELECT id, status FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid}));
    is(join(',', map { $_->{status} } @$row), 'PENDING', 'PostgreSQL: one PENDING row');

    my $list = api('B', GET => 'enrollments?status=PENDING&limit=1000', user => 'bob');
    my ($e) = grep { ($_->{transaction_id} // '') eq $req->{tid} } @{ ($list->{json} || {})->{enrollments} || [] };
    ok($e && $e->{id}, "node B's API lists A's request as PENDING");
    my $id = $e ? $e->{id} : 0;
    is($id, $row->[0]{id} // -1, 'with its record id');
    is(($e || {})->{subject} // '', "CN=$P-man-1", 'and its subject');

    my $p = poll_on('B', $req, '/n72-manual');
    is($p->{pkiStatus} // '', '3', 'CertPoll on node B before approval: PENDING') or diag(why($p));

    my $r = api('B', POST => "enrollments/$id/approve", user => 'bob');
    is($r->{status}, 200, 'node B approves it: 200') or diag($r->{body});
    is(($r->{json} || {})->{status} // '', 'ISSUED', 'ISSUED');
    my $approved = norm_serial(($r->{json} || {})->{serial});
    ok($approved, 'approve answers the serial');
    is(api('A', POST => "enrollments/$id/approve")->{status}, 409, 'approving it again on node A: 409');

    $p = poll_on('B', $req, '/n72-manual');
    is($p->{pkiStatus} // '', '0', 'CertPoll on node B after approval: SUCCESS') or diag(why($p));
    my $cert = $p->{cert_file};
    is(serial_of($cert), $approved, 'CertPoll: the approved serial');
    ok($cert && openssl_verify($CA, $cert), 'it verifies against the CA');
    ok($cert && pub_of_cert($cert) eq pub_of_key($req->{key}), "it certifies the request's key");
    is(subject_of($cert), "CN=$P-man-1", 'with the subject held at node A');
    my $rec = pg_rows('SELECT t.status, t.serial, t.decided_by, c.der FROM scep_transactions t '
                      . 'JOIN scep_certificates c ON c.ca = t.ca AND c.serial = t.serial '
                      . 'WHERE t.transaction_id = ' . q_str($req->{tid}));
    is(scalar @$rec, 1, 'PostgreSQL: still one row, now with its certificate');
    is(norm_serial($rec->[0]{serial}), $approved, 'the row has the approved serial');
    ok($cert && decode_base64($rec->[0]{der} // '') eq pem_file_der($cert), 'the polled certificate is the recorded one');
    is($rec->[0]{decided_by} // '', 'bob', "decided_by: node B's user");

    my (undef, $again) = send_to('A', $req, '/n72-manual');
    is($again->{pkiStatus} // '', '0', 'the PKCSReq resent to node A: SUCCESS') or diag(why($again));
    ok($again->{cert_file} && $cert && pem_file_der($again->{cert_file}) eq pem_file_der($cert),
       'the same certificate');
    (undef, $again) = send_to('B', $req, '/n72-manual');
    ok($again->{cert_file} && $cert && pem_file_der($again->{cert_file}) eq pem_file_der($cert),
       'and resent to node B: the same certificate');
    is(pg_value("SELECT count(*) FROM scep_certificates WHERE subject = 'CN=$P-man-1'"), 1, 'one certificate');
}

# the same with a real client: micromdm scepclient held on A, approved on
# B, and run again against B (it resends its PKCSReq)
{
    # it sleeps 30 s after PENDING before resending: stopped once it said PENDING
    my $mm = micromdm_pending(url => "http://127.0.0.1:$PORT{A}/n72-manual", cn => "$P-mm-man");
    like($mm->{out} . $mm->{err}, qr/PENDING/, 'scepclient at node A /n72-manual: PENDING');
    my $rows = pg_rows('SELECT id, status FROM scep_transactions WHERE key_fp = ' . q_str(key_fp($mm->{key})));
    is(join(',', map { $_->{status} } @$rows), 'PENDING', 'PostgreSQL: one PENDING row for its key');
    my $r = api('B', POST => 'enrollments/' . ($rows->[0]{id} // 0) . '/approve', user => 'bob');
    is($r->{status}, 200, 'node B approves it') or diag($r->{body});
    my $again = micromdm_enroll(url => "http://127.0.0.1:$PORT{B}/n72-manual", cn => "$P-mm-man",
                                dir => $mm->{dir}, key => $mm->{key}, timeout => 20);
    is($again->{rc}, 0, 'scepclient run again against node B: exit 0') or diag("$again->{out}\n$again->{err}");
    is(serial_of($again->{cert}), norm_serial(($r->{json} || {})->{serial}), 'it got the certificate approved on B');
    is(pg_value('SELECT count(*) FROM scep_transactions WHERE key_fp = ' . q_str(key_fp($mm->{key}))), 1,
       'still one row for its key');
}

######################################################################
# 5. a rejection on one node is seen on the other
{
    my ($req, $rep) = enroll_on('B', '/n72-manual', subject => "/CN=$P-man-2");
    is($rep->{pkiStatus} // '', '3', 'node B /n72-manual: PENDING') or diag(why($rep));
    my $id = pg_value('SELECT id FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid})) // 0;
    my $reason = "$P: not in the inventory";
    my $r = api('A', POST => "enrollments/$id/reject", json => { reason => $reason });
    is($r->{status}, 200, 'node A rejects it: 200') or diag($r->{body});
    my $p = poll_on('B', $req, '/n72-manual');
    is(($p->{pkiStatus} // '-') . '/' . ($p->{failInfo} // '-'), '2/2', 'CertPoll on node B: FAILURE badRequest')
        or diag(why($p));
    is($p->{failInfoText} // '', $reason, "with node A's reason");
    my (undef, $again) = send_to('B', $req, '/n72-manual');
    is(($again->{pkiStatus} // '-') . ' ' . ($again->{failInfoText} // ''), "2 $reason",
       'the PKCSReq resent to node B: FAILURE with the reason');
    (undef, $again) = send_to('A', $req, '/n72-manual');
    is(($again->{pkiStatus} // '-') . ' ' . ($again->{failInfoText} // ''), "2 $reason",
       'and to node A: the same');
    is(api('B', POST => "enrollments/$id/approve", user => 'bob')->{status}, 409, 'approving it on node B: 409');
    my $g = api('B', GET => "enrollments/$id", user => 'bob');
    is(($g->{json} || {})->{status} // '', 'REJECTED', "node B's API shows REJECTED");
    is(($g->{json} || {})->{decided_by} // '', 'alice', 'decided by alice (on node A)');
    is(pg_value("SELECT count(*) FROM scep_certificates WHERE subject = 'CN=$P-man-2'"), 0, 'no certificate');
}

######################################################################
# 6. approve on A and on B at the same moment: decided once
{
    my @pending;
    for my $i (1 .. 3) {
        my ($req, $rep) = enroll_on($i % 2 ? 'A' : 'B', '/n72-manual', subject => "/CN=$P-dual-$i");
        push @pending, [$req, pg_value('SELECT id FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid}))];
    }
    my @codes;
    for my $pe (@pending) {
        my $id = $pe->[1] // 0;
        push @codes, join '+', sort map { (split / /)[0] } run_at_once(
            sub { my $r = api('A', POST => "enrollments/$id/approve"); "$r->{status} " . ($r->{json}{serial} // '') },
            sub { my $r = api('B', POST => "enrollments/$id/approve", user => 'bob'); "$r->{status} " . ($r->{json}{serial} // '') });
    }
    is(join(',', @codes), '200+409,200+409,200+409',
       'three requests approved on both nodes at once: one 200 and one 409 each');
    is(pg_value("SELECT count(*) FROM scep_certificates WHERE subject LIKE 'CN=$P-dual-%'"), 3,
       'one certificate each');
    is(pg_value("SELECT count(*) FROM scep_transactions WHERE subject LIKE 'CN=$P-dual-%' AND status = 'ISSUED'"), 3,
       'three ISSUED rows, no other');
    my $p = poll_on('A', $pending[0][0], '/n72-manual');
    is(serial_of($p->{cert_file}),
       norm_serial(pg_value("SELECT serial FROM scep_transactions WHERE id = " . ($pending[0][1] // 0))),
       'CertPoll gets the recorded certificate');
}

######################################################################
# 7. revocation and the CRL: the same on both nodes
my %REVOKED;    # serial -> reason text as openssl prints it
sub crl_same_ok {
    my ($label) = @_;
    my ($sa, $da, $ca) = crl_on('A');
    my ($sb, $db, $cb) = crl_on('B');
    is("$sa $sb", '200 200', "$label: both nodes serve the CRL");
    ok(length $da && $da eq $db, "$label: the same CRL (number " . ($ca->{number} // '-') . ') on both nodes')
        or diag('A: ' . ($ca->{number} // '-') . ' B: ' . ($cb->{number} // '-'));
    ok($ca->{verify_ok}, "$label: it verifies against the CA");
    my @missing = grep { ($ca->{revoked}{$_} // '') ne $REVOKED{$_} } sort keys %REVOKED;
    ok(!@missing, "$label: it lists every certificate revoked so far with its reason")
        or diag("missing or wrong: @missing");
    return $ca;
}
{
    my ($st, undef, $crl0) = crl_on('A');
    my $n0 = $crl0->{number} // 0;
    my $crl = crl_same_ok('before any revocation');

    my $c = $CERT{'a-post'};
    my $r = api('A', POST => "certificates/$c->{api}/revoke", json => { reason => 'keyCompromise' });
    is($r->{status}, 200, 'node A revokes a certificate A issued') or diag($r->{body});
    $REVOKED{ $c->{serial} } = 'Key Compromise';
    my $n1 = ($r->{json} || {})->{crl_number} // 0;
    ok($n1 > $n0, "A's revocation built a new CRL number ($n0 -> $n1)");
    $crl = crl_same_ok('after the revocation on A');
    is($crl->{number}, $n1, "node B serves A's new number");
    my ($der, $gr) = getcrl_on('B', '/scep');
    is($gr->{pkiStatus} // '', '0', 'GetCRL at node B: SUCCESS') or diag(why($gr));
    my (undef, $crl_b) = crl_on('B');
    ok(length $der && $der eq $crl_b, "GetCRL at node B: the CRL node B serves");
    is(api('B', POST => "certificates/$c->{api}/revoke", json => { reason => 'superseded' }, user => 'bob')->{status},
       409, 'revoking it again on node B: 409');
    my $g = api('B', GET => "certificates/$c->{serial}", user => 'bob');
    is(($g->{json} || {})->{revocation_reason} // '', 'keyCompromise', "node B's API shows A's revocation");

    my $c2 = $CERT{'b-post'};
    $r = api('B', POST => "certificates/$c2->{api}/revoke", json => { reason => 'cessationOfOperation' },
             user => 'bob');
    is($r->{status}, 200, 'node B revokes a certificate B issued') or diag($r->{body});
    $REVOKED{ $c2->{serial} } = 'Cessation Of Operation';
    my $n2 = ($r->{json} || {})->{crl_number} // 0;
    ok($n2 > $n1, "B's revocation: a higher number ($n1 -> $n2)");
    $crl = crl_same_ok('after the revocation on B');
    is($crl->{number}, $n2, "node A serves B's number");

    # revocations on both nodes at the same moment, twice
    my @pairs = (['cm-a', 'mm-b'], ['a-get', 'b-get']);
    my $last = $n2;
    for my $pair (@pairs) {
        my ($x, $y) = map { $CERT{$_} } @$pair;
        my @out = run_at_once(
            sub { my $r = api('A', POST => "certificates/$x->{api}/revoke", json => { reason => 'superseded' });
                  "$r->{status} " . (($r->{json} || {})->{crl_number} // '') },
            sub { my $r = api('B', POST => "certificates/$y->{api}/revoke", json => { reason => 'affiliationChanged' },
                              user => 'bob');
                  "$r->{status} " . (($r->{json} || {})->{crl_number} // '') });
        $REVOKED{ $x->{serial} } = 'Superseded';
        $REVOKED{ $y->{serial} } = 'Affiliation Changed';
        my @st = map { (split / /)[0] } @out;
        my @num = map { (split / /)[1] // 0 } @out;
        is("@st", '200 200', "concurrent revocations of $pair->[0] on A and $pair->[1] on B: both 200")
            or diag("@out");
        ok(!grep({ $_ <= $last } @num), "both answer a number above $last (@num)");
        $crl = crl_same_ok("after the concurrent revocations of $pair->[0] and $pair->[1]");
        ok(($crl->{number} // 0) >= ($num[0] > $num[1] ? $num[0] : $num[1]),
           'the CRL served is the newest either node built (' . ($crl->{number} // '-') . ')');
        $last = $crl->{number} // $last;
    }

    # the newest CRL grows old (thisUpdate set back past half of SCEPCRLValidity's
    # 7 days): requests on both nodes at once rebuild it, and one number is built once
    my $aged = pg_value("UPDATE scep_crls SET this_update = this_update - 5 * 86400 WHERE upper(ca) = '$CA_FP' "
                        . "AND number = $last RETURNING number");
    is($aged, $last, "CRL number $last set back by 5 days");
    my @marks = map { -s "$NODE{$_}{dir}/logs/error_log" } 'A', 'B';
    my @got = run_at_once(map { my $n = $_; sub { my $r = http(port => $PORT{$n}, path => '/n72-crl');
                                                   "$r->{status} " . encode_base64($r->{body} // '', '') } }
                          qw(A B A B A B A B));
    my @st = map { (split / /)[0] } @got;
    my %ders = map { ((split / /)[1] // '') => 1 } @got;
    is(join(' ', @st), join(' ', ('200') x 8), 'the CRL grown old, asked for 8 times on both nodes at once: 200 each');
    is(scalar keys %ders, 1, 'the same CRL in every answer');
    my $fresh = crl_text(decode_base64((keys %ders)[0]));
    is($fresh->{number}, $last + 1, "a new number (" . ($fresh->{number} // '-') . ") was built");
    is(pg_value("SELECT count(*) FROM scep_crls WHERE upper(ca) = '$CA_FP' AND number > $last"), 1,
       'one new CRL in the database');
    my @built;
    for my $i (0, 1) {
        my $h = $NODE{ ('A', 'B')[$i] };
        open my $fh, '<', "$h->{dir}/logs/error_log" or next;
        seek $fh, $marks[$i], 0;
        push @built, grep { /SCEP00213: CRL number \Q$fresh->{number}\E built/ } <$fh>;
    }
    is(scalar @built, 1, 'the two nodes logged building it once (SCEP00213)') or diag(@built);
    $crl = crl_same_ok('after the rebuild');
    $last = $crl->{number} // $last;

    # the CRLs in the database: one per number, each numbered as its row, newer ones list more
    my $rows = pg_rows("SELECT number, revoked_count, der FROM scep_crls WHERE upper(ca) = '$CA_FP' "
                       . "AND number >= $n1 ORDER BY number");
    ok(@$rows >= 4, scalar(@$rows) . " CRLs numbered $n1.." . ($rows->[-1]{number} // '-') . ' in PostgreSQL');
    my @bad_num = grep { (crl_text(decode_base64($_->{der}))->{number} // -1) != $_->{number} } @$rows;
    ok(!@bad_num, "each stored CRL carries its row's number") or diag('rows: ' . join ' ', map { $_->{number} } @bad_num);
    my @shrink = grep { $rows->[$_]{revoked_count} < $rows->[$_ - 1]{revoked_count} } 1 .. $#$rows;
    ok(!@shrink, 'a higher number never lists fewer revocations')
        or diag(join ', ', map { "$_->{number}: $_->{revoked_count}" } @$rows);
    is($rows->[-1]{number}, $last, 'the newest in the database is the one both nodes serve');
    is(pg_value("SELECT count(*) FROM scep_certificates WHERE subject LIKE 'CN=$P-%' AND revoked_at IS NOT NULL"),
       scalar keys %REVOKED, 'PostgreSQL: the revocations of this run, each once');
    ok(!grep({ !$_->{serial} } map { $CERT{$_} } qw(a-post b-post cm-a mm-b a-get b-get)),
       '(every revoked certificate had a serial)');
}

######################################################################
# 8. OCSP at /n72-ocsp: every answer reads the shared records, so what one
# node's admin API did is what both nodes answer at the next request

my %SIGNED_BY = (A => qr/Responder Id: .*mod_scep Test CA/, B => qr/Responder Id: .*OCSP responder/);

# what openssl ocsp printed about $what (a certificate file or a -serial)
sub ocsp_result {
    my ($r, $what) = @_;
    $r->{status} = ($r->{out} =~ /^\Q$what\E: (\w+)/m)[0] // 'none';
    $r->{reason} = ($r->{out} =~ /^\s+Reason: (\w+)/m)[0] // '';
    $r->{verified} = $r->{err} =~ /Response verify OK/ ? 1 : 0;
    ($r->{this}, $r->{next}) = $r->{out} =~ /This Update: (.+)\n\s*Next Update: (.+)/;
    ($r->{revoked_at}) = $r->{out} =~ /Revocation Time: (.+)/;
    return $r;
}

# "good verified", "revoked keyCompromise verified", "unknown NOT verified" ...
sub ocsp_says {
    my $r = shift;
    return join ' ', grep { length } $r->{status}, $r->{reason}, $r->{verified} ? 'verified' : 'NOT verified';
}

# openssl ocsp by POST at a node: cert => FILE or serial => '0x..', no_nonce => 1
sub ocsp_on {
    my ($node, %o) = @_;
    my @a = ('openssl', 'ocsp', '-issuer', $CA, $o{cert} ? ('-cert', $o{cert}) : ('-serial', $o{serial}),
             '-url', "http://127.0.0.1:$PORT{$node}/n72-ocsp", '-CAfile', $CA, '-resp_text');
    push @a, '-no_nonce' if $o{no_nonce};
    return ocsp_result(run_cmd(\@a), $o{cert} // $o{serial});
}

# the OCSPRequest (DER, no nonce) for a certificate file or a '0x..'
# serial: what a GET carries
sub ocsp_id { my $w = shift; $w =~ /^0x/ ? ('-serial', $w) : ('-cert', $w) }
sub ocsp_request_file {
    my $what = shift;
    my $f = work_file('n72-ocsp-req', 'der');
    run_cmd(['openssl', 'ocsp', '-issuer', $CA, ocsp_id($what), '-no_nonce', '-reqout', $f]);
    return $f;
}
# the URL path of a GET: base64 with '+', '/' and '=' URL-encoded
sub ocsp_get_path {
    (my $b64 = encode_base64(read_file(shift), '')) =~ s{([+/=])}{sprintf '%%%02X', ord $1}ge;
    return "/n72-ocsp/$b64";
}

# GET /n72-ocsp/<URL-encoded base64 request> at a node, its response read
# by openssl ocsp -respin; the HTTP answer in {http}
sub ocsp_get {
    my ($node, $what, $reqfile) = @_;
    my $g = http(port => $PORT{$node}, path => ocsp_get_path($reqfile));
    my $resp = write_file(work_file('n72-ocsp-resp', 'der'), $g->{status} == 200 ? $g->{body} : '');
    my $r = ocsp_result(run_cmd(['openssl', 'ocsp', '-respin', $resp, '-issuer', $CA, ocsp_id($what),
                                 '-CAfile', $CA, '-no_nonce', '-resp_text']), $what);
    $r->{http} = $g;
    return $r;
}

sub epoch_of {
    my $d = shift // return -1;
    my $r = run_cmd(['date', '-u', '-d', $d, '+%s']);
    return $r->{rc} ? -1 : $r->{out} + 0;
}

# the SCEP00363 lines a node logged since a mark, for a serial
sub ocsp_log {
    my ($node, $mark, $serial) = @_;
    open my $fh, '<', "$NODE{$node}{dir}/logs/error_log" or return ();
    seek $fh, $mark, 0;
    return grep { /SCEP00363/ && /: 0*\Q$serial\E: /i } <$fh>;
}
sub log_end { my $n = shift; -s "$NODE{$n}{dir}/logs/error_log" // 0 }

{
    # enrolled on A: good on B and on A, as each node signs
    my (undef, $rep) = enroll_on('A', '/scep', subject => "/CN=$P-ocsp-a");
    my $cert = $rep->{cert_file} // '';
    ok(-s $cert, 'OCSP: a certificate enrolled on node A') or diag(why($rep));
    for my $n ('B', 'A') {
        my $r = ocsp_on($n, cert => $cert);
        # no nonce: cacheable, asked twice (the second may come from the node's cache)
        my @plain = map { ocsp_on($n, cert => $cert, no_nonce => 1) } 1, 2;
        is(join(' / ', map { ocsp_says($_) } $r, @plain), join(' / ', ('good verified') x 3),
           "OCSP on node $n for node A's certificate: good, the response verifies (with a nonce, and twice without)")
            or diag("$r->{out}\n$r->{err}");
        like($r->{out}, $SIGNED_BY{$n},
             "node $n: signed by " . ($n eq 'A' ? 'the CA' : 'the delegated responder (SCEPOCSPSigner)'));
        ok($r->{out} =~ /OCSP Nonce:/ && $r->{err} !~ /WARNING: no nonce/, "node $n echoes the nonce");
        is(epoch_of($r->{next}) - epoch_of($r->{this}), 3600, "node $n: nextUpdate - thisUpdate = 1 hour")
            or diag("thisUpdate $r->{this}, nextUpdate $r->{next}");
    }

    # revoked through node B's API: revoked on A and on B at once
    my $t = time;
    my $rv = api('B', POST => 'certificates/' . api_serial($cert) . '/revoke', json => { reason => 'keyCompromise' },
                 user => 'bob');
    is($rv->{status}, 200, "node B's API revokes node A's certificate (keyCompromise)") or diag($rv->{body});
    $REVOKED{ serial_of($cert) } = 'Key Compromise';
    my $when;
    for my $n ('A', 'B') {
        my @r = (ocsp_on($n, cert => $cert), ocsp_on($n, cert => $cert, no_nonce => 1));
        is(join(' / ', map { ocsp_says($_) } @r), join(' / ', ('revoked keyCompromise verified') x 2),
           "at once, OCSP on node $n: revoked, Reason: keyCompromise (with a nonce and without)")
            or diag("$r[0]{out}\n$r[0]{err}\n$r[1]{out}\n$r[1]{err}");
        $when //= $r[0]{revoked_at};
    }
    my $at = epoch_of($when);
    ok($at >= $t - 2 && $at <= time + 2, 'with the revocation time (' . ($when // '-') . ')');

    # the other way round: enrolled on B, revoked through A, asked on B
    (undef, $rep) = enroll_on('B', '/scep', subject => "/CN=$P-ocsp-b");
    my $cert_b = $rep->{cert_file} // '';
    ok(-s $cert_b, 'OCSP: a certificate enrolled on node B') or diag(why($rep));
    is(join(' / ', map { ocsp_says(ocsp_on($_, cert => $cert_b, no_nonce => 1)) } 'B', 'A'),
       'good verified / good verified', 'good on node B and on node A');
    $rv = api('A', POST => 'certificates/' . api_serial($cert_b) . '/revoke', json => { reason => 'superseded' });
    is($rv->{status}, 200, "node A's API revokes node B's certificate (superseded)") or diag($rv->{body});
    $REVOKED{ serial_of($cert_b) } = 'Superseded';
    for my $n ('B', 'A') {
        my $r = ocsp_on($n, cert => $cert_b);
        is(ocsp_says($r), 'revoked superseded verified', "at once, OCSP on node $n: revoked, Reason: superseded")
            or diag("$r->{out}\n$r->{err}");
    }

    # a serial this CA never issued
    my $never = '0x0BADC0DE7272' . sprintf '%04X', $$ & 0xffff;
    for my $n ('A', 'B') {
        my $r = ocsp_on($n, serial => $never);
        is(ocsp_says($r), 'unknown verified', "OCSP on node $n for a serial never issued ($never): unknown")
            or diag("$r->{out}\n$r->{err}");
    }
    # and by GET, with a request whose URL has a %2F and a %2B (a serial
    # never issued, chosen for it): AllowEncodedSlashes NoDecode on the nodes
    my ($gnever, $greq);
    for my $i (1 .. 64) {
        my $s = sprintf '0x0BADC0DE%04X%04X', $$ & 0xffff, $i;
        my $f = ocsp_request_file($s);
        my $path = ocsp_get_path($f);
        if ($path =~ /%2F/ && $path =~ /%2B/) {
            ($gnever, $greq) = ($s, $f);
            last;
        }
    }
    SKIP: {
        skip 'no serial of 64 made a request with both / and + in its base64', 1 unless $greq;
        is(join(' / ', map { my $g = ocsp_get($_, $gnever, $greq); "$g->{http}{status} " . ocsp_says($g) } 'A', 'B'),
           '200 unknown verified / 200 unknown verified',
           "GET with %2F and %2B in the URL, a serial never issued ($gnever): unknown on node A and on node B");
    }

    # GET (RFC 5019): the same request on both nodes, before and after a
    # revocation; the answers carry Cache-Control max-age, and a node keeps
    # them in its cache, yet the revocation changes them at once
    (undef, $rep) = enroll_on('A', '/scep', subject => "/CN=$P-ocsp-get");
    my $gcert = $rep->{cert_file} // '';
    my $gserial = serial_of($gcert);
    my $reqfile = ocsp_request_file($gcert);
    ok(-s $gcert && -s $reqfile, 'OCSP GET: a certificate enrolled on node A, and its request without a nonce');
    my %mark = map { $_ => log_end($_) } 'A', 'B';
    for my $n ('A', 'B') {
        my @g = map { ocsp_get($n, $gcert, $reqfile) } 1, 2;
        is(join(' / ', map { "$_->{http}{status} " . ocsp_says($_) } @g), '200 good verified / 200 good verified',
           "GET /n72-ocsp/<request> on node $n, twice: good, and it verifies")
            or diag("$g[0]{out}\n$g[0]{err}");
        my $h = $g[0]{http}{headers};
        my ($age) = ($h->{'cache-control'} // '') =~ /max-age=(\d+)/;
        ok(($h->{'content-type'} // '') eq 'application/ocsp-response' && $age && $age > 3500 && $age <= 3600,
           "node $n: application/ocsp-response, Cache-Control: " . ($h->{'cache-control'} // '-'));
    }
    for my $n ('A', 'B') {
        my @cached = grep { /: good \(cached\)/ } ocsp_log($n, $mark{$n}, $gserial);
        ok(scalar @cached, "node $n answered the second GET from its cache (SCEP00363 ... (cached))")
            or diag(ocsp_log($n, $mark{$n}, $gserial));
    }
    $rv = api('B', POST => "certificates/" . api_serial($gcert) . '/revoke', json => { reason => 'affiliationChanged' },
              user => 'bob');
    is($rv->{status}, 200, "node B's API revokes it (affiliationChanged)") or diag($rv->{body});
    $REVOKED{$gserial} = 'Affiliation Changed';
    for my $n ('A', 'B') {
        my @g = map { ocsp_get($n, $gcert, $reqfile) } 1, 2;
        is(join(' / ', map { "$_->{http}{status} " . ocsp_says($_) } @g),
           '200 revoked affiliationChanged verified / 200 revoked affiliationChanged verified',
           "the same GET on node $n at once, twice: revoked, Reason: affiliationChanged (not the cached good)")
            or diag("$g[0]{out}\n$g[0]{err}\n" . join "\n", ocsp_log($n, $mark{$n}, $gserial));
    }

    # every certificate revoked in 7. (on either node) is revoked through
    # OCSP on both, with the CRL's reason
    my @wrong;
    for my $name (qw(a-post b-post cm-a mm-b a-get b-get)) {
        my $c = $CERT{$name};
        my $want = 'revoked ' . lcfirst(join '', split / /, $REVOKED{ $c->{serial} } // '?') . ' verified';
        for my $n ('A', 'B') {
            my $got = ocsp_says(ocsp_on($n, cert => $c->{file}, no_nonce => 1));
            push @wrong, "$name on $n: $got (want $want)" if $got ne $want;
        }
    }
    ok(!@wrong, "the six certificates revoked in 7.: revoked through OCSP on both nodes, each with its CRL's reason")
        or diag(join "\n", @wrong);

    # and the CRL agrees with what OCSP said
    crl_same_ok('after the revocations of the OCSP tests');
}

######################################################################
# the logs
for my $n ('A', 'B') {
    my $h = $NODE{$n};
    private_httpd_stop($h);
    my @log = split /\n/, eval { read_file("$h->{dir}/logs/error_log") } // '';
    # AH00045/AH00046: a loaded machine stops httpd slowly; not the module's doing
    my @bad = grep { /\] \[(?:[\w.]+:)?(?:error|crit|alert|emerg)\] / && !/AH0004[56]/ } @log;
    ok(!@bad, "node $n: error_log has nothing at [error] or worse") or diag(join "\n", @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);
    my @warn = grep { /\] \[(?:[\w.]+:)?warn\] / && !/AH0004[56]/ } @log;
    ok(!@warn, "node $n: error_log has no [warn]") or diag(join "\n", @warn[0 .. ($#warn > 9 ? 9 : $#warn)]);
}
@STARTED = ();
note(sprintf 't/72-two-nodes.t took %ds', time - $T0);
error_log_clean();
