# Concurrency (issue #7): 2,000 enrollments from 32 concurrent clients
# (bench/scepbench, 64 cached keys reused with random transactionIDs, unique
# CNs) against a private httpd in four cells: the event and the prefork MPM,
# each over SQLite (the README's configuration: WAL, no busy_timeout) and over
# PostgreSQL (schema scep_t70 in the SCEP_TEST_PGSQL database, made and
# dropped here; the pgsql cells are skipped when SCEP_TEST_PGSQL is unset).
#
# Per cell: every request gets a verified SUCCESS CertRep; the certificate
# rows of the run equal the SUCCESS replies; no serial repeats; every ISSUED
# transaction has its certificate and every certificate its transaction; the
# serials of the decrypted replies are those recorded; the instance's
# error_log has no "database is locked"/SQLITE_BUSY and nothing at [warn] or
# worse; no child crashed. With SQLite, the WAL never grew past 40,000 pages
# (mod_scep restarts it after 20,000; without that, a busy server rarely
# offers the moment without readers that SQLite needs to start it over, and
# 2,000 enrollments left a WAL of 50,000 pages). Rates are printed, never
# asserted.
#
# SCEP_TEST_LOAD_N=200 makes a quicker run while working on the tests.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use List::Util ();
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLoad qw(:all);

my $N = $ENV{SCEP_TEST_LOAD_N} || 2000;
my $C = 32;
my $HAVE_PG = pg_conninfo() ? 1 : 0;
my @CELLS = (['event', 'sqlite'], ['prefork', 'sqlite'], ['event', 'pgsql'], ['prefork', 'pgsql']);
my $PER_CELL = 11;

my $WAL_BOUND = 40000;       # pages: twice the WAL_MAX_FRAMES of scep_store_sqlite.c
sub per_cell { $PER_CELL + ($_[0] eq 'sqlite' ? 1 : 0) }

plan tests => 1 + List::Util::sum(map { per_cell($_->[1]) } @CELLS);

ok(-x bench_bin(), 'bench/scepbench builds');

my $SCHEMA = 'scep_t70';
my $pg;
$pg = pg_schema_create($SCHEMA) if $HAVE_PG;
END { pg_schema_drop($SCHEMA) if $pg }

# frames in a WAL file: a 32-byte header (page size at offset 8), then
# frames of a 24-byte header and a page
sub wal_pages {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return 0;
    read($fh, my $hdr, 32) == 32 or return 0;
    my $page = unpack 'N', substr($hdr, 8, 4);
    return $page ? int(((-s $path) - 32) / (24 + $page)) : 0;
}

# Readers that are never all out of the WAL at once: two connections of one
# sqlite3 shell take turns, each starting its read before the other ends.
sub wal_readers {
    my ($file) = @_;
    my $sel = 'SELECT max(id) FROM scep_transactions;';
    my $turns = ".connection 0\nBEGIN;\n$sel\n.connection 1\nCOMMIT;\n.shell sleep 0.02\n"
              . ".connection 1\nBEGIN;\n$sel\n.connection 0\nCOMMIT;\n.shell sleep 0.02\n";
    return ['sh', '-c', "{ printf '.connection 1\\n.open %s\\nBEGIN;\\n$sel\\n' \"\$1\"; "
                        . "while :; do printf '$turns'; done; } | sqlite3 -batch \"\$1\"", 'sh', $file];
}

