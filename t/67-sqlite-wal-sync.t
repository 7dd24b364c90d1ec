# SQLite in WAL mode: a write transaction commits without its own fsync
# (synchronous=NORMAL while it runs), and mod_scep syncs the WAL after the
# writers' lock, before the writes are reported committed
# (scep_store_sqlite.c). A certificate must still never leave before its
# record is on disk. A shim preloaded into httpd (LD_PRELOAD, built here
# with cc) logs every fsync()/fdatasync() of a *-wal file and, while a flag
# file exists, fails them with EIO, as a dying disk would. A private httpd
# (SCEPLoad's load_httpd: the event MPM, SQLite in WAL as the README
# configures it).
#
# 20 enrollments from 4 clients: all SUCCESS, and the WAL was synced. Then,
# with the WAL's sync failing: the enrollment is refused, not answered with
# a certificate, and SCEP00378 says why; its resend, which finds the row
# that committed, gets no certificate either while the WAL cannot be
# synced. With the disk back, the same request is answered from that
# record: SUCCESS, one row. (A commit that starts the WAL over fails in
# SQLite itself, which syncs the new WAL's header: no certificate either,
# but that try is made again, so that mod_scep's own sync is what fails.)
#
# A BEGIN that fails (the sqlite3 shell holds SQLite's write lock longer
# than apr_dbd_sqlite3's 1.6 s of retries): that enrollment is refused, and
# the connection's sync level, lowered for the transaction, is set back:
# every later enrollment the same child answers is synced before its
# answer. (Before the fix the connection kept synchronous=NORMAL, and its
# commits were answered without any sync.)
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLoad qw(:all);

plan tests => 13;

my $SHIM_C = <<'EOC';
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int sync_fn(int);

/* 1 when fd is a SQLite WAL: its path ends in -wal */
static int is_wal(int fd, char *path, size_t size)
{
    char link[64];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, path, size - 1);
    if (n <= 4) {
        return 0;
    }
    path[n] = '\0';
    return !strcmp(path + n - 4, "-wal");
}

