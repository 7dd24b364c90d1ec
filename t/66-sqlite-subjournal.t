# SQLite's sub-journal stays in memory (scep_store_sqlite.c): the savepoints
# of a group commit keep the pages they change in a sub-journal, which
# SQLite moves to a temporary file (etilqs_*) once it passes 64 KiB unless
# temp_store is MEMORY; then each page costs two more pwrite()s inside the
# writers' lock. A shim preloaded into httpd (LD_PRELOAD, built here with
# cc) appends the path of every etilqs_* file SQLite opens to a file. A
# private httpd, the event MPM with one child of 24 threads, SQLite in WAL
# as the README configures it, scep at debug.
#
# 240 enrollments from 24 concurrent clients (bench/scepbench): all get a
# SUCCESS CertRep and an ISSUED row; writes met in group commits of two or
# more (SCEP00111), the case that used to spill; and SQLite opened no
# temporary file for them (without temp_store=MEMORY: a few dozen).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLoad qw(:all);

plan tests => 5;

my $N = 240;
my $C = 24;

my $SHIM_C = <<'EOC';
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

typedef int open_fn(const char *, int, ...);

static void note(open_fn *real, const char *path)
{
    const char *log = getenv("SCEP_TEST_OPEN_LOG");
    int fd;

    if (!log || !path || !strstr(path, "etilqs")) {
        return;
    }
    fd = real(log, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd >= 0) {
        char line[4200];
        int n = snprintf(line, sizeof(line), "%d %s\n", (int)getpid(), path);
        if (n > 0 && write(fd, line, (size_t)n) != n) {
            n = 0;
        }
        close(fd);
    }
}

int open64(const char *path, int flags, ...)
{
    open_fn *real = (open_fn *)dlsym(RTLD_NEXT, "open64");
    mode_t mode = 0;

    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    note(real, path);
    return real(path, flags, mode);
}
EOC

my $CONF = <<'EOC';
@HTTPD_BASE@
LogLevel info scep:debug
LoadModule mpm_event_module "@MODULES@/mod_mpm_event.so"
StartServers 1
ServerLimit 1
ThreadLimit 24
ThreadsPerChild 24
MaxRequestWorkers 24
MinSpareThreads 1
MaxSpareThreads 24
KeepAliveTimeout 30
MaxKeepAliveRequests 0
DBDriver sqlite3
DBDParams "@DB@"
DBDInitSQL "PRAGMA journal_mode=WAL"
SCEPChallengeThrottle off
@TEST_CA@
<Location /scep>
    SetHandler scep
    SCEPChallengePasswordFile "@PKI@/challenge"
</Location>
EOC

my $preload = preload_shim('open-shim', $SHIM_C);

my $opens = work_file('sqlite-opens', 'log');
unlink $opens;
my $h = private_httpd(name => 'subjournal', conf => $CONF,
                      env => { LD_PRELOAD => $preload,
                               SCEP_TEST_OPEN_LOG => $opens });
END { private_httpd_stop($h) if $h && $h->{ok} }
$h->{url} = "http://127.0.0.1:$h->{port}/scep";
$h->{kind} = 'sqlite';
ok($h->{ok}, 'httpd starts with the shim preloaded') or diag("$h->{out}$h->{err}");

SKIP: {
    skip 'httpd did not start', 4 unless $h->{ok};
    my $prefix = "t66-$$";
    my $r = bench_run($h, n => $N, c => $C, prefix => $prefix, pool => 8, decrypt => 40,
                      timeout => 30, max_time => 120, cmd_timeout => 180,
                      results => work_file('results-t66', 'tsv'));
    my $succ = grep { $_->{outcome} eq 'SUCCESS' } @{ $r->{rows} };
    ok($r->{rc} == 0 && $succ == $N, "$N enrollments from $C clients: all SUCCESS")
        or diag("scepbench rc $r->{rc}, $succ SUCCESS rows; " . substr($r->{err}, 0, 500));
    is(value($h, "SELECT count(*) FROM scep_transactions WHERE status = 'ISSUED' "
                 . "AND subject LIKE '%$prefix%'"), $N, "and $N ISSUED rows");
    my @groups = grep { /SCEP00111: group commit: (\d+) writes/ && $1 >= 2 } log_lines($h);
    ok(@groups >= 3, 'writes met in group commits of two or more (' . scalar(@groups) . ')');
    my @files = -e $opens ? split(/\n/, read_file($opens)) : ();
    is(scalar @files, 0, 'SQLite opened no temporary file (the sub-journal stayed in memory)')
        or diag(scalar(@files) . ' opened, e.g. ' . join('; ', grep { defined } @files[0 .. 2]));
}
