# The core enrollment set against the scep_mysql virtual host, whose records go
# to MariaDB (DBDriver mysql). Runs when SCEP_TEST_MYSQL holds the socket of a
# scratch MariaDB with a database scep (t/TEST.PL then loads
# conf/schema-mysql.sql and enables the vhost with -D SCEP_MYSQL); skipped
# otherwise. Mirrors t/20-pgsql.t.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use MIME::Base64 qw(decode_base64);
use lib 't/lib';
use SCEPTest qw(:all);

plan skip_all => 'SCEP_TEST_MYSQL is not set (the socket of a scratch MariaDB with a database scep)'
    unless $ENV{SCEP_TEST_MYSQL};
plan tests => 47;

sub q_str { my $s = shift; $s =~ s/'/''/g; "'$s'" }
sub my_rows { db_rows(shift, mysql => 1) }
sub my_value { db_value(shift, mysql => 1) }

my $VH = 'scep_mysql';
my $URL = base_url($VH);
my $CA = pki('ca.pem');
my @tids;

########## the vhost is up and in RA mode
{
    my $r = http(vhost => $VH, path => '/scep?operation=GetCACert');
    is($r->{status}, 200, 'scep_mysql: GetCACert 200');
    is($r->{headers}{'content-type'}, 'application/x-x509-ca-ra-cert', 'scep_mysql: RA mode');
    is(my_value('SELECT count(*) FROM scep_transactions'), 0, 'MariaDB starts with no rows');
}

########## certmonger
{
    my $cm = certmonger_enroll(url => "$URL/scep", cn => 'my-cm-host');
    is($cm->{status}, 'MONITORING', 'certmonger via scep_mysql: MONITORING') or diag("$cm->{out}\n$cm->{err}");
    ok(openssl_verify($CA, $cm->{cert}), 'the certificate verifies against the CA');
    my $ci = cert_info($cm->{cert}) || {};
    is($ci->{subject} // '', 'CN=my-cm-host', 'subject CN=my-cm-host');
    my $rows = my_rows("SELECT status, serial, profile, client_addr FROM scep_transactions "
                       . "WHERE subject = 'CN=my-cm-host'");
    is(scalar @$rows, 1, 'one MariaDB transactions row');
    is($rows->[0]{status} // '', 'ISSUED', 'ISSUED');
    is(norm_serial($rows->[0]{serial}), norm_serial($ci->{serial}), 'with the serial of the certificate');
    is($rows->[0]{client_addr} // '', '127.0.0.1', 'client_addr 127.0.0.1');
    my $der = my_value('SELECT der FROM scep_certificates WHERE serial = ' . q_str($rows->[0]{serial} // ''));
    ok(defined $der && decode_base64($der) eq (pem_file_der($cm->{cert}) // ''),
       'scep_certificates in MariaDB holds the DER');
}

########## scepreq by POST and by GET
for my $m (['POST', {}], ['GET', { method => 'GET' }], ['GET wrapped', { method => 'GET', encode => \&b64_wrapped }]) {
    (my $cn = "my-wire-$m->[0]") =~ s/\s+/-/g;
    my $req = build_request(subject => "/CN=$cn");
    my $resp = send_request($req, vhost => $VH, %{ $m->[1] });
    my $rep = $resp->{status} == 200 ? parse_reply($resp, $req) : {};
    is($rep->{pkiStatus} // '', '0', "scepreq $m->[0] via scep_mysql: SUCCESS")
        or diag($rep->{failInfoText} // $resp->{body});
    is($rep->{recipientNonce} // '', $req->{nonce}, "scepreq $m->[0]: recipientNonce echoed");
    my $rows = my_rows('SELECT status, serial FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid}));
    ok(@$rows == 1 && $rows->[0]{status} eq 'ISSUED'
       && norm_serial($rows->[0]{serial}) eq norm_serial(serial_of($rep)),
       "scepreq $m->[0]: ISSUED row with the serial in MariaDB");
    push @tids, $req->{tid};
}

sub serial_of { my $rep = shift; $rep->{cert_file} ? cert_info($rep->{cert_file})->{serial} : '' }

########## wrong challenge
{
    my $req = build_request(subject => '/CN=my-refused', challenge => 'wrong');
    my $rep = parse_reply(send_request($req, vhost => $VH), $req, decrypt => 0);
    is($rep->{pkiStatus} // '', '2', 'wrong challenge via scep_mysql: FAILURE');
    is($rep->{failInfo} // '', '2', 'failInfo 2 (badRequest)');
    my $rows = my_rows('SELECT status, fail_info, fail_text FROM scep_transactions WHERE transaction_id = '
                       . q_str($req->{tid}));
    is(scalar @$rows, 1, 'one MariaDB row for the refusal');
    is($rows->[0]{status} // '', 'REJECTED', 'REJECTED');
    is($rows->[0]{fail_info} // '', 2, 'fail_info 2');
    like($rows->[0]{fail_text} // '', qr/challenge/, 'fail_text says why');
    push @tids, $req->{tid};
}

########## resend: same serial, one row
{
    my $req = build_request(subject => '/CN=my-resend');
    my @s;
    for my $i (1 .. 3) {
        my $rep = parse_reply(send_request($req, vhost => $VH, $i == 3 ? (method => 'GET') : ()), $req);
        is($rep->{pkiStatus} // '', '0', "resend #$i via scep_mysql: SUCCESS");
        push @s, serial_of($rep);
    }
    ok($s[0] && $s[0] eq $s[1] && $s[1] eq $s[2], 'the same serial each time');
    is(my_value('SELECT count(*) FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid})), 1,
       'one MariaDB row');
    is(my_value("SELECT count(*) FROM scep_certificates WHERE subject = 'CN=my-resend'"), 1,
       'one certificate');
    push @tids, $req->{tid};

    # a different key under the same transactionID
    my $other = build_request(subject => '/CN=my-thief', tid => $req->{tid});
    my $rep = parse_reply(send_request($other, vhost => $VH), $other, decrypt => 0);
    is($rep->{pkiStatus} // '', '2', 'same transactionID, other key via scep_mysql: FAILURE');
    is($rep->{failInfo} // '', '2', 'failInfo 2');
}

########## micromdm scepclient at /scep-legacy
{
    my $mm = micromdm_enroll(url => "$URL/scep-legacy", cn => 'my-mm-host');
    is($mm->{rc}, 0, 'micromdm via scep_mysql /scep-legacy exits 0') or diag("$mm->{out}\n$mm->{err}");
    ok(openssl_verify($CA, $mm->{cert}), 'the certificate verifies');
    my $rows = my_rows('SELECT status, serial, profile FROM scep_transactions WHERE key_fp = '
                       . q_str(key_fp($mm->{key})));
    is(scalar @$rows, 1, 'one MariaDB row for the micromdm key');
    is($rows->[0]{status} // '', 'ISSUED', 'ISSUED');
    is($rows->[0]{profile} // '', '/scep-legacy', 'profile /scep-legacy');
    is(norm_serial($rows->[0]{serial}), norm_serial((cert_info($mm->{cert}) || {})->{serial}),
       'with the certificate serial');
}

########## consistency, and nothing went to SQLite
{
    is(my_value('SELECT count(*) FROM scep_transactions t LEFT JOIN scep_certificates c '
                . "ON c.ca = t.ca AND c.serial = t.serial WHERE t.status = 'ISSUED' AND c.serial IS NULL"),
       0, 'every ISSUED MariaDB row has its certificate');
    is(my_value("SELECT count(*) FROM scep_transactions WHERE status = 'REJECTED' AND fail_info IS NULL"), 0,
       'every REJECTED MariaDB row has fail_info');
    my $issued = my_value("SELECT count(*) FROM scep_transactions WHERE status = 'ISSUED'");
    is($issued, 6, 'six ISSUED rows in MariaDB (certmonger, 3 x scepreq, resend, micromdm)');
    is(my_value('SELECT count(*) FROM scep_certificates'), $issued, 'and six certificates');
    my $in_sqlite = db_value('SELECT count(*) FROM scep_transactions WHERE transaction_id IN ('
                             . join(',', map { q_str($_) } @tids) . ')');
    is($in_sqlite, 0, 'none of these transactions is in the main server\'s SQLite database');
    is(db_value("SELECT count(*) FROM scep_certificates WHERE subject LIKE 'CN=my-%'"), 0,
       'no my- certificate in SQLite');
}

error_log_clean();
