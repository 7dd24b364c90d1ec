# The trace of each transaction's decisions (README "The fleet view"): which
# challenge mechanism accepted or refused, where each subject attribute and
# SAN came from or why it was left out, the key, the outcome; in the API and
# the certificate's detail view. And the dry-run (POST api/dry-run): the
# certificate a profile would issue for a CSR, or its refusal, with the
# trace, while nothing is issued, recorded or consumed.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLifecycle qw(admin);

plan tests => 19;

my $TAG = "t47-$$";

sub enrollment_of {
    my $tid = shift;
    my $r = admin('GET', 'api/enrollments?q=' . $tid);
    return (($r->{json} || {})->{enrollments} || [])->[0] || {};
}

########## an issued certificate and a refusal, with their traces
my ($req, undef, $rep) = enroll(build => { subject => "/CN=$TAG-ok/OU=drop-me" });
is($rep->{pkiStatus}, 0, 'a device enrolls at /scep');
my $e = enrollment_of($req->{tid});
my $trace = join "\n", @{ $e->{trace} || [] };
like($trace, qr/^challenge: the static password of \/scep matched$/m, 'trace: the challenge mechanism');
like($trace, qr/^subject CN = '\Q$TAG\E-ok', from the request$/m, 'trace: where the CN came from');
like($trace, qr/^subject attribute OU of the request: no rule takes it, left out$/m,
     'trace: the OU the profile left out, and why');
like($trace, qr/^key: rsaEncryption of 2048 bits, allowed by SCEPKeyAlgorithms$/m, 'trace: the key');
like($trace, qr/^issued serial [0-9A-F]+$/m, 'trace: the outcome');
my $page = admin('GET', "certificates/$e->{serial}");
like($page->{body} // '', qr{<pre class="trace">.*challenge: the static password}s,
     'the detail view shows the decisions');

my ($bad) = enroll(build => { subject => "/CN=$TAG-bad", challenge => 'wrong' });
$trace = join "\n", @{ enrollment_of($bad->{tid})->{trace} || [] };
like($trace, qr/^refused, badRequest: the challengePassword is wrong$/m, 'a refusal: its trace says why');

########## the dry-run
my $key = new_key();
my $csr = work_file('dry', 'csr');
run_cmd(['openssl', 'req', '-new', '-key', $key, '-subj', "/CN=$TAG-dry/OU=x", '-out', $csr,
         '-addext', "subjectAltName=DNS:$TAG-dry.example.com"]);
my $counts = sub {
    join ',', map { db_value("SELECT COUNT(*) FROM $_") } qw(scep_transactions scep_certificates);
};
my $before = $counts->();
my $r = admin('POST', 'api/dry-run', json => { profile => '/scep', csr => read_file($csr) });
is($r->{status}, 200, 'POST api/dry-run: 200');
my $j = $r->{json} || {};
is($j->{outcome}, 'would issue', 'outcome: would issue');
is(($j->{certificate} || {})->{subject}, "CN=$TAG-dry", 'the subject the profile would give (OU left out)');
is(($j->{certificate} || {})->{issuer}, 'CN=mod_scep Test CA,O=mod_scep', 'issued by the CA');
my $dtrace = join "\n", @{ $j->{trace} || [] };
like($dtrace, qr/^dry run: no challenge is checked, nothing is issued, recorded or consumed/m,
     'the trace says it is a dry run');
like($dtrace, qr/subjectAltName dns:\Q$TAG\E-dry\.example\.com of the request: not allowed by the profile, left out/,
     'and why the requested SAN is left out');
is($counts->(), $before, 'nothing recorded');
ok(!exists $j->{certificate}{pem} && !exists $j->{certificate}{der}, 'and no certificate to take away');

$r = admin('POST', 'api/dry-run', json => { profile => 'prof-rsa3072', csr => read_file($csr) });
ok(($r->{json} || {})->{outcome} eq 'refused'
   && ($r->{json}{refusal} // '') =~ /RSA key of 2048 bits is outside 3072\.\.\d+/,
   'a profile that refuses the key: refused, saying why') or diag($r->{body});
is(admin('POST', 'api/dry-run', json => { profile => '/scep', csr => 'not a CSR' })->{status}, 400,
   'a csr that is not PEM: 400');
is(admin('POST', 'api/dry-run', json => { profile => 'no-such', csr => read_file($csr) })->{status}, 400,
   'an unknown profile: 400');
