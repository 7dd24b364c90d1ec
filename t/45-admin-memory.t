# The admin views in bounded memory (issue #12, finding 6; README "SetHandler
# scep-admin"): a private httpd with prefork and a single child, whose
# records hold 1,000 refusals with 1,024-byte subjects and 512-byte
# fail_texts (the most the engine stores), made of characters that HTML and
# JSON must escape; then 1,000 held requests of the same size. The page and
# api/enrollments?limit=1000 must not grow the child's peak memory (VmHWM)
# by 32 MB or more; both paginate (api: "next" with before=ID; the page: a
# bounded number of rows with links to older ones). Each request is measured
# on its own: the high-water mark is reset before it (/proc/PID/clear_refs).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLifecycle qw(admin_auth);

plan tests => 30;

my $LIMIT_MB = 32;
my $FP = uc sha256_hex(pem_file_der(pki('ca.pem')));

# N rows of STATUS: subjects of 1,024 bytes, fail_texts of 512, mostly '<'
# and '"' (six bytes each once escaped for JSON, four or six for HTML)
sub insert_rows {
    my ($db, $status, $n, $tag) = @_;
    my $sql = <<"EOS";
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n)
INSERT INTO scep_transactions (ca, transaction_id, message_type, status, subject, profile,
    client_addr, fail_info, fail_text, auth_failed, created_at, updated_at)
SELECT '$FP', printf('$tag-%04d', i), 19, '$status',
       substr(printf('CN=$tag-%04d,O=', i) || replace(hex(zeroblob(512)), '00', '<"'), 1, 1024),
       '/life-manual', '127.0.0.1', CASE WHEN '$status' = 'REJECTED' THEN 2 END,
       CASE WHEN '$status' = 'REJECTED'
            THEN substr(printf('$tag %04d: ', i) || replace(hex(zeroblob(256)), '00', '"<'), 1, 512) END,
       0, 1700000000 + i, 1700000000 + i
FROM n;
EOS
    db_exec($sql, file => $db);
}

my $conf = <<'EOC';
@HTTPD_BASE@
@ONE_CHILD@
@AUTH_MODULES@
@SQLITE_DB@
@TEST_CA@
@MANUAL_POINT@
@ADMIN@
EOC

my $h = private_httpd(name => 'memory', conf => $conf,
                      prepare_db => sub { insert_rows(shift, 'REJECTED', 1000, 'mem-refused') });

