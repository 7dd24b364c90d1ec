# Keys in a PKCS#11 token (README "Keys", "SCEPPKCS11Module"): the CA, RA
# and RA encryption keys in a SoftHSM2 token, named by RFC 7512 URIs and
# used through libp11's pkcs11 engine. With the CA key in the token, the RA
# key in the token, both, and a split RA with all three keys there: httpd
# starts, scepreq, certmonger and micromdm scepclient enroll, a RenewalReq
# renews, a revocation through the admin API shows in the CRL (over HTTP
# and by GetCRL, signed in the token), a manual approval is issued at
# approval time. A wrong PIN (file or pin-value, which is never shown), an
# unknown object or token stops httpd naming the directive and the token's
# error. When the token goes away while serving (its folder made
# unreadable), an enrollment is a 503 that nothing records, the health
# check says 503, nothing crashes; once the token is back, service comes
# back by itself: the parent probes the token and restarts the children
# gracefully (libp11 0.4.12 keeps SoftHSM's dropped handles in a running
# child: README "Keys").
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use File::Path qw(mkpath);
use JSON::PP ();
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLifecycle qw(admin_auth);

my $MODULE = '/usr/lib/softhsm/libsofthsm2.so';
my @missing;
push @missing, 'softhsm2-util is not installed (Debian softhsm2)'
    unless run_cmd(['sh', '-c', 'command -v softhsm2-util'])->{rc} == 0;
push @missing, "$MODULE is missing" unless -e $MODULE;
push @missing, "OpenSSL has no pkcs11 engine (Debian libengine-pkcs11-openssl)"
    unless run_cmd(['openssl', 'engine', 'pkcs11', '-t'])->{rc} == 0;
plan skip_all => join('; ', @missing) if @missing;
# 13 tests a configuration, 3 more for manual approval in one of them
plan tests => 1 + 4 * 13 + 3 + 12 + 4 + 9 + 1;

######################################################################
# the token: SoftHSM2 with its own configuration and token folder

my $HSM = work_file('softhsm');
my $TOKENS = "$HSM/tokens";
mkpath($TOKENS);
write_file("$HSM/softhsm2.conf", "directories.tokendir = $TOKENS\nobjectstore.backend = file\n"
           . "log.level = ERROR\nslots.removable = false\n");
# read by softhsm2-util and by httpd (private_httpd passes %ENV on)
$ENV{SOFTHSM2_CONF} = "$HSM/softhsm2.conf";
my $PIN = write_file("$HSM/pin", "1234\n");
my $BAD_PIN = write_file("$HSM/pin-wrong", "9999\n");
chmod 0600, $PIN, $BAD_PIN;

{
    my $init = run_cmd(['softhsm2-util', '--init-token', '--free', '--label', 'scep',
                        '--pin', '1234', '--so-pin', '5678']);
    my %key = ('ca' => pki('ca.key'), 'ra' => pki('ra.key'), 'split-ca' => pki('split', 'ca.key'),
               'split-ra-sig' => pki('split', 'ra-sig.key'), 'split-ra-enc' => pki('split', 'ra-enc.key'));
    my ($id, @done, @why) = (0);
    for my $label (sort keys %key) {
        my $p8 = "$HSM/$label.p8";
        my $c = run_cmd(['openssl', 'pkcs8', '-topk8', '-nocrypt', '-in', $key{$label}, '-out', $p8]);
        my $i = run_cmd(['softhsm2-util', '--import', $p8, '--token', 'scep', '--label', $label,
                         '--id', sprintf('%02x', ++$id), '--pin', '1234']);
        if ($c->{rc} || $i->{rc}) { push @why, "$label: $c->{err} $i->{out} $i->{err}" }
        else { push @done, $label }
        unlink $p8;
    }
    ok(!$init->{rc} && @done == 5, 'a SoftHSM2 token "scep" with the five keys imported (PKCS#8)')
        or diag("$init->{out}$init->{err}", @why);
}

# pkcs11:token=scep;object=LABEL;type=private?PIN (PIN: pin-source of the PIN file)
sub uri {
    my ($label, %o) = @_;
    my $pin = $o{pin} // "pin-source=file:$PIN";
    my $token = $o{token} // 'scep';
    return "pkcs11:token=$token;object=$label;type=private?$pin";
}

######################################################################
# the configurations

