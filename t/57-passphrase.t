# Encrypted CA and RA keys (README "SCEPPassPhraseDialog"): a PEM key
# encrypted with AES-256 and a DER PKCS#8 key encrypted with AES-128, their
# passphrases from a program (exec:) or a file (file:), read once in the
# parent; a wrong passphrase, a missing dialog without a terminal, and a
# passphrase file others may read. Private httpds.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);

my $dir = work_file('passphrase');
mkdir $dir;

# the test CA's keys, encrypted
sub encrypt_pem {
    my ($in, $out, $pass) = @_;
    my $r = run_cmd(['openssl', 'pkey', '-in', $in, '-aes256', '-passout', "pass:$pass", '-out', $out]);
    die "openssl: $r->{err}" if $r->{rc};
    chmod 0600, $out;
    return $out;
}
sub encrypt_der {
    my ($in, $out, $pass) = @_;
    my $r = run_cmd(['openssl', 'pkcs8', '-topk8', '-v2', 'aes-128-cbc', '-in', $in,
                     '-passout', "pass:$pass", '-outform', 'DER', '-out', $out]);
    die "openssl: $r->{err}" if $r->{rc};
    chmod 0600, $out;
    return $out;
}
my $ca_key = encrypt_pem(pki('ca.key'), "$dir/ca-enc.key", 'ca-secret-1');
my $ra_key = encrypt_der(pki('ra.key'), "$dir/ra-enc.der", 'ra-secret-2');
like(read_file($ca_key), qr/ENCRYPTED PRIVATE KEY/, 'the CA key is encrypted (PEM)');

# a program that answers as mod_ssl's exec: dialog: (server:port, key file)
my $prog = write_file("$dir/pass.sh", <<"EOS");
#!/bin/sh
echo "\$1 \$2" >> "$dir/pass.calls"
case "\$2" in
    *ca-enc.key) echo ca-secret-1 ;;
    *ra-enc.der) echo \${RA_PASS:-ra-secret-2} ;;
    *) exit 1 ;;
esac
EOS
chmod 0755, $prog;

sub conf {
    my ($dialog, $ca, $ra) = @_;
    return <<"EOC";
\@HTTPD_BASE\@
LoadModule mpm_event_module "\@MODULES\@/mod_mpm_event.so"
\@SQLITE_DB\@
SCEPCACertificateFile "\@PKI\@/ca.pem"
SCEPCACertificateKeyFile "$ca"
SCEPRACertificateFile "\@PKI\@/ra.pem"
SCEPRACertificateKeyFile "$ra"
$dialog
<Location /scep>
    SetHandler scep
    SCEPChallengePasswordFile "\@PKI\@/challenge"
</Location>
EOC
}

sub enrolls {
    my ($h, $what) = @_;
    my (undef, $resp, $rep) = enroll(send => { port => $h->{port} });
    is($rep->{pkiStatus}, 0, "$what: a device enrolls (decrypted with the RA key, signed by the CA key)");
    ok($rep->{cert_file}, '... and reads its certificate');
}

########## exec: both keys, each its passphrase
unlink "$dir/pass.calls";
my $h = private_httpd(name => 'pass-exec', conf => conf("SCEPPassPhraseDialog exec:$prog", $ca_key, $ra_key));
ok($h->{ok}, 'httpd starts with encrypted keys and SCEPPassPhraseDialog exec:') or diag($h->{err});
enrolls($h, 'exec:') if $h->{ok};
my @calls = split /\n/, (-e "$dir/pass.calls" ? read_file("$dir/pass.calls") : '');
is(scalar(grep { /ca-enc\.key$/ } @calls), 1, 'the program is asked once for the CA key (both readings of the configuration)');
is(scalar(grep { /ra-enc\.der$/ } @calls), 1, '... and once for the RA key');
like($calls[0] // '', qr/^127\.0\.0\.1:\d+ /, '... with server:port first, as mod_ssl calls it');
my $log = ($h->{out} // '') . ($h->{err} // '') . ($h->{dir} ? read_file("$h->{dir}/logs/error_log") : '');
unlike($log, qr/ca-secret-1|ra-secret-2/, 'no passphrase in the error_log');
private_httpd_stop($h);

########## file: one passphrase for both keys
my $ca2 = encrypt_pem(pki('ca.key'), "$dir/ca-enc2.key", 'shared-secret');
my $ra2 = encrypt_pem(pki('ra.key'), "$dir/ra-enc2.key", 'shared-secret');
my $pfile = write_file("$dir/passphrase", "shared-secret\n");
chmod 0600, $pfile;
$h = private_httpd(name => 'pass-file', conf => conf("SCEPPassPhraseDialog file:$pfile", $ca2, $ra2));
ok($h->{ok}, 'httpd starts with SCEPPassPhraseDialog file:') or diag($h->{err});
enrolls($h, 'file:') if $h->{ok};
$log = ($h->{out} // '') . ($h->{err} // '') . ($h->{dir} ? read_file("$h->{dir}/logs/error_log") : '');
unlike($log, qr/SCEP00350/, 'a passphrase file only its owner reads: no warning');
private_httpd_stop($h);
chmod 0644, $pfile;
$h = private_httpd(name => 'pass-file-open', conf => conf("SCEPPassPhraseDialog file:$pfile", $ca2, $ra2));
ok($h->{ok}, 'a passphrase file others may read still works');
# said at start-up, before httpd opens its error_log: on the console
$log = ($h->{out} // '') . ($h->{err} // '') . ($h->{dir} ? read_file("$h->{dir}/logs/error_log") : '');
like($log, qr/SCEP00350: SCEPPassPhraseDialog file:\S+ is readable by everyone/, '... with a warning');
private_httpd_stop($h);

########## what must stop httpd
my $bad = private_httpd(name => 'pass-wrong', conf => conf("SCEPPassPhraseDialog file:$pfile", $ca_key, $ra_key));
ok(!$bad->{ok}, 'a wrong passphrase: httpd does not start');
like($bad->{out} . $bad->{err}, qr/SCEPCACertificateKeyFile \S*ca-enc\.key .*cannot decrypt the private key/,
     '... naming the key and why');
private_httpd_stop($bad) if $bad->{ok};

$bad = private_httpd(name => 'pass-none', conf => conf('', $ca_key, pki('ra.key')));
ok(!$bad->{ok}, 'an encrypted key, no dialog, no terminal: httpd does not start');
like($bad->{out} . $bad->{err}, qr/no terminal to ask the passphrase on/, '... saying what to do');
private_httpd_stop($bad) if $bad->{ok};

$bad = private_httpd(name => 'pass-fail', conf => conf("SCEPPassPhraseDialog exec:/bin/false", $ca_key, pki('ra.key')));
ok(!$bad->{ok}, 'a dialog program that fails: httpd does not start');
like($bad->{out} . $bad->{err}, qr{SCEPPassPhraseDialog exec:/bin/false failed}, '... saying so');
private_httpd_stop($bad) if $bad->{ok};

done_testing();
