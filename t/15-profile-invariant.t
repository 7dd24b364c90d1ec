# Profile invariant (issue #12): random certificate requests through every
# enrollment point of the shipped sample configuration, and not one issued
# certificate may carry anything its profile does not allow.
#
# The private httpd started here serves the <Location> sections of
# conf/mod_scep.conf.sample, read from the file at test time (so this test
# follows the sample as it changes), with the challenge files replaced by
# secrets written here and the CA, RA and database of a private instance.
# The test reads the same sections into a model of each profile, written
# from README's "Certificate profiles" (defaults included). A directive the
# model does not know, a server-level profile default, an expression in a
# value rule or a template mapped to another Location fail the first test
# loudly instead of silently testing something else.
#
# The throttle is off (SCEPChallengeThrottle is no profile setting, and
# wrong challenges are sent on purpose).
#
# For each profile, SCEP_TEST_INVARIANT_N (default 200) requests are made
# from a seed (SCEP_TEST_INVARIANT_SEED, default 1212; "random" for a new
# one; the seed is printed, and the same seed makes the same requests, keys
# aside) and sent by SCEP_TEST_INVARIANT_JOBS (default 2) processes at a
# time: a request that complies with the profile, then
# 0 to 5 random mutations: subject attributes with and without a rule, values
# matching and not matching the patterns, multi-valued RDNs, odd string
# types, long values; subjectAltNames of every type; keyUsage,
# extendedKeyUsage (anyExtendedKeyUsage, codeSigning ...), basicConstraints
# CA:TRUE/FALSE with pathlen, certificatePolicies, known and unknown
# (critical) extensions, Microsoft's template-name extension with known and
# unknown names, the extensions in Microsoft's legacy attribute, wrong and
# missing challenges, keys of types and sizes the profile does not allow,
# a broken PKCS#10 signature, a self-signed signer with another key.
# The PKCS#10 requests are built here in DER (so every string type and
# structure can be had) and signed with `openssl dgst`/`pkeyutl`; scepreq
# wraps and sends them, and decrypts the reply.
#
# Every issued certificate is decoded here (DER, no OpenSSL text) and held
# against the model: subject (only attributes with a rule, values matching,
# in rule order; exactly as asked where SCEPSubjectExcess is refuse),
# subjectAltName, key, keyUsage, extendedKeyUsage, basicConstraints,
# certificatePolicies, CRL distribution points and AIA, the template name,
# the set of extensions (what scep_ca_issue adds, nothing else, none twice),
# validity, issuer, serial, signature digest and key identifiers; and
# `openssl verify` against the CA. The model also says how the README
# answers each request (expected_answer), in the engine's order: a PKCS#10
# that does not parse (a subject value OpenSSL does not read), whose
# signature does not verify, or whose self-signed signer has another key
# gets the one answer FAILURE badMessageCheck "the message content cannot
# be decrypted and verified" ("One answer for everything inside the
# envelope"); a request over a SCEPRequestLimit, or one that could be read
# two ways (two lists of requested extensions, an extension twice, a list
# that does not parse, two challengePasswords), is refused for that; then
# an empty subject, an unmapped template, a wrong or missing challenge, a
# key not allowed, CA:TRUE, and what the profile refuses (excess where
# SCEPSubjectExcess/SCEPSubjectAltNameExcess is refuse, a value the
# attribute cannot hold, a subject the profile leaves empty). Every other
# FAILURE must be badRequest; nothing refused may be issued, and every
# refusal must be one the model expects, with its text. Each profile must
# have issued and refused at least 10% (else the generator does not
# exercise it). Violations are listed with the request (its mutations, its
# CSR and certificate in t/logs/work/15-profile-invariant/); the refusal
# reasons are printed with -verbose.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);
use Digest::SHA qw(sha1);
use Encode ();
use Storable ();
use Socket qw(inet_ntop AF_INET AF_INET6);
use Time::HiRes ();
use Time::Local qw(timegm);

my $T_START = Time::HiRes::time();
my $SEED = $ENV{SCEP_TEST_INVARIANT_SEED} // 1212;
$SEED = (time ^ ($$ << 8)) & 0x7fffffff if $SEED eq 'random';
die "SCEP_TEST_INVARIANT_SEED must be a number or 'random'\n" unless $SEED =~ /^\d+\z/;
my $N = $ENV{SCEP_TEST_INVARIANT_N} // 200;
die "SCEP_TEST_INVARIANT_N must be a positive number\n" unless $N =~ /^[1-9]\d*\z/;
# requests in flight: the client side (three OpenSSL processes a request) is
# most of the work
my $JOBS = $ENV{SCEP_TEST_INVARIANT_JOBS} // 2;
die "SCEP_TEST_INVARIANT_JOBS must be a positive number\n" unless $JOBS =~ /^[1-9]\d*\z/;
my $PER_PROFILE = 22;    # assertions per profile (see check_profile)
my $W = work_dir();

######################################################################
# DER: building and reading

