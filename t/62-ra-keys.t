# The RA as deployments use it (README "SCEPRAEncryptionCertificateFile",
# "SCEPGetCACertChain", "SCEPCertRepChain",
# "Which client verifies which"): an RA signing certificate beside an RA
# encryption certificate, EC CAs (P-256, P-384) behind an RSA RA, and EC RA
# signing certificates beside an RSA encryption certificate, each enrolled
# by every real client we have: OpenSSL (the suite's scepreq), certmonger,
# micromdm's scepclient and strongSwan's pki (defaults, 3DES, renewal with
# --cert/--key). What each client does with each combination is measured
# here and compared with the table the README gives; whatever a client does,
# the server answers every request and never fails with a 500.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPStrongswan qw(:all);

# name, PKI folder, RA: single (ra.pem signs and decrypts) or split
# (ra-sig.pem signs, ra-enc.pem decrypts)
my @SETUPS = (
    ['rsa-split',    'split', 'split'],
    ['ec256-rsa-ra', 'ec256', 'single'],
    ['ec256-split',  'ec256', 'split'],
    ['ec384-rsa-ra', 'ec384', 'single'],
    ['ec384-split',  'ec384', 'split'],
);
my @CLIENTS = qw(openssl certmonger micromdm strongswan strongswan-3des strongswan-renewal);
# what each client does (1: enrolls), measured on Debian 12 (README):
# micromdm encrypts to every certificate of GetCACert and panics on an EC
# one; strongSwan 5.9.8 verifies RSA signatures only
my %EXPECT = (
    'rsa-split'    => { map { $_ => 1 } @CLIENTS },
    'ec256-rsa-ra' => { openssl => 1, certmonger => 1, micromdm => 0, strongswan => 1,
                        'strongswan-3des' => 1, 'strongswan-renewal' => 1 },
    'ec256-split'  => { openssl => 1, certmonger => 1, micromdm => 0, strongswan => 0,
                        'strongswan-3des' => 0, 'strongswan-renewal' => 0 },
);
$EXPECT{'ec384-rsa-ra'} = $EXPECT{'ec256-rsa-ra'};
$EXPECT{'ec384-split'} = $EXPECT{'ec256-split'};

my $HAVE_PKI = have_pki();
plan tests => 6 * @SETUPS + @SETUPS * @CLIENTS + 8 + 8;

sub conf {
    my ($dir, $mode) = @_;
    my $ra = $mode eq 'split' ? <<"EOC" : <<"EOC";
SCEPRACertificateFile "\@PKI\@/$dir/ra-sig.pem"
SCEPRACertificateKeyFile "\@PKI\@/$dir/ra-sig.key"
SCEPRAEncryptionCertificateFile "\@PKI\@/$dir/ra-enc.pem"
SCEPRAEncryptionCertificateKeyFile "\@PKI\@/$dir/ra-enc.key"
EOC
SCEPRACertificateFile "\@PKI\@/$dir/ra.pem"
SCEPRACertificateKeyFile "\@PKI\@/$dir/ra.key"
EOC
    return <<"EOC";
\@HTTPD_BASE\@
LoadModule mpm_event_module "\@MODULES\@/mod_mpm_event.so"
\@SQLITE_DB\@
SCEPCACertificateFile "\@PKI\@/$dir/ca.pem"
SCEPCACertificateKeyFile "\@PKI\@/$dir/ca.key"
$ra
<Location /scep>
    SetHandler scep
    SCEPChallengePasswordFile "\@PKI\@/$dir/challenge"
    # micromdm's scepclient sends DES and SHA-1
    SCEPLegacyAlgorithms on
    SCEPRenewal on
    SCEPKeyAlgorithms rsa ec-p256 ec-p384
</Location>
EOC
}

