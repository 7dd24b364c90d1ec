# SCEPSQLiteWriter (README): private httpd instances with the event MPM (two
# children of eight threads each), each over its own fresh SQLite database in
# WAL, scep at debug, and an error_log whose tid is the kernel's thread id
# (ErrorLogFormat %{g}T), so that a log line can be matched to a thread in
# /proc/<pid>/task/.
#
# A, SCEPSQLiteWriter realtime: 48 enrollments from 12 concurrent clients
# (bench/scepbench) all get a SUCCESS CertRep, with exactly as many ISSUED
# transactions and distinct certificate serials for the run's CN prefix;
# each of the two children has exactly one thread named scep-db-writer;
# as root that thread is SCHED_FIFO priority 1, otherwise (as under
# Apache::Test) each child says once, at [warn], that it runs at the usual
# priority (SCEP00033), and mod_scep logs nothing else at [warn] or worse;
# writes met in group commits (SCEP00111, 2 writes or more), and every
# SCEP00111 line was logged by its child's writer thread; a graceful-stop
# ends every process (the writer thread is joined at child exit) and no
# child crashed.
# B, no directive (requests): enrollments succeed, no child has a writer
# thread, no SCEP00033, nothing at [warn] or worse.
# C, `SCEPSQLiteWriter fast`: httpd refuses to start and `httpd -t` fails,
# naming the directive and the file:line; `requests` at server level and
# `realtime` in a <VirtualHost> pass `httpd -t`; inside <Location> it fails.
# D, DBDriver pgsql with `SCEPSQLiteWriter realtime` (schema scep_t64 in the
# SCEP_TEST_PGSQL database, made and dropped here; skipped when it is
# unset): enrollments succeed, no writer thread, no SCEP00033.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLoad qw(:all);

plan tests => 26;

my $N = 48;          # enrollments of httpd A's burst
my $C = 12;          # scepbench's concurrent connections (16 worker threads in all)
my $THREADS = 8;     # ThreadsPerChild
my $WRITER = 'scep-db-writer';

# the MPM and the log: two children that stay (16 idle threads are not more
# than MaxSpareThreads), a bounded graceful stop, the kernel's thread ids
my $BASE = <<'EOC';
@HTTPD_BASE@
LogLevel info scep:debug
ErrorLogFormat "[%{u}t] [%-m:%l] [pid %P:tid %{g}T] %7F: %E: [client\ %a] %M"
LoadModule mpm_event_module "@MODULES@/mod_mpm_event.so"
StartServers 2
ServerLimit 2
ThreadLimit %THREADS%
ThreadsPerChild %THREADS%
MaxRequestWorkers %WORKERS%
MinSpareThreads %THREADS%
MaxSpareThreads %WORKERS%
KeepAliveTimeout 30
MaxKeepAliveRequests 0
GracefulShutdownTimeout 15
EOC

my $SCEP = <<'EOC';
@TEST_CA@
%WRITER%<Location /scep>
    SetHandler scep
    SCEPChallengePasswordFile "@PKI@/challenge"
</Location>
EOC

