# Faults under load (issue #7). bench/scepbench runs in the background at
# concurrency 32 with every reply decrypted (--decrypt-every 1) and one
# result line per request (--results), while
#   (a) one httpd child is killed with SIGKILL (event and prefork MPM, SQLite
#       in WAL as the README configures it), and
#   (b) PostgreSQL is restarted with `pg_ctl restart -m fast` under an httpd
#       whose records go there (event and prefork MPM; schema scep_t71 in the
#       SCEP_TEST_PGSQL database, made and dropped here; skipped without
#       SCEP_TEST_PGSQL, SCEP_TEST_PG_DATA and SCEP_TEST_PG_BIN).
# Asserted for each: every request ends cleanly (a verified SUCCESS, a
# verified FAILURE CertRep, HTTP 5xx or a dropped connection: never a reply
# that does not verify); every SUCCESS carries a certificate whose serial is
# in scep_certificates with the ISSUED transaction of its transactionID; the
# records stay consistent; the service recovers by itself (a later run of 16
# enrollments succeeds completely within 60 s); no child crashes (httpd logs
# no AH00051/AH00052 exit signal, leaves no core file: it does not log the
# SIGKILL of (a) itself); the error_log says what happened (the database
# failure with a SCEPnnnnn tag) and every [warn]-or-worse line is tagged.
# (d), (e): PostgreSQL and MariaDB restarted while httpd is idle; then the
# first 16 enrollments all succeed, as the pooled connections whose sessions
# the server closed open new ones and run the statement again.
# PostgreSQL is running again when this file ends, whatever happened (END).
#
# SCEP_TEST_FAULT_N sets the requests per run (default 400).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use File::Basename qw(dirname);
use Time::HiRes ();
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLoad qw(:all);

my $N = $ENV{SCEP_TEST_FAULT_N} || 400;
my $C = 32;
my $PG_BIN = $ENV{SCEP_TEST_PG_BIN} || '';
my $PG_DATA = $ENV{SCEP_TEST_PG_DATA} || '';
my $HAVE_PG = pg_conninfo() && -x "$PG_BIN/pg_ctl" && -d $PG_DATA ? 1 : 0;
my $PER_KILL = 9;
my $PER_PG = 10;
my @KILL = ('event', 'prefork');
my @PGRESTART = ('event', 'prefork');
my $PER_WAL = 5;
my @CRASH_WAL = ('event', 'prefork');
my $PER_IDLE = 7;
my $MY_DIR = $ENV{SCEP_TEST_MY_DIR} || '';
my $HAVE_MY = $ENV{SCEP_TEST_MYSQL} && -d "$MY_DIR/data" ? 1 : 0;

plan tests => 1 + $PER_KILL * @KILL + $PER_PG * @PGRESTART + $PER_WAL * @CRASH_WAL + 2 * $PER_IDLE;

ok(-x bench_bin(), 'bench/scepbench builds');

sub sq { my $s = shift; $s =~ s/'/''/g; "'$s'" }

# the first N of a list
sub first_n { my $n = shift; return @_ > $n ? @_[0 .. $n - 1] : @_ }

######################################################################
# PostgreSQL: restart, and make sure it runs when the file ends

sub pg_ctl {
    my @args = @_;
    # the log test.sh started the server with, when it can be written
    my $log = dirname($PG_DATA) . '/pg.log';
    $log = work_file('pg', 'log') unless -w $log || (!-e $log && -w dirname($PG_DATA));
    return run_cmd(["$PG_BIN/pg_ctl", '-D', $PG_DATA, @args, '-w', '-t', '60', '-l', $log],
                   timeout => 90);
}

sub pg_running { run_cmd(["$PG_BIN/pg_ctl", '-D', $PG_DATA, 'status'], timeout => 30)->{rc} == 0 }

# `pg_ctl start` does not read postmaster.opts (only restart does): start
# with the options saved there (socket directory, port, no TCP listener)
sub pg_start_saved {
    my $opts = eval { read_file("$PG_DATA/postmaster.opts") } // '';
    my @a = $opts =~ /"((?:[^"\\]|\\.)*)"/g;
    shift @a;                                        # the postgres binary
    splice @a, 0, 2 if @a >= 2 && $a[0] eq '-D';     # pg_ctl passes -D itself
    my $o = join ' ', map { (my $x = $_) =~ s/'/'\\''/g; "'$x'" } @a;
    return pg_ctl('start', (length $o ? ('-o', $o) : ()));
}

