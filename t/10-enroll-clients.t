# Enrollment with the real clients (scep-wire.md §4.1, §4.2): certmonger
# (GET, AES-256 + SHA-256) and micromdm scepclient (POST, DES + SHA-1), each
# in its own scratch directory; results checked with openssl and in the DB.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use MIME::Base64 qw(decode_base64);
use lib 't/lib';
use SCEPTest qw(:all);

plan tests => 41;

my $CA = pki('ca.pem');
my $CA_SUBJECT = 'CN=mod_scep Test CA,O=mod_scep';

sub q_str { my $s = shift; $s =~ s/'/''/g; "'$s'" }

########## certmonger: success at /scep
{
    my $cm = certmonger_enroll(url => base_url() . '/scep', cn => 'cm-host1');
    is($cm->{status}, 'MONITORING', 'certmonger at /scep: status MONITORING')
        or diag("$cm->{out}\n$cm->{err}");
    ok(-s $cm->{cert}, 'certmonger wrote the certificate');
    ok(openssl_verify($CA, $cm->{cert}), 'openssl verify -CAfile ca.pem accepts it');
    my $ci = cert_info($cm->{cert}) || {};
    is($ci->{subject}, 'CN=cm-host1', 'subject is the requested CN=cm-host1');
    is($ci->{issuer}, $CA_SUBJECT, 'issued by the test CA');
    my $key_pub = run_cmd(['openssl', 'pkey', '-in', $cm->{key}, '-pubout'])->{out};
    ok($key_pub && $key_pub eq ($ci->{pubkey} // ''), "the certificate carries certmonger's key");

    my $rows = db_rows("SELECT status, serial, message_type, profile FROM scep_transactions "
                       . "WHERE subject = 'CN=cm-host1'");
    is(scalar @$rows, 1, 'one transaction row for cm-host1');
    is($rows->[0]{status} // '', 'ISSUED', 'the row is ISSUED');
    is(norm_serial($rows->[0]{serial}), norm_serial($ci->{serial}), 'with the serial of the certificate');
    is($rows->[0]{message_type} // '', 19, 'messageType 19 recorded');
    is($rows->[0]{profile} // '', '/scep', 'profile /scep recorded');
    my $der = db_value('SELECT der FROM scep_certificates WHERE serial = '
                       . q_str($rows->[0]{serial} // ''));
    ok(defined $der && decode_base64($der) eq (pem_file_der($cm->{cert}) // ''),
       'scep_certificates holds the same DER');
}

########## certmonger: wrong challenge
{
    my $cm = certmonger_enroll(url => base_url() . '/scep', cn => 'cm-bad', challenge => 'not-the-secret');
    is($cm->{status}, 'CA_REJECTED', 'certmonger with a wrong challenge: CA_REJECTED')
        or diag("$cm->{out}\n$cm->{err}");
    ok(!-s $cm->{cert}, 'no certificate written');
    my $rows = db_rows("SELECT status, fail_info, fail_text FROM scep_transactions WHERE subject = 'CN=cm-bad'");
    ok(@$rows >= 1, 'the refusal is recorded');
    ok(@$rows && !grep({ $_->{status} ne 'REJECTED' } @$rows), 'every cm-bad row is REJECTED');
    is($rows->[0]{fail_info} // '', 2, 'fail_info 2 (badRequest)');
    like($rows->[0]{fail_text} // '', qr/challenge/i, 'fail_text mentions the challenge');
}

########## certmonger: no challenge at all
{
    my $cm = certmonger_enroll(url => base_url() . '/scep', cn => 'cm-nochal', challenge => undef);
    is($cm->{status}, 'CA_REJECTED', 'certmonger without a challenge: CA_REJECTED')
        or diag("$cm->{out}\n$cm->{err}");
}

########## micromdm scepclient at /scep-legacy (DES + SHA-1)
my $legacy = base_url() . '/scep-legacy';
my ($mm, $serial);
{
    $mm = micromdm_enroll(url => $legacy, cn => 'mm-host1');
    is($mm->{rc}, 0, 'micromdm scepclient at /scep-legacy exits 0') or diag("$mm->{out}\n$mm->{err}");
    ok(-s $mm->{cert}, 'micromdm wrote the certificate');
    ok(openssl_verify($CA, $mm->{cert}), 'the micromdm certificate verifies against the CA');
    my $ci = cert_info($mm->{cert}) || {};
    # the default profile keeps only the CN of the request (README)
    is($ci->{subject} // '', 'CN=mm-host1', 'subject CN=mm-host1 (default profile: CN only)');
    $serial = $ci->{serial};
    # scepclient deletes its self-signed signer (self.pem) after a success:
    # find the row by the key
    my $rows = db_rows('SELECT status, serial, profile, transaction_id FROM scep_transactions '
                       . 'WHERE key_fp = ' . q_str(key_fp($mm->{key})));
    is(scalar @$rows, 1, 'one row for the micromdm key');
    is($rows->[0]{status} // '', 'ISSUED', 'ISSUED');
    is(norm_serial($rows->[0]{serial}), norm_serial($serial), 'with that serial');
    is($rows->[0]{profile} // '', '/scep-legacy', 'profile /scep-legacy');
}

########## the same key again: same transactionID, same certificate
{
    my $again = micromdm_enroll(url => $legacy, cn => 'mm-host1', dir => $mm->{dir},
                                key => $mm->{key}, out => 'cert-again.pem');
    is($again->{rc}, 0, 'micromdm again with the same key exits 0') or diag("$again->{out}\n$again->{err}");
    my $ci = cert_info($again->{cert}) || {};
    is(norm_serial($ci->{serial}), norm_serial($serial), 'and gets the same serial');
    ok(-s $again->{cert} && read_file($again->{cert}) eq read_file($mm->{cert}),
       'the very same certificate');
    my $tid = db_value('SELECT transaction_id FROM scep_transactions WHERE serial = ' . q_str($serial // ''));
    ok(defined $tid, 'the transactionID of the first enrollment is recorded');
    my $rows = db_rows('SELECT status FROM scep_transactions WHERE transaction_id = ' . q_str($tid // '')
                       . ' OR key_fp = ' . q_str(key_fp($mm->{key})));
    is(scalar @$rows, 1, 'still one transactions row for that transactionID and key');
    is(db_value("SELECT count(*) FROM scep_certificates WHERE subject = 'CN=mm-host1'"), 1,
       'and one certificate');
}

########## micromdm at /scep: DES is refused
{
    my $bad = micromdm_enroll(url => base_url() . '/scep', cn => 'mm-host2');
    isnt($bad->{rc}, 0, 'micromdm at /scep (no legacy algorithms) fails');
    like($bad->{out} . $bad->{err}, qr/failInfo: badAlg \(0\)/, 'micromdm reports failInfo: badAlg (0)');
    ok(!-s $bad->{cert}, 'no certificate written');
    my $rows = db_rows('SELECT status, fail_info, profile FROM scep_transactions WHERE signer_fp = '
                       . q_str(cert_fp("$bad->{dir}/self.pem")));
    is(scalar @$rows, 1, 'the refusal is recorded once');
    is($rows->[0]{status} // '', 'REJECTED', 'REJECTED');
    is($rows->[0]{fail_info} // '', 0, 'fail_info 0 (badAlg)');
    is($rows->[0]{profile} // '', '/scep', 'at profile /scep');
}

error_log_clean();
