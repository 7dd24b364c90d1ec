# What mod_scep records (scep_transactions, scep_certificates) and the
# idempotence of resent requests (scep-wire.md §2.4, §2.6, case 26), serial
# numbers (RFC 5280 4.1.2.2), validity per Location, and concurrent requests.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use MIME::Base64 qw(decode_base64);
use POSIX ();
use lib 't/lib';
use SCEPTest qw(:all);

plan tests => 52;

sub q_str { my $s = shift; $s =~ s/'/''/g; "'$s'" }

my $t0 = time;

# send several requests at once (one child per request); returns the
# bodies of the HTTP 200 answers (undef for any other)
sub send_parallel {
    my @bodies = run_parallel(map {
        my ($req, %o) = @$_;
        sub { my $resp = send_request($req, %o); $resp->{status} == 200 ? $resp->{body} : '' }
    } @_);
    return map { length $_ ? $_ : undef } @bodies;
}

sub serial_of { my $rep = shift; $rep->{cert_file} ? cert_info($rep->{cert_file})->{serial} : undef }

########## the same bytes three times: one certificate, one row
{
    my $req = build_request(subject => '/CN=resend-1');
    my @serials;
    my @nonces;
    for my $i (1 .. 3) {
        my $resp = send_request($req);
        my $rep = parse_reply($resp, $req);
        is($rep->{pkiStatus}, '0', "identical request, send #$i: SUCCESS") or diag($rep->{failInfoText});
        push @serials, serial_of($rep);
        push @nonces, $rep->{senderNonce} // '';
    }
    # and once more by GET, as certmonger would resend
    my $rep = parse_reply(send_request($req, method => 'GET'), $req);
    is($rep->{pkiStatus}, '0', 'identical request by GET: SUCCESS');
    push @serials, serial_of($rep);
    ok(defined $serials[0] && !grep({ !defined $_ || $_ ne $serials[0] } @serials),
       'the same serial every time') or diag("@{[ map { $_ // 'undef' } @serials ]}");
    my %n = map { $_ => 1 } @nonces;
    is(scalar keys %n, 3, 'each answer has its own senderNonce');
    my $rows = db_rows('SELECT status, serial FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid}));
    is(scalar @$rows, 1, 'one transactions row for the transaction');
    is($rows->[0]{status} // '', 'ISSUED', 'ISSUED');
    is(db_value("SELECT count(*) FROM scep_certificates WHERE subject = 'CN=resend-1'"), 1,
       'one certificate for it');
}

########## the same bytes five times at once: the race has one winner
{
    my $req = build_request(subject => '/CN=resend-race');
    my @bodies = send_parallel(map { [$req] } 1 .. 5);
    my @serials = map { defined $_ ? serial_of(parse_reply($_, $req)) : undef } @bodies;
    ok(!grep({ !defined } @serials), 'five concurrent identical requests: five SUCCESS answers')
        or diag("@{[ map { $_ // 'undef' } @serials ]}");
    my %s = map { ($_ // '') => 1 } @serials;
    is(scalar keys %s, 1, 'all with the same serial');
    is(db_value('SELECT count(*) FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid})), 1,
       'one transactions row');
    is(db_value("SELECT count(*) FROM scep_certificates WHERE subject = 'CN=resend-race'"), 1,
       'one certificate');
}

########## ten distinct enrollments, five at a time
my @reqs = map { build_request(subject => "/CN=record-$_") } 1 .. 10;
my @bodies = (send_parallel(map { [$_] } @reqs[0 .. 4]), send_parallel(map { [$_] } @reqs[5 .. 9]));
my (@certs, @bad);
for my $i (0 .. 9) {
    my $rep = defined $bodies[$i] ? parse_reply($bodies[$i], $reqs[$i]) : {};
    push @bad, "record-" . ($i + 1) . ': ' . ($rep->{failInfoText} // 'no CertRep')
        unless ($rep->{pkiStatus} // '') eq '0' && $rep->{cert_file};
    push @certs, $rep->{cert_file};
}
ok(!@bad, 'ten distinct enrollments (five concurrent at a time): all SUCCESS') or diag(join "\n", @bad);
{
    my @info = map { $_ ? cert_serial_info($_) : {} } @certs;
    my %distinct = map { ($_->{hex} // '') => 1 } @info;
    is(scalar keys %distinct, 10, 'ten distinct serial numbers');
    ok(!grep({ !$_->{positive} } @info), 'every serial is positive');
    ok(!grep({ ($_->{bits} // 0) < 64 } @info), 'every serial has at least 64 bits')
        or diag(join ' ', map { $_->{bits} // '?' } @info);
    ok(!grep({ ($_->{octets} // 99) > 20 } @info), 'no serial is longer than 20 octets');
    ok(!grep({ !$_->{minimal} } @info), 'every serial is minimally encoded');

    my $i = 0;
    my (@mismatch, @txn_bad);
    for my $req (@reqs) {
        my $cert = $certs[$i];
        my $info = $info[$i++];
        next unless $cert;
        my $ci = cert_info($cert);
        my $rows = db_rows('SELECT * FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid}));
        if (@$rows != 1) {
            push @txn_bad, "$req->{subject}: " . scalar(@$rows) . ' rows';
            next;
        }
        my $t = $rows->[0];
        my %want = (
            status => 'ISSUED', message_type => 19, profile => '/scep', client_addr => '127.0.0.1',
            key_fp => key_fp($req->{key}), signer_fp => cert_fp($req->{signer}),
            subject => substr($req->{subject}, 1),
        );
        for my $k (sort keys %want) {
            push @txn_bad, "$req->{subject}: $k=" . ($t->{$k} // 'NULL') . ", want $want{$k}"
                if ($t->{$k} // '') ne $want{$k};
        }
        push @txn_bad, "$req->{subject}: serial $t->{serial} vs $info->{hex}"
            if norm_serial($t->{serial}) ne $info->{hex};
        push @txn_bad, "$req->{subject}: signer_cert is not the signer's DER"
            if decode_base64($t->{signer_cert} // '') ne (pem_file_der($req->{signer}) // '');
        push @txn_bad, "$req->{subject}: no CSR recorded" unless length($t->{csr} // '') > 100;
        push @txn_bad, "$req->{subject}: created_at $t->{created_at}"
            unless ($t->{created_at} // 0) >= $t0 - 5 && $t->{created_at} <= time + 5;
        push @txn_bad, "$req->{subject}: fail_info set on an ISSUED row" if defined $t->{fail_info};

        my $c = db_rows('SELECT * FROM scep_certificates WHERE serial = ' . q_str($t->{serial}));
        if (@$c != 1) {
            push @mismatch, "$req->{subject}: " . scalar(@$c) . ' certificate rows';
            next;
        }
        $c = $c->[0];
        push @mismatch, "$req->{subject}: der differs"
            if decode_base64($c->{der} // '') ne pem_file_der($cert);
        push @mismatch, "$req->{subject}: subject $c->{subject}" if ($c->{subject} // '') ne $ci->{subject};
        push @mismatch, "$req->{subject}: ca $c->{ca} vs $t->{ca}" if ($c->{ca} // '') ne ($t->{ca} // '');
        push @mismatch, "$req->{subject}: revoked" if defined $c->{revoked_at};
        my $nb = str2epoch($ci->{not_before});
        my $na = str2epoch($ci->{not_after});
        push @mismatch, "$req->{subject}: not_before $c->{not_before} vs $nb" if ($c->{not_before} // 0) != $nb;
        push @mismatch, "$req->{subject}: not_after $c->{not_after} vs $na" if ($c->{not_after} // 0) != $na;
    }
    ok(!@txn_bad, 'each transactions row: ISSUED, type 19, profile /scep, client 127.0.0.1, '
       . 'key and signer fingerprints, signer cert, CSR, subject, serial, time')
        or diag(join "\n", @txn_bad);
    ok(!@mismatch, 'each scep_certificates row: the issued DER, subject, CA, dates, not revoked')
        or diag(join "\n", @mismatch);
    my $ca_fp = cert_fp(pki('ca.pem'));
    is(db_value("SELECT count(DISTINCT ca) FROM scep_certificates WHERE subject LIKE 'CN=record-%'"), 1,
       'one CA column value for all of them');
    is(uc(db_value("SELECT ca FROM scep_certificates WHERE subject = 'CN=record-1'") // ''), $ca_fp,
       'the ca column is the SHA-256 of the CA certificate');
}

# "Nov 26 03:54:24 2026 GMT" -> epoch
sub str2epoch {
    my $s = shift // return -1;
    my %m = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5, Jul => 6, Aug => 7,
             Sep => 8, Oct => 9, Nov => 10, Dec => 11);
    my ($mon, $d, $H, $M, $S, $y) = $s =~ /^(\w{3})\s+(\d+) (\d+):(\d+):(\d+) (\d{4}) GMT$/ or return -1;
    local $ENV{TZ} = 'UTC';
    POSIX::tzset();
    return POSIX::mktime($S, $M, $H, $d, $m{$mon}, $y - 1900);
}

########## validity and profile per Location
sub validity_days {
    my $ci = cert_info(shift);
    return (str2epoch($ci->{not_after}) - time) / 86400;
}
for my $c (['/scep', 365], ['/scep-legacy', 30], ['/certsrv/mscep/mscep.dll', 365]) {
    my ($path, $days) = @$c;
    (my $cn = "validity$path") =~ s{/}{-}g;
    my $req = build_request(subject => "/CN=$cn");
    my $rep = parse_reply(send_request($req, path => $path . ($path =~ /mscep/ ? '/pkiclient.exe' : '')),
                          $req);
    is($rep->{pkiStatus}, '0', "$path: SUCCESS") or diag($rep->{failInfoText});
    my $v = $rep->{cert_file} ? validity_days($rep->{cert_file}) : 0;
    ok(abs($v - $days) < 0.1, "$path: valid for $days days (SCEPValidity)") or diag("got $v days");
    is(db_value('SELECT profile FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid})),
       $path, "$path: profile recorded as the Location");
    is(db_value('SELECT client_addr FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid})),
       '127.0.0.1', "$path: client_addr 127.0.0.1");
}

########## refusals are recorded with their Location too
{
    my $req = build_request(subject => '/CN=record-refused');
    my $rep = parse_reply(send_request($req, path => '/scep-nochallenge'), $req, decrypt => 0);
    is($rep->{pkiStatus}, '2', '/scep-nochallenge: FAILURE');
    my $rows = db_rows('SELECT * FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid}));
    is(scalar @$rows, 1, 'one row for the refusal');
    my $t = $rows->[0] || {};
    is($t->{status} // '', 'REJECTED', 'REJECTED');
    is($t->{fail_info} // '', 2, 'fail_info 2');
    like($t->{fail_text} // '', qr/challenge/, 'fail_text says why');
    is($t->{client_addr} // '', '127.0.0.1', 'client_addr recorded');
    is($t->{profile} // '', '/scep-nochallenge',
       'profile recorded as the Location (which has no SCEP directive of its own)');
    ok(!defined $t->{serial}, 'no serial');
    is($t->{key_fp} // '', key_fp($req->{key}), 'key_fp recorded');
    is($t->{subject} // '', 'CN=record-refused', 'the requested subject recorded');
}

########## a refused transaction can be retried once it is fixed
{
    my $key = new_key();
    my $bad = build_request(key => $key, subject => '/CN=retry-later', challenge => 'typo');
    my $rep = parse_reply(send_request($bad), $bad, decrypt => 0);
    is($rep->{pkiStatus}, '2', 'first try with a mistyped challenge: FAILURE');
    my $good = build_request(key => $key, subject => '/CN=retry-later', tid => $bad->{tid});
    $rep = parse_reply(send_request($good), $good);
    is($rep->{pkiStatus}, '0', 'the same transactionID and key with the right challenge: SUCCESS')
        or diag($rep->{failInfoText});
    my $rows = db_rows('SELECT status FROM scep_transactions WHERE transaction_id = '
                       . q_str($bad->{tid}) . ' ORDER BY id');
    is(join(',', map { $_->{status} } @$rows), 'REJECTED,ISSUED', 'both decisions are recorded');
}

########## rows for everything this file did
{
    my $n = db_value("SELECT count(*) FROM scep_transactions WHERE status = 'ISSUED' AND "
                     . "(subject LIKE 'CN=record-%' OR subject LIKE 'CN=resend-%')");
    is($n, 12, 'twelve ISSUED rows for the ten records and two resent transactions');
    my $dups = db_value('SELECT count(*) FROM (SELECT serial FROM scep_certificates GROUP BY ca, serial '
                        . 'HAVING count(*) > 1) d');
    is($dups, 0, 'no serial is used twice');
    my $u = db_value('SELECT count(*) FROM scep_certificates');
    my $t = db_value("SELECT count(*) FROM scep_transactions WHERE status = 'ISSUED'");
    is($u, $t, 'as many certificates as ISSUED transactions');
}

error_log_clean();
