# The admin page (SetHandler scep-admin at /otp-admin, Basic auth) driven in
# headless Chromium through chromedriver (t/lib/SCEPWebDriver.pm): make a
# bound one-time challenge with the form, read the secret from the page,
# enroll with it using certmonger, and see the page follow. Then the fleet
# view as an operator uses it: search with #q, filter with #status-filter,
# follow #older-recent through 61 rows put in the database, open the
# certificate by its serial link, revoke it there with #revoke-submit,
# download an Apple profile with the .mobileconfig button, list what
# expires soon and read the audit trail. A PNG of each view is kept in
# t/logs/screenshots/51-*.png. Needs the Debian packages chromium and
# chromium-driver; skipped without them.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use Digest::SHA qw(sha256_hex);
use File::Path qw(mkpath);
use File::Spec::Functions qw(catdir catfile);
use POSIX qw(strftime);
use MIME::Base64 ();
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPWebDriver ();

if (my $why = SCEPWebDriver::unavailable()) {
    plan skip_all => "no headless browser: $why";
}
plan tests => 99;

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
    skip 'no browser session', 97 unless $wd;
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

    ########## the fleet view, as an operator drives it
    my $FP = uc sha256_hex(pem_file_der(pki('ca.pem')));
    my $BULK = sprintf 't51-%04x', $$ % 65536;
    my $SHOTS = catdir(Apache::Test::vars('t_logs'), 'screenshots');
    mkpath($SHOTS);
    unlink glob(catfile($SHOTS, '51-*.png'));
    my %shot;
    my $snap = sub { my $n = shift; $shot{$n} = eval { $wd->screenshot(catfile($SHOTS, "51-$n.png")) } // ''; };
    $wd->window_size(1400, 1000);
    my $serial = $txn->{serial} // 'none';
    my $recent_ids = sub { map { $_->[0] } table_rows($wd, 'recent') };
    my $href = sub { my $el = $wd->find(@_); $el ? $wd->property($el, 'href') // '' : '' };

    # 60 rejected requests and one whose name has a space, straight into the
    # database (with the names a search looks up), so that the search has pages
    my $now = time;
    my @values = map { sprintf "(%s, '%s-%02d', 19, 'REJECTED', 'CN=%s-%02d', 'otp', '127.51.0.1', 2, 'bulk row', %d, %d)",
                               "'$FP'", $BULK, $_, $BULK, $_, $now - 100 + $_, $now - 100 + $_ } 1 .. 60;
    push @values, "('$FP', '$BULK-spaced', 19, 'REJECTED', 'CN=$BULK spaced row', 'otp', '127.51.0.1', 2, 'bulk row', $now, $now)";
    db_exec('INSERT INTO scep_transactions (ca, transaction_id, message_type, status, subject, profile, client_addr, '
            . 'fail_info, fail_text, created_at, updated_at) VALUES ' . join(', ', @values) . '; '
            . "INSERT INTO scep_names (ca, name, txn) SELECT ca, lower(substr(subject, 4)), id FROM scep_transactions "
            . "WHERE ca = '$FP' AND transaction_id LIKE '$BULK-%'");
    my @bulk = map { $_->{id} } @{ db_rows("SELECT id FROM scep_transactions WHERE ca = '$FP' AND transaction_id LIKE '$BULK-%' ORDER BY id DESC") };
    is(scalar @bulk, 61, '61 enrollments of the bulk in the database');

    # the main page: counts, chart, audit trail
    $wd->get("$ORIGIN/otp-admin/");
    ok($wd->find('#counts') && $wd->find('#chart') && $wd->find('table#audit'),
       'the main page shows table#counts, svg#chart and table#audit');
    $snap->('main');

    # search: typed in #q (any case), 50 rows, then the older ones
    $wd->type($wd->find('#q'), uc $BULK);
    $wd->click_and_wait($wd->find('#search-submit'));
    like($wd->url, qr{/otp-admin/\?q=\Q@{[uc $BULK]}\E&}, 'the search form sends q by GET');
    my @page1 = $recent_ids->();
    is_deeply(\@page1, [@bulk[0 .. 49]], 'table#recent: the newest 50 matches');
    ok(!$wd->find('#counts') && !$wd->find('table#audit'), 'no counts, no audit trail while searching');
    is($wd->property($wd->find('#q'), 'value'), uc $BULK, 'input#q keeps what was typed');
    $wd->scroll_to('#search');
    $snap->('search');
    my $older = $href->('#older-recent');
    like($older, qr{[?&]q=\Q@{[uc $BULK]}\E&.*before=$page1[-1]}, 'a#older-recent keeps q and continues after the last row');
    $wd->click_and_wait($wd->find('#older-recent')) if $older;
    my @page2 = $recent_ids->();
    is_deeply(\@page2, [@bulk[50 .. 60]], 'following it: the 11 older ones');
    ok($wd->find('#newest'), 'with a link back to the newest');

    # filter: a status chosen in #status-filter, with and without a search
    $wd->click_and_wait($wd->find('#search-clear'));
    like($wd->url, qr{/otp-admin/\z}, 'a#search-clear: the unfiltered page');
    ok($wd->select_option('status-filter', 'ISSUED'), 'ISSUED chosen in select#status-filter');
    $wd->click_and_wait($wd->find('#search-submit'));
    like($wd->url, qr{[?&]status=ISSUED(&|\z)}, 'status=ISSUED sent');
    my @issued = table_rows($wd, 'recent');
    ok(@issued && !grep({ $_->[1] ne 'ISSUED' } @issued), 'every row is ISSUED (' . scalar(@issued) . ')');
    ok((grep { norm_serial($_->[3]) eq norm_serial($serial) } @issued), "certmonger's certificate among them");
    is_deeply([map { $_->[0] } @issued],
              [map { $_->{id} } @{ db_rows("SELECT id FROM scep_transactions WHERE ca = '$FP' AND status = 'ISSUED' ORDER BY id DESC LIMIT 50") }],
              'those of the database, newest first');
    ok($wd->selected($wd->find(xpath => "//select[\@id='status-filter']/option[text()='ISSUED']")), 'the select keeps ISSUED');
    $wd->scroll_to('#search');
    $snap->('filtered');
    # REJECTED with the search: the older link keeps both
    my $q = $wd->find('#q');
    $wd->clear($q);
    $wd->type($q, $BULK);
    $wd->select_option('status-filter', 'REJECTED');
    $wd->click_and_wait($wd->find('#search-submit'));
    my @rj1 = table_rows($wd, 'recent');
    ok(@rj1 == 50 && !grep({ $_->[1] ne 'REJECTED' || $_->[2] !~ /^CN=$BULK/ } @rj1), 'q + REJECTED: 50 rejected rows of the bulk');
    $older = $href->('#older-recent');
    like($older, qr{[?&]q=$BULK&}, 'a#older-recent keeps q');
    like($older, qr{[?&]status=REJECTED&}, 'and status=REJECTED');
    $wd->click_and_wait($wd->find('#older-recent')) if $older;
    my @rj2 = table_rows($wd, 'recent');
    is_deeply([map { $_->[0] } @rj1, @rj2], \@bulk, 'its next page: the 11 others, all 61 once');
    is($wd->property($wd->find('#status-filter'), 'value'), 'REJECTED', 'the next page keeps the filter in the form');

    # a name with a space, typed as an operator would
    $wd->click_and_wait($wd->find('#search-clear'));
    $wd->type($wd->find('#q'), "$BULK spaced");
    $wd->click_and_wait($wd->find('#search-submit'));
    # (regression: the browser sends the space as "+", which the admin query
    # kept as it is, so no name with a space in it was found)
    is_deeply([$recent_ids->()], [$bulk[0]], "q=\"$BULK spaced\" finds the row named \"$BULK spaced row\"");

    # the certificate: from its serial link to its detail page
    $wd->click_and_wait($wd->find('#search-clear'));
    $wd->type($wd->find('#q'), 'browser-dev.example.com');
    $wd->click_and_wait($wd->find('#search-submit'));
    my $link = $wd->find(xpath => "//table[\@id='recent']//a[text()='$serial']");
    ok($link, "q=browser-dev.example.com (its SAN): a row whose serial links to the certificate");
    $wd->click_and_wait($link) if $link;
    like($wd->url, qr{/otp-admin/certificates/\Q$serial\E\z}, 'the detail page of that serial');
    is($wd->title, "Certificate $serial", 'titled "Certificate SERIAL"');
    my $db_subject = db_value("SELECT subject FROM scep_certificates WHERE serial = '$serial'") // 'none';
    is($wd->text($wd->find('#cert-subject')), $db_subject, "td#cert-subject: $db_subject");
    is($wd->text($wd->find('#cert-sans')), 'DNS:browser-dev.example.com', 'td#cert-sans: its DNS name');
    is($wd->text($wd->find('#cert-status')), 'valid', 'td#cert-status: valid');
    my $sha = run_cmd(['openssl', 'x509', '-in', $cm->{cert} // '/nonexistent', '-noout', '-fingerprint', '-sha256']);
    my ($want_sha) = $sha->{out} =~ /Fingerprint=([0-9A-F:]+)/i;
    is($wd->text($wd->find('#cert-sha256')), uc($want_sha // 'x'), "td#cert-sha256: the fingerprint of certmonger's certificate");
    like($href->('#download-pem'), qr{/otp-admin/certificates/\Q$serial\E/pem\z}, 'a#download-pem');
    $snap->('detail');

    # revoke it there
    ok($wd->select_option('reason', 'keyCompromise'), 'keyCompromise chosen in select#reason');
    $wd->click_and_wait($wd->find('#revoke-submit'));
    like($wd->url, qr{/otp-admin/\?notice=}, 'back to the main page');
    like($wd->text($wd->find('#notice')) // '', qr/^Revoked certificate \Q$serial\E; CRL number \d+\.$/,
         'p#notice: Revoked certificate SERIAL; CRL number N.');
    $snap->('revoked');
    my $rev = db_rows("SELECT revoked_at, revocation_reason FROM scep_certificates WHERE serial = '$serial'")->[0] || {};
    is($rev->{revocation_reason}, 1, 'revoked in the database: keyCompromise');
    $wd->get("$ORIGIN/otp-admin/certificates/$serial");
    is($wd->text($wd->find('#cert-status')),
       'revoked ' . strftime('%Y-%m-%d %H:%M UTC', gmtime($rev->{revoked_at} // 0)) . ' (keyCompromise)',
       'the detail page: td#cert-status revoked DATE (keyCompromise)');
    ok(!$wd->find('#revoke-submit'), 'no revoke button any more');
    $snap->('detail-revoked');

    # an Apple profile with the .mobileconfig button: a download
    my $dl = catdir(work_dir(), 'downloads');
    my $dl_ok = eval { $wd->download_to($dl); 1 };
    ok($dl_ok, 'downloads allowed to the work folder (DevTools)') or diag($@);
    $wd->get("$ORIGIN/otp-admin/");
    $wd->select_option('profile', 'otp');
    $wd->type($wd->find('#subject'), "/CN=$BULK-mc");
    $wd->type($wd->find('#san'), "dns:$BULK-mc.example.com");
    $wd->click($wd->find('#mobileconfig-submit'));
    my @files;
    for (1 .. 200) {
        @files = grep { !/\.crdownload\z/ } glob(catfile($dl, '*'));
        last if @files;
        select undef, undef, undef, 0.1;
    }
    my ($mc_file) = @files;
    my ($mc_id) = ($mc_file // '') =~ /scep-(\d+)\.mobileconfig\z/;
    ok($mc_id, 'the browser saved scep-ID.mobileconfig') or diag("downloaded: @files");
    my $plist = $mc_file ? read_file($mc_file) : '';
    like($plist, qr{<string>com\.apple\.security\.scep</string>}, 'an Apple profile with a SCEP payload');
    like($plist, qr{<string>CN</string>\s*<string>\Q$BULK\E-mc</string>}s, 'for the subject typed');
    like($plist, qr{<string>\Q$ORIGIN\E/otp</string>}, 'pointing at /otp on this origin');
    my ($mc_secret) = $plist =~ m{<key>Challenge</key>\s*<string>([^<]+)</string>};
    my $mc_row = db_rows('SELECT * FROM scep_challenges WHERE id = ' . (0 + ($mc_id // 0)))->[0] || {};
    is(lc($mc_row->{hash} // ''), sha256_hex($mc_secret // 'none'), "its challenge is challenge ${mc_id}'s secret");
    is_deeply([@$mc_row{qw(profile subject created_by)}], ['otp', "/CN=$BULK-mc", 'admin'], 'bound to that subject, made by admin');
    like($wd->url, qr{/otp-admin/\z}, 'the page stays where it was');

    # certificates about to expire: one more device, its expiry brought near
    my $req = build_request(subject => "/CN=$BULK-exp", challenge => 'otp-both-static-secret');
    my $rep = parse_reply(send_request($req, path => '/otp-both'), $req);
    is($rep->{pkiStatus}, '0', 'another device enrolls at /otp-both');
    my $exp_serial = db_value("SELECT serial FROM scep_transactions WHERE transaction_id = '$req->{tid}'") // 'none';
    my $exp_at = time + 10 * 86400 + 3600;
    db_exec("UPDATE scep_certificates SET not_after = $exp_at WHERE ca = '$FP' AND serial = '$exp_serial'");
    $wd->click_and_wait($wd->find('#expiring-link'));
    like($wd->url, qr{/otp-admin/expiring\?days=30\z}, 'a#expiring-link: expiring?days=30');
    my $days = $wd->find('#days');
    $wd->clear($days);
    $wd->type($days, '12');
    $wd->click_and_wait($wd->find('#expiring-submit'));
    like($wd->url, qr{/otp-admin/expiring\?days=12\z}, 'form#expiring: days=12');
    my @exp = table_rows($wd, 'expiring-list');
    my ($erow) = grep { $_->[0] eq $exp_serial } @exp;
    is_deeply($erow ? [@$erow[1 .. 4]] : [], ["CN=$BULK-exp", '/otp-both', strftime('%Y-%m-%d %H:%M UTC', gmtime $exp_at), '10'],
              'table#expiring-list: that certificate, its Location, expiry and 10 days left');
    ok(!grep({ $_->[0] eq $serial } @exp), 'not the revoked one');
    $snap->('expiring');

    # the audit trail, from the main page's link
    $wd->get("$ORIGIN/otp-admin/");
    $wd->click_and_wait($wd->find('#audit-all'));
    like($wd->url, qr{/otp-admin/audit\z}, 'a#audit-all: the audit page');
    is($wd->title, 'Audit trail', 'titled "Audit trail"');
    my @audit = table_rows($wd, 'audit');
    my $has = sub { my %w = @_; scalar grep { my $r = $_; !grep { $r->[$_] ne $w{$_} } keys %w } @audit };
    ok($has->(2 => 'admin', 3 => '127.0.0.1', 4 => 'revoke', 5 => $serial, 6 => 'keyCompromise'),
       'revoke: admin, from 127.0.0.1, the serial, keyCompromise');
    ok($has->(2 => 'admin', 4 => 'mobileconfig', 5 => "/CN=$BULK-mc", 6 => "profile otp, SANs dns:$BULK-mc.example.com"),
       'mobileconfig: the subject, profile and SAN');
    ok($has->(2 => 'admin', 4 => 'challenge', 5 => $SUBJECT, 6 => 'profile otp, SANs dns:browser-dev.example.com'),
       'challenge: the bound subject and SAN of the first challenge');
    # (regression: ui/revoke-challenge's audit record was staged and never written)
    ok($has->(2 => 'admin', 4 => 'challenge-revoke', 5 => $id2), "challenge-revoke of challenge $id2");
    my $link_el = $wd->find(xpath => "//table[\@id='audit']//a[text()='$serial']");
    like($link_el ? $wd->property($link_el, 'href') : '', qr{/otp-admin/certificates/\Q$serial\E\z}, "the revoked serial links to its certificate");
    $snap->('audit');
    # the Location itself, without its slash, is the page as well
    $wd->get("$ORIGIN/otp-admin");
    $link_el = $wd->find(xpath => "//table[\@id='audit']//a[text()='$serial']");
    # (regression: the audit trail's serial link was relative, which from
    # /otp-admin the browser resolved to /certificates/SERIAL)
    like($link_el ? $wd->property($link_el, 'href') : '', qr{/otp-admin/certificates/\Q$serial\E\z},
         'on the page at /otp-admin (no slash) the audit link of the serial still leads to its certificate');

    # the pictures
    for my $n (qw(main search filtered detail revoked expiring audit)) {
        my $png = -s ($shot{$n} // '') ? read_file($shot{$n}) : '';
        my ($w, $h) = length($png) > 24 ? unpack('NN', substr($png, 16, 8)) : (0, 0);
        ok(substr($png, 0, 8) eq "\x89PNG\r\n\x1a\n" && $w >= 1000 && $h >= 600,
           "t/logs/screenshots/51-$n.png: a PNG of ${w}x$h") or diag("$n: " . length($png) . ' bytes');
    }

    $wd->stop;
    undef $wd;
}

note(sprintf 't/51-admin-browser.t took %ds', time - $t0);
error_log_clean();
