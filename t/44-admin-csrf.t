# Cross-site request forgery on the admin endpoint (issue #12, finding 8;
# README "SetHandler scep-admin", SCEPAdminSecretFile): a token planted in
# both the cookie and the form is refused (tokens are an HMAC of a server
# secret and the user); every POST, form or API, from another origin
# (Origin, Sec-Fetch-Site) is refused; under HTTPS the cookie is a __Host-
# cookie; SCEPAdminSecretFile keeps tokens valid across restarts and nodes.
# /life-admin and /life-manual of t/conf/lifecycle.conf.in, and private
# httpds (HTTPS with mod_ssl; the secret file).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use IO::Socket::SSL ();
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLifecycle qw(:all);

plan tests => 52;

my $FORM = 'application/x-www-form-urlencoded';
my $ORIGIN = 'http://127.0.0.1:' . port();

sub txn { db_rows('SELECT * FROM scep_transactions WHERE transaction_id = ' . q_str(shift))->[0] || {} }

sub pending {
    my $cn = shift;
    my ($req) = life_enroll('/life-manual', subject => "/CN=$cn");
    my $e = enrollment_by_tid($req->{tid});
    return ($req->{tid}, $e ? $e->{id} : 0);
}

# the page for USER: its token (from Set-Cookie) and the Set-Cookie line
sub page_token {
    my ($user, %o) = @_;
    my @h = admin_auth($user || 'alice');
    push @h, Cookie => "scep_admin_csrf=$o{cookie}" if defined $o{cookie};
    my $r = http(path => ADMIN, headers => \@h);
    my $sc = $r->{headers}{'set-cookie'} // '';
    my ($token) = $sc =~ /^scep_admin_csrf=([0-9A-Fa-f]+);/;
    return ($token // '', $sc, $r);
}

# a form post with TOKEN in the field and the cookie, and extra headers
sub ui {
    my ($action, $token, $form, @headers) = @_;
    my $body = join '&', "csrf=$token", map { "$_=$form->{$_}" } sort keys %$form;
    return http(method => 'POST', path => ADMIN . "/ui/$action", body => $body,
                headers => [admin_auth('alice'), Cookie => "scep_admin_csrf=$token",
                            'Content-Type' => $FORM, @headers]);
}

my ($token, $sc) = page_token('alice');
like($token, qr/^[0-9A-F]{96}\z/, 'the page sets a token: a nonce and an HMAC-SHA256, in hex');
like($sc, qr{;\s*Path=/life-admin/(;|$)}, 'over HTTP the cookie is for the admin Location');

########## a token planted in both the cookie and the form
{
    my ($tid, $id) = pending('csrf-planted');
    for my $planted ('0123456789ABCDEF' x 3, 'A' x 96, substr($token, 0, 32) . ('0' x 64)) {
        my $r = ui('approve', $planted, { id => $id });
        is($r->{status}, 403, 'ui/approve with a planted token (' . length($planted) . ' hex digits) '
                             . 'in cookie and form: 403');
    }
    my $r = ui('reject', 'F' x 48, { id => $id, reason => 'csrf' });
    is($r->{status}, 403, 'ui/reject with a planted token: 403');
    is(txn($tid)->{status}, 'PENDING', 'the request is still PENDING');
    ok(!txn($tid)->{decided_by}, 'and nobody decided it');
}

########## the page of another site posting with a valid token
{
    my ($tid, $id) = pending('csrf-origin');
    my @cross = (
        [[Origin => 'http://evil.example'], 'Origin: http://evil.example'],
        [[Origin => 'null'], 'Origin: null'],
        [[Origin => 'http://127.0.0.1:1'], 'Origin: the same host on another port'],
        [[Origin => 'https://127.0.0.1:' . port()], 'Origin: https instead of http'],
        [[Origin => "$ORIGIN.evil.example"], 'Origin: our origin as a prefix of another'],
        [['Sec-Fetch-Site' => 'cross-site'], 'Sec-Fetch-Site: cross-site'],
        [['Sec-Fetch-Site' => 'same-site'], 'Sec-Fetch-Site: same-site'],
        [['Sec-Fetch-Site' => 'cross-site', Origin => $ORIGIN], 'Sec-Fetch-Site: cross-site with our Origin'],
    );
    for my $c (@cross) {
        my $r = ui('approve', $token, { id => $id }, @{ $c->[0] });
        is($r->{status}, 403, "ui/approve with the right token, $c->[1]: 403");
    }
    my $r = ui('reject', $token, { id => $id, reason => 'x' }, Origin => 'http://evil.example');
    is($r->{status}, 403, 'ui/reject, Origin: http://evil.example: 403');
    $r = ui('challenge', $token, { profile => 'otp' }, 'Sec-Fetch-Site' => 'cross-site');
    is($r->{status}, 403, 'ui/challenge, Sec-Fetch-Site: cross-site: 403');
    is(txn($tid)->{status}, 'PENDING', 'the request is still PENDING');

    # the API (a cross-site fetch() with credentials would need a preflight,
    # but nothing should rest on that alone)
    $r = admin(POST => "api/enrollments/$id/approve", headers => [Origin => 'http://evil.example']);
    is($r->{status}, 403, 'API approve, Origin: http://evil.example: 403');
    like(($r->{json} || {})->{error} // '', qr/cross-site/, 'the error says why');
    $r = admin(POST => "api/enrollments/$id/reject", json => { reason => 'x' },
               headers => ['Sec-Fetch-Site' => 'cross-site']);
    is($r->{status}, 403, 'API reject, Sec-Fetch-Site: cross-site: 403');
    $r = admin(POST => 'api/challenges', json => { profile => 'otp' }, headers => [Origin => 'null']);
    is($r->{status}, 403, 'API challenge, Origin: null: 403');
    is(txn($tid)->{status}, 'PENDING', 'still PENDING');

    # our own origin, as browsers send it, passes
    $r = ui('reject', $token, { id => $id, reason => 'same-origin' },
            Origin => $ORIGIN, 'Sec-Fetch-Site' => 'same-origin');
    is($r->{status}, 303, 'ui/reject with Origin and Sec-Fetch-Site of this server: 303');
    is(txn($tid)->{status}, 'REJECTED', 'REJECTED');
    my ($tid2, $id2) = pending('csrf-api');
    $r = admin(POST => "api/enrollments/$id2/approve",
               headers => [Origin => uc($ORIGIN), 'Sec-Fetch-Site' => 'none']);
    is($r->{status}, 200, 'API approve with our Origin (any case) and Sec-Fetch-Site: none: 200')
        or diag($r->{body});
    $r = admin(GET => 'api/enrollments?limit=1', headers => [Origin => 'http://evil.example']);
    is($r->{status}, 200, 'a GET is not refused for its Origin');
}

########## a token is one user's
{
    my ($tid, $id) = pending('csrf-user');
    my $r = http(method => 'POST', path => ADMIN . '/ui/approve', body => "csrf=$token&id=$id",
                 headers => [admin_auth('bob'), Cookie => "scep_admin_csrf=$token", 'Content-Type' => $FORM]);
    is($r->{status}, 403, "bob posting alice's token and cookie: 403");
    my ($bob, $bsc) = page_token('bob', cookie => $token);
    ok($bob && $bob ne $token, "bob's page with alice's cookie sets his own token");
    my (undef, $again) = page_token('alice', cookie => $token);
    is($again, '', "alice's page with her cookie sets none");
    is(txn($tid)->{status}, 'PENDING', 'the request is still PENDING');
}

########## HTTPS: a __Host- cookie
my $tls_dir = work_file('tls');
mkdir $tls_dir;
my $k = run_cmd(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
                 '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
                 '-addext', 'basicConstraints=critical,CA:FALSE',
                 '-keyout', "$tls_dir/key.pem", '-out', "$tls_dir/cert.pem"]);
my $ADMIN_CONF = <<'EOC';
@HTTPD_BASE@
LoadModule mpm_event_module "@MODULES@/mod_mpm_event.so"
@AUTH_MODULES@
@SQLITE_DB@
@TEST_CA@
@MANUAL_POINT@
@ADMIN@
EOC

# one HTTPS request: { status, headers, body }
sub https {
    my (%a) = @_;
    my $s = IO::Socket::SSL->new(PeerHost => '127.0.0.1', PeerPort => $a{port}, Timeout => 30,
                                 SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE())
        or return { status => 0, error => $IO::Socket::SSL::SSL_ERROR };
    my $req = ($a{method} || 'GET') . " $a{path} HTTP/1.1\r\nHost: 127.0.0.1:$a{port}\r\nConnection: close\r\n";
    my @h = @{ $a{headers} || [] };
    while (my ($hk, $hv) = splice @h, 0, 2) { $req .= "$hk: $hv\r\n" }
    $req .= 'Content-Length: ' . length($a{body}) . "\r\n" if defined $a{body};
    print $s $req, "\r\n", $a{body} // '';
    my $resp = do { local $/; <$s> } // '';
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head // '') =~ m{^HTTP/\d\.\d (\d{3})};
    my %hd;
    for (split /\r\n/, $head // '') {
        my ($hk, $hv) = /^([^:]+):\s*(.*)$/ or next;
        $hd{lc $hk} = exists $hd{lc $hk} ? "$hd{lc $hk}, $hv" : $hv;
    }
    return { status => $status || 0, headers => \%hd, body => $body // '' };
}

SKIP: {
    skip 'mod_ssl or openssl is missing', 10
        unless !$k->{rc} && -e modules_dir() . '/mod_ssl.so';
    my $h = private_httpd(name => 'https', conf => $ADMIN_CONF . <<"EOC");
LoadModule ssl_module "\@MODULES\@/mod_ssl.so"
SSLEngine on
SSLCertificateFile "$tls_dir/cert.pem"
SSLCertificateKeyFile "$tls_dir/key.pem"
EOC
    ok($h->{ok}, 'httpd with the admin Location over HTTPS starts') or diag($h->{err});
    skip 'httpd did not start', 9 unless $h->{ok};
    my @auth = admin_auth('alice');
    my $r = https(port => $h->{port}, path => '/adm/', headers => \@auth);
    is($r->{status}, 200, 'the page over HTTPS: 200') or diag($r->{body});
    my $c = $r->{headers}{'set-cookie'} // '';
    my ($t) = $c =~ /^__Host-scep_admin_csrf=([0-9A-F]{96});/;
    ok($t, 'the cookie is __Host-scep_admin_csrf') or diag($c);
    like($c, qr{;\s*Path=/(;|$)}, 'with Path=/');
    like($c, qr{;\s*Secure(;|$)}i, 'Secure');
    unlike($c, qr{Domain=}i, 'and no Domain');
    $t //= '';
    my $post = sub {
        my ($cookie, @more) = @_;
        return https(port => $h->{port}, method => 'POST', path => '/adm/ui/revoke-challenge',
                     body => "csrf=$t&id=999999",
                     headers => [@auth, Cookie => $cookie, 'Content-Type' => $FORM, @more]);
    };
    $r = $post->("scep_admin_csrf=$t");
    is($r->{status}, 403, 'a form post with the token in a cookie without the __Host- prefix: 403');
    $r = $post->("__Host-scep_admin_csrf=$t", Origin => "http://127.0.0.1:$h->{port}");
    is($r->{status}, 403, 'with the __Host- cookie but Origin http:// (not https://): 403');
    $r = $post->("__Host-scep_admin_csrf=$t", Origin => "https://127.0.0.1:$h->{port}",
                 'Sec-Fetch-Site' => 'same-origin');
    is($r->{status}, 303, 'with the __Host- cookie and our https Origin: 303 (the form was taken)');
    like($r->{headers}{location} // '', qr/notice=Failed/, '(and says there is no such challenge)');
    private_httpd_stop($h);
}

########## SCEPAdminSecretFile: tokens across restarts and nodes
{
    my $secret = write_file(work_file('admin-secret'), ('5A' x 32) . "\n");
    my $conf = $ADMIN_CONF . qq{SCEPAdminSecretFile "$secret"\n};
    my $post = sub {
        my ($h, $t) = @_;
        return http(port => $h->{port}, method => 'POST', path => '/adm/ui/revoke-challenge',
                    body => "csrf=$t&id=999999",
                    headers => [admin_auth('alice'), Cookie => "scep_admin_csrf=$t", 'Content-Type' => $FORM]);
    };
    my $tok = sub {
        my ($h, @cookie) = @_;
        my $r = http(port => $h->{port}, path => '/adm/', headers => [admin_auth('alice'), @cookie]);
        my ($t) = ($r->{headers}{'set-cookie'} // '') =~ /^scep_admin_csrf=([0-9A-F]+);/;
        return $t;
    };
    my $h1 = private_httpd(name => 'secret-1', conf => $conf);
    ok($h1->{ok}, 'httpd with SCEPAdminSecretFile starts') or diag($h1->{err});
    my $t1 = $h1->{ok} ? $tok->($h1) // '' : '';
    private_httpd_stop($h1);
    my $h2 = private_httpd(name => 'secret-2', conf => $conf);
    my $r = $post->($h2, $t1);
    is($r->{status}, 303, 'another httpd with the same secret file takes its token');
    ok(!defined $tok->($h2, Cookie => "scep_admin_csrf=$t1"), 'and its page keeps it');
    private_httpd_stop($h2);

    my $h3 = private_httpd(name => 'secret-3', conf => $ADMIN_CONF);
    my $t3 = $h3->{ok} ? $tok->($h3) // '' : '';
    $r = $post->($h3, $t1);
    is($r->{status}, 403, 'an httpd without the file (its own random secret) refuses it');
    my $fresh = $tok->($h3, Cookie => "scep_admin_csrf=$t1");
    ok($fresh && $fresh ne $t1, 'its page hands out a new token instead');
    $r = $post->($h3, $t3);
    is($r->{status}, 303, 'and takes its own');
    private_httpd_stop($h3);
    my $h4 = private_httpd(name => 'secret-4', conf => $ADMIN_CONF);
    is($post->($h4, $t3)->{status}, 403, 'after a restart without the file, the old token is refused');
    private_httpd_stop($h4);

    my $short = write_file(work_file('short-secret'), "too-short\n");
    my $bad = private_httpd(name => 'secret-short', conf => $ADMIN_CONF . qq{SCEPAdminSecretFile "$short"\n});
    ok(!$bad->{ok}, 'a secret file of 9 bytes: httpd does not start');
    like($bad->{out} . $bad->{err}, qr/SCEPAdminSecretFile .*32 to 4096 bytes/, 'saying why');
    private_httpd_stop($bad) if $bad->{ok};
}

error_log_clean();
