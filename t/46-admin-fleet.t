# The admin endpoint's fleet view through real HTTP (SetHandler scep-admin
# at /life-admin, Basic auth; README "SetHandler scep-admin"): devices
# enroll with real SCEP requests at four Locations (/life-auto,
# /life-manual, /otp, /prof-wifi) from their own client addresses; one is
# held and approved through the API, one held and rejected, one refused at
# once, one renewed, one revoked with the form of its detail page. Then,
# each against the database: search by the start of a subject or SAN value
# (any case), by serial (any case), transactionID and client address; the
# status, Location and date filters alone and with a search; paging through
# api/enrollments with "next"; 400 for bad values; the certificates about to
# expire (page and API, with their cursor); a certificate's detail page and
# JSON (subject, SANs, fingerprints, extensions, history, PEM and DER
# downloads equal to what the device received); the audit trail (API, main
# page, audit page, a certificate's history), written only by actions that
# happened; api/stats, the counts table and the SVG chart; HTML escaping of
# a hostile subject and reason. Another CA's admin (a private httpd on the
# same SQLite database, as in t/42-admin-scope.t) sees none of it. Last,
# search, stats, expiry, the audit trail and names that are long in UTF-8
# on each database: SQLite, and PostgreSQL and MariaDB through the scep_pg
# and scep_mysql virtual hosts when they are configured.
# The assertions that say "(regression: ...)" failed against the first
# version of the fleet view (commit 1c32528) and were fixed after.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use MIME::Base64 qw(decode_base64);
use POSIX qw(strftime);
use Time::Local qw(timegm);
use URI ();
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLifecycle qw(:all);

plan tests => 252;

my $T0 = time;
my $CA = pki('ca.pem');
my $FP = uc sha256_hex(pem_file_der($CA));
my $ADM = ADMIN;                                   # /life-admin
# names and client addresses of this run only
my $TAG = sprintf 'fl%04x', $$ % 65536;            # e.g. fl3f2a
my $NET = sprintf '127.46.%d', 1 + $$ % 250;       # this run's devices and admins
my $DAY = 86400;
my $FORM = 'application/x-www-form-urlencoded';

########## helpers