# the single child of the private httpd, and its VmHWM in kB
sub child_pid {
    my $parent = eval { read_file("$h->{dir}/logs/httpd.pid") } // '';
    $parent =~ s/\s+//g;
    my @kids;
    for my $st (glob '/proc/[0-9]*/status') {
        my $s = eval { read_file($st) } // next;
        push @kids, $1 if $s =~ /^PPid:\s*\Q$parent\E$/m && $s =~ /^Pid:\s*(\d+)/m;
    }
    return @kids == 1 ? $kids[0] : undef;
}
sub hwm_kb {
    my $pid = shift // return undef;
    my $s = eval { read_file("/proc/$pid/status") } // return undef;
    return $s =~ /^VmHWM:\s*(\d+) kB/m ? $1 : undef;
}
# get(PATH) and how much it grew the child's peak memory, in MB
sub measured {
    my ($pid, $path) = @_;
    if (open my $fh, '>', "/proc/$pid/clear_refs") {   # VmHWM := VmRSS
        print $fh "5\n";
        close $fh;
    }
    my $before = hwm_kb($pid) // 0;
    my $r = get($path);
    my $grown = ((hwm_kb($pid) // 0) - $before) / 1024;
    return ($r, $grown > 0 ? $grown : 0);
}
sub get {
    my $path = shift;
    return http(port => $h->{port}, path => "/adm/$path", headers => [admin_auth('alice')], timeout => 300);
}

ok($h->{ok}, 'httpd with prefork and one child starts') or diag($h->{err});
SKIP: {
    skip 'httpd did not start', 26 unless $h->{ok};
    is(db_value('SELECT count(*) FROM scep_transactions', file => $h->{db}), 1000, '1,000 refusals recorded');
    is(db_value('SELECT max(length(subject)) || \'/\' || max(length(fail_text)) FROM scep_transactions',
                file => $h->{db}), '1024/512', 'subjects of 1,024 bytes, fail_texts of 512');

    # warm up: the child's database connection, its statements, a small page
    my $r = get('api/enrollments?limit=1');
    is($r->{status}, 200, 'a first small list: 200');
    my $pid = child_pid();
    ok($pid, 'one child process serves the requests') or diag('children of the parent: not exactly one');
    ok(hwm_kb($pid), 'its VmHWM: ' . (hwm_kb($pid) // '?') . ' kB');
    $pid //= 0;

    my $grown;
    ($r, $grown) = measured($pid, '');
    is($r->{status}, 200, 'the admin page: 200');
    my $page_rows = () = $r->{body} =~ /<tr><td>\d+<\/td><td>REJECTED</g;
    ok($page_rows > 0 && $page_rows <= 100, "it shows a bounded number of recent enrollments ($page_rows)");
    my ($older) = $r->{body} =~ /<a href="([^"]*before=\d+[^"]*)"[^>]*>/;
    ok($older, 'with a link to older ones') or diag(substr($r->{body}, -300));
    ok($grown < $LIMIT_MB, sprintf('the page grew the child by %.1f MB (under %d MB)', $grown, $LIMIT_MB));

    if ($older) {
        (my $rel = $older) =~ s/&amp;/&/g;
        $rel =~ s{^.*/adm/}{};
        my $o = get($rel);
        is($o->{status}, 200, "the link to older enrollments: 200 ($rel)");
        my ($first_id) = $r->{body} =~ /<table id="recent">.*?<tr><td>(\d+)<\/td>/s;
        my ($o_first) = $o->{body} =~ /<table id="recent">.*?<tr><td>(\d+)<\/td>/s;
        ok($o_first && $first_id && $o_first < $first_id, "it starts below the first page ($o_first < $first_id)");
    }
    else {
        fail('the link to older enrollments') for 1 .. 2;
    }

    ($r, $grown) = measured($pid, 'api/enrollments?limit=1000');
    is($r->{status}, 200, 'api/enrollments?limit=1000: 200');
    my $j = eval { JSON::PP->new->decode($r->{body}) } || {};
    my @e = @{ $j->{enrollments} || [] };
    is(scalar @e, 1000, 'all 1,000 in one answer');
    is(length($e[0]{subject} // ''), 1024, 'each with its whole subject');
    ok(!grep({ $_->{subject} !~ /^CN=mem-refused-\d{4},O=<"/ } @e), 'correctly escaped and read back');
    ok($grown < $LIMIT_MB, sprintf('the list grew the child by %.1f MB (under %d MB)', $grown, $LIMIT_MB));
    is($j->{next}, undef, 'no "next": there are no more');

    # pages of the API: limit + next
    $r = get('api/enrollments?limit=400');
    $j = eval { JSON::PP->new->decode($r->{body}) } || {};
    my @ids = map { $_->{id} } @{ $j->{enrollments} || [] };
    my $n = 1;
    while ($j->{next} && $n < 10) {
        (my $rel = $j->{next}) =~ s{^.*/adm/}{};
        $j = eval { JSON::PP->new->decode(get($rel)->{body}) } || {};
        push @ids, map { $_->{id} } @{ $j->{enrollments} || [] };
        $n++;
    }
    is($n, 3, 'limit=400: three pages through "next"');
    is(scalar(@ids), 1000, 'with 1,000 enrollments');
    my %seen;
    ok(!grep({ $seen{$_}++ } @ids) && join(',', @ids) eq join(',', sort { $b <=> $a } @ids),
       'each once, newest first');
    is(get('api/enrollments?before=x')->{status}, 400, 'before=x: 400');
    is(get('api/enrollments?limit=1001')->{status}, 400, 'limit=1001: 400');

    # 1,000 held requests of the same size: the page lists those too
    insert_rows($h->{db}, 'PENDING', 1000, 'mem-held');
    ($r, $grown) = measured($pid, '');
    is($r->{status}, 200, 'the page with 1,000 held requests: 200');
    my $held = () = $r->{body} =~ /id="approve-\d+"/g;
    ok($held > 0 && $held <= 100, "it shows a bounded number of them ($held)");
    ok($r->{body} =~ /<a href="[^"]*pending_before=\d+/, 'with a link to older ones');
    ok($grown < $LIMIT_MB, sprintf('it grew the child by %.1f MB (under %d MB)', $grown, $LIMIT_MB));
    ($r, $grown) = measured($pid, 'api/enrollments?status=PENDING&limit=1000');
    is(scalar(@{ (eval { JSON::PP->new->decode($r->{body}) } || {})->{enrollments} || [] }), 1000,
       'api/enrollments?status=PENDING&limit=1000: all 1,000');
    ok($grown < $LIMIT_MB, sprintf('that list grew the child by %.1f MB (under %d MB)', $grown, $LIMIT_MB));
    is(child_pid(), $pid, 'the same child served everything');
}
private_httpd_stop($h);
