# Certificate lifecycle (README "Approval, renewal, revocation and CRLs",
# "GetCert", "SetHandler scep-admin" JSON API): manual approval with
# CertPoll and resends (scepreq, certmonger, micromdm scepclient),
# rejection, GetCert, renewal (RenewalReq and PKCSReq signed by an issued
# certificate) and its refusals, revocation, the CRL and GetCRL.
# Locations: t/conf/lifecycle.conf.in.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use MIME::Base64 qw(decode_base64);
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLifecycle qw(:all);

plan tests => 200;

my $CA = pki('ca.pem');
my $T0 = time;

sub pub_of_key  { run_cmd(['openssl', 'pkey', '-in', shift, '-pubout'])->{out} }
sub pub_of_cert { (cert_info(shift) || {})->{pubkey} // '' }
sub serial_of   { my $f = shift; $f ? norm_serial((cert_info($f) || {})->{serial}) : '' }
# the serial as mod_scep spells it (API, records): uppercase hex, whole bytes
sub api_serial  { my $f = shift; $f ? uc((cert_info($f) || {})->{serial} // '') : '' }
sub subject_of  { my $f = shift; $f ? (cert_info($f) || {})->{subject} // '' : '' }
sub txn_rows    { db_rows('SELECT * FROM scep_transactions WHERE transaction_id = ' . q_str(shift)
                          . ' ORDER BY id') }
sub n_certs     { db_value('SELECT count(*) FROM scep_certificates WHERE subject = ' . q_str(shift)) }
sub no_envelope { my $rep = shift; ($rep->{eContentLength} // '') =~ /^(0|absent)$/ }
sub fail_diag   { my $rep = shift; diag('pkiStatus=' . ($rep->{pkiStatus} // '-') . ' failInfo='
                  . ($rep->{failInfo} // '-') . ' ' . ($rep->{failInfoText} // '') . ' ' . ($rep->{err} // '')) }

# a certificate from /life-auto for a fresh key: (req, cert file)
sub auto_cert {
    my ($cn, $path) = @_;
    my ($req, $resp, $rep) = life_enroll($path || '/life-auto', subject => "/CN=$cn");
    my $cert = issued_cert($rep);
    fail_diag($rep) unless $cert;
    return ($req, $cert);
}

########## manual approval: PKCSReq -> PENDING -> CertPoll -> approve -> SUCCESS
my ($m1, $m1_cert, $m1_serial);
{
    my ($resp, $rep);
    ($m1, $resp, $rep) = life_enroll('/life-manual', subject => '/CN=life-manual-1');
    is($resp->{status}, 200, 'manual: PKCSReq answered 200');
    is($rep->{verified}, 1, 'manual: the CertRep verifies');
    is($rep->{pkiStatus}, '3', 'manual: pkiStatus 3 (PENDING)') or fail_diag($rep);
    ok(no_envelope($rep), 'manual: PENDING has an empty eContent (no envelope)')
        or diag('eContentLength=' . ($rep->{eContentLength} // '-'));
    ok(!defined $rep->{failInfo}, 'manual: PENDING carries no failInfo');
    is($rep->{transactionID}, $m1->{tid}, 'manual: transactionID echoed');
    is(uc($rep->{recipientNonce} // ''), uc $m1->{nonce}, 'manual: recipientNonce echoed');

    my $rows = txn_rows($m1->{tid});
    is(scalar @$rows, 1, 'manual: one transactions row');
    is($rows->[0]{status}, 'PENDING', 'manual: recorded PENDING');
    ok(!defined $rows->[0]{serial} && !defined $rows->[0]{decided_by},
       'manual: no serial and no decision yet');
    is(n_certs('CN=life-manual-1'), 0, 'manual: no certificate yet');

    my $e = enrollment_by_tid($m1->{tid});
    ok($e && $e->{id}, 'API: GET api/enrollments?status=PENDING lists it');
    $m1->{id} = $e ? $e->{id} : 0;
    is($e && $e->{subject}, 'CN=life-manual-1', 'API: with its subject');
    is($e && $e->{profile}, '/life-manual', 'API: and its profile');
    my $one = admin(GET => "api/enrollments/$m1->{id}");
    is($one->{status}, 200, 'API: GET api/enrollments/ID: 200');
    is($one->{json} && $one->{json}{status}, 'PENDING', 'API: GET api/enrollments/ID says PENDING');

    # the client polls: CertPoll with the same transactionID, and the resend
    my (undef, undef, $p) = life_poll($m1, '/life-manual');
    is($p->{pkiStatus}, '3', 'CertPoll before approval: PENDING') or fail_diag($p);
    is($p->{transactionID}, $m1->{tid}, 'CertPoll: transactionID echoed');
    my (undef, $again) = reply_for($m1, '/life-manual');
    is($again->{pkiStatus}, '3', 'identical PKCSReq resent before approval: PENDING');
    is(scalar @{ txn_rows($m1->{tid}) }, 1, 'polls and resends add no row');

    # the JSON API's guards
    my $r = admin(POST => "api/enrollments/$m1->{id}/approve", content_type => undef);
    is($r->{status}, 415, 'approve without Content-Type: 415');
    $r = admin(POST => "api/enrollments/$m1->{id}/approve",
               content_type => 'application/x-www-form-urlencoded', body => 'a=b');
    is($r->{status}, 415, 'approve as a form post: 415');
    ok($r->{json} && defined $r->{json}{error}, '415 body is {"error": ...}');
    $r = admin(POST => "api/enrollments/$m1->{id}/approve", auth => 0);
    is($r->{status}, 401, 'approve without credentials: 401');
    is($r = admin(POST => 'api/enrollments/987654321/approve')->{status}, 404,
       'approve an unknown id: 404');
    is(admin(GET => 'api/enrollments/987654321')->{status}, 404, 'GET an unknown id: 404');
    is(txn_rows($m1->{tid})->[0]{status}, 'PENDING', 'still PENDING after the refused calls');

    # approve
    $r = admin(POST => "api/enrollments/$m1->{id}/approve", user => 'alice');
    is($r->{status}, 200, 'approve: 200') or diag($r->{body});
    is($r->{json} && $r->{json}{status}, 'ISSUED', 'approve: status ISSUED');
    $m1_serial = norm_serial($r->{json} && $r->{json}{serial});
    ok($m1_serial, 'approve: answers the serial');
    my $twice = admin(POST => "api/enrollments/$m1->{id}/approve", user => 'bob');
    is($twice->{status}, 409, 'approve twice: 409');
    is(admin(POST => "api/enrollments/$m1->{id}/reject", json => { reason => 'late' })->{status},
       409, 'reject after approval: 409');

    $rows = txn_rows($m1->{tid});
    is(scalar @$rows, 1, 'approved: still one transactions row');
    is($rows->[0]{status}, 'ISSUED', 'approved: row ISSUED');
    is(norm_serial($rows->[0]{serial}), $m1_serial, 'approved: with the serial');
    is($rows->[0]{decided_by}, 'alice', 'approved: decided_by the authenticated user');
    ok(($rows->[0]{decided_at} // 0) >= $T0 - 5 && $rows->[0]{decided_at} <= time + 5,
       'approved: decided_at is now');
    is(n_certs('CN=life-manual-1'), 1, 'approved: one certificate row');

    # CertPoll now gets the certificate
    (undef, undef, $p) = life_poll($m1, '/life-manual');
    is($p->{pkiStatus}, '0', 'CertPoll after approval: SUCCESS') or fail_diag($p);
    $m1_cert = issued_cert($p);
    is(serial_of($m1_cert), $m1_serial, 'CertPoll: the approved certificate');
    is(subject_of($m1_cert), 'CN=life-manual-1', 'CertPoll: its subject');
    ok($m1_cert && openssl_verify($CA, $m1_cert), 'CertPoll: it verifies against the CA');
    ok($m1_cert && pub_of_cert($m1_cert) eq pub_of_key($m1->{key}), "CertPoll: it certifies the request's key");

    # the original PKCSReq resent: the same certificate, never a second
    (undef, $again) = reply_for($m1, '/life-manual');
    is($again->{pkiStatus}, '0', 'PKCSReq resent after approval: SUCCESS') or fail_diag($again);
    ok($again->{cert_file} && $m1_cert
       && pem_file_der($again->{cert_file}) eq pem_file_der($m1_cert),
       'PKCSReq resent after approval: the very same certificate');
    is(n_certs('CN=life-manual-1'), 1, 'still one certificate row');
    is(scalar @{ txn_rows($m1->{tid}) }, 1, 'still one transactions row');
}

########## manual approval: rejection with a reason
{
    my ($req, $resp, $rep) = life_enroll('/life-manual', subject => '/CN=life-manual-2');
    is($rep->{pkiStatus}, '3', 'second manual request: PENDING') or fail_diag($rep);
    my $e = enrollment_by_tid($req->{tid});
    my $id = $e ? $e->{id} : 0;
    my $reason = 'unknown device 42 (not in the inventory)';
    my $r = admin(POST => "api/enrollments/$id/reject", json => { reason => $reason }, user => 'bob');
    is($r->{status}, 200, 'reject: 200') or diag($r->{body});
    is($r->{json} && $r->{json}{status}, 'REJECTED', 'reject: status REJECTED');
    is(admin(POST => "api/enrollments/$id/reject", json => { reason => 'again' })->{status}, 409,
       'reject twice: 409');
    is(admin(POST => "api/enrollments/$id/approve")->{status}, 409, 'approve after rejection: 409');

    my (undef, undef, $p) = life_poll($req, '/life-manual');
    is($p->{pkiStatus}, '2', 'CertPoll after rejection: FAILURE') or fail_diag($p);
    is($p->{failInfo}, '2', 'CertPoll after rejection: failInfo 2 (badRequest)');
    is($p->{failInfoText}, $reason, "CertPoll after rejection: failInfoText is the administrator's reason");
    my (undef, $again) = reply_for($req, '/life-manual');
    is($again->{pkiStatus}, '2', 'PKCSReq resent after rejection: FAILURE');
    is($again->{failInfoText}, $reason, 'PKCSReq resent after rejection: the same reason');

    my $rows = txn_rows($req->{tid});
    is(scalar @$rows, 1, 'rejected: one transactions row');
    is($rows->[0]{status}, 'REJECTED', 'rejected: row REJECTED');
    is($rows->[0]{fail_text}, $reason, 'rejected: fail_text is the reason');
    is($rows->[0]{decided_by}, 'bob', 'rejected: decided_by bob');
    ok(($rows->[0]{decided_at} // 0) >= $T0 - 5, 'rejected: decided_at recorded');
    is(n_certs('CN=life-manual-2'), 0, 'rejected: no certificate');
    my $g = admin(GET => "api/enrollments/$id");
    is($g->{json} && $g->{json}{decided_by}, 'bob', 'API shows decided_by');

    # CertPoll for what this CA never saw, or from another key
    my (undef, undef, $u) = life_poll($req, '/life-manual', tid => 'life-no-such-transaction-0001');
    is($u->{pkiStatus}, '2', 'CertPoll for an unknown transactionID: FAILURE');
    is($u->{failInfo}, '4', 'CertPoll for an unknown transactionID: failInfo 4 (badCertId)');
    my (undef, undef, $o) = life_poll($m1, '/life-manual', key => new_key());
    is($o->{pkiStatus} . '/' . ($o->{failInfo} // '-'), '2/4',
       "CertPoll for another key's transaction: FAILURE badCertId");
}

########## certmonger polls: CA_WORKING while pending, MONITORING once approved
{
    my $d = work_file('certmonger-life');
    my $url = base_url() . '/life-manual';
    my $chal = challenge();
    my $cm = certmonger_session($d, [
        "getcert add-scep-ca -s -c life -u '$url' -N '$CA'",
        "getcert request -s -c life -I cmlife -f $d/out/cert.pem -k $d/out/key.pem"
            . " -L '$chal' -N CN=cm-life-1",
        'i=0; while [ $i -lt 60 ]; do i=$((i+1)); sleep 0.5;'
            . ' s=$(getcert list -s -i cmlife | sed -n "s/^[[:space:]]*status: //p");'
            . ' case "$s" in CA_WORKING|CA_REJECTED|MONITORING|CA_UNREACHABLE|NEED_GUIDANCE|CA_UNCONFIGURED) break;; esac; done',
        'getcert list -s -i cmlife']);
    my ($status) = $cm->{out} =~ /^\s*status:\s*(\S+)/m;
    is($status, 'CA_WORKING', 'certmonger at /life-manual: CA_WORKING (waiting for the CA)')
        or diag("$cm->{out}\n$cm->{err}");
    my $e = db_rows("SELECT id, status, transaction_id FROM scep_transactions WHERE subject = 'CN=cm-life-1'");
    is(scalar @$e, 1, 'certmonger: one row');
    is($e->[0]{status}, 'PENDING', 'certmonger: PENDING');
    ok(!-s "$d/out/cert.pem", 'certmonger: no certificate yet');

    # certmonger's own poll message (GetCertInitial, kept in its request
    # file) through its SCEP helper: exit status 1 = wait. certmonger keeps
    # it as scep_gic_next when it made the request with its "next" key
    # (seen once in CI: key_next_* and scep_req_next, no scep_gic)
    my $gic = certmonger_field($d, 'scep_gic') // certmonger_field($d, 'scep_gic_next');
    my $gic_file = write_file(work_file('gic', 'pem'), ($gic // '') . "\n");
    my @submit = ($url, '-r', pki('ra.pem'), '-R', $CA, '-I', pki('all.pem'), '-g', $gic_file);
    my $s = certmonger_submit(@submit);
    ok(defined $gic && $gic =~ /BEGIN PKCS7/, "certmonger's GetCertInitial message is there");
    is($s->{rc}, 1, 'scep-submit -g while pending: exit status 1 (wait)') or diag("$s->{out}\n$s->{err}");

    my $id = $e->[0]{id} // 0;
    my $r = admin(POST => "api/enrollments/$id/approve");
    is($r->{status}, 200, 'certmonger: approved through the API');
    $s = certmonger_submit(@submit);
    is($s->{rc}, 0, 'scep-submit -g after approval: exit status 0 (issued)') or diag("$s->{out}\n$s->{err}");
    like($s->{out}, qr/BEGIN PKCS7/, 'scep-submit -g prints the enveloped certificate');

    # a new certmonger session picks the waiting request up and polls
    $cm = certmonger_session($d, [
        'i=0; while [ $i -lt 60 ]; do i=$((i+1)); sleep 0.5;'
            . ' s=$(getcert list -s -i cmlife | sed -n "s/^[[:space:]]*status: //p");'
            . ' case "$s" in CA_REJECTED|MONITORING|NEED_GUIDANCE|CA_UNCONFIGURED) break;; esac; done',
        'getcert list -s -i cmlife']);
    ($status) = $cm->{out} =~ /^\s*status:\s*(\S+)/m;
    is($status, 'MONITORING', 'certmonger after approval: MONITORING') or diag("$cm->{out}\n$cm->{err}");
    my $cert = "$d/out/cert.pem";
    ok(-s $cert && openssl_verify($CA, $cert), 'certmonger saved a certificate that verifies');
    is(subject_of(-s $cert ? $cert : undef), 'CN=cm-life-1', 'certmonger: subject CN=cm-life-1');
    is(serial_of(-s $cert ? $cert : undef), norm_serial($r->{json} && $r->{json}{serial}),
       'certmonger: the approved serial');
    is(n_certs('CN=cm-life-1'), 1, 'certmonger: one certificate row');
    is(scalar @{ db_rows("SELECT id FROM scep_transactions WHERE subject = 'CN=cm-life-1'") }, 1,
       'certmonger: still one transactions row');
}

########## micromdm scepclient resends its PKCSReq while pending
{
    my $url = base_url() . '/life-manual';
    # it sleeps 30 s after PENDING before resending: stopped once it said PENDING
    my $mm = micromdm_pending(url => $url, cn => 'mm-life-1');
    ok($mm->{waiting}, 'scepclient waits while pending (still running once it said PENDING)');
    like($mm->{out} . $mm->{err}, qr/PENDING/, 'scepclient reports PENDING');
    ok(!-s $mm->{cert}, 'scepclient: no certificate yet');
    my $fp = key_fp($mm->{key});
    my $rows = db_rows('SELECT id, status FROM scep_transactions WHERE key_fp = ' . q_str($fp));
    is(scalar @$rows, 1, 'scepclient: one row for its key');
    is($rows->[0]{status}, 'PENDING', 'scepclient: PENDING');
    my $r = admin(POST => 'api/enrollments/' . ($rows->[0]{id} // 0) . '/approve', user => 'bob');
    is($r->{status}, 200, 'scepclient: approved');

    my $again = micromdm_enroll(url => $url, cn => 'mm-life-1', dir => $mm->{dir}, key => $mm->{key},
                                timeout => 20);
    is($again->{rc}, 0, 'scepclient run again with the same key: exit 0')
        or diag("$again->{out}\n$again->{err}");
    ok(-s $again->{cert} && openssl_verify($CA, $again->{cert}), 'scepclient: got a certificate');
    is(serial_of(-s $again->{cert} ? $again->{cert} : undef), norm_serial($r->{json} && $r->{json}{serial}),
       'scepclient: the approved one');
    $rows = db_rows('SELECT status, decided_by FROM scep_transactions WHERE key_fp = ' . q_str($fp));
    is(scalar @$rows, 1, 'scepclient: still one row');
    is($rows->[0]{decided_by}, 'bob', 'scepclient: decided_by bob');
}

########## GetCert (messageType 21)
{
    my (undef, undef, $rep) = life_getcert($m1_cert, '/life-manual');
    is($rep->{pkiStatus}, '0', 'GetCert for an issued serial: SUCCESS') or fail_diag($rep);
    ok($rep->{cert_file} && pem_file_der($rep->{cert_file}) eq pem_file_der($m1_cert),
       'GetCert returns that certificate');
    # the same request at another Location of the same CA
    (undef, undef, $rep) = life_getcert($m1_cert, '/life-auto');
    is($rep->{pkiStatus}, '0', 'GetCert at another Location of the CA: SUCCESS');

    # a certificate from our CA key that was never issued through SCEP
    my $stray = openssl_ca_cert(key => new_key(), subject => '/CN=life-stray');
    (undef, undef, $rep) = life_getcert($stray, '/life-manual');
    is($rep->{pkiStatus}, '2', 'GetCert for a serial not on record: FAILURE') or fail_diag($rep);
    is($rep->{failInfo}, '4', 'GetCert miss: failInfo 4 (badCertId)');
    ok(length($rep->{failInfoText} // ''), 'GetCert miss: with a failInfoText');
    my $foreign = openssl_ca_cert(key => new_key(), subject => '/CN=life-foreign-get', ca => 'other');
    (undef, undef, $rep) = life_getcert($foreign, '/life-manual');
    is($rep->{pkiStatus} . '/' . ($rep->{failInfo} // '-'), '2/4', 'GetCert naming another issuer: FAILURE badCertId');
}

########## GetCACaps: Renewal only where SCEPRenewal is on
{
    my %base = map { $_ => 1 } qw(AES DES3 POSTPKIOperation SHA-1 SHA-256 SHA-384 SHA-512 SCEPStandard);
    for my $p ('/life-auto', '/life-manual', '/life-window') {
        my %kw = map { $_ => 1 } split /\n/, get_caps(path => $p)->{body};
        ok($kw{Renewal} && !grep({ !$kw{$_} } keys %base), "GetCACaps at $p lists Renewal and the rest");
    }
    for my $p ('/life-norenew', '/life-short') {
        my $r = get_caps(path => $p);
        my %kw = map { $_ => 1 } split /\n/, $r->{body};
        ok(!$kw{Renewal} && $kw{AES}, "GetCACaps at $p: no Renewal");
    }
}

########## renewal
my ($a_req, $a_cert) = auto_cert('life-renew-1');
{
    ok($a_cert, 'a certificate from /life-auto to renew');
    my $old_serial = serial_of($a_cert);
    my $old_api_serial = api_serial($a_cert);

    # RenewalReq: new key, no challenge, another subject asked for
    my ($req, $resp, $rep) = life_renew(old_cert => $a_cert, old_key => $a_req->{key},
                                        path => '/life-auto', type => 17, subject => '/CN=life-other-name');
    is($rep->{pkiStatus}, '0', 'RenewalReq signed by the issued certificate, no challenge: SUCCESS')
        or fail_diag($rep);
    my $new = issued_cert($rep);
    ok($new, 'the reply decrypts with the OLD key (encrypted to the old certificate)');
    is(subject_of($new), 'CN=life-renew-1', 'renewed certificate keeps the old subject (SCEPRenewalSubject keep)');
    ok($new && pub_of_cert($new) eq pub_of_key($req->{key}), 'renewed certificate carries the NEW key');
    ok($new && serial_of($new) ne $old_serial, 'renewed certificate has a new serial');
    ok($new && openssl_verify($CA, $new), 'renewed certificate verifies');
    my $rows = txn_rows($req->{tid});
    is($rows->[0]{status}, 'ISSUED', 'renewal recorded ISSUED');
    is(norm_serial($rows->[0]{renewal_of}), $old_serial, 'renewal_of = the old serial');
    is($rows->[0]{message_type}, 17, 'message_type 17');
    my $old_row = db_rows('SELECT revoked_at FROM scep_certificates WHERE serial = ' . q_str($old_api_serial));
    ok(@$old_row == 1 && !defined $old_row->[0]{revoked_at}, 'the old certificate is not revoked by the renewal');

    my $old_rec = db_rows('SELECT profile, lineage, renewed_by FROM scep_certificates WHERE serial = '
                          . q_str($old_api_serial))->[0];
    is($old_rec->{renewed_by}, api_serial($new), 'the old record names its successor');
    is($old_rec->{profile}, '/life-auto', 'and the profile that issued it');

    # a certificate renews once: a second renewal is refused (the resend of
    # the first one is idempotent, see above)
    my (undef, undef, $again) = life_renew(old_cert => $a_cert, old_key => $a_req->{key},
                                           path => '/life-auto', type => 17);
    is(($again->{pkiStatus} // '') . '/' . ($again->{failInfo} // ''), '2/2',
       'a second renewal of the same certificate: FAILURE badRequest') or fail_diag($again);
    like($again->{failInfoText} // '', qr/renewed already/, 'failInfoText: renewed already');

    # sscep -O / certmonger: a PKCSReq signed by the issued certificate
    my ($b_req, $b_cert) = auto_cert('life-renew-2');
    my $b_serial = serial_of($b_cert);
    my ($req2, undef, $rep2) = life_renew(old_cert => $b_cert, old_key => $b_req->{key},
                                          path => '/life-auto', type => 19, subject => '/CN=life-renew-2');
    is($rep2->{pkiStatus}, '0', 'PKCSReq signed by an issued certificate, no challenge: SUCCESS (renewal)')
        or fail_diag($rep2);
    my $rows2 = txn_rows($req2->{tid});
    is(norm_serial($rows2->[0]{renewal_of}), $b_serial, 'PKCSReq renewal: renewal_of recorded');
    ok(issued_cert($rep2) && pub_of_cert(issued_cert($rep2)) eq pub_of_key($req2->{key}),
       'PKCSReq renewal: new key certified');

    # a renewal that keeps the first enrollment's transactionID is a new transaction
    my ($c_req, $c_cert) = auto_cert('life-renew-3');
    my (undef, undef, $rep3) = life_renew(old_cert => $c_cert, old_key => $c_req->{key},
                                          path => '/life-auto', type => 17, tid => $c_req->{tid});
    is($rep3->{pkiStatus}, '0', "RenewalReq with the original enrollment's transactionID: SUCCESS")
        or fail_diag($rep3);
    is(scalar @{ txn_rows($c_req->{tid}) }, 2, 'that transactionID now has two rows (enrollment, renewal)');

    # the renewed certificate can itself be renewed
    my (undef, undef, $rep4) = life_renew(old_cert => $new, old_key => $req->{key},
                                          path => '/life-auto', type => 17);
    is($rep4->{pkiStatus}, '0', 'renewing the renewed certificate: SUCCESS') or fail_diag($rep4);
    is(subject_of(issued_cert($rep4)), 'CN=life-renew-1', 'still the original subject');
}

########## renewal where approval is manual: held, then approved
{
    my ($req, undef, $rep) = life_renew(old_cert => $m1_cert, old_key => $m1->{key},
                                        path => '/life-manual', type => 17, subject => '/CN=life-asks-other');
    is($rep->{pkiStatus}, '3', 'RenewalReq at /life-manual: PENDING') or fail_diag($rep);
    my $e = enrollment_by_tid($req->{tid});
    is(norm_serial($e && $e->{renewal_of}), $m1_serial, 'and what it renews');
    my @as_old = (signer_cert => $m1_cert, signer_key => $m1->{key});
    my (undef, undef, $p) = life_poll($req, '/life-manual', @as_old);
    is($p->{pkiStatus}, '3', 'CertPoll signed by the old certificate: PENDING') or fail_diag($p);
    my $r = admin(POST => 'api/enrollments/' . ($e ? $e->{id} : 0) . '/approve');
    is($r->{status}, 200, 'the renewal is approved');
    (undef, undef, $p) = life_poll($req, '/life-manual', @as_old);
    is($p->{pkiStatus}, '0', 'CertPoll signed by the old certificate: SUCCESS') or fail_diag($p);
    my $c = issued_cert($p);
    is(subject_of($c), 'CN=life-manual-1', 'the renewed certificate keeps the subject');
    ok($c && pub_of_cert($c) eq pub_of_key($req->{key}), 'and certifies the new key');
    my (undef, $again) = reply_for($req, '/life-manual', decrypt_as => { %$req, key => $m1->{key}, signer => $m1_cert });
    ok($again->{cert_file} && $c && pem_file_der($again->{cert_file}) eq pem_file_der($c),
       'the RenewalReq resent gets the same certificate');
}

########## renewal refused
sub refused_ok {
    my ($rep, $label, $re) = @_;
    is(($rep->{pkiStatus} // '-') . '/' . ($rep->{failInfo} // '-'), '2/2', "$label: FAILURE badRequest")
        or fail_diag($rep);
    like($rep->{failInfoText} // '', $re, "$label: failInfoText says why");
}
{
    # expired, issued by our CA key (expiry is read from the certificate)
    my $k = new_key();
    my $expired = openssl_ca_cert(key => $k, subject => '/CN=life-expired',
                                  start => '20200101000000Z', end => '20200201000000Z');
    my (undef, undef, $rep) = life_renew(old_cert => $expired, old_key => $k, path => '/life-auto');
    refused_ok($rep, 'RenewalReq signed by an expired certificate of this CA', qr/expired/i);

    # valid, from our CA key, but not in the records
    $k = new_key();
    my $stray = openssl_ca_cert(key => $k, subject => '/CN=life-stray-renew');
    (undef, undef, $rep) = life_renew(old_cert => $stray, old_key => $k, path => '/life-auto');
    refused_ok($rep, 'RenewalReq signed by a certificate not in the records', qr/records/i);

    # from a foreign CA
    $k = new_key();
    my $foreign = openssl_ca_cert(key => $k, subject => '/CN=life-foreign', ca => 'other');
    (undef, undef, $rep) = life_renew(old_cert => $foreign, old_key => $k, path => '/life-auto');
    refused_ok($rep, 'RenewalReq signed by a certificate of another CA', qr/not issued by this CA|neither/i);

    # revoked (revocation through the API)
    my ($rq, $c) = auto_cert('life-revoked-renew');
    my $r = admin(POST => 'api/certificates/' . api_serial($c) . '/revoke', json => { reason => 'superseded' });
    is($r->{status}, 200, 'revoked a certificate to renew');
    (undef, undef, $rep) = life_renew(old_cert => $c, old_key => $rq->{key}, path => '/life-auto');
    refused_ok($rep, 'RenewalReq signed by a revoked certificate', qr/revoked/i);

    # renewal off
    my ($rq2, $c2) = auto_cert('life-norenew-1', '/life-norenew');
    ok($c2, 'a certificate from /life-norenew');
    (undef, undef, $rep) = life_renew(old_cert => $c2, old_key => $rq2->{key}, path => '/life-norenew',
                                      type => 17);
    refused_ok($rep, 'RenewalReq where SCEPRenewal is off', qr/renewal is not enabled|SCEPRenewal/i);
    # where it is off, a PKCSReq signed by an old certificate is an
    # ordinary enrollment: without the challenge it is refused, with it issued
    (undef, undef, $rep) = life_renew(old_cert => $c2, old_key => $rq2->{key}, path => '/life-norenew',
                                      type => 19, subject => '/CN=life-norenew-2');
    refused_ok($rep, 'PKCSReq signed by an old certificate without challenge where renewal is off',
               qr/challenge/i);
    (undef, undef, $rep) = life_renew(old_cert => $c2, old_key => $rq2->{key}, path => '/life-norenew',
                                      type => 19, subject => '/CN=life-norenew-3', challenge => challenge());
    is($rep->{pkiStatus}, '0', 'the same with the challenge: an ordinary enrollment, SUCCESS')
        or fail_diag($rep);
    is(subject_of(issued_cert($rep)), 'CN=life-norenew-3', 'ordinary enrollment: the requested subject');

    # outside the renewal window: a fresh 365-day certificate at /life-window
    my ($rq3, $c3) = auto_cert('life-window-1', '/life-window');
    (undef, undef, $rep) = life_renew(old_cert => $c3, old_key => $rq3->{key}, path => '/life-window');
    refused_ok($rep, 'RenewalReq outside SCEPRenewalWindow 30d', qr/SCEPRenewalWindow|last 30 days/i);
    # inside it: a 20-day certificate
    my ($rq4, $c4) = auto_cert('life-window-2', '/life-short');
    ok($c4, 'a 20-day certificate from /life-short');
    (undef, undef, $rep) = life_renew(old_cert => $c4, old_key => $rq4->{key}, path => '/life-window');
    is($rep->{pkiStatus}, '0', 'RenewalReq inside the window: SUCCESS') or fail_diag($rep);

    # a certificate from another profile does not renew here: /life-norenew's
    # certificate at /life-auto (which names no SCEPRenewalFrom)
    (undef, undef, $rep) = life_renew(old_cert => $c2, old_key => $rq2->{key}, path => '/life-auto',
                                      type => 17);
    refused_ok($rep, 'RenewalReq at /life-auto of a certificate issued by /life-norenew',
               qr/issued by profile \/life-norenew.*SCEPRenewalFrom/);

    # a self-signed RenewalReq is not a renewal
    my $req = build_request(subject => '/CN=life-selfsigned-renewal', type => 17, challenge => challenge());
    my (undef, $rp) = reply_for($req, '/life-auto');
    refused_ok($rp, 'RenewalReq with a self-signed signer', qr/self-signed/i);
}

########## revocation, the CRL, GetCRL
{
    my ($rq1, $c1) = auto_cert('life-revoke-1');
    my ($rq2, $c2) = auto_cert('life-keep-1');
    my $s1 = api_serial($c1);
    my $n1 = norm_serial($s1);

    my ($r0, $der0) = crl_der('/life-crl');
    is($r0->{status}, 200, 'GET /life-crl: 200');
    is($r0->{headers}{'content-type'}, 'application/pkix-crl', 'CRL Content-Type application/pkix-crl');
    my $crl0 = crl_text($der0 // '');
    ok($crl0->{verify_ok}, 'openssl crl -CAfile ca.pem: verify OK') or diag($crl0->{text});
    ok(defined $crl0->{number}, 'the CRL has a cRLNumber');
    is($crl0->{version}, 2, 'it is a v2 CRL');
    is(($crl0->{next_update} // 0) - ($crl0->{last_update} // 0), 7 * 86400,
       'nextUpdate - thisUpdate = 7 days (SCEPCRLValidity default)');
    my $ski = run_cmd(['openssl', 'x509', '-in', $CA, '-noout', '-ext', 'subjectKeyIdentifier'])->{out};
    ($ski) = $ski =~ /([0-9A-F]{2}(?::[0-9A-F]{2})+)/;
    is($crl0->{aki}, $ski, "the CRL's authorityKeyIdentifier is the CA's key identifier");
    ok(!exists $crl0->{revoked}{$n1}, 'the certificate is not listed yet');

    my $r = admin(POST => "api/certificates/$s1/revoke", json => { reason => 'keyCompromise' });
    is($r->{status}, 200, 'revoke through the API: 200') or diag($r->{body});
    ok($r->{json} && $r->{json}{revoked}, 'revoke: {"revoked": true}');
    ok($r->{json} && ($r->{json}{crl_number} // 0) > ($crl0->{number} // 0),
       'revoke answers a new CRL number');
    my $twice = admin(POST => "api/certificates/$s1/revoke", json => { reason => 'keyCompromise' });
    is($twice->{status}, 409, 'revoke twice: 409');
    is(admin(POST => 'api/certificates/0123456789ABCDEF/revoke', json => {})->{status}, 404,
       'revoke an unknown serial: 404');
    is(admin(POST => 'api/certificates/' . api_serial($c2) . '/revoke', json => { reason => 'bogus' })->{status},
       400, 'revoke with an unknown reason: 400');
    is(admin(POST => "api/certificates/$s1/revoke", content_type => 'text/plain',
             body => '{"reason":"keyCompromise"}')->{status}, 415, 'revoke as text/plain: 415');
    my $g = admin(GET => "api/certificates/$s1");
    is($g->{status}, 200, 'GET api/certificates/SERIAL: 200');
    ok($g->{json} && $g->{json}{revoked_at}, 'it has revoked_at');
    is($g->{json} && $g->{json}{revocation_reason}, 'keyCompromise', 'and reason keyCompromise');
    ok($g->{json} && $c1 && decode_base64($g->{json}{der} // '') eq pem_file_der($c1), 'and the DER');
    my $db = db_rows('SELECT revoked_at, revocation_reason FROM scep_certificates WHERE serial = ' . q_str($s1));
    is($db->[0]{revocation_reason}, 1, 'scep_certificates: revocation_reason 1 (keyCompromise)');
    ok(($db->[0]{revoked_at} // 0) >= $T0 - 5 && $db->[0]{revoked_at} <= time + 5, 'scep_certificates: revoked_at now');

    my ($r1, $der1) = crl_der('/life-crl');
    my $crl1 = crl_text($der1 // '');
    ok($crl1->{verify_ok}, 'new CRL: verify OK');
    ok(($crl1->{number} // 0) > ($crl0->{number} // 0),
       'CRL number increased (' . ($crl0->{number} // '-') . ' -> ' . ($crl1->{number} // '-') . ')');
    is($crl1->{revoked}{$n1}, 'Key Compromise', 'the CRL lists the serial with reason Key Compromise')
        or diag($crl1->{text});
    is($crl1->{revoked_at}{$n1}, $db->[0]{revoked_at}, 'with the recorded revocation time');
    ok(!exists $crl1->{revoked}{ serial_of($c2) }, 'the unrevoked certificate is not listed');
    my $listed_before = scalar keys %{ $crl1->{revoked} };

    # openssl verify with the CRL
    my $crl_pem = run_cmd(['openssl', 'crl', '-inform', 'DER', '-in', $crl1->{file}])->{out};
    my $bundle = write_file(work_file('ca-crl', 'pem'), read_file($CA) . $crl_pem);
    my $v = run_cmd(['openssl', 'verify', '-crl_check', '-CAfile', $bundle, $c1]);
    isnt($v->{rc}, 0, 'openssl verify -crl_check rejects the revoked certificate');
    like($v->{out} . $v->{err}, qr/error 23\b/, 'with error 23 (certificate revoked)');
    $v = run_cmd(['openssl', 'verify', '-crl_check', '-CAfile', $bundle, $c2]);
    is($v->{rc}, 0, 'openssl verify -crl_check accepts an unrevoked certificate') or diag($v->{out} . $v->{err});

    # GetCRL: the same CRL inside a CertRep
    my (undef, $gresp, $grep) = life_getcrl('/life-manual');
    is($grep->{pkiStatus}, '0', 'GetCRL: SUCCESS') or fail_diag($grep);
    is($grep->{crlCount}, 1, 'GetCRL: the envelope holds one CRL');
    my $got = $grep->{crl_file} ? run_cmd(['openssl', 'crl', '-in', $grep->{crl_file}, '-outform', 'DER'])->{out} : '';
    ok(length $got && $got eq $der1, 'GetCRL returns the CRL served at /life-crl');

    # another revocation: a higher number, both listed
    $r = admin(POST => 'api/certificates/' . lc(api_serial($c2)) . '/revoke', json => { reason => 'cessationOfOperation' });
    is($r->{status}, 200, 'second revocation (serial in lower case): 200');
    my (undef, $der2) = crl_der('/life-crl');
    my $crl2 = crl_text($der2 // '');
    ok(($crl2->{number} // 0) > ($crl1->{number} // 0),
       'CRL number increased again (' . ($crl1->{number} // '-') . ' -> ' . ($crl2->{number} // '-') . ')');
    is($crl2->{revoked}{ serial_of($c2) }, 'Cessation Of Operation', 'the second serial is listed with its reason');
    is($crl2->{revoked}{$n1}, 'Key Compromise', 'the first is still listed');
    is(scalar keys %{ $crl2->{revoked} }, $listed_before + 1, 'one more entry than before');
    my (undef, $der3) = crl_der('/life-crl');
    ok($der3 eq $der2, 'without a new revocation the same CRL is served again');

    # GetCRL at another Location of the same CA follows
    my (undef, undef, $grep2) = life_getcrl('/life-norenew');
    my $got2 = $grep2->{crl_file} ? run_cmd(['openssl', 'crl', '-in', $grep2->{crl_file}, '-outform', 'DER'])->{out} : '';
    ok(length $got2 && $got2 eq $der2, 'GetCRL at another Location: the current CRL');

    # the CRL Location only serves GET
    my $post = http(method => 'POST', path => '/life-crl', body => 'x');
    is($post->{status}, 405, 'POST /life-crl: 405');
}

error_log_clean();
