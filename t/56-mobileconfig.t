# Apple configuration profiles (README "Apple configuration profiles"):
# POST api/mobileconfig makes a .mobileconfig for a Location with a fresh
# one-time challenge bound to the device's names; the plist parses
# (python3 plistlib), every key has the name and type of Apple's schema
# (apple/device-management, mdm/profiles/com.apple.security.scep.yaml and
# com.apple.security.root.yaml, written down below), the CA fingerprint is
# GetCACert's CA, the CMS signature verifies with openssl cms -verify, and
# certmonger enrolls with the profile's challenge. A private httpd.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use Digest::SHA qw(sha1);
use MIME::Base64 ();
use JSON::PP ();
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLifecycle qw(admin_auth);

my $CONF = <<'EOC';
@HTTPD_BASE@
LoadModule mpm_event_module "@MODULES@/mod_mpm_event.so"
@AUTH_MODULES@
@SQLITE_DB@
@TEST_CA@
SCEPMobileconfigSigner "@PKI@/ra.pem" "@PKI@/ra.key"
<Location /mc>
    SetHandler scep
    SCEPOneTimeChallenges on
    SCEPRSAKeySize 2048 4096
    SCEPKeyUsage digitalSignature keyEncipherment
    SCEPSubjectAltName dns request
</Location>
<Location /mc-ec>
    SetHandler scep
    SCEPOneTimeChallenges on
    SCEPKeyAlgorithms ec-p256
</Location>
@ADMIN@
EOC

my $h;
END { local $?; private_httpd_stop($h) if $h && $h->{ok} }
$h = private_httpd(name => 'mobileconfig', conf => $CONF);
ok($h->{ok}, 'httpd with SCEPMobileconfigSigner starts') or diag($h->{err});
my $port = $h->{port};
my $dir = work_file('mobileconfig');
mkdir $dir;

sub api_mobileconfig {
    my ($body) = @_;
    return http(port => $port, method => 'POST', path => '/adm/api/mobileconfig',
                headers => [admin_auth('alice'), 'Content-Type' => 'application/json'],
                body => JSON::PP->new->encode($body));
}

# the plist as JSON (data as base64, types named), through python3's plistlib
sub plist_json {
    my ($file) = @_;
    my $py = <<'EOP';
import base64, json, plistlib, sys
def conv(v):
    if isinstance(v, dict): return {"type": "dict", "value": {k: conv(x) for k, x in v.items()}}
    if isinstance(v, list): return {"type": "array", "value": [conv(x) for x in v]}
    if isinstance(v, bool): return {"type": "boolean", "value": v}
    if isinstance(v, int): return {"type": "integer", "value": v}
    if isinstance(v, bytes): return {"type": "data", "value": base64.b64encode(v).decode()}
    return {"type": "string", "value": v}
with open(sys.argv[1], "rb") as f:
    print(json.dumps(conv(plistlib.load(f))))
EOP
    my $r = run_cmd(['python3', '-c', $py, $file]);
    return $r->{rc} ? undef : JSON::PP->new->decode($r->{out});
}

########## a signed profile
sub subj { my @a; while (my ($t, $v) = splice @_, 0, 2) { push @a, { type => $t, value => $v } } \@a }
my $r = api_mobileconfig({ profile => '/mc', subject => subj(CN => 'mc-device', O => 'Example'),
                           san => subj(dns => 'mc-device.example'), ttl => '2h' });
is($r->{status}, 200, 'POST api/mobileconfig answers 200') or diag($r->{body});
is($r->{headers}{'content-type'}, 'application/x-apple-aspen-config', 'as a configuration profile');
like($r->{headers}{'content-disposition'} // '', qr/attachment; filename="scep-\d+\.mobileconfig"/,
     'as a download');
write_file("$dir/signed.der", $r->{body});
my $v = run_cmd(['openssl', 'cms', '-verify', '-inform', 'DER', '-in', "$dir/signed.der",
                 '-CAfile', pki('ca.pem'), '-out', "$dir/profile.plist", '-purpose', 'any']);
is($v->{rc}, 0, 'the CMS signature verifies with openssl cms -verify') or diag($v->{err});

my $top = plist_json("$dir/profile.plist");
ok($top, 'the plist parses (plistlib)');
my %t = %{ $top->{value} || {} };

# Apple's schema, as written down from the yaml files: key => type
my %TOP = (PayloadType => 'string', PayloadVersion => 'integer', PayloadIdentifier => 'string',
           PayloadUUID => 'string', PayloadDisplayName => 'string',
           PayloadOrganization => 'string', PayloadContent => 'array');
my %COMMON = (PayloadType => 'string', PayloadVersion => 'integer', PayloadIdentifier => 'string',
              PayloadUUID => 'string', PayloadDisplayName => 'string');
my %SCEP = (URL => 'string', Name => 'string', Subject => 'array', Challenge => 'string',
            Keysize => 'integer', 'Key Type' => 'string', 'Key Usage' => 'integer',
            CAFingerprint => 'data', Retries => 'integer', RetryDelay => 'integer',
            SubjectAltName => 'dict', KeyIsExtractable => 'boolean', AllowAllAppsAccess => 'boolean');
my %SAN = (rfc822Name => 1, dNSName => 1, uniformResourceIdentifier => 1, ntPrincipalName => 1);

