# GetCACert (scep-wire.md §1.2, conformance cases 3-6): RA mode bundle,
# message= variants, the Cisco/NDES path over HTTP/1.0, certmonger's
# discovery, single-CA mode and a CA chain (private httpd instances), and
# whether a single-CA <VirtualHost> can sit next to an RA-mode main server.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);

plan tests => 48;

my $RA_DER = pem_file_der(pki('ra.pem'));
my $CA_DER = pem_file_der(pki('ca.pem'));

sub cert_subject_der {
    my $f = write_file(work_file('c', 'der'), shift);
    my $r = run_cmd(['openssl', 'x509', '-inform', 'DER', '-in', $f, '-noout', '-subject',
                     '-nameopt', 'RFC2253']);
    (my $s = $r->{out}) =~ s/^subject=|\n//g;
    return $s;
}

# certs of a degenerate PKCS#7 (DER) in order, as DER
sub bundle_certs {
    my $der = shift;
    my $f = write_file(work_file('bundle', 'p7b'), $der);
    my $r = run_cmd(['openssl', 'pkcs7', '-inform', 'DER', '-in', $f, '-print_certs']);
    return $r->{rc} ? () : pem_certs_der($r->{out});
}

# the SignedData's top-level fields from asn1parse: encapContentInfo
# children and the signerInfos SET
sub signeddata_shape {
    my $der = shift;
    my $f = write_file(work_file('bundle', 'der'), $der);
    my @n = asn1parse($f);
    # ContentInfo(d0) > [0](d1) > SignedData SEQUENCE(d2) > fields at d3
    my @fields = grep { $_->{depth} == 3 } @n;
    my %s = (fields => [map { $_->{tag} } @fields]);
    my ($encap) = grep { $_->{tag} eq 'SEQUENCE' } @fields;
    my @encap_children = grep {
        $_->{depth} == 4 && $_->{offset} > $encap->{offset}
            && $_->{offset} < $encap->{offset} + $encap->{hl} + $encap->{len}
    } @n;
    $s{encap} = [map { $_->{tag} . ($_->{value} ? ":$_->{value}" : '') } @encap_children];
    $s{octet_strings} = scalar grep { $_->{tag} eq 'OCTET STRING' } @n;
    $s{signer_infos} = $fields[-1];
    $s{content_type} = $n[1]{value};
    return \%s;
}

########## RA mode on the main server
my $r = http(path => '/scep?operation=GetCACert');
is($r->{status}, 200, 'GetCACert: 200');
is($r->{headers}{'content-type'}, 'application/x-x509-ca-ra-cert',
   'GetCACert in RA mode: Content-Type exactly application/x-x509-ca-ra-cert');
is($r->{headers}{'content-length'}, length($r->{body}), 'GetCACert: Content-Length matches the body');
my @certs = bundle_certs($r->{body});
is(scalar @certs, 2, 'the bundle holds two certificates');
ok(defined $certs[0] && $certs[0] eq $RA_DER, 'first certificate is the RA, byte for byte');
ok(defined $certs[1] && $certs[1] eq $CA_DER, 'second certificate is the CA, byte for byte');
my $shape = signeddata_shape($r->{body});
is($shape->{content_type}, 'pkcs7-signedData', 'the bundle is a SignedData');
is_deeply($shape->{encap}, ['OBJECT:pkcs7-data'], 'encapContentInfo is id-data with eContent omitted');
is($shape->{octet_strings}, 0, 'no OCTET STRING anywhere (no eContent, not even an empty one)');
ok($shape->{signer_infos}{tag} eq 'SET' && $shape->{signer_infos}{len} == 0,
   'signerInfos is an empty SET');

# the same bytes for any message= (certmonger walks message=0,1,2...)
for my $m ('0', '1', '2', 'My%20CA', '') {
    my $x = http(path => "/scep?operation=GetCACert&message=$m");
    ok($x->{status} == 200 && $x->{body} eq $r->{body}, "GetCACert message=$m: same bytes");
}
{
    my $x = http(path => '/scep/pkiclient.exe?operation=GetCACert&message=x');
    ok($x->{status} == 200 && $x->{body} eq $r->{body}, 'GetCACert under /scep/pkiclient.exe: same bytes');
}

