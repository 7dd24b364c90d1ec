# The admin endpoint's HTML page through real HTTP (README "SetHandler
# scep-admin"): Basic authentication in front of it, the double-submit CSRF
# token (SameSite=Strict HttpOnly cookie + form field, made for one user;
# t/44-admin-csrf.t has the rest), approve / reject /
# revoke forms, security headers, HTML escaping, and fail-closed behaviour
# where no authentication is configured (in a private httpd: its start-up
# warning SCEP00011 would otherwise reach every other file's error_log check).
# Locations: t/conf/lifecycle.conf.in (/life-manual, /life-admin).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLifecycle qw(:all);

plan tests => 108;

my $CA = pki('ca.pem');
my $FORM = 'application/x-www-form-urlencoded';

sub txn { db_rows('SELECT * FROM scep_transactions WHERE transaction_id = ' . q_str(shift))->[0] || {} }

# the page, or a form post, as a browser of USER with COOKIE would send it
sub page {
    my (%o) = @_;
    my @h;
    push @h, admin_auth($o{user} || 'alice') unless exists $o{auth} && !$o{auth};
    push @h, Cookie => "scep_admin_csrf=$o{cookie}" if defined $o{cookie};
    return http(path => $o{path} || ADMIN, headers => \@h);
}

sub ui_post {
    my ($action, $form, %o) = @_;
    my @h;
    push @h, admin_auth($o{user} || 'alice') unless exists $o{auth} && !$o{auth};
    push @h, Cookie => "scep_admin_csrf=$o{cookie}" if defined $o{cookie};
    push @h, 'Content-Type' => $FORM;
    my $body = join '&', map {
        my ($k, $v) = ($_, $form->{$_});
        $v =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
        "$k=$v";
    } sort keys %$form;
    return http(method => 'POST', path => ADMIN . "/ui/$action", headers => \@h, body => $body);
}

sub pending_request {
    my $cn = shift;
    my ($req, undef, $rep) = life_enroll('/life-manual', subject => "/CN=$cn");
    my $e = enrollment_by_tid($req->{tid});
    $req->{id} = $e ? $e->{id} : 0;
    $req->{status} = $rep->{pkiStatus};
    return $req;
}

sub security_headers_ok {
    my ($r, $label) = @_;
    is($r->{headers}{'cache-control'}, 'no-store', "$label: Cache-Control: no-store");
    is($r->{headers}{'x-frame-options'}, 'DENY', "$label: X-Frame-Options: DENY");
    my $csp = $r->{headers}{'content-security-policy'} // '';
    ok($csp =~ /default-src 'none'/ && $csp =~ /frame-ancestors 'none'/ && $csp !~ /script-src/,
       "$label: strict Content-Security-Policy (default-src 'none', frame-ancestors 'none', no scripts)")
        or diag("CSP: $csp");
}

