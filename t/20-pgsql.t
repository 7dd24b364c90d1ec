# The core enrollment set against the scep_pg virtual host, whose records go
# to PostgreSQL (DBDriver pgsql). Runs when SCEP_TEST_PGSQL holds a libpq
# conninfo (t/TEST.PL then loads conf/schema-pgsql.sql into that database and
# enables the vhost with -D SCEP_PGSQL); skipped otherwise.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use MIME::Base64 qw(decode_base64);
use lib 't/lib';
use SCEPTest qw(:all);

plan skip_all => 'SCEP_TEST_PGSQL is not set (a libpq conninfo for a scratch database)'
    unless $ENV{SCEP_TEST_PGSQL};
plan tests => 47;

sub q_str { my $s = shift; $s =~ s/'/''/g; "'$s'" }
sub pg_rows { db_rows(shift, pg => 1) }
sub pg_value { db_value(shift, pg => 1) }

my $VH = 'scep_pg';
my $URL = base_url($VH);
my $CA = pki('ca.pem');
my @tids;

########## the vhost is up and in RA mode
{
    my $r = http(vhost => $VH, path => '/scep?operation=GetCACert');
    is($r->{status}, 200, 'scep_pg: GetCACert 200');
    is($r->{headers}{'content-type'}, 'application/x-x509-ca-ra-cert', 'scep_pg: RA mode');
    is(pg_value('SELECT count(*) FROM scep_transactions'), 0, 'PostgreSQL starts with no rows');
}

########## certmonger
{
    my $cm = certmonger_enroll(url => "$URL/scep", cn => 'pg-cm-host');
    is($cm->{status}, 'MONITORING', 'certmonger via scep_pg: MONITORING') or diag("$cm->{out}\n$cm->{err}");
    ok(openssl_verify($CA, $cm->{cert}), 'the certificate verifies against the CA');
    my $ci = cert_info($cm->{cert}) || {};
    is($ci->{subject} // '', 'CN=pg-cm-host', 'subject CN=pg-cm-host');
    my $rows = pg_rows("SELECT status, serial, profile, client_addr FROM scep_transactions "
                       . "WHERE subject = 'CN=pg-cm-host'");
    is(scalar @$rows, 1, 'one PostgreSQL transactions row');
    is($rows->[0]{status} // '', 'ISSUED', 'ISSUED');
    is(norm_serial($rows->[0]{serial}), norm_serial($ci->{serial}), 'with the serial of the certificate');
    is($rows->[0]{client_addr} // '', '127.0.0.1', 'client_addr 127.0.0.1');
    my $der = pg_value('SELECT der FROM scep_certificates WHERE serial = ' . q_str($rows->[0]{serial} // ''));
    ok(defined $der && decode_base64($der) eq (pem_file_der($cm->{cert}) // ''),
       'scep_certificates in PostgreSQL holds the DER');
}

########## scepreq by POST and by GET
for my $m (['POST', {}], ['GET', { method => 'GET' }], ['GET wrapped', { method => 'GET', encode => \&b64_wrapped }]) {
    (my $cn = "pg-wire-$m->[0]") =~ s/\s+/-/g;
    my $req = build_request(subject => "/CN=$cn");
    my $resp = send_request($req, vhost => $VH, %{ $m->[1] });
    my $rep = $resp->{status} == 200 ? parse_reply($resp, $req) : {};
    is($rep->{pkiStatus} // '', '0', "scepreq $m->[0] via scep_pg: SUCCESS")
        or diag($rep->{failInfoText} // $resp->{body});
    is($rep->{recipientNonce} // '', $req->{nonce}, "scepreq $m->[0]: recipientNonce echoed");
    my $rows = pg_rows('SELECT status, serial FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid}));
    ok(@$rows == 1 && $rows->[0]{status} eq 'ISSUED'
       && norm_serial($rows->[0]{serial}) eq norm_serial(serial_of($rep)),
       "scepreq $m->[0]: ISSUED row with the serial in PostgreSQL");
    push @tids, $req->{tid};
}

sub serial_of { my $rep = shift; $rep->{cert_file} ? cert_info($rep->{cert_file})->{serial} : '' }

########## wrong challenge
{
    my $req = build_request(subject => '/CN=pg-refused', challenge => 'wrong');
    my $rep = parse_reply(send_request($req, vhost => $VH), $req, decrypt => 0);
    is($rep->{pkiStatus} // '', '2', 'wrong challenge via scep_pg: FAILURE');
    is($rep->{failInfo} // '', '2', 'failInfo 2 (badRequest)');
    my $rows = pg_rows('SELECT status, fail_info, fail_text FROM scep_transactions WHERE transaction_id = '
                       . q_str($req->{tid}));
    is(scalar @$rows, 1, 'one PostgreSQL row for the refusal');
    is($rows->[0]{status} // '', 'REJECTED', 'REJECTED');
    is($rows->[0]{fail_info} // '', 2, 'fail_info 2');
    like($rows->[0]{fail_text} // '', qr/challenge/, 'fail_text says why');
    push @tids, $req->{tid};
}

########## resend: same serial, one row
{
    my $req = build_request(subject => '/CN=pg-resend');
    my @s;
    for my $i (1 .. 3) {
        my $rep = parse_reply(send_request($req, vhost => $VH, $i == 3 ? (method => 'GET') : ()), $req);
        is($rep->{pkiStatus} // '', '0', "resend #$i via scep_pg: SUCCESS");
        push @s, serial_of($rep);
    }
    ok($s[0] && $s[0] eq $s[1] && $s[1] eq $s[2], 'the same serial each time');
    is(pg_value('SELECT count(*) FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid})), 1,
       'one PostgreSQL row');
    is(pg_value("SELECT count(*) FROM scep_certificates WHERE subject = 'CN=pg-resend'"), 1,
       'one certificate');
    push @tids, $req->{tid};

    # a different key under the same transactionID
    my $other = build_request(subject => '/CN=pg-thief', tid => $req->{tid});
    my $rep = parse_reply(send_request($other, vhost => $VH), $other, decrypt => 0);
    is($rep->{pkiStatus} // '', '2', 'same transactionID, other key via scep_pg: FAILURE');
    is($rep->{failInfo} // '', '2', 'failInfo 2');
}

########## micromdm scepclient at /scep-legacy
{
    my $mm = micromdm_enroll(url => "$URL/scep-legacy", cn => 'pg-mm-host');
    is($mm->{rc}, 0, 'micromdm via scep_pg /scep-legacy exits 0') or diag("$mm->{out}\n$mm->{err}");
    ok(openssl_verify($CA, $mm->{cert}), 'the certificate verifies');
    my $rows = pg_rows('SELECT status, serial, profile FROM scep_transactions WHERE key_fp = '
                       . q_str(key_fp($mm->{key})));
    is(scalar @$rows, 1, 'one PostgreSQL row for the micromdm key');
    is($rows->[0]{status} // '', 'ISSUED', 'ISSUED');
    is($rows->[0]{profile} // '', '/scep-legacy', 'profile /scep-legacy');
    is(norm_serial($rows->[0]{serial}), norm_serial((cert_info($mm->{cert}) || {})->{serial}),
       'with the certificate serial');
}

########## consistency, and nothing went to SQLite
{
    is(pg_value('SELECT count(*) FROM scep_transactions t LEFT JOIN scep_certificates c '
                . "ON c.ca = t.ca AND c.serial = t.serial WHERE t.status = 'ISSUED' AND c.serial IS NULL"),
       0, 'every ISSUED PostgreSQL row has its certificate');
    is(pg_value("SELECT count(*) FROM scep_transactions WHERE status = 'REJECTED' AND fail_info IS NULL"), 0,
       'every REJECTED PostgreSQL row has fail_info');
    my $issued = pg_value("SELECT count(*) FROM scep_transactions WHERE status = 'ISSUED'");
    is($issued, 6, 'six ISSUED rows in PostgreSQL (certmonger, 3 x scepreq, resend, micromdm)');
    is(pg_value('SELECT count(*) FROM scep_certificates'), $issued, 'and six certificates');
    my $in_sqlite = db_value('SELECT count(*) FROM scep_transactions WHERE transaction_id IN ('
                             . join(',', map { q_str($_) } @tids) . ')');
    is($in_sqlite, 0, 'none of these transactions is in the main server\'s SQLite database');
    is(db_value("SELECT count(*) FROM scep_certificates WHERE subject LIKE 'CN=pg-%'"), 0,
       'no pg- certificate in SQLite');
}

error_log_clean();
