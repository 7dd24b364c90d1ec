# The admin page (SetHandler scep-admin at /otp-admin, Basic auth) driven in
# headless Chromium through chromedriver (t/lib/SCEPWebDriver.pm): make a
# bound one-time challenge with the form, read the secret from the page,
# enroll with it using certmonger, and see the page follow. Needs the Debian
# packages chromium and chromium-driver; skipped without them.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use Digest::SHA qw(sha256_hex);
use File::Spec::Functions qw(catdir);
use MIME::Base64 ();
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPWebDriver ();

if (my $why = SCEPWebDriver::unavailable()) {
    plan skip_all => "no headless browser: $why";
}
plan tests => 35;

my $t0 = time;
my ($USER, $PASS) = ('admin', 'otp-admin-pass');
my $ORIGIN = base_url();
(my $AUTH_ORIGIN = $ORIGIN) =~ s{^http://}{http://$USER:$PASS\@};
my $SUBJECT = '/CN=browser-dev/O=Example';
my $SAN = 'dns:browser-dev.example.com';

sub x509_text {
    my $f = shift;
    my $r = run_cmd(['openssl', 'x509', '-in', $f, '-noout', '-text']);
    my ($subject) = $r->{out} =~ /^\s*Subject:\s*(.*?)\s*$/m;
    my ($san) = $r->{out} =~ /X509v3 Subject Alternative Name:[^\n]*\n\s*(.*?)\s*$/m;
    return { subject => $subject // '', san => $san // '' };
}

# rows of an HTML table on the current page: [[cell texts], ...]
sub table_rows {
    my ($wd, $id) = @_;
    return map { [map { $wd->text($_) } $wd->find_all_in($_, xpath => './td')] }
           $wd->find_all(xpath => "//table[\@id='$id']//tr[td]");
}

my $wd = eval { SCEPWebDriver->start(dir => catdir(work_dir(), 'browser')) };
ok($wd, 'chromedriver and headless Chromium started') or diag($@);
END { $wd->stop if $wd }

SKIP: {
    skip 'no browser session', 33 unless $wd;
    note('Chromium ' . ($wd->browser_version // '?'));

    ########## the page, behind Basic authentication
    # Chromium accepts user:password@ in a top-level navigation and then
    # answers the realm's 401s itself for the same origin (form posts too)
    $wd->get("$AUTH_ORIGIN/otp-admin/");
    my $how = 'credentials in the URL';
    if (($wd->title // '') ne 'mod_scep administration') {
        # a Chromium that refuses them: send the header through DevTools
        $how = 'an Authorization header set through DevTools';
        $wd->cdp('Network.enable');
        $wd->cdp('Network.setExtraHTTPHeaders', { headers => {
            Authorization => 'Basic ' . MIME::Base64::encode_base64("$USER:$PASS", '') } });
        $wd->get("$ORIGIN/otp-admin/");
    }
    note("Basic authentication by $how");
    is($wd->title, 'mod_scep administration', 'GET /otp-admin/ with Basic auth: the admin page');
    like($wd->source, qr/signed in as admin/, 'it names the authenticated user');
    my ($cookie) = grep { $_->{name} eq 'scep_admin_csrf' } $wd->cookies;
    ok($cookie && $cookie->{httpOnly}, 'the CSRF cookie is set, HttpOnly');
    is($cookie && $cookie->{sameSite}, 'Strict', 'SameSite=Strict');
    is($cookie && $cookie->{path}, '/otp-admin/', 'for the admin Location');
    my $token = $wd->property($wd->find("#challenge input[name='csrf']"), 'value');
    is($token, $cookie && $cookie->{value}, 'the form carries the same token (double submit)');

    ########## make a bound challenge with the form
    my $opt = $wd->find(xpath => "//select[\@id='profile']/option[text()='otp']");
    ok($opt, 'profile otp is offered');
    $wd->click($opt) if $opt;
    is($wd->property($wd->find('#profile'), 'value'), 'otp', 'profile otp selected');
    my $ttl = $wd->find('#ttl');
    $wd->clear($ttl);
    $wd->type($ttl, '15m');
    $wd->type($wd->find('#subject'), $SUBJECT);
    $wd->type($wd->find('#san'), $SAN);
    my $t = time;
    $wd->click_and_wait($wd->find('#challenge-submit'));

    my $secret = $wd->text($wd->find('#challenge-secret'));
    like($secret // '', qr/^[0-9A-Fa-f]{32}\z/, 'the answer page shows the new secret in #challenge-secret');
    $secret //= '';
    my $url = $wd->url;
    like($url, qr{/otp-admin/ui/challenge\z}, 'the form was posted to ui/challenge');
    ok(index($url, $secret) < 0, 'the secret is not in the URL');
    my ($id) = ($wd->text($wd->find('#notice')) // '') =~ /^Created one-time challenge (\d+) for otp\.$/;
    ok($id, 'the notice names the new challenge');
    $id //= 0;
    my ($row) = grep { $_->[0] eq $id } table_rows($wd, 'challenges');
    is_deeply($row ? [@$row[1 .. 4]] : [], ['otp', $SUBJECT, $SAN, 'admin'],
              'the open challenges table lists it with its bound names and creator');
    my $src = $wd->source;
    is(scalar(() = $src =~ /\Q$secret\E/g), 1, 'the secret appears once on the page');

    my $db = db_rows("SELECT * FROM scep_challenges WHERE id = $id")->[0] || {};
    is(lc($db->{hash} // ''), sha256_hex($secret), 'the database holds its SHA-256');
    is_deeply([@$db{qw(profile subject san created_by)}], ['otp', $SUBJECT, $SAN, 'admin'],
              'for profile otp, bound, made by admin');
    ok(($db->{expires_at} // 0) - ($db->{created_at} // 0) == 900 && ($db->{created_at} // 0) >= $t - 5,
       'valid for the 15 minutes asked');

    ########## certmonger enrolls with it and gets the bound names
    my $cm = certmonger_enroll(url => "$ORIGIN/otp", cn => 'certmonger-asks-this', challenge => $secret);
    is($cm->{status}, 'MONITORING', 'certmonger at /otp with the secret from the page: MONITORING')
        or diag("$cm->{out}\n$cm->{err}");
    ok(-s $cm->{cert} && openssl_verify(pki('ca.pem'), $cm->{cert}), 'its certificate verifies against the CA');
    my $x = -s $cm->{cert} ? x509_text($cm->{cert}) : {};
    is($x->{subject} // '', 'CN = browser-dev, O = Example', 'the certificate has the bound subject');
    is($x->{san} // '', 'DNS:browser-dev.example.com', 'and the bound subjectAltName');
    my $ch = db_rows("SELECT used_at, used_tid FROM scep_challenges WHERE id = $id")->[0] || {};
    ok($ch->{used_at}, 'the challenge is used');
    my $txn = db_rows('SELECT status, serial, subject FROM scep_transactions WHERE transaction_id = '
                      . "'" . ($ch->{used_tid} // '') . "'")->[0] || {};
    is($txn->{status} // '', 'ISSUED', "by certmonger's ISSUED transaction");
    is(norm_serial($txn->{serial}), norm_serial((cert_info($cm->{cert}) || {})->{serial}),
       'whose serial is the certificate certmonger holds');

    ########## the page follows
    $wd->get("$ORIGIN/otp-admin/");
    is($wd->title, 'mod_scep administration', 'the page again (the browser keeps the credentials)');
    ok(!grep({ $_->[0] eq $id } table_rows($wd, 'challenges')), 'the used challenge is no longer listed');
    ok(index($wd->source, $secret) < 0, 'and the secret is not shown again');
    # (the table's Subject column is the subject the request asked for)
    my ($recent) = grep { norm_serial($_->[3]) eq norm_serial($txn->{serial}) } table_rows($wd, 'recent');
    is($recent ? "$recent->[1] $recent->[4]" : '', 'ISSUED otp',
       "recent enrollments: certmonger's certificate, ISSUED at profile otp");

    ########## revoke an open challenge with its button
    $wd->click($wd->find(xpath => "//select[\@id='profile']/option[text()='otp']"));
    $wd->click_and_wait($wd->find('#challenge-submit'));
    my ($id2) = ($wd->text($wd->find('#notice')) // '') =~ /challenge (\d+) for otp/;
    ok($id2, 'a second (unbound) challenge');
    $id2 //= 0;
    my $button = $wd->find(xpath => "//table[\@id='challenges']//tr[td[1][text()='$id2']]//button");
    ok($button, 'with a Revoke button');
    $wd->click_and_wait($button) if $button;
    is($wd->text($wd->find('#notice')), "Revoked challenge $id2.", 'the page says it is revoked');
    like($wd->url, qr{/otp-admin/\?notice=}, 'after a redirect to the page');
    ok(db_value("SELECT revoked_at FROM scep_challenges WHERE id = $id2"), 'revoked_at is recorded');

    $wd->stop;
    undef $wd;
}

note(sprintf 't/51-admin-browser.t took %ds', time - $t0);
error_log_clean();
