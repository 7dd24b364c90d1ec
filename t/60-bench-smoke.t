# The benchmark's load generator (bench/scepbench) against the test server:
# it builds, enrolls 20 times at concurrency 4 through /scep with every reply
# verified and decrypted, each request answered and recorded as its results
# file says, and reports failures when the challenge is wrong.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use File::Spec::Functions qw(catfile catdir);
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLoad qw(bench_result read_results);

plan tests => 13;

my $top = Apache::Test::vars('scep_top');
my $bench = catdir($top, 'bench');
my $bin = catfile($bench, 'scepbench');

my $mk = run_cmd(['make', '-s', '-C', $bench], timeout => 300);
is($mk->{rc}, 0, 'make -C bench builds scepbench') or diag($mk->{err});
ok(-x $bin, 'bench/scepbench is executable');

# --key-pool N with -n N: N distinct cached keys with random transactionIDs,
# so a second run against the same database is new requests, not resends.
my @common = ('-u', base_url() . '/scep', '--ca-certs', pki('all.pem'),
              '--timeout', '30', '--max-time', '120', '--threads', '2');
{
    my $results = work_file('results', 'tsv');
    my $r = run_cmd([$bin, @common, '-n', '20', '-c', '4', '--key-pool', '20',
                     '--challenge-file', pki('challenge'), '--decrypt-every', '1',
                     '--cn-prefix', 'bench-smoke', '--results', $results], timeout => 300);
    my $res = bench_result($r->{out});
    is($r->{rc}, 0, 'scepbench -n 20 -c 4 exits 0') or diag("$r->{out}\n$r->{err}");
    is($res->{ok}, 20, '20 enrollments succeeded (signature, SUCCESS, nonce, transactionID)');
    is($res->{failures}, 0, 'no failures');
    is($res->{decrypted}, 20, 'every reply decrypted, the issued key is the request key');
    my @lat = map { $res->{$_} // 0 } qw(p50_ms p90_ms p99_ms max_ms);
    my $rate = ($res->{elapsed_s} // 0) > 0 ? ($res->{ok} // 0) / $res->{elapsed_s} : -1;
    # (rate is printed to 0.1, elapsed_s to the millisecond)
    ok($rate > 0 && abs(($res->{rate} // 0) - $rate) <= 0.1 + 0.02 * $rate
       && $lat[0] > 0 && $lat[0] <= $lat[1] && $lat[1] <= $lat[2] && $lat[2] <= $lat[3],
       'the report adds up: rate = ok / elapsed, 0 < p50 <= p90 <= p99 <= max') or diag($r->{out});
    my $n = db_value("SELECT COUNT(*) AS n FROM scep_certificates "
                     . "WHERE subject LIKE 'CN=bench-smoke-%'");
    cmp_ok($n, '>=', 20, 'the certificates are in the SQLite records');

    # each request, by its transactionID: a SUCCESS with the serial recorded for it
    my %issued = map { $_->{transaction_id} => norm_serial($_->{serial}) }
                 @{ db_rows("SELECT t.transaction_id, t.serial FROM scep_transactions t "
                            . "JOIN scep_certificates c ON c.ca = t.ca AND c.serial = t.serial "
                            . "WHERE t.status = 'ISSUED' AND t.subject LIKE 'CN=bench-smoke-%'") };
    my @rows = @{ read_results($results) };
    my @bad = grep { $_->{outcome} ne 'SUCCESS' || ($_->{http} // '') ne '200' || !defined $_->{serial}
                     || ($issued{ $_->{tid} } // '') ne norm_serial($_->{serial}) } @rows;
    ok(@rows == 20 && !@bad, 'every request answered (HTTP 200, SUCCESS) and recorded: an ISSUED '
       . 'transaction with its serial and certificate') or diag(scalar(@rows) . " result lines; not so: "
       . join("\n", map { join ' ', map { $_ // '-' } @$_{qw(index tid outcome http serial detail)} } @bad));
    my @untimed = grep { ($_->{sent_ms} // '') !~ /^\d+\.\d{3}$/ || ($_->{latency_ms} // '') !~ /^\d+\.\d{3}$/
                         || $_->{latency_ms} <= 0 } @rows;
    ok(@rows == 20 && !@untimed, 'each result line says when its request was sent and its latency (ms)')
        or diag(join "\n", map { join ' ', map { $_ // '-' } @$_{qw(index sent_ms latency_ms)} } @untimed);
}

# a wrong challenge: every reply is a verified FAILURE, and the tool says so
{
    my $r = run_cmd([$bin, @common, '-n', '2', '-c', '2', '--key-pool', '2',
                     '--challenge', 'not-the-challenge', '--cn-prefix', 'bench-smoke-bad'],
                    timeout => 120);
    my $res = bench_result($r->{out});
    is($r->{rc}, 1, 'wrong challenge: scepbench exits 1') or diag("$r->{out}\n$r->{err}");
    is($res->{failures}, 2, 'wrong challenge: 2 failures reported')
        or diag("$r->{out}\n$r->{err}");
}

error_log_clean();