sub esc {                                          # a query value, %-escaped
    my $s = shift // '';
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub day_of { strftime('%Y-%m-%d', gmtime(shift)) }

# GET below the admin Location: aget('api/stats', user => 'bob', from =>
# ADDR, cookie => TOKEN, port => P) -> http() response with {json}
sub aget {
    my ($rel, %o) = @_;
    my @h = admin_auth($o{user} || 'alice');
    push @h, Cookie => "scep_admin_csrf=$o{cookie}" if defined $o{cookie};
    my $r = http(path => ($rel =~ m{^/} ? $rel : "$ADM/$rel"), headers => \@h,
                 ($o{from} ? (local_addr => $o{from}) : ()), ($o{port} ? (port => $o{port}) : ()),
                 ($o{vhost} ? (vhost => $o{vhost}) : ()));
    $r->{json} = json_body($r);
    return $r;
}

# POST a JSON body to the API
sub apost {
    my ($rel, $json, %o) = @_;
    my $r = http(method => 'POST', path => "$ADM/api/$rel",
                 headers => [admin_auth($o{user} || 'alice'), 'Content-Type' => 'application/json'],
                 body => $json ? JSON::PP->new->canonical->encode($json) : '',
                 ($o{from} ? (local_addr => $o{from}) : ()), ($o{port} ? (port => $o{port}) : ()),
                 ($o{vhost} ? (vhost => $o{vhost}) : ()));
    $r->{json} = json_body($r);
    return $r;
}

# api/enrollments?QUERY (limit 1000): the ids listed, or undef on an error
sub found {
    my ($query, %o) = @_;
    my $r = aget("api/enrollments?$query" . ($query =~ /limit=/ ? '' : '&limit=1000'), %o);
    return undef unless $r->{status} == 200 && $r->{json};
    return [map { $_->{id} } @{ $r->{json}{enrollments} || [] }];
}

sub ids_of { [sort { $b <=> $a } map { $_->{id} } @_] }    # newest first, as listed

# HTML: the text of a fragment, a table's rows (cells as HTML), an element
sub text_of {
    my $s = shift // '';
    $s =~ s/<br>/\n/g;
    $s =~ s/<[^>]*>//g;
    my %ent = (lt => '<', gt => '>', quot => '"', '#39' => "'", amp => '&');
    $s =~ s/&(lt|gt|quot|#39|amp);/$ent{$1}/g;
    return $s;
}

sub rows_of {
    my ($html, $id) = @_;
    my ($t) = ($html // '') =~ m{<table id="\Q$id\E">(.*?)</table>}s or return ();
    my @rows;
    while ($t =~ m{<tr>(.*?)</tr>}sg) {
        my $tr = $1;
        my @cells = $tr =~ m{<td[^>]*>(.*?)</td>}sg;
        push @rows, \@cells if @cells;
    }
    return @rows;
}

sub html_esc {
    my $s = shift // '';
    my %ent = ('<' => '&lt;', '>' => '&gt;', '&' => '&amp;', '"' => '&quot;', "'" => '&#39;');
    $s =~ s/([<>&"'])/$ent{$1}/g;
    return $s;
}

sub cell_by_id {
    my ($html, $id) = @_;
    my ($c) = ($html // '') =~ m{<td id="\Q$id\E">(.*?)</td>}s;
    return $c;
}

sub txn_rows {
    my $ids = join ',', map { 0 + $_ } @_;
    return @{ db_rows("SELECT * FROM scep_transactions WHERE id IN ($ids) ORDER BY id DESC") };
}

sub audit_rows { @{ db_rows('SELECT * FROM scep_audit WHERE ca = ' . q_str($FP) . ' ' . (shift // '') . ' ORDER BY id') } }

# openssl's "Nov 26 04:28:10 2026 GMT" -> epoch
sub ossl_time {
    my $s = shift // return undef;
    my %mon = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5,
               Jul => 6, Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);
    my ($m, $d, $H, $M, $S, $y) = $s =~ /^(\w{3})\s+(\d+)\s+(\d+):(\d+):(\d+)\s+(\d{4})\s+GMT/
        or return undef;
    return timegm($S, $M, $H, $d, $mon{$m}, $y);
}

my @KEYS = new_keys((2048) x 11);

# a device enrolls: device(path => '/life-auto', subject => '/CN=x', from =>
# ADDR, san => [dns names], challenge => S, headers => [...]) -> { req, rep,
# status (pkiStatus), id, tid, cert (PEM file), der, serial, profile, from }
sub device {
    my %o = @_;
    my $req = build_request(key => shift(@KEYS) || new_key(), subject => $o{subject},
                            (exists $o{challenge} ? (challenge => $o{challenge}) : ()),
                            args => [map { ('--san-dns', $_) } @{ $o{san} || [] }]);
    my $resp = send_request($req, path => $o{path}, local_addr => $o{from}, headers => $o{headers});
    my $rep = $resp->{status} == 200 ? parse_reply($resp, $req) : {};
    my $row = db_rows('SELECT id, profile, serial FROM scep_transactions WHERE ca = ' . q_str($FP)
                      . ' AND transaction_id = ' . q_str($req->{tid}))->[0] || {};
    my $d = { req => $req, rep => $rep, status => $rep->{pkiStatus} // "HTTP $resp->{status}",
              id => $row->{id} // 0, tid => $req->{tid}, profile => $row->{profile},
              from => $o{from} // '127.0.0.1', path => $o{path}, subject => $o{subject} };
    if ($rep->{cert_file}) {
        $d->{cert} = $rep->{cert_file};
        $d->{der} = pem_file_der($rep->{cert_file});
        $d->{serial} = $row->{serial};
    }
    return $d;
}

# the page: GET /life-admin/?QUERY with the browser's cookie
my $TOKEN;
sub page {
    my ($query, %o) = @_;
    my $r = aget('/life-admin/' . (defined $query && length $query ? "?$query" : ''),
                 (defined $TOKEN ? (cookie => $TOKEN) : ()), %o);
    if (!defined $TOKEN && ($r->{headers}{'set-cookie'} // '') =~ /^scep_admin_csrf=([0-9A-Fa-f]+);/) {
        $TOKEN = $1;
    }
    return $r;
}

########## before: the counts without this file's enrollments
my $STATS0 = aget('api/stats')->{json} || {};
my $AUDIT0 = db_value('SELECT COALESCE(MAX(id), 0) AS m FROM scep_audit');

########## the fleet: devices at four Locations, from their own addresses
my %D;
$D{alpha} = device(path => '/life-auto', subject => "/CN=\u$TAG-Alpha", from => "$NET.1");
$D{beta} = device(path => '/life-auto', subject => "/CN=$TAG-beta", from => "$NET.2");
$D{spaced} = device(path => '/life-auto', subject => "/CN=$TAG Spaced Device", from => "$NET.2");
$D{hostile} = device(path => '/life-auto', subject => "/CN=<i>$TAG&\"x", from => "$NET.3");
$D{gamma} = device(path => '/life-manual', subject => "/CN=$TAG-gamma", from => "$NET.4");
$D{delta} = device(path => '/life-manual', subject => "/CN=$TAG-delta", from => "$NET.4");
$D{eps} = device(path => '/life-manual', subject => "/CN=$TAG-eps", from => "$NET.4");
# a device refused at once (a wrong challenge): recorded, REJECTED
$D{refused} = device(path => '/life-auto', subject => "/CN=refused-$TAG", challenge => 'not-the-secret',
                     from => "$NET.10");
my $SID = "S-1-5-21-$$-" . time;
$D{wifi} = device(path => '/prof-wifi', subject => "/CN=$TAG-wifi", from => "$NET.1",
                  san => ["$TAG-wifi.wifi.example.com"], headers => ['X-Device-SID' => $SID]);

is(join(' ', map { "$_=$D{$_}{status}" } qw(alpha beta spaced hostile wifi)),
   'alpha=0 beta=0 spaced=0 hostile=0 wifi=0', 'five devices get their certificates at /life-auto and /prof-wifi');
is(join(' ', map { "$_=$D{$_}{status}" } qw(gamma delta eps)), 'gamma=3 delta=3 eps=3',
   'three are held for approval at /life-manual');
ok($D{refused}{status} eq '2' && $D{refused}{id}, 'one with a wrong challenge is refused (FAILURE), and on record');

# a one-time challenge bound to a name and a DNS name (POST api/challenges)
my $HOSTNAME = "host-$TAG.example.net";
my $t_ch = time;
my $ch = apost('challenges', { profile => 'otp', ttl => '30m', subject => [{ type => 'CN', value => "$TAG-otp" }],
                               san => [{ type => 'dns', value => $HOSTNAME }] }, from => "$NET.5");
is($ch->{status}, 201, 'POST api/challenges (profile otp, bound CN and DNS name): 201') or diag($ch->{body});
my $CH_ID = ($ch->{json} || {})->{id} // 0;
$D{otp} = device(path => '/otp', subject => "/CN=$TAG-otp", challenge => ($ch->{json} || {})->{challenge} // 'none',
                 from => "$NET.5");
is($D{otp}{status}, '0', 'a device enrolls at /otp with it');

# approve one held request (bob, from .6), reject one (alice, from .7)
my $REASON = "<b>not&\"ours</b> $TAG";
my ($t_ap, $t_rj) = (time, 0);
my $ap = apost("enrollments/$D{gamma}{id}/approve", undef, user => 'bob', from => "$NET.6");
is($ap->{status}, 200, "bob approves #$D{gamma}{id} through the API") or diag($ap->{body});
$D{gamma}{serial} = ($ap->{json} || {})->{serial};
{
    my (undef, undef, $poll) = life_poll($D{gamma}{req}, '/life-manual');
    $D{gamma}{cert} = $poll->{cert_file};
    $D{gamma}{der} = $poll->{cert_file} ? pem_file_der($poll->{cert_file}) : undef;
}
$t_rj = time;
my $rj = apost("enrollments/$D{delta}{id}/reject", { reason => $REASON }, from => "$NET.7");
is($rj->{status}, 200, "alice rejects #$D{delta}{id} with a reason") or diag($rj->{body});

# renew one (RenewalReq signed by its certificate): it leaves the expiring list
my $renew_key = new_key();
my ($renq, undef, $ren) = life_renew(old_cert => $D{spaced}{cert} // '/nonexistent', old_key => $D{spaced}{req}{key},
                                     new_key => $renew_key, path => '/life-auto', type => 17,
                                     subject => "/CN=$TAG Spaced Device");
is($ren->{pkiStatus}, '0', 'the spaced device renews its certificate (RenewalReq)');
my ($renewal_row) = @{ db_rows('SELECT id, serial, profile, status FROM scep_transactions WHERE ca = ' . q_str($FP)
                               . ' AND transaction_id = ' . q_str($renq->{tid})) };
$renewal_row ||= {};
my $RENEWED_SERIAL = $renewal_row->{serial} // 'none';

my @MINE = map { $D{$_} } qw(alpha beta spaced hostile gamma delta eps wifi otp refused);
my %BY_ID = map { $_->{id} => $_ } @MINE;
my @ALL_IDS = (map({ $_->{id} } @MINE), $renewal_row->{id} // ());
ok(!grep({ !$_ } @ALL_IDS) && @ALL_IDS == 11, 'eleven transactions of this file on record');
my %TXN = map { $_->{id} => $_ } txn_rows(@ALL_IDS);

########## search: the start of a name, any case
{
    my @prefix_all = grep { $_->{subject} =~ m{^/CN=$TAG}i } @MINE;
    push @prefix_all, { id => $renewal_row->{id} // 0 };
    is_deeply(found('q=' . esc($TAG)), ids_of(@prefix_all),
              "q=$TAG (the start of their CNs): exactly this file's transactions but the hostile one");
    is_deeply(found('q=' . esc("$TAG-al")), ids_of($D{alpha}), "q=$TAG-al: CN=\u$TAG-Alpha (lower case asks)");
    is_deeply(found('q=' . esc(uc "$TAG-ALPHA")), ids_of($D{alpha}), 'q in upper case: the same');
    is_deeply(found('q=alpha'), [], 'q=alpha (inside the name, not its start): nothing');
    is_deeply(found('q=' . esc($HOSTNAME)), ids_of($D{otp}), "q=$HOSTNAME (a SAN value): the /otp device");
    is_deeply(found('q=' . esc(uc "host-$TAG.EXAMPLE")), ids_of($D{otp}), 'the start of the SAN value in upper case');
    is_deeply(found('q=' . esc("$TAG-wifi.wifi")), ids_of($D{wifi}),
              "q=$TAG-wifi.wifi (the start of a DNS name, not of the CN $TAG-wifi): the Wi-Fi device");
    is_deeply(found('q=' . esc("tag:microsoft.com,2022-09-14:sid:$SID")), ids_of($D{wifi}),
              'q=the URI SAN (from X-Device-SID): the Wi-Fi device');
    is_deeply(found('q=' . esc("<i>$TAG&")), ids_of($D{hostile}), 'q=<i>...& (escaped in the URL): the hostile CN');
    is_deeply(found('q=' . esc("  $TAG-beta  ")), ids_of($D{beta}), 'q with spaces around: trimmed');
    is_deeply(found('q=' . esc("$NET.10")), ids_of($D{refused}), 'the refused request is listed (by its client address)');
    # (regression: names were written only for issued and held requests, so a
    # refused one could not be found by the CN it asked for)
    is_deeply(found('q=' . esc("refused-$TAG")), ids_of($D{refused}), "q=refused-$TAG (its CN): the refused request");
}

########## search: serial, transactionID, client address
{
    my $s = $D{beta}{serial} // 'none';
    is_deeply(found('q=' . esc(lc $s)), ids_of($D{beta}), 'q=serial in lower case: its enrollment');
    is_deeply(found('q=' . esc(uc $s)), ids_of($D{beta}), 'q=serial in upper case: the same');
    my $gs = $D{gamma}{serial} // 'none';
    is_deeply(found('q=' . esc(lc $gs)), ids_of($D{gamma}), 'q=serial of the approved certificate: its enrollment');
    is_deeply(found('q=' . esc($D{delta}{tid})), ids_of($D{delta}), 'q=transactionID: that enrollment');
    is_deeply(found('q=' . esc(substr($D{delta}{tid}, 0, 10))), [], 'q=the start of a transactionID: nothing (exact only)');
    is_deeply(found('q=' . esc("$NET.1")), ids_of($D{alpha}, $D{wifi}),
              "q=$NET.1 (a client address): its two enrollments at two Locations");
    is_deeply(found('q=' . esc("$NET.4")), ids_of($D{gamma}, $D{delta}, $D{eps}), "q=$NET.4: its three");
    my $rows = (aget('api/enrollments?q=' . esc("$NET.1"))->{json} || {})->{enrollments} || [];
    is(join(',', map { "$_->{client_addr}|$_->{profile}" } @$rows), "$NET.1|prof-wifi,$NET.1|/life-auto",
       'the rows carry that client address and their Locations, newest first');
}

########## filters, alone and with a search
{
    my @mine = map { $TXN{$_} } sort { $b <=> $a } @ALL_IDS;
    my $q = 'q=' . esc($TAG);
    my @prefix = grep { $_->{subject} =~ /^CN=$TAG/i } @mine;
    for my $st (qw(ISSUED PENDING REJECTED)) {
        is_deeply(found("$q&status=$st"), ids_of(grep { $_->{status} eq $st } @prefix),
                  "q=$TAG&status=$st: those of the database");
    }
    is_deeply(found('q=' . esc("$NET.4") . '&status=PENDING'), ids_of($D{eps}), 'client address + status=PENDING');
    is_deeply(found("$q&profile=" . esc('/life-manual')), ids_of(grep { $_->{profile} eq '/life-manual' } @prefix),
              'q + profile=/life-manual');
    is_deeply(found("$q&profile=prof-wifi"), ids_of($D{wifi}), 'q + profile=prof-wifi');
    is_deeply(found("$q&profile=" . esc('/life-manual') . '&status=ISSUED'), ids_of($D{gamma}),
              'q + profile + status: the approved one');
    is_deeply(found("$q&profile=no-such-profile"), [], 'an unknown profile: nothing');

    # profile alone, status alone (no search): every row of the database that matches
    my $fp = q_str($FP);
    my $db = sub { [map { $_->{id} } @{ db_rows("SELECT id FROM scep_transactions WHERE ca = $fp AND $_[0] ORDER BY id DESC LIMIT 1000") }] };
    is_deeply(found('profile=otp'), $db->("profile = 'otp'"), 'profile=otp alone: every /otp enrollment on record');
    is_deeply(found('status=REJECTED'), $db->("status = 'REJECTED'"), 'status=REJECTED alone: every rejection on record');

    # dates: today (UTC) holds them all; until is inclusive of its day
    my ($first, $last) = (my @t = sort { $a <=> $b } map { $_->{created_at} } @mine)[0, -1];
    my ($today, $yesterday, $tomorrow) = (day_of($first), day_of($first - $DAY), day_of($first + $DAY));
    if (day_of($last) eq $today) {
        is_deeply(found("$q&since=$today"), ids_of(@prefix), "since=$today: all of them");
        is_deeply(found("$q&until=$today"), ids_of(@prefix), "until=$today (inclusive of the day): all of them");
        is_deeply(found("$q&since=$today&until=$today"), ids_of(@prefix), 'since and until the same day: all');
        is_deeply(found("$q&until=$yesterday"), [], "until=$yesterday: none");
        is_deeply(found("$q&since=$tomorrow"), [], "since=$tomorrow: none");
    }
    else {
        ok(1, 'the enrollments straddle midnight UTC: the day filters are checked with seconds below') for 1 .. 5;
    }
    # seconds since the epoch: since inclusive, until exclusive
    my $mid = $TXN{ $D{gamma}{id} }{created_at};
    is_deeply(found("$q&since=$mid"), ids_of(grep { $_->{created_at} >= $mid } @prefix),
              "since=$mid (seconds): those created at or after it");
    is_deeply(found("$q&until=$mid"), ids_of(grep { $_->{created_at} < $mid } @prefix),
              "until=$mid (seconds): those created before it");
    is_deeply(found("$q&status=ISSUED&profile=" . esc('/life-auto') . "&since=$mid"),
              ids_of(grep { $_->{created_at} >= $mid && $_->{status} eq 'ISSUED' && $_->{profile} eq '/life-auto' } @prefix),
              'q + status + profile + since together');
}

########## paging through api/enrollments with limit=2
for my $case (['q=' . esc($TAG), 'the search'], ['q=' . esc($TAG) . '&status=ISSUED&profile=' . esc('/life-auto'), 'search and filters'],
              ['profile=' . esc('/life-manual'), 'a Location']) {
    my ($query, $label) = @$case;
    my $all = found($query) || [];
    my %want = map { split /=/, $_, 2 } split /&/, $query;
    my (@got, $bad_next, $pages);
    my $url = "$ADM/api/enrollments?$query&limit=2";
    while ($url && ($pages // 0) < 100) {
        my $r = aget($url);
        last unless $r->{status} == 200 && $r->{json};
        $pages++;
        my @ids = map { $_->{id} } @{ $r->{json}{enrollments} };
        $bad_next = "page $pages has " . scalar(@ids) . ' rows' if @ids > 2 || (!@ids && $pages > 1);
        push @got, @ids;
        $url = $r->{json}{next};
        if ($url) {
            my ($qs) = $url =~ /\?(.*)$/;
            my %has = map { split /=/, $_, 2 } split /&/, $qs // '';
            for my $k (keys %want) {
                $bad_next = "next lost $k: $url" unless ($has{$k} // '') eq $want{$k};
            }
            $bad_next = "next without limit=2: $url" unless ($has{limit} // '') eq '2';
        }
    }
    my %seen;
    ok(@$all > 2 && !grep({ $seen{$_}++ } @got), "$label: limit=2 pages hold no row twice");
    is_deeply(\@got, $all, "$label: following next to the end gives every row, newest first ($pages pages)");
    ok(!$bad_next, "$label: every next keeps the search and filters") or diag($bad_next);
}

########## bad values: 400
{
    for my $bad ('status=issued', 'status=BOGUS', 'since=yesterday', 'since=2026-13-01', 'until=2026-1-1',
                 'since=12345678901234', 'limit=0', 'limit=1001', 'limit=x', 'before=x', 'q=' . esc('a' x 201),
                 'q=' . esc("a\tb")) {
        my $r = aget("api/enrollments?$bad");
        ok($r->{status} == 400 && $r->{json} && defined $r->{json}{error},
           "api/enrollments?$bad: 400 with {\"error\": ...}") or diag("$r->{status} $r->{body}");
    }
    my $r = page('status=BOGUS');
    is($r->{status}, 400, 'the page with status=BOGUS: 400');
    $r = page('since=not-a-date');
    is($r->{status}, 400, 'the page with since=not-a-date: 400');
}

########## the certificates about to expire
my $NOW = time;
my %EXP = (beta => $NOW + 4 * $DAY + 43200, wifi => $NOW + 6 * $DAY, spaced => $NOW + 6 * $DAY,
           alpha => $NOW + 6 * $DAY);
for my $k (keys %EXP) {
    db_exec("UPDATE scep_certificates SET not_after = $EXP{$k} WHERE ca = " . q_str($FP)
            . ' AND serial = ' . q_str($D{$k}{serial} // ''));
}
sub expiring_db {
    my $days = shift;
    my $now = time;
    return [map { $_->{serial} } @{ db_rows('SELECT serial FROM scep_certificates WHERE ca = ' . q_str($FP)
        . " AND revoked_at IS NULL AND renewed_by IS NULL AND not_after > $now AND not_after < "
        . ($now + $days * $DAY) . ' ORDER BY not_after, serial') }];
}
# every page of api/certificates?expiring_within=DAYS&limit=N: (serials, pages, problem)
sub expiring_api {
    my ($days, $limit) = @_;
    my $url = "$ADM/api/certificates?expiring_within=$days&limit=$limit";
    my (@serials, $pages, $bad);
    while ($url && ($pages // 0) < 200) {
        my $r = aget($url);
        unless ($r->{status} == 200 && $r->{json}) { $bad = "$url: $r->{status} $r->{body}"; last }
        $pages++;
        my $rows = $r->{json}{certificates} || [];
        $bad = "page $pages: " . scalar(@$rows) . " rows" if @$rows > $limit;
        for (@$rows) {
            push @serials, $_->{serial};
            $bad = "row without not_after/subject/profile: " . JSON::PP->new->canonical->encode($_)
                unless $_->{not_after} && defined $_->{subject} && defined $_->{profile} && $_->{not_before};
        }
        $url = $r->{json}{next};
        $bad = "next loses expiring_within or limit: $url"
            if $url && ($url !~ /[?&]expiring_within=$days(&|$)/ || $url !~ /[?&]limit=$limit(&|$)/ || $url !~ /[?&]after=/);
    }
    return (\@serials, $pages // 0, $bad);
}
{
    # the renewed certificate is gone from the window; the others are in it, soonest first
    my $want7 = expiring_db(7);
    my %in7 = map { $_ => 1 } @$want7;
    ok(($in7{ $D{beta}{serial} // '' } && $in7{ $D{wifi}{serial} // '' } && $in7{ $D{alpha}{serial} // '' })
       && !$in7{ $D{spaced}{serial} // '' }, 'in the database: beta, alpha and wifi expire within 7 days, the renewed one is left out');
    my ($all) = expiring_api(7, 1000);
    is_deeply($all, $want7, 'api/certificates?expiring_within=7: those of the database, by expiry then serial');
    my ($paged, $pages, $bad) = expiring_api(7, 1);
    is_deeply($paged, $want7, "limit=1, following next: the same rows in the same order ($pages pages)");
    ok(!$bad, 'every next keeps expiring_within and limit and has a cursor') or diag($bad);
    my ($s5) = expiring_api(5, 1000);
    is_deeply($s5, expiring_db(5), 'expiring_within=5: beta but not the ones at 6 days');
    ok((grep { $_ eq ($D{beta}{serial} // '') } @$s5) && !(grep { $_ eq ($D{alpha}{serial} // '') } @$s5),
       'beta (4.5 days) is in it, alpha (6 days) is not');
    my $r = aget('api/certificates?expiring_within=7&limit=1000');
    my ($row) = grep { $_->{serial} eq ($D{beta}{serial} // '') } @{ ($r->{json} || {})->{certificates} || [] };
    is_deeply($row ? [@$row{qw(subject profile not_after)}] : [], ["CN=$TAG-beta", '/life-auto', $EXP{beta}],
              "beta's row: subject, Location and the expiry of the database");
    for my $bad ('expiring_within=0', 'expiring_within=3651', 'expiring_within=x', 'expiring_within=7&after=garbage',
                 'expiring_within=7&limit=0', '') {
        my $rb = aget("api/certificates?$bad");
        is($rb->{status}, 400, "api/certificates?$bad: 400") or diag($rb->{body});
    }

    # the page: the same list, with links, Location and days left
    my $p = aget('expiring?days=7');
    is($p->{status}, 200, 'GET expiring?days=7: 200');
    my @rows = rows_of($p->{body}, 'expiring-list');
    is_deeply([map { text_of($_->[0]) } @rows], $want7, 'table#expiring-list: the same serials in the same order');
    my ($brow) = grep { text_of($_->[0]) eq ($D{beta}{serial} // '') } @rows;
    is_deeply($brow ? [map { text_of($_) } @$brow[1 .. 4]] : [],
              ["CN=$TAG-beta", '/life-auto', strftime('%Y-%m-%d %H:%M UTC', gmtime $EXP{beta}), '4'],
              "beta's row: subject, Location, expiry and 4 days left");
    like($brow ? $brow->[0] : '', qr{<a href="/life-admin/certificates/\Q$D{beta}{serial}\E">}, 'its serial links to its detail page');
    like($p->{body}, qr/<input name="days" id="days" size="4" value="7">/, 'form#expiring keeps days=7');
    unlike($p->{body}, qr/id="later-expiring"/, 'no a#later-expiring when all fit on the page');
    # the cursor of the API continues the page, too
    my $r1 = aget('api/certificates?expiring_within=7&limit=1');
    my ($cursor) = (($r1->{json} || {})->{next} // '') =~ /[?&]after=([^&]+)/;
    my $p2 = aget("expiring?days=7&after=$cursor");
    is_deeply([map { text_of($_->[0]) } rows_of($p2->{body}, 'expiring-list')], [@$want7[1 .. $#$want7]],
              'expiring?days=7&after=CURSOR: the rows after the first one');
    my $none = aget('expiring?days=1');
    my @none_rows = rows_of($none->{body}, 'expiring-list');
    ok(!@{ expiring_db(1) } ? (!@none_rows && $none->{body} =~ /id="none-expiring"/) : scalar(@none_rows) == @{ expiring_db(1) },
       'expiring?days=1: p#none-expiring when nothing expires (or the rows of the database)');
    is(aget('expiring?days=0')->{status}, 400, 'expiring?days=0: 400');
}

########## a certificate's detail: JSON, page, downloads
my $OTP_SERIAL = $D{otp}{serial} // 'none';
{
    my $x = run_cmd(['openssl', 'x509', '-in', $D{otp}{cert} // '/nonexistent', '-noout', '-text']);
    my $r = aget('api/certificates/' . lc $OTP_SERIAL);
    is($r->{status}, 200, 'api/certificates/SERIAL (in lower case): 200') or diag($r->{body});
    my $j = $r->{json} || {};
    my $ci = cert_info($D{otp}{cert} // '/nonexistent') || {};
    is($j->{serial}, $OTP_SERIAL, 'serial (upper case)');
    is($j->{subject}, $ci->{subject}, "subject $ci->{subject}, as openssl reads the device's certificate");
    is($j->{issuer}, cert_info($CA)->{subject}, 'issuer: the CA');
    is_deeply([$j->{not_before}, $j->{not_after}], [ossl_time($ci->{not_before}), ossl_time($ci->{not_after})],
              'not_before and not_after of the certificate');
    is_deeply($j->{sans}, ["DNS:$HOSTNAME"], 'sans: the bound DNS name');
    is($j->{profile}, 'otp', 'profile otp');
    ok(!defined $j->{revoked_at} && !defined $j->{revocation_reason} && !defined $j->{renewed_by},
       'not revoked, not renewed');
    is(decode_base64($j->{der} // ''), $D{otp}{der}, 'der: the certificate the device received');
    my $fp256 = run_cmd(['openssl', 'x509', '-in', $D{otp}{cert} // '/nonexistent', '-noout', '-fingerprint', '-sha256']);
    my ($want256) = $fp256->{out} =~ /Fingerprint=([0-9A-F:]+)/i;
    is($j->{sha256}, uc($want256 // 'x'), 'sha256 equals openssl x509 -fingerprint -sha256');
    is($j->{sha1}, join(':', unpack('(A2)*', uc Digest::SHA::sha1_hex($D{otp}{der} // ''))), 'sha1 of the DER');
    like($j->{key} // '', qr/^RSA 2048\b/, "key: $j->{key}");
    is_deeply([map { $_->{id} } @{ $j->{transactions} || [] }], [$D{otp}{id}], 'transactions: the enrollment that asked for it');
    is(($j->{transactions} || [{}])->[0]{transaction_id}, $D{otp}{tid}, 'with its transactionID');
    # keyUsage as openssl prints it
    my ($ku_line, $ku_value) = $x->{out} =~ /^\s*(X509v3 Key Usage:.*?)\n\s*(.*?)\s*$/m;
    my ($ku) = grep { ($_->{name} // '') =~ /^(?:keyUsage|X509v3 Key Usage)$/ } @{ $j->{extensions} || [] };
    ok($ku, 'extensions list keyUsage') or diag(JSON::PP->new->canonical->encode($j->{extensions}));
    # (regression: the API named extensions by their long name, not the
    # short one scep_certinfo.h documents; the long one is now "title")
    is($ku && $ku->{name}, 'keyUsage', 'named by its short name keyUsage (scep_certinfo.h)');
    is_deeply($ku ? [$ku->{value}, $ku->{critical} ? 1 : 0] : [], [$ku_value // 'x', ($ku_line // '') =~ /critical/ ? 1 : 0],
              "with openssl's value ($ku_value) and critical flag");
    my %ext = map { ($_->{name} // '') => 1 } @{ $j->{extensions} || [] };
    my ($ext_block) = $x->{out} =~ /X509v3 extensions:\n(.*?)\n\s*Signature Algorithm:/s;
    my $want_ext = () = ($ext_block // '') =~ /^ {12}\S[^\n]*:(?: critical)?[ \t]*$/mg;
    is(scalar @{ $j->{extensions} || [] }, $want_ext, "as many extensions as openssl lists ($want_ext)");

    # PEM and DER downloads, through the page's links and the API
    my $pg = aget("certificates/$OTP_SERIAL");
    is($pg->{status}, 200, 'GET certificates/SERIAL (the detail page): 200');
    my $html = $pg->{body};
    like($pg->{headers}{'content-type'} // '', qr{^text/html}, 'text/html');
    is(text_of(cell_by_id($html, 'cert-status')), 'valid', 'td#cert-status: valid');
    is(text_of(cell_by_id($html, 'cert-subject')), $ci->{subject}, 'td#cert-subject');
    is(text_of(cell_by_id($html, 'cert-sans')), "DNS:$HOSTNAME", 'td#cert-sans: DNS:' . $HOSTNAME);
    is(text_of(cell_by_id($html, 'cert-sha256')), $j->{sha256}, 'td#cert-sha256: the SHA-256 fingerprint');
    my ($ext_row) = grep { text_of($_->[0]) =~ /^(?:keyUsage|X509v3 Key Usage)$/ } rows_of($html, 'extensions');
    is($ext_row ? text_of($ext_row->[2]) : '', $ku_value // 'x', 'table#extensions: keyUsage with its value');
    my ($pem_href) = $html =~ /<a id="download-pem" href="([^"]+)"/;
    my ($der_href) = $html =~ /<a id="download-der" href="([^"]+)"/;
    is($pem_href, "$ADM/certificates/$OTP_SERIAL/pem", 'a#download-pem');
    is($der_href, "$ADM/certificates/$OTP_SERIAL/der", 'a#download-der');
    my $pem = aget($pem_href // "$ADM/none");
    is($pem->{status}, 200, 'the PEM download: 200');
    like($pem->{headers}{'content-disposition'} // '', qr/^attachment; filename="\Q$OTP_SERIAL\E\.pem"$/,
         'Content-Disposition: attachment; filename="SERIAL.pem"');
    my $pem_file = write_file(work_file('download', 'pem'), $pem->{body});
    is(pem_file_der($pem_file), $D{otp}{der}, 'the PEM holds the certificate the device received');
    my $fp_dl = run_cmd(['openssl', 'x509', '-in', $pem_file, '-noout', '-fingerprint', '-sha256']);
    my ($dl256) = $fp_dl->{out} =~ /Fingerprint=([0-9A-F:]+)/i;
    is(text_of(cell_by_id($html, 'cert-sha256')), uc($dl256 // 'y'), "the page's SHA-256 is openssl's of the downloaded PEM");
    my $der = aget($der_href // "$ADM/none");
    is($der->{headers}{'content-type'}, 'application/pkix-cert', 'the DER download: application/pkix-cert');
    is($der->{body}, $D{otp}{der}, 'byte for byte the certificate the device received');
    is(aget("api/certificates/$OTP_SERIAL/pem")->{body}, $pem->{body}, 'api/certificates/SERIAL/pem: the same PEM');
    is(aget('api/certificates/' . lc($OTP_SERIAL) . '/der')->{body}, $D{otp}{der}, 'api/.../der (lower-case serial): the same DER');
    (my $pre = $html) =~ s/.*<pre id="cert-pem">(.*?)<\/pre>.*/$1/s;
    is(text_of($pre), $pem->{body}, 'pre#cert-pem: the same PEM');

    # history: requested (from its address), valid from
    my @hist = map { [map { text_of($_) } @$_] } rows_of($html, 'history');
    ok((grep { $_->[1] eq 'requested' && $_->[2] eq "$NET.5" && $_->[3] =~ /\b$D{otp}{id}\b.*\Q$D{otp}{tid}\E.*otp/ } @hist),
       'table#history: requested from its client address, enrollment, transaction and Location');
    ok((grep { $_->[1] eq 'valid from' } @hist), 'and when it is valid from');

    # unknown serials
    for my $u ('certificates/0123456789ABCDEF0123', 'certificates/0123456789ABCDEF0123/pem',
               'certificates/0123456789ABCDEF0123/der') {
        is(aget($u)->{status}, 404, "GET $u: 404");
    }
    my $u = aget('api/certificates/0123456789ABCDEF0123');
    ok($u->{status} == 404 && $u->{json} && $u->{json}{error}, 'api/certificates/UNKNOWN: 404 with an error');
    is(aget('certificates/not-hex')->{status}, 404, 'certificates/not-hex: 404');
}

########## approval and renewal in a certificate's history
{
    my $j = aget("api/certificates/" . ($D{gamma}{serial} // 'none'))->{json} || {};
    is(decode_base64($j->{der} // ''), $D{gamma}{der} // 'x', "the approved certificate's DER is the one the device polled");
    my ($ar) = grep { $_->{action} eq 'approve' } @{ $j->{audit} || [] };
    is_deeply($ar ? [@$ar{qw(actor client_addr target detail)}] : [],
              ['bob', "$NET.6", $D{gamma}{id}, "issued $D{gamma}{serial}"],
              "its history (JSON audit): bob approved enrollment #$D{gamma}{id} from $NET.6, issued SERIAL");
    my $html = aget("certificates/$D{gamma}{serial}")->{body};
    my @hist = map { [map { text_of($_) } @$_] } rows_of($html, 'history');
    ok((grep { $_->[1] eq 'approved' && $_->[2] eq 'bob' } @hist), 'table#history: approved by bob');
    ok((grep { $_->[1] eq 'approve' && $_->[2] eq "bob / $NET.6" && $_->[3] eq "issued $D{gamma}{serial}" } @hist),
       'and the audit row: approve, bob / address, issued SERIAL');

    my $old = aget("api/certificates/" . ($D{spaced}{serial} // 'none'))->{json} || {};
    is($old->{renewed_by}, $RENEWED_SERIAL, 'the renewed certificate: renewed_by the new serial');
    like(aget("certificates/$D{spaced}{serial}")->{body},
         qr{<td>renewed</td><td></td><td>by <a href="/life-admin/certificates/\Q$RENEWED_SERIAL\E">}, 'its history links the renewal');
}

########## revoke from the detail page's form
my $WIFI_SERIAL = $D{wifi}{serial} // 'none';
my ($t_rv1, $t_rv2);
{
    page('');                                          # the browser's cookie
    my $pg = aget("certificates/$WIFI_SERIAL", cookie => $TOKEN);
    my ($form) = $pg->{body} =~ m{(<form[^>]*id="revoke".*?</form>)}s;
    ok($form, 'the detail page has form#revoke');
    my ($action) = ($form // '') =~ /action="([^"]*)"/;
    my %hidden = ($form // '') =~ /<input type="hidden" name="(\w+)" value="([^"]*)">/g;
    my @reasons = ($form // '') =~ /<option>(\w+)<\/option>/g;
    is($action, "$ADM/ui/revoke", 'posting to ui/revoke');
    is_deeply([@hidden{qw(csrf serial)}], [$TOKEN, $WIFI_SERIAL], "with the cookie's CSRF token and the serial");
    ok((grep { $_ eq 'keyCompromise' } @reasons) && $form =~ /<select name="reason" id="reason">/ && $form =~ /id="revoke-submit"/,
       'select#reason offers keyCompromise; button#revoke-submit');
    my $body = join '&', map { "$_=" . esc($hidden{$_}) } sort keys %hidden;
    $t_rv1 = time;
    my $r = http(method => 'POST', path => $action // "$ADM/ui/revoke", local_addr => "$NET.8",
                 headers => [admin_auth('alice'), Cookie => "scep_admin_csrf=$TOKEN", 'Content-Type' => $FORM],
                 body => "$body&reason=keyCompromise");
    $t_rv2 = time;
    is($r->{status}, 303, 'the form posted: 303');
    my $loc = $r->{headers}{location} // '';
    like($loc, qr{^http://127\.0\.0\.1:\d+/life-admin/\?notice=Revoked}, 'back to the main page with a notice');
    (my $path = $loc) =~ s{^https?://[^/]+}{};
    my $back = page($path =~ /\?(.*)$/ ? $1 : '');
    like($back->{body}, qr{<p class="notice" id="notice">Revoked certificate \Q$WIFI_SERIAL\E; CRL number \d+\.</p>},
         'the page shows "Revoked certificate SERIAL; CRL number N."');

    my $c = db_rows('SELECT revoked_at, revocation_reason FROM scep_certificates WHERE serial = ' . q_str($WIFI_SERIAL))->[0] || {};
    is($c->{revocation_reason}, 1, 'revoked in the database, keyCompromise');
    $pg = aget("certificates/$WIFI_SERIAL", cookie => $TOKEN);
    is(text_of(cell_by_id($pg->{body}, 'cert-status')),
       'revoked ' . strftime('%Y-%m-%d %H:%M UTC', gmtime($c->{revoked_at} // 0)) . ' (keyCompromise)',
       'td#cert-status: revoked DATE (keyCompromise)');
    unlike($pg->{body}, qr/id="revoke"/, 'no revoke form any more');
    is(text_of(cell_by_id($pg->{body}, 'cert-sans')), "DNS:$TAG-wifi.wifi.example.com\nURI:tag:microsoft.com,2022-09-14:sid:$SID",
       'td#cert-sans: the DNS name and the URI, one a line');
    my @hist = map { [map { text_of($_) } @$_] } rows_of($pg->{body}, 'history');
    ok((grep { $_->[1] eq 'revoke' && $_->[2] eq "alice / $NET.8" && $_->[3] eq 'keyCompromise' } @hist),
       'table#history: revoke, alice / her address, keyCompromise');
    ok((grep { $_->[1] eq 'revoked' && $_->[3] eq 'keyCompromise' } @hist), 'and revoked, keyCompromise');
    my $j = aget("api/certificates/$WIFI_SERIAL")->{json} || {};
    is_deeply([$j->{revoked_at}, $j->{revocation_reason}], [$c->{revoked_at}, 'keyCompromise'], 'JSON: revoked_at, revocation_reason');
    my ($ar) = grep { $_->{action} eq 'revoke' } @{ $j->{audit} || [] };
    is_deeply($ar ? [@$ar{qw(actor client_addr target detail)}] : [], ['alice', "$NET.8", $WIFI_SERIAL, 'keyCompromise'],
              'JSON audit of the certificate: the revocation');
    my ($s7) = expiring_api(7, 1000);
    ok(!grep({ $_ eq $WIFI_SERIAL } @$s7), 'a revoked certificate is no longer about to expire');
    my ($row) = grep { text_of($_->[0]) eq $D{wifi}{id} } rows_of(page('q=' . esc("$TAG-wifi"))->{body}, 'recent');
    is($row ? text_of($row->[9]) : '', 'revoked', 'table#recent: Expires says revoked');

    # what fails writes no audit row
    my $n = db_value('SELECT count(*) AS n FROM scep_audit');
    $r = apost("certificates/$WIFI_SERIAL/revoke", { reason => 'keyCompromise' });
    is($r->{status}, 409, 'revoking it again: 409');
    $r = apost("enrollments/$D{gamma}{id}/approve");
    is($r->{status}, 409, 'approving the approved one again: 409');
    $r = apost('enrollments/999999999/reject', { reason => 'x' });
    is($r->{status}, 404, 'rejecting an unknown enrollment: 404');
    $r = apost('challenges', { profile => 'no-such-profile' });
    is($r->{status}, 400, 'a challenge for an unknown profile: 400');
    $r = apost('challenges/999999999/revoke');
    is($r->{status}, 404, 'revoking an unknown challenge: 404');
    $r = apost('certificates/0123456789ABCDEF0123/revoke', { reason => 'keyCompromise' });
    is($r->{status}, 404, 'revoking an unknown certificate: 404');
    is(db_value('SELECT count(*) AS n FROM scep_audit'), $n, 'none of them wrote an audit row');
}

########## the audit trail: every action, with who and where from
my ($CH2_ID, $t_cr);
{
    # a second challenge, bound to a hostile name, revoked at once
    my $c2 = apost('challenges', { profile => '/otp-both', subject => [{ type => 'CN', value => "<i>$TAG&\"ch" }] },
                   user => 'bob', from => "$NET.9");
    is($c2->{status}, 201, 'bob makes a challenge bound to a hostile name') or diag($c2->{body});
    $CH2_ID = ($c2->{json} || {})->{id} // 0;
    $t_cr = time;
    my $rv = apost("challenges/$CH2_ID/revoke", undef, user => 'bob', from => "$NET.9");
    is($rv->{status}, 200, 'and revokes it') or diag($rv->{body});

    my $r = aget('api/audit?limit=1000');
    is($r->{status}, 200, 'api/audit: 200');
    my @mine = grep { $_->{id} > $AUDIT0 } @{ ($r->{json} || {})->{audit} || [] };
    my @db = audit_rows("AND id > $AUDIT0");
    is_deeply([map { $_->{id} } @mine], [reverse map { $_->{id} } @db], 'newest first, the rows of the database');
    my %by = map { ("$_->{action}|" . ($_->{target} // '')) => $_ } @mine;
    my $row = sub { my $x = $by{ $_[0] }; $x ? [@$x{qw(actor client_addr detail)}] : [] };
    is_deeply($row->("approve|$D{gamma}{id}"), ['bob', "$NET.6", "issued $D{gamma}{serial}"], 'approve: bob, his address, issued SERIAL');
    is_deeply($row->("reject|$D{delta}{id}"), ['alice', "$NET.7", $REASON], 'reject: alice, her address, the reason');
    is_deeply($row->("revoke|$WIFI_SERIAL"), ['alice', "$NET.8", 'keyCompromise'], 'revoke: alice, her address, keyCompromise');
    is_deeply($row->("challenge|/CN=$TAG-otp"), ['alice', "$NET.5", "profile otp, SANs dns:$HOSTNAME"],
              'challenge: target the bound subject, detail the profile and SANs');
    is_deeply($row->("challenge|/CN=<i>$TAG&\"ch"), ['bob', "$NET.9", 'profile /otp-both'], "bob's challenge");
    # (regression: revoking a challenge was one plain UPDATE that never wrote
    # the staged audit record)
    is_deeply($row->("challenge-revoke|$CH2_ID"), ['bob', "$NET.9", undef], 'challenge-revoke: target the challenge id');
    my %at_ok = ("approve|$D{gamma}{id}" => [$t_ap, $t_rj], "reject|$D{delta}{id}" => [$t_rj, $t_rv1],
                 "revoke|$WIFI_SERIAL" => [$t_rv1, $t_rv2], "challenge|/CN=$TAG-otp" => [$t_ch, $t_ap]);
    my @late = grep { my $x = $by{$_}; !$x || $x->{at} < $at_ok{$_}[0] || $x->{at} > $at_ok{$_}[1] + 1 } sort keys %at_ok;
    ok(!@late, 'each at is the time of its action') or diag("@late");
    is(scalar(grep { !defined $_->{id} || !$_->{at} || !$_->{action} || !$_->{actor} } @mine), 0, 'every row has id, at, action, actor');

    # paging
    my (@ids, $pages);
    my $url = "$ADM/api/audit?limit=2";
    while ($url && ($pages // 0) < 500) {
        my $p = aget($url);
        last unless $p->{status} == 200;
        $pages++;
        push @ids, map { $_->{id} } @{ $p->{json}{audit} };
        $url = $p->{json}{next};
    }
    is_deeply(\@ids, [map { $_->{id} } @{ ($r->{json} || {})->{audit} || [] }], "api/audit?limit=2 following next: every row once ($pages pages)");
    is(aget('api/audit?limit=0')->{status}, 400, 'api/audit?limit=0: 400');
    is(aget('api/audit?before=x')->{status}, 400, 'api/audit?before=x: 400');

    # the main page: the newest ten, escaped, a link to the rest
    my $pg = page('');
    my @arows = rows_of($pg->{body}, 'audit');
    my @all_api = @{ ($r->{json} || {})->{audit} || [] };
    is_deeply([map { text_of($_->[0]) } @arows], [map { $_->{id} } @all_api[0 .. ($#all_api < 9 ? $#all_api : 9)]],
              'the main page: table#audit, the newest ten');
    my ($rv_row) = grep { text_of($_->[4]) eq 'revoke' && text_of($_->[5]) eq $WIFI_SERIAL } @arows;
    is_deeply($rv_row ? [map { text_of($_) } @$rv_row[2, 3, 6]] : [], ['alice', "$NET.8", 'keyCompromise'],
              'with the revocation: alice, her address, keyCompromise');
    my ($rv_href) = ($rv_row ? $rv_row->[5] : '') =~ /^<a href="([^"]+)">/;
    is(URI->new_abs($rv_href // '', base_url() . "$ADM/")->path, "$ADM/certificates/$WIFI_SERIAL",
       'its target links to the certificate');
    # the Location itself, without the slash, is the page too (README)
    my $bare = aget($ADM);
    is($bare->{status}, 200, "GET $ADM (no trailing slash): the page");
    my ($bare_row) = grep { text_of($_->[4]) eq 'revoke' && text_of($_->[5]) eq $WIFI_SERIAL } rows_of($bare->{body}, 'audit');
    my ($bare_href) = ($bare_row ? $bare_row->[5] : '') =~ /^<a href="([^"]+)">/;
    # (regression: the audit trail linked a revoked serial relatively, which
    # from the page at /life-admin, without its slash, led to /certificates/SERIAL)
    is(URI->new_abs($bare_href // '', base_url() . $ADM)->path, "$ADM/certificates/$WIFI_SERIAL",
       'there the audit link of the serial still leads to its certificate');
    like($pg->{body}, qr{<a href="/life-admin/audit" id="audit-all">}, 'a#audit-all');
    my $ap_html = aget('audit')->{body};
    my @all = rows_of($ap_html, 'audit');
    ok(@all >= @mine && text_of($all[0][0]) eq ($mine[0]{id} // ''), 'the audit page: newest first');
    my ($rj_row) = grep { text_of($_->[4]) eq 'reject' && text_of($_->[5]) eq $D{delta}{id} } @all;
    is($rj_row ? $rj_row->[6] : '', "&lt;b&gt;not&amp;&quot;ours&lt;/b&gt; $TAG", 'a hostile reason is HTML-escaped there');
    my ($ch_row) = grep { text_of($_->[4]) eq 'challenge' && text_of($_->[5]) =~ /\Q$TAG&"ch\E/ } @all;
    is($ch_row ? $ch_row->[5] : '', "/CN=&lt;i&gt;$TAG&amp;&quot;ch", 'and a hostile bound subject');
    unlike($ap_html, qr/<b>not|<i>$TAG/, 'no markup from them');
}

########## a certificate's history holds the actions on it, not on a challenge with
########## the number of its enrollment: revoke challenges until one has that id
{
    my $G = $D{gamma}{id};
    my ($hit, $n) = (0, 0);
    while (!$hit && $n++ < 3000) {
        my $c = apost('challenges', { profile => '/otp-both' });
        my $id = ($c->{json} || {})->{id} or last;
        apost("challenges/$id/revoke");               # none is left open
        last if $id > $G;
        $hit = $id == $G;
    }
    note("challenge $G made and revoked after $n challenges") if $hit;
    SKIP: {
        skip "no challenge could get the id $G of the approved enrollment", 2 unless $hit;
        # (regression: a certificate's history took every audit record whose
        # target was its enrollment's id, and a challenge-revoke's target is a
        # challenge id from another sequence)
        my $j = aget("api/certificates/$D{gamma}{serial}")->{json} || {};
        is_deeply([map { $_->{action} } @{ $j->{audit} || [] }], ['approve'],
                  "the approved certificate's audit: its approval only, not the revocation of challenge $G");
        my @hist = map { text_of($_->[1]) } rows_of(aget("certificates/$D{gamma}{serial}")->{body}, 'history');
        ok(!grep({ /challenge/ } @hist), 'nor in table#history') or diag("@hist");
    }
}

########## the counts: api/stats, the table, the chart
{
    my $r = aget('api/stats');
    is($r->{status}, 200, 'api/stats: 200');
    my $s = $r->{json} || {};
    my $now = time;
    my $fp = q_str($FP);
    # against the database: this CA's transactions
    my $db = sub {
        my $since = shift;
        +{ map { ("$_->{profile}|$_->{status}" => $_->{n}) } @{ db_rows('SELECT profile, status, COUNT(*) AS n FROM scep_transactions '
             . "WHERE ca = $fp AND created_at >= $since GROUP BY profile, status") } };
    };
    my $api = sub { +{ map { (($_->{profile} // '(none)') . "|$_->{status}" => $_->{count}) } @{ $_[0] || [] } } };
    my $month = $now - $now % $DAY - 29 * $DAY;
    is_deeply($api->($s->{last_24h}), $db->($now - $DAY), 'last_24h: the counts of the database per Location and status');
    is_deeply($api->($s->{last_30d}), $db->($month), 'last_30d: the same since the first day of the chart');
    my %daily_db = map { (($_->{d} * $DAY) . "|$_->{status}" => $_->{n}) }
        @{ db_rows("SELECT created_at / $DAY AS d, status, COUNT(*) AS n FROM scep_transactions WHERE ca = $fp "
                   . "AND created_at >= $month GROUP BY created_at / $DAY, status") };
    is_deeply(+{ map { ("$_->{day}|$_->{status}" => $_->{count}) } @{ $s->{daily} || [] } }, \%daily_db,
              'daily: per UTC day (its start) and status, as in the database');

    # this file's enrollments are in them, exactly
    my %tally;
    $tally{"$_->{profile}|$_->{status}"}++ for txn_rows(@ALL_IDS);
    my $before = $api->($STATS0->{last_24h});
    my $after = $api->($s->{last_24h});
    my %delta = map { ($_ => ($after->{$_} // 0) - ($before->{$_} // 0)) } keys %$after;
    delete $delta{$_} for grep { !$delta{$_} } keys %delta;
    is_deeply(\%delta, \%tally, 'last_24h grew by exactly the enrollments of this file');
    is_deeply(\%tally, { '/life-auto|ISSUED' => 5, '/life-auto|REJECTED' => 1, '/life-manual|ISSUED' => 1,
                         '/life-manual|REJECTED' => 1, '/life-manual|PENDING' => 1, 'otp|ISSUED' => 1, 'prof-wifi|ISSUED' => 1 },
              'which are: 5 issued (one a renewal) and 1 refused at /life-auto, 1 issued, 1 rejected, 1 pending at /life-manual, 1 at otp, 1 at prof-wifi');

    # the page's table: one row per Location, 24 hours and 30 days
    my $pg = page('');
    my %table = map { my @c = map { text_of($_) } @$_; (shift(@c) => \@c) } rows_of($pg->{body}, 'counts');
    my $want = sub {
        my $p = shift;
        my ($d, $m) = ($api->($s->{last_24h}), $api->($s->{last_30d}));
        [map({ $d->{"$p|$_"} // 0 } qw(ISSUED PENDING REJECTED)), map({ $m->{"$p|$_"} // 0 } qw(ISSUED PENDING REJECTED))];
    };
    is_deeply([map { $table{$_} } '/life-auto', '/life-manual', 'otp', 'prof-wifi'],
              [map { $want->($_) } '/life-auto', '/life-manual', 'otp', 'prof-wifi'],
              'table#counts: issued, pending, rejected in 24 hours and 30 days, as api/stats, for each Location');
    my %profiles = map { (($_->{profile} // '(none)') => 1) } @{ $s->{last_30d} || [] };
    is_deeply([sort keys %table], [sort keys %profiles], 'one row per Location of the last 30 days');

    # the chart: 30 days, oldest first, today's bar as api/stats
    my ($svg) = $pg->{body} =~ m{(<svg id="chart".*?</svg>)}s;
    ok($svg, 'svg#chart is inline in the page');
    my @titles = ($svg // '') =~ m{<g><title>([^<]*)</title>}g;
    is(scalar @titles, 30, '30 bars');
    my @days = map { /^(\d{4}-\d\d-\d\d):/ ? $1 : '' } @titles;
    is_deeply(\@days, [map { day_of($month + $_ * $DAY) } 0 .. 29], 'one per day, the oldest first, today last');
    my %per_day;
    $per_day{ day_of($_->{day}) }{ $_->{status} } += $_->{count} for @{ $s->{daily} || [] };
    my @want_titles = map { my $d = $per_day{$_} || {};
        sprintf '%s: %d issued, %d pending, %d rejected', $_, $d->{ISSUED} // 0, $d->{PENDING} // 0, $d->{REJECTED} // 0 } @days;
    is_deeply(\@titles, \@want_titles, 'each <title>: "DAY: N issued, N pending, N rejected" as api/stats daily');
    my ($today_g) = ($svg // '') =~ m{<g><title>\Q$days[-1]\E:[^<]*</title>(.*?)</g>}s;
    like($today_g // '', qr/<rect [^>]*fill="#2e7d32"/, "today's bar has its issued part");
    unlike($svg // '', qr/<script/i, 'no script in it');

    # only on the unfiltered first page
    my $f = page('q=' . esc($TAG));
    unlike($f->{body}, qr/id="counts"|id="chart"|id="audit"/, 'a search shows neither the counts, the chart nor the audit trail');
}

########## the page: search results, escaping, paging links
{
    my $pg = page('q=' . esc($TAG) . '&status=ISSUED');
    is($pg->{status}, 200, 'the page with q and status: 200');
    my @rows = rows_of($pg->{body}, 'recent');
    is_deeply([map { text_of($_->[0]) } @rows], found('q=' . esc($TAG) . '&status=ISSUED'), 'table#recent: the rows of the API');
    my ($br) = grep { text_of($_->[0]) eq $D{beta}{id} } @rows;
    is_deeply($br ? [map { text_of($_) } @$br[1 .. 5]] : [], ['ISSUED', "CN=$TAG-beta", $D{beta}{serial}, '/life-auto', "$NET.2"],
              'a row: status, subject, serial, Location, client');
    like($br ? $br->[3] : '', qr{^<a href="/life-admin/certificates/\Q$D{beta}{serial}\E">}, 'the serial links to the detail page');
    is($br ? text_of($br->[9]) : '', strftime('%Y-%m-%d %H:%M UTC', gmtime $EXP{beta}), 'Expires: its expiry');
    like($br ? text_of($br->[8]) : '', qr/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/, 'Issued: when it was issued');
    like($pg->{body}, qr{<input name="q" id="q" size="30" value="\Q$TAG\E"}, 'input#q keeps the search');
    like($pg->{body}, qr{<option selected>ISSUED</option>}, 'select#status-filter keeps ISSUED');
    like($pg->{body}, qr{<h2>Enrollments found</h2>}, 'headed "Enrollments found"');

    my $h = page('q=' . esc("<i>$TAG"));
    my ($hr) = rows_of($h->{body}, 'recent');
    is($hr ? $hr->[2] : '', html_esc($TXN{ $D{hostile}{id} }{subject}), 'the hostile CN is HTML-escaped in the results');
    unlike($h->{body}, qr/<i>$TAG/, 'and never markup');
    like($h->{body}, qr{value="&lt;i&gt;\Q$TAG\E"}, 'input#q holds it escaped');
    my $hd = aget("certificates/$D{hostile}{serial}")->{body};
    is(cell_by_id($hd, 'cert-subject'), html_esc(db_value('SELECT subject FROM scep_certificates WHERE serial = '
                                                          . q_str($D{hostile}{serial} // ''))), 'the detail page escapes it');
    unlike($hd, qr/<i>$TAG/, 'no markup on the detail page');

    my $none = page('q=no-such-name-' . $TAG);
    like($none->{body}, qr{<p id="no-enrollments">}, 'p#no-enrollments when nothing matches');
    is(scalar(rows_of($none->{body}, 'recent')), 0, 'and no rows');

    # as a browser sends the GET form: a space is "+"
    my $sp = page("q=$TAG+spaced&status=");
    # (regression: the admin query kept "+" as it is, so the page's search
    # form never found a name with a space in it)
    is_deeply([map { text_of($_->[0]) } rows_of($sp->{body}, 'recent')], ids_of($D{spaced}, { id => $renewal_row->{id} // 0 }),
              "the form's q=$TAG+spaced (a space sent as +) finds the spaced device and its renewal");
    is_deeply(found('q=' . esc("$TAG spaced")), ids_of($D{spaced}, { id => $renewal_row->{id} // 0 }),
              'q with %20: the same');

    # the older-rows link keeps the search: the Location with the most rows here
    my $fp = q_str($FP);
    my ($big) = @{ db_rows("SELECT profile, COUNT(*) AS n FROM scep_transactions WHERE ca = $fp GROUP BY profile ORDER BY n DESC LIMIT 1") };
    my $pq = 'profile=' . esc($big->{profile} // 'x');
    my $p1 = page($pq);
    my @ids1 = map { text_of($_->[0]) } rows_of($p1->{body}, 'recent');
    my ($older) = $p1->{body} =~ /<a href="([^"]+)" id="older-recent">/;
    if (($big->{n} // 0) > 50) {
        is(scalar @ids1, 50, "profile=$big->{profile}: 50 rows on the first page");
        like(text_of($older // ''), qr{^/life-admin/\?profile=\Q@{[esc($big->{profile})]}\E&before=$ids1[-1]$},
             'a#older-recent keeps the profile and continues after the last row');
        my $p2 = aget(text_of($older // ''), cookie => $TOKEN);
        my @ids2 = map { text_of($_->[0]) } rows_of($p2->{body}, 'recent');
        is_deeply([@ids1, @ids2], [@{ found($pq) }[0 .. $#ids1 + @ids2]], 'the next page: the rows after them');
        unlike($p2->{body}, qr/id="counts"|id="audit"/, 'an older page shows neither counts nor audit');
    }
    else {
        is(scalar @ids1, $big->{n}, "profile=$big->{profile}: all $big->{n} rows on one page");
        ok(!$older, 'no a#older-recent');
        ok(1, 'the paging of the page is driven in t/51-admin-browser.t') for 1 .. 2;
    }
}

########## another CA's admin on the same database sees none of it
my $FP_B = uc sha256_hex(pem_file_der(pki('other', 'ca.pem')));
{
    my $db = sqlite_file();
    my $conf = <<"EOC";
\@HTTPD_BASE\@
LoadModule mpm_event_module "\@MODULES\@/mod_mpm_event.so"
\@AUTH_MODULES\@
# the main test server's database, shared (as two CAs may share one)
DBDriver sqlite3
DBDParams "$db"
DBDInitSQL "PRAGMA journal_mode=WAL"
DBDInitSQL "PRAGMA busy_timeout=10000"
SCEPCACertificateFile "\@PKI\@/other/ca.pem"
SCEPCACertificateKeyFile "\@PKI\@/other/ca.key"
SCEPRACertificateFile "\@PKI\@/other/ra.pem"
SCEPRACertificateKeyFile "\@PKI\@/other/ra.key"
<Location /enroll>
    SetHandler scep
    SCEPChallengePassword fleet-b-secret
    SCEPOneTimeChallenges on
</Location>
\@ADMIN\@
EOC
    my $h = private_httpd(name => 'other-ca', conf => $conf);
    ok($h->{ok}, "an httpd with another CA on the main server's database starts") or diag($h->{err});
    SKIP: {
        skip 'httpd did not start', 17 unless $h->{ok};
        my %B = (port => $h->{port});
        my $bget = sub { my $rel = shift; aget("/adm/$rel", %B, @_) };
        # B's own enrollment, its own challenge
        my $trust = pki('other', 'all.pem');
        my $req = build_request(recipient => $trust, subject => "/CN=$TAG-other", challenge => 'fleet-b-secret');
        my $resp = send_request($req, port => $h->{port}, path => '/enroll');
        my $rep = $resp->{status} == 200 ? parse_reply($resp, $req, trust => $trust) : {};
        is($rep->{pkiStatus}, '0', "a device enrolls at the other CA");
        my $b_serial = db_value('SELECT serial FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid})) // 'none';
        my $bc = http(method => 'POST', port => $h->{port}, path => '/adm/api/challenges',
                      headers => [admin_auth('alice'), 'Content-Type' => 'application/json'],
                      body => '{"profile":"/enroll","subject":[{"type":"CN","value":"' . "$TAG-bch" . '"}]}');
        is($bc->{status}, 201, "the other CA's admin makes a challenge");

        my $f = $bget->('api/enrollments?q=' . esc($TAG) . '&limit=1000');
        is_deeply([map { $_->{subject} } @{ ($f->{json} || {})->{enrollments} || [] }], ["CN=$TAG-other"],
                  "B's search q=$TAG: only B's own enrollment");
        for my $q ($D{beta}{serial} // 'x', $D{delta}{tid}, "$NET.1", $HOSTNAME) {
            is_deeply(($bget->('api/enrollments?q=' . esc($q))->{json} || {})->{enrollments}, [], "B's search q=$q: nothing of A's");
        }
        is($bget->("api/certificates/$OTP_SERIAL")->{status}, 404, "B's api/certificates/A's serial: 404");
        is(join(' ', map { $bget->("certificates/$OTP_SERIAL$_")->{status} } '', '/pem', '/der'), '404 404 404',
           "B's detail page and downloads of A's certificate: 404");
        my $st = $bget->('api/stats')->{json} || {};
        is_deeply([map { "$_->{profile}|$_->{status}|$_->{count}" } @{ $st->{last_24h} || [] }], ['/enroll|ISSUED|1'],
                  "B's api/stats: only its own enrollment");
        is_deeply([map { "$_->{status}|$_->{count}" } @{ $st->{daily} || [] }], ['ISSUED|1'], 'and its daily counts');
        my $au = $bget->('api/audit?limit=1000')->{json} || {};
        is_deeply([map { "$_->{action}|$_->{target}" } @{ $au->{audit} || [] }], ["challenge|/CN=$TAG-bch"],
                  "B's api/audit: only its own action");
        my $bp = aget('/adm/', %B)->{body} // '';
        ok($bp =~ /<table id="audit">/ && $bp !~ /\Q$TAG\E-(?:alpha|beta|gamma|delta|otp|wifi)|\Q$WIFI_SERIAL\E/i,
           "B's main page: none of A's enrollments or actions");
        my $be = $bget->('api/certificates?expiring_within=3650&limit=1000')->{json} || {};
        is_deeply([map { $_->{serial} } @{ $be->{certificates} || [] }], [$b_serial], "B's expiring list: only its own certificate");
        # and A's admin does not see B's
        is_deeply(found('q=' . esc("$TAG-other")), [], "A's search does not find B's enrollment");
        is(aget("api/certificates/$b_serial")->{status}, 404, "A's api/certificates/B's serial: 404");
        ok(!grep({ ($_->{target} // '') eq "/CN=$TAG-bch" } @{ (aget('api/audit?limit=1000')->{json} || {})->{audit} || [] }),
           "A's audit trail does not hold B's action");
        my @bad = grep { /\[(?:\w+:)?(?:warn|error|crit|alert|emerg)\]/ && !/AH0004[56]/ }
                  split /\n/, eval { read_file("$h->{dir}/logs/error_log") } // '';
        ok(!@bad, 'the other CA logged nothing at [warn] or worse') or diag(join "\n", @bad);
    }
    private_httpd_stop($h);
    # leave the main database as the other test files expect it: one CA
    db_exec("DELETE FROM $_ WHERE ca = " . q_str($FP_B)) for qw(scep_names scep_audit scep_challenges scep_transactions scep_certificates scep_crls scep_outbox);
}

########## each database: SQLite (the main server), PostgreSQL and MariaDB
########## (the scep_pg, scep_mysql virtual hosts, when configured)
for my $db (['', 'SQLite', 1], ['scep_pg', 'PostgreSQL', $ENV{SCEP_TEST_PGSQL}, pg => 1],
            ['scep_mysql', 'MariaDB', $ENV{SCEP_TEST_MYSQL}, mysql => 1]) {
    my ($vh, $name, $on, @dbo) = @$db;
    subtest "the fleet view on $name" . ($vh ? " ($vh)" : ' (the main server)') => sub {
        plan skip_all => "$name is not configured" unless $on && eval { port($vh) };
        my %V = (vhost => $vh);
        my $dev = sub {
            my ($path, $cn, $from) = @_;
            my $req = build_request(subject => "/CN=$cn");
            my $resp = send_request($req, path => $path, vhost => $vh, local_addr => $from);
            my $rep = $resp->{status} == 200 ? parse_reply($resp, $req) : {};
            my $row = db_rows('SELECT id, serial, status FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid}), @dbo)->[0] || {};
            return { %$row, tid => $req->{tid}, st => $rep->{pkiStatus} // "HTTP $resp->{status}" };
        };
        my $da = $dev->('/life-auto', "\u$TAG-Db-Alpha", "$NET.21");
        my $dbeta = $dev->('/life-auto', "$TAG-db-beta", "$NET.22");
        my $m = $dev->('/life-manual', "$TAG-db-held", "$NET.22");
        # a CN of 50 characters that are 4 bytes each, after one byte: the
        # names kept for the search are cut at 200 bytes
        my $long_cn = 'a' . ("\xF0\x9F\x98\x80" x 50);
        my $l = $dev->('/life-auto', $long_cn, "$NET.23");
        is("$da->{st} $dbeta->{st} $m->{st}", '0 0 3', "three devices at $vh: two issued, one held");
        # (regression: names were cut at 200 bytes inside a UTF-8 character;
        # the database refused the broken string and with it the enrollment)
        is($l->{st}, '0', 'a device whose CN is 51 characters, 201 bytes of UTF-8, gets its certificate');
        my $found = sub {
            my $r = aget('api/enrollments?limit=1000&' . shift, %V);
            return [map { $_->{id} } @{ ($r->{json} || {})->{enrollments} || [] }];
        };
        is_deeply($found->('q=' . esc('a' . ("\xF0\x9F\x98\x80" x 10))), [$l->{id} // 'none'],
                  'q=the start of that long CN (11 characters): its enrollment');
        is_deeply($found->('q=' . esc(lc "$TAG-db-a")), [$da->{id}], 'q=the start of a CN, lower case');
        is_deeply($found->('q=' . esc(uc "$TAG-DB-")), [sort { $b <=> $a } $da->{id}, $dbeta->{id}, $m->{id}], 'q in upper case: all three');
        is_deeply($found->('q=' . esc(lc($dbeta->{serial} // 'x'))), [$dbeta->{id}], 'q=serial in lower case');
        is_deeply($found->('q=' . esc($m->{tid})), [$m->{id}], 'q=transactionID');
        is_deeply($found->('q=' . esc("$NET.22")), [sort { $b <=> $a } $dbeta->{id}, $m->{id}], 'q=client address');
        is_deeply($found->('q=' . esc(uc "$TAG-DB-") . '&status=PENDING&profile=' . esc('/life-manual') . '&since=' . day_of(time)),
                  [$m->{id}], 'q + status + profile + since');
        # reject with a long reason of two-byte characters: the audit detail is cut at 512 bytes
        # (SQLite stores the broken string: api/audit then sends invalid UTF-8)
        my $reason = 'r' . ("\xC3\xA9" x 300);
        my $rj = apost("enrollments/$m->{id}/reject", { reason => $reason }, %V, from => "$NET.24");
        # (regression: the audit detail was cut at 512 bytes inside a UTF-8
        # character; PostgreSQL and MariaDB refused it, and with it the rejection)
        is($rj->{status}, 200, 'a rejection with a 601-byte reason of two-byte characters: 200') or diag($rj->{body});
        my ($au) = grep { $_->{action} eq 'reject' && $_->{target} eq $m->{id} } @{ (aget('api/audit?limit=1000', %V)->{json} || {})->{audit} || [] };
        my $detail = $au ? $au->{detail} : '';
        (my $kept = $detail) =~ s/\.\.\.\z//;   # a cut is marked with "..."
        ok($au && utf8::decode(my $copy = $detail) && length($kept) < length($detail)
           && index($reason, $kept) == 0, 'its audit detail: a prefix of the reason, whole characters, marked "..."');
        # a challenge bound to a long subject (the audit target)
        my @long = ({ type => 'CN', value => 'c' x 60 }, { type => 'O', value => 'o' x 60 },
                    { type => 'OU', value => 'u' x 60 }, { type => 'L', value => 'l' x 120 });
        my $c = apost('challenges', { profile => 'otp', subject => \@long }, %V);
        # (regression, MariaDB: scep_audit.target is VARCHAR(255), and a longer
        # bound subject failed the audit insert and with it the challenge)
        is($c->{status}, 201, 'a challenge bound to a 330-character subject: 201') or diag($c->{body});
        apost("challenges/$c->{json}{id}/revoke", undef, %V) if $c->{json} && $c->{json}{id};
        # counts and expiry in this database
        my $s = aget('api/stats', %V)->{json} || {};
        my $fp = q_str($FP);
        my %want = map { ("$_->{profile}|$_->{status}" => 0 + $_->{n}) }
            @{ db_rows("SELECT profile, status, COUNT(*) AS n FROM scep_transactions WHERE ca = $fp GROUP BY profile, status", @dbo) };
        is_deeply(+{ map { ("$_->{profile}|$_->{status}" => $_->{count}) } @{ $s->{last_24h} || [] } }, \%want,
                  'api/stats last_24h: the counts of the database');
        ok(!grep({ $_->{day} % $DAY } @{ $s->{daily} || [] }) && @{ $s->{daily} || [] },
           'daily: days at the start of a UTC day');
        my $e = aget('api/certificates?expiring_within=3650&limit=1000', %V)->{json} || {};
        my %e = map { $_->{serial} => 1 } @{ $e->{certificates} || [] };
        ok($e{ $da->{serial} // 'x' } && $e{ $dbeta->{serial} // 'x' }, 'api/certificates?expiring_within=3650 lists them');
        my $d = aget("api/certificates/" . lc($da->{serial} // 'x'), %V);
        is(($d->{json} || {})->{subject}, "CN=\u$TAG-Db-Alpha", 'api/certificates/SERIAL: the certificate');
        is(aget("certificates/$dbeta->{serial}", %V)->{status}, 200, 'its detail page: 200');
    };
}

note(sprintf 't/46-admin-fleet.t took %ds', time - $T0);
# (nothing above may have been refused for a broken string: SCEP00206
# "certificate ... was not recorded" would show here)
error_log_clean();