sub der_len {
    my $l = shift;
    return chr($l) if $l < 0x80;
    my $b = '';
    while ($l) { $b = chr($l & 0xff) . $b; $l >>= 8 }
    return chr(0x80 | length $b) . $b;
}
sub tlv { my ($tag, $c) = @_; $c //= ''; return chr($tag) . der_len(length $c) . $c }
sub d_seq { return tlv(0x30, join '', @_) }
sub d_set { return tlv(0x31, join '', sort @_) }    # DER: SET OF sorted
sub d_null { return "\x05\x00" }
sub d_bool { return tlv(0x01, $_[0] ? "\xff" : "\x00") }
sub d_octet { return tlv(0x04, $_[0]) }
sub d_int {
    my $n = shift;
    my $b = '';
    do { $b = chr($n & 0xff) . $b; $n >>= 8 } while $n;
    $b = "\0$b" if ord($b) & 0x80;
    return tlv(0x02, $b);
}
sub oid_body {
    my @a = split /\./, shift;
    my $b = '';
    for my $n (40 * $a[0] + $a[1], @a[2 .. $#a]) {
        my $v = $n;
        my $s = chr($v & 0x7f);
        $v >>= 7;
        while ($v) { $s = chr(0x80 | ($v & 0x7f)) . $s; $v >>= 7 }
        $b .= $s;
    }
    return $b;
}
sub d_oid { return tlv(0x06, oid_body(shift)) }
# keyUsage bit positions (0 digitalSignature ... 8 decipherOnly) -> DER BIT STRING
sub d_ku {
    my @bytes = (0, 0);
    my $max = -1;
    for my $bit (@_) {
        $bytes[$bit >> 3] |= 0x80 >> ($bit & 7);
        $max = $bit if $bit > $max;
    }
    return tlv(0x03, "\0") if $max < 0;
    return tlv(0x03, chr(7 - ($max & 7)) . pack('C*', @bytes[0 .. $max >> 3]));
}

# -> list of { tag, content, raw }
sub der_items {
    my $buf = shift // '';
    my @out;
    my ($p, $n) = (0, length $buf);
    while ($p < $n) {
        die "DER: truncated\n" if $p + 2 > $n;
        my $tag = ord substr($buf, $p, 1);
        die "DER: high tag number\n" if ($tag & 0x1f) == 0x1f;
        my $l = ord substr($buf, $p + 1, 1);
        my $h = 2;
        if ($l & 0x80) {
            my $k = $l & 0x7f;
            die "DER: bad length\n" if $k == 0 || $k > 4 || $p + 2 + $k > $n;
            $l = 0;
            $l = ($l << 8) | ord substr($buf, $p + 2 + $_, 1) for 0 .. $k - 1;
            $h += $k;
        }
        die "DER: truncated\n" if $p + $h + $l > $n;
        push @out, { tag => $tag, content => substr($buf, $p + $h, $l), raw => substr($buf, $p, $h + $l) };
        $p += $h + $l;
    }
    return @out;
}
sub der_one {
    my @i = der_items(shift);
    die "DER: expected one element, found " . scalar(@i) . "\n" unless @i == 1;
    return $i[0];
}
sub oid_text {
    my @n;
    my $v = 0;
    for my $b (unpack 'C*', shift) {
        $v = ($v << 7) | ($b & 0x7f);
        next if $b & 0x80;
        push @n, $v;
        $v = 0;
    }
    my $f = shift(@n) // 0;
    return join '.', ($f < 40 ? (0, $f) : $f < 80 ? (1, $f - 40) : (2, $f - 80)), @n;
}
sub der_time {
    my $i = shift;
    my ($y, $mo, $d, $h, $mi, $s);
    if ($i->{tag} == 0x17) {
        ($y, $mo, $d, $h, $mi, $s) = $i->{content} =~ /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z\z/
            or die "bad UTCTime\n";
        $y += $y < 50 ? 2000 : 1900;
    }
    elsif ($i->{tag} == 0x18) {
        ($y, $mo, $d, $h, $mi, $s) = $i->{content} =~ /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z\z/
            or die "bad GeneralizedTime\n";
    }
    else { die "not a time\n" }
    return timegm($s, $mi, $h, $d, $mo - 1, $y);
}

# A directory string as OpenSSL turns it into UTF-8 (ASN1_STRING_to_UTF8),
# and as mod_scep then uses it: undef where that fails or the text holds a
# NUL byte. 1-byte types are Latin-1 to OpenSSL.
my %LATIN1_TAG = map { $_ => 1 } 0x12, 0x13, 0x14, 0x16, 0x1a;
sub str_text {
    my ($tag, $b) = @_;
    my $t;
    if ($tag == 0x0c) {
        my $copy = $b;
        $t = eval { Encode::decode('UTF-8', $copy, Encode::FB_CROAK); 1 } ? $b : undef;
    }
    elsif ($LATIN1_TAG{$tag}) {
        $t = Encode::encode('UTF-8', Encode::decode('latin1', $b));
    }
    elsif ($tag == 0x1e && length($b) % 2 == 0) {
        $t = Encode::encode('UTF-8', Encode::decode('UCS-2BE', $b));
    }
    elsif ($tag == 0x1c && length($b) % 4 == 0) {
        $t = Encode::encode('UTF-8', Encode::decode('UTF-32BE', $b));
    }
    return defined $t && $t !~ /\0/ ? $t : undef;
}
sub printable { my $s = shift // '(undecodable)'; $s =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge; return $s }

# Whether OpenSSL reads a subject attribute value at all: X509_NAME's values
# are its DirectoryString (ASN1_PRINTABLE: no VisibleString, OCTET STRING or
# INTEGER), converted to UTF-8 as they are read (a UTF8String must be UTF-8,
# a BMPString and a UniversalString whole characters). One value it cannot
# read makes the whole PKCS#10 unreadable. Only the tags this test sends.
sub value_readable {
    my ($tag, $b) = @_;
    return eval { Encode::decode('UTF-8', my $copy = $b, Encode::FB_CROAK); 1 } ? 1 : 0 if $tag == 0x0c;
    return 1 if $tag == 0x12 || $tag == 0x13 || $tag == 0x14 || $tag == 0x16;
    return length($b) % 2 || grep({ $_ >= 0xd800 && $_ <= 0xdfff } unpack 'n*', $b) ? 0 : 1 if $tag == 0x1e;
    return length($b) % 4 || grep({ $_ > 0x10ffff || $_ >= 0xd800 && $_ <= 0xdfff } unpack 'N*', $b) ? 0 : 1
        if $tag == 0x1c;
    return 0 if $tag == 0x1a || $tag == 0x04 || $tag == 0x02;
    die sprintf("value_readable: tag %#x is not modelled\n", $tag);
}

######################################################################
# names and numbers (README "Certificate profiles"; RFC 5280)

my %ATTR = (
    CN => '2.5.4.3', O => '2.5.4.10', OU => '2.5.4.11', C => '2.5.4.6', L => '2.5.4.7',
    ST => '2.5.4.8', street => '2.5.4.9', emailAddress => '1.2.840.113549.1.9.1',
    serialNumber => '2.5.4.5', DC => '0.9.2342.19200300.100.1.25',
    UID => '0.9.2342.19200300.100.1.1', title => '2.5.4.12', GN => '2.5.4.42',
    SN => '2.5.4.4', initials => '2.5.4.43', pseudonym => '2.5.4.65',
    description => '2.5.4.13', postalCode => '2.5.4.17',
    unstructuredName => '1.2.840.113549.1.9.2', unstructuredAddress => '1.2.840.113549.1.9.8',
);
my %ATTR_LC = map { lc($_) => $_ } keys %ATTR;
my %ATTR_NAME = reverse %ATTR;
my @ATTR_NAMES = sort keys %ATTR;
# attributes no SCEPSubject can name
my @UNKNOWN_ATTR = ('2.5.4.97', '2.5.4.15', '2.5.4.46', '2.5.4.44', '1.3.6.1.4.1.311.60.2.1.3',
                    '1.3.6.1.4.1.99999.7.1');
sub attr_name { my $o = shift; return $ATTR_NAME{$o} // $o }

# What an attribute of the issued subject can hold (README SCEPSubjectExcess:
# "a requested value the attribute cannot hold (a CN over 64 characters)"):
# OpenSSL 3's string table, which X509_NAME_add_entry_by_NID applies to
# mod_scep's UTF-8 values: [fewest, most characters (0: no bound), character
# set]. An attribute without an entry there holds any UTF-8, even an empty
# one. (Checked against OpenSSL 3.0 for every attribute with texts like
# those below: lengths at each bound, PrintableString's and IA5's sets.)
my %HOLDS = (
    CN => [1, 64, 'utf8'], O => [1, 64, 'utf8'], OU => [1, 64, 'utf8'], C => [2, 2, 'printable'],
    L => [1, 128, 'utf8'], ST => [1, 128, 'utf8'], emailAddress => [1, 128, 'ia5'],
    serialNumber => [1, 64, 'printable'], DC => [1, 0, 'ia5'], GN => [1, 32768, 'utf8'],
    SN => [1, 32768, 'utf8'], initials => [1, 32768, 'utf8'], unstructuredName => [1, 0, 'utf8'],
    unstructuredAddress => [1, 0, 'utf8'],
);
sub attr_holds {    # (OID, UTF-8 text) -> can the attribute hold it
    my ($oid, $text) = @_;
    return 0 unless defined $text;
    my ($min, $max, $set) = @{ $HOLDS{ attr_name($oid) } // [0, 0, 'utf8'] };
    my $n = length Encode::decode('UTF-8', my $copy = $text);
    return 0 if $n < $min || $max && $n > $max;
    return $text =~ m{[^A-Za-z0-9 '()+,\-./:=?]} ? 0 : 1 if $set eq 'printable';
    return $text =~ /[^\x00-\x7f]/ ? 0 : 1 if $set eq 'ia5';
    return 1;
}

my @KU_NAMES = qw(digitalSignature nonRepudiation keyEncipherment dataEncipherment
                  keyAgreement keyCertSign cRLSign encipherOnly decipherOnly);
my %KU_BIT = map { $KU_NAMES[$_] => $_ } 0 .. $#KU_NAMES;
$KU_BIT{contentCommitment} = 1;
my %KU_LC = map { lc($_) => $KU_BIT{$_} } keys %KU_BIT;

my %EKU = (
    serverAuth => '1.3.6.1.5.5.7.3.1', clientAuth => '1.3.6.1.5.5.7.3.2',
    codeSigning => '1.3.6.1.5.5.7.3.3', emailProtection => '1.3.6.1.5.5.7.3.4',
    timeStamping => '1.3.6.1.5.5.7.3.8', OCSPSigning => '1.3.6.1.5.5.7.3.9',
    ipsecIKE => '1.3.6.1.5.5.7.3.17', msSmartcardLogin => '1.3.6.1.4.1.311.20.2.2',
);
my %EKU_NAME = reverse %EKU;
my @EKU_REQUEST = (sort(values %EKU), '2.5.29.37.0', '1.3.6.1.5.5.7.3.5', '1.3.6.1.5.5.7.3.7',
                   '1.3.6.1.4.1.311.10.3.4', '1.3.6.1.4.1.99999.3.1');
sub eku_name { my $o = shift; return $EKU_NAME{$o} // ($o eq '2.5.29.37.0' ? 'anyExtendedKeyUsage' : $o) }

my %TYPE_EKU = (client => ['clientAuth'], server => ['serverAuth'],
                'client+server' => ['serverAuth', 'clientAuth'],
                email => ['emailProtection'], ipsec => ['ipsecIKE']);

my $OID_EXTREQ = '1.2.840.113549.1.9.14';
my $OID_MSEXTREQ = '1.3.6.1.4.1.311.2.1.14';
my $OID_CHALLENGE = '1.2.840.113549.1.9.7';
my $OID_TEMPLATE = '1.3.6.1.4.1.311.20.2';
my $OID_UPN = '1.3.6.1.4.1.311.20.2.3';
# README "What the service answers": the one answer to every failure from
# decrypting the envelope up to proving the request's key (failInfo
# badMessageCheck, 1)
my $SEALED = 'the message content cannot be decrypted and verified';
my %EXT = (bc => '2.5.29.19', ski => '2.5.29.14', aki => '2.5.29.35', ku => '2.5.29.15',
           eku => '2.5.29.37', san => '2.5.29.17', cp => '2.5.29.32', cdp => '2.5.29.31',
           aia => '1.3.6.1.5.5.7.1.1', tmpl => $OID_TEMPLATE);
# what scep_ca_issue() puts in a certificate: nothing else may be there
my %CA_ADDS = map { $_ => 1 } values %EXT;
my %EXT_NAME = reverse %EXT;
my %SAN_TYPE = (dns => 'dns', dnsname => 'dns', email => 'email', rfc822name => 'email',
                uri => 'uri', uniformresourceidentifier => 'uri', ip => 'ip', ipaddress => 'ip',
                upn => 'upn');

######################################################################
# the sample's <Location>s, and a model of each profile

# httpd's word splitting (ap_getword_conf): quotes removed, \" inside kept as "
sub conf_words {
    my $s = shift;
    my @w;
    while (1) {
        $s =~ s/^\s+//;
        last if $s eq '';
        if ($s =~ s/^(["'])((?:\\.|(?!\1).)*)\1//s) {
            my ($q, $v) = ($1, $2);
            $v =~ s/\\\Q$q\E/$q/g;
            push @w, $v;
        }
        else {
            $s =~ s/^(\S+)//;
            push @w, $1;
        }
    }
    return @w;
}

sub duration {
    my $v = shift // '';
    my ($n, $u) = $v =~ /^(\d+)([smhd]?)\z/ or return undef;
    return $n * { s => 1, m => 60, h => 3600, d => 86400, '' => 86400 }->{$u};
}

# A POSIX extended regular expression (regcomp REG_EXTENDED, C locale) as a
# Perl one on bytes: ^ and $ only at the ends, '.' matches a newline, a
# backslash inside brackets is literal. Backslash-letter escapes are GNU
# extensions the model does not follow: refused.
sub ere {
    my $re = shift;
    my @c = split //, $re;
    my $out = '';
    my $i = 0;
    while ($i < @c) {
        my $ch = $c[$i];
        if ($ch eq '\\') {
            my $n = $c[$i + 1] // die "pattern '$re' ends in a backslash\n";
            die "pattern '$re': \\$n is not modelled\n" if $n =~ /[A-Za-z0-9]/;
            $out .= quotemeta $n;
            $i += 2;
        }
        elsif ($ch eq '[') {
            my $j = $i + 1;
            $j++ if ($c[$j] // '') eq '^';
            $j++ if ($c[$j] // '') eq ']';
            while ($j < @c && $c[$j] ne ']') {
                if ($c[$j] eq '[' && ($c[$j + 1] // '') =~ /^[:.=]\z/) {
                    my $t = $c[$j + 1];
                    $j += 2;
                    $j++ while $j < @c && !($c[$j] eq $t && ($c[$j + 1] // '') eq ']');
                    $j += 2;
                    next;
                }
                $j++;
            }
            die "pattern '$re': unterminated bracket\n" if $j >= @c;
            (my $body = join '', @c[$i + 1 .. $j - 1]) =~ s/\\/\\\\/g;
            $out .= "[$body]";
            $i = $j + 1;
        }
        elsif ($ch eq '^') { $out .= '\A'; $i++ }
        elsif ($ch eq '$') { $out .= '\z'; $i++ }
        else { $out .= $ch; $i++ }
    }
    my $rx = eval { qr/$out/s } or die "pattern '$re' -> /$out/: $@";
    return $rx;
}

# the literal text a simple pattern asks for: ("^"?, text, "$"?); a host
# part before it ("^[a-z0-9-]+\.wifi\.example\.com$") is taken as an
# unanchored start: the texts made from it put a host there
sub pattern_literal {
    my $re = shift // return;
    my $lit = qr/(?:\\[^A-Za-z0-9]|[^\\^\$.\[\]()*+?{}|])/;
    my ($s, $body, $e) = $re =~ /^(\^?)($lit*)(\$?)\z/;
    ($s, $body, $e) = ('', $1, $2) if !defined $s && $re =~ /^\^\[[^\]\[]+\][+*]($lit+)(\$?)\z/;
    return unless defined $s;
    $body =~ s/\\(.)/$1/g;
    return ($s, $body, $e);
}

sub new_profile {
    my ($path, $line) = @_;
    return {
        path => $path, name => $path, line => $line,
        subject => [{ attr => 'CN', oid => $ATTR{CN}, source => 'request' }],
        subject_set => 0, subject_excess => 'drop', san => [], san_excess => 'drop',
        algs => { rsa => 1, 'ec-p256' => 1, 'ec-p384' => 1 }, rsa_min => 2048, rsa_max => 8192,
        validity => 365 * 86400, backdate => 300, cap => 1, digest => 'sha256',
        type => 'client', ku => undef, eku => undef, honour => {},
        policies => [], crl => [], ocsp => [], caissuers => [],
        templates => {}, include_template => 0, secret_file => undef, secret => undef,
        # README SCEPRequestLimit, defaults
        limits => { attributes => 16, extensions => 32, 'subject-attributes' => 16,
                    'subject-length' => 1024, 'subject-alt-names' => 64 },
    };
}

# -> (\@profiles, \@errors)
sub parse_sample {
    my $text = shift;
    my (@profiles, @errors, $p);
    my $ln = 0;
    my $err = sub { push @errors, "conf/mod_scep.conf.sample line $ln: $_[0]" };
    for my $line (split /\n/, $text) {
        $ln++;
        next if $line =~ /^\s*(?:#|\z)/;
        if ($line =~ /^\s*<Location\s+("?)([^">\s]+)\1\s*>\s*\z/i) {
            $err->('nested <Location>') if $p;
            $p = new_profile($2, $ln);
            next;
        }
        if ($line =~ m{^\s*</Location>\s*\z}i) {
            push @profiles, $p if $p;
            undef $p;
            next;
        }
        my @w = conf_words($line);
        my $d = shift @w;
        if (!$p) {
            $err->("<$1> sections are not modelled") if $d =~ /^<\s*(\w*Match\w*|Directory\w*|Files\w*|If\w*)/i;
            $err->("$d outside a <Location>: a server-level profile setting is not modelled")
                if $d =~ /^SCEP/i
                   && $d !~ /^SCEP(?:CA|RA)(?:CertificateFile|CertificateKeyFile)\z|^SCEPCAChainFile\z/i;
            next;
        }
        my $D = lc $d;
        my $v = $w[0];
        if ($D eq 'sethandler') { $p->{handler} = $v }
        elsif ($D eq 'scepchallengepasswordfile') { $p->{secret_file} = $v }
        elsif ($D eq 'scepchallengepassword') { $p->{secret} = $v }
        elsif ($D eq 'scepprofilename') { $p->{name} = $v }
        elsif ($D eq 'sceplegacyalgorithms' || $D eq 'scepmaxrequestbody') { }
        elsif ($D eq 'scepapproval') { $err->("SCEPApproval $v is not modelled") if lc($v // '') ne 'auto' }
        elsif ($D eq 'scepsubject' || $D eq 'scepsubjectaltname') {
            my ($what, $source, $arg) = @w;
            my $r = { source => lc($source // '') };
            if ($D eq 'scepsubject') {
                my $a = $ATTR_LC{ lc($what // '') } or do { $err->("SCEPSubject: unknown attribute $what"); next };
                @$r{qw(attr oid)} = ($a, $ATTR{$a});
            }
            else {
                my $t = $SAN_TYPE{ lc($what // '') } or do { $err->("SCEPSubjectAltName: unknown type $what"); next };
                $r->{type} = $t;
            }
            if ($r->{source} eq 'request') {
                if (defined $arg) {
                    $r->{pattern} = $arg;
                    $r->{rx} = eval { ere($arg) } or do { $err->("$d: $@"); next };
                }
            }
            elsif ($r->{source} eq 'value') {
                # a literal: an expression (%{...}) or an escape is not modelled
                if (!defined $arg || $arg =~ /[%\\]/) {
                    $err->("$d value '" . ($arg // '') . "': only literals are modelled");
                    next;
                }
                $r->{value} = $arg;
            }
            else { $err->("$d: source $source"); next }
            if ($D eq 'scepsubject') {
                $p->{subject} = [] unless $p->{subject_set}++;
                push @{ $p->{subject} }, $r;
            }
            else { push @{ $p->{san} }, $r }
        }
        elsif ($D eq 'scepsubjectexcess') { $p->{subject_excess} = lc $v }
        elsif ($D eq 'scepsubjectaltnameexcess') { $p->{san_excess} = lc $v }
        elsif ($D eq 'scepkeyalgorithms') {
            $p->{algs} = {};
            for (@w) { /^(?:rsa|ec-p256|ec-p384)\z/i ? ($p->{algs}{ lc $_ } = 1) : $err->("SCEPKeyAlgorithms $_") }
        }
        elsif ($D eq 'sceprsakeysize') { $p->{rsa_min} = $w[0]; $p->{rsa_max} = $w[1] // 8192 }
        elsif ($D eq 'scepvalidity') { $p->{validity} = duration($v) // do { $err->("SCEPValidity $v"); 0 } }
        elsif ($D eq 'scepvaliditybackdate') {
            $p->{backdate} = $v eq '0' ? 0 : duration($v) // do { $err->("SCEPValidityBackdate $v"); 0 };
        }
        elsif ($D eq 'scepvaliditycapatca') { $p->{cap} = lc($v) eq 'on' ? 1 : 0 }
        elsif ($D eq 'scepsignaturedigest') { ($p->{digest} = lc $v) =~ s/-//g }
        elsif ($D eq 'scepcertificatetype') {
            $TYPE_EKU{ lc $v } or $err->("SCEPCertificateType $v");
            $p->{type} = lc $v;
        }
        elsif ($D eq 'scepkeyusage') {
            $p->{ku} = [];
            for (@w) { defined $KU_LC{ lc $_ } ? push(@{ $p->{ku} }, $KU_LC{ lc $_ }) : $err->("SCEPKeyUsage $_") }
        }
        elsif ($D eq 'scepextendedkeyusage') {
            $p->{eku} = [];
            for (@w) {
                my $o = $EKU{$_} // (/^\d+(?:\.\d+)+\z/ ? $_ : undef);
                defined $o ? push(@{ $p->{eku} }, $o) : $err->("SCEPExtendedKeyUsage $_");
            }
        }
        elsif ($D eq 'sceprequestedextensions') {
            $p->{honour} = {};
            for (@w) {
                if (/^(?:keyUsage|extendedKeyUsage)\z/i) { $p->{honour}{ lc $_ } = 1 }
                elsif (lc($_) ne 'none') { $err->("SCEPRequestedExtensions $_") }
            }
        }
        elsif ($D eq 'scepcertificatepolicies') {
            $p->{policies} = [];
            for (@w) {
                /^\d+(?:\.\d+)+\z/ ? push(@{ $p->{policies} }, $_)
                                   : $err->("SCEPCertificatePolicies $_: only dotted OIDs are modelled");
            }
        }
        elsif ($D eq 'scepcrldistributionpoint') { push @{ $p->{crl} }, @w }
        elsif ($D eq 'scepocspresponder') { push @{ $p->{ocsp} }, @w }
        elsif ($D eq 'scepcaissuersurl') { push @{ $p->{caissuers} }, @w }
        elsif ($D eq 'sceptemplate') { $p->{templates}{$v} = $w[1] // '' }
        elsif ($D eq 'scepincludetemplatename') { $p->{include_template} = lc($v) eq 'on' ? 1 : 0 }
        elsif ($D eq 'sceprequestlimit') {
            my ($what, $n) = (lc($w[0] // ''), $w[1] // '');
            exists $p->{limits}{$what} && $n =~ /^[1-9]\d*\z/ && @w == 2
                ? ($p->{limits}{$what} = $n) : $err->("SCEPRequestLimit @w");
        }
        else { $err->("$d is not modelled by this test: teach it what the directive allows") }
    }
    for my $p (@profiles) {
        my $at = "<Location $p->{path}> (line $p->{line})";
        push @errors, "$at: SetHandler scep expected" unless ($p->{handler} // '') eq 'scep';
        push @errors, "$at: no static challenge (the test enrolls with one)"
            unless defined $p->{secret_file} || defined $p->{secret};
        for my $t (sort keys %{ $p->{templates} }) {
            my $target = $p->{templates}{$t};
            push @errors, "$at: SCEPTemplate $t $target selects another profile: not modelled "
                          . '(which challenge applies, which profile checks the certificate)'
                if $target ne '' && $target ne $p->{name};
        }
        push @errors, "$at: excess mode" for grep { !/^(?:drop|refuse)\z/ } $p->{subject_excess}, $p->{san_excess};
    }
    return (\@profiles, \@errors);
}

# keyUsage bit positions the profile gives a key type (README SCEPCertificateType, SCEPKeyUsage)
sub profile_ku {
    my ($p, $is_rsa) = @_;
    my @ku;
    if ($p->{ku}) { @ku = @{ $p->{ku} } }
    else {
        @ku = ($KU_BIT{digitalSignature}, $KU_BIT{keyEncipherment});
        push @ku, $KU_BIT{nonRepudiation} if $p->{type} eq 'email';
        push @ku, $KU_BIT{keyAgreement} if $p->{type} eq 'email' && !$is_rsa;
    }
    # keyEncipherment and dataEncipherment are only put on certificates for RSA keys
    @ku = grep { $_ != $KU_BIT{keyEncipherment} && $_ != $KU_BIT{dataEncipherment} } @ku unless $is_rsa;
    return { map { $_ => 1 } @ku };
}
sub profile_eku {
    my $p = shift;
    return $p->{eku} ? [@{ $p->{eku} }] : [map { $EKU{$_} } @{ $TYPE_EKU{ $p->{type} } }];
}

######################################################################
# keys: a few made up front, in parallel

my %KEY;
my @KEY_DEF = (
    [rsa2048a => 'genrsa', '2048'], [rsa2048b => 'genrsa', '2048'],
    [rsa3072 => 'genrsa', '-primes', '3', '3072'], [rsa4096 => 'genrsa', '-primes', '3', '4096'],
    [rsa4160 => 'genrsa', '-primes', '3', '4160'], [rsa1024 => 'genrsa', '1024'],
    [p256 => 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
    # P-256 with explicit curve parameters in the SubjectPublicKeyInfo (RFC 5480: MUST NOT)
    [p256x => 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
              '-pkeyopt', 'ec_param_enc:explicit'],
    [p384 => 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
    [p521 => 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'],
    [ed25519 => 'genpkey', '-algorithm', 'ED25519'],
    [signer => 'genrsa', '2048'],
);
my @KEY_NAMES = grep { $_ ne 'signer' } map { $_->[0] } @KEY_DEF;

sub make_keys {
    my @files = map { "$W/key-$_->[0].pem" } @KEY_DEF;
    my @made = run_cmds(map { my ($name, @cmd) = @{ $KEY_DEF[$_] };
                              ['openssl', $cmd[0], '-out', $files[$_], @cmd[1 .. $#cmd]] } 0 .. $#KEY_DEF);
    my @bad;
    for my $i (0 .. $#KEY_DEF) {
        my ($name, $f) = ($KEY_DEF[$i][0], $files[$i]);
        if ($made[$i]{rc} || !-s $f) { push @bad, "$name: $made[$i]{err}"; next }
        my $r = run_cmd(['openssl', 'pkey', '-in', $f, '-pubout', '-outform', 'DER']);
        if ($r->{rc}) { push @bad, "$name: $r->{err}"; next }
        $KEY{$name} = { name => $name, file => $f, spki => $r->{out}, facts => spki_facts($r->{out}) };
    }
    return @bad;
}

# what a SubjectPublicKeyInfo is: { type (rsa, ec-p256, ec-p384, ec-explicit,
#   ec-<curve OID>, other-<OID>), size, bits (the key bits) }
sub spki_facts {
    my $raw = shift;
    my ($alg, $bits) = der_items(der_one($raw)->{content});
    my @a = der_items($alg->{content});
    my $oid = oid_text($a[0]{content});
    my %k = (oid => $oid, bits => substr($bits->{content}, 1), type => "other-$oid", size => 0);
    if ($oid eq '1.2.840.113549.1.1.1') {
        my ($n) = der_items(der_one($k{bits})->{content});
        (my $m = $n->{content}) =~ s/^\0+//;
        my ($top, $tb) = (ord $m, 0);
        $tb++, $top >>= 1 while $top;
        $k{size} = 8 * (length($m) - 1) + $tb;
        # the parameters of rsaEncryption are NULL (RFC 3279)
        $k{type} = @a == 2 && $a[1]{raw} eq d_null() ? 'rsa' : 'rsa-params';
    }
    elsif ($oid eq '1.2.840.10045.2.1') {
        if ($a[1] && $a[1]{tag} == 0x06) {
            my $c = oid_text($a[1]{content});
            $k{type} = $c eq '1.2.840.10045.3.1.7' ? 'ec-p256' : $c eq '1.3.132.0.34' ? 'ec-p384' : "ec-$c";
        }
        else { $k{type} = 'ec-explicit' }
    }
    return \%k;
}

sub key_allowed {
    my ($p, $k) = @_;
    return $p->{algs}{rsa} && $k->{size} >= $p->{rsa_min} && $k->{size} <= $p->{rsa_max}
        if $k->{type} eq 'rsa';
    return $p->{algs}{ $k->{type} } ? 1 : 0 if $k->{type} =~ /^ec-p(?:256|384)\z/;
    return 0;
}
sub key_text { my $k = shift; return $k->{type} eq 'rsa' ? "RSA $k->{size}" : $k->{type} }

######################################################################
# request generation: a request that complies with the profile, then
# random mutations. Everything random comes from rand() after srand($SEED),
# in a fixed order (no hash order), so a seed makes the same requests.

sub pick { return $_[int rand @_] }
sub chance { return rand() < $_[0] }
sub pick_weighted {    # ([weight, value], ...)
    my $total = 0;
    $total += $_->[0] for @_;
    my $x = rand() * $total;
    for (@_) { return $_->[1] if ($x -= $_->[0]) < 0 }
    return $_[-1][1];
}

my @TEXTS_PLAIN = ('dev1', 'laptop-7', 'printer-42', 'gw-01', 'x1-y2-z3', 'a');
my @TEXTS = (@TEXTS_PLAIN, '0', 'Laptop-7', 'laptop_7', 'laptop 7', "laptop-7\n", 'laptop-7.', '-', '',
             'a,O=Root', 'a+CN=b', 'CN=admin', '*', '*.wifi.example.com', 'dev1.wifi.example.com',
             'Example Corp', 'Evil Inc', 'FR', 'USA', "lapt\xc3\xb6p", "\xe6\x97\xa5\xe6\x9c\xac",
             "lap\0top", "\xe2\x80\xaeevil", 'a' x 63, 'b' x 64, 'c' x 65, 'd' x 200, 'ADMIN',
             'root@evil.example.org', '12345', "tab\there", ' dev1', 'dev1 ');

# texts for a rule: the pattern's own literal first, when it has one
sub rule_texts {
    my ($r, $plain) = @_;
    my @t = $plain ? @TEXTS_PLAIN : @TEXTS;
    if (my ($s, $lit, $e) = pattern_literal($r->{pattern})) {
        push @t, $s && $e ? ($lit) : $e ? ("dev1$lit", "x.y$lit", "a-b$lit") : $s ? ("${lit}dev1") : ("a${lit}b");
        push @t, "*$lit", "evil.org/$lit", ('q' x 240) . $lit, uc("dev1$lit"), "dev1$lit.evil.org",
                 substr($lit, 1), "dev1$lit\n", "dev1\0$lit" unless $plain;
    }
    return @t;
}
sub text_matches { my ($r, $t) = @_; return defined $t && (!$r->{rx} || $t =~ $r->{rx}) }

# (text, kind) -> [tag, bytes]
sub enc_text {
    my ($t, $kind) = @_;
    my $u = Encode::decode('UTF-8', my $copy = $t);
    my $max = 0;
    for (map { ord } split //, $u) { $max = $_ if $_ > $max }
    return [0x0c, $t] if $kind eq 'utf8';
    my %l1 = (printable => 0x13, ia5 => 0x16, t61 => 0x14, visible => 0x1a, numeric => 0x12);
    return $max <= 0xff ? [$l1{$kind}, Encode::encode('latin1', $u)] : [0x0c, $t] if $l1{$kind};
    return $max <= 0xffff && $max < 0xd800 ? [0x1e, Encode::encode('UCS-2BE', $u)] : [0x0c, $t] if $kind eq 'bmp';
    return [0x1c, Encode::encode('UTF-32BE', $u)] if $kind eq 'universal';
    return [0x0c, $t . "\xc3"] if $kind eq 'bad-utf8';
    return [0x1e, Encode::encode('UCS-2BE', $u) . "\0"] if $kind eq 'bmp-odd';
    return [0x04, $t] if $kind eq 'octet';
    return [0x02, "\x01"] if $kind eq 'integer';
    die "kind $kind";
}
sub random_kind {
    return pick_weighted([40, 'utf8'], [12, 'printable'], [8, 'ia5'], [6, 't61'], [10, 'bmp'],
                         [4, 'universal'], [4, 'visible'], [2, 'numeric'], [3, 'bad-utf8'],
                         [3, 'bmp-odd'], [2, 'octet'], [2, 'integer']);
}
sub atv { my ($oid, $t, $kind) = @_; return [$oid, @{ enc_text($t, $kind // 'utf8') }] }

# subjectAltNames, as DER GeneralNames
sub gn_upn { my ($v, $inner) = @_; return tlv(0xa0, d_oid($OID_UPN) . tlv(0xa0, tlv($inner // 0x0c, $v))) }
my @IPS = ("\x0a\x01\x02\x03", "\xc0\xa8\x01\x01", "\x7f\0\0\x01", "\0\0\0\0",
           "\x20\x01\x0d\xb8" . ("\0" x 11) . "\x01", ("\0" x 15) . "\x01",
           ("\0" x 10) . "\xff\xff\x0a\x01\x02\x03", "\x0a\x01\x02\x03\x04", "\x0a\0\0\0\xff\0\0\0", '');
my %SAN_POOL = (
    dns => ['dev1.example.com', 'evil.example.org', 'localhost', 'xn--bcher-kva.example', '*.example.com',
            "dev1.example.com\0.evil.org", 'DEV1.EXAMPLE.COM', '', ('a' x 300) . '.example.com',
            'host name.example.com', '1.2.3.4', "caf\xe9.example.com"],
    email => ['user@example.com', 'admin@evil.example.org', '<a@b>', 'dev1@wifi.example.com'],
    uri => ['http://evil.example.org/', 'https://pki.example.com/ca.crl',
            'tag:microsoft.com,2022-09-14:sid:S-1-5-21-1-2-3-1001',
            'urn:uuid:0b5e5e3a-4b46-4d5a-9f0f-1a2b3c4d5e6f', 'ldap://evil/', 'file:///etc/passwd', ''],
    upn => ['admin@corp.example.com', 'dev1@wifi.example.com', 'administrator@example.com'],
);
my %GN_TAG = (dns => 0x82, email => 0x81, uri => 0x86);
sub gn_make {
    my ($type, $v) = @_;
    return tlv(0x87, $v) if $type eq 'ip';
    return gn_upn($v) if $type eq 'upn';
    return tlv($GN_TAG{$type}, $v);
}
# names of a type: for rules, the pattern's literal with a few hosts around it
sub san_candidates {
    my ($type, $r) = @_;
    return @IPS if $type eq 'ip';
    my @v = @{ $SAN_POOL{$type} };
    if ($r && (my ($s, $lit, $e) = pattern_literal($r->{pattern}))) {
        (my $bare = $lit) =~ s/^\.//;
        push @v, $s && $e ? ($lit) : $e ? ("dev1$lit", "a-b$lit", "a-b.c$lit", "*$lit", "evil.org/$lit", "user\@$bare")
                                        : $s ? ("${lit}x") : ("x${lit}x");
        push @v, uc("dev1$lit"), "dev1$lit.evil.org", $bare, "dev1$lit\n", "dev1\0$lit";
    }
    return @v;
}
# text of a requested GeneralName as mod_scep matches it (undef: no rule can
# allow it); type: dns, email, uri, ip, upn or other
sub gn_facts {
    my $raw = shift;
    my $g = eval { der_one($raw) } or return ('other', undef);
    my $t = $g->{tag};
    return ('dns', str_text(0x16, $g->{content})) if $t == 0x82;
    return ('email', str_text(0x16, $g->{content})) if $t == 0x81;
    return ('uri', str_text(0x16, $g->{content})) if $t == 0x86;
    if ($t == 0x87) {
        my $l = length $g->{content};
        return ('ip', $l == 4 ? inet_ntop(AF_INET, $g->{content})
                    : $l == 16 ? inet_ntop(AF_INET6, $g->{content}) : undef);
    }
    if ($t == 0xa0) {
        my @f = eval { der_items($g->{content}) };
        if (@f == 2 && $f[0]{tag} == 0x06 && oid_text($f[0]{content}) eq $OID_UPN && $f[1]{tag} == 0xa0) {
            my $in = eval { der_one($f[1]{content}) };
            return ('upn', $in && $in->{tag} == 0x0c ? str_text(0x0c, $in->{content}) : undef);
        }
    }
    return ('other', undef);
}
sub gn_label { my ($type, $text) = gn_facts($_[0]); return "$type:" . printable($text) }

sub random_name {
    my $type = pick_weighted([5, 'dns'], [2, 'email'], [2, 'uri'], [2, 'ip'], [2, 'upn'], [3, 'other']);
    return gn_make($type, pick(san_candidates($type))) if $type ne 'other';
    return pick(
        tlv(0xa0, d_oid('1.3.6.1.4.1.99999.1') . tlv(0xa0, tlv(0x0c, 'other'))),
        gn_upn('admin@corp.example.com', 0x16),             # UPN, not a UTF8String
        tlv(0x88, oid_body('1.2.3.4')),                      # registeredID
        tlv(0xa4, d_seq(d_set(d_seq(d_oid($ATTR{CN}), tlv(0x0c, 'admin'))))),   # directoryName
        tlv(0xa3, d_seq(tlv(0x13, 'x400'))),                 # x400Address (junk)
        tlv(0xa5, tlv(0xa1, tlv(0x0c, 'edi'))),              # ediPartyName
    );
}

sub ext { my ($oid, $crit, $value) = @_; return { oid => $oid, crit => $crit ? 1 : 0, value => $value } }
sub ext_der {
    my $e = shift;
    return $e->{raw} if defined $e->{raw};
    return d_seq(d_oid($e->{oid}), $e->{crit} ? d_bool(1) : (), d_octet($e->{value}));
}
sub bmp { return tlv(0x1e, Encode::encode('UCS-2BE', Encode::decode('UTF-8', my $c = shift))) }

# extensions a request may ask for that no profile gives
my @OTHER_EXT = (
    ['nameConstraints', '2.5.29.30', d_seq(tlv(0xa0, d_seq(d_seq(tlv(0x82, 'example.com')))))],
    ['policyConstraints', '2.5.29.36', d_seq(tlv(0x80, "\0"))],
    ['inhibitAnyPolicy', '2.5.29.54', d_int(0)],
    ['authorityInfoAccess', $EXT{aia},
     d_seq(d_seq(d_oid('1.3.6.1.5.5.7.48.1'), tlv(0x86, 'http://evil.example.org/ocsp')))],
    ['crlDistributionPoints', $EXT{cdp},
     d_seq(d_seq(tlv(0xa0, tlv(0xa0, tlv(0x86, 'http://evil.example.org/x.crl')))))],
    ['subjectKeyIdentifier', $EXT{ski}, d_octet('k' x 20)],
    ['authorityKeyIdentifier', $EXT{aki}, d_seq(tlv(0x80, 'k' x 20))],
    ['privateKeyUsagePeriod', '2.5.29.16', d_seq(tlv(0x80, '20991231235959Z'))],
    ['issuerAltName', '2.5.29.18', d_seq(tlv(0x82, 'evil.example.org'))],
    ['freshestCRL', '2.5.29.46', d_seq(d_seq(tlv(0xa0, tlv(0xa0, tlv(0x86, 'http://evil/d.crl')))))],
    ['netscapeCertType', '2.16.840.1.113730.1.1', tlv(0x03, "\x01\xfe")],
    ['tlsFeature', '1.3.6.1.5.5.7.1.24', d_seq(d_int(5))],
    ['ctPoison', '1.3.6.1.4.1.11129.2.4.3', d_null()],
    ['msApplicationPolicies', '1.3.6.1.4.1.311.21.10', d_seq(d_seq(d_oid('1.3.6.1.4.1.311.10.3.4')))],
    ['msTemplateV2', '1.3.6.1.4.1.311.21.7', d_seq(d_oid('1.3.6.1.4.1.311.21.8.1.2.3'), d_int(100))],
    ['smimeCapabilities', '1.2.840.113549.1.9.15', d_seq(d_seq(d_oid('2.16.840.1.101.3.4.1.42')))],
    ['qcStatements', '1.3.6.1.5.5.7.1.3', d_seq(d_seq(d_oid('0.4.0.1862.1.1')))],
    ['subjectDirectoryAttributes', '2.5.29.9',
     d_seq(d_seq(d_oid('1.3.6.1.5.5.7.9.1'), d_set(tlv(0x18, '19700101000000Z'))))],
);

sub bc_value {
    my $v = shift;
    return d_seq() if $v eq 'CA:FALSE';
    return d_seq(d_bool(1)) if $v eq 'CA:TRUE';
    return d_seq(d_bool(1), d_int(0)) if $v eq 'CA:TRUE,pathlen:0';
    return d_seq(d_bool(1), d_int(7)) if $v eq 'CA:TRUE,pathlen:7';
    return d_seq(d_int(3)) if $v eq 'CA:FALSE,pathlen:3';
    return d_seq(d_bool(0)) if $v eq 'CA:FALSE (explicit)';
    return d_seq(tlv(0x01, "\x01")) if $v eq 'CA:TRUE (BER 0x01)';
    die $v;
}

my @ALL_PROFILES;    # every profile, for "another profile's" challenge and templates
my @MUTATIONS;       # [name, weight, code(spec, profile) -> detail], below

sub gen_request {
    my ($p, $n) = @_;
    my %s = (id => "$p->{name}#$n", prof => $p, muts => [], extra_attrs => [], signer => 'self');

    # 1. what complies: an allowed key, the rule attributes with matching
    # values, names matching the SAN rules, the right challenge
    my @allowed = grep { key_allowed($p, $KEY{$_}{facts}) } @KEY_NAMES;
    die "profile $p->{name}: none of the test's keys is allowed\n" unless @allowed;
    $s{key} = pick_weighted(map { [/^rsa2048/ ? 6 : 2, $_] } @allowed);
    my @rdns;
    for my $r (grep { $_->{source} eq 'request' } @{ $p->{subject} }) {
        my @good = grep { text_matches($r, $_) } rule_texts($r, 1);
        @good = grep { text_matches($r, $_) && length && !/\0/ } rule_texts($r, 0) unless @good;
        next unless @good;
        push @rdns, [atv($r->{oid}, pick(@good), chance(0.7) ? 'utf8' : 'printable')] for 1 .. (chance(0.15) ? 2 : 1);
    }
    @rdns = ([atv($ATTR{CN}, 'dev1')]) unless @rdns;
    $s{subject} = \@rdns;
    my @names;
    for my $r (grep { $_->{source} eq 'request' } @{ $p->{san} }) {
        next unless chance(0.6);
        my @good = grep { my ($t, $x) = gn_facts($_); text_matches($r, $x) }
                   map { gn_make($r->{type}, $_) } san_candidates($r->{type}, $r);
        push @names, pick(@good) if @good;
    }
    $s{chal} = [[0x13, $p->{secret_value}]];
    my @exts;
    push @exts, ext($EXT{san}, 0, d_seq(@names)) if @names;
    my @mapped = sort keys %{ $p->{templates} };
    push @exts, ext($OID_TEMPLATE, 0, bmp(pick(@mapped))) if @mapped && chance(0.3);
    $s{ext_attrs} = [{ oid => $OID_EXTREQ, exts => \@exts }];

    # 2. mutations
    my $k = pick_weighted([20, 0], [35, 1], [25, 2], [12, 3], [5, 4], [3, 5]);
    for (1 .. $k) {
        my $m = pick_weighted(map { [$_->[1], $_] } @MUTATIONS);
        my $label = $m->[2]->(\%s, $p);
        push @{ $s{muts} }, defined $label ? "$m->[0]($label)" : $m->[0];
    }
    return \%s;
}

# the extension list a mutation adds to (the first attribute's)
sub exts_of { my $s = shift; return $s->{ext_attrs}[0]{exts} }
# a name added to the (first) requested subjectAltName; -> the name
sub add_name {
    my ($s, $gn) = @_;
    my ($e) = grep { $_->{oid} eq $EXT{san} && !defined $_->{raw} } @{ exts_of($s) };
    if ($e) {
        my @old = eval { map { $_->{raw} } der_items(der_one($e->{value})->{content}) };
        $e->{value} = d_seq(@old, $gn);
    }
    else { push @{ exts_of($s) }, ext($EXT{san}, 0, d_seq($gn)) }
    return $gn;
}
sub rand_rdn_pos { my $s = shift; return int rand(@{ $s->{subject} } + 1) }
sub random_atv_ref {    # a random [oid, tag, bytes] of the subject, or undef
    my $s = shift;
    my @all = map { my $rdn = $_; map { [$rdn, $_] } 0 .. $#$rdn } @{ $s->{subject} };
    return @all ? pick(@all) : undef;
}
sub atv_text { my $a = shift; return str_text($a->[1], $a->[2]) }

@MUTATIONS = (
    ['subject+attr', 3, sub {
        my ($s) = @_;
        my $a = pick(@ATTR_NAMES);
        splice @{ $s->{subject} }, rand_rdn_pos($s), 0, [atv($ATTR{$a}, pick(@TEXTS), random_kind())];
        return $a;
    }],
    ['subject+unknown', 1, sub {
        my ($s) = @_;
        my $o = pick(@UNKNOWN_ATTR);
        splice @{ $s->{subject} }, rand_rdn_pos($s), 0, [atv($o, pick(@TEXTS), 'utf8')];
        return $o;
    }],
    ['subject-value', 4, sub {
        my ($s, $p) = @_;
        my $ref = random_atv_ref($s) or return;
        my ($r) = grep { ($_->{oid} // '') eq $ref->[0][ $ref->[1] ][0] } @{ $p->{subject} };
        my $t = pick($r ? rule_texts($r, 0) : @TEXTS);
        $ref->[0][ $ref->[1] ] = atv($ref->[0][ $ref->[1] ][0], $t, 'utf8');
        return printable($t);
    }],
    ['subject-type', 3, sub {
        my ($s) = @_;
        my $ref = random_atv_ref($s) or return;
        my $old = $ref->[0][ $ref->[1] ];
        my $kind = random_kind();
        $ref->[0][ $ref->[1] ] = atv($old->[0], atv_text($old) // 'dev1', $kind);
        return $kind;
    }],
    ['subject-multivalued', 2, sub {
        my ($s, $p) = @_;
        my $rd = $s->{subject};
        if (@$rd >= 2) {
            my $i = int rand(@$rd - 1);
            splice @$rd, $i, 2, [@{ $rd->[$i] }, @{ $rd->[$i + 1] }];
            return 'merged';
        }
        my ($r) = grep { $_->{source} eq 'request' } @{ $p->{subject} };
        my $o = chance(0.5) && $r ? $r->{oid} : $ATTR{ pick(@ATTR_NAMES) };
        push @{ $rd->[0] }, atv($o, pick(@TEXTS_PLAIN), 'utf8') if @$rd;
        return attr_name($o);
    }],
    ['subject-long', 2, sub {
        my ($s) = @_;
        my $ref = random_atv_ref($s) or return;
        my $old = $ref->[0][ $ref->[1] ];
        my $t = atv_text($old) // 'dev1';
        $t = 'dev1' if $t eq '';
        my $len = pick(64, 65, 128, 300);
        $t = substr($t x (int($len / length $t) + 1), 0, $len);
        $ref->[0][ $ref->[1] ] = atv($old->[0], $t, 'utf8');
        return $len;
    }],
    ['subject-dup', 1, sub {
        my ($s) = @_;
        return unless @{ $s->{subject} };
        my $i = int rand @{ $s->{subject} };
        splice @{ $s->{subject} }, $i, 0, [@{ $s->{subject}[$i] }];
        return;
    }],
    ['subject-shuffle', 1, sub {
        my ($s) = @_;
        my @r = @{ $s->{subject} };
        my @out;
        push @out, splice(@r, int rand @r, 1) while @r;
        $s->{subject} = \@out;
        return;
    }],
    ['subject-empty', 0.3, sub { $_[0]{subject} = []; return }],
    ['san+name', 4, sub {
        my ($s, $p) = @_;
        return gn_label(add_name($s, random_name()));
    }],
    ['san+rule-type', 2, sub {
        my ($s, $p) = @_;
        my @rules = @{ $p->{san} } or return;
        my $r = pick(@rules);
        return gn_label(add_name($s, gn_make($r->{type}, pick(san_candidates($r->{type}, $r)))));
    }],
    ['san+other-type', 2, sub {
        # a name of another type that matches a rule's pattern
        my ($s, $p) = @_;
        my @rules = grep { $_->{source} eq 'request' && $_->{type} ne 'ip' } @{ $p->{san} } or return;
        my $r = pick(@rules);
        my $type = pick(grep { $_ ne $r->{type} } qw(dns email uri upn));
        my @good = grep { text_matches($r, $_) } san_candidates($r->{type}, $r);
        return gn_label(add_name($s, gn_make($type, pick(@good)))) if @good;
        return;
    }],
    ['san-second-ext', 0.5, sub {
        my ($s) = @_;
        my $gn = random_name();
        push @{ exts_of($s) }, ext($EXT{san}, 0, d_seq($gn));
        return gn_label($gn);
    }],
    ['san-critical', 0.5, sub { $_->{crit} = 1 for grep { $_->{oid} eq $EXT{san} } @{ exts_of($_[0]) }; return }],
    ['san-empty', 0.3, sub { push @{ exts_of($_[0]) }, ext($EXT{san}, 0, d_seq()); return }],
    ['san-garbage', 0.3, sub { push @{ exts_of($_[0]) }, ext($EXT{san}, 0, "\x30\x05\x82\x03ab"); return }],
    ['keyUsage', 3, sub {
        my ($s, $p) = @_;
        my $is_rsa = $KEY{ $s->{key} }{facts}{type} eq 'rsa';
        my @pool = chance(0.5) ? sort { $a <=> $b } keys %{ profile_ku($p, $is_rsa) } : (0 .. 8);
        my @bits = grep { chance(0.5) } @pool;
        push @{ exts_of($s) }, ext($EXT{ku}, chance(0.5), d_ku(@bits));
        return join ',', map { $KU_NAMES[$_] } @bits;
    }],
    ['extendedKeyUsage', 3, sub {
        my ($s, $p) = @_;
        my @pool = chance(0.4) ? @{ profile_eku($p) } : @EKU_REQUEST;
        my @o = grep { chance(0.4) } @pool;
        @o = (pick(@EKU_REQUEST)) unless @o;
        push @{ exts_of($s) }, ext($EXT{eku}, chance(0.2), d_seq(map { d_oid($_) } @o));
        return join ',', map { eku_name($_) } @o;
    }],
    ['basicConstraints', 3, sub {
        my ($s) = @_;
        my $v = pick('CA:FALSE', 'CA:TRUE', 'CA:TRUE,pathlen:0', 'CA:TRUE,pathlen:7',
                     'CA:FALSE,pathlen:3', 'CA:FALSE (explicit)', 'CA:TRUE (BER 0x01)');
        push @{ exts_of($s) }, ext($EXT{bc}, chance(0.7), bc_value($v));
        return $v;
    }],
    ['certificatePolicies', 2, sub {
        my ($s, $p) = @_;
        my @o = grep { chance(0.5) } ('2.5.29.32.0', '1.3.6.1.4.1.99999.66.6', @{ $p->{policies} },
                                      '2.23.140.1.2.1');
        @o = ('2.5.29.32.0') unless @o;
        push @{ exts_of($s) }, ext($EXT{cp}, chance(0.2), d_seq(map {
            d_seq(d_oid($_), chance(0.3) ? d_seq(d_seq(d_oid('1.3.6.1.5.5.7.2.1'), tlv(0x16, 'http://evil/cps'))) : ())
        } @o));
        return join ',', @o;
    }],
    ['ext+unknown', 2, sub {
        my ($s) = @_;
        my $o = '1.3.6.1.4.1.99999.' . (1 + int rand 9) . '.' . int rand 100;
        my $crit = chance(0.5);
        push @{ exts_of($s) }, ext($o, $crit, pick(d_null(), d_octet('x' x (1 + int rand 40)), tlv(0x0c, 'unknown')));
        return $o . ($crit ? ' critical' : '');
    }],
    ['ext+other', 3, sub {
        my ($s) = @_;
        my $e = pick(@OTHER_EXT);
        my $crit = chance(0.4);
        push @{ exts_of($s) }, ext($e->[1], $crit, $e->[2]);
        return $e->[0] . ($crit ? ' critical' : '');
    }],
    ['ext-dup', 1, sub {
        my ($s) = @_;
        my $l = exts_of($s);
        return unless @$l;
        my $e = pick(@$l);
        push @$l, { %$e };
        return $EXT_NAME{ $e->{oid} } // $e->{oid};
    }],
    ['ext-in-msExtReq', 1, sub { $_[0]{ext_attrs}[0]{oid} = $OID_MSEXTREQ; return }],
    ['ext-second-attr', 0.7, sub {
        my ($s, $p) = @_;
        my $second = pick('bc', 'tmpl', 'san');
        my $e = $second eq 'bc' ? ext($EXT{bc}, 1, bc_value('CA:TRUE'))
              : $second eq 'tmpl' ? ext($OID_TEMPLATE, 0, bmp('SubCA'))
              : ext($EXT{san}, 0, d_seq(random_name()));
        my $oid = $s->{ext_attrs}[0]{oid} eq $OID_EXTREQ ? $OID_MSEXTREQ : $OID_EXTREQ;
        push @{ $s->{ext_attrs} }, { oid => $oid, exts => [$e] };
        return $second;
    }],
    ['ext-malformed', 0.5, sub {
        push @{ exts_of($_[0]) }, { raw => d_seq(d_oid('1.3.6.1.4.1.99999.9.9')), oid => '(malformed)' };
        return;
    }],
    ['template', 3, sub {
        my ($s, $p) = @_;
        my @names = map { sort keys %{ $_->{templates} } } @ALL_PROFILES;
        my $name = pick(@names, @names, 'Machine', 'User', 'SubCA', 'WebServer', '',
                        map { (lc, uc, "$_ ") } @names);
        $name //= 'Machine';
        my $enc = pick_weighted([70, 'bmp'], [8, 'utf8'], [5, 'printable'], [5, 'ia5'],
                                [5, 'integer'], [5, 'bmp-odd'], [2, 'octet']);
        my $v = $enc eq 'bmp' ? bmp($name) : tlv(@{ enc_text($name, $enc) });
        @{ exts_of($s) } = grep { $_->{oid} ne $OID_TEMPLATE } @{ exts_of($s) } if chance(0.8);
        push @{ exts_of($s) }, ext($OID_TEMPLATE, 0, $v);
        return printable($name) . " $enc";
    }],
    ['challenge-wrong', 2, sub { $_[0]{chal} = [[0x13, 'wrong-' . $_[1]{secret_value}]]; return }],
    ['challenge-none', 1, sub { $_[0]{chal} = []; return }],
    ['challenge-other-profile', 1, sub {
        my ($s, $p) = @_;
        my @o = grep { $_->{secret_value} ne $p->{secret_value} } @ALL_PROFILES or return;
        $s->{chal} = [[0x13, pick(@o)->{secret_value}]];
        return;
    }],
    ['challenge-bmp', 0.5, sub { $_[0]{chal} = [[0x1e, Encode::encode('UCS-2BE', $_[1]{secret_value})]]; return }],
    ['challenge-newline', 0.5, sub { $_[0]{chal} = [[0x0c, "$_[1]{secret_value}\n"]]; return }],
    ['challenge-prefix', 0.5, sub { $_[0]{chal} = [[0x13, substr($_[1]{secret_value}, 0, -1)]]; return }],
    ['challenge-utf8', 1, sub { $_[0]{chal} = [[0x0c, $_[1]{secret_value}]]; return }],
    ['challenge-ia5', 0.5, sub { $_[0]{chal} = [[0x16, $_[1]{secret_value}]]; return }],
    ['challenge-two-values', 0.5, sub {
        my @v = ([0x13, $_[1]{secret_value}], [0x13, 'not-it']);
        $_[0]{chal} = [chance(0.5) ? @v : reverse @v];
        return;
    }],
    ['challenge-integer', 0.3, sub { $_[0]{chal} = [[0x02, "\x2a"]]; return }],
    ['key-not-allowed', 2, sub {
        my ($s, $p) = @_;
        my @k = grep { !key_allowed($p, $KEY{$_}{facts}) } @KEY_NAMES or return;
        $s->{key} = pick(@k);
        return $s->{key};
    }],
    ['key-any', 2, sub { $_[0]{key} = pick(@KEY_NAMES); return $_[0]{key} }],
    ['signer-from-ca', 1, sub { $_[0]{signer} = 'ca'; return }],
    ['csr-bad-signature', 0.5, sub { $_[0]{bad_sig} = 1; return }],
    ['signer-other-key', 0.5, sub { $_[0]{signer} = 'other'; return }],
    ['attribute+other', 1, sub {
        my ($s) = @_;
        push @{ $s->{extra_attrs} }, pick(
            d_seq(d_oid('1.2.840.113549.1.9.2'), d_set(tlv(0x0c, 'unstructured'))),
            d_seq(d_oid('1.3.6.1.4.1.311.13.2.3'), d_set(tlv(0x16, '10.0.19041.2'))),
            d_seq(d_oid('1.3.6.1.4.1.99999.5'), d_set(tlv(0x0c, 'x'))));
        return;
    }],
);

######################################################################
# what a request asks for, read back from its parts (for the model)

sub req_facts {
    my $s = shift;
    return $s->{facts} if $s->{facts};
    # (an attribute without extensions is left out of the request)
    my %f = (subject => [], san => [], ku => [], eku => [], tmpl => [], bc_ca => 0,
             ambiguous => (grep { @{ $_->{exts} } } @{ $s->{ext_attrs} }) > 1 ? 1 : 0);
    for my $rdn (@{ $s->{subject} }) {
        # a multi-valued RDN is a SET: its values in DER order, as sent
        push @{ $f{subject} }, map { { oid => $_->[0], text => str_text($_->[1], $_->[2]) } }
                               map { $_->[1] } sort { $a->[0] cmp $b->[0] }
                               map { [d_seq(d_oid($_->[0]), tlv($_->[1], $_->[2])), $_] } @$rdn;
    }
    my %seen;
    for my $a (@{ $s->{ext_attrs} }) {
        for my $e (@{ $a->{exts} }) {
            if (defined $e->{raw}) { $f{ambiguous} = 1; next }
            $f{ambiguous} = 1 if $seen{ $e->{oid} }++;
            if ($e->{oid} eq $EXT{san}) {
                my @gn = eval { der_items(der_one($e->{value})->{content}) };
                push @{ $f{san} }, map { $_->{raw} } @gn;
            }
            elsif ($e->{oid} eq $EXT{ku}) {
                my $bits = eval { ku_bits($e->{value}) };
                push @{ $f{ku} }, $bits if $bits;
            }
            elsif ($e->{oid} eq $EXT{eku}) {
                my @o = eval { map { oid_text($_->{content}) } der_items(der_one($e->{value})->{content}) };
                push @{ $f{eku} }, \@o;
            }
            elsif ($e->{oid} eq $EXT{bc}) {
                my @i = eval { der_items(der_one($e->{value})->{content}) };
                $f{bc_ca} = 1 if @i && $i[0]{tag} == 0x01 && $i[0]{content} ne "\0";
            }
            elsif ($e->{oid} eq $OID_TEMPLATE) {
                my $t = eval { der_one($e->{value}) };
                push @{ $f{tmpl} }, $t && ($t->{tag} == 0x1e || $t->{tag} == 0x0c || $t->{tag} == 0x13
                                         || $t->{tag} == 0x16) ? str_text($t->{tag}, $t->{content}) // '' : '';
            }
        }
    }
    $f{chal_ok} = grep { $_->[0] != 0x02 && $_->[1] eq $s->{prof}{secret_value} } @{ $s->{chal} };
    $f{key} = $KEY{ $s->{key} }{facts};

    # what is read before the profile: is the subject readable, and the
    # counts SCEPRequestLimit bounds (the lists of requested extensions are
    # attributes of one value each, as csr_der makes them)
    $f{readable} = !grep { !value_readable($_->[1], $_->[2]) } map { @$_ } @{ $s->{subject} };
    my @lists = grep { @{ $_->{exts} } } @{ $s->{ext_attrs} };
    $f{ext_lists} = @lists;
    $f{chal_values} = @{ $s->{chal} };
    $f{attr_values} = @{ $s->{extra_attrs} } + @{ $s->{chal} } + @lists;
    $f{subject_entries} = map { @$_ } @{ $s->{subject} };
    $f{subject_length} = length name_der($s);
    my @exts = @lists ? @{ $lists[0]{exts} } : ();
    $f{exts} = @exts;
    $f{exts_unreadable} = grep { defined $_->{raw} } @exts;
    my %n;
    $f{ext_twice} = (grep { $n{ $_->{oid} }++ } @exts)[0] ? 1 : 0;
    $f{nsans} = 0;
    $f{nsans} += () = eval { der_items(der_one($_->{value})->{content}) }
        for grep { $_->{oid} eq $EXT{san} } @exts;
    return $s->{facts} = \%f;
}

# BIT STRING -> { bit position => 1 } (undef if not a BIT STRING)
sub ku_bits {
    my $i = der_one(shift);
    return undef unless $i->{tag} == 0x03 && length $i->{content};
    my @b = unpack 'C*', substr($i->{content}, 1);
    my %bits;
    for my $n (0 .. 8 * @b - 1) { $bits{$n} = 1 if $b[$n >> 3] & (0x80 >> ($n & 7)) }
    return \%bits;
}
sub set_text { my $h = shift; return '{' . join(',', map { $KU_NAMES[$_] // $_ } sort { $a <=> $b } keys %$h) . '}' }

# The answer the README gives this request, as the engine comes to it:
#   { sealed => [why ...] }: FAILURE badMessageCheck, $SEALED ("One answer
#     for everything inside the envelope": a PKCS#10 that does not parse or
#     whose signature does not verify, a self-signed signer with another key);
#   { stages => [[[why, rx] ...] ...] }: FAILURE badRequest with a text that
#     matches one of the first non-empty stage's; no stage: issued.
# The stages follow the engine's steps (scep_op.c pkcsreq): the request's
# limits and one reading of it (SCEPRequestLimit; only the first counts), an
# empty subject, the template (SCEPTemplate), the challenge, then the
# profile: the key, basicConstraints CA:TRUE, and the subject,
# subjectAltNames and usages together. limited: the first stage is the
# request's limits and one reading.
sub expected_answer {
    my ($s, $p) = @_;
    my $f = req_facts($s);
    my @sealed;
    push @sealed, 'a subject value OpenSSL does not read (the PKCS#10 does not parse)' unless $f->{readable};
    push @sealed, 'the PKCS#10 signature does not verify' if $s->{bad_sig};
    push @sealed, 'the self-signed signer holds another key than the request' if $s->{signer} eq 'other';
    return { sealed => \@sealed } if @sealed;

    my %l = %{ $p->{limits} };
    my ($lsa, $lsl, $lsn) = @l{qw(subject-attributes subject-length subject-alt-names)};
    my ($av, $sa, $sl, $ne, $ns) = @$f{qw(attr_values subject_entries subject_length exts nsans)};
    my $P = "profile \Q$p->{name}\E: ";
    my @limit = (    # [applies, why, the engine's text]
        [$av > $l{attributes}, "$av attribute values (SCEPRequestLimit attributes)",
         qr/^the request has $av attribute values; the limit is $l{attributes} \(SCEPRequestLimit attributes\)\z/],
        [$sa > $lsa, "$sa subject attributes (SCEPRequestLimit subject-attributes)",
         qr/^the subject has $sa attributes; the limit is $lsa \(SCEPRequestLimit subject-attributes\)\z/],
        [$sl > $lsl, "a subject of $sl bytes (SCEPRequestLimit subject-length)",
         qr/^the subject is $sl bytes long; the limit is $lsl \(SCEPRequestLimit subject-length\)\z/],
        [$f->{ext_lists} > 1, 'two lists of requested extensions',
         qr/^the request has more than one list of requested extensions\z/],
        [$f->{chal_values} > 1, 'two challengePasswords', qr/^the request has more than one challengePassword\z/],
        [$f->{exts_unreadable}, 'a list of requested extensions that does not parse',
         qr/^the request's list of requested extensions cannot be read\z/],
        [$ne > $l{extensions}, "$ne requested extensions (SCEPRequestLimit extensions)",
         qr/^the request asks for $ne extensions; the limit is $l{extensions} \(SCEPRequestLimit extensions\)\z/],
        [$f->{ext_twice}, 'an extension asked for twice', qr/^the request asks for extension .+ twice\z/],
        [$ns > $lsn, "$ns requested subjectAltNames (SCEPRequestLimit subject-alt-names)",
         qr/^the request asks for $ns subjectAltNames; the limit is $lsn \(SCEPRequestLimit subject-alt-names\)\z/],
    );
    my ($first) = grep { $_->[0] } @limit;
    my @stages = ($first ? [[@$first[1 .. $#$first]]] : ());
    push @stages, [['the request has an empty subject', qr/^the request has an empty subject\z/]]
        unless @{ $f->{subject} };
    push @stages, [map { ["template '" . printable($_) . "' is not mapped here",
                          qr/^certificate template '.*' is not mapped at this enrollment point \(SCEPTemplate\)\z/s] }
                   grep { !exists $p->{templates}{$_} } @{ $f->{tmpl} }];
    push @stages, [['the challengePassword is not this Location\'s',
                    qr/^the request has no challengePassword\z|^the challengePassword is wrong\z/]]
        unless $f->{chal_ok};
    my $key_rx = join '|', 'RSA keys are not allowed', 'RSA key of \d+ bits is outside',
                           'EC key with explicit curve parameters', 'EC key on curve \S+ is not allowed',
                           'key type \S+ is not allowed';
    push @stages, [['key ' . key_text($f->{key}) . ' is not allowed', qr/^$P(?:$key_rx) /]]
        unless key_allowed($p, $f->{key});
    push @stages, [['the request asks for basicConstraints CA:TRUE',
                    qr/^${P}the request asks for a CA certificate \(basicConstraints CA:TRUE\)\z/]] if $f->{bc_ca};

    # the profile: subject, subjectAltNames, usages
    my @why;
    for my $r (grep { $_->{source} eq 'value' && length $_->{value} } @{ $p->{subject} }) {
        push @why, ["the profile's $r->{attr} value '$r->{value}' cannot be held",
                    qr/^${P}the profile's \S+ value '.*' is not valid for that attribute\z/s]
            unless attr_holds($r->{oid}, $r->{value});
    }
    if ($p->{subject_excess} eq 'refuse') {
        for my $v (@{ $f->{subject} }) {
            my @rules = grep { $_->{source} eq 'request' && $_->{oid} eq $v->{oid} } @{ $p->{subject} };
            my $label = attr_name($v->{oid});
            if (!@rules) {
                push @why, ["subject attribute $label has no rule (SCEPSubjectExcess refuse)",
                            qr/^${P}subject attribute \S+ is not allowed by the profile\z/];
            }
            elsif (!grep { text_matches($_, $v->{text}) } @rules) {
                push @why, ["subject $label=" . printable($v->{text}) . ' matches no rule (SCEPSubjectExcess refuse)',
                            qr/^${P}subject \S+ '.*' does not match the profile's pattern '.*'\z/s];
            }
            elsif (!attr_holds($v->{oid}, $v->{text})) {
                push @why, ["subject $label=" . printable($v->{text}) . " is not a value $label can hold "
                            . '(SCEPSubjectExcess refuse)',
                            qr/^${P}subject \S+ '.*' is not a valid value for that attribute \(too long\?\)\z/s];
            }
        }
    }
    push @why, ['the profile leaves the subject empty',
                qr/^${P}the profile leaves the certificate with an empty subject\z/]
        if !grep { $_->{source} eq 'value' && length $_->{value}
                   || $_->{source} eq 'request' && subject_values($_, $f) } @{ $p->{subject} };
    if ($p->{san_excess} eq 'refuse') {
        for my $gn (@{ $f->{san} }) {
            push @why, ['subjectAltName ' . gn_label($gn) . ' matches no rule (SCEPSubjectAltNameExcess refuse)',
                        qr/^${P}subjectAltName .* is not allowed by the profile\z/s]
                unless san_allowed_by_request_rule($p, $gn);
        }
    }
    if ($p->{subject_excess} eq 'refuse') {
        my $pku = profile_ku($p, $f->{key}{type} eq 'rsa');
        if ($p->{honour}{keyusage}) {
            for my $ku (@{ $f->{ku} }) {
                my @more = grep { !$pku->{$_} } sort keys %$ku;
                push @why, ['requested keyUsage ' . set_text($ku) . ' exceeds the profile\'s ' . set_text($pku),
                            qr/^${P}the requested keyUsage exceeds the profile's\z/] if @more;
            }
        }
        if ($p->{honour}{extendedkeyusage}) {
            my %peku = map { $_ => 1 } @{ profile_eku($p) };
            for my $eku (@{ $f->{eku} }) {
                my @more = grep { !$peku{$_} } @$eku;
                push @why, ['requested extendedKeyUsage ' . join(',', map { eku_name($_) } @more)
                            . ' exceeds the profile\'s',
                            qr/^${P}the requested extendedKeyUsage exceeds the profile's\z/] if @more;
            }
        }
    }
    push @stages, \@why;
    return { stages => [grep { @$_ } @stages], limited => $first ? 1 : 0 };
}

# the requested values a subject rule takes (those the attribute can hold:
# under SCEPSubjectExcess drop, the others are left out)
sub subject_values {
    my ($r, $f) = @_;
    return grep { $_->{oid} eq $r->{oid} && text_matches($r, $_->{text}) && attr_holds($r->{oid}, $_->{text}) }
           @{ $f->{subject} };
}

sub san_allowed_by_request_rule {
    my ($p, $gn) = @_;
    my ($type, $text) = gn_facts($gn);
    return scalar grep { $_->{source} eq 'request' && $_->{type} eq $type && text_matches($_, $text) } @{ $p->{san} };
}

######################################################################
# building and sending

my ($SIGNER_CERT, $PORT);
my %SIGALG = (
    rsa => [d_seq(d_oid('1.2.840.113549.1.1.11'), d_null()), 'sha256'],
    'ec-p256' => [d_seq(d_oid('1.2.840.10045.4.3.2')), 'sha256'],
    ec => [d_seq(d_oid('1.2.840.10045.4.3.3')), 'sha384'],
    ed25519 => [d_seq(d_oid('1.3.101.112')), undef],
);

# a file name stem for a profile's files
sub stem { (my $n = $_[0]{name}) =~ s/\W+/_/g; $n =~ s/^_//; return $n }

sub name_der {
    my $s = shift;
    return d_seq(map { my $rdn = $_; d_set(map { d_seq(d_oid($_->[0]), tlv($_->[1], $_->[2])) } @$rdn) }
                 @{ $s->{subject} });
}

sub csr_der {
    my $s = shift;
    my $k = $KEY{ $s->{key} };
    my $name = name_der($s);
    my @attrs = @{ $s->{extra_attrs} };
    push @attrs, d_seq(d_oid($OID_CHALLENGE), d_set(map { tlv(@$_) } @{ $s->{chal} })) if @{ $s->{chal} };
    for my $a (@{ $s->{ext_attrs} }) {
        push @attrs, d_seq(d_oid($a->{oid}), d_set(d_seq(map { ext_der($_) } @{ $a->{exts} })))
            if @{ $a->{exts} };
    }
    my $cri = d_seq(d_int(0), $name, $k->{spki}, tlv(0xa0, join '', sort @attrs));
    my $type = $k->{facts}{type};
    my ($alg, $md) = @{ $SIGALG{ $type eq 'rsa' || $type eq 'ec-p256' ? $type
                                 : $type =~ /^ec-/ ? 'ec' : $s->{key} eq 'ed25519' ? 'ed25519' : 'rsa' } };
    my $tbs = write_file(work_file(stem($s->{prof}) . "-tbs", "der"), $cri);
    my $sigf = "$tbs.sig";
    my $r = $md ? run_cmd(['openssl', 'dgst', "-$md", '-sign', $k->{file}, '-out', $sigf, $tbs])
                : run_cmd(['openssl', 'pkeyutl', '-sign', '-rawin', '-inkey', $k->{file}, '-in', $tbs, '-out', $sigf]);
    die "signing the request with $s->{key}: $r->{err}" if $r->{rc};
    my $sig = read_file($sigf);
    substr($sig, -1, 1) = chr(ord(substr($sig, -1, 1)) ^ 0x01) if $s->{bad_sig};
    return d_seq($cri, $alg, tlv(0x03, "\0$sig"));
}

# -> $s->{res} = { http, status, fail, text, cert (DER), t0, t1, err }
sub run_request {
    my ($s, $tid) = @_;
    my $p = $s->{prof};
    my $csr = write_file(work_file(stem($p) . "-csr", "der"), csr_der($s));
    $s->{csr_file} = $csr;
    my $f = $KEY{ $s->{key} }{facts};
    # the reply is encrypted to the signer: an RSA key. A self-signed signer
    # must hold the request's key, so other keys sign with a certificate
    # this CA issued (an ordinary enrollment: SCEPRenewal is off); 'other'
    # is a self-signed signer with the signer key, not the request's
    $s->{signer} = 'ca' if $s->{signer} eq 'self' && ($f->{type} ne 'rsa' || $f->{size} < 1024);
    my @args = ('--csr', $csr);
    push @args, '--signer-cert', $SIGNER_CERT, '--signer-key', $KEY{signer}{file} if $s->{signer} eq 'ca';
    my $req = build_request(key => $s->{signer} eq 'self' ? $KEY{ $s->{key} }{file} : $KEY{signer}{file},
                            subject => undef, challenge => undef, tid => $tid, args => \@args);
    my $t0 = time;
    my $resp = send_request($req, port => $PORT, path => "$p->{path}/pkiclient.exe");
    my $t1 = time;
    my %res = (http => $resp->{status}, t0 => $t0, t1 => $t1);
    if ($resp->{status} == 200) {
        my $rep = parse_reply($resp, $req);
        @res{qw(status fail text verified nonce tid_back)} =
            @$rep{qw(pkiStatus failInfo failInfoText verified nonceMatch transactionID)};
        $res{err} = $rep->{err} if $rep->{rc};
        $res{cert_file} = $rep->{cert_file};
        $res{cert} = pem_file_der($rep->{cert_file}) if $rep->{cert_file};
    }
    else { $res{err} = "HTTP $resp->{status}: " . substr($resp->{body} // '', 0, 200) }
    $s->{res} = \%res;
}

# the requests of one profile, in $JOBS processes (each its own share)
sub run_all {
    my ($specs, $pi) = @_;
    my @tid = map { sprintf 'inv-%d-%d-%04d', $SEED, $pi, $_ + 1 } 0 .. $#$specs;
    my @shares = map { my $j = $_; [grep { $_ % $JOBS == $j } 0 .. $#$specs] } 0 .. $JOBS - 1;
    my @out = run_parallel(map {
        my $mine = $_;
        sub {
            my %r;
            eval {
                for my $i (@$mine) {
                    run_request($specs->[$i], $tid[$i]);
                    $r{$i} = { map { $_ => $specs->[$i]{$_} } qw(res csr_file signer) };
                }
                1;
            } or $r{error} = "$@";
            return Storable::nfreeze(\%r);
        }
    } @shares);
    for my $j (0 .. $#shares) {
        my $r = eval { Storable::thaw($out[$j]) } || { error => "no results from worker $j: $out[$j]" };
        for my $i (@{ $shares[$j] }) {
            my $got = $r->{$i} || { res => { http => 0, err => $r->{error} // 'not run' } };
            $specs->[$i]{$_} = $got->{$_} for keys %$got;
        }
    }
}

sub describe {
    my $s = shift;
    my $f = req_facts($s);
    my @subj = map { attr_name($_->{oid}) . '=' . printable($_->{text}) } @{ $f->{subject} };
    my @ext = map { my $a = $_; map { ($a->{oid} eq $OID_EXTREQ ? '' : 'ms:')
                                      . ($EXT_NAME{ $_->{oid} } // $_->{oid}) . ($_->{crit} ? '!' : '') }
                                @{ $a->{exts} } } @{ $s->{ext_attrs} };
    return "$s->{id} [key $s->{key}, signer $s->{signer}; mutations: "
           . (join(' ', @{ $s->{muts} }) || 'none') . '; subject ' . join(',', @subj)
           . '; SAN ' . (join(',', map { gn_label($_) } @{ $f->{san} }) || '-')
           . '; extensions ' . (join(',', @ext) || '-') . '; CSR ' . ($s->{csr_file} // '-')
           . ($s->{res}{cert_file} ? "; certificate $s->{res}{cert_file}" : '') . ']';
}

######################################################################
# the issued certificate

sub parse_name {
    my $content = shift;
    my @rdns;
    for my $set (der_items($content)) {
        die "RDN is not a SET\n" unless $set->{tag} == 0x31;
        my @rdn;
        for my $a (der_items($set->{content})) {
            my ($o, $v) = der_items($a->{content});
            push @rdn, { oid => oid_text($o->{content}), tag => $v->{tag}, text => str_text($v->{tag}, $v->{content}) };
        }
        push @rdns, \@rdn;
    }
    return \@rdns;
}

sub parse_cert {
    my $der = shift;
    my $cert = der_one($der);
    my ($tbs, $alg, $sig) = der_items($cert->{content});
    my @t = der_items($tbs->{content});
    my %c = (exts => [], extra => []);
    $c{version} = $t[0]{tag} == 0xa0 ? ord(substr(der_one(shift(@t)->{content})->{content}, -1)) : 0;
    $c{serial} = shift(@t)->{content};
    $c{tbs_alg} = shift(@t)->{raw};
    $c{issuer} = shift(@t)->{raw};
    my ($nb, $na) = der_items(shift(@t)->{content});
    $c{not_before} = der_time($nb);
    $c{not_after} = der_time($na);
    my $subject = shift @t;
    $c{subject_raw} = $subject->{raw};
    $c{subject} = parse_name($subject->{content});
    $c{spki} = shift(@t)->{raw};
    for my $i (@t) {
        if ($i->{tag} != 0xa3) { push @{ $c{extra} }, sprintf('[%#x]', $i->{tag}); next }
        for my $e (der_items(der_one($i->{content})->{content})) {
            my @f = der_items($e->{content});
            my $oid = oid_text(shift(@f)->{content});
            my $crit = 0;
            if (@f == 2 && $f[0]{tag} == 0x01) { $crit = shift(@f)->{content} ne "\0" ? 1 : 0 }
            push @{ $c{exts} }, { oid => $oid, critical => $crit, value => $f[0]{content} };
        }
    }
    $c{alg} = $alg->{raw};
    $c{sig_oid} = oid_text((der_items($alg->{content}))[0]{content});
    return \%c;
}

my ($CA_SUBJECT, $CA_SKI, $CA_NOT_AFTER, $CA_KEY_TYPE);
my %SIG_OID = (
    rsa => { sha256 => '1.2.840.113549.1.1.11', sha384 => '1.2.840.113549.1.1.12', sha512 => '1.2.840.113549.1.1.13' },
    ec => { sha256 => '1.2.840.10045.4.3.2', sha384 => '1.2.840.10045.4.3.3', sha512 => '1.2.840.10045.4.3.4' },
);

# -> list of [rule, message]
sub check_cert {
    my ($s, $p) = @_;
    my $c = eval { parse_cert($s->{res}{cert}) } or return ['fields', "the certificate does not decode: $@"];
    my $f = req_facts($s);
    my @v;
    my $bad = sub { push @v, [@_] };
    my %exts;
    push @{ $exts{ $_->{oid} } }, $_ for @{ $c->{exts} };
    my $one = sub {    # the one extension of an OID, or undef
        my ($oid, $rule, $crit) = @_;
        my $l = $exts{$oid} or return undef;
        $bad->($rule, (scalar @$l) . " extensions $oid") if @$l > 1;
        $bad->($rule, ($crit ? 'not ' : '') . 'critical') if defined $crit && $l->[0]{critical} != $crit;
        return $l->[0];
    };

    # subject: only attributes with a rule, values matching, in rule order
    my @got = map { @$_ } @{ $c->{subject} };
    $bad->('subject', 'a multi-valued RDN') if grep { @$_ > 1 } @{ $c->{subject} };
    $bad->('subject', 'empty') unless @got;
    my @expect;
    for my $r (@{ $p->{subject} }) {
        if ($r->{source} eq 'value') {
            push @expect, { oid => $r->{oid}, text => $r->{value}, value => 1 } if length $r->{value};
        }
        else { push @expect, map { { oid => $r->{oid}, text => $_->{text} } } subject_values($r, $f) }
    }
    my $j = 0;
    for my $g (@got) {
        my $label = attr_name($g->{oid}) . '=' . printable($g->{text});
        my $same = sub { $_[0]{oid} eq $g->{oid} && defined $g->{text} && ($_[0]{text} // "\0") eq $g->{text} };
        $j++ while $j < @expect && !$same->($expect[$j]);
        if ($j < @expect) { $j++; next }
        # why not: the first of these that holds
        my @rules = grep { ($_->{oid} // '') eq $g->{oid} } @{ $p->{subject} };
        my $fits = sub { my $r = shift; $r->{source} eq 'value' ? $r->{value} eq ($g->{text} // '')
                                                                : text_matches($r, $g->{text}) };
        $bad->('subject', !@rules ? "$label: no SCEPSubject rule for " . attr_name($g->{oid})
                        : !grep({ $fits->($_) } @rules) ? "$label: matches no rule's pattern or value"
                        : !grep({ $same->($_) } @{ $f->{subject} }, grep { $_->{value} } @expect)
                          ? "$label: not in the request"
                        : !attr_holds($g->{oid}, $g->{text})
                          ? "$label: not a value " . attr_name($g->{oid}) . ' can hold (it is left out)'
                        : "$label: out of rule order");
        last;
    }
    for my $e (grep { $_->{value} } @expect) {
        $bad->('subject', attr_name($e->{oid}) . "=$e->{text} (a value rule) is missing")
            unless grep { $_->{oid} eq $e->{oid} && ($_->{text} // '') eq $e->{text} } @got;
    }
    if ($p->{subject_excess} eq 'refuse') {
        my $want = join ',', map { attr_name($_->{oid}) . '=' . printable($_->{text}) } @expect;
        my $have = join ',', map { attr_name($_->{oid}) . '=' . printable($_->{text}) } @got;
        $bad->('subject-complete', "issued as $have, but the request asked for $want: where SCEPSubjectExcess "
                                   . 'is refuse nothing asked for may be left out silently') if $want ne $have;
    }

    # subjectAltName
    if (my $e = $one->($EXT{san}, 'san', @got ? 0 : 1)) {
        my @names = eval { der_items(der_one($e->{value})->{content}) };
        $bad->('san', 'an empty or undecodable subjectAltName') unless @names;
        my %asked = map { $_ => 1 } @{ $f->{san} };
        for my $gn (map { $_->{raw} } @names) {
            my ($type, $text) = gn_facts($gn);
            my $label = "$type:" . printable($text);
            next if grep { $_->{source} eq 'value' && $_->{type} eq $type && defined $text && $_->{value} eq $text }
                    @{ $p->{san} };
            if (!grep { $_->{type} eq $type } @{ $p->{san} }) {
                $bad->('san', "$label: no SCEPSubjectAltName rule for $type");
            }
            elsif (!san_allowed_by_request_rule($p, $gn)) { $bad->('san', "$label: matches no rule's pattern") }
            elsif (!$asked{$gn}) { $bad->('san', "$label: not in the request") }
        }
        for my $r (grep { $_->{source} eq 'value' } @{ $p->{san} }) {
            $bad->('san', "$r->{type}:$r->{value} (a value rule) is missing")
                unless grep { my ($t, $x) = gn_facts($_->{raw}); $t eq $r->{type} && ($x // '') eq $r->{value} } @names;
        }
    }
    elsif (grep { $_->{source} eq 'value' } @{ $p->{san} }) {
        $bad->('san', 'no subjectAltName, but the profile sets one');
    }

    # key: the request's own, of a type and size the profile allows
    my $k = eval { spki_facts($c->{spki}) } || { type => 'undecodable', size => 0 };
    $bad->('key', 'not the request\'s key') unless $c->{spki} eq $KEY{ $s->{key} }{spki};
    $bad->('key', key_text($k) . ' is not allowed by the profile') unless key_allowed($p, $k);

    # keyUsage: critical, within the profile's for the key type
    my $pku = profile_ku($p, $k->{type} eq 'rsa');
    if (my $e = $one->($EXT{ku}, 'ku', 1)) {
        my $ku = eval { ku_bits($e->{value}) } || {};
        my @more = grep { !$pku->{$_} } sort keys %$ku;
        $bad->('ku', set_text($ku) . ' is more than the profile\'s ' . set_text($pku)) if @more;
        # the profile's, or (honoured) what a request asked for within it
        my @want = (set_text($pku));
        if ($p->{honour}{keyusage}) {
            my @asked = map { my $r = $_; set_text({ map { $_ => 1 } grep { $r->{$_} } keys %$pku }) }
                        grep { my $r = $_; grep { $r->{$_} } keys %$pku } @{ $f->{ku} };
            # one clear request within the profile is what is issued
            @want = () if @asked && !$f->{ambiguous} && @{ $f->{ku} } == 1;
            push @want, @asked;
        }
        $bad->('ku', set_text($ku) . ' is not ' . join(' or ', @want)) if !@more && !grep { $_ eq set_text($ku) } @want;
    }
    elsif (%$pku) { $bad->('ku', 'no keyUsage; the profile gives ' . set_text($pku)) }

    # extendedKeyUsage: the profile's, or the requested narrowing
    my @peku = @{ profile_eku($p) };
    if (my $e = $one->($EXT{eku}, 'eku', 0)) {
        my @o = eval { map { oid_text($_->{content}) } der_items(der_one($e->{value})->{content}) };
        my %pe = map { $_ => 1 } @peku;
        my @more = grep { !$pe{$_} } @o;
        $bad->('eku', 'carries ' . join(',', map { eku_name($_) } @more) . ', not in the profile') if @more;
        my $text = sub { join ',', map { eku_name($_) } sort @_ };
        my @want = ($text->(@peku));
        if ($p->{honour}{extendedkeyusage}) {
            my @asked = grep { length }
                        map { my %a = map { $_ => 1 } @$_; $text->(grep { $a{$_} } @peku) } @{ $f->{eku} };
            @want = () if @asked && !$f->{ambiguous} && @{ $f->{eku} } == 1;
            push @want, @asked;
        }
        $bad->('eku', $text->(@o) . ' is not ' . join(' or ', @want)) if !@more && !grep { $_ eq $text->(@o) } @want;
    }
    elsif (@peku) { $bad->('eku', 'no extendedKeyUsage; the profile gives ' . join(',', map { eku_name($_) } @peku)) }

    # basicConstraints: critical, CA:FALSE, no pathlen
    if (my $e = $one->($EXT{bc}, 'bc', 1)) {
        $bad->('bc', 'is not CA:FALSE without pathLenConstraint (DER 30 00): ' . unpack('H*', $e->{value}))
            unless $e->{value} eq d_seq();
    }
    else { $bad->('bc', 'no basicConstraints') }

    # certificatePolicies: exactly the configured OIDs, no qualifiers
    if (my $e = $one->($EXT{cp}, 'policies', 0)) {
        my @o = eval { map { my @pi = der_items($_->{content});
                             @pi == 1 ? oid_text($pi[0]{content}) : 'with-qualifiers' }
                       der_items(der_one($e->{value})->{content}) };
        $bad->('policies', join(',', @o) . ' is not ' . join(',', @{ $p->{policies} }))
            if join(',', @o) ne join(',', @{ $p->{policies} });
    }
    elsif (@{ $p->{policies} }) { $bad->('policies', 'no certificatePolicies') }

    # CRL distribution points and AIA: exactly the configured URLs
    my $urls = sub {    # GeneralNames content -> URIs (or 'not-a-uri')
        return map { $_->{tag} == 0x86 ? $_->{content} : 'not-a-uri' } der_items(shift);
    };
    if (my $e = $one->($EXT{cdp}, 'urls', 0)) {
        my @u = eval { map { dp_urls($_, $urls) } der_items(der_one($e->{value})->{content}) };
        $bad->('urls', 'CRL distribution points ' . join(',', @u) . ' are not ' . join(',', @{ $p->{crl} }))
            if join(',', @u) ne join(',', @{ $p->{crl} });
    }
    elsif (@{ $p->{crl} }) { $bad->('urls', 'no CRL distribution points') }
    my @aia_want = ((map { "ocsp:$_" } @{ $p->{ocsp} }), map { "caIssuers:$_" } @{ $p->{caissuers} });
    if (my $e = $one->($EXT{aia}, 'urls', 0)) {
        my %m = ('1.3.6.1.5.5.7.48.1' => 'ocsp', '1.3.6.1.5.5.7.48.2' => 'caIssuers');
        my @u = eval { map { my ($m, $l) = der_items($_->{content});
                             ($m{ oid_text($m->{content}) } // oid_text($m->{content})) . ':'
                             . join('', $urls->($l->{raw})) }
                       der_items(der_one($e->{value})->{content}) };
        $bad->('urls', 'AIA ' . join(',', @u) . ' is not ' . join(',', @aia_want))
            if join(',', @u) ne join(',', @aia_want);
    }
    elsif (@aia_want) { $bad->('urls', 'no authorityInfoAccess') }

    # the template name: only where SCEPIncludeTemplateName is on, only a
    # template accepted here, as the request named it
    my @mapped = grep { exists $p->{templates}{$_} } @{ $f->{tmpl} };
    if (my $e = $one->($OID_TEMPLATE, 'template', 0)) {
        my $t = eval { der_one($e->{value}) };
        my $name = $t && $t->{tag} == 0x1e ? str_text(0x1e, $t->{content}) : undef;
        if (!$p->{include_template}) { $bad->('template', 'a template name, but SCEPIncludeTemplateName is off') }
        elsif (!defined $name) {
            $bad->('template', 'the template name is not a BMPString: ' . unpack('H*', $e->{value}));
        }
        elsif (!exists $p->{templates}{$name}) {
            $bad->('template', "template '" . printable($name) . "' is not accepted here");
        }
        elsif (!grep { $_ eq $name } @{ $f->{tmpl} }) { $bad->('template', "template '$name' was not in the request") }
    }
    elsif ($p->{include_template} && !$f->{ambiguous} && @{ $f->{tmpl} } == 1 && @mapped == 1 && $mapped[0] ne '') {
        $bad->('template', "no template name, but the request named '$mapped[0]' and SCEPIncludeTemplateName is on");
    }

    # nothing but what the CA adds, nothing twice
    for my $oid (sort keys %exts) {
        $bad->('extensions', "$oid is not an extension mod_scep puts in certificates") unless $CA_ADDS{$oid};
        $bad->('extensions', ($EXT_NAME{$oid} // $oid) . ' ' . scalar(@{ $exts{$oid} }) . ' times')
            if @{ $exts{$oid} } > 1;
    }

    # validity: backdated by SCEPValidityBackdate, SCEPValidity long, never beyond the CA
    my ($t0, $t1) = @{ $s->{res} }{qw(t0 t1)};
    my ($nb, $na) = @$c{qw(not_before not_after)};
    $bad->('validity', 'notBefore is ' . ($t0 - $nb) . " s before the request, not $p->{backdate}")
        if $nb < $t0 - $p->{backdate} - 1 || $nb > $t1 - $p->{backdate} + 1;
    $bad->('validity', 'valid for ' . ($na - $nb) . ' s, more than SCEPValidity + backdate ('
                       . ($p->{validity} + $p->{backdate}) . ')')
        if $na - $nb > $p->{validity} + $p->{backdate};
    $bad->('validity', 'notAfter is beyond the CA\'s') if $na > $CA_NOT_AFTER;
    $bad->('validity', 'valid for ' . ($na - $nb) . " s, not SCEPValidity + backdate")
        if $na < $CA_NOT_AFTER && $na - $nb < $p->{validity} + $p->{backdate} - 2;

    # issuer, serial, version, signature digest, key identifiers
    $bad->('fields', "version $c->{version}, not 3") unless $c->{version} == 2;
    $bad->('fields', 'the issuer is not the CA\'s subject') unless $c->{issuer} eq $CA_SUBJECT;
    my $sn = $c->{serial};
    $bad->('fields', 'serial ' . unpack('H*', $sn) . ' is not a positive integer of at most 20 octets')
        if length($sn) > 20 || ord($sn) & 0x80 || $sn =~ /^\0*\z/;
    $bad->('fields', 'the signature algorithms of TBSCertificate and Certificate differ')
        unless $c->{tbs_alg} eq $c->{alg};
    my $want_sig = $SIG_OID{$CA_KEY_TYPE}{ $p->{digest} } // '?';
    $bad->('fields', "signed with $c->{sig_oid}, not $p->{digest} ($want_sig)") unless $c->{sig_oid} eq $want_sig;
    $bad->('fields', 'issuerUniqueID/subjectUniqueID ' . join(',', @{ $c->{extra} })) if @{ $c->{extra} };
    if (my $e = $one->($EXT{ski}, 'fields', 0)) {
        $bad->('fields', 'subjectKeyIdentifier is not the SHA-1 of the key')
            unless $e->{value} eq d_octet(sha1($k->{bits} // ''));
    }
    else { $bad->('fields', 'no subjectKeyIdentifier') }
    if (my $e = $one->($EXT{aki}, 'fields', 0)) {
        my @i = eval { der_items(der_one($e->{value})->{content}) };
        $bad->('fields', 'authorityKeyIdentifier is not the CA\'s key identifier')
            unless @i && $i[0]{tag} == 0x80 && $i[0]{content} eq $CA_SKI
                   && !grep { $_->{tag} != 0x80 && $_->{tag} != 0xa1 && $_->{tag} != 0x82 } @i;
    }
    else { $bad->('fields', 'no authorityKeyIdentifier') }
    return @v;
}

# a DistributionPoint that is only a fullName of URIs -> the URIs
sub dp_urls {
    my ($dp, $urls) = @_;
    my @f = der_items($dp->{content});
    return 'odd-distribution-point' unless @f == 1 && $f[0]{tag} == 0xa0;
    my $name = der_one($f[0]{content});
    return 'odd-distribution-point' unless $name->{tag} == 0xa0;
    return $urls->($name->{content});
}

######################################################################
# the run

my $top = Apache::Test::vars('scep_top');
my $SAMPLE = "$top/conf/mod_scep.conf.sample";
my $sample_text = read_file($SAMPLE);
my ($PROFILES, $ERRORS) = parse_sample($sample_text);
@ALL_PROFILES = @$PROFILES;

plan tests => 4 + $PER_PROFILE * @$PROFILES + 1;

diag("seed $SEED, $N requests per profile (SCEP_TEST_INVARIANT_SEED=$SEED repeats this run, "
     . '=random makes a new one; SCEP_TEST_INVARIANT_N sets the count)');
ok(!@$ERRORS && @$PROFILES >= 1,
   'conf/mod_scep.conf.sample: ' . scalar(@$PROFILES) . ' enrollment points, every directive modelled ('
   . join(', ', map { "$_->{path} = $_->{name}" } @$PROFILES) . ')')
    or diag(join "\n", @$ERRORS);

# the CA
{
    my $c = parse_cert(pem_file_der(pki('ca.pem')));
    ($CA_SUBJECT, $CA_NOT_AFTER) = @$c{qw(subject_raw not_after)};
    my ($ski) = grep { $_->{oid} eq $EXT{ski} } @{ $c->{exts} };
    $CA_SKI = $ski ? der_one($ski->{value})->{content} : '';
    $CA_KEY_TYPE = spki_facts($c->{spki})->{type} eq 'rsa' ? 'rsa' : 'ec';
}

my @keybad = make_keys();
die "key generation failed:\n" . join("\n", @keybad) if @keybad;

# deterministic from here: the challenges, then the requests
srand($SEED);
my %SECRET_OF_FILE;
for my $p (@$PROFILES) {
    if (defined $p->{secret}) { $p->{secret_value} = $p->{secret}; next }
    $p->{secret_value} = $SECRET_OF_FILE{ $p->{secret_file} } //=
        join '', 'inv-', map { sprintf '%04x', int rand 65536 } 1 .. 4;
}

# the private httpd: the sample's Locations as they are, with the
# challenge files written here
my $locations = '';
{
    my ($in, %files) = (0);
    for my $line (split /\n/, $sample_text) {
        $in = 1 if $line =~ /^\s*<Location\s/i;
        if ($in) {
            if ($line =~ /^\s*SCEPChallengePasswordFile\s+("?)(\S+?)\1\s*$/i) {
                my $path = $2;
                $files{$path} //= write_file("$W/challenge-" . (keys(%files) + 1), "$SECRET_OF_FILE{$path}\n");
                $line =~ s/\Q$path\E/$files{$path}/;
            }
            $locations .= "$line\n";
        }
        $in = 0 if $line =~ m{^\s*</Location>}i;
    }
}
my @left = grep { !/^\s*#/ && m{/etc/|/var/lib/} } split /\n/, $locations;
die "paths of the sample left in its Locations: @left\n" if @left;
my $h = private_httpd(name => 'sample', conf => <<"EOC" . $locations);
\@HTTPD_BASE\@
LoadModule mpm_event_module "\@MODULES\@/mod_mpm_event.so"
DBDriver sqlite3
DBDParams "\@DB\@"
DBDInitSQL "PRAGMA busy_timeout=10000"
\@TEST_CA\@
# wrong challenges are sent on purpose: the throttle would refuse everything
# from 127.0.0.1 after 20 of them (it is not a profile setting)
SCEPChallengeThrottle off
EOC
END { private_httpd_stop($h) if $h }
ok($h->{ok}, "a private httpd with the sample's <Location>s starts (port $h->{port})") or diag($h->{err});
$PORT = $h->{port};

# an RSA certificate of this CA that signs the requests of other keys
{
    my ($rep, $from) = ({});
    for my $p (grep { key_allowed($_, $KEY{signer}{facts}) } @$PROFILES) {
        last if !$h->{ok} || $SIGNER_CERT;
        my $req = build_request(key => $KEY{signer}{file}, subject => '/CN=invariant-signer',
                                challenge => $p->{secret_value}, tid => "inv-signer-$p->{name}");
        $rep = parse_reply(send_request($req, port => $PORT, path => $p->{path}), $req);
        ($SIGNER_CERT, $from) = ($rep->{cert_file}, $p->{path});
    }
    ok($SIGNER_CERT, 'an RSA certificate of this CA to sign the requests of EC and other keys'
                     . ($from ? " (from $from)" : ''))
        or diag('pkiStatus=' . ($rep->{pkiStatus} // '-') . ' ' . ($rep->{failInfoText} // '') . ($rep->{err} // ''));
}

my %SPECS;
for my $p (@$ERRORS ? () : @$PROFILES) {
    $SPECS{ $p->{name} } = [map { gen_request($p, $_) } 1 .. $N];
}

SKIP: {
    skip @$ERRORS ? 'the sample is not fully modelled (test 1)' : 'no private httpd or no signer certificate',
        $PER_PROFILE * @$PROFILES
        unless $h->{ok} && $SIGNER_CERT && !@$ERRORS;
    my $pi = 0;
    for my $p (@$PROFILES) {
        $pi++;
        my $t0 = Time::HiRes::time();
        run_all($SPECS{ $p->{name} }, $pi);
        check_profile($p, $SPECS{ $p->{name} }, Time::HiRes::time() - $t0);
    }
}

private_httpd_stop($h);
{
    # AH00045/AH00046: a loaded machine stops httpd slowly; not the module's doing
    my @bad = grep { /\[(?:\w+:)?(?:warn|error|crit|alert|emerg)\]/ && !/AH0004[56]/ }
              split /\n/, eval { read_file("$h->{dir}/logs/error_log") } // '';
    ok(!@bad, 'the private httpd logged nothing at [warn] or worse')
        or diag(join "\n", @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);
}
undef $h;
error_log_clean();
diag(sprintf 't/15-profile-invariant.t: %.1f s', Time::HiRes::time() - $T_START);

######################################################################

sub check_profile {
    my ($p, $specs, $secs) = @_;
    my $name = $p->{name};
    my (@issued, @refused, @odd, %fail, %reasons, @must, @badfail, @sealed, @limited, %viol, @surprise);
    my ($n_sealed, $n_limited) = (0, 0);
    for my $s (@$specs) {
        my $r = $s->{res};
        if ($r->{http} != 200 || ($r->{verified} // '') ne '1' || ($r->{nonce} // '') ne '1'
            || !defined $r->{status} || ($r->{tid_back} // '') eq '') {
            push @odd, describe($s) . ': ' . ($r->{err} // 'verified=' . ($r->{verified} // '-')
                                                            . ' nonceMatch=' . ($r->{nonce} // '-'));
            next;
        }
        my $x = expected_answer($s, $p);
        my @first = @{ $x->{stages} ? $x->{stages}[0] // [] : [] };
        my $limited = $x->{limited};
        $n_sealed++ if $x->{sealed};
        $n_limited++ if $limited;
        my $expect = $x->{sealed} ? "FAILURE badMessageCheck '$SEALED' (" . join('; ', @{ $x->{sealed} }) . ')'
                   : @first ? 'FAILURE badRequest: ' . join(' | ', map { $_->[0] } @first)
                   : 'issued';
        my $got = $r->{status} eq '0' ? 'issued' : "pkiStatus $r->{status} failInfo " . ($r->{fail} // '-')
                                                   . " '" . ($r->{text} // '') . "'";
        if ($r->{status} eq '0') {
            if (!$r->{cert}) { push @odd, describe($s) . ': SUCCESS without a certificate'; next }
            push @issued, $s;
            push @must, describe($s) . ": issued although the README says $expect"
                if $x->{sealed} || @{ $x->{stages} };
            push @{ $viol{ $_->[0] } }, describe($s) . ": $_->[1]" for check_cert($s, $p);
        }
        elsif ($r->{status} eq '2') {
            push @refused, $s;
            my ($fi, $text) = ($r->{fail} // '-', $r->{text} // '');
            $fail{$fi}++;
            (my $why = $text) =~ s/'[^']*'/'...'/g;
            $why =~ s/\b\d+\b/N/g;
            $reasons{$why}++;
            # badRequest, or the one sealed answer where the README gives it
            push @badfail, describe($s) . ": $got; expected $expect"
                unless $fi eq '2' || $fi eq '1' && $text eq $SEALED && $x->{sealed};
            if (!$x->{sealed} && !grep { $text =~ $_->[1] } @first) {
                push @surprise, describe($s) . ": $got; expected $expect";
            }
        }
        else { push @odd, describe($s) . ": pkiStatus $r->{status}" }
        next if $r->{status} ne '0' && $r->{status} ne '2';
        push @sealed, describe($s) . ": $got; expected $expect"
            if $x->{sealed} && !($r->{status} eq '2' && ($r->{fail} // '') eq '1' && ($r->{text} // '') eq $SEALED);
        push @limited, describe($s) . ": $got; expected $expect"
            if $limited && !($r->{status} eq '2' && ($r->{fail} // '') eq '2' && ($r->{text} // '') =~ $first[0][1]);
    }
    my $n = @$specs;
    diag(sprintf '%s (%s): %d requests sent, %d issued, %d refused, %d other, %.1f s',
                 $name, $p->{path}, $n, scalar @issued, scalar @refused, scalar @odd, $secs);
    note("$name refusals: $reasons{$_} x $_") for sort { $reasons{$b} <=> $reasons{$a} || $a cmp $b } keys %reasons;

    my $list = sub {    # the first 8
        my @l = @_;
        return join "\n", @l[0 .. ($#l > 7 ? 7 : $#l)], @l > 8 ? ('... ' . (@l - 8) . ' more') : ();
    };
    ok(!@odd, "$name: all $n requests answered with a signed CertRep, SUCCESS or FAILURE") or diag($list->(@odd));
    ok(!@badfail, "$name: every FAILURE is failInfo badRequest (2), or badMessageCheck (1) with '$SEALED' "
                  . 'for a request whose PKCS#10 cannot be read or verified')
        or diag('failInfo: ' . join(', ', map { "$_ x $fail{$_}" } sort keys %fail) . "\n" . $list->(@badfail));
    ok(@issued >= $n / 10, "$name: at least 10% issued (" . scalar(@issued) . " of $n)");
    ok(@refused >= $n / 10, "$name: at least 10% refused (" . scalar(@refused) . " of $n)");
    ok(!@must, "$name: nothing the README says is refused was issued") or diag($list->(@must));
    ok(!@sealed, "$name: a PKCS#10 that does not parse or verify, or a self-signed signer with another key, "
                 . "gets the one answer FAILURE badMessageCheck '$SEALED' ($n_sealed requests)")
        or diag($list->(@sealed));
    ok(!@limited, "$name: a request that could be read two ways (two lists of requested extensions, an extension "
                  . 'twice, a list that does not parse, two challengePasswords) or is over a SCEPRequestLimit is '
                  . "refused for that, badRequest ($n_limited requests)")
        or diag($list->(@limited));
    ok(!@surprise, "$name: every refusal is one the README gives for that request (" . scalar(@refused) . ' refusals)')
        or diag($list->(@surprise));
    my @rules = (
        [subject => 'subject: only attributes with a rule, values matching its pattern, in rule order'],
        ['subject-complete' => 'subject: where SCEPSubjectExcess is refuse, exactly what was asked '
                               . '(nothing dropped silently)'],
        [san => 'subjectAltName: only allowed types and names matching a rule, requested or set by the profile'],
        [key => 'key: the request\'s own, of a type and size the profile allows'],
        [ku => 'keyUsage: critical, within the profile\'s (the requested subset where honoured)'],
        [eku => 'extendedKeyUsage: the profile\'s (the requested subset where honoured)'],
        [bc => 'basicConstraints: critical CA:FALSE, no pathLenConstraint'],
        [policies => 'certificatePolicies: exactly the configured OIDs'],
        [urls => 'CRL distribution points and AIA: exactly the configured URLs'],
        [template => 'template name: only with SCEPIncludeTemplateName on and an accepted template'],
        [extensions => 'no extension but those the CA adds, none twice'],
        [validity => 'validity: SCEPValidity from now, backdated by SCEPValidityBackdate'],
        [fields => 'version, issuer, serial, signature digest (SCEPSignatureDigest), key identifiers'],
    );
    for my $r (@rules) {
        my $v = $viol{ $r->[0] } || [];
        ok(!@$v, "$name: $r->[1] (" . scalar(@issued) . ' certificates)') or diag($list->(@$v));
    }
    # the certificates verify against the CA (one openssl run for all)
    my @files = map { $_->{res}{cert_file} } @issued;
    my $v = @files ? run_cmd(['openssl', 'verify', '-CAfile', pki('ca.pem'), @files], timeout => 120)
                   : { rc => 0, out => '', err => '' };
    my $okc = () = $v->{out} =~ /: OK$/mg;
    ok($v->{rc} == 0 && $okc == @files,
       "$name: the issued certificates verify against the CA ($okc of " . scalar(@files) . ')')
        or diag($v->{err});
}
