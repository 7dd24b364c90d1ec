# GetNextCACert (RFC 8894 section 4.7.1; README "SCEPNextCACertificateFile"):
# with a next CA configured, GetCACaps lists GetNextCACert and the operation
# answers application/x-x509-next-ca-cert: a SignedData signed by the
# current RA, which OpenSSL verifies against the CA a device trusts today,
# holding a degenerate certificates-only SignedData with the next CA and its
# RA. Without one (the suite's main server) the capability is absent and
# the operation is a clear 404. A next "CA" that is no CA, or a next RA it
# did not issue, stops start-up naming the file. No SCEP client installable
# on Debian 12 asks GetNextCACert (certmonger's scep-submit has no such
# operation, sscep is not packaged, strongSwan's pki --scepca does not), so
# the answer is checked the way sscep's getnextca does: verify the outer
# signature with the current CA, then read the certificates inside.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);

plan tests => 16;

my $CA = pki('ca.pem');

sub conf {
    my ($next) = @_;
    return <<"EOC";
\@HTTPD_BASE\@
LoadModule mpm_event_module "\@MODULES\@/mod_mpm_event.so"
\@SQLITE_DB\@
SCEPCACertificateFile "\@PKI\@/ca.pem"
SCEPCACertificateKeyFile "\@PKI\@/ca.key"
SCEPRACertificateFile "\@PKI\@/ra.pem"
SCEPRACertificateKeyFile "\@PKI\@/ra.key"
$next
<Location /scep>
    SetHandler scep
    SCEPChallengePasswordFile "\@PKI\@/challenge"
</Location>
EOC
}

########## the suite's main server: no next CA
my $caps = get_caps()->{body} // '';
unlike($caps, qr/GetNextCACert/, 'without a next CA, GetCACaps does not list GetNextCACert');
my $r = http(path => '/scep?operation=GetNextCACert');
ok($r->{status} == 404 && $r->{body} =~ /no next CA certificate is configured/,
   'and GetNextCACert is 404, saying why');

########## a next CA and its RA
my $h = private_httpd(name => 'nextca', conf => conf(
    "SCEPNextCACertificateFile \"\@PKI\@/next/ca.pem\"\nSCEPNextRACertificateFile \"\@PKI\@/next/ra.pem\""));
ok($h->{ok}, 'httpd starts with SCEPNextCACertificateFile and SCEPNextRACertificateFile') or diag($h->{err});
SKIP: {
    skip 'httpd did not start', 10 unless $h->{ok};
    $caps = http(port => $h->{port}, path => '/scep?operation=GetCACaps')->{body} // '';
    like($caps, qr/^GetNextCACert$/m, 'GetCACaps lists GetNextCACert');
    $r = http(port => $h->{port}, path => '/scep?operation=GetNextCACert');
    is($r->{status}, 200, 'GetNextCACert: 200');
    is($r->{headers}{'content-type'}, 'application/x-x509-next-ca-cert', 'application/x-x509-next-ca-cert');
    my $der = write_file(work_file('nextca', 'der'), $r->{body});
    my $inner = work_file('nextca-inner', 'der');
    # signed by the current RA, trusted through the current CA (as sscep does)
    my $v = run_cmd(['openssl', 'cms', '-verify', '-inform', 'DER', '-in', $der, '-CAfile', $CA,
                     '-out', $inner, '-binary']);
    like($v->{err}, qr/Verification successful/, 'its signature verifies with the CA the device trusts today');
    my $signer = run_cmd(['openssl', 'cms', '-cmsout', '-print', '-inform', 'DER', '-in', $der])->{out};
    like($signer, qr/mod_scep Test CA RA/, 'signed by the current RA');
    my $certs = run_cmd(['openssl', 'pkcs7', '-inform', 'DER', '-in', $inner, '-print_certs', '-noout'])->{out};
    like($certs, qr/subject=O = mod_scep, CN = mod_scep Test CA 2\n/, 'inside: the next CA');
    like($certs, qr/subject=O = mod_scep, CN = mod_scep Test CA 2 RA\n/, 'and the next RA');
    my $n = () = $certs =~ /^subject=/mg;
    is($n, 2, 'and nothing else');
    is(http(port => $h->{port}, path => '/scep?operation=GetCACert')->{status}, 200,
       'GetCACert still answers the current CA');
    my (undef, undef, $rep) = enroll(send => { port => $h->{port} });
    is($rep->{pkiStatus}, 0, 'and devices still enroll with the current CA');
}
private_httpd_stop($h);

########## what stops httpd
my $bad = private_httpd(name => 'nextca-ra-as-ca', conf => conf("SCEPNextCACertificateFile \"\@PKI\@/next/ra.pem\""));
ok(!$bad->{ok} && ($bad->{out} . $bad->{err}) =~ /SCEP00021: SCEPNextCACertificateFile \S+ra\.pem .*is not a CA/,
   'a next "CA" that is no CA: httpd does not start, naming the file') or diag($bad->{out} . $bad->{err});
private_httpd_stop($bad) if $bad->{ok};
$bad = private_httpd(name => 'nextca-other-ra', conf => conf(
    "SCEPNextCACertificateFile \"\@PKI\@/next/ca.pem\"\nSCEPNextRACertificateFile \"\@PKI\@/other/ra.pem\""));
ok(!$bad->{ok} && ($bad->{out} . $bad->{err}) =~ /SCEPNextRACertificateFile \S+other\/ra\.pem .*not issued by the next CA/,
   'a next RA the next CA did not issue: httpd does not start') or diag($bad->{out} . $bad->{err});
private_httpd_stop($bad) if $bad->{ok};
error_log_clean();
