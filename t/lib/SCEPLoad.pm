package SCEPLoad;
# Helpers for the load and fault tests (t/70-load.t, t/71-faults.t): private
# httpd instances with the event or the prefork MPM over SQLite (the README's
# configuration) or PostgreSQL (a private schema in the SCEP_TEST_PGSQL
# database), bench/scepbench runs in the foreground or in the background, its
# --results file, queries against the instance's own database, the instance's
# children and its error_log.
#
# PostgreSQL: each test file creates its own schema (pg_schema_create('t70'))
# in the SCEP_TEST_PGSQL database, loads conf/schema-pgsql.sql there and
# points httpd at it with options='-c search_path=<schema>' in DBDParams, so
# the scep_* tables of the main schema (t/20-pgsql.t counts every row) are
# never touched. The schema is dropped at the end of the file.
use strict;
use warnings;

use Exporter 'import';
use Apache::Test ();
use Carp qw(croak);
use File::Spec::Functions qw(catfile catdir);
use Time::HiRes ();
use SCEPTest qw(:all);

our @EXPORT_OK = qw(
    bench_bin pg_schema_create pg_schema_drop pg_conninfo_for load_httpd
    query value bench_args bench_run bench_burst bench_bg bench_alive bench_wait bench_result read_results
    httpd_children httpd_pid log_lines log_bad crashes
);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

sub top { Apache::Test::vars('scep_top') }

# builds bench/scepbench (the top Makefile, from client/) once per test file
my $BENCH;
sub bench_bin {
    return $BENCH if $BENCH;
    my $mk = run_cmd(['make', '-s', '-C', top(), 'bench/scepbench'], timeout => 300);
    croak "make bench/scepbench failed: $mk->{err}" if $mk->{rc};
    return $BENCH = catfile(top(), 'bench', 'scepbench');
}

######################################################################
# PostgreSQL: a schema of the test file's own