# Cisco IOS: HTTP/1.0, no Host header, URL path + /pkiclient.exe
{
    my $x = http10(path => '/certsrv/mscep/mscep.dll/pkiclient.exe?operation=GetCACert&message=X');
    is($x->{status}, 200, 'Cisco HTTP/1.0 GetCACert on the NDES path: 200');
    like($x->{protocol} || '', qr{^HTTP/1\.[01]$}, 'answered as HTTP/1.x');
    is($x->{headers}{'content-type'}, 'application/x-x509-ca-ra-cert', 'Cisco: exact Content-Type');
    ok($x->{body} eq $r->{body}, 'Cisco: same bundle');
    ok(!defined $x->{headers}{'transfer-encoding'}, 'HTTP/1.0 answer is not chunked');
}

# certmonger's discovery prints the RA and CA certificates as PEM
{
    my $x = certmonger_submit(base_url() . '/scep', '-C');
    is($x->{rc}, 0, 'scep-submit -C exits 0') or diag($x->{err});
    my %got = map { $_ => 1 } pem_certs_der($x->{out});
    ok($got{$RA_DER}, 'scep-submit -C prints the RA certificate');
    ok($got{$CA_DER}, 'scep-submit -C prints the CA certificate');
}

########## single-CA mode: the CA signs and decrypts, no RA, no chain
my $BASE = <<'EOC';
@HTTPD_BASE@
LoadModule mpm_event_module "@MODULES@/mod_mpm_event.so"
@SQLITE_DB@
EOC
my $SINGLE_DER = pem_file_der(pki('single', 'ca.pem'));
{
    my $h = private_httpd(name => 'single', conf => $BASE . <<'EOC');
SCEPCACertificateFile "@PKI@/single/ca.pem"
SCEPCACertificateKeyFile "@PKI@/single/ca.key"
<Location /scep>
    SetHandler scep
    SCEPChallengePasswordFile "@PKI@/challenge"
</Location>
EOC
    ok($h->{ok}, 'single-CA httpd starts') or diag($h->{err});
    SKIP: {
        skip 'httpd did not start', 8 unless $h->{ok};
        my $x = http(port => $h->{port}, path => '/scep?operation=GetCACert&message=0');
        is($x->{status}, 200, 'single-CA GetCACert: 200');
        is($x->{headers}{'content-type'}, 'application/x-x509-ca-cert',
           'single-CA GetCACert: Content-Type exactly application/x-x509-ca-cert');
        ok($x->{body} eq $SINGLE_DER, 'single-CA GetCACert: body is exactly the CA DER');

        # an enrollment: the request is encrypted to the CA, the reply signed by it
        my $req = build_request(recipient => pki('single', 'ca.pem'), subject => '/CN=single-1');
        my $resp = send_request($req, port => $h->{port});
        is($resp->{status}, 200, 'single-CA PKIOperation: 200');
        my $rep = parse_reply($resp, $req, trust => pki('single', 'ca.pem'));
        is($rep->{verified}, 1, 'single-CA CertRep verifies against the CA alone');
        is($rep->{pkiStatus}, '0', 'single-CA enrollment: SUCCESS') or diag($rep->{failInfoText});
        is($rep->{signerSubject}, 'CN=mod_scep Single CA,O=mod_scep', 'single-CA CertRep is signed by the CA');
        ok($rep->{cert_file} && openssl_verify(pki('single', 'ca.pem'), $rep->{cert_file}),
           'single-CA issued certificate verifies against the CA');
    }
    private_httpd_stop($h);
    # AH00045/AH00046: a loaded machine stops httpd slowly; not the module's doing
    my @log = split /\n/, eval { read_file("$h->{dir}/logs/error_log") } // '';
    # the one warning single-CA mode deserves: the CA key decrypts what anyone sends
    my @no_ra = grep { /\[scep:warn\].*SCEP00015: .*has no SCEPRACertificateFile/ } @log;
    is(scalar @no_ra, 1, 'single-CA httpd warns once that the CA key works without an RA (SCEP00015)');
    my @bad = grep { /\[(?:\w+:)?(?:warn|error|crit|alert|emerg)\]/ && !/AH0004[56]|SCEP00015/ } @log;
    ok(!@bad, 'single-CA httpd logged nothing else at [warn] or worse') or diag(join "\n", @bad);
}

