# Clean HTTP errors (scep-wire.md §1, conformance cases 31, 33, 42): wrong
# methods, unknown or missing operations, unreadable PKIOperation data, and
# the body limit. Never a 500, nothing at [warn] or worse in error_log.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);

plan tests => 37;

my @statuses;

sub check {
    my ($name, $want, %req) = @_;
    my $r = http(%req);
    push @statuses, [$name, $r->{status}];
    is($r->{status}, $want, "$name: $want") or diag($r->{error} // $r->{head});
    return $r;
}

# methods
{
    my $r = check('POST operation=GetCACaps', 405, method => 'POST',
                  path => '/scep?operation=GetCACaps', body => 'x');
    is($r->{headers}{'content-type'}, 'text/plain', 'POST GetCACaps: text/plain answer');
    check('POST operation=GetCACert', 405, method => 'POST',
          path => '/scep?operation=GetCACert', body => '');
    $r = check('PUT', 405, method => 'PUT', path => '/scep?operation=PKIOperation', body => "\x30\x00");
    my %allow = map { $_ => 1 } split /\s*,\s*/, $r->{headers}{allow} // '';
    ok($allow{GET} && $allow{POST}, 'PUT 405: Allow lists GET and POST (RFC 9110 15.5.6)')
        or diag('Allow: ' . ($r->{headers}{allow} // '(none)'));
    check('DELETE', 405, method => 'DELETE', path => '/scep?operation=GetCACert');
}

# operations
{
    my $r = check('unknown operation', 400, path => '/scep?operation=GetCRLs');
    is($r->{headers}{'content-type'}, 'text/plain', 'unknown operation: text/plain');
    check('unknown operation with a control character', 400,
          path => '/scep?operation=Get%0ACACert');
    check('GET without operation', 400, path => '/scep');
    check('GET with only message=', 400, path => '/scep?message=0');
    check('GET with empty operation=', 400, path => '/scep?operation=');
    $r = check('GetNextCACert (no rollover CA)', 404, path => '/scep?operation=GetNextCACert');
    is($r->{headers}{'content-type'}, 'text/plain', 'GetNextCACert 404: text/plain');
}

# unreadable PKIOperation data
{
    my $r = check('GET PKIOperation without message', 400, path => '/scep?operation=PKIOperation');
    is($r->{headers}{'content-type'}, 'text/plain', 'missing message: text/plain');
    check('GET PKIOperation with empty message', 400, path => '/scep?operation=PKIOperation&message=');
    check('GET PKIOperation with non-base64 message', 400,
          path => '/scep?operation=PKIOperation&message=%21%21not*base64%3F%3F');
    check('GET PKIOperation with base64 of garbage', 400,
          path => '/scep?operation=PKIOperation&message=' . b64_escaped("\x30\x03\x02\x01\x05garbage"));
    check('GET PKIOperation with base64 of random bytes', 400,
          path => '/scep?operation=PKIOperation&message=' . b64_escaped(join '', map { chr(($_ * 37 + 11) % 256) } 1 .. 300));
    check('POST garbage DER', 400, method => 'POST', path => '/scep?operation=PKIOperation',
          headers => ['Content-Type' => 'application/x-pki-message'],
          body => "\x30\x82\x01\x00" . ("\xAB" x 100));
    check('POST a DER certificate instead of a pkiMessage', 400, method => 'POST',
          path => '/scep?operation=PKIOperation', body => pem_file_der(pki('ca.pem')));
    check('POST degenerate GetCACert bundle (SignedData without signer)', 400, method => 'POST',
          path => '/scep?operation=PKIOperation',
          body => http(path => '/scep?operation=GetCACert')->{body});
    check('POST binary that is neither DER nor base64', 400, method => 'POST', path => '/scep',
          body => "\x01\x02\x03\xff\xfe" x 20);
    check('POST empty body', 400, method => 'POST', path => '/scep?operation=PKIOperation', body => '');
    check('POST truncated pkiMessage', 400, method => 'POST', path => '/scep',
          body => substr(build_request(subject => '/CN=truncated')->{der}, 0, 700));
}

# body limits: SCEPMaxRequestBody 1024 at /scep-small, 262144 by default
{
    my $r = check('POST 1025 bytes to /scep-small (limit 1024)', 413, method => 'POST',
                  path => '/scep-small?operation=PKIOperation', body => "\x30" . ("\0" x 1024));
    is($r->{headers}{'content-type'}, 'text/plain', '413: text/plain');
    check('POST exactly 1024 bytes to /scep-small: read, then refused as unreadable', 400,
          method => 'POST', path => '/scep-small?operation=PKIOperation',
          body => "\x30" . ("\0" x 1023));
    my $req = build_request(subject => '/CN=too-big');
    ok(length($req->{der}) > 1024, 'a real PKCSReq is over 1024 bytes');
    check('POST a real PKCSReq to /scep-small', 413, method => 'POST',
          path => '/scep-small', body => $req->{der});

    # chunked: no Content-Length, so the limit must be enforced while reading
    my $body = '';
    my $der = $req->{der};
    $body .= sprintf("%x\r\n%s\r\n", length($1), $1) while $der =~ /(.{1,500})/gs;
    my $r2 = check('chunked POST of a ' . length($req->{der}) . '-byte PKCSReq to /scep-small', 413,
                   method => 'POST', path => '/scep-small?operation=PKIOperation',
                   headers => ['Transfer-Encoding' => 'chunked'],
                   body => $body . "0\r\n\r\n", no_length => 1);
    my $small = sprintf("%x\r\n%s\r\n", 200, "\x30" . ("\x11" x 199));
    check('chunked POST under the limit: read, then 400', 400, method => 'POST',
          path => '/scep-small?operation=PKIOperation',
          headers => ['Transfer-Encoding' => 'chunked'],
          body => $small x 3 . "0\r\n\r\n", no_length => 1);

    check('POST 262145 bytes to /scep (default limit 262144)', 413, method => 'POST',
          path => '/scep?operation=PKIOperation', body => "\x30" . ("\0" x 262144));
}

# the server still works after all that
{
    my $r = get_caps();
    is($r->{status}, 200, 'GetCACaps still answers');
}

ok(!grep({ $_->[1] >= 500 || $_->[1] == 0 } @statuses), 'no 5xx and no dropped connection')
    or diag(join "\n", map { "$_->[0]: $_->[1]" } grep { $_->[1] >= 500 || !$_->[1] } @statuses);

# 400 and 413 log at info only
error_log_clean();
