# CA rollover (README "SCEPNextCACertificateKeyFile", "SCEPNextCASwitchTime",
# "SCEPPreviousCA"), in one private httpd whose SQLite database is kept across
# three configurations:
#   1. the next CA and its keys, the switch-over a month ahead: the current
#      CA issues to a small fleet (scepreq, certmonger, micromdm scepclient),
#      GetNextCACert is offered;
#   2. the same with the switch-over passed: GetCACert answers the next RA
#      and CA, new certificates come from CA 2, the old CA's certificates
#      renew into CA 2 (RenewalReq, PKCSReq signed by the old certificate,
#      certmonger's resubmission), a device that still encrypts to the old RA
#      enrolls, GetCert / GetCRL / the CRLs at /crl/ID / OCSP / admin revoke
#      and the admin's per-CA views work for the certificates of both CAs;
#   3. the switch made by reloading: SCEPCACertificateFile is CA 2, the old
#      CA is an SCEPPreviousCA: its CRL, GetCert, OCSP, revocation and renewal
#      still work.
# Then what stops httpd: a switch time without the next CA's key, a next CA
# key that is not the next CA's, a malformed switch time; and the default
# switch time (the next CA's notBefore).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use Digest::SHA ();
use JSON::PP ();
use POSIX ();
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLifecycle qw(admin_auth issued_cert q_str);

plan tests => 82;

my $CA1 = pki('ca.pem');
my $CA2 = pki('next', 'ca.pem');
my $ALL1 = pki('all.pem');                               # old RA + old CA
my $RA1 = pki('ra.pem');                                 # the old RA alone
my $ALL2 = write_file(work_file('next-all', 'pem'),      # next RA + next CA
                      read_file(pki('next', 'ra.pem')) . read_file($CA2));
my $RA1_SUBJECT = 'CN=mod_scep Test CA RA,O=mod_scep';
my $RA2_SUBJECT = 'CN=mod_scep Test CA 2 RA,O=mod_scep';

# a CA's ID (/crl/ID, ADMIN/ca/ID/, %{CA}) and its fingerprint (the ca column)
sub ca_fp { lc Digest::SHA::sha256_hex(pem_file_der(shift)) }
sub ca_id { substr(ca_fp(shift), 0, 16) }
my ($FP1, $FP2) = (ca_fp($CA1), ca_fp($CA2));
my ($ID1, $ID2) = (ca_id($CA1), ca_id($CA2));

sub utc { POSIX::strftime('%Y-%m-%dT%H:%M:%SZ', gmtime shift) }
# within the next CA's validity, a month ahead
my $FUTURE = utc(time + 30 * 86400);

my $HAVE_CM = -x '/usr/bin/getcert' && -x '/usr/bin/dbus-run-session'
              && -x '/usr/lib/certmonger/scep-submit';
my $HAVE_MM = grep { -x "$_/scepclient" } split /:/, $ENV{PATH} // '';

######################################################################
# the instance

my $LOCATIONS = <<'EOC';
<Location /scep>
    SetHandler scep
    SCEPChallengePasswordFile "@PKI@/challenge"
    SCEPRenewal on
    SCEPValidity 365d
    SCEPCRLDistributionPoint "http://127.0.0.1:@PORT@/crl/%{CA}"
</Location>
# micromdm scepclient: single DES + SHA-1
<Location /scep-legacy>
    SetHandler scep
    SCEPChallengePasswordFile "@PKI@/challenge"
    SCEPLegacyAlgorithms on
    SCEPRenewal on
    SCEPValidity 365d
    SCEPCRLDistributionPoint "http://127.0.0.1:@PORT@/crl/%{CA}"
</Location>
<Location /crl>
    SetHandler scep-crl
</Location>
<Location /ocsp>
    SetHandler scep-ocsp
</Location>
<Location /admin>
    SetHandler scep-admin
    AuthType Basic
    AuthName "mod_scep rollover"
    AuthUserFile "@PKI@/../../lifecycle/admins.htpasswd"
    Require valid-user
</Location>
EOC

my $OLD_CA = <<'EOC';
SCEPCACertificateFile "@PKI@/ca.pem"
SCEPCACertificateKeyFile "@PKI@/ca.key"
SCEPRACertificateFile "@PKI@/ra.pem"
SCEPRACertificateKeyFile "@PKI@/ra.key"
EOC
my $NEXT_CA = <<'EOC';
SCEPNextCACertificateFile "@PKI@/next/ca.pem"
SCEPNextCACertificateKeyFile "@PKI@/next/ca.key"
SCEPNextRACertificateFile "@PKI@/next/ra.pem"
SCEPNextRACertificateKeyFile "@PKI@/next/ra.key"
EOC
my $RELOADED_CA = <<'EOC';
SCEPCACertificateFile "@PKI@/next/ca.pem"
SCEPCACertificateKeyFile "@PKI@/next/ca.key"
SCEPRACertificateFile "@PKI@/next/ra.pem"
SCEPRACertificateKeyFile "@PKI@/next/ra.key"
SCEPPreviousCA "@PKI@/ca.pem" "@PKI@/ca.key"
EOC

