# Metrics (README "SetHandler scep-metrics"): counters in shared memory, so
# every child adds to the same ones. A private httpd with prefork and four
# children serves enrollments made at once from several processes; the
# Prometheus text then shows exactly the enrollments this test made (issued,
# a failure with its failInfo, a challenge failure), the latency histogram
# counts them, the gauges (CA, RA, pending) are there, and every line is
# valid exposition format (a strict parser here; promtool too when it is
# installed). mod_status (ExtendedStatus) shows a mod_scep section.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);

plan tests => 19;

my $h = private_httpd(name => 'metrics', conf => <<'EOC');
@HTTPD_BASE@
LoadModule mpm_prefork_module "@MODULES@/mod_mpm_prefork.so"
LoadModule status_module "@MODULES@/mod_status.so"
StartServers 4
MinSpareServers 4
MaxSpareServers 8
MaxRequestWorkers 8
KeepAlive Off
ExtendedStatus On
@SQLITE_DB@
@TEST_CA@
<Location /scep>
    SetHandler scep
    SCEPChallengePasswordFile "@PKI@/challenge"
</Location>
<Location /m-held>
    SetHandler scep
    SCEPChallengePasswordFile "@PKI@/challenge"
    SCEPApproval manual
</Location>
<Location /metrics>
    SetHandler scep-metrics
</Location>
<Location /server-status>
    SetHandler server-status
</Location>
EOC
ok($h->{ok}, 'a private httpd with four prefork children') or diag($h->{err});

# the exposition format, strictly: HELP and TYPE before a family's samples,
# label syntax and escaping, numeric values; -> { "name{labels}" => value }
sub parse_metrics {
    my ($text, $errors) = @_;
    my (%type, %v);
    for my $l (split /\n/, $text) {
        if ($l =~ /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S/) { next }
        if ($l =~ /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$/) { $type{$1} = $2; next }
        if ($l =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? (-?[0-9.]+(?:e[+-]?[0-9]+)?|\+Inf|NaN)$/) {
            my ($name, $labels, $value) = ($1, $2 // '', $3);
            my $family = $name;
            $family =~ s/_(?:bucket|sum|count)$// unless $type{$name};
            push @$errors, "no TYPE before $name" unless $type{$name} || $type{$family};
            $v{"$name$labels"} = $value;
            next;
        }
        push @$errors, "not exposition format: $l";
    }
    return \%v;
}

sub scrape {
    my @errors;
    my $r = http(port => $h->{port}, path => '/metrics');
    my $v = parse_metrics($r->{body} // '', \@errors);
    return ($r, $v, \@errors);
}

SKIP: {
    skip 'httpd did not start', 18 unless $h->{ok};
    my ($r0, $before, $err0) = scrape();
    is($r0->{status}, 200, 'GET /metrics: 200');
    like($r0->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'Prometheus text format 0.0.4');
    is_deeply($err0, [], 'every line is exposition format') or diag(join "\n", @$err0[0 .. 4]);

    # eight enrollments at once from eight processes, and two refused
    my @ok = run_at_once(map { my $i = $_; sub {
        my (undef, undef, $rep) = enroll(build => { subject => "/CN=m19-$$-$i" },
                                         send => { port => $h->{port} });
        return $rep->{pkiStatus} // '-';
    } } 1 .. 8);
    my @bad = run_at_once(map { my $i = $_; sub {
        my (undef, undef, $rep) = enroll(build => { subject => "/CN=m19-bad-$$-$i", challenge => 'wrong' },
                                         send => { port => $h->{port} });
        return $rep->{pkiStatus} // '-';
    } } 1 .. 2);
    my (undef, undef, $held) = enroll(build => { subject => "/CN=m19-held-$$" },
                                      send => { port => $h->{port}, path => '/m-held' });
    is(join(',', @ok, @bad, $held->{pkiStatus} // '-'), '0,0,0,0,0,0,0,0,2,2,3',
       'eight issued at once, two refused, one held');
    my @pids = do {
        my %p = map { /\[pid (\d+)/ ? ($1 => 1) : () }
                grep { /SCEP00367/ } split /\n/, read_file("$h->{dir}/logs/error_log");
        keys %p;
    };
    ok(@pids >= 2, scalar(@pids) . ' children served them');

    my ($r1, $after, $err1) = scrape();
    is_deeply($err1, [], 'the exposition is still valid');
    my $d = sub { ($after->{$_[0]} // 0) - ($before->{$_[0]} // 0) };
    is($d->('scep_enrollments_total{location="/scep",outcome="issued",failinfo=""}'), 8,
       'issued at /scep: +8 exactly, whichever child served them');
    is($d->('scep_enrollments_total{location="/scep",outcome="failure",failinfo="badRequest"}'), 2,
       'failure badRequest: +2');
    is($d->('scep_challenge_failures_total{location="/scep"}'), 2, 'challenge failures: +2');
    is($d->('scep_enrollments_total{location="/m-held",outcome="pending",failinfo=""}'), 1,
       'pending at /m-held: +1');
    # the records' writes: nine records at least (the refusals may add
    # theirs), in as many transactions or fewer (group commit), and with
    # SQLite the time the writers' lock was held
    my ($commits, $writes) = ($d->('scep_database_commits_total'), $d->('scep_database_writes_total'));
    ok($writes >= 9, "scep_database_writes_total: +$writes (at least the nine records)");
    ok($commits >= 1 && $commits <= $writes, "scep_database_commits_total: +$commits, no more than the writes");
    ok($d->('scep_database_write_lock_held_seconds_total') > 0
       && $d->('scep_database_write_lock_wait_seconds_total') >= 0,
       'SQLite: the writers\' lock held for some time, waited for some or none');
    is($d->('scep_request_duration_seconds_count{operation="PKCSReq"}'), 11,
       'PKCSReq latency: 11 more observations');
    is($after->{'scep_request_duration_seconds_bucket{operation="PKCSReq",le="+Inf"}'},
       $after->{'scep_request_duration_seconds_count{operation="PKCSReq"}'}, 'the +Inf bucket equals the count');
    ok(($after->{'scep_pending_enrollments{ca="CN=mod_scep Test CA,O=mod_scep"}'} // -1) >= 1,
       'scep_pending_enrollments: the held one');
    ok(($after->{'scep_certificate_expiry_seconds{ca="CN=mod_scep Test CA,O=mod_scep",what="ca"}'} // 0) > 86400,
       'scep_certificate_expiry_seconds of the CA');
    my $st = http(port => $h->{port}, path => '/server-status?auto');
    like($st->{body} // '', qr/^SCEPIssued \/scep: \d+$/m, 'mod_status ?auto: a mod_scep section');
    if (my $promtool = `command -v promtool 2>/dev/null`) {
        chomp $promtool;
        my $f = write_file(work_file('metrics', 'txt'), $r1->{body});
        my $p = run_cmd(['sh', '-c', "$promtool check metrics < '$f'"]);
        diag("promtool: $p->{out}$p->{err}") if $p->{rc};
    }
}
private_httpd_stop($h);
