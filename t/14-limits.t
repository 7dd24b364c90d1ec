# Limits on hostile input (issue #7; README "Operations" -> "Limits on
# hostile input"): the body size, the GET message length, how many
# certificates, signed attributes and recipients a pkiMessage may carry, the
# transactionID and senderNonce lengths, deeply nested and truncated DER,
# garbage and the wrong content type.
#
# What each limit answers:
#   - a body over SCEPMaxRequestBody: 413 (also chunked, also when
#     Content-Length lies), before anything is parsed;
#   - a GET request line over LimitRequestLine: 414 from httpd itself;
#   - over a limit of the outer SignedData (certificates, signed attributes,
#     transactionID, senderNonce): HTTP 400, nothing of it verified, nothing
#     echoed or recorded;
#   - over the recipient limit of the envelope (looked at only once the
#     signature verified): a signed CertRep FAILURE badRequest;
#   - the boundary value itself is accepted: SUCCESS.
# Already covered by t/03-errors.t and not repeated here: 1025 bytes to
# /scep-small (limit 1024) and 262145 to /scep are 413, exactly 1024 bytes of
# junk are read (then 400), a chunked PKCSReq over 1024 bytes is 413, an
# empty body and a truncated PKCSReq (one cut) are 400.
#
# Every refusal is logged once, at info or notice, with its SCEPnnnnn tag and
# the reason. Never a 500, never a crash.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan', 'done_testing'];
use lib 't/lib';
use SCEPTest qw(:all);

my $DEFAULT_MAX = 262144;     # SCEPMaxRequestBody default, at /scep
my $SMALL_MAX = 1024;         # /scep-small
my $LINE_MAX = 32768;         # LimitRequestLine in t/conf/extra.conf.in
my @statuses;                 # [label, HTTP status] of every request sent
my $run = sprintf '%x%x', time, $$;    # keeps transactionIDs unique per run
my $START = log_mark();
my $OID_DATA = "\x2a\x86\x48\x86\xf7\x0d\x01\x07\x01";      # 1.2.840.113549.1.7.1
my $OID_SIGNED = "\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02";    # 1.2.840.113549.1.7.2

sub record { my ($label, $r) = @_; push @statuses, [$label, $r->{status}]; return $r }

# The non-debug lines mod_scep logged since $mark must be exactly one, at
# info or notice, with a SCEPnnnnn tag and matching $re (besides the
# transaction's summary line, SCEP00367, which is a record, not the reason).
sub logged_once {
    my ($label, $mark, $re) = @_;
    my @l = grep { /\[scep:(?!debug\])\w+\]/ && !/SCEP00367: / } error_log_lines($mark);
    ok(@l == 1 && $l[0] =~ /\[scep:(?:info|notice)\]/ && $l[0] =~ /SCEP\d{5}: / && $l[0] =~ $re,
       "$label: logged once at info/notice with a SCEP tag and the reason")
        or diag(@l ? join("\n", 'logged:', @l) : 'nothing logged by mod_scep');
}

