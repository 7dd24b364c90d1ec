# The benchmark's load generator (bench/scepbench) against the test server:
# it builds, enrolls 20 times at concurrency 4 through /scep with every reply
# verified and decrypted, and reports failures when the challenge is wrong.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use File::Spec::Functions qw(catfile catdir);
use lib 't/lib';
use SCEPTest qw(:all);

plan tests => 11;

my $top = Apache::Test::vars('scep_top');
my $bench = catdir($top, 'bench');
my $bin = catfile($bench, 'scepbench');

# key=value pairs of scepbench's last "RESULT ..." line
sub result_of {
    my $out = shift;
    my ($line) = (grep { /^RESULT / } split /\n/, $out)[-1] // '';
    return { $line =~ /(\w+)=(\S+)/g };
}

my $mk = run_cmd(['make', '-s', '-C', $bench], timeout => 300);
is($mk->{rc}, 0, 'make -C bench builds scepbench') or diag($mk->{err});
ok(-x $bin, 'bench/scepbench is executable');

# --key-pool N with -n N: N distinct cached keys with random transactionIDs,
# so a second run against the same database is new requests, not resends.
my @common = ('-u', base_url() . '/scep', '--ca-certs', pki('all.pem'),
              '--timeout', '30', '--max-time', '120', '--threads', '2');
{
    my $r = run_cmd([$bin, @common, '-n', '20', '-c', '4', '--key-pool', '20',
                     '--challenge-file', pki('challenge'), '--decrypt-every', '1',
                     '--cn-prefix', 'bench-smoke'], timeout => 300);
    my $res = result_of($r->{out});
    is($r->{rc}, 0, 'scepbench -n 20 -c 4 exits 0') or diag("$r->{out}\n$r->{err}");
    is($res->{ok}, 20, '20 enrollments succeeded (signature, SUCCESS, nonce, transactionID)');
    is($res->{failures}, 0, 'no failures');
    is($res->{decrypted}, 20, 'every reply decrypted, the issued key is the request key');
    ok(defined $res->{rate} && $res->{rate} > 0 && $res->{p99_ms} > 0,
       'rate and p99 are reported') or diag($r->{out});
    my $n = db_value("SELECT COUNT(*) AS n FROM scep_certificates "
                     . "WHERE subject LIKE 'CN=bench-smoke-%'");
    cmp_ok($n, '>=', 20, 'the certificates are in the SQLite records');
}

# a wrong challenge: every reply is a verified FAILURE, and the tool says so
{
    my $r = run_cmd([$bin, @common, '-n', '2', '-c', '2', '--key-pool', '2',
                     '--challenge', 'not-the-challenge', '--cn-prefix', 'bench-smoke-bad'],
                    timeout => 120);
    my $res = result_of($r->{out});
    is($r->{rc}, 1, 'wrong challenge: scepbench exits 1') or diag("$r->{out}\n$r->{err}");
    is($res->{failures}, 2, 'wrong challenge: 2 failures reported')
        or diag("$r->{out}\n$r->{err}");
}

error_log_clean();
