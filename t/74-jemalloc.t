# jemalloc as ./demo.sh runs httpd (README, Sizing): libjemalloc.so.2
# preloaded into a private httpd (SCEPLoad's load_httpd: the event MPM,
# SQLite in WAL) whose /scep has what the shipped Location adds to the hot
# path (renewal, the CRL and OCSP URLs in each certificate) and takes
# micromdm's algorithms.
#
# Every process of the instance maps jemalloc, so it is jemalloc that
# serves malloc; 120 enrollments from 8 clients (scepbench, every reply
# verified and decrypted) are all SUCCESS and recorded, each certificate
# with its row; micromdm's scepclient enrolls; no child crashed and
# nothing was logged at [warn] or worse.
#
# Not under the sanitized pass: its ASan runtime is preloaded first and
# keeps malloc for itself.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use File::Spec::Functions qw(catfile);
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLoad qw(:all);

# ./demo.sh's lookup of the library
my ($jemalloc) = (run_cmd(['sh', catfile(Apache::Test::vars('scep_top'), 'build-tools', 'find-jemalloc.sh')])->{out} // '')
                 =~ /^(\S+)$/m;
my $sanitized = do { open my $fh, '<', httpd_bin(); my $l = $fh ? <$fh> : ''; ($l // '') =~ /^#!/ };
if (!$jemalloc || $sanitized) {
    plan skip_all => $sanitized ? 'the sanitized pass: ASan keeps malloc for itself'
                                : 'libjemalloc2 is not installed (install-deps.sh installs it)';
}
plan tests => 8;

my $h = load_httpd(name => 'jemalloc', mpm => 'event', db => 'sqlite',
                   env => { LD_PRELOAD => join(' ', grep { $_ } $ENV{LD_PRELOAD}, $jemalloc) },
                   location => <<'EOL');
    SCEPRenewal on
    SCEPLegacyAlgorithms on
    SCEPCRLDistributionPoint http://127.0.0.1/crl
    SCEPOCSPResponder http://127.0.0.1/ocsp
EOL
END { local $?; private_httpd_stop($h) if $h }
ok($h->{ok}, 'httpd starts with jemalloc preloaded') or diag("$h->{out}$h->{err}");

SKIP: {
    skip 'httpd did not start', 7 unless $h->{ok};
    my @pids = (httpd_pid($h), map { $_->{pid} } httpd_children($h));
    my @without = grep { (eval { read_file("/proc/$_/maps") } // '') !~ /libjemalloc\.so\.2/ } @pids;
    ok(@pids >= 2 && !@without, 'the parent and each child (' . (@pids - 1) . ') map libjemalloc.so.2')
        or diag('without it: ' . join(' ', @without) . ' of ' . join(' ', @pids));

    my $prefix = "t74-$$";
    my ($all, $why) = bench_burst($h, n => 120, c => 8, prefix => $prefix, pool => 120,
                                  decrypt => 1, max_time => 120, cmd_timeout => 240);
    ok($all, '120 enrollments from 8 clients: each a verified SUCCESS, its certificate '
       . 'decrypted and holding the request key') or diag($why);
    is(value($h, "SELECT count(*) FROM scep_transactions t JOIN scep_certificates c "
                 . "ON c.ca = t.ca AND c.serial = t.serial "
                 . "WHERE t.status = 'ISSUED' AND t.subject LIKE '%$prefix%'"),
       120, 'and 120 ISSUED rows, each with its certificate');

    my $mm = micromdm_enroll(url => $h->{url}, cn => "$prefix-mm");
    is($mm->{rc}, 0, 'micromdm scepclient enrolls') or diag("$mm->{out}\n$mm->{err}");
    ok(-s $mm->{cert} && openssl_verify(pki('ca.pem'), $mm->{cert}),
       'its certificate verifies against the CA');

    my @crashed = crashes($h);
    ok(!@crashed, 'no child crashed') or diag(join "\n", @crashed);
    my @bad = log_bad($h);
    ok(!@bad, 'nothing at [warn] or worse in the error log')
        or diag(join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]);
}
