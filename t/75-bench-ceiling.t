# bench/run.sh's ceiling cell: bench/mod_rsa_ceiling.c builds with apxs
# (-Wall -Wextra -Werror) and, loaded beside mod_scep into a private httpd,
# answers each POST to its Location with the body it read, after its three
# RSA operations: the last one's signature of the body, in its header,
# verifies with the CA's public key. GetCACert there is still mod_scep's. scepbench
# --echo counts those replies as successes and nothing else: against
# mod_scep's own CertReps every request is an "echo" failure, and without
# --echo the ceiling's replies fail the CertRep's signature check. A key that is not an RSA
# private key stops httpd at start-up with the directive's message.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use File::Spec::Functions qw(catfile catdir);
use MIME::Base64 qw(decode_base64);
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLoad qw(:all);

plan tests => 12;

# as bench/run.sh builds it
my $build = run_cmd([catfile(Apache::Test::vars('scep_top'), 'bench', 'build-ceiling.sh'),
                     catdir(work_dir(), 'ceiling-build')],
                    env => { APXS => Apache::Test::vars('apxs') || 'apxs' }, timeout => 120);
my ($so) = ($build->{out} // '') =~ /^(\S+\.so)$/m;
ok($build->{rc} == 0 && $so && -e $so,
   'bench/mod_rsa_ceiling.c builds with apxs, -Wall -Wextra -Werror (bench/build-ceiling.sh)')
    or diag("$build->{out}\n$build->{err}");

my $h;
END { local $?; private_httpd_stop($h) if $h }
SKIP: {
    skip 'the module did not build', 11 unless $so && -e $so;

    # /scep: the ceiling (POSTs) over mod_scep (GetCACert); /scep-real: mod_scep alone
    $h = load_httpd(name => 'ceiling', mpm => 'event', db => 'sqlite',
                    server => <<"EOS", location => <<'EOL');
LoadModule rsa_ceiling_module "$so"
<Location /scep-real>
    SetHandler scep
    SCEPChallengePasswordFile "\@PKI\@/challenge"
</Location>
EOS
    RSACeilingKeyFile "@PKI@/ca.key"
EOL
    ok($h->{ok}, 'httpd starts with mod_rsa_ceiling beside mod_scep') or diag("$h->{out}$h->{err}");
    skip 'httpd did not start', 10 unless $h->{ok};

    my $g = http(port => $h->{port}, path => '/scep?operation=GetCACert', timeout => 10);
    ok($g->{status} == 200 && ($g->{headers}{'content-type'} // '') =~ /x-x509-ca/,
       'GetCACert at the ceiling\'s Location is still mod_scep\'s')
        or diag("HTTP $g->{status} " . ($g->{headers}{'content-type'} // '-'));

    # the work done: the body back, and its SHA-256 signed with the CA's key
    my $body = join '', map { chr(($_ * 7) % 256) } 0 .. 2999;
    my $p = http(port => $h->{port}, method => 'POST', path => '/scep?operation=PKIOperation',
                 body => $body, headers => ['Content-Type' => 'application/x-pki-message'],
                 timeout => 10);
    my $sig = decode_base64($p->{headers}{'x-rsa-ceiling-signature'} // '');
    my $pub = run_cmd(['openssl', 'x509', '-in', pki('ca.pem'), '-pubkey', '-noout']);
    my $v = run_cmd(['openssl', 'dgst', '-sha256', '-verify',
                     write_file(work_file('ca-pub', 'pem'), $pub->{out}),
                     '-signature', write_file(work_file('sig', 'bin'), $sig),
                     write_file(work_file('body', 'bin'), $body)]);
    ok($p->{status} == 200 && $p->{body} eq $body && length($sig) == 256
       && $v->{rc} == 0 && $v->{out} =~ /Verified OK/,
       'a POST: its body back, with a signature of it that the CA\'s public key verifies')
        or diag("HTTP $p->{status}, " . length($p->{body}) . ' bytes back, signature '
                . length($sig) . " bytes; $v->{out}$v->{err}");

    my $prefix = "t75-$$";
    my $r = bench_run($h, n => 40, c => 4, prefix => $prefix, pool => 40,
                      results => work_file("results-$prefix", 'tsv'), extra => ['--echo']);
    my @ok = grep { $_->{outcome} eq 'SUCCESS' && ($_->{http} // '') eq '200' } @{ $r->{rows} };
    ok($r->{rc} == 0 && ($r->{result}{ok} // -1) == 40 && @ok == 40,
       'scepbench --echo: 40 requests from 4 clients, each answered 200 with its own message')
        or diag("rc $r->{rc}, ok " . ($r->{result}{ok} // '-') . ", " . scalar(@ok)
                . " SUCCESS rows; $r->{err}");
    is(value($h, "SELECT count(*) FROM scep_transactions WHERE subject LIKE '%$prefix%'"), 0,
       'and mod_scep recorded none of them: the ceiling answered');

    my $plain = bench_run($h, n => 8, c => 2, prefix => "$prefix-plain", pool => 8,
                          results => work_file("results-$prefix-plain", 'tsv'));
    # (the echoed PKIMessage parses as SignedData, but its signer is the device)
    my @refused = grep { $_->{outcome} eq 'signature' } @{ $plain->{rows} };
    ok($plain->{rc} == 1 && @refused == 8,
       'without --echo the same replies are failures: no CertRep signed by the CA or RA')
        or diag("rc $plain->{rc}; outcomes " . join(' ', map { $_->{outcome} } @{ $plain->{rows} }));

    my $real = { %$h, url => "http://127.0.0.1:$h->{port}/scep-real" };
    my $e = bench_run($real, n => 8, c => 2, prefix => "$prefix-real", pool => 8,
                      results => work_file("results-$prefix-real", 'tsv'), extra => ['--echo']);
    my @echo = grep { $_->{outcome} eq 'echo' } @{ $e->{rows} };
    ok($e->{rc} == 1 && @echo == 8 && ($e->{result}{ok} // -1) == 0,
       'scepbench --echo against mod_scep\'s CertReps: every request an "echo" failure')
        or diag("rc $e->{rc}; outcomes " . join(' ', map { $_->{outcome} } @{ $e->{rows} }));
    is(value($h, "SELECT count(*) FROM scep_transactions WHERE status = 'ISSUED' "
                 . "AND subject LIKE '%$prefix-real%'"), 8,
       'while mod_scep issued and recorded those 8');

    my @crashed = crashes($h);
    ok(!@crashed, 'no child crashed') or diag(join "\n", @crashed);
    my @bad = log_bad($h);
    ok(!@bad, 'nothing at [warn] or worse in the error log')
        or diag(join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]);
    private_httpd_stop($h);
    $h = undef;

    # a certificate where the key should be: httpd refuses to start
    my $bad = load_httpd(name => 'ceiling-bad', mpm => 'event', db => 'sqlite',
                         server => qq{LoadModule rsa_ceiling_module "$so"\n},
                         location => qq{    RSACeilingKeyFile "\@PKI\@/ca.pem"\n});
    ok(!$bad->{ok} && ($bad->{out} . $bad->{err}) =~ /RSACeilingKeyFile: .* is not an RSA private key/,
       'a certificate as RSACeilingKeyFile stops httpd at start-up, naming the directive')
        or diag("$bad->{out}$bad->{err}");
    private_httpd_stop($bad) if $bad->{ok};
}