# conf(writer => VALUE (no directive if undef), pg => conninfo (else SQLite))
sub conf {
    my %o = @_;
    my $dbd;
    if ($o{pg}) {
        (my $esc = $o{pg}) =~ s/(["\\])/\\$1/g;
        $dbd = qq{DBDriver pgsql\nDBDParams "$esc"\n};
    }
    else {
        # the README's configuration (no busy_timeout)
        $dbd = qq{DBDriver sqlite3\nDBDParams "\@DB\@"\nDBDInitSQL "PRAGMA journal_mode=WAL"\n};
    }
    my $text = $BASE . $dbd . $SCEP;
    my %v = (THREADS => $THREADS, WORKERS => 2 * $THREADS,
             WRITER => defined $o{writer} ? "SCEPSQLiteWriter $o{writer}\n" : '');
    $text =~ s/%(\w+)%/$v{$1}/g;
    return $text;
}

my @started;
END { private_httpd_stop($_) for @started }

sub start {
    my ($name, %o) = @_;
    my $h = private_httpd(name => $name, conf => conf(%o));
    push @started, $h if $h->{ok};
    $h->{url} = "http://127.0.0.1:$h->{port}/scep";
    $h->{kind} = $o{pg} ? 'pgsql' : 'sqlite';
    $h->{pg} = $o{pg};
    return $h;
}

sub sq { my $s = shift; $s =~ s/'/''/g; "'$s'" }

# scepbench: -> (all N got a verified SUCCESS, a one-line account)
sub burst {
    my ($h, $prefix, $n, $c) = @_;
    return bench_burst($h, n => $n, c => $c, prefix => $prefix, pool => 8, decrypt => 8,
                       timeout => 30, max_time => 40, cmd_timeout => 90);
}

# the threads of a process: { tid => comm }
sub threads_of {
    my $pid = shift;
    my %t;
    for my $f (glob "/proc/$pid/task/*/comm") {
        my ($tid) = $f =~ m{/task/(\d+)/comm\z} or next;
        my $comm = eval { read_file($f) } // next;
        chomp $comm;
        $t{$tid} = $comm;
    }
    return \%t;
}

# { pid => { threads => N, writers => [tid ...] } } for the live children
sub children_state {
    my $h = shift;
    my %s;
    for my $k (httpd_children($h)) {
        my $t = threads_of($k->{pid});
        $s{ $k->{pid} } = { threads => scalar(keys %$t),
                            writers => [sort grep { $t->{$_} eq $WRITER } keys %$t] };
    }
    return \%s;
}

sub describe {
    my $s = shift;
    return join('; ', map { "child $_: $s->{$_}{threads} threads, $WRITER: "
                            . (join(',', @{ $s->{$_}{writers} }) || 'none') } sort keys %$s) || 'no children';
}

# (policy, rt_priority) of a thread: fields 41 and 40 of its stat
sub sched_of {
    my ($pid, $tid) = @_;
    my $stat = eval { read_file("/proc/$pid/task/$tid/stat") } // return (-1, -1);
    $stat =~ s/^.*\)\s+//s;    # fields from 3 (state) on
    my @f = split ' ', $stat;
    return ($f[41 - 3], $f[40 - 3]);
}

sub pid_of { my $l = shift; return $l =~ /\[pid (\d+)/ ? $1 : 0 }
sub tid_of { my $l = shift; return $l =~ /\[pid \d+:tid (\d+)\]/ ? $1 : 0 }

# mod_scep's lines at [warn] or worse (its module, or one of its tags)
sub scep_bad {
    my $h = shift;
    return grep { /\] \[(?:[\w.]+:)?(?:warn|error|crit|alert|emerg)\] / && /\[scep:|SCEP\d{5}:/ }
           log_lines($h);
}

sub groups {
    my $h = shift;
    return grep { /SCEP00111: group commit: (\d+) writes/ && $1 >= 2 } log_lines($h);
}

sub gone {
    my $pid = shift;
    my $stat = eval { read_file("/proc/$pid/stat") } // return 1;
    return $stat =~ /^\d+ \(.*\) Z /s ? 1 : 0;
}

# httpd -k graceful-stop: -> 1 once the parent and every child are gone
sub graceful_stop {
    my $h = shift;
    my @pids = grep { defined } httpd_pid($h), map { $_->{pid} } httpd_children($h);
    run_cmd([httpd_bin(), '-d', $h->{dir}, '-f', $h->{conf}, '-k', 'graceful-stop'], timeout => 30);
    my $ok = poll(25, sub { !-e "$h->{dir}/logs/httpd.pid" && !grep { !gone($_) } @pids }) ? 1 : 0;
    diag('still running: ' . join(' ', grep { !gone($_) } @pids)) unless $ok;
    stop($h) unless $ok;
    @started = grep { $_ != $h } @started;
    return $ok;
}

sub stop {
    my $h = shift;
    private_httpd_stop($h);
    @started = grep { $_ != $h } @started;
}

# `httpd -t` of a configuration text in instance H's directory
sub config_test { my ($h, $name, $text) = @_; return httpd_config_test($h->{dir}, $name, $text) }

my $as_root = $> == 0;

########## A: SCEPSQLiteWriter realtime
my $A = start('realtime', writer => 'realtime');
ok($A->{ok}, 'A (SCEPSQLiteWriter realtime): private httpd with the event MPM starts') or diag($A->{err});
SKIP: {
    skip 'A did not start', 10 unless $A->{ok};
    my $prefix = "t64-rt-$$";
    my $like = sq("CN=$prefix-%");
    my ($all, $why) = burst($A, $prefix, $N, $C);
    ok($all, "A: $N of $N enrollments at concurrency $C got a verified SUCCESS CertRep") or diag($why);
    is(value($A, "SELECT count(*) FROM scep_transactions WHERE status = 'ISSUED' AND subject LIKE $like"),
       $N, "A: $N ISSUED transactions for the run's CN prefix");
    my $c = query($A, "SELECT count(*) AS n, count(DISTINCT serial) AS d FROM scep_certificates "
                      . "WHERE subject LIKE $like")->[0];
    is("$c->{n} rows, $c->{d} serials", "$N rows, $N serials", "A: $N certificates with distinct serials");

    my $st = children_state($A);
    my @kids = sort keys %$st;
    my @one = grep { @{ $st->{$_}{writers} } == 1 } @kids;
    ok(@kids == 2 && @one == @kids, "A: each of the two children has exactly one $WRITER thread")
        or diag(describe($st));
    my %writer_of = map { $_ => { map { $_ => 1 } @{ $st->{$_}{writers} } } } @kids;

    my @log = log_lines($A);
    my @s33 = grep { /SCEP00033/ } @log;
    if ($as_root) {
        my @not_fifo = map { my $pid = $_; map { my ($pol, $prio) = sched_of($pid, $_);
                                                 $pol == 1 && $prio == 1 ? () : "$pid/$_: policy $pol priority $prio" }
                                           @{ $st->{$pid}{writers} } } @kids;
        ok(@one && !@not_fifo && !@s33, "A, as root: every $WRITER thread is SCHED_FIFO priority 1, no SCEP00033")
            or diag(join "\n", @not_fifo, @s33);
    }
    else {
        my %per_pid;
        $per_pid{ pid_of($_) }++ for @s33;
        my @not_warn = grep { !/\[scep:warn\] / } @s33;
        my @twice = grep { $per_pid{$_} > 1 } keys %per_pid;
        my @silent = grep { !$per_pid{$_} } @kids;
        ok(@s33 && !@not_warn && !@twice && !@silent,
           'A, not root: each child says SCEP00033 (usual priority) once, at [warn]')
            or diag(join "\n", scalar(@s33) . ' SCEP00033 line(s) for children ' . join(',', @kids), @s33,
                    (@twice ? "more than once: @twice" : ()), (@silent ? "never: @silent" : ()));
    }
    my @bad = grep { !/SCEP00033/ || $as_root } scep_bad($A);
    ok(!@bad, 'A: mod_scep logged nothing else at [warn] or worse')
        or diag(join "\n", @bad[0 .. ($#bad > 4 ? 4 : $#bad)]);

    # 12 clients over two children meet in groups; should a first burst
    # bring no group of two writes (timing), a second one is sent before
    # this fails
    my @groups = groups($A);
    my $again = '';
    unless (@groups) {
        my ($ok2, $why2) = burst($A, "$prefix-again", $N, $C);
        diag("A: no group commit of 2 writes or more in the first burst; a second one: $why2");
        @groups = groups($A);
        $again = ' (after a second burst)';
    }
    ok(@groups, "A: writes met in group commits (SCEP00111 with 2 writes or more)$again")
        or diag('no SCEP00111 line with 2 writes or more');
    my @all111 = grep { /SCEP00111: / } log_lines($A);
    my @elsewhere = grep { !$writer_of{ pid_of($_) }{ tid_of($_) } } @all111;
    ok(@all111 && !@elsewhere, 'A: every group commit (' . scalar(@all111)
       . " SCEP00111 lines) was written by its child's $WRITER thread")
        or diag(describe($st) . "\n" . join "\n", @elsewhere[0 .. ($#elsewhere > 4 ? 4 : $#elsewhere)]);

    ok(graceful_stop($A), 'A: httpd -k graceful-stop ends the parent and both children');
    my @crash = (grep({ /exit signal|Segmentation|AH00052|still did not exit/ } log_lines($A)), crashes($A));
    ok(!@crash, 'A: no child crashed or hung at exit (no exit signal, Segmentation, AH00052, core file)')
        or diag(join "\n", @crash[0 .. ($#crash > 4 ? 4 : $#crash)]);
}

# B and D (3 tests): 12 enrollments at concurrency 6 succeed, and no child
# has a writer thread or says SCEP00033
sub enrolls_without_writer {
    my ($h, $label, $prefix) = @_;
    my ($all, $why) = burst($h, $prefix, 12, 6);
    ok($all, "$label: 12 enrollments at concurrency 6 got a verified SUCCESS CertRep") or diag($why);
    my $st = children_state($h);
    my @kids = sort keys %$st;
    # a child with its worker threads has passed the point where A's start theirs
    my @ready = grep { $st->{$_}{threads} > $THREADS } @kids;
    my @with = grep { @{ $st->{$_}{writers} } } @kids;
    ok(@kids == 2 && @ready == 2 && !@with, "$label: neither child has a $WRITER thread")
        or diag(describe($st));
    my @s33 = grep { /SCEP00033/ } log_lines($h);
    ok(!@s33, "$label: no SCEP00033 line") or diag(join "\n", @s33);
}

########## B: no directive (requests, the default)
my $B = start('requests');
ok($B->{ok}, 'B (no SCEPSQLiteWriter): private httpd starts') or diag($B->{err});
SKIP: {
    skip 'B did not start', 4 unless $B->{ok};
    enrolls_without_writer($B, 'B', "t64-req-$$");
    my @bad = log_bad($B);
    ok(!@bad, 'B: error_log has nothing at [warn] or worse')
        or diag(join "\n", @bad[0 .. ($#bad > 4 ? 4 : $#bad)]);
    stop($B);
}

########## C: the directive's value and context
my $F = private_httpd(name => 'fast', conf => conf(writer => 'fast'));
push @started, $F if $F->{ok};
ok(!$F->{ok} && $F->{rc} != 0 && !-e "$F->{dir}/logs/httpd.pid",
   'SCEPSQLiteWriter fast: httpd refuses to start') or diag("rc $F->{rc}: $F->{out}$F->{err}");
my $fast_text = read_file($F->{conf});
my ($t, $t_out) = config_test($F, 'fast-t', $fast_text);
isnt($t->{rc}, 0, 'SCEPSQLiteWriter fast: httpd -t fails') or diag($t_out);
my $said = "$F->{out}$F->{err}\n$t_out";
like($said, qr/SCEPSQLiteWriter/, 'SCEPSQLiteWriter fast: the message names SCEPSQLiteWriter') or diag($said);
my $line = 0;
my @l = split /\n/, $fast_text;
for my $i (0 .. $#l) { $line = $i + 1 if $l[$i] =~ /^\s*SCEPSQLiteWriter\b/ }
my $tfile = "$F->{dir}/fast-t.conf";
like($t_out, qr/Syntax error on line $line of \Q$tfile\E|\Q$tfile\E:$line\b/,
     "SCEPSQLiteWriter fast: httpd -t names the file and line $line");
(my $ctx_text = $fast_text) =~ s/^SCEPSQLiteWriter fast\n/SCEPSQLiteWriter requests\n/m;
$ctx_text .= "<VirtualHost 127.0.0.1:$F->{port}>\n    SCEPSQLiteWriter realtime\n</VirtualHost>\n";
my ($v, $v_out) = config_test($F, 'vhost', $ctx_text);
ok($v->{rc} == 0 && $v_out =~ /Syntax OK/,
   'requests in the main server and realtime in a <VirtualHost>: httpd -t passes') or diag($v_out);
(my $loc_text = $fast_text) =~ s/^SCEPSQLiteWriter fast\n//m;
$loc_text =~ s{^(<Location /scep>\n)}{$1    SCEPSQLiteWriter realtime\n}m;
my ($lr, $l_out) = config_test($F, 'location', $loc_text);
ok($lr->{rc} != 0 && $l_out =~ /SCEPSQLiteWriter/, 'SCEPSQLiteWriter inside <Location>: httpd -t fails, naming it')
    or diag($l_out);

########## D: PostgreSQL: the directive has no effect
SKIP: {
    skip 'SCEP_TEST_PGSQL is not set: no PostgreSQL instance', 4 unless pg_conninfo();
    my $SCHEMA = 'scep_t64';
    my $ci = pg_schema_create($SCHEMA);
    my $D = start('pgsql', writer => 'realtime', pg => $ci);
    ok($D->{ok}, 'D (PostgreSQL, SCEPSQLiteWriter realtime): private httpd starts') or diag($D->{err});
    if ($D->{ok}) {
        enrolls_without_writer($D, 'D', "t64-pg-$$");
        stop($D);
    }
    else {
        fail('D: httpd did not start') for 1 .. 3;
    }
    pg_schema_drop($SCHEMA);
}
