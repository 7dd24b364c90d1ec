# The OCSP responder (README "SetHandler scep-ocsp"), asked by OpenSSL's own
# client (`openssl ocsp`): good, revoked with each reason and its time,
# unknown for a serial never issued; with and without a nonce; by POST and
# by GET (RFC 5019, the request in the URL, with its caching headers); signed
# by the CA (main server, SQLite) and by a delegated responder (the scep_pg
# virtual host: SCEPOCSPSigner, PostgreSQL); a certificate of another CA is
# "unauthorized"; a request that is not one, or too big, gets
# malformedRequest or 413, never a 500. A response is kept in the shared
# cache (SCEPOCSPCache, shmcb) and served again, until the records say
# something else: a revocation is seen at the next request.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use MIME::Base64 qw(encode_base64);
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLifecycle qw(admin_auth issued_cert);

my @REASONS = qw(unspecified keyCompromise affiliationChanged superseded
                 cessationOfOperation certificateHold privilegeWithdrawn);
my $PG = $ENV{SCEP_TEST_PGSQL} ? 1 : 0;
plan tests => 25 + 2 * @REASONS + ($PG ? 9 : 0);

my $CA = pki('ca.pem');
my $TAG = 'o58-' . $$;

# a certificate issued at /scep of the main server (or of vhost)
sub issue {
    my ($cn, $vhost) = @_;
    my ($req, $resp, $rep) = enroll(build => { subject => "/CN=$cn" },
                                    send => { path => '/scep', vhost => $vhost });
    my $file = issued_cert($rep) or return undef;
    my $copy = work_file("$cn", 'pem');
    write_file($copy, read_file($file));
    return $copy;
}

sub serial_of {
    my $r = run_cmd(['openssl', 'x509', '-in', shift, '-noout', '-serial']);
    return ($r->{out} =~ /serial=([0-9A-F]+)/)[0];
}

sub revoke {
    my ($serial, $reason, $vhost) = @_;
    my $r = http(method => 'POST', vhost => $vhost,
                 path => "/life-admin/api/certificates/$serial/revoke",
                 headers => [admin_auth('alice'), 'Content-Type' => 'application/json'],
                 body => qq({"reason":"$reason"}));
    return $r->{status};
}

# openssl ocsp against URL for cert (or -serial), -> { out, err, rc }
sub ocsp {
    my (%o) = @_;
    my @a = ('openssl', 'ocsp', '-issuer', $CA, '-url', $o{url} || base_url($o{vhost}) . '/ocsp',
             '-CAfile', $CA, '-resp_text');
    push @a, $o{cert} ? ('-cert', $o{cert}) : ('-serial', $o{serial});
    push @a, '-no_nonce' if $o{no_nonce};
    my $respout = work_file('ocsp-out', 'der');
    push @a, '-respout', $respout;
    my $r = run_cmd(\@a);
    $r->{respout} = $respout;
    return $r;
}

sub status_line {
    my ($r, $what) = @_;
    return ($r->{out} =~ /^\Q$what\E: (\w+)/m)[0] // "none ($r->{err})";
}

########## good, unknown, nonce, signer: the CA
my $good = issue("$TAG-good");
ok($good, 'a certificate issued at /scep');
my $r = ocsp(cert => $good);
is(status_line($r, $good), 'good', 'openssl ocsp: good');
like($r->{err}, qr/Response verify OK/, 'the response verifies with the CA as trust anchor');
like($r->{out}, qr/Responder Id: .*mod_scep Test CA/, 'signed by the CA (no delegated signer here)');
like($r->{out}, qr/OCSP Nonce:/, 'the nonce is echoed');
unlike($r->{err}, qr/WARNING: no nonce/, 'and openssl finds it');
my ($this, $next) = $r->{out} =~ /This Update: (.+)\n\s*Next Update: (.+)/;
ok($this && $next, "thisUpdate and nextUpdate ($this, $next)");

$r = ocsp(serial => '0x0BADC0DE0BADC0DE');
is(status_line($r, '0x0BADC0DE0BADC0DE'), 'unknown', 'a serial this CA never issued: unknown');

########## revoked, with each reason, seen at the next request
for my $reason (@REASONS) {
    my $cert = issue("$TAG-$reason");
    my $serial = serial_of($cert);
    is(revoke($serial, $reason), 200, "revoked $serial ($reason) through the admin API");
    $r = ocsp(cert => $cert, no_nonce => 1);
    # OpenSSL 3.0 prints no name for privilegeWithdrawn (9): its code in
    # the response's revokedInfo, [0] { ENUMERATED 9 }
    my $code = { unspecified => 0, keyCompromise => 1, affiliationChanged => 3, superseded => 4,
                 cessationOfOperation => 5, certificateHold => 6, privilegeWithdrawn => 9 }->{$reason};
    my $named = $reason eq 'privilegeWithdrawn'
        ? index(unpack('H*', read_file($r->{respout})), sprintf('a0030a01%02x', $code)) >= 0
        : $r->{out} =~ /Reason: \Q$reason\E/;
    ok(status_line($r, $cert) eq 'revoked' && $named && $r->{out} =~ /Revocation Time: /,
       "OCSP at once: revoked, reason $reason ($code), with its time")
        or diag($r->{out});
}

