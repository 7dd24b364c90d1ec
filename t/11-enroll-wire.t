# PKIOperation on the wire with the independent scepreq tool
# (scep-wire.md §1.4, §2, §3; conformance cases 7-14, 16-20, 23, 39):
# POST and GET forms, cipher/digest pairs, several recipients, and every
# CertRep field of each SUCCESS.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);

my $PER_SUCCESS = 17;
my @cases;    # filled below; each is one enrollment that must succeed

my %CIPHER = (des3 => 'des-ede3-cbc', aes128 => 'aes-128-cbc', aes192 => 'aes-192-cbc',
              aes256 => 'aes-256-cbc');
my $RA_SUBJECT = 'CN=mod_scep Test CA RA,O=mod_scep';

# one SUCCESS and everything a client checks in it
sub check_success {
    my ($label, $req, $resp, %o) = @_;
    my $n = 0;
    SKIP: {
        is($resp->{status}, 200, "$label: HTTP 200") or diag($resp->{error} // $resp->{body});
        $n++;
        skip "$label: no CertRep", $PER_SUCCESS - $n unless $resp->{status} == 200;
        is($resp->{headers}{'content-type'}, 'application/x-pki-message',
           "$label: Content-Type exactly application/x-pki-message");
        is($resp->{headers}{'content-length'}, length $resp->{body}, "$label: Content-Length");
        my $rep = parse_reply($resp, $req, trust => $o{trust});
        is($rep->{verified}, 1, "$label: CertRep verifies against GetCACert's certs")
            or diag($rep->{err});
        is($rep->{messageType}, '3', "$label: messageType 3 (CertRep)");
        is($rep->{pkiStatus}, '0', "$label: pkiStatus 0 (SUCCESS)")
            or diag("failInfo=" . ($rep->{failInfo} // '-') . ' ' . ($rep->{failInfoText} // ''));
        is($rep->{transactionID}, $req->{tid}, "$label: transactionID echoed");
        is($rep->{transactionIDType}, 'PRINTABLESTRING', "$label: transactionID is a PrintableString");
        ok(defined $rep->{senderNonce} && length($rep->{senderNonce}) == 32
           && uc $rep->{senderNonce} ne uc $req->{nonce},
           "$label: fresh 16-byte senderNonce");
        is(uc($rep->{recipientNonce} // ''), uc $req->{nonce}, "$label: recipientNonce = request's senderNonce");
        is($rep->{signerSubject}, $o{signer} || $RA_SUBJECT, "$label: signed by the RA");
        is($rep->{digest}, $o{digest} || 'sha256', "$label: reply digest mirrors the request");
        is($rep->{cipher}, $CIPHER{ $o{cipher} || 'aes128' }, "$label: reply cipher mirrors the request");
        ok(($rep->{certCount} // 0) >= 1, "$label: the envelope holds the certificate");
        (my $cn = $req->{subject} // '') =~ s{^/}{};
        is($rep->{cert0}, $cn, "$label: issued certificate first, subject $cn");
        ok($rep->{cert_file} && openssl_verify(pki('ca.pem'), $rep->{cert_file}),
           "$label: issued certificate verifies against the CA");
        my $want = run_cmd(['openssl', 'pkey', '-in', $req->{key}, '-pubout'])->{out};
        ok($rep->{cert_file} && (cert_info($rep->{cert_file}) || {})->{pubkey} eq $want,
           "$label: it certifies the request's key");
    }
}

my $n_cases = 0;
sub success_case { $n_cases++; push @cases, [@_] }

########## POST forms (cases 7, 8)
success_case('POST application/x-pki-message', {}, {});
success_case('POST application/octet-stream (micromdm)', {}, { content_type => 'application/octet-stream' });
success_case('POST without Content-Type (sscep)', {}, { content_type => undef });
success_case('POST without operation parameter', {}, { query => undef, content_type => undef });
success_case('POST with another operation value (still a PKIOperation)', {},
             { query => 'operation=Enroll' });
success_case('POST to /scep/pkiclient.exe', {}, { path => '/scep/pkiclient.exe' });

########## GET forms (cases 9-12)
success_case('GET, fully %-escaped standard base64 (certmonger)', {}, { method => 'GET' });
success_case('GET, 64-column base64 with %0A and literal / (sscep, Cisco)', {},
             { method => 'GET', encode => \&b64_wrapped });
success_case('GET, literal + / = (Apple)', {}, { method => 'GET', encode => \&b64_std });
success_case('GET, URL-safe base64 without padding, message first (micromdm <= 2.3)', {},
             { method => 'GET', encode => \&b64_url, message_first => 1 });
success_case('GET on the NDES path + /pkiclient.exe (Cisco)', {},
             { method => 'GET', encode => \&b64_wrapped,
               path => '/certsrv/mscep/mscep.dll/pkiclient.exe' });

########## cipher and digest pairs (case 14); the reply mirrors them
for my $p (['des3', 'sha1'], ['aes128', 'sha256'], ['aes256', 'sha256'], ['aes128', 'sha512'],
           ['aes192', 'sha256'], ['aes256', 'sha512']) {
    success_case("$p->[0] + $p->[1]", { cipher => $p->[0], digest => $p->[1] }, {},
                 cipher => $p->[0], digest => $p->[1]);
}
success_case('aes256 + sha256 by GET (certmonger)', { cipher => 'aes256' }, { method => 'GET' },
             cipher => 'aes256');

########## envelope and attribute variants (cases 16, 19, 20, 39)
success_case('encrypted to RA and CA (micromdm: every GetCACert cert)', { all_recipients => 1 }, {});
success_case('UTF8String challengePassword', { args => ['--challenge-utf8'] }, {});
success_case('transactionID with + / = (micromdm style)', { tid => 'q1w2+e3r4/t5y6=' }, {});
success_case('77-digit decimal transactionID (certmonger style)',
             { tid => join('', map { $_ % 10 } 1 .. 77) }, {});
success_case('8-byte senderNonce is echoed', { nonce => '0102030405060708' }, {});

plan tests => $PER_SUCCESS * $n_cases + 7 + $PER_SUCCESS + 1;

for my $c (@cases) {
    my ($label, $build, $send, %o) = @$c;
    my $cn = $label;
    $cn =~ s/[^A-Za-z0-9]+/-/g;
    $cn = lc substr($cn, 0, 50);
    $cn =~ s/-+$//;
    my $req = build_request(subject => "/CN=wire-$cn", %$build);
    my $resp = send_request($req, %$send);
    check_success($label, $req, $resp, %o);
}

########## GET encodings: the properties the cases above rely on
{
    my $der = build_request(subject => '/CN=encodings')->{der};
    like(b64_std($der), qr/\+/, 'the literal-+ case really carries + characters');
    unlike(b64_escaped($der), qr/[+\/=]/, 'the %-escaped form has no literal + / =');
    like(b64_wrapped($der), qr/%0A/, 'the wrapped form has %0A line breaks');
    like(b64_wrapped($der), qr{/}, 'the wrapped form keeps / literal');
    like(b64_url($der), qr/[-_]/, 'the URL-safe form uses - or _');
    unlike(b64_url($der), qr/[=+\/]/, 'the URL-safe form has no padding, + or /');
}

########## a request line over 8 kB: 4096-bit key, wrapped base64 (case 13)
{
    my $key = new_key(bits => 4096);
    # sscep/Cisco-style: wrapped base64, the CSR with a few DNS names, and
    # encrypted to RA and CA
    my $req = build_request(key => $key, subject => '/CN=wire-4096-bit-get', all_recipients => 1,
                            args => [map { ('--san-dns', "host-$_.long-name.devices.example.com") } 1 .. 48]);
    my $line = 'GET /scep?operation=PKIOperation&message=' . b64_wrapped($req->{der}) . ' HTTP/1.1';
    ok(length($line) > 8190, 'the GET request line is over httpd\'s default 8190 bytes ('
       . length($line) . ')');
    my $resp = send_request($req, method => 'GET', encode => \&b64_wrapped);
    check_success('4096-bit key by GET under LimitRequestLine 32768', $req, $resp);
}

error_log_clean();
