# Findings of the adversarial review (issue #12) that the engine closes:
#  1. no padding oracle: every failure from decrypting the envelope to
#     proving the request's key gets one answer, and counts as a failed
#     attempt for the throttle;
#  2. a request with 16,000 attributes is refused before anything is built
#     from it, and the child serving it does not grow;
#  5. the throttle counts failures in a table of their own (a refusal that
#     cannot be recorded is still counted) and fails closed;
#  6. refusals are recorded as a bounded summary.
# Renewal across profiles (3) is in t/40-lifecycle.t and here (a private
# httpd with several Locations), value patterns and templates (4) here too.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);

plan tests => 27 + 9 + 13 + 7 + 7 + 1;

my $SEALED = 'the message content cannot be decrypted and verified';

# the EnvelopedData inside a request's SignedData: what an eavesdropper has
sub envelope_of {
    my $req = shift;
    my $out = work_file('envelope', 'der');
    my $r = run_cmd(['openssl', 'cms', '-verify', '-noverify', '-inform', 'DER', '-binary',
                     '-in', $req->{file}, '-out', $out]);
    die "openssl cms: $r->{err}" if $r->{rc};
    return $out;
}

sub answer_of {
    my ($resp, $req) = @_;
    return 'HTTP ' . $resp->{status} unless $resp->{status} == 200;
    my $rep = parse_reply($resp, $req, decrypt => 0);
    return join('|', $rep->{pkiStatus} // '-', $rep->{failInfo} // '-', $rep->{failInfoText} // '-');
}

sub q_str { my $s = shift; $s =~ s/'/''/g; "'$s'" }

sub txn_row {
    my $tid = shift;
    return db_rows('SELECT status, fail_info, fail_text, csr, signer_cert, subject FROM '
                   . 'scep_transactions WHERE transaction_id = ' . q_str($tid))->[0] // {};
}

# a client address of its own for each run, so that counts start at zero
sub fresh_addr { sprintf('127.%d.%d.%d', 1 + int(rand 250), int(rand 250), 1 + int(rand 250)) }

########## 1. one answer for everything the sealed part can find
my $junk = write_file(work_file('junk', 'bin'), "\x30\x03\x02\x01\x00" . ('x' x 40));
my $empty = write_file(work_file('empty', 'bin'), '');
{
    # a device's request, captured on the wire (never sent by the test)
    my $device = build_request(subject => '/CN=victim-device');
    my $env = envelope_of($device);
    my $attacker = new_key();
    my %cases = (
        'the captured envelope in an attacker-signed PKCSReq' =>
            [{ key => $attacker, args => ['--no-envelope', '--payload', $env] },
             qr/self-signed signer certificate's key differs/],
        'the captured envelope with a tampered IV' =>
            [{ key => $attacker, args => ['--no-envelope', '--payload', $env], tamper => ['iv'] },
             qr/does not hold a PKCS#10/],
        'the captured envelope with a broken padding' =>
            [{ key => $attacker, args => ['--no-envelope', '--payload', $env], tamper => ['padding'] },
             qr/cannot be decrypted/],
        'good padding around junk' =>
            [{ args => ['--payload', $junk] }, qr/does not hold a PKCS#10/],
        'an envelope of pure padding' =>
            [{ args => ['--payload', $empty] }, qr/envelope is empty/],
        "the attacker's own request with a broken padding" =>
            [{ tamper => ['padding'] }, qr/cannot be decrypted/],
    );
    my %answers;
    my $n = 0;
    for my $label (sort keys %cases) {
        my ($build, $reason) = @{ $cases{$label} };
        my $req = build_request(%$build, tid => 'sealed-' . ++$n . "-$$-" . time);
        my $resp = send_request($req);
        my $answer = answer_of($resp, $req);
        $answers{$answer}++;
        is($answer, "2|1|$SEALED", "$label: FAILURE badMessageCheck, '$SEALED'");
        my $row = txn_row($req->{tid});
        is($row->{status}, 'REJECTED', "$label: recorded as REJECTED");
        like($row->{fail_text} // '', $reason, "$label: the record keeps the real reason");
        ok(!defined $row->{csr} && !defined $row->{signer_cert},
           "$label: the record keeps neither request nor signer certificate");
    }
    is(scalar keys %answers, 1, 'all six get the same answer, byte for byte in what the client reads')
        or diag(join "\n", keys %answers);

    # GetCert: junk where the IssuerAndSerialNumber belongs, and a real one
    # with a broken padding
    my $g1 = build_request(type => 21, args => ['--payload', $junk]);
    my $g2 = build_request(type => 21, args => ['--issuer-serial', pki('ca.pem')], tamper => ['padding']);
    is(answer_of(send_request($g1), $g1), "2|1|$SEALED", 'GetCert holding junk: the same answer');
    is(answer_of(send_request($g2), $g2), "2|1|$SEALED", 'GetCert with a broken padding: the same answer');
}

########## 1. ... and those failures count against the throttle
{
    my $src = fresh_addr();
    for my $i (1 .. 3) {
        my $req = build_request(tamper => ['padding'], challenge => 'otp-throttle-static-secret');
        my $resp = send_request($req, path => '/otp-throttle', local_addr => $src);
        is(answer_of($resp, $req), "2|1|$SEALED", "broken padding #$i at /otp-throttle (3 in 10m)");
    }
    is(db_value('SELECT count(*) FROM scep_auth_failures WHERE client_addr = ' . q_str($src)), 3,
       'the three count as failed attempts of that address');
    my $req = build_request(challenge => 'otp-throttle-static-secret', subject => '/CN=after-oracle');
    my $resp = send_request($req, path => '/otp-throttle', local_addr => $src);
    my $rep = $resp->{status} == 200 ? parse_reply($resp, $req) : {};
    is($rep->{pkiStatus} // '', '2', 'then the right secret from that address: FAILURE');
    like($rep->{failInfoText} // '', qr/too many failed attempts/, 'refused by the throttle');
    ok(!$rep->{cert_file}, 'no certificate');
    # a throttled address is refused before anything is decrypted
    my $own = build_request(tamper => ['padding'], challenge => 'otp-throttle-static-secret');
    my $resp2 = send_request($own, path => '/otp-throttle', local_addr => $src);
    like(answer_of($resp2, $own), qr/^2\|2\|too many failed attempts/,
         'a fourth broken padding: throttled, not decrypted');
    my $other = fresh_addr();
    my $ok = build_request(challenge => 'otp-throttle-static-secret', subject => '/CN=other-address');
    is(answer_of(send_request($ok, path => '/otp-throttle', local_addr => $other), $ok) =~ /^0\|/ ? 1 : 0,
       1, 'another address is not affected');
}

########## 5. the throttle counts in its own table and fails closed
my $PRIVATE = <<'EOC';
@HTTPD_BASE@
LoadModule mpm_prefork_module "@MODULES@/mod_mpm_prefork.so"
StartServers 1
MinSpareServers 1
MaxSpareServers 1
ServerLimit 1
MaxRequestWorkers 1
MaxConnectionsPerChild 0
DBDriver sqlite3
DBDParams "@DB@"
DBDInitSQL "PRAGMA journal_mode=WAL"
SCEPCACertificateFile "@PKI@/ca.pem"
SCEPCACertificateKeyFile "@PKI@/ca.key"
SCEPRACertificateFile "@PKI@/ra.pem"
SCEPRACertificateKeyFile "@PKI@/ra.key"
<Location /t>
    SetHandler scep
    SCEPChallengePasswordFile "@PKI@/challenge"
    SCEPChallengeThrottle 3 10m
    SCEPMaxRequestBody 1048576
</Location>
EOC
{
    # refusals cannot be recorded (as when a field overflowed a column)
    my $h = private_httpd(name => 'throttle', conf => $PRIVATE, prepare_db => sub {
        my $db = shift;
        my $r = run_cmd(['sqlite3', $db, q{CREATE TRIGGER no_refusals BEFORE INSERT ON scep_transactions }
                         . q{WHEN NEW.status = 'REJECTED' BEGIN SELECT RAISE(ABORT, 'refusals cannot be }
                         . q{recorded'); END;}]);
        die "trigger: $r->{err}" if $r->{rc};
    });
    ok($h->{ok}, 'a private httpd whose database refuses to record refusals') or diag($h->{err});
    SKIP: {
        skip 'httpd did not start', 12 unless $h->{ok};
        for my $i (1 .. 3) {
            my $req = build_request(challenge => "wrong-$i");
            like(answer_of(send_request($req, port => $h->{port}, path => '/t'), $req),
                 qr/^2\|2\|the challengePassword is wrong/, "wrong challenge #$i: refused");
        }
        is(db_value('SELECT count(*) FROM scep_transactions', file => $h->{db}), 0,
           'none of the refusals could be recorded');
        my $req = build_request(subject => '/CN=after-three-guesses');
        my $answer = answer_of(send_request($req, port => $h->{port}, path => '/t'), $req);
        like($answer, qr/^2\|2\|too many failed attempts/,
             'the right challenge after three wrong ones: throttled all the same');
        my $log = eval { read_file("$h->{dir}/logs/error_log") } // '';
        my $n = () = $log =~ /SCEP00202: could not record the refusal/g;
        is($n, 4, 'each refusal that could not be recorded is logged (SCEP00202)');

        # the count cannot be read: nothing goes on (HTTP 503), nothing issued
        my $drop = run_cmd(['sqlite3', $h->{db}, 'DROP TABLE scep_auth_failures']);
        is($drop->{rc}, 0, 'the failures table is gone') or diag($drop->{err});
        my $other = build_request(subject => '/CN=count-unreadable');
        my $resp = send_request($other, port => $h->{port}, path => '/t', local_addr => fresh_addr());
        is($resp->{status}, 503, 'the throttle cannot count: HTTP 503 (fails closed)')
            or diag(answer_of($resp, $other));
        is(db_value('SELECT count(*) FROM scep_certificates', file => $h->{db}), 0,
           'no certificate was issued');
        $log = eval { read_file("$h->{dir}/logs/error_log") } // '';
        like($log, qr/SCEP00103: scep_auth_failures failed/, 'the failed count is logged (SCEP00103)');
        like($log, qr/SCEP00209: the enrollment database is unavailable/, 'and the 503 (SCEP00209)');
        unlike($log, qr/\[core:notice\].*(?:Segmentation|exit signal)/, 'no child crashed');
    }
    private_httpd_stop($h);
}

########## 2. 16,000 attributes: refused before any work, the child does not grow
sub child_hwm_kb {
    my $h = shift;
    my $ppid = eval { read_file("$h->{dir}/logs/httpd.pid") } // '';
    $ppid =~ s/\s+//g;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my ($pid) = $stat =~ m{/proc/(\d+)/};
        my $s = eval { read_file($stat) } // next;
        my ($parent) = $s =~ /\) \S+ (\d+)/ or next;
        next unless $parent eq $ppid;
        my ($kb) = (eval { read_file("/proc/$pid/status") } // '') =~ /^VmHWM:\s+(\d+) kB/m;
        return ($pid, $kb);
    }
    return;
}
{
    my $h = private_httpd(name => 'limits', conf => $PRIVATE);
    ok($h->{ok}, 'a private httpd with one prefork child') or diag($h->{err});
    SKIP: {
        skip 'httpd did not start', 6 unless $h->{ok};
        # warm up: one real enrollment, so the child has its connections and caches
        my $w = build_request(subject => '/CN=warm-up');
        like(answer_of(send_request($w, port => $h->{port}, path => '/t'), $w), qr/^0\|/,
             'a first enrollment warms the child up');
        my ($pid, $before) = child_hwm_kb($h);
        ok($before, "the child's peak memory before: " . ($before // '?') . ' kB');
        my $big = build_request(subject => '/CN=many-attributes', args => ['--csr-extra-attrs', 16000]);
        note('a request of ' . length($big->{der}) . ' bytes with 16,000 CSR attributes');
        my $answer = answer_of(send_request($big, port => $h->{port}, path => '/t'), $big);
        like($answer, qr/^2\|2\|the request has 16001 attribute values; the limit is 16 \(SCEPRequestLimit attributes\)/,
             'refused: FAILURE badRequest naming SCEPRequestLimit attributes');
        my ($pid2, $after) = child_hwm_kb($h);
        is($pid2, $pid, 'the same child served it');
        my $grew = ($after // 0) - ($before // 0);
        ok(defined $after && $grew < 16 * 1024, "its peak memory grew by $grew kB (less than 16 MB)");
        my $row = db_rows("SELECT csr, length(subject) AS n FROM scep_transactions WHERE "
                          . "subject IS NULL OR subject LIKE 'CN=many%'", file => $h->{db});
        ok(!grep({ defined $_->{csr} } @$row), 'the refusal keeps no copy of the request');
    }
    private_httpd_stop($h);
}

########## 6. a refusal is a bounded summary
{
    my $req = build_request(subject => '/CN=' . ('x' x 60) . join('', map { '/OU=' . ('o' x 60) } 1 .. 12),
                            challenge => 'not-the-secret');
    my $answer = answer_of(send_request($req), $req);
    like($answer, qr/^2\|2\|the challengePassword is wrong/, 'a wrong challenge with a long subject: refused');
    my $row = txn_row($req->{tid});
    ok(length($row->{subject} // '') > 500 && length($row->{subject}) <= 1024,
       'the stored subject is at most 1,024 bytes (' . length($row->{subject} // '') . ')');
    ok(!defined $row->{csr} && !defined $row->{signer_cert}, 'no request, no signer certificate');

    # over SCEPRequestLimit subject-length (1,024 bytes of DER): nothing of it is kept
    my $huge = build_request(subject => '/CN=huge/GN=' . ('y' x 2000));
    like(answer_of(send_request($huge), $huge),
         qr/^2\|2\|the subject is \d+ bytes long; the limit is 1024 \(SCEPRequestLimit subject-length\)/,
         'a 2,000-byte subject: refused by SCEPRequestLimit subject-length');
    ok(!defined txn_row($huge->{tid})->{subject}, 'and its subject is not recorded');
    my $many = build_request(subject => join('', map { "/OU=u$_" } 1 .. 17));
    like(answer_of(send_request($many), $many),
         qr/^2\|2\|the subject has 17 attributes; the limit is 16/, '17 subject attributes: refused');
    my $sans = build_request(subject => '/CN=many-sans', args => [map { ('--san-dns', "h$_.example") } 1 .. 65]);
    like(answer_of(send_request($sans), $sans),
         qr/^2\|2\|the request asks for 65 subjectAltNames; the limit is 64/, '65 SANs: refused');
}

error_log_clean();