########## GET (RFC 5019): the request in the URL, and its caching headers
my $reqfile = work_file('ocsp-req', 'der');
run_cmd(['openssl', 'ocsp', '-issuer', $CA, '-cert', $good, '-no_nonce', '-reqout', $reqfile]);
(my $b64 = encode_base64(read_file($reqfile), '')) =~ s{([+/=])}{sprintf '%%%02X', ord $1}ge;
my $g = http(path => "/ocsp/$b64");
is($g->{status}, 200, 'GET /ocsp/<url-encoded base64 request>: 200');
is($g->{headers}{'content-type'}, 'application/ocsp-response', 'Content-Type: application/ocsp-response');
my $respfile = write_file(work_file('ocsp-resp', 'der'), $g->{body});
$r = run_cmd(['openssl', 'ocsp', '-respin', $respfile, '-issuer', $CA, '-cert', $good,
              '-CAfile', $CA, '-no_nonce', '-resp_text']);
is(status_line($r, $good), 'good', 'its response: good, and it verifies') or diag($r->{err});
my $cc = $g->{headers}{'cache-control'} // '';
my ($age) = $cc =~ /max-age=(\d+)/;
ok($age && $age <= 3600 && $age > 3500 && $cc =~ /public/ && $cc =~ /no-transform/,
   "Cache-Control: $cc (SCEPOCSPValidity's default: 1 hour)");
my $lm = $g->{headers}{'last-modified'} // '';
my $ex = $g->{headers}{expires} // '';
ok($lm && $ex && $g->{headers}{etag}, "Last-Modified ($lm), Expires ($ex) and an ETag");
sleep 2;
my $g2 = http(path => "/ocsp/$b64");
ok($g2->{status} == 200 && $g2->{body} eq $g->{body},
   'two seconds later, the very same response (kept in the shared cache, not signed again)');
is($g2->{headers}{'last-modified'}, $lm, 'with the same Last-Modified');
is(revoke(serial_of($good), 'superseded'), 200, 'then the certificate is revoked');
my $g3 = http(path => "/ocsp/$b64");
$respfile = write_file(work_file('ocsp-resp3', 'der'), $g3->{body});
$r = run_cmd(['openssl', 'ocsp', '-respin', $respfile, '-issuer', $CA, '-cert', $good,
              '-CAfile', $CA, '-no_nonce', '-resp_text']);
is(status_line($r, $good), 'revoked', 'the same GET at once: revoked (the kept answer is not used)');

########## a nonce (POST) makes the response uncacheable
my $p = http(method => 'POST', path => '/ocsp', headers => ['Content-Type' => 'application/ocsp-request'],
             body => read_file($reqfile));
is($p->{status}, 200, 'POST application/ocsp-request: 200');
like($p->{headers}{'cache-control'} // '', qr/no-cache/, 'a POST answer is not for HTTP caches');

########## refused: another CA, malformed, wrong type, too big
{
    my $other = pki('other', 'ca.pem');
    my $oreq = work_file('other-req', 'der');
    run_cmd(['openssl', 'ocsp', '-issuer', $other, '-serial', '0x01', '-no_nonce', '-reqout', $oreq]);
    my $o = http(method => 'POST', path => '/ocsp', headers => ['Content-Type' => 'application/ocsp-request'],
                 body => read_file($oreq));
    is(unpack('H*', $o->{body}), '30030a0106', 'a certificate of another CA: unauthorized (6)');
    my $m = http(method => 'POST', path => '/ocsp', headers => ['Content-Type' => 'application/ocsp-request'],
                 body => "not an OCSP request");
    ok($m->{status} == 200 && unpack('H*', $m->{body}) eq '30030a0101', 'garbage: malformedRequest (1), not a 500');
    my $gm = http(path => '/ocsp/!!!notbase64');
    ok($gm->{status} == 200 && unpack('H*', $gm->{body}) eq '30030a0101', 'a GET that is not base64: malformedRequest');
    is(http(method => 'POST', path => '/ocsp', headers => ['Content-Type' => 'text/plain'], body => 'x')->{status},
       415, 'POST with another Content-Type: 415');
    is(http(method => 'POST', path => '/ocsp', headers => ['Content-Type' => 'application/ocsp-request'],
            body => 'x' x 9000)->{status}, 413, 'a request over 8192 bytes: 413');
}

########## the delegated responder (scep_pg: SCEPOCSPSigner, PostgreSQL records)
SKIP: {
    skip 'SCEP_TEST_PGSQL is not set', 9 unless $PG;
    my $cert = issue("$TAG-pg", 'scep_pg');
    ok($cert, 'a certificate issued at the scep_pg virtual host');
    $r = ocsp(cert => $cert, vhost => 'scep_pg');
    is(status_line($r, $cert), 'good', 'OCSP there: good');
    like($r->{err}, qr/Response verify OK/, 'verified: the delegated responder is issued by the CA');
    like($r->{out}, qr/Responder Id: .*OCSP responder/, 'signed by the delegated responder');
    like($r->{out}, qr/OCSP No Check/, 'which carries id-pkix-ocsp-nocheck (in the response)');
    my ($t1, $n1) = $r->{out} =~ /This Update: (.+)\n\s*Next Update: (.+)/;
    my $span = run_cmd(['sh', '-c', "echo \$(( \$(date -d '$n1' +%s) - \$(date -d '$t1' +%s) ))"])->{out};
    is($span + 0, 7200, 'nextUpdate - thisUpdate = SCEPOCSPValidity 2h');
    my $serial = serial_of($cert);
    is(revoke($serial, 'keyCompromise', 'scep_pg'), 200, 'revoked there');
    $r = ocsp(cert => $cert, vhost => 'scep_pg');
    is(status_line($r, $cert), 'revoked', 'OCSP at once: revoked');
    $r = ocsp(cert => $good, vhost => 'scep_pg');
    is(status_line($r, $good), 'unknown', "the main server's certificate is not in PostgreSQL's records: unknown");
}

error_log_clean();