sub sq { my $s = shift; $s =~ s/'/''/g; "'$s'" }

for my $cell (@CELLS) {
    my ($mpm, $db) = @$cell;
    my $name = "$mpm x $db";
    SKIP: {
        skip "$name: SCEP_TEST_PGSQL is not set", per_cell($db) if $db eq 'pgsql' && !$HAVE_PG;
        my $h = load_httpd(name => "$mpm-$db", mpm => $mpm, db => $db, pg => $pg);
        ok($h->{ok}, "$name: private httpd starts") or diag($h->{err});
        unless ($h->{ok}) {
            private_httpd_stop($h);
            skip "$name: httpd did not start", per_cell($db) - 1;
        }
        my $prefix = "t70-$mpm-$db";
        my $like = sq("CN=$prefix-%");
        my $rfile = work_file("results-$mpm-$db", 'tsv');
        my $readers = $db eq 'sqlite' ? start_cmd(wal_readers($h->{db})) : undef;
        my $r = bench_run($h, n => $N, c => $C, prefix => $prefix, results => $rfile);
        my $read = $readers ? cmd_wait($readers, 0, kill => 1) : undef;
        my $res = $r->{result};
        diag(sprintf '%s: %s/%d enrollments at concurrency %d, %s/s (p50 %s ms, p99 %s ms)',
                     $name, $res->{ok} // '?', $N, $C, $res->{rate} // '?',
                     $res->{p50_ms} // '?', $res->{p99_ms} // '?');

        my @rows = @{ $r->{rows} };
        my @succ = grep { $_->{outcome} eq 'SUCCESS' } @rows;
        ok($r->{rc} == 0 && ($res->{ok} // -1) == $N && @rows == $N && @succ == $N,
           "$name: $N of $N requests got a verified SUCCESS CertRep")
            or diag("scepbench rc $r->{rc}, RESULT ok=" . ($res->{ok} // '-') . ' failures='
                    . ($res->{failures} // '-') . ", $r->{err}");

        my $txn = query($h, 'SELECT transaction_id, status, serial FROM scep_transactions '
                            . "WHERE subject LIKE $like");
        my $certs = query($h, "SELECT serial FROM scep_certificates WHERE subject LIKE $like");
        is(scalar @$certs, scalar @succ,
           "$name: as many certificate rows as SUCCESS replies (" . scalar(@succ) . ')');

        my $dup = query($h, 'SELECT COUNT(*) AS n, COUNT(DISTINCT serial) AS d FROM scep_certificates')->[0];
        ok($dup->{n} > 0 && $dup->{n} == $dup->{d}, "$name: no serial repeats ($dup->{n} certificates)")
            or diag("COUNT(*) $dup->{n}, COUNT(DISTINCT serial) $dup->{d}");

        my @issued = grep { $_->{status} eq 'ISSUED' } @$txn;
        my %cert_serial = map { norm_serial($_->{serial}) => 1 } @$certs;
        my %tid_count;
        $tid_count{ $_->{transaction_id} }++ for @$txn;
        my %got = (
            issued => scalar @issued,
            issued_with_cert => scalar(grep { $cert_serial{ norm_serial($_->{serial}) } } @issued),
            issued_distinct_serials => scalar(keys %{ { map { norm_serial($_->{serial}) => 1 } @issued } }),
            tids_with_several_rows => scalar(grep { $_ > 1 } values %tid_count),
        );
        is_deeply(\%got, { issued => scalar @succ, issued_with_cert => scalar @succ,
                           issued_distinct_serials => scalar @succ, tids_with_several_rows => 0 },
                  "$name: transactions consistent: one ISSUED row with its own certificate per SUCCESS");

        my %issued_tid = map { $_->{transaction_id} => norm_serial($_->{serial}) } @issued;
        my @missing = grep { !exists $issued_tid{ $_->{tid} } } @succ;
        ok(!@missing, "$name: every SUCCESS reply's transactionID has its ISSUED row")
            or diag(scalar(@missing) . " missing, e.g. $missing[0]{tid}");

        my @sampled = grep { defined $_->{serial} } @succ;
        my @wrong = grep { ($issued_tid{ $_->{tid} } // '') ne norm_serial($_->{serial}) } @sampled;
        ok(@sampled && !@wrong, "$name: the " . scalar(@sampled)
           . ' decrypted certificates carry the recorded serials')
            or diag(scalar(@wrong) . ' differ' . (@wrong ? ", e.g. $wrong[0]{tid} $wrong[0]{serial}" : ''));

        my $orphans = value($h, 'SELECT COUNT(*) AS n FROM scep_certificates c WHERE NOT EXISTS '
                                . '(SELECT 1 FROM scep_transactions t WHERE t.ca = c.ca '
                                . "AND t.serial = c.serial AND t.status = 'ISSUED')");
        is($orphans, 0, "$name: no certificate without its ISSUED transaction");

        my @log = log_lines($h);
        my @busy = grep { /database is locked|SQLITE_BUSY|database table is locked/i } @log;
        ok(!@busy, "$name: error_log has no 'database is locked' / SQLITE_BUSY")
            or diag(scalar(@busy) . " line(s), e.g.\n" . join("\n", @busy[0 .. ($#busy > 2 ? 2 : $#busy)]));
        my @bad = log_bad($h);
        ok(!@bad, "$name: error_log has nothing at [warn] or worse")
            or diag(scalar(@bad) . " line(s), e.g.\n" . join("\n", @bad[0 .. ($#bad > 4 ? 4 : $#bad)]));
        if ($db eq 'sqlite') {
            # the file keeps its largest size while httpd runs: the WAL's high-water mark
            my $pages = wal_pages("$h->{db}-wal");
            ok($pages <= $WAL_BOUND && $read->{out} =~ /^\d+$/m,
               "$name: the WAL stayed under $WAL_BOUND pages ($pages) with readers in it throughout")
                or diag("readers: $read->{err}");
        }
        private_httpd_stop($h);
        my @crash = crashes($h);
        ok(!@crash, "$name: no child crashed (no AH00051/AH00052, no core file)")
            or diag(join "\n", @crash[0 .. ($#crash > 4 ? 4 : $#crash)]);
    }
}
