# strongSwan's pki as a SCEP client (Debian strongswan-pki with
# libstrongswan-standard-plugins and -extra-plugins): `pki --scepca` fetches
# the CA and RA certificates, `pki --scep` enrolls and renews.
package SCEPStrongswan;
use strict;
use warnings;

use Exporter 'import';
use File::Path qw(mkpath);
use lib 't/lib';
use SCEPTest qw(run_cmd work_file);

our @EXPORT_OK = qw(have_pki pki_scepca pki_key pki_enroll);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

sub have_pki { return run_cmd(['sh', '-c', 'command -v pki'])->{rc} == 0 }

# strongSwan's chatter without its plugin warnings (a TPM it cannot load)
sub _said {
    my $r = shift;
    return join "\n", grep { !/plugin|TPM|^\s*$/ } split /\n/, "$r->{out}\n$r->{err}";
}

# pki --scepca: the certificates GetCACert answers, in DIR -> { ca, enc, sig,
# ras => [files], said, rc }. enc is the RA certificate with
# keyEncipherment, sig the one with digitalSignature (one file when the RA
# does both), as an administrator picks them for --cacert-enc/--cacert-sig.
sub pki_scepca {
    my ($url) = @_;
    my $d = work_file('pki-scepca');
    mkpath($d);
    my $r = run_cmd(['pki', '--scepca', '--url', $url, '--caout', "$d/ca.pem",
                     '--raout', "$d/ra.pem", '--outform', 'pem', '--force'], timeout => 60);
    my %out = (rc => $r->{rc}, said => _said($r), ca => "$d/ca.pem", ras => []);
    for my $f (sort glob "$d/ra*.pem") {
        push @{ $out{ras} }, $f;
        my $ku = run_cmd(['openssl', 'x509', '-in', $f, '-noout', '-ext', 'keyUsage'])->{out};
        $out{enc} = $f if $ku =~ /Key Encipherment/;
        $out{sig} = $f if $ku =~ /Digital Signature/;
    }
    return \%out;
}

# an RSA key made by pki --gen (PEM)
sub pki_key {
    my $file = work_file('pki-key', 'pem');
    my $r = run_cmd(['sh', '-c', "pki --gen --type rsa --size 2048 --outform pem > '$file'"]);
    return $r->{rc} ? undef : $file;
}

# pki --scep: pki_enroll(url => URL, ca => scepca result, key => FILE,
# dn => 'CN=x', password => S, cipher => 'aes'|'des3', old_cert => FILE,
# old_key => FILE) -> { rc, said, cert => FILE (PEM, when written) }
sub pki_enroll {
    my %o = @_;
    my $ca = $o{ca};
    my $cert = work_file('pki-cert', 'pem');
    my @a = ('pki', '--scep', '--url', $o{url}, '--in', $o{key}, '--dn', $o{dn},
             '--cacert-enc', $ca->{enc}, '--cacert-sig', $ca->{sig}, '--cacert', $ca->{ca},
             '--outform', 'pem', '--maxpolltime', 10, '--interval', 1);
    push @a, '--password', $o{password} if defined $o{password};
    push @a, '--cipher', $o{cipher} if $o{cipher};
    push @a, '--cert', $o{old_cert}, '--key', $o{old_key} if $o{old_cert};
    my $q = sub { my $s = shift; $s =~ s/'/'\\''/g; "'$s'" };
    my $r = run_cmd(['sh', '-c', join(' ', map { $q->($_) } @a) . " > " . $q->($cert)],
                    timeout => 60);
    return { rc => $r->{rc}, said => _said($r), cert => -s $cert ? $cert : undef };
}

1;