my $SCHEMA = 'scep_t71';
my $pg;
END {
    if ($HAVE_PG) {
        my $rc = $?;
        # never leave the shared PostgreSQL stopped: later test files use it
        pg_start_saved() unless pg_running();
        pg_schema_drop($SCHEMA) if $pg;
        $? = $rc;
    }
}
$pg = pg_schema_create($SCHEMA) if $HAVE_PG;

######################################################################

# waits until the run has recorded $min certificates (or ended); -> count
sub wait_progress {
    my ($h, $bg, $like, $min) = @_;
    my $until = Time::HiRes::time() + 90;
    my $n = 0;
    while (Time::HiRes::time() < $until && bench_alive($bg)) {
        $n = value($h, "SELECT COUNT(*) AS n FROM scep_certificates WHERE subject LIKE $like") // 0;
        last if $n >= $min;
        Time::HiRes::sleep(0.2);
    }
    return $n;
}

# later enrollments succeed without help: runs of 16 until one is complete
sub recovers {
    my ($h, $prefix) = @_;
    my $t0 = Time::HiRes::time();
    my ($try, $last) = (0, undef);
    while (Time::HiRes::time() - $t0 < 60) {
        $try++;
        $last = bench_run($h, n => 16, c => 4, prefix => "$prefix-after$try", decrypt => 1,
                          timeout => 10, max_time => 30, cmd_timeout => 60);
        return (1, Time::HiRes::time() - $t0, $try, $last)
            if $last->{rc} == 0 && ($last->{result}{ok} // 0) == 16;
        Time::HiRes::sleep(1);
    }
    return (0, Time::HiRes::time() - $t0, $try, $last);
}

# the assertions after a run with a fault (four of them)
sub check_run {
    my ($h, $name, $prefix, $r) = @_;
    my @rows = @{ $r->{rows} };
    ok(!$r->{timed_out} && @rows == $N, "$name: scepbench finished and reported all $N requests")
        or diag("rc $r->{rc}, timed out $r->{timed_out}, " . scalar(@rows) . " rows\n$r->{err}");
    my %kinds;
    $kinds{ $_->{outcome} . ($_->{outcome} eq 'http' ? " $_->{http}" : '') }++ for @rows;
    diag("$name: outcomes: " . join(', ', map { "$_ $kinds{$_}" } sort keys %kinds)
         . '; resent on a new connection: ' . ($r->{result}{resent} // '?'));

    # clean: SUCCESS, a verified FAILURE CertRep, HTTP 5xx, or no reply at all
    my @unclean = grep {
        !($_->{outcome} eq 'SUCCESS'
          || ($_->{outcome} eq 'FAILURE' && ($_->{pki_status} // '') eq '2')
          || ($_->{outcome} eq 'http' && ($_->{http} // 0) >= 500)
          || $_->{outcome} eq 'transport')
    } @rows;
    ok(!@unclean, "$name: every request ended in SUCCESS, a FAILURE CertRep, HTTP 5xx or a dropped connection")
        or diag(join "\n", map { "$_->{index} $_->{tid} $_->{outcome} http " . ($_->{http} // '-') . ': '
                                 . ($_->{detail} // '') } first_n(5, @unclean));

    my @succ = grep { $_->{outcome} eq 'SUCCESS' } @rows;
    my $like = sq("CN=$prefix-%");
    my %issued = map { $_->{transaction_id} => norm_serial($_->{serial}) }
        @{ query($h, "SELECT transaction_id, serial FROM scep_transactions WHERE status = 'ISSUED' "
                     . "AND subject LIKE $like") };
    my %cert = map { norm_serial($_->{serial}) => 1 }
        @{ query($h, "SELECT serial FROM scep_certificates WHERE subject LIKE $like") };
    my @no_serial = grep { !defined $_->{serial} } @succ;
    my @lost = grep { defined $_->{serial} && !$cert{ norm_serial($_->{serial}) } } @succ;
    my @other = grep { defined $_->{serial} && ($issued{ $_->{tid} } // '') ne norm_serial($_->{serial}) } @succ;
    ok(@succ && !@no_serial && !@lost && !@other,
       "$name: each of the " . scalar(@succ) . ' SUCCESS replies carries a certificate whose serial is '
       . 'in scep_certificates and in the ISSUED row of its transactionID')
        or diag(scalar(@succ) . ' SUCCESS; without a certificate: ' . scalar(@no_serial)
                . '; serial not in scep_certificates: ' . scalar(@lost)
                . (@lost ? " (e.g. $lost[0]{serial}, tid $lost[0]{tid})" : '')
                . '; not the ISSUED row of the tid: ' . scalar(@other));

    my $c = query($h, 'SELECT (SELECT COUNT(*) FROM scep_certificates) AS certs, '
                      . '(SELECT COUNT(DISTINCT serial) FROM scep_certificates) AS serials, '
                      . "(SELECT COUNT(*) FROM scep_transactions t WHERE t.status = 'ISSUED' AND NOT EXISTS "
                      . '(SELECT 1 FROM scep_certificates c WHERE c.ca = t.ca AND c.serial = t.serial)) AS issued_without_cert, '
                      . '(SELECT COUNT(*) FROM scep_certificates c WHERE NOT EXISTS (SELECT 1 FROM scep_transactions t '
                      . "WHERE t.ca = c.ca AND t.serial = c.serial AND t.status = 'ISSUED')) AS cert_without_txn")->[0];
    ok($c->{certs} == $c->{serials} && $c->{issued_without_cert} == 0 && $c->{cert_without_txn} == 0,
       "$name: records consistent: no serial repeats, every ISSUED row has its certificate and back")
        or diag(join ', ', map { "$_ $c->{$_}" } sort keys %$c);
    return \@rows;
}

sub recovery_ok {
    my ($h, $name, $prefix) = @_;
    my ($ok, $secs, $tries, $last) = recovers($h, $prefix);
    ok($ok, "$name: the service recovers by itself (16 of 16 later enrollments succeed within 60 s)")
        or diag("after $tries tries: rc $last->{rc}, ok " . ($last->{result}{ok} // '-') . "\n$last->{err}");
    note(sprintf '%s: recovered after %.1f s (%d tries)', $name, $secs, $tries) if $ok;
    return $tries;
}

# the last two assertions of a run: every [warn]-or-worse line says who
# logged it and why; then httpd stops, and no child had crashed
sub tagged_then_stop {
    my ($h, $name) = @_;
    my @bad = grep { !/\bAH\d{5}: |\bSCEP\d{5}: / } log_bad($h);
    ok(!@bad, "$name: every [warn]-or-worse line carries an AHnnnnn or SCEPnnnnn tag")
        or diag(join "\n", first_n(5, @bad));
    stop_no_crash($h, $name);
}

# httpd stops, and no child had crashed
sub stop_no_crash {
    my ($h, $name) = @_;
    private_httpd_stop($h);
    my @crash = crashes($h);
    ok(!@crash, "$name: no child crashed (no AH00051/AH00052, no core file)")
        or diag(join "\n", first_n(5, @crash));
}

######################################################################
# (a) SIGKILL one httpd child during the load

for my $mpm (@KILL) {
    my $name = "kill -9 a child, $mpm x sqlite";
    SKIP: {
        my $h = load_httpd(name => "kill-$mpm", mpm => $mpm, db => 'sqlite');
        ok($h->{ok}, "$name: private httpd starts") or diag($h->{err});
        unless ($h->{ok}) {
            private_httpd_stop($h);
            skip "$name: httpd did not start", $PER_KILL - 1;
        }
        my $prefix = "t71-kill-$mpm";
        my $like = sq("CN=$prefix-%");
        my $bg = bench_bg($h, n => $N, c => $C, prefix => $prefix, decrypt => 1,
                          results => work_file("results-kill-$mpm", 'tsv'));
        my $seen = wait_progress($h, $bg, $like, int($N / 5));
        my ($victim) = httpd_children($h);
        my $alive = bench_alive($bg);
        my $killed = $victim && $alive ? kill('KILL', $victim->{pid}) : 0;
        ok($killed, "$name: a child killed while the load ran ($seen certificates recorded)")
            or diag('children: ' . join(' ', map { $_->{pid} } httpd_children($h)) . ", scepbench running: $alive");
        my $r = bench_wait($bg, 240);
        check_run($h, $name, $prefix, $r);
        recovery_ok($h, $name, $prefix);

        # anything else at [warn] or worse must say who logged it and why
        my @bad = grep { !/\bAH\d{5}: |\bSCEP\d{5}: / } log_bad($h);
        ok(!@bad, "$name: every [warn]-or-worse line carries an AHnnnnn or SCEPnnnnn tag")
            or diag(join "\n", first_n(5, @bad));
        my @db = grep { /\[scep:(?:error|crit)\]/ } log_lines($h);
        diag("$name: " . scalar(@db) . " [scep:error] line(s), e.g. $db[0]") if @db;
        private_httpd_stop($h);
        # httpd does not log a child's SIGKILL (it uses SIGKILL itself); any
        # other death by signal is a crash
        my @crash = crashes($h);
        ok(!@crash, "$name: no other child crashed (no AH00051/AH00052, no core file)")
            or diag(join "\n", first_n(5, @crash));
    }
}

######################################################################
# (b) restart PostgreSQL during the load

for my $mpm (@PGRESTART) {
    my $name = "PostgreSQL restart, $mpm x pgsql";
    SKIP: {
        skip "$name: needs SCEP_TEST_PGSQL, SCEP_TEST_PG_DATA and SCEP_TEST_PG_BIN", $PER_PG
            unless $HAVE_PG;
        my $h = load_httpd(name => "pg-$mpm", mpm => $mpm, db => 'pgsql', pg => $pg);
        ok($h->{ok}, "$name: private httpd starts") or diag($h->{err});
        unless ($h->{ok}) {
            private_httpd_stop($h);
            skip "$name: httpd did not start", $PER_PG - 1;
        }
        my $prefix = "t71-pg-$mpm";
        my $like = sq("CN=$prefix-%");
        my $bg = bench_bg($h, n => $N, c => $C, prefix => $prefix, decrypt => 1,
                          results => work_file("results-pg-$mpm", 'tsv'));
        my $seen = wait_progress($h, $bg, $like, int($N / 5));
        my $alive = bench_alive($bg);
        my $t0 = Time::HiRes::time();
        my $rs = pg_ctl('restart', '-m', 'fast');
        my $took = Time::HiRes::time() - $t0;
        ok($alive && $rs->{rc} == 0, sprintf('%s: pg_ctl restart -m fast while the load ran '
                                             . '(%d certificates recorded; restart took %.1f s)',
                                             $name, $seen, $took))
            or diag("scepbench running: $alive; pg_ctl rc $rs->{rc}: $rs->{out}$rs->{err}");
        my $r = bench_wait($bg, 240);
        my $rows = check_run($h, $name, $prefix, $r);
        recovery_ok($h, $name, $prefix);

        my @log = log_lines($h);
        my @tagged = grep { /\[(?:scep|dbd):(?:error|crit|alert)\].*\b(?:SCEP|AH)\d{5}: / } @log;
        my $failed = grep { $_->{outcome} ne 'SUCCESS' } @$rows;
        ok(@tagged && grep({ /\bSCEP\d{5}: / } @tagged),
           "$name: the database failure is in the error_log with a SCEPnnnnn tag")
            or diag("$failed request(s) failed; [error] lines:\n"
                    . join("\n", first_n(5, grep { /\[\w+:error\]/ } @log)));
        diag("$name: e.g. " . join("\n    ", first_n(2, grep { /\bSCEP\d{5}: / } @tagged)))
            if @tagged;
        tagged_then_stop($h, $name);
    }
}

######################################################################
# (c) start on a WAL left by a crash

my $CRASH_ROWS = 20000;

# Leaves $db as a crash would: rows committed to the WAL, never checkpointed.
# The sqlite3 shell copies the database and its WAL while it still has them
# open (a clean close would checkpoint and delete the WAL), then the copies
# replace the originals.
sub crash_left_wal {
    my $db = shift;
    my $sql = <<"EOS";
PRAGMA wal_autocheckpoint=0;
CREATE TABLE crash_filler (x BLOB);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $CRASH_ROWS)
INSERT INTO crash_filler SELECT randomblob(1000) FROM n;
.shell cp '$db' '$db.crash' && cp '$db-wal' '$db-wal.crash'
EOS
    my $r = run_cmd(sqlite3_cmd($db), stdin => write_file(work_file('crash', 'sql'), $sql), timeout => 120);
    die "sqlite3: $r->{err}" if $r->{rc};
    rename "$db.crash", $db or die "rename: $!";
    rename "$db-wal.crash", "$db-wal" or die "rename: $!";
    unlink "$db-shm";
}

for my $mpm (@CRASH_WAL) {
    my $name = "start on a crash-left WAL, $mpm x sqlite";
    SKIP: {
        my $wal_bytes = 0;
        my $h = load_httpd(name => "crash-wal-$mpm", mpm => $mpm, db => 'sqlite',
                           prepare_db => sub { crash_left_wal($_[0]); $wal_bytes = -s "$_[0]-wal" });
        ok($h->{ok} && $wal_bytes > 10_000_000,
           "$name: private httpd starts on a database with a $wal_bytes-byte WAL")
            or diag($h->{err});
        unless ($h->{ok}) {
            private_httpd_stop($h);
            skip "$name: httpd did not start", $PER_WAL - 1;
        }
        my $prefix = "t71-wal-$mpm";
        my $r = bench_run($h, n => 16, c => 4, prefix => $prefix, decrypt => 1,
                          timeout => 10, max_time => 60, cmd_timeout => 90);
        ok($r->{rc} == 0 && ($r->{result}{ok} // 0) == 16, "$name: 16 of 16 enrollments succeed")
            or diag("rc $r->{rc}, ok " . ($r->{result}{ok} // '-') . "\n$r->{err}");
        is(value($h, 'SELECT COUNT(*) AS n FROM crash_filler'), $CRASH_ROWS,
           "$name: the $CRASH_ROWS rows committed before the crash are there");
        my @open = grep { /database is locked|AH00632|AH00633|AH00636/ } log_lines($h);
        ok(!@open, "$name: every child opened the database (no 'database is locked', "
           . 'no AH00632/AH00636 from mod_dbd)')
            or diag(scalar(@open) . " line(s), e.g.\n" . join("\n", first_n(3, @open)));
        stop_no_crash($h, $name);
    }
}

######################################################################
# MariaDB: stop and start the scratch server test.sh started (same options)

sub my_alive {
    return run_cmd(mariadb_cmd('-e', 'SELECT 1'), timeout => 10)->{rc} == 0;
}

sub my_restart {
    my ($pid) = (eval { read_file("$MY_DIR/pid") } // '') =~ /(\d+)/;
    if ($pid && kill('TERM', $pid)) {
        for (1 .. 600) { last unless kill(0, $pid); Time::HiRes::sleep(0.1) }
    }
    my $log = $ENV{SCEP_TEST_MY_LOG} || work_file('my', 'log');
    system('sh', '-c', "setsid mariadbd --no-defaults --datadir='$MY_DIR/data' --socket='$MY_DIR/sock' "
           . "--skip-networking --skip-grant-tables --pid-file='$MY_DIR/pid' --log-error='$log' "
           . '>/dev/null 2>&1 </dev/null &');
    for (1 .. 120) { return 1 if my_alive(); Time::HiRes::sleep(0.5) }
    return 0;
}
END { my $rc = $?; my_restart() if $HAVE_MY && !my_alive(); $? = $rc }

######################################################################
# (d) PostgreSQL and (e) MariaDB restarted while httpd is idle

for my $cell (['pgsql', 'PostgreSQL', 'SCEP_TEST_PGSQL, SCEP_TEST_PG_DATA and SCEP_TEST_PG_BIN'],
              ['mysql', 'MariaDB', 'SCEP_TEST_MYSQL and SCEP_TEST_MY_DIR']) {
    my ($db, $what, $needs) = @$cell;
    my $name = "$what restart while idle, event x $db";
    SKIP: {
        skip "$name: needs $needs", $PER_IDLE unless $db eq 'pgsql' ? $HAVE_PG : $HAVE_MY;
        my $h = load_httpd(name => "$db-idle", mpm => 'event', db => $db, pg => $pg);
        ok($h->{ok}, "$name: private httpd starts") or diag($h->{err});
        unless ($h->{ok}) {
            private_httpd_stop($h);
            skip "$name: httpd did not start", $PER_IDLE - 1;
        }
        my $prefix = "t71-${db}idle";
        # fill the connection pools of both children
        my $warm = bench_run($h, n => 64, c => 16, prefix => "$prefix-warm", decrypt => 1,
                             timeout => 10, max_time => 60, cmd_timeout => 90);
        my ($restarted, $detail);
        if ($db eq 'pgsql') {
            my $rs = pg_ctl('restart', '-m', 'fast');
            ($restarted, $detail) = ($rs->{rc} == 0, "pg_ctl rc $rs->{rc}: $rs->{out}$rs->{err}");
        }
        else {
            ($restarted, $detail) = (my_restart(), 'mariadbd did not answer again');
        }
        ok($warm->{rc} == 0 && ($warm->{result}{ok} // 0) == 64 && $restarted,
           "$name: 64 enrollments, then the server restarted with nothing in flight")
            or diag("warm-up rc $warm->{rc}, ok " . ($warm->{result}{ok} // '-') . "; $detail");
        my $tries = recovery_ok($h, $name, $prefix);
        # the pooled connections' sessions are gone: each one's first
        # statement opens a new session and runs again, failing no request
        is($tries, 1, "$name: the first 16 enrollments after the restart all succeed")
            or diag(join "\n", first_n(5, grep { /\[scep:error\]/ } log_lines($h)));
        my @log = log_lines($h);
        my @restored = grep { /\bSCEP00109: / } @log;
        ok(@restored, "$name: connections re-opened by the client library got their statements "
           . 'again (SCEP00109)')
            or diag(join "\n", first_n(5, grep { /\[scep:error\]/ } @log));
        tagged_then_stop($h, $name);
    }
}
