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
use File::Basename qw(dirname);

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
# the records and the test CA of every private httpd below
my $CA_DB = <<'EOC';
@SQLITE_DB@
SCEPCACertificateFile "@PKI@/ca.pem"
SCEPCACertificateKeyFile "@PKI@/ca.key"
SCEPRACertificateFile "@PKI@/ra.pem"
SCEPRACertificateKeyFile "@PKI@/ra.key"
EOC
my $PRIVATE = <<'EOC' =~ s/^\@CA_DB\@\n/$CA_DB/mr;
@HTTPD_BASE@
@ONE_CHILD@
@CA_DB@
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
        db_exec(q{CREATE TRIGGER no_refusals BEFORE INSERT ON scep_transactions }
                . q{WHEN NEW.status = 'REJECTED' BEGIN SELECT RAISE(ABORT, 'refusals cannot be }
                . q{recorded'); END;}, file => $db);
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
        ok(eval { db_exec('DROP TABLE scep_auth_failures', file => $h->{db}); 1 },
           'the failures table is gone') or diag($@);
        my $other = build_request(subject => '/CN=count-unreadable');
        my $resp = send_request($other, port => $h->{port}, path => '/t', local_addr => fresh_addr());
        is($resp->{status}, 503, 'the throttle cannot count: HTTP 503 (fails closed)')
            or diag(answer_of($resp, $other));
        is(db_value('SELECT count(*) FROM scep_certificates', file => $h->{db}), 0,
           'no certificate was issued');
        $log = eval { read_file("$h->{dir}/logs/error_log") } // '';
        like($log, qr/SCEP00103: scep_preflight failed/, 'the failed count is logged (SCEP00103)');
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

########## 3, 4. renewal across profiles, a compromised chain, templates, value patterns
my $PROFILES = <<'EOC' =~ s/^\@CA_DB\@\n/$CA_DB/mr;
@HTTPD_BASE@
LoadModule mpm_event_module "@MODULES@/mod_mpm_event.so"
@AUTH_MODULES@
@CA_DB@
SCEPChallengeThrottle off
<Location /wifi>
    SetHandler scep
    SCEPProfileName wifi
    SCEPChallengePassword wifi-secret
    SCEPRenewal on
    SCEPSubject O value "Example Corp"
    SCEPSubject CN request "^[a-z0-9-]+$"
    SCEPSubjectExcess refuse
    SCEPTemplate WifiTemplate
    SCEPTemplate VpnTemplate vpn
</Location>
<Location /vpn>
    SetHandler scep
    SCEPProfileName vpn
    SCEPChallengePassword vpn-secret
    SCEPRenewal on
    SCEPRenewalFrom legacy
    SCEPRenewalSupersede on
    SCEPSubject CN request "^vpn-[a-z0-9-]+$"
    SCEPSubjectExcess refuse
    SCEPCertificateType ipsec
</Location>
<Location /legacy>
    SetHandler scep
    SCEPProfileName legacy
    SCEPChallengePassword legacy-secret
</Location>
<Location /serial>
    SetHandler scep
    SCEPChallengePassword serial-secret
    SCEPSubject CN request
    SCEPSubject serialNumber value "%{HTTP:X-Serial}" "^[A-Z0-9]{8}$"
</Location>
<Location /adm>
    SetHandler scep-admin
    AuthType Basic
    AuthName "t/16"
    AuthUserFile "@TDIR@/lifecycle/admins.htpasswd"
    Require valid-user
</Location>
EOC
{
    (my $conf = $PROFILES) =~ s/\@TDIR\@/t_dir()/e;
    my $h = private_httpd(name => 'profiles', conf => $conf);
    ok($h->{ok}, 'a private httpd with wifi, vpn, legacy and serial profiles') or diag($h->{err});
    my $port = $h->{port};
    # enroll(path, secret, cn, %build) -> (req, rep, cert file)
    my $enroll = sub {
        my ($path, $secret, $cn, %b) = @_;
        my $req = build_request(subject => "/CN=$cn", challenge => $secret, %b);
        my $resp = send_request($req, port => $port, path => $path, %{ $b{send} || {} });
        my $rep = $resp->{status} == 200 ? parse_reply($resp, $req) : { http => $resp->{status} };
        return ($req, $rep, $rep->{cert_file});
    };
    # renew(path, old req, old cert) -> rep (RenewalReq, new key, no challenge)
    my $renew = sub {
        my ($path, $old, $cert) = @_;
        my $req = build_request(type => 17, subject => '/CN=renewal-asks-this', challenge => undef,
                                args => ['--signer-cert', $cert, '--signer-key', $old->{key}]);
        my $resp = send_request($req, port => $port, path => $path);
        my $rep = $resp->{status} == 200
                  ? parse_reply($resp, { %$req, key => $old->{key}, signer => $cert }) : {};
        return wantarray ? ($rep, $req) : $rep;
    };
    my $said = sub { my $r = shift; join('|', $r->{pkiStatus} // '-', $r->{failInfoText} // '') };
    my $eku = sub { run_cmd(['openssl', 'x509', '-in', shift, '-noout', '-ext', 'extendedKeyUsage'])->{out} };
    SKIP: {
        skip 'httpd did not start', 16 unless $h->{ok};

        # 3. a certificate renews only where its profile allows
        my ($lreq, undef, $lcert) = $enroll->('/legacy', 'legacy-secret', 'dev-legacy');
        like($said->($renew->('/wifi', $lreq, $lcert)),
             qr/^2\|the certificate being renewed was issued by profile legacy, which does not renew at profile wifi/,
             'a /legacy certificate (renewal off there) does not renew at /wifi');
        like($said->($renew->('/vpn', $lreq, $lcert)),
             qr/^2\|profile vpn \(the renewed certificate's names\): subject CN 'dev-legacy' does not match/,
             "at /vpn (SCEPRenewalFrom legacy) its kept CN must still match vpn's rule");
        my ($l2req, undef, $l2cert) = $enroll->('/legacy', 'legacy-secret', 'vpn-gw1');
        my $r = $renew->('/vpn', $l2req, $l2cert);
        is($r->{pkiStatus} // '', '0', 'a /legacy certificate whose CN fits vpn renews at /vpn')
            or diag($said->($r));
        like($r->{cert_file} ? $eku->($r->{cert_file}) : '', qr/ipsec Internet Key Exchange/,
             'as a vpn certificate (ipsecIKE)');
        my $old_serial = uc((cert_info($l2cert) || {})->{serial} // '');
        is(db_value('SELECT revocation_reason FROM scep_certificates WHERE serial = ' . q_str($old_serial),
                    file => $h->{db}), 4, 'SCEPRenewalSupersede on: the old one is revoked as superseded');
        my ($wreq, undef, $wcert) = $enroll->('/wifi', 'wifi-secret', 'vpn-laptop');
        like($said->($renew->('/vpn', $wreq, $wcert)), qr/^2\|.*issued by profile wifi.*SCEPRenewalFrom/,
             'a wifi certificate does not renew at /vpn (not in its SCEPRenewalFrom)');

        # 3. keyCompromise anywhere in a chain of renewals stops the chain
        my ($areq, undef, $acert) = $enroll->('/wifi', 'wifi-secret', 'chain-a');
        my ($b, $breq) = $renew->('/wifi', $areq, $acert);
        is($b->{pkiStatus} // '', '0', 'A renews into B') or diag($said->($b));
        my $aserial = uc((cert_info($acert) || {})->{serial} // '');
        my $rv = http(method => 'POST', port => $port, path => "/adm/api/certificates/$aserial/revoke",
                      headers => [Authorization => 'Basic ' . b64_std('alice:alice-pw-4711'),
                                  'Content-Type' => 'application/json'],
                      body => '{"reason":"keyCompromise"}');
        is($rv->{status}, 200, 'an administrator revokes A for keyCompromise') or diag($rv->{body});
        like($b->{cert_file} ? $said->(scalar $renew->('/wifi', $breq, $b->{cert_file})) : 'no B',
             qr/^2\|a certificate this one was renewed from is revoked for keyCompromise/,
             'B cannot renew: its chain holds a compromised key');

        # 4. a template selects a whole profile: its challenge too
        my $key = new_key();
        my $csr = openssl_csr(key => $key, subject => [[CN => 'vpn-by-template']], template => 'VpnTemplate',
                              challenge => 'wifi-secret');
        my ($treq, $trep) = $enroll->('/wifi', undef, 'x', key => $key, args => ['--csr', $csr],
                                      subject => undef);
        like($said->($trep), qr/^2\|the challengePassword is wrong/,
             "VpnTemplate at /wifi with wifi's challenge: refused (vpn's challenge needed)");
        $key = new_key();
        $csr = openssl_csr(key => $key, subject => [[CN => 'vpn-by-template']], template => 'VpnTemplate',
                           challenge => 'vpn-secret');
        ($treq, $trep) = $enroll->('/wifi', undef, 'x', key => $key, args => ['--csr', $csr],
                                   subject => undef);
        is($trep->{pkiStatus} // '', '0', "VpnTemplate at /wifi with vpn's challenge: SUCCESS")
            or diag($said->($trep));
        like($trep->{cert_file} ? $eku->($trep->{cert_file}) : '', qr/ipsec Internet Key Exchange/,
             'a vpn certificate');

        # 4. a value rule with a pattern: a header that does not fit refuses
        my (undef, $s1, $c1) = $enroll->('/serial', 'serial-secret', 'dev-s1',
                                         send => { headers => ['X-Serial' => 'AB12CD34'] });
        is($s1->{pkiStatus} // '', '0', 'X-Serial AB12CD34 fits ^[A-Z0-9]{8}$: SUCCESS') or diag($said->($s1));
        like($c1 ? (cert_info($c1) || {})->{subject} : '', qr/serialNumber=AB12CD34/, 'the certificate has it');
        my (undef, $s2) = $enroll->('/serial', 'serial-secret', 'dev-s2',
                                    send => { headers => ['X-Serial' => 'O=Admin,CN=root'] });
        like($said->($s2), qr/^2\|profile \/serial: the profile's serialNumber value .* does not match its pattern/,
             'X-Serial that does not fit the pattern: refused');
        my (undef, $s3) = $enroll->('/serial', 'serial-secret', 'dev-s3');
        like($said->($s3), qr/^2\|profile \/serial: the profile's serialNumber value '' .* does not match its pattern/,
             'no X-Serial at all (empty): refused');
    }
    private_httpd_stop($h);
}

########## Also: a CA key file others may read is named at start-up
{
    (my $conf = $PRIVATE) =~ s{"\@PKI\@/ca.key"}{"\@DIR\@/ca.key"};
    my $h = private_httpd(name => 'keymode', conf => $conf, prepare_db => sub {
        my $dir = dirname(shift);
        write_file("$dir/ca.key", read_file(pki('ca.key')));
        chmod 0644, "$dir/ca.key";
    });
    ok($h->{ok}, 'httpd starts with a CA key file of mode 0644') or diag($h->{err});
    private_httpd_stop($h);
    my @warn = grep { /SCEP00014: SCEPCACertificateKeyFile .*ca\.key .*is readable by everyone/ }
               split /\n/, eval { read_file("$h->{dir}/logs/error_log") } // '';
    is(scalar @warn, 1, 'and warns once that everyone may read it (SCEP00014)');
}

error_log_clean();
done_testing();