sub _q { my $s = shift; $s =~ s/'/''/g; "'$s'" }

# conninfo of SCEP_TEST_PGSQL with search_path set to SCHEMA
sub pg_conninfo_for {
    my $schema = shift;
    my $ci = pg_conninfo() or croak 'SCEP_TEST_PGSQL is not set';
    return "$ci options='-c search_path=$schema'";
}

# a fresh schema with mod_scep's tables -> conninfo for httpd and queries
sub pg_schema_create {
    my $schema = shift;
    croak "bad schema name $schema" unless $schema =~ /\A[a-z][a-z0-9_]*\z/;
    db_exec("SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE; "
            . "CREATE SCHEMA $schema;", pg => 1);
    my $ci = pg_conninfo_for($schema);
    my $r = run_cmd(schema_cmd(pgsql => $ci, catfile(top(), 'conf', 'schema-pgsql.sql')));
    croak "schema-pgsql.sql into $schema: $r->{err}" if $r->{rc};
    return $ci;
}

sub pg_schema_drop {
    my $schema = shift;
    eval { db_exec("SET client_min_messages = warning; DROP SCHEMA IF EXISTS $schema CASCADE;", pg => 1) };
    return !$@;
}

######################################################################
# private httpd instances

my %MPM = (
    # Debian's event defaults with 32 threads a child (two at start, up to
    # four): any child can serve all 32 clients, and mod_dbd's pool (per
    # child) has a connection for each thread
    event => <<'EOC',
LoadModule mpm_event_module "@MODULES@/mod_mpm_event.so"
StartServers 2
ServerLimit 4
ThreadsPerChild 32
MaxRequestWorkers 128
MinSpareThreads 25
MaxSpareThreads 75
DBDMax 32
EOC
    # one process per client connection, with room to spare
    prefork => <<'EOC',
LoadModule mpm_prefork_module "@MODULES@/mod_mpm_prefork.so"
StartServers 40
MinSpareServers 8
MaxSpareServers 48
ServerLimit 48
MaxRequestWorkers 48
EOC
);

# load_httpd(name => N, mpm => 'event'|'prefork', db => 'sqlite'|'pgsql'|'mysql',
#            pg => conninfo, prepare_db => CODE, env => {K => V},
#            journal => 'wal'|'delete' (SQLite), location => TEXT (more lines
#            in /scep), server => TEXT (more lines at server level, e.g. LoadModule))
#   -> private_httpd's hash + { mpm, kind, pg }
# The module is configured as the README says: SQLite in WAL through
# DBDInitSQL "PRAGMA journal_mode=WAL" (no busy_timeout).
sub load_httpd {
    my %o = @_;
    my $mpm = $MPM{ $o{mpm} } or croak "unknown MPM $o{mpm}";
    my $dbd;
    if ($o{db} eq 'sqlite' && ($o{journal} // 'wal') ne 'wal') {
        # journal => 'delete': SQLite's rollback journal (the schema's WAL
        # switched off before httpd starts)
        $dbd = qq{DBDriver sqlite3\nDBDParams "\@DB\@"\n};
        my ($mode, $prepare) = (lc $o{journal}, $o{prepare_db});
        $o{prepare_db} = sub {
            my $db = shift;
            my $r = run_cmd(sqlite3_cmd($db, "PRAGMA journal_mode=$mode"));
            croak "journal_mode=$mode: $r->{err}" if $r->{rc} || $r->{out} !~ /^\Q$mode\E$/m;
            $prepare->($db) if $prepare;
        };
    }
    elsif ($o{db} eq 'sqlite') {
        $dbd = qq{DBDriver sqlite3\nDBDParams "\@DB\@"\nDBDInitSQL "PRAGMA journal_mode=WAL"\n};
    }
    elsif ($o{db} eq 'mysql') {
        # the shared scratch MariaDB's database scep (schema loaded by t/TEST.PL)
        my $sock = mysql_socket();
        $dbd = qq{DBDriver mysql\nDBDParams "sock=$sock dbname=scep user=root"\n};
    }
    else {
        my $ci = $o{pg} or croak 'pg => conninfo is needed';
        (my $esc = $ci) =~ s/(["\\])/\\$1/g;
        $dbd = qq{DBDriver pgsql\nDBDParams "$esc"\n};
    }
    my $conf = <<'EOC' . $mpm . $dbd . ($o{server} // '') . <<'EOC2';
@HTTPD_BASE@
KeepAliveTimeout 30
MaxKeepAliveRequests 0
EOC
SCEPChallengeThrottle off
@TEST_CA@
<Location /scep>
    SetHandler scep
    SCEPChallengePasswordFile "@PKI@/challenge"
    @LOCATION_EXTRA@
</Location>
EOC2
    # location => TEXT: more lines in the /scep Location (e.g. webhooks)
    my $extra = $o{location} // '';
    $conf =~ s/^[ \t]*\@LOCATION_EXTRA\@\n/$extra/m;
    my $h = private_httpd(name => $o{name}, conf => $conf, prepare_db => $o{prepare_db},
                          env => $o{env});
    $h->{mpm} = $o{mpm};
    $h->{kind} = $o{db};
    $h->{pg} = $o{pg};
    $h->{url} = "http://127.0.0.1:$h->{port}/scep";
    return $h;
}

sub httpd_pid {
    my $h = shift;
    my $f = "$h->{dir}/logs/httpd.pid";
    return undef unless -e $f;
    my ($pid) = read_file($f) =~ /(\d+)/;
    return $pid;
}

# the parent's live children: [ { pid, cpu (clock ticks) } ... ], busiest first
sub httpd_children {
    my $h = shift;
    my $ppid = httpd_pid($h) or return ();
    my @c;
    opendir my $d, '/proc' or return ();
    for my $pid (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $stat = <$fh> // next;
        # pid (comm) state ppid ... utime(14) stime(15)
        $stat =~ s/^.*\)\s+//s;
        my @f = split ' ', $stat;
        next unless $f[1] == $ppid && $f[0] ne 'Z';
        push @c, { pid => $pid, cpu => $f[11] + $f[12] };
    }
    return sort { $b->{cpu} <=> $a->{cpu} } @c;
}

sub log_lines {
    my $h = shift;
    return split /\n/, eval { read_file("$h->{dir}/logs/error_log") } // '';
}

# lines at [warn] or worse, except those matching allow => [regex ...]
sub log_bad {
    my ($h, %o) = @_;
    my @allow = @{ $o{allow} || [] };
    return grep {
        my $l = $_;
        $l =~ /\] \[(?:[\w.]+:)?(?:warn|error|crit|alert|emerg)\] / && !grep { $l =~ $_ } @allow
    } log_lines($h);
}

# children that died of a signal httpd reports (AH00051/AH00052: every
# signal but SIGKILL/SIGTERM/SIGHUP/SIGWINCH), and core files in the
# instance's directory; the core files are removed (hundreds of MB each)
# once listed. -> list of descriptions
sub crashes {
    my $h = shift;
    my @c = grep { /\bAH0005[12]: child pid \d+ exit signal/ } log_lines($h);
    for my $core (glob "$h->{dir}/core*") {
        push @c, sprintf('core file %s (%d MB, removed)', $core, (-s $core) / 1e6);
        unlink $core;
    }
    return @c;
}

######################################################################
# the instance's own database

# the db_rows() options for the instance's database
sub db_of {
    my $h = shift;
    return $h->{kind} eq 'sqlite' ? (file => $h->{db})
         : $h->{kind} eq 'mysql'  ? (mysql => 1)
         :                          (pg => 1, conninfo => $h->{pg});
}

# query($h, SQL) -> [ {column => value} ... ]; value($h, SQL): first column, first row
sub query { my ($h, $sql) = @_; return db_rows($sql, db_of($h)) }
sub value { my ($h, $sql) = @_; return db_value($sql, db_of($h)) }

######################################################################
# scepbench

# bench_args($h, n => N, c => C, prefix => P, results => FILE, decrypt => K,
#            pool => K, extra => [...])
sub bench_args {
    my ($h, %o) = @_;
    return [bench_bin(), '-u', $h->{url}, '--ca-certs', pki('all.pem'),
            '--challenge-file', pki('challenge'),
            '-n', $o{n}, '-c', $o{c} // 32, '--key-pool', $o{pool} // 64,
            '--cn-prefix', $o{prefix}, '--decrypt-every', $o{decrypt} // 50,
            '--timeout', $o{timeout} // 30, '--max-time', $o{max_time} // 150,
            '--threads', 2, ($o{results} ? ('--results', $o{results}) : ()),
            @{ $o{extra} || [] }];
}

# key=value pairs of the last RESULT line
sub bench_result {
    my $out = shift // '';
    my ($line) = (grep { /^RESULT / } split /\n/, $out)[-1] // '';
    return { $line =~ /(\w+)=(\S+)/g };
}

# the --results file -> [ { index, tid, outcome, http, pki_status, fail_info,
# serial, resent, sent_ms, latency_ms, detail } ... ] ('-' fields are undef)
sub read_results {
    my $file = shift;
    my @rows;
    open my $fh, '<', $file or return [];
    while (my $l = <$fh>) {
        chomp $l;
        next if $l =~ /^#/;
        my %r;
        @r{qw(index tid outcome http pki_status fail_info serial resent sent_ms latency_ms detail)}
            = split /\t/, $l, 11;
        $_ = (defined $_ && $_ eq '-') ? undef : $_ for values %r;
        push @rows, \%r;
    }
    return \@rows;
}

sub bench_run {
    my ($h, %o) = @_;
    my $r = run_cmd(bench_args($h, %o), timeout => $o{cmd_timeout} || 300);
    $r->{result} = bench_result($r->{out});
    $r->{rows} = $o{results} ? read_results($o{results}) : [];
    return $r;
}

# bench_burst($h, n => N, prefix => P, bench_run's options): scepbench ->
# (all N got a verified SUCCESS, a one-line account); its --results file is
# results-P.tsv in the work folder unless given
sub bench_burst {
    my ($h, %o) = @_;
    $o{results} //= work_file("results-$o{prefix}", 'tsv');
    my $r = bench_run($h, %o);
    my $succ = grep { $_->{outcome} eq 'SUCCESS' } @{ $r->{rows} };
    my $all = $r->{rc} == 0 && ($r->{result}{ok} // -1) == $o{n} && $succ == $o{n};
    return ($all, sprintf('scepbench rc %d, RESULT ok=%s failures=%s, %d SUCCESS rows; %s',
                          $r->{rc}, $r->{result}{ok} // '-', $r->{result}{failures} // '-', $succ,
                          substr($r->{err}, 0, 500)));
}

# scepbench in the background: start_cmd's process + { results, started }
sub bench_bg {
    my ($h, %o) = @_;
    my $bg = start_cmd(bench_args($h, %o));
    return { %$bg, results => $o{results}, started => Time::HiRes::time() };
}

# still running?
sub bench_alive { return cmd_alive(shift) }

# waits (at most TIMEOUT s) -> { rc, out, err, result, rows, timed_out }
sub bench_wait {
    my ($bg, $timeout) = @_;
    my $r = cmd_wait($bg, $timeout || 300);
    $r->{result} = bench_result($r->{out});
    $r->{rows} = $bg->{results} ? read_results($bg->{results}) : [];
    return $r;
}

1;
