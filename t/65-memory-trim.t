# SCEPMemoryTrim (README): a child calls malloc_trim() when its last mod_scep
# request ends, at most once a second. A shim preloaded into httpd
# (LD_PRELOAD, built here with cc) appends "PID" to a file at each
# malloc_trim() call, then calls glibc's. Private httpd instances, the event
# MPM with one child, SQLite.
#
# A, no directive (on): 20 GetCACaps one after the other: the child trimmed
# at least once, never more often than once per second of wall clock the
# requests spanned (20 times without the bound), and the parent never; 5
# requests for a static file afterwards trim nothing.
# B, SCEPMemoryTrim off: the same 20 GetCACaps trim nothing.
# C, SCEPMemoryTrim in a <VirtualHost>: httpd -t fails, naming it; `on`
# and `off` at server level pass.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use Time::HiRes ();
use lib 't/lib';
use SCEPTest qw(:all);

plan tests => 8;

my $SHIM_C = <<'EOC';
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int malloc_trim(size_t pad)
{
    int (*real)(size_t) = (int (*)(size_t))dlsym(RTLD_NEXT, "malloc_trim");
    const char *log = getenv("SCEP_TEST_TRIM_LOG");
    int fd = log ? open(log, O_WRONLY | O_APPEND | O_CREAT, 0644) : -1;

    if (fd >= 0) {
        char line[32];
        int n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
        if (write(fd, line, (size_t)n) != n) {
            n = 0;
        }
        close(fd);
    }
    return real ? real(pad) : 0;
}
EOC

my $CONF = <<'EOC';
@HTTPD_BASE@
LoadModule mpm_event_module "@MODULES@/mod_mpm_event.so"
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
MinSpareThreads 1
MaxSpareThreads 8
DBDriver sqlite3
DBDParams "@DB@"
DBDInitSQL "PRAGMA journal_mode=WAL"
%TRIM%@TEST_CA@
<Location /scep>
    SetHandler scep
    SCEPChallengePasswordFile "@PKI@/challenge"
</Location>
EOC

my $preload = preload_shim('trim-shim', $SHIM_C);

my @started;
END { private_httpd_stop($_) for @started }

sub start {
    my ($name, $trim) = @_;
    my $log = work_file("trims-$name", 'log');
    (my $conf = $CONF) =~ s/%TRIM%/$trim ? "SCEPMemoryTrim $trim\n" : ''/e;
    my $h = private_httpd(name => $name, conf => $conf,
                          env => { LD_PRELOAD => $preload,
                                   SCEP_TEST_TRIM_LOG => $log });
    push @started, $h if $h->{ok};
    $h->{trim_log} = $log;
    return $h;
}

# the pids in the shim's file since it was last emptied
sub trims {
    my $h = shift;
    return -e $h->{trim_log} ? [split /\n/, read_file($h->{trim_log})] : [];
}

sub empty_trims { my $h = shift; unlink $h->{trim_log} }

# N GetCACaps, one after the other -> (all answered, whole seconds spanned).
# The last trim comes when the request's pool goes, after the answer: the
# span ends 0.3 s after it.
sub caps {
    my ($h, $n) = @_;
    my $t0 = Time::HiRes::time();
    my $ok = 0;
    for (1 .. $n) {
        my $r = http(port => $h->{port}, path => '/scep?operation=GetCACaps');
        $ok++ if $r->{status} == 200 && $r->{body} =~ /SHA-256/;
    }
    Time::HiRes::sleep(0.3);
    return ($ok == $n, int(Time::HiRes::time()) - int($t0) + 1);
}

sub parent_pid { my $h = shift; my $p = read_file("$h->{dir}/logs/httpd.pid"); chomp $p; $p }

########## A: on by default
my $A = start('trim-on');
ok($A->{ok}, 'A: httpd starts with the shim preloaded') or diag("$A->{out}$A->{err}");
SKIP: {
    skip 'A: httpd did not start', 3 unless $A->{ok};
    empty_trims($A);
    my ($all, $seconds) = caps($A, 20);
    my @t = @{ trims($A) };
    my $parent = parent_pid($A);
    ok($all && @t >= 1 && !(grep { $_ eq $parent } @t),
       'A: after 20 GetCACaps the child trimmed (' . scalar(@t) . ' times), the parent never')
        or diag("all answered: $all; pids: @t; parent $parent");
    ok(@t <= $seconds, "A: at most once a second: " . scalar(@t) . " trims in $seconds second(s)")
        or diag("pids: @t");
    empty_trims($A);
    my $static = 0;
    for (1 .. 5) { $static++ if http(port => $A->{port}, path => '/')->{status} }
    is(scalar @{ trims($A) }, 0, "A: $static requests outside mod_scep trim nothing");
}

########## B: off
my $B = start('trim-off', 'off');
SKIP: {
    skip 'B: httpd did not start', 1 unless $B->{ok};
    empty_trims($B);
    my ($all) = caps($B, 20);
    ok($all && !@{ trims($B) }, 'B: SCEPMemoryTrim off: 20 GetCACaps, no trim')
        or diag("all answered: $all; pids: @{ trims($B) }");
}

########## C: context
SKIP: {
    skip 'C: httpd A did not start', 3 unless $A->{ok};
    my $text = read_file($A->{conf});
    my $check = sub {
        my ($r, $out) = httpd_config_test($A->{dir}, @_);
        return ($r->{rc}, $out);
    };
    my ($rc, $out) = $check->('vhost', $text . "<VirtualHost 127.0.0.1:$A->{port}>\n"
                                       . "    SCEPMemoryTrim off\n</VirtualHost>\n");
    ok($rc != 0 && $out =~ /SCEPMemoryTrim/, 'C: SCEPMemoryTrim in a <VirtualHost>: httpd -t fails, naming it')
        or diag($out);
    ($rc, $out) = $check->('on', $text . "SCEPMemoryTrim on\n");
    ok($rc == 0 && $out =~ /Syntax OK/, 'C: SCEPMemoryTrim on at server level: httpd -t passes') or diag($out);
    ($rc, $out) = $check->('maybe', $text . "SCEPMemoryTrim maybe\n");
    ok($rc != 0 && $out =~ /SCEPMemoryTrim/, 'C: SCEPMemoryTrim maybe: httpd -t fails, naming it')
        or diag($out);
}