########## three enrollments wait for approval
my $p1 = pending_request('life-ui-1');
my $p2 = pending_request('life-ui-2');
my $p3 = pending_request('<i>ui&"3');
my $p4 = pending_request('life-ui-4');
is(join(',', map { $_->{status} // '-' } $p1, $p2, $p3, $p4), '3,3,3,3', 'four PENDING enrollments at /life-manual');
ok($p1->{id} && $p2->{id} && $p3->{id} && $p4->{id}, 'the API lists them');

########## authentication (httpd's, in front of the module)
{
    my $r = page(auth => 0);
    is($r->{status}, 401, 'page without credentials: 401');
    like($r->{headers}{'www-authenticate'} // '', qr/^Basic realm=/, 'WWW-Authenticate: Basic');
    unlike($r->{body}, qr/life-ui-1|scep_admin_csrf/, 'no page content leaks with the 401');
    ok(!$r->{headers}{'set-cookie'}, 'no CSRF cookie handed out before authentication');
    $r = http(path => ADMIN, headers => [admin_auth('alice', 'wrong-password')]);
    is($r->{status}, 401, 'wrong password: 401');
    $r = http(path => ADMIN . '/api/enrollments?status=PENDING');
    is($r->{status}, 401, 'API without credentials: 401');
}

########## the page
my ($token, $page);
{
    my $r = page();
    is($r->{status}, 200, 'page with credentials: 200');
    is($r->{headers}{'content-type'}, 'text/html; charset=utf-8', 'text/html; charset=utf-8');
    security_headers_ok($r, 'page');
    my $sc = $r->{headers}{'set-cookie'} // '';
    ($token) = $sc =~ /^scep_admin_csrf=([0-9A-Fa-f]+);/;
    ok($token && length($token) >= 32, 'Set-Cookie scep_admin_csrf with a random token') or diag($sc);
    like($sc, qr/;\s*SameSite=Strict(;|$)/i, 'the cookie is SameSite=Strict');
    like($sc, qr/;\s*HttpOnly(;|$)/i, 'the cookie is HttpOnly');
    like($sc, qr{;\s*Path=/life-admin/?(;|$)}, 'the cookie is limited to the admin Location');
    $page = $r->{body};
    like($page, qr/signed in as alice/, 'the page names the authenticated user');
    like($page, qr/<table id="pending">.*life-ui-1/s, 'the pending table lists the enrollment');
    like($page, qr/id="approve-$p1->{id}"/, "with an Approve button for #$p1->{id}");
    like($page, qr/id="reject-$p1->{id}"/, "and a Reject button");
    my @fields = $page =~ /name="csrf" value="([^"]*)"/g;
    ok(@fields && !grep({ $_ ne ($token // '') } @fields), 'every form carries the cookie token');
    unlike($page, qr/<script/i, 'no script on the page');
    unlike($page, qr/<i>ui/, 'a subject with markup is not rendered as markup');
    like($page, qr/\\?&lt;i\\?&gt;ui&amp;\\?&quot;3/, 'it is HTML-escaped');

    # with the cookie the token stays, and no new cookie is set
    $r = page(cookie => $token);
    is($r->{status}, 200, 'page with the cookie: 200');
    ok(!$r->{headers}{'set-cookie'}, 'no new cookie when the browser has one');
    my @again = $r->{body} =~ /name="csrf" value="([^"]*)"/g;
    ok(@again && !grep({ $_ ne $token } @again), 'the forms carry the same token');
    # a second browser gets another token
    my ($other) = (page()->{headers}{'set-cookie'} // '') =~ /^scep_admin_csrf=([0-9A-Fa-f]+)/;
    ok($other && $other ne $token, 'another browser gets another token');
}

########## CSRF: the form field must match the cookie
{
    my $wrong = join '', map { sprintf '%X', int rand 16 } 1 .. length($token // 'x' x 48);
    my @cases = (
        ['wrong token', { csrf => $wrong, id => $p1->{id} }, cookie => $token],
        ['token field without the cookie', { csrf => $token, id => $p1->{id} }],
        ['cookie without the token field', { id => $p1->{id} }, cookie => $token],
        ["another browser's cookie", { csrf => $token, id => $p1->{id} }, cookie => $wrong],
    );
    for my $c (@cases) {
        my ($label, $form, %o) = @$c;
        my $r = ui_post('approve', $form, %o);
        is($r->{status}, 403, "ui/approve with $label: 403");
    }
    my $r = ui_post('reject', { csrf => $wrong, id => $p2->{id}, reason => 'x' }, cookie => $token);
    is($r->{status}, 403, 'ui/reject with a wrong token: 403');
    $r = ui_post('revoke', { csrf => $wrong, serial => '0123456789ABCDEF', reason => 'keyCompromise' },
                 cookie => $token);
    is($r->{status}, 403, 'ui/revoke with a wrong token: 403');
    security_headers_ok($r, '403');
    $r = ui_post('approve', { csrf => $token, id => $p1->{id} }, cookie => $token, auth => 0);
    is($r->{status}, 401, 'ui/approve with the right token but no credentials: 401');
    is(txn($p1->{tid})->{status}, 'PENDING', 'after all that #1 is still PENDING');
    is(txn($p2->{tid})->{status}, 'PENDING', 'and #2 too');
    is(db_value("SELECT count(*) FROM scep_certificates WHERE subject = 'CN=life-ui-1'"), 0,
       'and nothing was issued');

    # an empty token in an empty cookie is no token (its own enrollment,
    # so that the cases above and below do not depend on it)
    $r = ui_post('approve', { csrf => '', id => $p4->{id} }, cookie => '');
    is($r->{status}, 403, 'ui/approve with an empty token and an empty cookie: 403');
    is(txn($p4->{tid})->{status}, 'PENDING', 'and that enrollment is still PENDING')
        or diag('approved by an empty CSRF token: decided_by ' . (txn($p4->{tid})->{decided_by} // '-'));

    # the JSON API cannot be reached by a cross-site form either
    $r = admin(POST => "api/enrollments/$p1->{id}/approve", content_type => $FORM,
               body => "csrf=$token", headers => [Cookie => "scep_admin_csrf=$token"]);
    is($r->{status}, 415, 'API approve as a form post (even with the cookie): 415');
    $r = admin(POST => "api/enrollments/$p1->{id}/approve", content_type => 'text/plain');
    is($r->{status}, 415, 'API approve as text/plain: 415');
    is(txn($p1->{tid})->{status}, 'PENDING', 'still PENDING');
}

########## approve through the page
my $p1_serial;
{
    # alice's token is not bob's: his browser gets its own with the page
    my $r = ui_post('approve', { csrf => $token, id => $p1->{id} }, cookie => $token, user => 'bob');
    is($r->{status}, 403, "ui/approve by bob with alice's token and cookie: 403");
    $r = page(cookie => $token, user => 'bob');
    my ($bob) = ($r->{headers}{'set-cookie'} // '') =~ /^scep_admin_csrf=([0-9A-Fa-f]+);/;
    ok($bob && $bob ne $token, "bob's page with alice's cookie sets a new token for bob");
    $bob //= '';
    $r = ui_post('approve', { csrf => $bob, id => $p1->{id} }, cookie => $bob, user => 'bob');
    is($r->{status}, 303, 'ui/approve with the right token and cookie: 303 See Other');
    security_headers_ok($r, '303');
    my $loc = $r->{headers}{location} // '';
    like($loc, qr{^http://127\.0\.0\.1:\d+/life-admin/?\?notice=}, 'Location: back to the page with a notice');
    unlike($loc, qr/[\s"<>]/, 'Location is a valid URI (no raw spaces or quotes)')
        or diag("Location: $loc");
    my $t = txn($p1->{tid});
    is($t->{status}, 'ISSUED', 'the enrollment is ISSUED');
    is($t->{decided_by}, 'bob', 'decided_by bob (the authenticated user)');
    ok($t->{decided_at}, 'decided_at recorded');
    $p1_serial = $t->{serial};
    is(db_value("SELECT count(*) FROM scep_certificates WHERE subject = 'CN=life-ui-1'"), 1,
       'one certificate');
    my (undef, undef, $poll) = life_poll($p1, '/life-manual');
    is($poll->{pkiStatus}, '0', 'the device polls and gets it');
    is(norm_serial(cert_info($poll->{cert_file} // '/nonexistent') && cert_info($poll->{cert_file})->{serial}),
       norm_serial($p1_serial), 'the certificate the page approved');

    # the redirect target (as a browser would request it) shows the notice
    (my $path = $loc) =~ s{^https?://[^/]+}{};
    $path =~ s/([^A-Za-z0-9\/?=&%._~:-])/sprintf('%%%02X', ord $1)/ge;
    my $back = page(path => $path, cookie => $bob, user => 'bob');
    is($back->{status}, 200, 'the redirect target: 200');
    like($back->{body}, qr/<p class="notice" id="notice">[^<]*Approved[^<]*\b$p1->{id}\b/i,
         'it shows what happened');
    unlike($back->{body}, qr/id="approve-$p1->{id}"/, '#1 is no longer waiting');
    like($back->{body}, qr/id="approve-$p2->{id}"/, '#2 still is');

    # approving it again through the page changes nothing
    $r = ui_post('approve', { csrf => $token, id => $p1->{id} }, cookie => $token);
    is($r->{status}, 303, 'approve #1 again: 303');
    like($r->{headers}{location} // '', qr/notice=Failed/, 'with a failure notice');
    is(db_value("SELECT count(*) FROM scep_certificates WHERE subject = 'CN=life-ui-1'"), 1,
       'still one certificate');
    is(txn($p1->{tid})->{decided_by}, 'bob', 'and the first decision stands');
}

########## reject through the page
{
    my $reason = 'not our device';
    my $r = ui_post('reject', { csrf => $token, id => $p2->{id}, reason => $reason }, cookie => $token);
    is($r->{status}, 303, 'ui/reject: 303');
    my $t = txn($p2->{tid});
    is($t->{status}, 'REJECTED', 'the enrollment is REJECTED');
    is($t->{fail_text}, $reason, 'with the reason typed in the form');
    is($t->{decided_by}, 'alice', 'decided_by alice');
    my (undef, undef, $poll) = life_poll($p2, '/life-manual');
    is(($poll->{pkiStatus} // '-') . '/' . ($poll->{failInfo} // '-'), '2/2', 'the device gets FAILURE badRequest');
    is($poll->{failInfoText}, $reason, 'with that reason');
    my $pg = page(cookie => $token)->{body};
    like($pg, qr/<td>REJECTED<\/td><td>CN=life-ui-2<\/td>.*<td>\Q$reason\E<\/td>/,
         'recent enrollments show the rejection and its reason');
}

########## revoke through the page
{
    my $r = ui_post('revoke', { csrf => $token, serial => $p1_serial // '', reason => 'keyCompromise' },
                    cookie => $token);
    is($r->{status}, 303, 'ui/revoke: 303');
    like($r->{headers}{location} // '', qr/notice=Revoked/, 'notice: Revoked');
    my $c = db_rows('SELECT revoked_at, revocation_reason FROM scep_certificates WHERE serial = '
                    . q_str($p1_serial))->[0] || {};
    ok($c->{revoked_at}, 'the certificate is revoked');
    is($c->{revocation_reason}, 1, 'reason keyCompromise (1)');
    my (undef, $der) = crl_der('/life-crl');
    my $crl = crl_text($der // '');
    is($crl->{revoked}{ norm_serial($p1_serial) }, 'Key Compromise', 'the CRL lists it');
    $r = ui_post('revoke', { csrf => $token, serial => $p1_serial // '', reason => 'keyCompromise' },
                 cookie => $token);
    like($r->{headers}{location} // '', qr/notice=Failed/, 'revoking it again: a failure notice');
    $r = ui_post('revoke', { csrf => $token, serial => 'not-hex', reason => 'keyCompromise' }, cookie => $token);
    like($r->{headers}{location} // '', qr/notice=Failed/, 'a serial that is not hex: a failure notice');
}

########## methods and paths
{
    is(http(method => 'PUT', path => ADMIN . '/api/enrollments', headers => [admin_auth('alice')],
            body => '{}')->{status}, 405, 'PUT: 405');
    is(http(method => 'DELETE', path => ADMIN . "/api/enrollments/$p3->{id}",
            headers => [admin_auth('alice')])->{status}, 405, 'DELETE: 405');
    is(page(path => ADMIN . '/no/such/page')->{status}, 404, 'unknown page: 404');
    my $r = admin(GET => 'api/enrollments?status=BOGUS');
    is($r->{status}, 400, 'API list with an unknown status: 400');
    $r = admin(GET => 'api/enrollments?status=PENDING');
    security_headers_ok($r, 'API');
    is(txn($p3->{tid})->{status}, 'PENDING', '#3 was never touched');
}

########## no authentication configured: fail closed (private httpd)
{
    my $conf = <<'EOC';
@HTTPD_BASE@
LoadModule mpm_event_module "@MODULES@/mod_mpm_event.so"
@AUTH_MODULES@
@SQLITE_DB@
@TEST_CA@
@MANUAL_POINT@
# no authentication at all
<Location /life-open-admin>
    SetHandler scep-admin
</Location>
# authentication without Require: httpd never asks for it
<Location /life-half-admin>
    SetHandler scep-admin
    AuthType Basic
    AuthName "half"
    AuthUserFile "@PKI@/../../lifecycle/admins.htpasswd"
</Location>
# open to all on purpose: no warning, still no user, still refused
<Location /life-public-admin>
    SetHandler scep-admin
    Require all granted
</Location>
EOC
    my $h = private_httpd(name => 'open-admin', conf => $conf);
    # the line of each Location's SetHandler scep-admin in the file httpd read
    my (%line, $in);
    my $n = 0;
    for (split /\n/, eval { read_file($h->{conf}) } // '') {
        $n++;
        $in = $1 if /^<Location (\S+)>/;
        $line{$in} = $n if /SetHandler scep-admin/;
    }
    ok($h->{ok}, 'httpd with unprotected admin Locations starts') or diag($h->{err});
    SKIP: {
        skip 'httpd did not start', 16 unless $h->{ok};
        my $log = sub { eval { read_file("$h->{dir}/logs/error_log") } // '' };
        my @warn = grep { /\[(?:scep:)?warn\].*SCEP00011/ } split /\n/, $log->();
        my $warned = sub { my $l = $line{ $_[0] } // -1; scalar grep { /httpd\.conf:$l\b/ } @warn };
        ok($warned->('/life-open-admin'), 'start-up [warn] SCEP00011 names the open Location (file:line)')
            or diag($log->());
        ok($warned->('/life-half-admin'), 'and the one with AuthType but no Require');
        ok(!$warned->('/life-public-admin'), 'not the one with Require all granted');

        # a request waiting for approval in this server's records
        my $req = build_request(subject => '/CN=life-open-1');
        my $rep = parse_reply(send_request($req, port => $h->{port}, path => '/life-manual'), $req);
        is($rep->{pkiStatus}, '3', 'an enrollment waits in the private server');

        for my $loc ('/life-open-admin', '/life-public-admin') {
            my $r = http(port => $h->{port}, path => $loc);
            is($r->{status}, 403, "GET $loc (no authenticated user): 403");
            unlike($r->{body}, qr/life-open-1|scep_admin_csrf/, "$loc: no page content");
            $r = http(method => 'POST', port => $h->{port}, path => "$loc/api/enrollments/1/approve",
                      headers => ['Content-Type' => 'application/json'], body => '{}');
            is($r->{status}, 403, "POST $loc/api/enrollments/1/approve: 403");
        }
        # AuthType without any Require: httpd itself refuses (AH01627, 500)
        my $r = http(port => $h->{port}, path => '/life-half-admin');
        ok($r->{status} == 403 || $r->{status} == 500, "GET /life-half-admin: refused ($r->{status})");
        unlike($r->{body}, qr/life-open-1|scep_admin_csrf/, '/life-half-admin: no page content');
        $r = http(method => 'POST', port => $h->{port}, path => '/life-half-admin/api/enrollments/1/approve',
                  headers => ['Content-Type' => 'application/json'], body => '{}');
        ok($r->{status} == 403 || $r->{status} == 500, "POST /life-half-admin/api/...: refused ($r->{status})");
        my $st = db_rows('SELECT status FROM scep_transactions', file => $h->{db});
        is(join(' ', map { $_->{status} } @$st), 'PENDING', 'nothing was approved');
        like($log->(), qr/SCEP00306/, 'the refusals are logged (SCEP00306)');
    }
    private_httpd_stop($h);
}

# a wrong password is logged by mod_auth_basic at [error] (AH01617)
error_log_clean(allow => ['AH01617']);