sub conf_text {
    my ($ca) = @_;
    return "\@HTTPD_BASE\@\n"
         . "LoadModule mpm_event_module \"\@MODULES\@/mod_mpm_event.so\"\n"
         . "\@AUTH_MODULES\@\n\@SQLITE_DB\@\n"
         . "# rollover CA begin\n$ca# rollover CA end\n"
         . $LOCATIONS;
}

my $h = private_httpd(name => 'rollover',
                      conf => conf_text($OLD_CA . $NEXT_CA . "SCEPNextCASwitchTime $FUTURE\n"));
my $PORT = $h->{port};
my $URL = "http://127.0.0.1:$PORT";
END { private_httpd_stop($h) if $h && $h->{ok} && -e "$h->{dir}/logs/httpd.pid" }

# stop, put another CA block into the instance's configuration, start again
# on the same database and port
sub reconfigure {
    my ($block) = @_;
    my $pki = pki();
    (my $b = $block) =~ s/\@PKI\@/$pki/g;
    my $text = read_file($h->{conf});
    $text =~ s/(# rollover CA begin\n).*?(# rollover CA end\n)/$1$b$2/s
        or die "no CA block in $h->{conf}";
    private_httpd_stop($h);
    write_file($h->{conf}, $text);
    return private_httpd_start_again($h);
}

sub log_tail {
    my @l = split /\n/, eval { read_file("$h->{dir}/logs/error_log") } // '';
    return join "\n", @l > 15 ? @l[-15 .. -1] : @l;
}

######################################################################
# helpers

sub rows { db_rows(shift, file => $h->{db}) }
sub api_serial { my $f = shift; $f ? uc((cert_info($f) || {})->{serial} // '') : '' }
sub subject_of { my $f = shift; $f ? (cert_info($f) || {})->{subject} // '' : '' }
sub pub_of_key { run_cmd(['openssl', 'pkey', '-in', shift, '-pubout'])->{out} }
sub pub_of_cert { my $f = shift; $f ? (cert_info($f) || {})->{pubkey} // '' : '' }
sub ca_of_serial {
    my $r = rows('SELECT lower(ca) AS ca FROM scep_certificates WHERE serial = ' . q_str(shift));
    return @$r ? $r->[0]{ca} : '(not recorded)';
}
sub cdp_of {
    my $f = shift or return '';
    return run_cmd(['openssl', 'x509', '-in', $f, '-noout', '-ext', 'crlDistributionPoints'])->{out};
}
# issued by this CA and not by the other
sub from_ca {
    my ($f, $ca) = @_;
    my $other = $ca eq $CA1 ? $CA2 : $CA1;
    return $f && openssl_verify($ca, $f) && !openssl_verify($other, $f) ? 1 : 0;
}
sub rep_diag {
    my $rep = shift // {};
    diag('http=' . ($rep->{http} // '200') . ' pkiStatus=' . ($rep->{pkiStatus} // '-')
         . ' failInfo=' . ($rep->{failInfo} // '-') . ' ' . ($rep->{failInfoText} // '')
         . ' verified=' . ($rep->{verified} // '-') . ' signer=' . ($rep->{signerSubject} // '-')
         . ' ' . ($rep->{err} // ''));
}

# a copy of an issued certificate (parse_reply's file is a scratch file)
sub keep {
    my ($f, $name) = @_;
    return undef unless $f && -s $f;
    return write_file(work_file($name, 'pem'), read_file($f));
}

# SCEP at the instance: a message built for RECIPIENT (a file of the
# GetCACert certificates the device holds), the reply verified with TRUST
sub exchange {
    my ($req, %o) = @_;
    my $resp = send_request($req, port => $PORT, path => $o{path} || '/scep');
    my $as = $o{decrypt_as} || $req;
    return { http => $resp->{status} } unless $resp->{status} == 200;
    return parse_reply($resp, $as, trust => $o{trust} || $ALL1);
}

# an enrollment with scepreq: { req, rep, cert, serial }
sub scep_enroll {
    my ($cn, %o) = @_;
    my $req = build_request(subject => "/CN=$cn", recipient => $o{recipient} || $ALL1);
    my $rep = exchange($req, %o);
    my $cert = keep(issued_cert($rep), $cn);
    rep_diag($rep) unless $cert;
    return { req => $req, rep => $rep, cert => $cert, serial => api_serial($cert), cn => $cn };
}

# a renewal of OLD (an scep_enroll result) with a new key, signed by the old
# certificate: type 17 (RenewalReq) or 19 (PKCSReq); the reply is decrypted
# with the old key
sub renew {
    my ($old, %o) = @_;
    return { rep => {}, cert => undef, serial => '', req => {} } unless $old && $old->{cert};
    my $req = build_request(key => new_key(), subject => "/CN=$old->{cn}", type => $o{type} || 17,
                            challenge => undef, recipient => $o{recipient} || $ALL1,
                            args => ['--signer-cert', $old->{cert}, '--signer-key', $old->{req}{key}]);
    my $rep = exchange($req, %o, decrypt_as => { %$req, key => $old->{req}{key}, signer => $old->{cert} });
    my $cert = keep(issued_cert($rep), "$old->{cn}-renewed");
    rep_diag($rep) unless $cert;
    return { req => $req, rep => $rep, cert => $cert, serial => api_serial($cert) };
}

# GetCert (21) for CERT's IssuerAndSerialNumber: the certificate returned, DER
sub getcert_der {
    my ($cert, %o) = @_;
    my $req = build_request(subject => '/CN=getcert-asker', type => 21, challenge => undef,
                            recipient => $o{recipient} || $ALL2, args => ['--issuer-serial', $cert]);
    my $rep = exchange($req, trust => $o{trust} || $ALL2);
    my $f = issued_cert($rep);
    rep_diag($rep) unless $f;
    return $f ? pem_file_der($f) // '' : '';
}

# GetCRL (22) naming ISSUER (a CA certificate, sscep's way): the CRL (PEM
# file) or undef
sub getcrl {
    my ($issuer, %o) = @_;
    my $req = build_request(subject => '/CN=getcrl-asker', type => 22, challenge => undef,
                            recipient => $o{recipient} || $ALL2, args => ['--issuer-serial', $issuer]);
    my $resp = send_request($req, port => $PORT, path => '/scep');
    unless ($resp->{status} == 200) {
        diag("GetCRL: HTTP $resp->{status}");
        return undef;
    }
    my $in = write_file(work_file('getcrl-rep', 'der'), $resp->{body});
    my $crl = work_file('getcrl', 'pem');
    my $r = scepreq('parse', '-i', $in, '--verify', $o{trust} || $ALL2, '--key', $req->{key},
                    '--signer-cert', $req->{signer}, '--out-crl', $crl, '--expect-nonce', $req->{nonce});
    my %rep = $r->{out} =~ /^(\w+)=(.*)$/mg;
    $rep{err} = $r->{err};
    return $crl if $r->{rc} == 0 && ($rep{pkiStatus} // '') eq '0' && -s $crl;
    rep_diag(\%rep);
    return undef;
}

# openssl crl -CAfile CA of a CRL file -> { verify_ok, issuer, revoked => {SERIAL => 1}, text }
sub crl_info {
    my ($file, $ca, $form) = @_;
    return { verify_ok => 0, revoked => {}, issuer => '', text => '(no CRL)' } unless $file && -s $file;
    my $r = run_cmd(['openssl', 'crl', '-inform', $form || 'DER', '-in', $file, '-CAfile', $ca,
                     '-noout', '-text']);
    my %i = (text => "$r->{out}$r->{err}",
             verify_ok => ("$r->{out}$r->{err}" =~ /^verify OK$/m ? 1 : 0));
    ($i{issuer}) = $r->{out} =~ /Issuer:\s*(.+?)\s*$/m;
    $i{issuer} //= '';
    my %rev;
    $rev{ norm_serial($1) } = 1 while $r->{out} =~ /Serial Number:\s*([0-9A-Fa-f]+)/g;
    $i{revoked} = \%rev;
    return \%i;
}

# GET a CRL over HTTP -> (status, crl_info with CA)
sub crl_http {
    my ($path, $ca) = @_;
    my $r = http(port => $PORT, path => $path);
    return ($r->{status}, { verify_ok => 0, revoked => {}, issuer => '', text => "HTTP $r->{status}" })
        unless $r->{status} == 200;
    my $f = write_file(work_file('crl', 'der'), $r->{body});
    return ($r->{status}, crl_info($f, $ca));
}

sub issuer_is {
    my ($info, $ca) = @_;
    my $cn = $ca eq $CA1 ? 'mod_scep Test CA' : 'mod_scep Test CA 2';
    return $info->{issuer} =~ /CN\s*=\s*\Q$cn\E(?:,|$)/ ? 1 : 0;
}

# openssl ocsp at /ocsp for CERT of CA -> 'good' | 'revoked' | ..., with
# ' (not verified)' when the response does not verify with the CA
sub ocsp_status {
    my ($cert, $ca) = @_;
    return 'no certificate' unless $cert;
    my $r = run_cmd(['openssl', 'ocsp', '-issuer', $ca, '-cert', $cert, '-url', "$URL/ocsp",
                     '-CAfile', $ca, '-no_nonce', '-resp_text']);
    my ($st) = $r->{out} =~ /^\Q$cert\E: (\w+)/m;
    $st //= "none ($r->{err})";
    $st .= ' (not verified)' unless $r->{err} =~ /Response verify OK/;
    return $st;
}

# the admin API of the instance: admin_api(GET => '/admin/api/...')
sub admin_api {
    my ($method, $path, %o) = @_;
    my @hd = admin_auth('alice');
    my $body;
    if ($method eq 'POST') {
        push @hd, 'Content-Type' => 'application/json';
        $body = $o{json} ? JSON::PP->new->canonical->encode($o{json}) : '{}';
    }
    my $r = http(port => $PORT, method => $method, path => $path, headers => \@hd, body => $body);
    $r->{json} = eval { JSON::PP->new->decode($r->{body}) }
        if ($r->{headers}{'content-type'} // '') =~ m{^application/json};
    return $r;
}
sub revoke {
    my ($serial, $reason) = @_;
    my $r = admin_api(POST => "/admin/api/certificates/$serial/revoke",
                      json => { reason => $reason || 'keyCompromise' });
    diag("revoke $serial: $r->{status} $r->{body}") unless $r->{status} == 200;
    return $r->{status};
}
sub tids_of {
    my $r = shift;
    return {} unless $r->{status} == 200 && $r->{json};
    return { map { ($_->{transaction_id} // '') => 1 } @{ $r->{json}{enrollments} || [] } };
}

# GetCACert: (response, the CNs of the certificates in it, sorted)
sub cacert {
    my $r = http(port => $PORT, path => '/scep?operation=GetCACert');
    return ($r, '') unless $r->{status} == 200;
    my $f = write_file(work_file('getcacert', 'p7'), $r->{body});
    my $out = run_cmd(['openssl', 'pkcs7', '-inform', 'DER', '-in', $f, '-print_certs', '-noout'])->{out};
    my @cn = sort $out =~ /^subject=.*?CN\s*=\s*([^,\n]+?)\s*$/mg;
    $r->{file} = $f;
    return ($r, join '|', @cn);
}
sub caps { http(port => $PORT, path => '/scep?operation=GetCACaps')->{body} // '' }

# a certmonger session on the fleet's certmonger directory
my $CMD = work_file('certmonger-roll');
sub cm_status { my $out = shift; (($out // '') =~ /^\s*status:\s*(\S+)/m)[0] // '' }

######################################################################
# 1. before the switch-over
ok($h->{ok}, "httpd starts with the next CA's keys and SCEPNextCASwitchTime $FUTURE")
    or diag($h->{err});
my (@old, $cm_old, $mm_old);
SKIP: {
    skip 'the rollover httpd did not start', 10 unless $h->{ok};
    like(caps(), qr/^GetNextCACert$/m, 'before the switch-over: GetCACaps lists GetNextCACert');
    my (undef, $cns) = cacert();
    is($cns, 'mod_scep Test CA|mod_scep Test CA RA', 'GetCACert: the current RA and CA');
    is(http(port => $PORT, path => '/scep?operation=GetNextCACert')->{status}, 200,
       'GetNextCACert answers');

    @old = map { scep_enroll("roll-old-$_") } 1 .. 5;
    ok(!grep({ !$_->{cert} || !from_ca($_->{cert}, $CA1) } @old),
       'five scepreq enrollments: SUCCESS, each certificate from the current CA (verifies with ca.pem only)');
    like(cdp_of($old[0]{cert}), qr{URI:http://127\.0\.0\.1:$PORT/crl/$ID1$}m,
         "their CRL distribution point is /crl/$ID1 (%{CA} of the current CA)");
    is(ca_of_serial($old[0]{serial}), $FP1, 'recorded under the current CA');

    SKIP: {
        skip 'certmonger is not installed', 2 unless $HAVE_CM;
        my $chal = challenge();
        $chal =~ s/'/'\\''/g;
        # no -N (signing CA): certmonger pinned to the old CA looks for an RA
        # issued by it in GetCACert's answer, and after the switch-over, not
        # finding one, encrypts to the old CA's own certificate, which no RA
        # decrypts; unpinned, it takes the RA and CA GetCACert answers
        my $cm = certmonger_session($CMD, [
            "getcert add-scep-ca -s -c roll -u '$URL/scep'",
            "timeout 60 getcert request -s -c roll -I cmroll -f $CMD/out/cert.pem -k $CMD/out/key.pem"
                . " -L '$chal' -N CN=cm-roll -w -v",
            'getcert list -s -i cmroll'], timeout => 90);
        is(cm_status($cm->{out}), 'MONITORING', 'certmonger enrolls: MONITORING')
            or diag("$cm->{out}\n$cm->{err}");
        $cm_old = keep("$CMD/out/cert.pem", 'cm-roll-old');
        ok(from_ca($cm_old, $CA1), "certmonger's certificate is from the current CA");
    }
    SKIP: {
        skip 'micromdm scepclient is not installed', 2 unless $HAVE_MM;
        my $mm = micromdm_enroll(url => "$URL/scep-legacy", cn => 'mm-roll-1');
        is($mm->{rc}, 0, 'micromdm scepclient enrolls: exit 0') or diag("$mm->{out}\n$mm->{err}");
        $mm_old = keep($mm->{cert}, 'mm-roll-1');
        ok(from_ca($mm_old, $CA1), "scepclient's certificate is from the current CA");
    }
}

######################################################################
# 2. the switch-over has passed (a second after the next CA's notBefore)
my $nb = SCEPLifecycle::openssl_time((run_cmd(['openssl', 'x509', '-in', $CA2, '-noout', '-startdate'])
                                      ->{out} =~ /notBefore=(.+)$/m)[0]) // 0;
sleep($nb + 2 - time) if $nb + 2 > time;
my $PAST = utc($nb + 1);
my $up2 = $h->{ok} && reconfigure($OLD_CA . $NEXT_CA . "SCEPNextCASwitchTime $PAST\n");
ok($up2, "restarted with SCEPNextCASwitchTime $PAST (passed)") or diag(log_tail());
my ($new1, $new2);
SKIP: {
    skip 'the rollover httpd did not start again', 46 unless $up2;
    my ($cr, $cns) = cacert();
    is($cns, 'mod_scep Test CA 2|mod_scep Test CA 2 RA', 'after the switch-over GetCACert answers the next RA and CA');
    my $rcpt2 = $cr->{file} // $ALL2;    # what a device fetching GetCACert now holds
    unlike(caps(), qr/GetNextCACert/, 'GetCACaps no longer lists GetNextCACert');
    is(http(port => $PORT, path => '/scep?operation=GetNextCACert')->{status}, 404, 'GetNextCACert: 404');

    # a device that fetched GetCACert after the switch-over
    $new1 = scep_enroll('roll-new-1', recipient => $rcpt2, trust => $ALL2);
    is($new1->{rep}{pkiStatus}, '0', 'a new enrollment (encrypted to the next RA): SUCCESS');
    ok(($new1->{rep}{verified} // 0) == 1 && ($new1->{rep}{signerSubject} // '') eq $RA2_SUBJECT,
       'the reply is signed by the next RA') or rep_diag($new1->{rep});
    ok(from_ca($new1->{cert}, $CA2), 'the certificate is from CA 2 (verifies with next/ca.pem only)');
    is(ca_of_serial($new1->{serial}), $FP2, 'and recorded under CA 2');
    like(cdp_of($new1->{cert}), qr{URI:http://127\.0\.0\.1:$PORT/crl/$ID2$}m,
         "its CRL distribution point is /crl/$ID2");

    # a device that still holds the old GetCACert
    my $stale = scep_enroll('roll-stale-ra', recipient => $RA1, trust => $ALL1);
    is($stale->{rep}{pkiStatus}, '0', 'a device encrypting to the old RA still enrolls: SUCCESS');
    ok(($stale->{rep}{verified} // 0) == 1 && ($stale->{rep}{signerSubject} // '') eq $RA1_SUBJECT,
       'the reply is signed by the old RA it encrypted to (verifies with all.pem)')
        or rep_diag($stale->{rep});
    ok(from_ca($stale->{cert}, $CA2), 'and its certificate is from CA 2');

    # the old CA's certificates renew into CA 2
    my $r1 = renew($old[0], type => 17, recipient => $rcpt2, trust => $ALL2);
    is($r1->{rep}{pkiStatus}, '0', 'RenewalReq signed by a certificate of the old CA: SUCCESS');
    ok(from_ca($r1->{cert}, $CA2) && subject_of($r1->{cert}) eq 'CN=roll-old-1'
       && pub_of_cert($r1->{cert}) eq pub_of_key($r1->{req}{key}),
       'the renewed certificate is from CA 2, keeps the subject, certifies the new key');
    my $t1 = rows('SELECT renewal_of FROM scep_transactions WHERE serial = ' . q_str($r1->{serial}))->[0] || {};
    my $o1 = rows('SELECT renewed_by FROM scep_certificates WHERE serial = ' . q_str($old[0]{serial}))->[0] || {};
    ok(norm_serial($t1->{renewal_of}) eq norm_serial($old[0]{serial}) && $r1->{serial} ne ''
       && norm_serial($o1->{renewed_by}) eq norm_serial($r1->{serial}),
       'recorded as its renewal (renewal_of; the old record names its successor)')
        or diag(explain([$t1, $o1]));

    my $r2 = renew($old[1], type => 19, recipient => $RA1, trust => $ALL1);
    is($r2->{rep}{pkiStatus}, '0', 'PKCSReq signed by an old certificate, encrypted to the old RA: SUCCESS');
    ok(from_ca($r2->{cert}, $CA2) && ($r2->{rep}{signerSubject} // '') eq $RA1_SUBJECT,
       'a certificate from CA 2, in a reply signed by the old RA');
    my $t2 = rows('SELECT renewal_of FROM scep_transactions WHERE serial = ' . q_str($r2->{serial}))->[0] || {};
    is(norm_serial($t2->{renewal_of}), norm_serial($old[1]{serial}), 'recorded as a renewal');

    SKIP: {
        skip 'certmonger is not installed', 3 unless $HAVE_CM;
        skip 'certmonger got no certificate before the switch-over', 3 unless $cm_old;
        my $cert = "$CMD/out/cert.pem";
        my $cm = certmonger_session($CMD, [
            "old=\$(openssl x509 -in $cert -noout -serial)",
            'getcert resubmit -s -i cmroll',
            'i=0; while [ $i -lt 120 ]; do i=$((i+1)); sleep 0.5;'
                . ' s=$(getcert list -s -i cmroll | sed -n "s/^[[:space:]]*status: //p");'
                . " new=\$(openssl x509 -in $cert -noout -serial 2>/dev/null);"
                . ' case "$s" in MONITORING) [ "$new" != "$old" ] && break;;'
                . ' CA_REJECTED|NEED_GUIDANCE|CA_UNCONFIGURED) break;; esac; done',
            'getcert list -s -i cmroll'], timeout => 100);
        is(cm_status($cm->{out}), 'MONITORING', 'certmonger resubmits its request: MONITORING')
            or diag("$cm->{out}\n$cm->{err}");
        my $cm_new = keep($cert, 'cm-roll-new');
        my $cm_serial = api_serial($cm_new);
        ok($cm_serial ne api_serial($cm_old) && from_ca($cm_new, $CA2)
           && subject_of($cm_new) eq 'CN=cm-roll',
           "certmonger's new certificate is from CA 2") or diag(cdp_of($cm_new), $cm->{out});
        my $t = rows('SELECT renewal_of FROM scep_transactions WHERE serial = ' . q_str($cm_serial))->[0] || {};
        is(norm_serial($t->{renewal_of}), norm_serial(api_serial($cm_old)),
           'a renewal signed with its old certificate (renewal_of recorded)');
    }
    SKIP: {
        skip 'micromdm scepclient is not installed', 2 unless $HAVE_MM;
        my $mm = micromdm_enroll(url => "$URL/scep-legacy", cn => 'mm-roll-2');
        is($mm->{rc}, 0, 'micromdm scepclient enrolls after the switch-over: exit 0')
            or diag("$mm->{out}\n$mm->{err}");
        ok(from_ca($mm->{cert}, $CA2), "scepclient's certificate is from CA 2");
    }

    # GetCert and GetCRL name the issuer
    my $s3 = $old[2];
    ok($s3->{cert} && getcert_der($s3->{cert}) eq pem_file_der($s3->{cert}),
       'GetCert for a serial of the old CA: that certificate');
    ok($new1->{cert} && getcert_der($new1->{cert}) eq pem_file_der($new1->{cert}),
       'GetCert for a serial of CA 2: that certificate');
    my $g1 = crl_info(getcrl($CA1), $CA1, 'PEM');
    ok($g1->{verify_ok} && issuer_is($g1, $CA1), "GetCRL naming the old CA: its CRL, signed by it")
        or diag($g1->{text});
    my $g2 = crl_info(getcrl($CA2), $CA2, 'PEM');
    ok($g2->{verify_ok} && issuer_is($g2, $CA2), 'GetCRL naming CA 2: its CRL, signed by it')
        or diag($g2->{text});

    # the CRLs over HTTP
    my ($st, $c) = crl_http('/crl', $CA1);
    ok($st == 200 && $c->{verify_ok} && issuer_is($c, $CA1),
       "/crl: the CRL of SCEPCACertificateFile's CA (verifies with ca.pem)") or diag($c->{text});
    ($st, $c) = crl_http("/crl/$ID1", $CA1);
    ok($st == 200 && $c->{verify_ok} && issuer_is($c, $CA1), "/crl/$ID1: the old CA's CRL, verify OK")
        or diag($c->{text});
    ($st, $c) = crl_http("/crl/$ID2", $CA2);
    ok($st == 200 && $c->{verify_ok} && issuer_is($c, $CA2), "/crl/$ID2: CA 2's CRL, verify OK")
        or diag($c->{text});
    is(http(port => $PORT, path => '/crl/0123456789abcdef')->{status}, 404, '/crl/<unknown ID>: 404');
    # the URL each certificate names serves its own CA's CRL
    for my $case ([$old[0]{cert}, $CA1, 'a certificate of the old CA'], [$new1->{cert}, $CA2, 'a certificate of CA 2']) {
        my ($cert, $ca, $what) = @$case;
        my ($url) = cdp_of($cert) =~ m{URI:http://127\.0\.0\.1:$PORT(/\S+)};
        ($st, $c) = crl_http($url // '/no-distribution-point', $ca);
        ok($st == 200 && $c->{verify_ok} && issuer_is($c, $ca),
           "the CRL distribution point of $what (" . ($url // 'none') . ") serves its CA's CRL")
            or diag($c->{text});
    }

    # OCSP for both CAs
    is(ocsp_status($s3->{cert}, $CA1), 'good', 'OCSP, a certificate of the old CA: good');
    is(ocsp_status($new1->{cert}, $CA2), 'good', 'OCSP, a certificate of CA 2: good');

    # revoked through the admin API: one of each
    is(revoke($s3->{serial}), 200, "revoke a certificate of the old CA through /admin/api: 200");
    is(revoke($new1->{serial}), 200, 'revoke a certificate of CA 2 through /admin/api: 200');
    ($st, $c) = crl_http("/crl/$ID1", $CA1);
    ok($c->{verify_ok} && $c->{revoked}{ norm_serial($s3->{serial}) }
       && !$c->{revoked}{ norm_serial($new1->{serial}) },
       "the old CA's CRL lists its revoked certificate, not CA 2's") or diag($c->{text});
    ($st, $c) = crl_http("/crl/$ID2", $CA2);
    ok($c->{verify_ok} && $c->{revoked}{ norm_serial($new1->{serial}) }
       && !$c->{revoked}{ norm_serial($s3->{serial}) },
       "CA 2's CRL lists its revoked certificate, not the old CA's") or diag($c->{text});
    is(ocsp_status($s3->{cert}, $CA1), 'revoked', 'OCSP: the old CA\'s certificate is revoked');
    is(ocsp_status($new1->{cert}, $CA2), 'revoked', "OCSP: CA 2's certificate is revoked");

    # the admin pages of each CA
    is(admin_api(GET => "/admin/ca/$ID1/api/certificates/$old[0]{serial}")->{status}, 200,
       "/admin/ca/$ID1/: a certificate of the old CA");
    is(admin_api(GET => "/admin/ca/$ID2/api/certificates/$new1->{serial}")->{status}, 200,
       "/admin/ca/$ID2/: a certificate of CA 2");
    is(admin_api(GET => "/admin/api/certificates/$old[0]{serial}")->{status}, 200,
       '/admin/api/ (the active CA, CA 2) finds a certificate of the old CA by its serial');
    ok(tids_of(admin_api(GET => '/admin/api/enrollments?limit=1000'))->{ $new1->{req}{tid} },
       "/admin/api/enrollments (the active CA, CA 2) lists CA 2's enrollment");
    my $l1 = tids_of(admin_api(GET => "/admin/ca/$ID1/api/enrollments?limit=1000"));
    ok($l1->{ $old[0]{req}{tid} } && !$l1->{ $new1->{req}{tid} },
       "/admin/ca/$ID1/api/enrollments lists the old CA's enrollments, not CA 2's");
    is(admin_api(GET => '/admin/ca/ffffffffffffffff/api/enrollments')->{status}, 404,
       '/admin/ca/<unknown ID>/: 404');
}

######################################################################
# 3. the switch made by a reload: CA 2 in SCEPCACertificateFile, the old CA
# an SCEPPreviousCA
my $up3 = $h->{ok} && reconfigure($RELOADED_CA);
ok($up3, 'restarted with SCEPCACertificateFile next/ca.pem and SCEPPreviousCA ca.pem')
    or diag(log_tail());
SKIP: {
    skip 'the rollover httpd did not start again', 15 unless $up3;
    my (undef, $cns) = cacert();
    is($cns, 'mod_scep Test CA 2|mod_scep Test CA 2 RA', 'GetCACert: the RA and CA 2');
    unlike(caps(), qr/GetNextCACert/, 'GetCACaps does not list GetNextCACert');
    my ($st, $c) = crl_http('/crl', $CA2);
    ok($st == 200 && $c->{verify_ok} && issuer_is($c, $CA2), '/crl: now the CRL of CA 2')
        or diag($c->{text});
    ($st, $c) = crl_http("/crl/$ID1", $CA1);
    ok($st == 200 && $c->{verify_ok} && issuer_is($c, $CA1)
       && $c->{revoked}{ norm_serial($old[2]{serial} // '') },
       "/crl/$ID1: the previous CA's CRL, signed by it, still listing its revocation") or diag($c->{text});
    ($st, $c) = crl_http("/crl/$ID2", $CA2);
    ok($st == 200 && $c->{verify_ok} && $c->{revoked}{ norm_serial(($new1 || {})->{serial} // '') },
       "/crl/$ID2: CA 2's CRL") or diag($c->{text});

    my $s4 = $old[3];
    ok($s4->{cert} && getcert_der($s4->{cert}) eq pem_file_der($s4->{cert}),
       'GetCert for a serial of the previous CA: that certificate');
    is(ocsp_status($s4->{cert}, $CA1), 'good', 'OCSP, a certificate of the previous CA: good');
    is(revoke($s4->{serial}, 'superseded'), 200, 'revoke a certificate of the previous CA: 200');
    is(ocsp_status($s4->{cert}, $CA1), 'revoked', 'OCSP: revoked');
    ($st, $c) = crl_http("/crl/$ID1", $CA1);
    ok($c->{verify_ok} && $c->{revoked}{ norm_serial($s4->{serial}) },
       "/crl/$ID1 lists it, signed by the previous CA's key") or diag($c->{text});

    my $r5 = renew($old[4], type => 17, recipient => $ALL2, trust => $ALL2);
    is($r5->{rep}{pkiStatus}, '0', 'RenewalReq signed by a certificate of the previous CA: SUCCESS');
    ok(from_ca($r5->{cert}, $CA2) && subject_of($r5->{cert}) eq 'CN=roll-old-5',
       'the renewal is from CA 2 and keeps the subject');
    $new2 = scep_enroll('roll-new-2', recipient => $ALL2, trust => $ALL2);
    ok(from_ca($new2->{cert}, $CA2) && cdp_of($new2->{cert}) =~ m{URI:http://127\.0\.0\.1:$PORT/crl/$ID2$}m,
       "a new enrollment: from CA 2, naming /crl/$ID2") or diag(cdp_of($new2->{cert}));
    is(ocsp_status(($new1 || {})->{cert}, $CA2), 'revoked', "OCSP: CA 2's revoked certificate is still revoked");
    my $g1 = crl_info(getcrl($CA1), $CA1, 'PEM');
    ok($g1->{verify_ok} && issuer_is($g1, $CA1), 'GetCRL naming the previous CA: its CRL')
        or diag($g1->{text});
}
private_httpd_stop($h) if $h->{ok};

# nothing went wrong inside the rollover instance
{
    my @bad = grep { /\] \[(?:[\w.]+:)?(?:error|crit|alert|emerg)\] / }
              split /\n/, eval { read_file("$h->{dir}/logs/error_log") } // '';
    ok(!@bad, "the rollover httpd's error_log has no [error] or worse")
        or diag(join "\n", @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);
}

######################################################################
# what stops httpd, and the default switch time
sub small_conf {
    my ($extra) = @_;
    return "\@HTTPD_BASE\@\nLoadModule mpm_event_module \"\@MODULES\@/mod_mpm_event.so\"\n"
         . "\@SQLITE_DB\@\n\@TEST_CA\@\n$extra"
         . "<Location /scep>\n    SetHandler scep\n    SCEPChallengePasswordFile \"\@PKI\@/challenge\"\n"
         . "</Location>\n";
}
sub refused {
    my ($name, $extra, $re, $label) = @_;
    my $b = private_httpd(name => $name, conf => small_conf($extra));
    my $all = ($b->{out} // '') . ($b->{err} // '');
    # (a directive httpd does not know also stops it: not what is meant here)
    ok(!$b->{ok} && $all =~ $re && $all !~ /Invalid command/, $label) or diag($all);
    private_httpd_stop($b) if $b->{ok};
}
my $NEXT_FILES = "SCEPNextCACertificateFile \"\@PKI\@/next/ca.pem\"\n"
               . "SCEPNextRACertificateFile \"\@PKI\@/next/ra.pem\"\n";
my $NEXT_KEYS = "SCEPNextCACertificateKeyFile \"\@PKI\@/next/ca.key\"\n"
              . "SCEPNextRACertificateKeyFile \"\@PKI\@/next/ra.key\"\n";
refused('switch-no-key', $NEXT_FILES . "SCEPNextCASwitchTime 2020-01-01T00:00:00Z\n",
        qr/SCEPNextCASwitchTime.*SCEPNextCACertificateKeyFile/,
        'SCEPNextCASwitchTime without SCEPNextCACertificateFile\'s key: httpd does not start, naming it');
refused('switch-wrong-key', $NEXT_FILES . "SCEPNextCACertificateKeyFile \"\@PKI\@/ca.key\"\n"
        . "SCEPNextRACertificateKeyFile \"\@PKI\@/next/ra.key\"\n",
        qr/SCEPNextCACertificateKeyFile \S*\/ca\.key\b.*\bmatch/,
        'a next CA key that is not the next CA\'s (ca.key): httpd does not start, naming it');
refused('switch-bad-time', $NEXT_FILES . $NEXT_KEYS . "SCEPNextCASwitchTime tomorrow\n",
        qr/SCEPNextCASwitchTime|YYYY-MM-DD/,
        'SCEPNextCASwitchTime tomorrow: httpd does not start');
refused('switch-bad-month', $NEXT_FILES . $NEXT_KEYS . "SCEPNextCASwitchTime 2020-13-01T00:00:00Z\n",
        qr/SCEPNextCASwitchTime|YYYY-MM-DD/,
        'SCEPNextCASwitchTime 2020-13-01T00:00:00Z (month 13): httpd does not start');
{
    my $d = private_httpd(name => 'switch-default', conf => small_conf($NEXT_FILES . $NEXT_KEYS));
    ok($d->{ok}, "the next CA's keys without SCEPNextCASwitchTime: httpd starts") or diag($d->{err});
    SKIP: {
        skip 'httpd did not start', 1 unless $d->{ok};
        my $c = http(port => $d->{port}, path => '/scep?operation=GetCACaps')->{body} // '';
        my $r = http(port => $d->{port}, path => '/scep?operation=GetCACert');
        my $f = write_file(work_file('default-cacert', 'p7'), $r->{body});
        my $out = run_cmd(['openssl', 'pkcs7', '-inform', 'DER', '-in', $f, '-print_certs', '-noout'])->{out};
        ok($c !~ /GetNextCACert/ && $out =~ /CN\s*=\s*mod_scep Test CA 2\s*$/m,
           "switched at the next CA's notBefore (passed): GetCACert answers CA 2, no GetNextCACert")
            or diag("$c\n$out");
    }
    private_httpd_stop($d) if $d->{ok};
}

error_log_clean();