sub types_ok {
    my ($what, $dict, $schema) = @_;
    my @bad = grep { !exists $schema->{$_} || $dict->{$_}{type} ne $schema->{$_} } sort keys %$dict;
    is_deeply(\@bad, [], "$what: every key is in Apple's schema with its type");
}
types_ok('the profile', \%t, \%TOP);
is($t{PayloadType}{value}, 'Configuration', 'PayloadType Configuration');
like($t{PayloadUUID}{value}, qr/^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/, 'a UUID');
my @payloads = @{ $t{PayloadContent}{value} };
is(scalar @payloads, 2, 'two payloads');
my ($root) = grep { $_->{value}{PayloadType}{value} eq 'com.apple.security.root' } @payloads;
my ($scep) = grep { $_->{value}{PayloadType}{value} eq 'com.apple.security.scep' } @payloads;
ok($root && $scep, 'a root and a SCEP payload');
types_ok('the root payload', $root->{value}, { %COMMON, PayloadContent => 'data' });
my $ca_der = pem_file_der(pki('ca.pem'));
is(MIME::Base64::decode_base64($root->{value}{PayloadContent}{value}), $ca_der, 'the root payload is the CA');
types_ok('the SCEP payload', $scep->{value}, { %COMMON, PayloadContent => 'dict' });
my %s = %{ $scep->{value}{PayloadContent}{value} };
types_ok('the SCEP settings', \%s, \%SCEP);
is($s{URL}{value}, "http://127.0.0.1:$port/mc", 'URL: the Location');
is($s{Keysize}{value}, 2048, 'Keysize from SCEPRSAKeySize');
is($s{'Key Type'}{value}, 'RSA', 'Key Type RSA');
is($s{'Key Usage'}{value}, 5, 'Key Usage from SCEPKeyUsage (signing + encryption)');
is_deeply([map { [map { [map { $_->{value} } @{ $_->{value} }] } @{ $_->{value} }] } @{ $s{Subject}{value} }],
          [[['CN', 'mc-device']], [['O', 'Example']]], 'Subject as Apple writes X.500 names');
my @sans = keys %{ $s{SubjectAltName}{value} };
ok(!grep({ !$SAN{$_} } @sans), 'SubjectAltName keys from the schema');
is($s{SubjectAltName}{value}{dNSName}{value}[0]{value}, 'mc-device.example', 'the bound dNSName');
my $cacert = http(port => $port, path => '/mc?operation=GetCACert');
write_file("$dir/cacert.p7", $cacert->{body});
my @certs = pem_certs_der(run_cmd(['openssl', 'pkcs7', '-inform', 'DER', '-in', "$dir/cacert.p7",
                                   '-print_certs'])->{out});
ok(grep({ $_ eq $ca_der } @certs), 'GetCACert sends that CA');
is(unpack('H*', MIME::Base64::decode_base64($s{CAFingerprint}{value})), unpack('H*', sha1($ca_der)),
   'CAFingerprint is its SHA-1');
my $challenge = $s{Challenge}{value};
like($challenge, qr/^[0-9A-F]{32}$/, 'a fresh challenge');
my $rows = db_rows("SELECT profile, subject, san, created_by, expires_at - created_at AS ttl FROM scep_challenges", file => $h->{db});
is(scalar @$rows, 1, 'one challenge on record');
is($rows->[0]{subject}, '/CN=mc-device/O=Example', '... bound to the subject');
like($rows->[0]{san}, qr/mc-device\.example/, '... and the SAN');
is($rows->[0]{ttl}, 7200, '... valid as asked');

########## a device enrolls with it
my $cm = certmonger_enroll(url => "http://127.0.0.1:$port/mc", cn => 'mc-device', challenge => $challenge);
is($cm->{status}, 'MONITORING', 'certmonger enrolls with the profile\'s challenge') or diag($cm->{out} . $cm->{err});
my $info = $cm->{cert} && -s $cm->{cert} ? cert_info($cm->{cert}) : {};
like($info->{subject} // '', qr/O ?= ?Example/, 'the certificate carries the bound subject');
my $ext = $cm->{cert} && -s $cm->{cert}
          ? run_cmd(['openssl', 'x509', '-in', $cm->{cert}, '-noout', '-ext', 'subjectAltName'])->{out} : '';
like($ext, qr/DNS:mc-device\.example/, '... and the bound SAN');

########## what a profile cannot express
$r = api_mobileconfig({ profile => '/mc-ec', subject => subj(CN => 'x') });
is($r->{status}, 400, 'a Location without RSA keys: 400');
like($r->{body}, qr/no RSA keys/, '... saying why');
$r = api_mobileconfig({ profile => '/mc', subject => subj(CN => 'x'), san => subj(ip => '10.0.0.1') });
is($r->{status}, 400, 'an IP subjectAltName: 400');
$r = api_mobileconfig({ profile => '/mc' });
is($r->{status}, 400, 'no subject: 400');
is(db_rows("SELECT COUNT(*) AS n FROM scep_challenges", file => $h->{db})->[0]{n}, 1,
   'refused profiles made no challenge');
my $page = http(port => $port, path => '/adm/', headers => [admin_auth('alice')]);
like($page->{body}, qr/id="mobileconfig-submit"/, 'the admin page has the .mobileconfig button');
private_httpd_stop($h);

done_testing();