########## a CA below a root: RA, CA, then the chain
{
    my $h = private_httpd(name => 'chain', conf => $BASE . <<'EOC');
SCEPCACertificateFile "@PKI@/inter/ca.pem"
SCEPCACertificateKeyFile "@PKI@/inter/ca.key"
SCEPCAChainFile "@PKI@/inter/chain.pem"
SCEPRACertificateFile "@PKI@/inter/ra.pem"
SCEPRACertificateKeyFile "@PKI@/inter/ra.key"
<Location /scep>
    SetHandler scep
    SCEPChallengePasswordFile "@PKI@/challenge"
</Location>
EOC
    ok($h->{ok}, 'httpd with an intermediate CA and SCEPCAChainFile starts') or diag($h->{err});
    SKIP: {
        skip 'httpd did not start', 7 unless $h->{ok};
        my $x = http(port => $h->{port}, path => '/scep?operation=GetCACert');
        is($x->{headers}{'content-type'}, 'application/x-x509-ca-ra-cert', 'chain: ca-ra-cert');
        my @c = bundle_certs($x->{body});
        is(scalar @c, 3, 'chain: three certificates');
        ok(@c == 3 && $c[0] eq pem_file_der(pki('inter', 'ra.pem'))
           && $c[1] eq pem_file_der(pki('inter', 'ca.pem')) && $c[2] eq $CA_DER,
           'chain: RA, issuing CA, root in that order')
            or diag('got: ' . join(', ', map { cert_subject_der($_) } @c));
        my $req = build_request(recipient => pki('inter', 'all.pem'), subject => '/CN=chain-1');
        my $resp = send_request($req, port => $h->{port}, query => undef, content_type => undef);
        my $trust = write_file(work_file('trust', 'pem'),
                               read_file(pki('inter', 'all.pem')) . read_file(pki('ca.pem')));
        my $rep = parse_reply($resp, $req, trust => $trust);
        is($rep->{pkiStatus}, '0', 'chain: enrollment SUCCESS') or diag($rep->{err});
        is($rep->{signerSubject}, 'CN=mod_scep Intermediate RA,O=mod_scep', 'chain: signed by the RA');
        ok($rep->{cert_file}
           && openssl_verify(pki('ca.pem'), $rep->{cert_file}, pki('inter', 'ca.pem')),
           'chain: issued certificate verifies up to the root');
        is((cert_info($rep->{cert_file} || '/nonexistent') || {})->{issuer} // '',
           'CN=mod_scep Intermediate CA,O=mod_scep', 'chain: issued by the intermediate');
    }
    private_httpd_stop($h);
}

########## single-CA <VirtualHost> next to an RA-mode main server
# A vhost that names its own CA must not inherit the main server's RA (an RA
# belongs to one CA). Expected: httpd accepts it and the vhost answers
# application/x-x509-ca-cert with its own CA.
{
    my $vport = free_port();
    my $conf = $BASE . <<"EOC";
\@TEST_CA\@
<Location /scep>
    SetHandler scep
    SCEPChallengePasswordFile "\@PKI\@/challenge"
</Location>
Listen 127.0.0.1:$vport
<VirtualHost 127.0.0.1:$vport>
    SCEPCACertificateFile "\@PKI\@/single/ca.pem"
    SCEPCACertificateKeyFile "\@PKI\@/single/ca.key"
</VirtualHost>
EOC
    my $h = private_httpd(name => 'vhost-single', conf => $conf);
    ok($h->{ok}, 'main server in RA mode + single-CA vhost: httpd starts')
        or diag("httpd -k start: rc=$h->{rc}\n$h->{err}");
    SKIP: {
        skip 'httpd did not start', 3 unless $h->{ok};
        my $m = http(port => $h->{port}, path => '/scep?operation=GetCACert');
        is($m->{headers}{'content-type'} // '', 'application/x-x509-ca-ra-cert',
           'main server: still RA mode');
        my $v = http(port => $vport, path => '/scep?operation=GetCACert');
        is($v->{headers}{'content-type'} // '', 'application/x-x509-ca-cert',
           'single-CA vhost: application/x-x509-ca-cert');
        ok(($v->{body} // '') eq $SINGLE_DER, 'single-CA vhost: its own CA DER');
    }
    private_httpd_stop($h);
}

# nothing above may leave an [error]/[warn] in the main server's log
error_log_clean();