my $CHAL_MAIN = challenge();
(my $CHAL_SPLIT = read_file(pki('split', 'challenge'))) =~ s/\s+\z//;
my %MAIN = (name => 'main', ca => pki('ca.pem'), enc => pki('ra.pem'), trust => pki('all.pem'),
            chal => $CHAL_MAIN);
my %SPLIT = (name => 'split', ca => pki('split', 'ca.pem'), enc => pki('split', 'ra-enc.pem'),
             chal => $CHAL_SPLIT,
             trust => write_file(work_file('split-trust', 'pem'), join '', map { read_file(pki('split', $_)) }
                                 qw(ra-sig.pem ra-enc.pem ca.pem)));

my $EVENT = 'LoadModule mpm_event_module "@MODULES@/mod_mpm_event.so"';

# conf(pki => \%MAIN | \%SPLIT, ca_key => ..., ra_key => ..., enc_key => ...,
#      mpm => lines): each key a file or a pkcs11: URI
sub conf {
    my (%o) = @_;
    my $split = $o{pki}{name} eq 'split';
    my $d = $split ? 'split/' : '';
    my $ra = $split ? <<"EOR" : <<"EOR";
SCEPRACertificateFile "\@PKI\@/split/ra-sig.pem"
SCEPRACertificateKeyFile "$o{ra_key}"
SCEPRAEncryptionCertificateFile "\@PKI\@/split/ra-enc.pem"
SCEPRAEncryptionCertificateKeyFile "$o{enc_key}"
EOR
SCEPRACertificateFile "\@PKI\@/ra.pem"
SCEPRACertificateKeyFile "$o{ra_key}"
EOR
    my $mpm = $o{mpm} // $EVENT;
    return <<"EOC";
\@HTTPD_BASE\@
$mpm
\@AUTH_MODULES\@
\@SQLITE_DB\@
SCEPPKCS11Module "$MODULE"
SCEPCACertificateFile "\@PKI\@/${d}ca.pem"
SCEPCACertificateKeyFile "$o{ca_key}"
$ra
<Location /scep>
    SetHandler scep
    SCEPChallengePasswordFile "\@PKI\@/${d}challenge"
    # micromdm's scepclient sends DES and SHA-1
    SCEPLegacyAlgorithms on
    SCEPRenewal on
</Location>
<Location /manual>
    SetHandler scep
    SCEPChallengePasswordFile "\@PKI\@/${d}challenge"
    SCEPApproval manual
</Location>
<Location /crl>
    SetHandler scep-crl
</Location>
<Location /health>
    SetHandler scep-health
</Location>
\@ADMIN\@
EOC
}

######################################################################
# what is done at each configuration

