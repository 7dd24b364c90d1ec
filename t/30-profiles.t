# Certificate profiles (README "Certificate profiles"): the administrator
# decides what a certificate contains, not the requester. For each rule a
# request that complies and one that tries to exceed: the issued
# certificate is read back with `openssl x509 -text`, a refusal must be a
# signed FAILURE badRequest whose failInfoText names the rule. The
# enrollment points are in t/conf/profiles.conf.in (paths /prof-*, profile
# names prof-*); start-up errors run `httpd -t` on private configurations,
# as t/04-config-errors.t does; the shipped sample configuration and the
# README's two-profile example must pass `httpd -t` with the test PKI.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);
use Time::Local qw(timegm);

my $P = Apache::Test::vars('scep_pki');
my $W = work_dir();
my $SID = 'S-1-5-21-1004336348-1177238915-682003330-1001';
my $SID_URI = "tag:microsoft.com,2022-09-14:sid:$SID";
my @refusals;    # [label, transactionID]: none may have an ISSUED row

######################################################################
# keys. An enrollment is a new transaction when its transactionID is new:
# every request here gets a unique one (a random prefix per run), so a few
# RSA keys, made in parallel up front, serve all of them. (The same key
# with the same transactionID and CSR would be a resend; with another CSR
# a refusal.)

my $RUN = sprintf '%08x', int(rand(2**31)) ^ $$;
my $TID = 0;
sub next_tid { return "prof-$RUN-" . ++$TID }

my %POOL;
my %NEXT;
sub fill_pool {
    my %want = @_;    # bits => count
    my @bits = map { ($_) x $want{$_} } sort keys %want;
    my @files = new_keys(@bits);
    push @{ $POOL{ $bits[$_] } }, $files[$_] for 0 .. $#bits;
}

# the pool's keys in turn
sub rsa_key {
    my $bits = shift || 2048;
    push @{ $POOL{$bits} }, new_key(bits => $bits) unless @{ $POOL{$bits} || [] };
    my $keys = $POOL{$bits};
    return $keys->[ $NEXT{$bits}++ % @$keys ];
}

sub ec_key {
    my $curve = shift;
    my $f = work_file("ec-$curve", 'pem');
    my $r = run_cmd(['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt',
                     "ec_paramgen_curve:$curve", '-out', $f]);
    die "openssl genpkey $curve: $r->{err}" if $r->{rc};
    return $f;
}

######################################################################
# requests

# A CSR made by `openssl req` (SCEPTest::openssl_csr)
sub csr { openssl_csr(@_) }