# HTTP 400 (or $o{status}) with a text/plain reason, logged once.
sub refused_http {
    my ($label, $want, $re, %req) = @_;
    my $mark = log_mark();
    my $r = record($label, http(%req));
    is($r->{status}, $want, "$label: HTTP $want") or diag($r->{error} // $r->{head} // '');
    logged_once($label, $mark, $re) if $re;
    return $r;
}

sub post {
    my ($path, $body, %o) = @_;
    my @h = @{ delete $o{headers} || [] };
    return (method => 'POST', path => $path,
            headers => ['Content-Type' => 'application/x-pki-message', @h], body => $body, %o);
}

# A request answered with a certificate.
sub check_success {
    my ($label, $req, $resp) = @_;
    record($label, $resp);
    SKIP: {
        is($resp->{status}, 200, "$label: HTTP 200") or diag($resp->{error} // $resp->{body});
        skip "$label: no CertRep", 3 unless $resp->{status} == 200;
        my $rep = parse_reply($resp, $req);
        is($rep->{pkiStatus}, '0', "$label: SUCCESS")
            or diag('failInfo=' . ($rep->{failInfo} // '-') . ' ' . ($rep->{failInfoText} // '')
                    . ' ' . ($rep->{err} // ''));
        is($rep->{transactionID}, $req->{tid}, "$label: transactionID echoed");
        ok($rep->{cert_file} && openssl_verify(pki('ca.pem'), $rep->{cert_file}),
           "$label: the issued certificate verifies against the CA");
    }
}

# A signed CertRep FAILURE with $fail and a failInfoText matching $re, logged
# once (with the reason matching $log_re, when the reply does not say it).
sub check_failure {
    my ($label, $req, $resp, $fail, $re, $mark, $log_re) = @_;
    record($label, $resp);
    SKIP: {
        is($resp->{status}, 200, "$label: HTTP 200 (a signed CertRep)")
            or diag($resp->{error} // $resp->{body});
        skip "$label: no CertRep", 5 unless $resp->{status} == 200;
        my $rep = parse_reply($resp, $req, decrypt => 0);
        is($rep->{verified}, 1, "$label: the CertRep verifies") or diag($rep->{err});
        is($rep->{pkiStatus}, '2', "$label: FAILURE");
        is($rep->{failInfo}, $fail, "$label: failInfo $fail") or diag($rep->{failInfoText});
        like($rep->{failInfoText} // '', $re, "$label: failInfoText says why");
        logged_once($label, $mark, qr/SCEP00201: refused transaction .*${\ ($log_re || $re)}/);
    }
}

sub long_tid { my ($n, $tag) = @_; my $t = "$tag-$run-"; return $t . ('T' x ($n - length $t)) }

########## body size
note('body size: the 1025/262145-byte 413s and the 1024-byte read are in t/03-errors.t');
{
    # a real PKCSReq posted as base64 (some clients do; line breaks are
    # ignored) padded with newlines to exactly the limit: read and served
    my $req = build_request(subject => '/CN=limits-body-exact');
    my $b64 = b64_std($req->{der});
    my $exact = $b64 . ("\n" x ($DEFAULT_MAX - length $b64));
    is(length $exact, $DEFAULT_MAX, "padded base64 PKCSReq is exactly $DEFAULT_MAX bytes");
    check_success("POST a PKCSReq of exactly $DEFAULT_MAX bytes (base64 + newlines)",
                  $req, http(post('/scep', $exact)));
    refused_http('the same PKCSReq one byte over the limit', 413, qr/SCEP00302: .*over the limit/,
                 post('/scep', $exact . "\n"));

    # chunked: no Content-Length, the limit is counted while reading
    my $chunk = sub {
        my ($data, $size) = @_;
        my $body = '';
        $body .= sprintf("%x\r\n%s\r\n", length($1), $1) while $data =~ /(.{1,$size})/gs;
        return (body => $body . "0\r\n\r\n", no_length => 1,
                headers => ['Transfer-Encoding' => 'chunked']);
    };
    my $req2 = build_request(subject => '/CN=limits-body-chunked');
    my $b64b = b64_std($req2->{der});
    my $exact2 = $b64b . ("\n" x ($DEFAULT_MAX - length $b64b));
    check_success("chunked POST of exactly $DEFAULT_MAX bytes", $req2,
                  http(method => 'POST', path => '/scep', $chunk->($exact2, 7000)));
    refused_http("chunked POST of " . ($DEFAULT_MAX + 1) . " bytes", 413,
                 qr/SCEP00303: .*over the limit/,
                 method => 'POST', path => '/scep', $chunk->($exact2 . "\n", 7000));
    refused_http("chunked POST of exactly $SMALL_MAX bytes to /scep-small: read, then 400", 400,
                 qr/SCEP00208: unreadable PKIOperation/,
                 method => 'POST', path => '/scep-small',
                 $chunk->("\x30" . ("\x11" x ($SMALL_MAX - 1)), 100));
    refused_http('chunked POST of ' . ($SMALL_MAX + 1) . ' bytes to /scep-small', 413,
                 qr/SCEP00303: .*over the limit of $SMALL_MAX bytes/,
                 method => 'POST', path => '/scep-small',
                 $chunk->("\x30" . ("\x11" x $SMALL_MAX), 100));
    refused_http('chunked POST with one empty chunk (empty body)', 400, qr/SCEP00208: .*empty/,
                 method => 'POST', path => '/scep', body => "0\r\n\r\n", no_length => 1,
                 headers => ['Transfer-Encoding' => 'chunked']);

    # Content-Length that lies
    refused_http('Content-Length 16777216 with a 10-byte body: 413 before reading', 413,
                 qr/SCEP00302: request body of 16777216 bytes is over the limit/,
                 post('/scep', "\x30" x 10, no_length => 1,
                      headers => ['Content-Length' => 16777216]));
    refused_http('Content-Length 100 with a whole PKCSReq behind it: the 100 bytes are read, 400',
                 400, qr/SCEP00208: unreadable PKIOperation/,
                 post('/scep', $req->{der}, no_length => 1, headers => ['Content-Length' => 100]));
    refused_http('Content-Length 10 and chunked, ' . ($SMALL_MAX + 1) . ' bytes to /scep-small: '
                 . 'chunked wins, 413', 413, qr/SCEP00303: .*over the limit of $SMALL_MAX bytes/,
                 method => 'POST', path => '/scep-small',
                 $chunk->("\x30" . ("\x11" x $SMALL_MAX), 100),
                 headers => ['Transfer-Encoding' => 'chunked', 'Content-Length' => 10]);

    # Content-Length promises more than comes, then the client stops sending
    my $mark = log_mark();
    my $r = record('Content-Length 2000, 300 bytes, then end of input',
                   half_closed_post('/scep', 2000, substr($req->{der}, 0, 300)));
    is($r->{status}, 400, 'Content-Length 2000, 300 bytes, then end of input: HTTP 400')
        or diag($r->{error} // $r->{head} // '');
    logged_once('body cut short', $mark, qr/SCEP00308: cannot read the request body after 300 bytes/);
    refused_http('malformed chunk size', 400, qr/SCEP00308: cannot read the request body/,
                 method => 'POST', path => '/scep', no_length => 1,
                 headers => ['Transfer-Encoding' => 'chunked'], body => "zz\r\n0\r\n\r\n");
}

# POST with a Content-Length, send part of the body, shut down our side.
sub half_closed_post {
    my ($path, $length, $body) = @_;
    require IO::Socket::INET;
    my $port = port();
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 30)
        or return { status => 0, error => "connect: $!" };
    binmode $s;
    print $s "POST $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nConnection: close\r\n"
        . "Content-Type: application/x-pki-message\r\nContent-Length: $length\r\n\r\n$body";
    shutdown($s, 1);
    my $resp = '';
    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 60;
        while (sysread($s, my $buf, 65536)) { $resp .= $buf }
        alarm 0;
    };
    alarm 0;
    close $s;
    my ($status) = $resp =~ m{^HTTP/\d\.\d (\d{3})};
    return { status => $status || 0, head => substr($resp, 0, 300), error => $@ || undef };
}

########## GET message length (LimitRequestLine 32768)
{
    # a real 4096-bit request, fattened with extra certificates so that its
    # request line comes close to the limit, by GET in URL-safe base64
    my $req = build_request(key => new_key(bits => 4096), subject => '/CN=limits-get-4096',
                            args => ['--extra-certs', 15]);
    my $path = '/scep?operation=PKIOperation&message=' . b64_url($req->{der});
    my $line = length("GET $path HTTP/1.1");
    ok($line > 24000 && $line < $LINE_MAX,
       "a 4096-bit PKCSReq with 16 certificates makes a $line-byte request line (under $LINE_MAX)");
    check_success('GET a 4096-bit PKCSReq close to LimitRequestLine', $req, http(path => $path));

    # junk just under the limit: read, decoded, refused as unreadable
    my $junk = "\x30\x82" . join('', map { chr(($_ * 131 + 7) % 256) } 1 .. 23000);
    $path = '/scep?operation=PKIOperation&message=' . b64_url($junk);
    ok(length("GET $path HTTP/1.1") < $LINE_MAX, 'junk message under the limit');
    refused_http('GET a ' . length($path) . '-byte junk message: 400, not 500', 400,
                 qr/SCEP00208: unreadable PKIOperation/, path => $path);

    # over the limit: httpd refuses the request line before mod_scep runs
    $path = '/scep?operation=PKIOperation&message=' . ('A' x $LINE_MAX);
    my $mark = log_mark();
    refused_http('GET with a ' . length($path) . '-byte URL', 414, undef, path => $path);
    my @l = error_log_lines($mark);
    ok((grep { /\[core:info\].*AH00565: .*LimitRequestLine/ } @l) == 1 && !grep({ /\[scep:/ } @l),
       'the 414 is logged once by httpd (AH00565, info); mod_scep never sees the request')
        or diag(join "\n", @l);
    $path = '/scep?operation=PKIOperation&message=' . b64_url($req->{der}) . ('A' x 8000);
    refused_http('GET the 4096-bit PKCSReq padded over LimitRequestLine', 414, undef, path => $path);
}

########## how many certificates, recipients, signed attributes; how long
########## the transactionID and the senderNonce
{
    my ($req, $mark);

    # certificates: 16 accepted, 17 refused before the signer is looked for
    $req = build_request(subject => '/CN=limits-16-certs', args => ['--extra-certs', 15]);
    is($req->{counts}{certs}, 16, 'the message carries 16 certificates');
    check_success('16 certificates', $req, send_request($req));
    $req = build_request(subject => '/CN=limits-17-certs', args => ['--extra-certs', 16]);
    is($req->{counts}{certs}, 17, 'the message carries 17 certificates');
    refused_http('17 certificates', 400, qr/SCEP00208: .*too many certificates in the message \(17, the limit is 16\)/,
                 post('/scep', $req->{der}));

    # signed attributes: 64 accepted, 65 refused
    my $base = build_request(subject => '/CN=limits-attrs-base')->{counts}{signed_attrs};
    note("a plain pkiMessage has $base signed attributes");
    $req = build_request(subject => '/CN=limits-64-attrs', args => ['--extra-attrs', 64 - $base]);
    is($req->{counts}{signed_attrs}, 64, 'the signer has 64 signed attributes');
    check_success('64 signed attributes', $req, send_request($req));
    $req = build_request(subject => '/CN=limits-65-attrs', args => ['--extra-attrs', 65 - $base]);
    is($req->{counts}{signed_attrs}, 65, 'the signer has 65 signed attributes');
    refused_http('65 signed attributes', 400, qr/SCEP00208: .*too many signed attributes \(65, the limit is 64\)/,
                 post('/scep', $req->{der}));

    # transactionID: 1024 bytes accepted (below, in every database), 1025 refused
    $req = build_request(subject => '/CN=limits-tid-1025', tid => long_tid(1025, 'tid'));
    refused_http('transactionID of 1025 bytes', 400,
                 qr/SCEP00208: .*transactionID of 1025 bytes \(the limit is 1024\)/,
                 post('/scep', $req->{der}));

    # the longest transactionID must fit every database: a printable one is
    # recorded as sent, any other as "hex:" and 2048 hex digits
    for my $db (['SQLite', undef], ['PostgreSQL', 'scep_pg', 'SCEP_TEST_PGSQL'],
                ['MariaDB', 'scep_mysql', 'SCEP_TEST_MYSQL']) {
        my ($name, $vhost, $env) = @$db;
        SKIP: {
            skip "$name: $env is not set", 9 if $env && !$ENV{$env};
            $req = build_request(subject => "/CN=limits-tid-1024-$name",
                                 tid => long_tid(1024, "tid-$name"));
            check_success("$name: transactionID of 1024 printable bytes", $req,
                          send_request($req, vhost => $vhost));
            my $raw = long_tid(1024, "raw-$name");
            substr($raw, -1, 1) = "\x01";
            $req = build_request(subject => "/CN=limits-tid-1024-raw-$name", tid => $raw);
            my $resp = send_request($req, vhost => $vhost);
            record("$name: non-printable transactionID", $resp);
            is($resp->{status}, 200, "$name: transactionID of 1024 bytes, not printable: HTTP 200");
            my $rep = $resp->{status} == 200 ? parse_reply($resp, $req) : {};
            is($rep->{pkiStatus}, '0', "$name: ... SUCCESS (recorded as hex:, 2052 characters)")
                or diag('failInfo=' . ($rep->{failInfo} // '-') . ' ' . ($rep->{failInfoText} // ''));
            ok($rep->{cert_file}, "$name: ... with a certificate");
            # t/20-pgsql.t and t/21-mysql.t start from empty tables: take
            # these rows out again
            my %dbo = $vhost ? ($vhost eq 'scep_pg' ? (pg => 1) : (mysql => 1)) : ();
            my $in = join ', ', map { "'$_'" } long_tid(1024, "tid-$name"),
                                               'hex:' . uc unpack('H*', $raw);
            my $rows = db_rows("SELECT transaction_id, serial FROM scep_transactions "
                               . "WHERE transaction_id IN ($in)", %dbo);
            is_deeply([sort map { length $_->{transaction_id} } @$rows], [1024, 2052],
                      "$name: recorded with transactionIDs of 1024 and 2052 characters");
            if ($vhost) {
                my $serials = join ', ', map { "'$_->{serial}'" } grep { $_->{serial} } @$rows;
                my @sql = ("DELETE FROM scep_transactions WHERE transaction_id IN ($in)",
                           $serials ? "DELETE FROM scep_certificates WHERE serial IN ($serials)" : ());
                my $ok = 1;
                for my $sql (@sql) {
                    $ok = 0, diag($@) unless eval { db_exec($sql, %dbo); 1 };
                }
                ok($ok && !@{ db_rows("SELECT serial FROM scep_transactions WHERE transaction_id IN ($in)",
                                      %dbo) },
                   "$name: this file's rows removed again");
            }
        }
    }

    # senderNonce: 256 bytes accepted (and echoed), 257 refused
    $req = build_request(subject => '/CN=limits-nonce-256', nonce => 'AB' x 256);
    check_success('senderNonce of 256 bytes', $req, my $resp = send_request($req));
    is(uc(parse_reply($resp, $req, decrypt => 0)->{recipientNonce} // ''), 'AB' x 256,
       'the 256-byte senderNonce comes back as recipientNonce');
    $req = build_request(subject => '/CN=limits-nonce-257', nonce => 'AB' x 257);
    refused_http('senderNonce of 257 bytes', 400,
                 qr/SCEP00208: .*senderNonce of 257 bytes \(the limit is 256\)/,
                 post('/scep', $req->{der}));

    # recipients: checked once the signature verified, so a signed FAILURE
    my $nr = build_request(subject => '/CN=limits-recipients-base')->{counts}{recipients};
    note("a plain pkiMessage's envelope has $nr recipient(s)");
    $req = build_request(subject => '/CN=limits-16-recipients',
                         args => ['--extra-recipients', 16 - $nr]);
    is($req->{counts}{recipients}, 16, 'the envelope has 16 recipients');
    check_success('16 recipients', $req, send_request($req));
    $req = build_request(subject => '/CN=limits-17-recipients',
                         args => ['--extra-recipients', 17 - $nr]);
    is($req->{counts}{recipients}, 17, 'the envelope has 17 recipients');
    $mark = log_mark();
    check_failure('17 recipients', $req, send_request($req), 2,
                  qr/too many recipients \(17, the limit is 16\)/, $mark);

    # all at their limits at once
    my $nb = build_request(subject => '/CN=limits-all-probe', args => ['--extra-certs', 15])
        ->{counts}{signed_attrs};
    $req = build_request(subject => '/CN=limits-all-at-once', tid => long_tid(1024, 'all'),
                         nonce => 'CD' x 256,
                         args => ['--extra-certs', 15, '--extra-recipients', 16 - $nr,
                                  '--extra-attrs', 64 - $nb]);
    is_deeply($req->{counts}, { certs => 16, signed_attrs => 64, recipients => 16 },
              '16 certificates, 64 signed attributes, 16 recipients');
    check_success('every limit reached at once', $req, send_request($req));
}

########## deeply nested DER
{
    my $n = 100_000;
    refused_http("$n nested indefinite-length SEQUENCE headers", 400, qr/SCEP00208: .*not a CMS/,
                 post('/scep', "\x30\x80" x $n));
    refused_http("SEQUENCE around " . ($n - 1) . " nested constructed OCTET STRINGs", 400,
                 qr/SCEP00208: .*not a CMS/, post('/scep', "\x30\x80" . ("\x24\x80" x ($n - 1))));
    # definite lengths, 5000 deep (each level knows its exact length)
    my $d = '';
    $d = der(0x30, $d) for 1 .. 5000;
    refused_http('5000 nested definite-length SEQUENCEs', 400, qr/SCEP00208: .*not a CMS/,
                 post('/scep', $d));
    # inside a ContentInfo that names SignedData
    refused_http("ContentInfo(signedData) holding $n nested SEQUENCEs", 400,
                 qr/SCEP00208: .*not a CMS/,
                 post('/scep', "\x30\x80" . der(0x06, $OID_SIGNED) . "\xa0\x80" . ("\x30\x80" x $n)));
    # a SignedData whose eContent is 5000 nested constructed OCTET STRINGs
    my $oct = "\x04\x01x";
    $oct = der(0x24, $oct) for 1 .. 5000;
    my $sd = der(0x30, der(0x02, "\x01") . der(0x31, '')
                       . der(0x30, der(0x06, $OID_DATA) . der(0xa0, $oct)) . der(0x31, ''));
    refused_http('SignedData with 5000 nested constructed OCTET STRINGs as eContent', 400,
                 qr/SCEP00208: .*not a CMS/,
                 post('/scep', der(0x30, der(0x06, $OID_SIGNED) . der(0xa0, $sd))));

    # a correctly signed and encrypted message whose PKCS#10 is deep nesting:
    # the signature verifies, so the answer is a signed FAILURE badRequest
    my $payload = write_file(work_file('nested', 'der'), "\x30\x80" x $n);
    my $req = build_request(subject => '/CN=limits-nested-csr', args => ['--payload', $payload]);
    ok(length($req->{der}) < $DEFAULT_MAX, 'the message is under the body limit ('
       . length($req->{der}) . ' bytes)');
    my $mark = log_mark();
    # what the envelope holds is not said to the sender (no oracle): the
    # reply is the one for every unreadable content, the log says what it was
    check_failure("a signed envelope holding $n nested SEQUENCEs instead of a CSR",
                  $req, send_request($req), 1, qr/cannot be decrypted and verified/, $mark,
                  qr/PKCS#10/);
}

########## truncated DER
{
    my $req = build_request(subject => '/CN=limits-truncated');
    my $der = $req->{der};
    my @cuts = grep { $_ < length $der } map { $_ * 37 } 0 .. int(length($der) / 37);
    push @cuts, length($der) - 3, length($der) - 2, length($der) - 1;
    my (@wrong, $unlogged);
    my $mark = log_mark();
    for my $cut (@cuts) {
        my $r = record("cut at $cut", http(post('/scep', substr($der, 0, $cut))));
        push @wrong, "cut at $cut: $r->{status}" unless $r->{status} == 400;
    }
    my $logged = grep { /\[scep:info\].*SCEP00208: unreadable PKIOperation/ } error_log_lines($mark);
    ok(!@wrong, 'a ' . length($der) . '-byte PKCSReq cut at ' . scalar(@cuts)
       . ' points (every 37th byte, the last 1-3 bytes): 400 each') or diag(join "\n", @wrong);
    is($logged, scalar @cuts, 'each cut logged once (SCEP00208)');

    # by GET too, a few
    @wrong = ();
    for my $cut (1, 100, int(length($der) / 2), length($der) - 1) {
        my $r = record("GET cut at $cut", send_request(substr($der, 0, $cut), method => 'GET'));
        push @wrong, "cut at $cut: $r->{status}" unless $r->{status} == 400;
    }
    ok(!@wrong, 'the same by GET: 400 each') or diag(join "\n", @wrong);

    # a correctly signed message whose envelope is cut short: readable and
    # verified, so a signed FAILURE (the envelope does not parse)
    my $env = run_cmd(['openssl', 'cms', '-encrypt', '-binary', '-aes128', '-outform', 'DER',
                       '-in', $req->{file}, pki('ra.pem')]);
    ok(!$env->{rc} && length $env->{out} > 100, 'an EnvelopedData for the RA') or diag($env->{err});
    my $cutenv = write_file(work_file('cutenv', 'der'), substr($env->{out}, 0, length($env->{out}) - 1));
    my $req2 = build_request(subject => '/CN=limits-cut-envelope',
                             args => ['--no-envelope', '--payload', $cutenv]);
    $mark = log_mark();
    check_failure('signed message carrying an EnvelopedData cut by one byte', $req2,
                  send_request($req2), 1, qr/not a CMS EnvelopedData/, $mark);

    ########## garbage, the wrong content type
    refused_http('1000 bytes of garbage starting with a SEQUENCE tag', 400,
                 qr/SCEP00208: .*not a CMS ContentInfo/,
                 post('/scep', "\x30" . join('', map { chr(($_ * 97 + 13) % 256) } 1 .. 999)));
    refused_http('1000 bytes of binary garbage', 400, qr/SCEP00208: .*neither DER nor base64/,
                 post('/scep', join('', map { chr(($_ * 89 + 200) % 256) } 1 .. 1000)));
    refused_http('ContentInfo of type Data around a real PKCSReq', 400,
                 qr/SCEP00208: .*not a CMS SignedData/,
                 post('/scep', der(0x30, der(0x06, $OID_DATA) . der(0xa0, der(0x04, $der)))));
    refused_http('an EnvelopedData instead of a SignedData', 400,
                 qr/SCEP00208: .*not a CMS SignedData/, post('/scep', $env->{out}));
    refused_http('a real PKCSReq with one byte appended', 400, qr/SCEP00208: .*trailing bytes/,
                 post('/scep', $der . "\0"));
    refused_http('empty body (without Content-Type)', 400, qr/SCEP00208: .*empty request body/,
                 method => 'POST', path => '/scep', body => '');
}

########## the server is fine
{
    my $r = get_caps();
    is($r->{status}, 200, 'GetCACaps still answers');
    my $req = build_request(subject => '/CN=limits-after');
    check_success('a normal enrollment afterwards', $req, send_request($req));
}
ok(!grep({ $_->[1] >= 500 || $_->[1] == 0 } @statuses),
   scalar(@statuses) . ' requests: no 5xx and no dropped connection')
    or diag(join "\n", map { "$_->[0]: $_->[1]" } grep { $_->[1] >= 500 || !$_->[1] } @statuses);
{
    my @crash = grep { /segfault|Segmentation fault|AH00052|exit signal|AH00051|double free|AddressSanitizer|Aborted/i }
                error_log_lines($START);
    ok(!@crash, 'error_log: no child crashed') or diag(join "\n", @crash);
}
error_log_clean();
done_testing();

# DER TLV with a definite length
sub der {
    my ($tag, $c) = @_;
    my $l = length $c;
    my $len = '';
    if ($l < 128) {
        $len = chr $l;
    }
    else {
        my $b = '';
        while ($l) { $b = chr($l & 0xff) . $b; $l >>= 8 }
        $len = chr(0x80 | length $b) . $b;
    }
    return chr($tag) . $len . $c;
}