sub serial_of { my $f = shift; $f ? uc((cert_info($f) || {})->{serial} // '') : '' }
sub pub_of_key { run_cmd(['openssl', 'pkey', '-in', shift, '-pubout'])->{out} }
sub said {
    my ($resp, $rep) = @_;
    return "HTTP $resp->{status} " . substr($resp->{body} // '', 0, 200) if $resp->{status} != 200;
    return join ' ', map { "$_=" . ($rep->{$_} // '-') } qw(pkiStatus failInfo failInfoText verified rc err);
}

# a PKCSReq (or another message: build options) -> (req, resp, rep)
sub scep_send {
    my ($h, $P, %o) = @_;
    my $req = build_request(recipient => $P->{enc}, challenge => $P->{chal}, %{ $o{build} || {} });
    my $resp = send_request($req, port => $h->{port}, path => $o{path} || '/scep');
    my $rep = $resp->{status} == 200 && !$o{no_parse}
        ? parse_reply($resp, $o{decrypt_as} ? { %$req, %{ $o{decrypt_as} } } : $req, trust => $P->{trust})
        : {};
    return ($req, $resp, $rep);
}

sub issued_ok {
    my ($P, $rep) = @_;
    return ($rep->{pkiStatus} // '') eq '0' && ($rep->{verified} // '') eq '1'
        && $rep->{cert_file} && openssl_verify($P->{ca}, $rep->{cert_file});
}

sub health {
    my $h = shift;
    my $r = http(port => $h->{port}, path => '/health');
    $r->{json} = eval { JSON::PP->new->decode($r->{body}) } || {};
    return $r;
}

sub admin_post {
    my ($h, $rel, $body) = @_;
    return http(method => 'POST', port => $h->{port}, path => "/adm/api/$rel",
                headers => [admin_auth('alice'), 'Content-Type' => 'application/json'],
                body => $body // '');
}

# openssl crl -text of a CRL file, verified with the CA -> { ok, serials => {}, out }
sub crl_check {
    my ($P, $file, $form) = @_;
    my $r = run_cmd(['openssl', 'crl', '-inform', $form, '-in', $file, '-CAfile', $P->{ca},
                     '-noout', '-text']);
    my %s = map { norm_serial($_) => 1 } $r->{out} =~ /Serial Number:\s*([0-9A-Fa-f]+)/g;
    return { ok => ($r->{rc} == 0 && "$r->{out}$r->{err}" =~ /^verify OK$/m) ? 1 : 0,
             serials => \%s, out => "$r->{out}$r->{err}" };
}

# error, crit, alert, emerg lines and crashes in a private httpd's error_log
sub bad_lines {
    my ($h, $allow) = @_;
    my $log = eval { read_file("$h->{dir}/logs/error_log") } // '';
    return grep { (/\] \[(?:[\w.]+:)?(?:error|crit|alert|emerg)\] / || /Segmentation fault|exit signal|AH00052/)
                  && !($allow && $_ =~ $allow) } split /\n/, $log;
}

sub run_config {
    my ($name, $P, %o) = @_;
    my $h = private_httpd(name => $name, conf => conf(pki => $P, %o));
    ok($h->{ok}, "$name: httpd starts") or diag($h->{err});
    SKIP: {
        skip "$name: httpd did not start", 12 + ($o{manual} ? 3 : 0) unless $h->{ok};
        my $url = "http://127.0.0.1:$h->{port}/scep";
        my $hc = health($h);
        is($hc->{status}, 200, "$name: scep-health 200 (each key signs)") or diag($hc->{body});

        # scepreq: PKCSReq
        my ($req, $resp, $rep) = scep_send($h, $P, build => { subject => "/CN=p11-$name-1" });
        ok($resp->{status} == 200 && ($rep->{pkiStatus} // '') eq '0' && ($rep->{verified} // '') eq '1',
           "$name: scepreq enrolls (SUCCESS, the reply verifies with the RA)") or diag(said($resp, $rep));
        my $cert = $rep->{cert_file};
        ok($cert && openssl_verify($P->{ca}, $cert), "$name: the certificate verifies with the CA");

        # renewal: RenewalReq of a new key signed by the issued certificate
        my ($rq, $rr, $rn);
        if ($cert) {
            ($rq, $rr, $rn) = scep_send($h, $P, build => {
                subject => "/CN=p11-$name-1", type => 17, challenge => undef,
                args => ['--signer-cert', $cert, '--signer-key', $req->{key}] },
                decrypt_as => { key => $req->{key}, signer => $cert });
        }
        ok($rn && issued_ok($P, $rn), "$name: a RenewalReq signed by it: SUCCESS, the new certificate verifies")
            or diag($rn ? said($rr, $rn) : 'no certificate to renew');
        ok($rn && $rn->{cert_file} && ((cert_info($rn->{cert_file}) || {})->{pubkey} // '') eq pub_of_key($rq->{key})
           && serial_of($rn->{cert_file}) ne serial_of($cert),
           "$name: the renewed certificate carries the new key, under a new serial");

        # revocation through the admin API, the CRL over HTTP and by GetCRL
        my $serial = serial_of($cert);
        my $rv = admin_post($h, "certificates/$serial/revoke", '{"reason":"keyCompromise"}');
        is($rv->{status}, 200, "$name: the admin API revokes $serial") or diag($rv->{body});
        my $c = http(port => $h->{port}, path => '/crl');
        my $crl = $c->{status} == 200 ? crl_check($P, write_file(work_file('crl', 'der'), $c->{body}), 'DER')
                                      : { ok => 0, serials => {}, out => "HTTP $c->{status}" };
        ok($crl->{ok}, "$name: GET /crl (scep-crl): a CRL that verifies with the CA") or diag($crl->{out});
        ok($serial && $crl->{serials}{norm_serial($serial)}, "$name: it lists the revoked $serial")
            or diag($crl->{out});
        my ($gq, $gr) = scep_send($h, $P, build => {
            subject => '/CN=getcrl-asker', type => 22, challenge => undef,
            args => ['--issuer-serial', $P->{ca}] }, no_parse => 1);
        my $gcrl = work_file('getcrl', 'pem');
        my $gp = $gr->{status} == 200
            ? scepreq('parse', '-i', write_file(work_file('getcrl-rep', 'der'), $gr->{body}),
                      '--verify', $P->{trust}, '--key', $gq->{key}, '--signer-cert', $gq->{signer},
                      '--out-crl', $gcrl, '--expect-nonce', $gq->{nonce})
            : { rc => -1, out => '', err => "HTTP $gr->{status} $gr->{body}" };
        my $g = -s $gcrl ? crl_check($P, $gcrl, 'PEM') : { ok => 0, serials => {}, out => '' };
        ok($gp->{rc} == 0 && $gp->{out} =~ /^pkiStatus=0$/m && $g->{ok} && $g->{serials}{norm_serial($serial)},
           "$name: GetCRL: SUCCESS, a CRL that verifies with the CA and lists $serial")
            or diag("$gp->{out}$gp->{err}$g->{out}");

        # the real clients
        my $cm = certmonger_enroll(url => $url, cn => "cm-p11-$name", challenge => $P->{chal}, ca => $P->{ca});
        ok($cm->{status} eq 'MONITORING' && -s $cm->{cert} && openssl_verify($P->{ca}, $cm->{cert}),
           "$name: certmonger enrolls (MONITORING, the certificate verifies)")
            or diag("$cm->{status}: " . substr("$cm->{out}\n$cm->{err}", -600));
        my $mm = micromdm_enroll(url => $url, cn => "mm-p11-$name", challenge => $P->{chal});
        ok($mm->{rc} == 0 && -s $mm->{cert} && openssl_verify($P->{ca}, $mm->{cert}),
           "$name: micromdm scepclient enrolls (DES, SHA-1), the certificate verifies")
            or diag(substr("$mm->{out}\n$mm->{err}", 0, 600));

        # manual approval: PENDING, approved (the CA key signs then), polled
        if ($o{manual}) {
            my ($mq, $mr, $mp) = scep_send($h, $P, path => '/manual', build => { subject => "/CN=p11-$name-manual" });
            is($mp->{pkiStatus}, '3', "$name: at /manual (SCEPApproval manual): PENDING") or diag(said($mr, $mp));
            my $list = http(port => $h->{port}, path => '/adm/api/enrollments?status=PENDING&limit=1000',
                            headers => [admin_auth('alice')]);
            my ($e) = grep { ($_->{transaction_id} // '') eq ($mq->{tid} // '') }
                      @{ (eval { JSON::PP->new->decode($list->{body}) } || {})->{enrollments} || [] };
            my $ap = $e ? admin_post($h, "enrollments/$e->{id}/approve") : { status => 0, body => 'not listed' };
            is($ap->{status}, 200, "$name: approved through the admin API") or diag($ap->{body});
            my ($pq, $pr, $pp) = scep_send($h, $P, path => '/manual', build => {
                key => $mq->{key}, subject => $mq->{subject}, tid => $mq->{tid}, type => 20,
                challenge => undef, args => ['--issuer-subject', $P->{ca}] });
            ok(issued_ok($P, $pp) && ((cert_info($pp->{cert_file}) || {})->{pubkey} // '') eq pub_of_key($mq->{key}),
               "$name: CertPoll then gets the certificate, which verifies") or diag(said($pr, $pp));
        }

        my @bad = bad_lines($h);
        ok(!@bad, "$name: error_log: no [error] or worse, no crashed child") or diag(join "\n", @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);
    }
    private_httpd_stop($h);
}

######################################################################
# (a) CA key in the token, (b) RA key in the token (a pin-value), (c) both,
# (d) a split RA with the three keys in the token

run_config('ca-token', \%MAIN, ca_key => uri('ca'), ra_key => '@PKI@/ra.key');
run_config('ra-token', \%MAIN, ca_key => '@PKI@/ca.key', ra_key => uri('ra', pin => 'pin-value=1234'));
run_config('both-token', \%MAIN, ca_key => uri('ca'), ra_key => uri('ra'), manual => 1);
run_config('split-token', \%SPLIT, ca_key => uri('split-ca'), ra_key => uri('split-ra-sig'),
           enc_key => uri('split-ra-enc'));

######################################################################
# the token goes away while serving, then comes back (config c, one child
# with threads: one set of sessions, one health cache)

{
    my $h = private_httpd(name => 'token-gone', conf => conf(pki => \%MAIN, ca_key => uri('ca'), ra_key => uri('ra'),
        mpm => "$EVENT\nStartServers 1\nServerLimit 1\nThreadsPerChild 8\nMaxRequestWorkers 8\n"
             . "MinSpareThreads 1\nMaxSpareThreads 8"));
    ok($h->{ok}, 'token-gone: httpd starts (CA and RA keys in the token)') or diag($h->{err});
    SKIP: {
        skip 'token-gone: httpd did not start', 11 unless $h->{ok};
        my $n = 0;
        my $enroll = sub { scep_send($h, \%MAIN, build => { subject => '/CN=p11-gone-' . ++$n }) };
        my (undef, $resp, $rep) = $enroll->();
        ok(issued_ok(\%MAIN, $rep), 'token-gone: an enrollment while the token is there: SUCCESS')
            or diag(said($resp, $rep));
        is(health($h)->{status}, 200, 'token-gone: scep-health 200');
        my $rows0 = db_value('SELECT count(*) FROM scep_transactions', file => $h->{db});

        chmod 0000, $TOKENS;
        my ($q1, $r1) = $enroll->();
        ok($r1->{status} == 503 && $r1->{body} =~ /Service Unavailable: the (?:RA|CA)'s keys are unavailable/,
           "token-gone: token folder unreadable: an enrollment is a 503 naming the keys ($r1->{status})")
            or diag(said($r1, {}) . ' ' . substr($r1->{body} // '', 0, 300));
        sleep 6;    # past SCEP_KEY_REOPEN_SECONDS: this one tries to open the keys again, and cannot
        my ($q2, $r2) = $enroll->();
        ok($r2->{status} == 503 && $r2->{body} =~ /Service Unavailable: the (?:RA|CA)'s keys are unavailable/,
           "token-gone: 6 s later (the keys opened again, in vain): still a 503 ($r2->{status})")
            or diag(said($r2, {}) . ' ' . substr($r2->{body} // '', 0, 300));
        my $mine = db_value('SELECT count(*) FROM scep_transactions WHERE transaction_id IN ('
                            . join(',', map { "'$_->{tid}'" } $q1, $q2) . ')', file => $h->{db});
        my $rows1 = db_value('SELECT count(*) FROM scep_transactions', file => $h->{db});
        ok($mine == 0 && $rows1 == $rows0, "token-gone: nothing recorded for them ($mine rows for their "
           . "transactionIDs; $rows0 rows before, $rows1 after)");
        # the health check signs at most every 10 s per child
        my $t0 = time;
        my $hc = poll(15, sub { my $x = health($h); $x->{status} == 503 ? $x : undef }) || health($h);
        is($hc->{status}, 503, 'token-gone: scep-health 503 (after ' . (time - $t0) . ' s)')
            or diag($hc->{body});
        my $log = eval { read_file("$h->{dir}/logs/error_log") } // '';
        my @err = grep { /\] \[(?:[\w.]+:)?error\] .*SCEP00(?:210|205|372)/ } split /\n/, $log;
        ok(@err >= 2, 'token-gone: the failures are in error_log at [error] (SCEP00210/00205/00372: '
           . scalar(@err) . ' lines)') or diag(join "\n", grep { defined } (split /\n/, $log)[-30 .. -1]);
        unlike($log, qr/Segmentation fault|exit signal|AH00052/, 'token-gone: no child crashed');

        chmod 0700, $TOKENS;
        # the token is back; this child's libp11 (0.4.12) keeps the object
        # handles SoftHSM dropped, so the parent probes the token in a forked
        # process every 5 s and, once it answers, restarts the children
        # gracefully (README "Keys"): service comes back by itself
        my ($ok, @tries) = (0);
        my $until = time + 40;
        while (!$ok && time < $until) {
            my (undef, $r, $p) = $enroll->();
            $ok = issued_ok(\%MAIN, $p);
            push @tries, ($r->{status} == 200 ? 'pkiStatus=' . ($p->{pkiStatus} // '-') : "HTTP $r->{status}");
            sleep 1 unless $ok;
        }
        ok($ok, 'token-gone: the token back: enrollments succeed again by themselves (tries: '
           . join(', ', @tries) . ')');
        my $glog = eval { read_file("$h->{dir}/logs/error_log") } // '';
        like($glog, qr/SCEP00030: a child found the keys' token failing.*\n(?s:.*)SCEP00029: the keys' token answers again/,
             'token-gone: the parent said it probes the token (SCEP00030), then restarted the children (SCEP00029)');
        $t0 = time;
        $hc = poll(15, sub { my $x = health($h); $x->{status} == 200 ? $x : undef }) || health($h);
        is($hc->{status}, 200, 'token-gone: scep-health 200 again (after ' . (time - $t0) . ' s)')
            or diag($hc->{body});
    }
    chmod 0700, $TOKENS;
    private_httpd_stop($h);
}

# the same with only the RA encryption key in the token (split RA; the CA
# and RA signing keys are files, so a reply can still be signed): the
# envelope that the token cannot open is the token's failure, not the
# device's: a 503, nothing recorded
{
    my $h = private_httpd(name => 'enc-gone', conf => conf(pki => \%SPLIT, ca_key => '@PKI@/split/ca.key',
        ra_key => '@PKI@/split/ra-sig.key', enc_key => uri('split-ra-enc')));
    ok($h->{ok}, 'enc-gone: httpd starts (split RA, only the encryption key in the token)') or diag($h->{err});
    SKIP: {
        skip 'enc-gone: httpd did not start', 3 unless $h->{ok};
        my (undef, $resp, $rep) = scep_send($h, \%SPLIT, build => { subject => '/CN=p11-enc-gone-1' });
        ok(issued_ok(\%SPLIT, $rep), 'enc-gone: an enrollment while the token is there: SUCCESS')
            or diag(said($resp, $rep));
        chmod 0000, $TOKENS;
        my ($q, $r, $p) = scep_send($h, \%SPLIT, build => { subject => '/CN=p11-enc-gone-2' });
        chmod 0700, $TOKENS;
        ok($r->{status} == 503 && $r->{body} =~ /Service Unavailable: the (?:RA|CA)'s keys are unavailable/,
           "enc-gone: token folder unreadable: an enrollment is a 503 naming the keys")
            or diag(said($r, $p));
        my $rows = db_rows('SELECT status, fail_info, fail_text FROM scep_transactions WHERE transaction_id = '
                           . "'$q->{tid}'", file => $h->{db});
        ok(!@$rows, 'enc-gone: nothing recorded for it')
            or diag(join "\n", map { "recorded: $_->{status} fail_info=" . ($_->{fail_info} // '-') . ' '
                                     . ($_->{fail_text} // '') } @$rows);
    }
    chmod 0700, $TOKENS;
    private_httpd_stop($h);
}

######################################################################
# start-up errors: httpd does not start, SCEP00004 names the directive,
# the URI (without a PIN) and the token's error

sub refused {
    my ($name, $what, $ca_key, $want) = @_;
    my $h = private_httpd(name => $name, conf => conf(pki => \%MAIN, ca_key => $ca_key, ra_key => '@PKI@/ra.key'));
    my $out = "$h->{out}$h->{err}";
    ok(!$h->{ok}, "$what: httpd does not start");
    like($out, $want, '... SCEP00004 names the directive, the URI and the error') or diag($out);
    private_httpd_stop($h) if $h->{ok};
    return $out;
}

refused('bad-pin', 'a wrong PIN in the pin-source file', uri('ca', pin => "pin-source=file:$BAD_PIN"),
        qr/SCEP00004: SCEPCACertificateKeyFile pkcs11:token=scep;object=ca;type=private\?pin-source=file:\S*pin-wrong .*PIN incorrect/);
refused('bad-object', 'an unknown object label', uri('no-such-key'),
        qr/SCEP00004: SCEPCACertificateKeyFile pkcs11:token=scep;object=no-such-key;type=private.*object not found/);
refused('bad-token', 'an unknown token label', uri('ca', token => 'no-such-token'),
        qr/SCEP00004: SCEPCACertificateKeyFile pkcs11:token=no-such-token;object=ca;type=private.*(?:object|token) not found/);
my $out = refused('bad-pin-value', 'a wrong pin-value', uri('ca', pin => 'pin-value=4321'),
                  qr/SCEP00004: SCEPCACertificateKeyFile pkcs11:token=scep;object=ca;type=private\?pin-value=\*\*\* .*PIN incorrect/);
# (the lines without their time stamps and pids, which may hold any digits)
my @said;
for my $l (grep { /pkcs11|PIN|SCEP0/ } split /\n/, $out) {
    $l =~ s/^\[[^\]]*\]\s*//;
    $l =~ s/\[pid [^\]]*\]//g;
    push @said, $l;
}
ok(@said && !grep({ /4321/ } @said), 'the wrong pin-value is shown nowhere (pin-value=***)')
    or diag(join "\n", @said);

error_log_clean();