static int synced(const char *how, int fd, sync_fn *real)
{
    const char *log = getenv("SCEP_TEST_SYNC_LOG"), *flag = getenv("SCEP_TEST_SYNC_FAIL");
    char path[4096];
    int failing, out;

    if (!is_wal(fd, path, sizeof(path))) {
        return real(fd);
    }
    failing = flag && access(flag, F_OK) == 0;
    out = log ? open(log, O_WRONLY | O_APPEND | O_CREAT, 0644) : -1;
    if (out >= 0) {
        char line[4200];
        int n = snprintf(line, sizeof(line), "%d %s %s%s\n", (int)getpid(), how, path,
                         failing ? " EIO" : "");
        if (n > 0 && write(out, line, (size_t)n) != n) {
            n = 0;
        }
        close(out);
    }
    if (failing) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

int fsync(int fd)
{
    return synced("fsync", fd, (sync_fn *)dlsym(RTLD_NEXT, "fsync"));
}

int fdatasync(int fd)
{
    return synced("fdatasync", fd, (sync_fn *)dlsym(RTLD_NEXT, "fdatasync"));
}
EOC

my $preload = preload_shim('sync-shim', $SHIM_C);
my $syncs = work_file('wal-syncs', 'log');
my $flag = work_file('wal-sync-fails', 'flag');
unlink $syncs, $flag;
my $h = load_httpd(name => 'walsync', mpm => 'event', db => 'sqlite',
                   env => { LD_PRELOAD => $preload, SCEP_TEST_SYNC_LOG => $syncs,
                            SCEP_TEST_SYNC_FAIL => $flag });
END { unlink $flag if $flag; private_httpd_stop($h) if $h && $h->{ok} }
ok($h->{ok}, 'httpd starts with the shim preloaded') or diag("$h->{out}$h->{err}");

SKIP: {
    skip 'httpd did not start', 12 unless $h->{ok};
    my $prefix = "t67-$$";
    my $r = bench_run($h, n => 20, c => 4, prefix => $prefix, pool => 4, decrypt => 5,
                      timeout => 30, max_time => 60, cmd_timeout => 120,
                      results => work_file('results-t67', 'tsv'));
    my $succ = grep { $_->{outcome} eq 'SUCCESS' } @{ $r->{rows} };
    ok($r->{rc} == 0 && $succ == 20, '20 enrollments from 4 clients: all SUCCESS')
        or diag("scepbench rc $r->{rc}, $succ SUCCESS rows; " . substr($r->{err}, 0, 500));
    is(value($h, "SELECT count(*) FROM scep_transactions WHERE status = 'ISSUED' "
                 . "AND subject LIKE '%$prefix%'"), 20, 'and 20 ISSUED rows');
    my @synced = -e $syncs ? split(/\n/, read_file($syncs)) : ();
    ok(@synced >= 1, 'the WAL was synced (' . scalar(@synced) . ' times)');

    # the disk fails the WAL's sync: no certificate leaves. SQLite syncs a
    # WAL's header itself when a commit starts the WAL over (after a
    # checkpoint copied all of it back, about one write in 16 here): that
    # commit fails in SQLite (SCEP00106) before mod_scep's own sync is
    # reached. Safe too, but not the path under test: so each try first
    # lets one write through with the disk healthy, and a try that took
    # SQLite's path is made again with a new request.
    my ($req, $resp, $rep, $mark, @said, @leaked);
    for my $try (1 .. 5) {
        unlink $flag;
        my $warm = build_request(subject => "/CN=$prefix-warm-$try");
        my $wrep = parse_reply(send_request($warm, port => $h->{port}), $warm);
        diag("try $try: the healthy write was not SUCCESS") unless ($wrep->{pkiStatus} // '') eq '0';
        $req = build_request(subject => "/CN=$prefix-disk-$try");
        open my $fh, '>', $flag or die "$flag: $!";
        close $fh;
        $mark = scalar log_lines($h);
        $resp = send_request($req, port => $h->{port});
        $rep = $resp->{status} == 200 ? parse_reply($resp, $req) : {};
        push @leaked, $try if ($rep->{pkiStatus} // '') eq '0' || $rep->{cert_file};
        my @lines = log_lines($h);
        @said = grep { /SCEP00378: cannot sync the SQLite WAL .*-wal/ } @lines[$mark .. $#lines];
        last if @said;
        diag("try $try: SQLite's own commit failed (it started the WAL over), trying again")
            if grep { /SCEP00106: commit failed: disk I\/O error/ } @lines[$mark .. $#lines];
    }
    ok(!@leaked && !$rep->{cert_file},
       'with the WAL\'s sync failing: no certificate (HTTP ' . $resp->{status} . ', pkiStatus '
       . ($rep->{pkiStatus} // 'none') . ')') or diag("certificates on tries @leaked");
    # its row committed: a resend finds it, and is not answered from it
    # before the WAL holding it is on disk
    my $resent = send_request($req, port => $h->{port});
    my $rrep = $resent->{status} == 200 ? parse_reply($resent, $req) : {};
    unlink $flag;
    ok(($rrep->{pkiStatus} // '') ne '0' && !$rrep->{cert_file},
       'resent while the sync still fails: no certificate either (HTTP ' . $resent->{status} . ')');
    ok(@said >= 1, 'SCEP00378 names the WAL that could not be synced') or diag(join "\n", log_lines($h));
    my @failed = grep { / EIO$/ } (-e $syncs ? split(/\n/, read_file($syncs)) : ());
    ok(@failed >= 1, 'the shim failed a sync of the WAL');

    # the disk is back: the resend is answered from the committed record
    my $again = parse_reply(send_request($req, port => $h->{port}), $req);
    is($again->{pkiStatus} // '', '0', 'the same request again: SUCCESS')
        or diag($again->{failInfoText} // 'no reply');
    is(value($h, "SELECT count(*) FROM scep_transactions WHERE subject LIKE '%$prefix-disk%' "
                 . "AND status = 'ISSUED'"), 1, 'from its one ISSUED row (none for earlier tries)');

    # the sqlite3 shell holds SQLite's write lock through one enrollment's
    # BEGIN (and its refusal's): both fail, SQLite being busy
    my ($holder, $locked) = sqlite_hold($h->{db}, 'BEGIN IMMEDIATE;', 4);
    $locked or diag('the sqlite3 shell did not take the lock: ' . cmd_output($holder));
    my $busy = build_request(subject => "/CN=$prefix-busy");
    my $bmark = scalar log_lines($h);
    my $bresp = send_request($busy, port => $h->{port});
    my $brep = $bresp->{status} == 200 ? parse_reply($bresp, $busy) : {};
    my $held = cmd_wait($holder, 30);
    my @blines = log_lines($h);
    my ($pid) = map { /\[pid (\d+):tid \d+\].*SCEP00104: cannot start a database transaction/ ? $1 : () }
                @blines[$bmark .. $#blines];
    ok($pid && $held->{rc} == 0 && ($brep->{pkiStatus} // '') ne '0' && !$brep->{cert_file},
       'a BEGIN that finds SQLite busy: SCEP00104, no certificate (HTTP ' . $bresp->{status} . ')')
        or diag(join "\n", @blines[$bmark .. $#blines], cmd_output($holder));

    # then, each enrollment that child answers: a sync of the WAL by it
    my $syncs_of = sub {
        my $p = shift;
        return scalar grep { /^$p fdatasync .*-wal$/ } (-e $syncs ? split(/\n/, read_file($syncs)) : ());
    };
    my ($served, $issued, @unsynced) = (0, 0);
    for my $i (1 .. 24) {
        last if !$pid || $served >= 3;
        my $before = $syncs_of->($pid);
        my $req2 = build_request(subject => "/CN=$prefix-after-$i");
        my $m2 = scalar log_lines($h);
        my $rep2 = parse_reply(send_request($req2, port => $h->{port}), $req2);
        $issued++ if ($rep2->{pkiStatus} // '') eq '0';
        my @l = log_lines($h);
        next unless grep { /\[pid $pid:tid \d+\].*SCEP00367: .*outcome=SUCCESS/ } @l[$m2 .. $#l];
        $served++;
        push @unsynced, $i if $syncs_of->($pid) <= $before;
    }
    ok($served >= 1, "enrollments answered by the child whose BEGIN failed ($served)");
    ok($served >= 1 && !@unsynced && $issued > 0,
       'each of them synced the WAL before its answer (the sync level was set back)')
        or diag("answered without a sync of the WAL: @unsynced");
}
