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
# worse; no child crashed. Rates are printed, never asserted.
#
# SCEP_TEST_LOAD_N=200 makes a quicker run while working on the tests.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLoad qw(:all);

my $N = $ENV{SCEP_TEST_LOAD_N} || 2000;
my $C = 32;
my $HAVE_PG = pg_conninfo() ? 1 : 0;
my @CELLS = (['event', 'sqlite'], ['prefork', 'sqlite'], ['event', 'pgsql'], ['prefork', 'pgsql']);
my $PER_CELL = 11;

plan tests => 1 + $PER_CELL * @CELLS;

ok(-x bench_bin(), 'bench/scepbench builds');

my $SCHEMA = 'scep_t70';
my $pg;
$pg = pg_schema_create($SCHEMA) if $HAVE_PG;
END { pg_schema_drop($SCHEMA) if $pg }

sub sq { my $s = shift; $s =~ s/'/''/g; "'$s'" }

for my $cell (@CELLS) {
    my ($mpm, $db) = @$cell;
    my $name = "$mpm x $db";
    SKIP: {
        skip "$name: SCEP_TEST_PGSQL is not set", $PER_CELL if $db eq 'pgsql' && !$HAVE_PG;
        my $h = load_httpd(name => "$mpm-$db", mpm => $mpm, db => $db, pg => $pg);
        ok($h->{ok}, "$name: private httpd starts") or diag($h->{err});
        unless ($h->{ok}) {
            private_httpd_stop($h);
            skip "$name: httpd did not start", $PER_CELL - 1;
        }
        my $prefix = "t70-$mpm-$db";
        my $like = sq("CN=$prefix-%");
        my $rfile = work_file("results-$mpm-$db", 'tsv');
        my $r = bench_run($h, n => $N, c => $C, prefix => $prefix, results => $rfile);
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
        private_httpd_stop($h);
        my @crash = crashes($h);
        ok(!@crash, "$name: no child crashed (no AH00051/AH00052, no core file)")
            or diag(join "\n", @crash[0 .. ($#crash > 4 ? 4 : $#crash)]);
    }
}