# every certificate of GetCACert, in order: [subject, keyUsage text]
sub cacert_list {
    my ($port) = @_;
    my $r = http(port => $port, path => '/scep?operation=GetCACert');
    my $der = write_file(work_file('cacert', 'der'), $r->{body} // '');
    my $pem = run_cmd(['openssl', 'pkcs7', '-inform', 'DER', '-in', $der, '-print_certs'])->{out};
    my @out;
    for my $c ($pem =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----)/sg) {
        my $f = write_file(work_file('one', 'pem'), "$c\n");
        my $t = run_cmd(['openssl', 'x509', '-in', $f, '-noout', '-subject', '-ext', 'keyUsage',
                         '-nameopt', 'RFC2253'])->{out};
        my ($s) = $t =~ /^subject=(.*)$/m;
        push @out, [$s // '', $t];
    }
    return \@out;
}

# one client at one set-up: 1 when a certificate of the CA came back
sub try_client {
    my ($client, $url, $dir, $mode, $ca_pem) = @_;
    my $chal = read_file(pki($dir, 'challenge'));
    chomp $chal;
    my $verifies = sub { my $f = shift; return $f && -s $f && openssl_verify($ca_pem, $f) ? 1 : 0 };
    if ($client eq 'openssl') {
        my $enc = pki($dir, $mode eq 'split' ? 'ra-enc.pem' : 'ra.pem');
        my $trust = write_file(work_file('trust', 'pem'), join '', map { read_file(pki($dir, $_)) }
                               $mode eq 'split' ? ('ra-sig.pem', 'ra-enc.pem', 'ca.pem')
                                                : ('ra.pem', 'ca.pem'));
        my (undef, undef, $rep) = enroll(build => { recipient => $enc, challenge => $chal },
                                         send => { port => ($url =~ /:(\d+)\//)[0],
                                                   path => '/scep' },
                                         parse => { trust => $trust });
        return (($rep->{pkiStatus} // '') eq '0' && $verifies->($rep->{cert_file})) ? 1 : 0,
               $rep->{err} // '';
    }
    if ($client eq 'certmonger') {
        my $cm = certmonger_enroll(url => $url, cn => "cm-$dir-$mode", challenge => $chal,
                                   ca => $ca_pem);
        return (($cm->{status} eq 'MONITORING' && $verifies->($cm->{cert})) ? 1 : 0,
                "$cm->{status}: " . substr("$cm->{out}\n$cm->{err}", -400));
    }
    if ($client eq 'micromdm') {
        my $mm = micromdm_enroll(url => $url, cn => "mm-$dir-$mode", challenge => $chal);
        return ($verifies->($mm->{cert}), substr("$mm->{out}\n$mm->{err}", 0, 400));
    }
    return (0, 'strongSwan pki is not installed') unless $HAVE_PKI;
    my $ca = pki_scepca($url);
    return (0, $ca->{said}) if $ca->{rc} || !$ca->{enc} || !$ca->{sig};
    my $key = pki_key();
    my %o = (url => $url, ca => $ca, key => $key, password => $chal);
    if ($client eq 'strongswan') {
        my $r = pki_enroll(%o, dn => "CN=ss-$dir-$mode");
        return ($verifies->($r->{cert}), $r->{said});
    }
    if ($client eq 'strongswan-3des') {
        my $r = pki_enroll(%o, dn => "CN=ss3-$dir-$mode", cipher => 'des3');
        return ($verifies->($r->{cert}), $r->{said});
    }
    # renewal: a certificate of its own, then a new key signed by the old one
    my $first = pki_enroll(%o, dn => "CN=ssr-$dir-$mode");
    return (0, "first enrollment: $first->{said}") unless $verifies->($first->{cert});
    my $new = pki_key();
    my $r = pki_enroll(%o, key => $new, dn => "CN=ssr-$dir-$mode", old_cert => $first->{cert},
                       old_key => $key, password => undef);
    my $ok = $verifies->($r->{cert});
    if ($ok) {
        my $pub = run_cmd(['openssl', 'x509', '-in', $r->{cert}, '-noout', '-pubkey'])->{out};
        my $want = run_cmd(['openssl', 'pkey', '-in', $new, '-pubout'])->{out};
        $ok = $pub eq $want ? 1 : 0;
    }
    return ($ok, $r->{said});
}

my @table;
for my $s (@SETUPS) {
    my ($name, $dir, $mode) = @$s;
    my $h = private_httpd(name => "ra-$name", conf => conf($dir, $mode));
    ok($h->{ok}, "$name: httpd starts") or diag($h->{err});
    SKIP: {
        skip "$name: httpd did not start", 5 + @CLIENTS unless $h->{ok};
        my $url = "http://127.0.0.1:$h->{port}/scep";
        my $caps = http(port => $h->{port}, path => '/scep?operation=GetCACaps')->{body} // '';
        # strongSwan's pki before 5.9.11 takes AES and SCEPStandard for
        # granted only when SHA-384 is listed (it reads bit numbers as bits)
        like($caps, qr/^SHA-384$/m, "$name: GetCACaps lists SHA-384 (strongSwan 5.9.8 needs it for AES)");
        my $list = cacert_list($h->{port});
        my @subjects = map { $_->[0] } @$list;
        if ($mode eq 'split') {
            is(scalar @$list, 3, "$name: GetCACert holds three certificates");
            like($list->[0][1] // '', qr/Key Encipherment/, "$name: the encryption RA first (clients "
                 . 'that take the first RA encrypt to it)');
            like($list->[1][1] // '', qr/Digital Signature/, "$name: then the signing RA");
        }
        else {
            is(scalar @$list, 2, "$name: GetCACert holds two certificates");
            like($list->[0][0], qr/ RA,/, "$name: the RA first");
            like($list->[1][0], qr/CN=mod_scep /, "$name: then the CA");
        }
        my @row = ($name);
        for my $client (@CLIENTS) {
            my ($ok, $why) = try_client($client, $url, $dir, $mode, pki($dir, 'ca.pem'));
            is($ok, $EXPECT{$name}{$client}, "$name, $client: "
               . ($EXPECT{$name}{$client} ? 'enrolls' : 'does not enroll (client limit)'))
                or diag($why);
            push @row, $ok ? 'yes' : 'no';
        }
        push @table, \@row;
        my $log = eval { read_file("$h->{dir}/logs/error_log") } // '';
        unlike($log, qr/Segmentation fault|exit signal|AH00052/, "$name: no child crashed");
    }
    private_httpd_stop($h);
}
diag(join "\n", 'measured (README "Which client verifies which"):',
     join(' | ', 'set-up', @CLIENTS), map { join ' | ', @$_ } @table);

########## start-up errors
my @BAD = (
    ['an encryption certificate without a signing RA',
     qq(SCEPRAEncryptionCertificateFile "\@PKI\@/split/ra-enc.pem"\nSCEPRAEncryptionCertificateKeyFile "\@PKI\@/split/ra-enc.key"),
     qr/SCEPRAEncryptionCertificateFile .*goes with an RA signing certificate/],
    ['an encryption certificate without keyEncipherment',
     qq(SCEPRACertificateFile "\@PKI\@/split/ra-sig.pem"\nSCEPRACertificateKeyFile "\@PKI\@/split/ra-sig.key"\n)
     . qq(SCEPRAEncryptionCertificateFile "\@PKI\@/split/ra-sig.pem"\nSCEPRAEncryptionCertificateKeyFile "\@PKI\@/split/ra-sig.key"),
     qr/SCEPRAEncryptionCertificateFile .*needs keyUsage keyEncipherment/],
    ['a signing certificate without digitalSignature',
     qq(SCEPRACertificateFile "\@PKI\@/split/ra-enc.pem"\nSCEPRACertificateKeyFile "\@PKI\@/split/ra-enc.key"\n)
     . qq(SCEPRAEncryptionCertificateFile "\@PKI\@/split/ra-enc.pem"\nSCEPRAEncryptionCertificateKeyFile "\@PKI\@/split/ra-enc.key"),
     qr/SCEPRACertificateFile .*needs keyUsage digitalSignature/],
    ['a single RA without keyEncipherment',
     qq(SCEPRACertificateFile "\@PKI\@/split/ra-sig.pem"\nSCEPRACertificateKeyFile "\@PKI\@/split/ra-sig.key"),
     qr/SCEPRACertificateFile .*keyEncipherment.*SCEPRAEncryptionCertificateFile/],
);
for my $b (@BAD) {
    my ($what, $ra, $want) = @$b;
    (my $c = conf('split', 'single')) =~ s/^SCEPRACertificate.*\n//mg;
    $c =~ s/^(SCEPCACertificateKeyFile .*\n)/$1$ra\n/m;
    my $h = private_httpd(name => 'ra-bad', conf => $c);
    ok(!$h->{ok}, "httpd refuses $what");
    like($h->{err}, $want, '... and says why, naming the directive');
    private_httpd_stop($h) if $h->{ok};
}

########## the chain: in GetCACert (SCEPGetCACertChain), in the CertRep (SCEPCertRepChain)
{
    my $h = private_httpd(name => 'ra-chain', conf => <<'EOC');
@HTTPD_BASE@
LoadModule mpm_event_module "@MODULES@/mod_mpm_event.so"
@SQLITE_DB@
SCEPCACertificateFile "@PKI@/inter/ca.pem"
SCEPCACertificateKeyFile "@PKI@/inter/ca.key"
SCEPCAChainFile "@PKI@/inter/chain.pem"
SCEPRACertificateFile "@PKI@/inter/ra.pem"
SCEPRACertificateKeyFile "@PKI@/inter/ra.key"
<Location /full>
    SetHandler scep
    SCEPChallengePasswordFile "@PKI@/inter/challenge"
</Location>
<Location /short>
    SetHandler scep
    SCEPChallengePasswordFile "@PKI@/inter/challenge"
    SCEPGetCACertChain off
    SCEPCertRepChain on
</Location>
EOC
    ok($h->{ok}, 'chain options: httpd starts') or diag($h->{err});
    SKIP: {
        skip 'httpd did not start', 7 unless $h->{ok};
        my $count = sub {
            my $r = http(port => $h->{port}, path => "$_[0]?operation=GetCACert");
            my $der = write_file(work_file('cc', 'der'), $r->{body} // '');
            my $t = run_cmd(['openssl', 'pkcs7', '-inform', 'DER', '-in', $der, '-print_certs', '-noout'])->{out};
            return scalar(() = $t =~ /^subject=/mg);
        };
        is($count->('/full'), 3, 'GetCACert by default: RA, CA and the root above it');
        is($count->('/short'), 2, 'SCEPGetCACertChain off: RA and CA only');
        my $chal = read_file(pki('inter', 'challenge'));
        chomp $chal;
        my $trust = write_file(work_file('inter-trust', 'pem'),
                               join '', map { read_file(pki('inter', $_)) } qw(ra.pem ca.pem chain.pem));
        my %rep;
        for my $loc ('/full', '/short') {
            my (undef, undef, $rep) = enroll(build => { recipient => pki('inter', 'ra.pem'), challenge => $chal },
                                             send => { port => $h->{port}, path => $loc },
                                             parse => { trust => $trust });
            $rep{$loc} = $rep;
        }
        is($rep{'/full'}{pkiStatus}, '0', 'an enrollment at the default Location');
        is($rep{'/full'}{certCount}, 1, 'its CertRep carries the issued certificate alone');
        is($rep{'/short'}{pkiStatus}, '0', 'an enrollment with SCEPCertRepChain on');
        is($rep{'/short'}{certCount}, 3, 'its CertRep carries the certificate, the CA and the root');
        my @subjects = map { $rep{'/short'}{"cert$_"} // '' } 0 .. 2;
        ok($subjects[1] =~ /Intermediate CA/ && $subjects[2] =~ /Test CA/,
           'in order: the issued certificate, its CA, the root') or diag(join "\n", @subjects);
    }
    private_httpd_stop($h);
}