# enroll_at(PATH, key => FILE (an RSA 2048 key of the pool if absent), subject => '/CN=x'
#   (scepreq makes the CSR) or csr => FILE (sent as-is), san_dns => [...],
#   headers => [Name => value, ...], signer_cert/signer_key => an RSA
#   certificate of this CA and its key that sign (and receive) the request,
#   port => N (default: the test server))
# -> { req, resp, rep, status, fail, text, cert, x (cert_details) }
sub enroll_at {
    my ($path, %o) = @_;
    my $key = $o{key} || rsa_key();
    my @args;
    push @args, '--csr', $o{csr} if $o{csr};
    push @args, map { ('--san-dns', $_) } @{ $o{san_dns} || [] };
    push @args, '--signer-cert', $o{signer_cert}, '--signer-key', $o{signer_key}
        if $o{signer_cert};
    my $req = build_request(key => $key, args => \@args, tid => next_tid(),
                            $o{csr} ? (subject => undef, challenge => undef)
                                    : (subject => $o{subject} || '/CN=prof-device'));
    # the reply is encrypted to the signer certificate
    $req->{key} = $o{signer_key} if $o{signer_key};
    my $t0 = time;
    my $resp = http(method => 'POST', path => "$path?operation=PKIOperation", port => $o{port},
                    headers => ['Content-Type' => 'application/x-pki-message',
                                @{ $o{headers} || [] }],
                    body => $req->{der});
    my $t1 = time;
    my $rep = $resp->{status} == 200 ? parse_reply($resp, $req)
                                     : { err => "HTTP $resp->{status} $resp->{body}" };
    my %r = (req => $req, resp => $resp, rep => $rep, t0 => $t0, t1 => $t1,
             status => $rep->{pkiStatus} // '', fail => $rep->{failInfo} // '',
             text => $rep->{failInfoText} // '', key => $key, tid => $req->{tid},
             verified => $rep->{verified} // '');
    if ($rep->{cert_file} && ($rep->{pkiStatus} // '') eq '0') {
        $r{cert} = $rep->{cert_file};
        $r{x} = cert_details($r{cert});
    }
    else {
        $r{x} = { ext => {}, subject => '', text => '' };
    }
    return \%r;
}

sub why { my $r = shift; return "pkiStatus=$r->{status} failInfo=$r->{fail} text=$r->{text} "
                                 . ($r->{rep}{err} // '') }

# One SUCCESS: 2 tests
sub issued {
    my ($label, $r) = @_;
    is($r->{status}, '0', "$label: SUCCESS") or diag(why($r));
    ok($r->{cert} && openssl_verify(pki('ca.pem'), $r->{cert}),
       "$label: the certificate verifies against the CA");
}

# One refusal by the profile: 3 tests
sub refused {
    my ($label, $r, $re) = @_;
    is($r->{status}, '2', "$label: FAILURE") or diag(why($r));
    is($r->{fail}, '2', "$label: failInfo 2 (badRequest)");
    like($r->{text}, $re, "$label: failInfoText names the rule")
        and note("$label: $r->{text}");
    push @refusals, [$label, $r->{tid}];
}

######################################################################
# the issued certificate, as `openssl x509 -text` shows it

my %MON = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5, Jul => 6,
           Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);
sub epoch_of {
    my $s = shift // '';
    my ($mon, $d, $h, $mi, $sec, $y) = $s =~ /^(\w{3})\s+(\d+)\s+(\d+):(\d+):(\d+)\s+(\d{4})/
        or return undef;
    return timegm($sec, $mi, $h, $d, $MON{$mon}, $y);
}

# -> { subject (RFC 2253), text, sigalg, pkalg, bits, curve, not_before,
#      not_after (epoch), der, ext => { name => { critical, value } } }
sub cert_details {
    my $f = shift;
    my $out = run_cmd(['openssl', 'x509', '-in', $f, '-noout', '-subject', '-issuer', '-startdate',
                       '-enddate', '-pubkey', '-text', '-nameopt', 'RFC2253'])->{out};
    my ($subject) = $out =~ /^subject=(.*)$/m;
    my ($issuer) = $out =~ /^issuer=(.*)$/m;
    my ($nb) = $out =~ /^notBefore=(.*)$/m;
    my ($na) = $out =~ /^notAfter=(.*)$/m;
    my ($pubkey) = $out =~ /^(-----BEGIN PUBLIC KEY-----\n.*?-----END PUBLIC KEY-----\n)/ms;
    my ($text) = $out =~ /^(Certificate:\n.*)\z/ms;
    $text //= '';
    my (%ext, $cur, $in);
    for (split /\n/, $text) {
        if (/^ {8}X509v3 extensions:/) { $in = 1; next }
        if ($in && /^ {0,8}\S/) { $in = 0 }
        next unless $in;
        if (/^ {12}(\S.*?):\s*(critical)?\s*$/) {
            $cur = $1;
            $ext{$cur} = { critical => $2 ? 1 : 0, value => '' };
        }
        elsif ($cur && /^ {16}(.*?)\s*$/) {
            $ext{$cur}{value} .= ($ext{$cur}{value} eq '' ? '' : "\n") . $1;
        }
    }
    my ($sigalg) = $text =~ /^\s*Signature Algorithm:\s*(\S+)/m;
    my ($pkalg) = $text =~ /Public Key Algorithm:\s*(\S+)/;
    my ($bits) = $text =~ /Public-Key:\s*\((\d+) bit\)/;
    my ($curve) = $text =~ /ASN1 OID:\s*(\S+)/;
    return { subject => $subject // '', issuer => $issuer // '',
             text => $text, sigalg => $sigalg // '', pkalg => $pkalg // '',
             bits => $bits // 0, curve => $curve // '',
             not_before => epoch_of($nb), not_after => epoch_of($na),
             pubkey => $pubkey // '', der => pem_file_der($f) // '', ext => \%ext };
}

sub ext_value { my ($r, $name) = @_; my $e = $r->{x}{ext}{$name}; return $e ? $e->{value} : undef }
sub ext_critical { my ($r, $name) = @_; my $e = $r->{x}{ext}{$name}; return $e ? $e->{critical} : undef }

my $KU = 'X509v3 Key Usage';
my $EKU = 'X509v3 Extended Key Usage';
my $SAN = 'X509v3 Subject Alternative Name';
my $BC = 'X509v3 Basic Constraints';
my $CP = 'X509v3 Certificate Policies';
my $CDP = 'X509v3 CRL Distribution Points';
my $AIA = 'Authority Information Access';
my $TMPL = '1.3.6.1.4.1.311.20.2';

# The template-name extension as mod_scep must write it: extnID
# 1.3.6.1.4.1.311.20.2, not critical, extnValue = DER of a BMPString
sub template_ext_der {
    my $name = shift;
    my $ucs2 = join '', map { "\0$_" } split //, $name;
    my $bmp = "\x1e" . chr(length $ucs2) . $ucs2;
    return "\x06\x09\x2b\x06\x01\x04\x01\x82\x37\x14\x02" . "\x04" . chr(length $bmp) . $bmp;
}

sub pubkey_of_key {
    my $k = shift;
    return run_cmd(['openssl', 'pkey', '-in', $k, '-pubout'])->{out};
}

sub profile_of {
    my $tid = shift;
    (my $q = $tid // '') =~ s/'/''/g;
    my $rows = db_rows("SELECT status, profile FROM scep_transactions WHERE transaction_id = '$q'");
    return @$rows ? "$rows->[0]{status} $rows->[0]{profile}" : 'no row';
}

fill_pool(2048 => 4, 3072 => 1, 1024 => 1);

######################################################################
# The enrollments as tables. A row:
#   [label, Location, request, outcome, checks...]
# request: { subject => '/CN=x' (scepreq makes the CSR) or csr => { subject,
#   san, ext, template } (openssl_csr's options: `openssl req` makes it),
#   key => 1024 | 3072 (an RSA key of the pool; 2048 if absent) or 'P-256' /
#   'P-384' (a fresh EC key: then signer => NAME too), san_dns => [...],
#   headers => [Name => value], sid => 1 (X-Device-SID: $SID), as => NAME
#   (kept in %ENROLLED for later rows and checks), signer => NAME (signed by
#   that enrollment's certificate and key, as clients with a separate RSA
#   key do) }
# outcome: 'issued' (2 tests) or a regex: refused, failInfoText matches (3)
# checks: [field, expected, test name]; field: a name of %FIELD or a sub
#   (enrollment -> value); expected: undef (absent), a regex, a sub
#   (enrollment -> expected value) or the value

my %ENROLLED;
my %FIELD = (
    (map { my $k = $_; ($k => sub { $_[0]{x}{$k} }) } qw(subject issuer sigalg pkalg bits curve pubkey text)),
    not_after => sub { $_[0]{x}{not_after} },
    validity  => sub { ($_[0]{x}{not_after} // 0) - ($_[0]{x}{not_before} // 0) },
    fail_text => sub { $_[0]{text} },
    cert      => sub { $_[0]{cert} },
    profile   => sub { profile_of($_[0]{tid}) },
    ku => sub { ext_value($_[0], $KU) }, eku => sub { ext_value($_[0], $EKU) },
    san => sub { ext_value($_[0], $SAN) }, bc => sub { ext_value($_[0], $BC) },
    cp => sub { ext_value($_[0], $CP) }, cdp => sub { ext_value($_[0], $CDP) },
    aia => sub { ext_value($_[0], $AIA) }, tmpl => sub { ext_value($_[0], $TMPL) },
    ku_critical => sub { ext_critical($_[0], $KU) }, bc_critical => sub { ext_critical($_[0], $BC) },
);

sub check {
    my ($r, @checks) = @_;
    for my $c (@checks) {
        my ($field, $want, $name) = @$c;
        my $got = ref $field ? $field->($r) : ($FIELD{$field} || die "no field $field")->($r);
        $want = $want->($r) if ref $want eq 'CODE';
        my $ok = !defined $want        ? ok(!defined $got, $name)
               : ref $want eq 'Regexp' ? like($got // '', $want, $name)
               :                         is($got, $want, $name);
        diag($r->{x}{text}) if !$ok && ref $field;
    }
}

sub enroll_rows {
    for my $row (@_) {
        my ($label, $path, $q, $outcome, @checks) = @$row;
        my $signer = $q->{signer} && $ENROLLED{ $q->{signer} };
        SKIP: {
            skip "$label: no signer certificate", (ref $outcome ? 3 : 2) + @checks
                if $q->{signer} && !($signer && $signer->{cert});
            my $key = ($q->{key} // '') =~ /^P-/ ? ec_key($q->{key}) : rsa_key($q->{key});
            my $r = enroll_at($path, key => $key,
                              ($q->{csr} ? (csr => csr(key => $key, %{ $q->{csr} })) : ()),
                              (map { $_ => $q->{$_} } grep { $q->{$_} } qw(subject san_dns)),
                              headers => [@{ $q->{headers} || [] }, ($q->{sid} ? ('X-Device-SID' => $SID) : ())],
                              ($signer ? (signer_cert => $signer->{cert}, signer_key => $signer->{key}) : ()));
            if (ref $outcome) { refused($label, $r, $outcome) } else { issued($label, $r) }
            check($r, @checks);
            $ENROLLED{ $q->{as} } = $r if $q->{as};
        }
    }
}

######################################################################
# 1. two profiles on one server and CA: comparable requests, different
# certificates
my %common = (subject => '/O=Evil Inc/CN=laptop-7', san_dns => ['laptop-7.wifi.example.com'], sid => 1);
enroll_rows(
    ['wifi', '/prof-wifi', { %common, as => 'wifi' }, 'issued',
     [subject => 'CN=laptop-7,O=Example Corp',
      'wifi: subject O from the profile, CN from the request (requested O replaced)'],
     [san => "DNS:laptop-7.wifi.example.com, URI:$SID_URI",
      'wifi: the allowed DNS name and the strong-mapping URI'],
     [eku => 'TLS Web Server Authentication, TLS Web Client Authentication', 'wifi: client+server EKU']],
    ['vpn', '/prof-vpn', { %common, as => 'vpn' }, 'issued',
     [subject => 'CN=laptop-7', 'vpn (no subject rule): the CN only'],
     [san => undef, 'vpn (no SAN rule): no subjectAltName'],
     [eku => 'ipsec Internet Key Exchange', 'vpn: ipsecIKE EKU']],
);
my ($wifi, $vpn) = @ENROLLED{qw(wifi vpn)};
is($wifi->{x}{issuer}, $vpn->{x}{issuer}, 'both issued by the same CA');
isnt($wifi->{x}{sigalg}, $vpn->{x}{sigalg}, "different signature digests ($wifi->{x}{sigalg} / "
     . "$vpn->{x}{sigalg})");

# 1b. nested sections: what each section sets, whichever built the service
my $DAYS = 86400;
enroll_rows(
    ['outer', '/prof-outer', { subject => '/CN=nest-1' }, 'issued',
     [subject => 'CN=nest-1,O=Outer Corp', 'outer: its subject rules'],
     [validity => 60 * $DAYS + 300, 'outer: 60 days (notBefore 5 minutes back)'],
     [profile => 'ISSUED prof-outer', 'outer: recorded as prof-outer']],
    ['inner', '/prof-outer/inner', { subject => '/CN=nest-2' }, 'issued',
     [subject => 'CN=nest-2,O=Outer Corp', 'inner: the outer section\'s subject rules'],
     [validity => 10 * $DAYS + 300, 'inner: its own 10 days'],
     [profile => 'ISSUED prof-outer-inner', 'inner: recorded under its own name']],
    ['plain', '/prof-outer/plain', { subject => '/CN=nest-3' }, 'issued',
     [subject => 'CN=nest-3,O=Outer Corp', 'a section without SCEP directives: the outer rules'],
     [validity => 60 * $DAYS + 300, 'and the outer 60 days'],
     [profile => 'ISSUED prof-outer', 'recorded under the name of the section around it']],
    ['unnamed plain', '/prof-default/plain', { subject => '/O=X/CN=nest-4' }, 'issued',
     [subject => 'CN=nest-4', 'a section without SCEP directives in an unnamed one: its rules'],
     [profile => 'ISSUED /prof-default/plain', 'recorded under its own path']],
);

######################################################################
# 2. subject rules
enroll_rows(
    ['wifi with OU and O', '/prof-wifi', { subject => '/O=Evil Inc/OU=Sales/CN=laptop-8', sid => 1 }, 'issued',
     [subject => 'CN=laptop-8,O=Example Corp', 'SCEPSubjectExcess drop: OU and the requested O are left out']],
    ['wifi with a CN outside the pattern', '/prof-wifi', { subject => '/CN=Laptop_8', sid => 1 }, 'issued',
     [subject => 'O=Example Corp', 'SCEPSubjectExcess drop: the CN outside ^[a-z0-9-]+$ is left out']],
    ['strict, CN only', '/prof-strict', { subject => '/CN=laptop-9' }, 'issued',
     [subject => 'CN=laptop-9', 'strict: the CN that matches']],
    ['strict with OU', '/prof-strict', { subject => '/OU=Sales/CN=laptop-9b' },
     qr/^profile prof-strict: .*\bOU\b.*not allowed/,
     [profile => 'REJECTED prof-strict', 'a refusal is recorded with its profile'],
     [cert => undef, 'no certificate in a refusal']],
    ['strict, CN outside the pattern', '/prof-strict', { subject => '/CN=Laptop_9' },
     qr/^profile prof-strict: subject CN 'Laptop_9' does not match .*\Q^[a-z0-9-]+\E\$'/],
    ['default profile, many attributes', '/prof-default',
     { subject => '/C=FR/O=Evil Inc/OU=Admins/CN=dev-1/emailAddress=root@evil.example' }, 'issued',
     [subject => 'CN=dev-1', 'default profile: the CN only']],
    # values from expressions: a header set by a portal in front of httpd
    ['CN from X-Device-Id', '/prof-names', { subject => '/CN=i-am-the-admin', headers => ['X-Device-Id' => 'dev-42'] },
     'issued',
     [subject => 'O=Example Corp,CN=dev-42',
      'CN from the header (not the requested one), O from the profile, in rule order']],
    ['header value with DN syntax', '/prof-names',
     { subject => '/CN=dev-43', headers => ['X-Device-Id' => 'dev-43,O=Root+CN=x'] }, 'issued',
     [subject => 'O=Example Corp,CN=dev-43\,O=Root\+CN=x',
      'a header value is one CN value, never parsed as more attributes']],
    ['no X-Device-Id header', '/prof-names', { subject => '/CN=dev-44' }, 'issued',
     [subject => 'O=Example Corp', 'an empty expression leaves the attribute out']],
);

######################################################################
# 3. subjectAltName rules; IP, email, URI and UPN names from the request,
# and server-made ones
enroll_rows(
    ['wifi with allowed and other DNS names', '/prof-wifi',
     { subject => '/CN=laptop-12', sid => 1,
       san_dns => ['laptop-12.wifi.example.com', 'evil.example.org', 'wifi.example.com.evil.org'] }, 'issued',
     [san => "DNS:laptop-12.wifi.example.com, URI:$SID_URI",
      'SCEPSubjectAltNameExcess drop: only the DNS name matching \.wifi\.example\.com$ is kept']],
    ['strict with an allowed DNS name', '/prof-strict', { subject => '/CN=srv-1', san_dns => ['srv-1.example.com'] },
     'issued',
     [san => 'DNS:srv-1.example.com', 'strict: the DNS name is kept']],
    ['strict with another DNS name', '/prof-strict',
     { subject => '/CN=srv-2', san_dns => ['srv-2.example.com', 'evil.example.org'] },
     qr/^profile prof-strict: subjectAltName dns:evil\.example\.org is not allowed/],
    ['names from patterns and expressions', '/prof-names',
     { csr => { subject => [[CN => 'dev-45']],
                san => ['IP:10.1.2.3', 'IP:192.168.1.1', 'IP:2001:db8::1', 'email:user@example.com',
                        'email:user@evil.example.org', 'URI:http://evil.example.org/', 'DNS:host.example.com',
                        'otherName:1.3.6.1.4.1.311.20.2.3;UTF8:admin@corp.example.com'] },
       headers => ['X-Device-Id' => 'dev-45'], sid => 1 }, 'issued',
     [san => "IP Address:10.1.2.3, email:user\@example.com, othername: UPN::dev-45\@corp.example.com, URI:$SID_URI",
      'exactly: the matching IP and email, the UPN and the SID URI of the profile; '
      . 'other IPs, emails, the requested URI, DNS and UPN dropped'],
     [text => qr/\Q$SID_URI\E(?:\n|,|$)/, 'the strong-mapping URI appears exactly']],
    ['default profile with requested SANs', '/prof-default',
     { csr => { subject => [[CN => 'dev-46']],
                san => ['DNS:dev-46.example.com', 'IP:10.1.2.3', 'email:user@example.com'] } }, 'issued',
     [san => undef, 'default profile: no subjectAltName at all'],
     [subject => 'CN=dev-46', 'default profile: CN']],
);

######################################################################
# 4. keys. EC keys: SCEP needs an RSA signer to receive the encrypted reply.
# A self-signed signer must hold the CSR's key, so the request is signed by
# an RSA certificate this CA issued (SCEPRenewal is off: an ordinary
# enrollment with the challenge), as clients with a separate RSA key do.
my %ec = (signer => 'ec-signer');
enroll_rows(
    ['RSA 1024 at the default profile', '/prof-default', { key => 1024, subject => '/CN=small-key' },
     qr{^profile /prof-default: RSA key of 1024 bits is outside 2048\.\.8192 \(SCEPRSAKeySize\)}],
    ['RSA 2048 where SCEPRSAKeySize 3072', '/prof-rsa3072', { subject => '/CN=rsa-2048' },
     qr/^profile prof-rsa3072: RSA key of 2048 bits is outside 3072\.\.8192 \(SCEPRSAKeySize\)/],
    ['RSA 3072 where SCEPRSAKeySize 3072', '/prof-rsa3072', { key => 3072, subject => '/CN=rsa-3072' }, 'issued',
     [bits => 3072, 'a 3072-bit key certified']],
    ['the RSA signer certificate for EC requests', '/prof-default', { subject => '/CN=ec-signer', as => 'ec-signer' },
     'issued'],
    ['EC P-256 at vpn (ec-p256 rsa)', '/prof-vpn', { %ec, key => 'P-256', csr => { subject => [[CN => 'ec-vpn-1']] } },
     'issued',
     [pkalg => 'id-ecPublicKey', 'vpn: an EC key certified'],
     [curve => 'prime256v1', 'vpn: on P-256'],
     [pubkey => sub { pubkey_of_key($_[0]{key}) }, 'vpn: the CSR key, not the signer key'],
     [ku => 'Digital Signature', 'EC at vpn: digitalSignature only (no keyEncipherment)'],
     [eku => 'ipsec Internet Key Exchange', 'EC at vpn: ipsecIKE'],
     [sigalg => 'sha384WithRSAEncryption', 'EC at vpn: signed with SHA-384']],
    ['EC P-384 at vpn (ec-p256 rsa)', '/prof-vpn', { %ec, key => 'P-384', csr => { subject => [[CN => 'ec-vpn-2']] } },
     qr/^profile prof-vpn: EC key on curve secp384r1 is not allowed .*\(SCEPKeyAlgorithms\)/],
    ['EC P-256 where SCEPKeyAlgorithms rsa', '/prof-rsa3072',
     { %ec, key => 'P-256', csr => { subject => [[CN => 'ec-rsa-only']] } },
     qr/^profile prof-rsa3072: EC key on curve prime256v1 is not allowed .*\(SCEPKeyAlgorithms\)/],
    ['EC P-256 email certificate', '/prof-email', { %ec, key => 'P-256', csr => { subject => [[CN => 'ec-mail']] } },
     'issued',
     [ku => 'Digital Signature, Non Repudiation, Key Agreement',
      'email type on EC: digitalSignature, nonRepudiation, keyAgreement'],
     [eku => 'E-mail Protection', 'email type on EC: emailProtection']],
    ['EC P-256 with SCEPKeyUsage incl. keyEncipherment/dataEncipherment', '/prof-usage',
     { %ec, key => 'P-256', csr => { subject => [[CN => 'ec-usage']] } }, 'issued',
     [ku => 'Digital Signature, Non Repudiation',
      'keyEncipherment and dataEncipherment are not put on an EC certificate']],
);

######################################################################
# 5. validity
{
    # wifi: SCEPValidity 30d, SCEPValidityBackdate 1h
    my $x = $wifi->{x};
    SKIP: {
        skip 'no wifi certificate', 2 unless $wifi->{cert};
        my $start = $x->{not_after} - 30 * 86400;
        ok($start >= $wifi->{t0} - 1 && $start <= $wifi->{t1} + 1,
           'SCEPValidity 30d: notAfter = issue time + 30 days')
            or diag("notAfter $x->{not_after}, request between $wifi->{t0} and $wifi->{t1}");
        is($x->{not_after} - $x->{not_before}, 30 * 86400 + 3600,
           'SCEPValidityBackdate 1h: notBefore one hour before the issue time');
    }
    my $ca = cert_details(pki('ca.pem'));
    ok($ca->{not_after} - $ca->{not_before} >= 3650 * 86400,
       'the test CA lives 3650 days (prof-cap and prof-nocap rely on it)');
    enroll_rows(
        ['default validity', '/prof-default', { subject => '/CN=validity-default' }, 'issued',
         [validity => 365 * 86400 + 300, 'default: 365 days, notBefore 5 minutes back']],
        ['SCEPValidity 3650d: longer than what is left of the CA', '/prof-cap', { subject => '/CN=validity-cap' },
         'issued',
         [not_after => $ca->{not_after}, 'SCEPValidityCapAtCA on (default): notAfter = the CA\'s notAfter'],
         [sub { ($_[0]{x}{not_after} // 0) - $_[0]{t1} < 3650 * 86400 ? 1 : 0 }, 1,
          'so the certificate is shorter than 3650 days']],
        # README: "a refusal ... whose failInfoText names the profile and the rule"
        ['SCEPValidityCapAtCA off', '/prof-nocap', { subject => '/CN=validity-nocap' }, qr/SCEPValidityCapAtCA/,
         [fail_text => qr/^profile prof-nocap: /, 'SCEPValidityCapAtCA off: failInfoText names the profile']],
    );
}

######################################################################
# 6. signature digest
check($wifi, [sigalg => 'sha256WithRSAEncryption', 'wifi (default digest): sha256WithRSAEncryption']);
check($vpn, [sigalg => 'sha384WithRSAEncryption', 'vpn: SCEPSignatureDigest sha384']);
enroll_rows(
    ['SCEPKeyUsage/SCEPExtendedKeyUsage overrides', '/prof-usage', { subject => '/CN=usage-rsa' }, 'issued',
     [sigalg => 'sha512WithRSAEncryption', 'prof-usage: SCEPSignatureDigest sha512'],
     [ku => 'Digital Signature, Non Repudiation, Key Encipherment, Data Encipherment',
      'SCEPKeyUsage replaces the type\'s keyUsage'],
     [ku_critical => 1, 'keyUsage is critical'],
     [eku => 'TLS Web Client Authentication, Microsoft Smartcard Login, 1.3.6.1.4.1.99999.3.1',
      'SCEPExtendedKeyUsage replaces the type\'s EKU (names and a dotted OID)']],
);

######################################################################
# 7. certificate types, usages, requested extensions
check($vpn, [ku => 'Digital Signature, Key Encipherment', 'ipsec on RSA: digitalSignature, keyEncipherment']);
enroll_rows(
    ['client (default type)', '/prof-default', { subject => '/CN=type-client' }, 'issued',
     [ku => 'Digital Signature, Key Encipherment', 'client: digitalSignature, keyEncipherment'],
     [ku_critical => 1, 'client: keyUsage critical'],
     [eku => 'TLS Web Client Authentication', 'client: clientAuth'],
     [bc => 'CA:FALSE', 'basicConstraints CA:FALSE'],
     [bc_critical => 1, 'basicConstraints critical'],
     [sub { join ' ', grep { defined ext_value($_[0], $_) } $CP, $CDP, $AIA, $TMPL }, '',
      'default: no policies, CRL DP, AIA or template name']],
    ['server type', '/prof-server', { subject => '/CN=type-server' }, 'issued',
     [eku => 'TLS Web Server Authentication', 'server: serverAuth only']],
    ['email type (RSA)', '/prof-email', { subject => '/CN=type-email' }, 'issued',
     [ku => 'Digital Signature, Non Repudiation, Key Encipherment',
      'email on RSA: digitalSignature, nonRepudiation, keyEncipherment'],
     [eku => 'E-mail Protection', 'email: emailProtection']],
    # requested keyUsage/EKU: ignored by default
    ['requested keyUsage/EKU at the default profile', '/prof-default',
     { csr => { subject => [[CN => 'req-ku-ignored']],
                ext => ['keyUsage = critical, dataEncipherment, keyAgreement',
                        'extendedKeyUsage = codeSigning, serverAuth'] } }, 'issued',
     [ku => 'Digital Signature, Key Encipherment', 'requested keyUsage ignored'],
     [eku => 'TLS Web Client Authentication', 'requested EKU ignored']],
    # SCEPRequestedExtensions keyUsage extendedKeyUsage: a subset narrows ...
    ['narrowing request', '/prof-narrow',
     { csr => { subject => [[CN => 'req-ku-subset']],
                ext => ['keyUsage = critical, digitalSignature', 'extendedKeyUsage = clientAuth'] } }, 'issued',
     [ku => 'Digital Signature', 'requested keyUsage subset honoured'],
     [eku => 'TLS Web Client Authentication', 'requested EKU subset honoured']],
    # ... more than the profile: dropped (SCEPSubjectExcess drop) ...
    ['widening request, excess dropped', '/prof-narrow',
     { csr => { subject => [[CN => 'req-ku-more']],
                ext => ['keyUsage = critical, digitalSignature, dataEncipherment, keyAgreement',
                        'extendedKeyUsage = serverAuth, codeSigning'] } }, 'issued',
     [ku => 'Digital Signature', 'keyUsage beyond the profile dropped, never added'],
     [eku => 'TLS Web Server Authentication', 'EKU beyond the profile dropped, never added']],
    # ... or refused (SCEPSubjectExcess refuse)
    ['keyUsage beyond the profile, refuse', '/prof-narrow-refuse',
     { csr => { subject => [[CN => 'req-ku-refused']],
                ext => ['keyUsage = critical, digitalSignature, dataEncipherment'] } },
     qr/^profile prof-narrow-refuse: the requested keyUsage exceeds the profile's/],
    ['EKU beyond the profile, refuse', '/prof-narrow-refuse',
     { csr => { subject => [[CN => 'req-eku-refused']], ext => ['extendedKeyUsage = clientAuth, codeSigning'] } },
     qr/^profile prof-narrow-refuse: the requested extendedKeyUsage exceeds the profile's/],
    ['a subset where excess is refused', '/prof-narrow-refuse',
     { csr => { subject => [[CN => 'req-ku-ok']],
                ext => ['keyUsage = critical, keyEncipherment', 'extendedKeyUsage = serverAuth'] } }, 'issued',
     [ku => 'Key Encipherment', 'narrowed keyUsage'],
     [eku => 'TLS Web Server Authentication', 'narrowed EKU']],
    # basicConstraints CA:TRUE: always refused
    (map { ["basicConstraints CA:TRUE at $_", $_,
            { csr => { subject => [[CN => 'wants-to-be-a-ca']],
                       ext => ['basicConstraints = critical, CA:TRUE', 'keyUsage = critical, keyCertSign, cRLSign'] } },
            qr/basicConstraints CA:TRUE/] } '/prof-default', '/prof-narrow'),
);

######################################################################
# 8. policies, CRL distribution point, AIA
{
    my @checks = (
        [cp => "Policy: 1.3.6.1.4.1.99999.1.1\nPolicy: 2.23.140.1.2.1", 'SCEPCertificatePolicies: both OIDs'],
        [cdp => qr{^Full Name:\n\s*URI:http://pki\.example\.com/ca\.crl$}, 'SCEPCRLDistributionPoint'],
        [aia => qr{OCSP - URI:http://ocsp\.example\.com/(?:\n|$)}, 'SCEPOCSPResponder in authorityInfoAccess'],
        [aia => qr{CA Issuers - URI:http://pki\.example\.com/ca\.cer(?:\n|$)},
         'SCEPCAIssuersURL in authorityInfoAccess'],
        [tmpl => undef, 'no template requested: no template name in the certificate'],
    );
    SKIP: {
        skip 'no wifi certificate', scalar @checks unless $wifi->{cert};
        check($wifi, @checks);
    }
}

######################################################################
# 9. Microsoft certificate templates: the Location's own profile (name
# copied: SCEPIncludeTemplateName on), another Location's profile (by
# SCEPProfileName), or a template nobody mapped
enroll_rows(
    ['WifiTemplate at /prof-wifi', '/prof-wifi',
     { csr => { subject => [[CN => 'laptop-10']], template => 'WifiTemplate',
                san => ['DNS:laptop-10.wifi.example.com'] }, sid => 1 }, 'issued',
     [subject => 'CN=laptop-10,O=Example Corp', 'WifiTemplate: the wifi profile\'s subject'],
     [eku => 'TLS Web Server Authentication, TLS Web Client Authentication',
      'WifiTemplate: the wifi profile\'s usages'],
     [sub { index($_[0]{x}{der}, template_ext_der('WifiTemplate')) >= 0 ? 1 : 0 }, 1,
      'SCEPIncludeTemplateName on: extension 1.3.6.1.4.1.311.20.2, not critical, BMPString "WifiTemplate"'],
     [profile => 'ISSUED prof-wifi', 'recorded with profile prof-wifi']],
    ['VpnTemplate at /prof-wifi', '/prof-wifi',
     { csr => { subject => [[CN => 'laptop-11']], template => 'VpnTemplate',
                san => ['DNS:laptop-11.wifi.example.com'] }, sid => 1 }, 'issued',
     [subject => 'CN=laptop-11', 'VpnTemplate: the vpn profile\'s subject (no O)'],
     [eku => 'ipsec Internet Key Exchange', 'VpnTemplate: ipsecIKE'],
     [sigalg => 'sha384WithRSAEncryption', 'VpnTemplate: SHA-384'],
     [san => undef, 'VpnTemplate: none of the wifi SAN rules'],
     [sub { !defined ext_value($_[0], $TMPL)
            && index($_[0]{x}{der}, "\x2b\x06\x01\x04\x01\x82\x37\x14\x02\x04") < 0 ? 1 : 0 }, 1,
      'VpnTemplate: prof-vpn does not include the template name'],
     [validity => 365 * 86400 + 300, 'VpnTemplate: the vpn profile\'s validity'],
     [profile => 'ISSUED prof-vpn', 'recorded with profile prof-vpn']],
    ['unmapped template at /prof-wifi', '/prof-wifi',
     { csr => { subject => [[CN => 'laptop-13']], template => 'AdminTemplate' }, sid => 1 },
     qr/template 'AdminTemplate' is not mapped .*\(SCEPTemplate\)/],
    ['a template where no SCEPTemplate is set', '/prof-default',
     { csr => { subject => [[CN => 'laptop-14']], template => 'WifiTemplate' } },
     qr/template 'WifiTemplate' is not mapped .*\(SCEPTemplate\)/],
);

######################################################################
# 10. records: the profile of each transaction
check($wifi, [profile => 'ISSUED prof-wifi', 'scep_transactions.profile: prof-wifi']);
check($vpn, [profile => 'ISSUED prof-vpn', 'scep_transactions.profile: prof-vpn']);
enroll_rows(
    ['default profile below the Location', '/prof-default/pkiclient.exe', { subject => '/CN=records-default' },
     'issued',
     [profile => 'ISSUED /prof-default', 'without SCEPProfileName: the Location\'s path']],
);
{
    my (@issued, @missing);
    for my $r (@refusals) {
        my ($label, $tid) = @$r;
        (my $q = $tid // '') =~ s/'/''/g;
        my $rows = db_rows("SELECT status FROM scep_transactions WHERE transaction_id = '$q'");
        push @missing, $label unless @$rows;
        push @issued, $label if grep { $_->{status} eq 'ISSUED' } @$rows;
    }
    ok(!@issued, 'no refused request has an ISSUED row') or diag(join "\n", @issued);
    ok(!@missing, 'every refusal is recorded') or diag(join "\n", @missing);
}

######################################################################
# 11. start-up errors: httpd -t on private configurations

my $modules = modules_dir();
my $so = Apache::Test::vars('scep_so');
my $httpd = httpd_bin();
my $CA = qq{SCEPCACertificateFile "$P/ca.pem"\nSCEPCACertificateKeyFile "$P/ca.key"\n}
       . qq{SCEPRACertificateFile "$P/ra.pem"\nSCEPRACertificateKeyFile "$P/ra.key"\n};

sub conf_file {
    my ($name, $body, %o) = @_;
    my $dir = "$W/conf-$name";
    mkdir $dir;
    my $port = free_port();
    my $text = <<"EOC";
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$dir/httpd.pid"
ErrorLog "$dir/error_log"
DefaultRuntimeDir "$dir"
LoadModule mpm_event_module "$modules/mod_mpm_event.so"
LoadModule authz_core_module "$modules/mod_authz_core.so"
EOC
    $text .= qq{LoadModule dbd_module "$modules/mod_dbd.so"\nLoadModule scep_module "$so"\n}
           . qq{DBDriver sqlite3\nDBDParams "$dir/scep.sqlite"\n} unless $o{bare};
    $text .= $body;
    $text =~ s/\@PORT\@/$port/g;
    $text =~ s/\@DIR\@/$dir/g;
    return (write_file("$dir/httpd.conf", $text), $text, $dir);
}

sub httpd_t {
    my ($file, $dir) = @_;
    my $r = run_cmd([$httpd, '-t', '-d', $dir, '-f', $file], timeout => 30);
    return ($r->{rc}, $r->{out} . $r->{err});
}

# the last line matching $re (1-based)
sub line_of {
    my ($text, $re) = @_;
    my @l = split /\n/, $text;
    my $found = 0;
    for my $i (0 .. $#l) { $found = $i + 1 if $l[$i] =~ $re }
    return $found;
}

my $LOC = sub {    # a Location whose first SCEP directive is the challenge
    my ($path, @lines) = @_;
    return "<Location $path>\n    SetHandler scep\n    SCEPChallengePasswordFile \"$P/challenge\"\n"
         . join('', map { "    $_\n" } @lines) . "</Location>\n";
};

# control: many profiles, templates between them, every directive
{
    my ($file, $text, $dir) = conf_file('good', $CA
        . $LOC->('/a', 'SCEPProfileName a', 'SCEPSubject O value "Example Corp"',
                 'SCEPSubject CN request "^[a-z0-9-]+$"', 'SCEPSubjectAltName dns request "\.example\.com$"',
                 'SCEPSubjectAltName upn value "%{REMOTE_USER}"', 'SCEPKeyUsage digitalSignature',
                 'SCEPExtendedKeyUsage clientAuth 1.2.3.4', 'SCEPValidity 3650d', 'SCEPTemplate T1',
                 'SCEPTemplate T2 b')
        . $LOC->('/b', 'SCEPProfileName b', 'SCEPCertificateType ipsec', 'SCEPKeyAlgorithms ec-p256'));
    my ($rc, $out) = httpd_t($file, $dir);
    is($rc, 0, 'control: a configuration with two valid profiles passes httpd -t') or diag($out);
}

# [name, body, kind ('syntax' or a SCEP tag), directive, regex for the
#  offending line, explanation regex]
my @bad = (
    ['bad regular expression in SCEPSubject',
     $LOC->('/scep', 'SCEPSubject CN request "^[a-z"'),
     'syntax', 'SCEPSubject', qr/SCEPSubject CN/, qr/regular expression/i],
    ['bad regular expression in SCEPSubjectAltName',
     $LOC->('/scep', 'SCEPSubjectAltName dns request "(unclosed"'),
     'syntax', 'SCEPSubjectAltName', qr/SCEPSubjectAltName dns/, qr/regular expression/i],
    ['unknown key usage name',
     $LOC->('/scep', 'SCEPKeyUsage digitalSignature frobnicate'),
     'syntax', 'SCEPKeyUsage', qr/SCEPKeyUsage/, qr/frobnicate/],
    ['unknown subject attribute',
     $LOC->('/scep', 'SCEPSubject shoeSize request'),
     'syntax', 'SCEPSubject', qr/SCEPSubject shoeSize/, qr/shoeSize/],
    ['unknown subjectAltName type',
     $LOC->('/scep', 'SCEPSubjectAltName x400 request'),
     'syntax', 'SCEPSubjectAltName', qr/SCEPSubjectAltName x400/, qr/x400/],
    ['unknown extendedKeyUsage name',
     $LOC->('/scep', 'SCEPExtendedKeyUsage clientAuth everythingAuth'),
     'syntax', 'SCEPExtendedKeyUsage', qr/SCEPExtendedKeyUsage/, qr/everythingAuth/],
    ['SCEPSignatureDigest md5',
     $LOC->('/scep', 'SCEPSignatureDigest md5'),
     'syntax', 'SCEPSignatureDigest', qr/SCEPSignatureDigest/, qr/md5/],
    ['unknown certificate type',
     $LOC->('/scep', 'SCEPCertificateType superuser'),
     'syntax', 'SCEPCertificateType', qr/SCEPCertificateType/, qr/superuser/],
    ['unparsable expression in SCEPSubject value',
     $LOC->('/scep', 'SCEPSubject CN value "%{HTTP:X-Device"'),
     'syntax', 'SCEPSubject', qr/SCEPSubject CN value/, qr/X-Device/],
    ['SCEPKeyUsage keyCertSign (end-entity certificates only)',
     $LOC->('/scep', 'SCEPKeyUsage digitalSignature keyCertSign'),
     'SCEP00008', 'SCEPKeyUsage', qr/SCEPKeyUsage/, qr/keyCertSign/],
    ['SCEPValidity longer than the CA\'s whole lifetime',
     $LOC->('/scep', 'SCEPValidity 3651d'),
     'SCEP00008', 'SCEPValidity', qr/SCEPValidity 3651d/, qr/3651 days.*3650 days/],
    ['SCEPTemplate naming a profile that does not exist',
     $LOC->('/scep', 'SCEPProfileName wifi', 'SCEPTemplate WifiTemplate nonexistent'),
     'SCEP00010', 'SCEPTemplate', qr/SCEPTemplate WifiTemplate/, qr/nonexistent/],
    ['duplicate SCEPProfileName',
     $LOC->('/scep/a', 'SCEPProfileName dup') . $LOC->('/scep/b', 'SCEPProfileName dup'),
     'SCEP00009', 'SCEPProfileName', qr/SCEPProfileName dup/, qr/\bdup\b.*already used/],
    # (a virtual host serves the main server's Locations, so a template in a
    # vhost may name a main-server profile: that is valid, not tested here)
    # a main-server <Location> serves every virtual host too (with that
    # host's CA): its profile must fit each CA it issues with
    ['SCEPValidity of a main-server Location longer than a virtual host\'s CA lifetime',
     $LOC->('/scep', 'SCEPValidity 3000d')
       . "<VirtualHost 127.0.0.1:\@PORT\@>\n"
       . qq{    SCEPCACertificateFile "$P/inter/ca.pem"\n    SCEPCACertificateKeyFile "$P/inter/ca.key"\n}
       . qq{    SCEPCAChainFile "$P/inter/chain.pem"\n}
       . qq{    SCEPRACertificateFile "$P/inter/ra.pem"\n    SCEPRACertificateKeyFile "$P/inter/ra.key"\n}
       . "</VirtualHost>\n",
     'SCEP00008', 'SCEPValidity', qr/SCEPValidity 3000d/, qr/3000 days.*1825 days/],
    ['SCEPValidityBackdate not shorter than SCEPValidity',
     $LOC->('/scep', 'SCEPValidity 1d', 'SCEPValidityBackdate 2d'),
     'SCEP00008', 'SCEPValidityBackdate', qr/SCEPValidityBackdate 2d/, qr/shorter/],
);

for my $c (@bad) {
    my ($name, $body, $kind, $directive, $line_re, $explain, $vhost_re) = @$c;
    (my $slug = lc $name) =~ s/\W+/-/g;
    my ($file, $text, $dir) = conf_file($slug, $CA . $body);
    my ($rc, $out) = httpd_t($file, $dir);
    my $line = line_of($text, $line_re);
    isnt($rc, 0, "$name: httpd -t fails");
    if ($kind eq 'syntax') {
        like($out, qr/Syntax error on line $line of \Q$file\E/, "$name: httpd names $file:$line");
        like($out, qr/\Q$directive\E/, "$name: the message names $directive");
    }
    else {
        like($out, qr/\Q$kind\E: .*\Q$directive\E/, "$name: $kind names $directive");
        # README: "... stop httpd, naming the directive's file:line"
        like($out, qr/\Q$kind\E: .*\Q$file\E:$line\b/, "$name: at the directive's line ($file:$line)");
    }
    like($out, $explain, "$name: explains ($explain)");
    if ($vhost_re) {
        my $vl = line_of($text, $vhost_re);
        like($out, qr/\Q$kind\E: .* in [^()]*\(\Q$file\E:$vl\)/, "$name: names the <VirtualHost> at line $vl");
    }
    diag("$name:\n$out") if $ENV{SCEP_TEST_VERBOSE};
}

######################################################################
# 12. the documentation's configurations pass httpd -t with the test PKI

sub doc_conf {
    my ($text, $dir) = @_;
    $text =~ s{/usr/lib/apache2/modules/mod_scep\.so}{$so}g;
    $text =~ s{/usr/lib/apache2/modules/}{$modules/}g;
    $text =~ s{/var/lib/mod_scep/scep\.sqlite}{$dir/scep.sqlite}g;
    $text =~ s{/etc/mod_scep/(?:challenge|[\w-]+\.secret)[\w-]*}{$P/challenge}g;
    $text =~ s{/etc/mod_scep/}{$P/}g;
    $text =~ s{<VirtualHost \*:80>}{<VirtualHost 127.0.0.1:\@PORT\@>}g;
    return $text;
}

{
    my $top = Apache::Test::vars('scep_top');
    my $sample = read_file("$top/conf/mod_scep.conf.sample");
    my $dir = "$W/conf-sample";
    mkdir $dir;
    my $text = doc_conf($sample, $dir);
    my @left = grep { !/^\s*#/ && m{/etc/|/var/lib/mod_scep|/usr/lib/apache2/modules/mod_scep} }
               split /\n/, $text;
    ok(!@left, 'sample: every path was replaced by the test PKI') or diag(join "\n", @left);
    ok((() = $text =~ /^\s*SCEPProfileName\s/mg) >= 2 && $text =~ /^\s*SCEPTemplate\s+\S+\s+\S+/m,
       'sample: it shows several profiles and a template mapped to another one');
    my ($file, undef, $d) = conf_file('sample', $text, bare => 1);
    my ($rc, $out) = httpd_t($file, $d);
    is($rc, 0, 'conf/mod_scep.conf.sample passes httpd -t') or diag($out);
    like($out, qr/Syntax OK/, 'sample: Syntax OK');

    # README's "two profiles on one virtual host and CA" example
    my $readme = read_file("$top/README");
    my ($example) = $readme =~ /Example: two profiles on one virtual host and CA\.\n\n((?: {4}.*\n|\n)+)/;
    $example //= '';
    $example =~ s/^ {4}//mg;
    ok($example =~ /<Location/ && $example =~ /SCEPProfileName/, 'README: the two-profile example found');
    ($file, undef, $d) = conf_file('readme', $CA . doc_conf($example, "$W/conf-readme"));
    ($rc, $out) = httpd_t($file, $d);
    is($rc, 0, 'README\'s two-profile example passes httpd -t') or diag($out);
}

######################################################################
# 13. a virtual host inherits the main server's <Location>s, their
# profiles and the CA: a template request there is served as on the main
# server (README SCEPTemplate: "this Location's own profile, or the
# Location whose SCEPProfileName is profile-name"). A private httpd, so
# the suite's server keeps no virtual host for this.
{
    my $port2 = free_port();
    my $h = private_httpd(name => 'vhost', conf => <<"EOC");
\@HTTPD_BASE\@
Listen 127.0.0.1:$port2
LoadModule mpm_event_module "\@MODULES\@/mod_mpm_event.so"
DBDriver sqlite3
DBDParams "\@DB\@"
DBDInitSQL "PRAGMA busy_timeout=10000"
\@TEST_CA\@
<Location /tls>
    SetHandler scep
    SCEPChallengePasswordFile "\@PKI\@/challenge"
    SCEPProfileName tls
    SCEPCertificateType server
    SCEPTemplate TlsTemplate
    SCEPTemplate IkeTemplate ike
</Location>
<Location /ike>
    SetHandler scep
    SCEPChallengePasswordFile "\@PKI\@/challenge"
    SCEPProfileName ike
    SCEPCertificateType ipsec
</Location>
<VirtualHost 127.0.0.1:$port2>
    ServerName vhost.example.com
</VirtualHost>
EOC
    ok($h->{ok}, 'httpd with a virtual host starts') or diag($h->{err});
    SKIP: {
        skip 'httpd did not start', 8 unless $h->{ok};
        for my $p (['main server', $h->{port}], ['virtual host', $port2]) {
            my ($where, $port) = @$p;
            my $r = enroll_at('/tls', port => $port, subject => '/CN=vh-plain');
            issued("$where, no template", $r);
            my $key = rsa_key();
            $r = enroll_at('/tls', port => $port, key => $key,
                           csr => csr(key => $key, subject => [[CN => 'vh-own']], template => 'TlsTemplate'));
            is("$r->{status} " . (ext_value($r, $EKU) // '-'), '0 TLS Web Server Authentication',
               "$where: TlsTemplate is served with the Location's own profile") or diag(why($r));
            $key = rsa_key();
            $r = enroll_at('/tls', port => $port, key => $key,
                           csr => csr(key => $key, subject => [[CN => 'vh-other']], template => 'IkeTemplate'));
            is("$r->{status} " . (ext_value($r, $EKU) // '-'), '0 ipsec Internet Key Exchange',
               "$where: IkeTemplate is served with profile ike") or diag(why($r));
        }
    }
    private_httpd_stop($h);
    # AH00045/AH00046: a loaded machine stops httpd slowly; not the module's doing
    my @bad = grep { /\[(?:\w+:)?(?:warn|error|crit|alert|emerg)\]/ && !/AH0004[56]/ }
              split /\n/, eval { read_file("$h->{dir}/logs/error_log") } // '';
    ok(!@bad, 'the private httpd logged nothing at [warn] or worse') or diag(join "\n", @bad);
}

error_log_clean();
done_testing();
