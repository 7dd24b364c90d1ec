package SCEPLifecycle;
# Helpers for the certificate lifecycle tests (t/40-lifecycle.t,
# t/41-admin.t): the admin endpoint at /life-admin (Basic auth), CertPoll,
# GetCert, GetCRL and renewal messages built with client/scepreq, and
# certificates made with openssl (expired, not on record, foreign CA).
# The Locations are in t/conf/lifecycle.conf.in. 127.0.0.1 only.
use strict;
use warnings;

use Exporter 'import';
use Apache::Test ();
use Carp qw(croak);
use File::Spec::Functions qw(catfile);
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use Time::Local ();
use SCEPTest qw(:all);

our @EXPORT_OK = qw(
    ADMIN admin_auth admin json_body enrollment_by_tid
    life_enroll life_poll life_getcert life_getcrl life_renew
    reply_for issued_cert openssl_ca_cert crl_der crl_text q_str
    certmonger_field
);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

# the admin Location and its users (t/lifecycle/admins.htpasswd)
use constant ADMIN => '/life-admin';
my %PASSWORD = (alice => 'alice-pw-4711', bob => 'bob-pw-0815');

sub q_str { my $s = shift // ''; $s =~ s/'/''/g; "'$s'" }

sub admin_auth {
    my ($user, $pw) = @_;
    $pw //= $PASSWORD{$user} // croak "no password for $user";
    return (Authorization => 'Basic ' . encode_base64("$user:$pw", ''));
}

# admin(GET => 'api/enrollments?status=PENDING', user => 'alice',
#       json => {...} | body => BYTES, content_type => CT (POST default
#       application/json; undef for none), headers => [...], auth => 0)
# -> the http() response, with {json} when the body is JSON
sub admin {
    my ($method, $rel, %o) = @_;
    my @h = @{ $o{headers} || [] };
    push @h, admin_auth($o{user} || 'alice', $o{password}) unless exists $o{auth} && !$o{auth};
    my $body = $o{body};
    $body = JSON::PP->new->canonical->encode($o{json}) if $o{json};
    if ($method eq 'POST') {
        my $ct = exists $o{content_type} ? $o{content_type} : 'application/json';
        push @h, 'Content-Type' => $ct if defined $ct;
        $body //= '';
    }
    my $path = ADMIN . ($rel eq '' ? '' : "/$rel");
    my $r = http(method => $method, path => $path, headers => \@h, body => $body);
    $r->{json} = json_body($r);
    return $r;
}

sub json_body {
    my $r = shift;
    return undef unless ($r->{headers}{'content-type'} // '') =~ m{^application/json};
    return eval { JSON::PP->new->decode($r->{body}) };
}

# The enrollment (API view) with this transactionID, looked up in the list
# filtered by status (PENDING by default); undef if absent.
sub enrollment_by_tid {
    my ($tid, $status) = @_;
    my $r = admin(GET => 'api/enrollments?status=' . ($status || 'PENDING') . '&limit=1000');
    return undef unless $r->{status} == 200 && $r->{json};
    my @m = grep { $_->{transaction_id} eq $tid } @{ $r->{json}{enrollments} || [] };
    return $m[0];
}

# send + parse in one go at a Location: returns ($resp, $rep)
sub reply_for {
    my ($req, $path, %o) = @_;
    my $resp = send_request($req, path => $path);
    my $rep = $resp->{status} == 200 ? parse_reply($resp, $o{decrypt_as} || $req) : { rc => -1 };
    $rep->{http_status} = $resp->{status};
    return ($resp, $rep);
}

# a PKCSReq at $path: (req, resp, rep)
sub life_enroll {
    my ($path, %build) = @_;
    my $req = build_request(%build);
    my ($resp, $rep) = reply_for($req, $path);
    return ($req, $resp, $rep);
}

# CertPoll (GetCertInitial, messageType 20) for an earlier PKCSReq: the
# same key (so the self-signed signer carries the same key), the same
# transactionID, IssuerAndSubject(CA, request subject)
# (signer_cert/signer_key: poll signed by an issued certificate, as a
# renewing client does; the reply is then decrypted with that key)
sub life_poll {
    my ($orig, $path, %o) = @_;
    my @signer = $o{signer_cert} ? ('--signer-cert', $o{signer_cert}, '--signer-key', $o{signer_key}) : ();
    my $req = build_request(key => $o{key} || $orig->{key}, subject => $orig->{subject},
                            tid => $o{tid} || $orig->{tid}, type => 20, challenge => undef,
                            args => ['--issuer-subject', pki('ca.pem'), @signer]);
    my $as = $o{signer_cert} ? { %$req, key => $o{signer_key}, signer => $o{signer_cert} } : undef;
    my ($resp, $rep) = reply_for($req, $path, ($as ? (decrypt_as => $as) : ()));
    return ($req, $resp, $rep);
}

# GetCert (21): IssuerAndSerialNumber of CERT (PEM file), asked by a new
# self-signed requester
sub life_getcert {
    my ($cert, $path) = @_;
    my $req = build_request(subject => '/CN=getcert-asker', type => 21, challenge => undef,
                            args => ['--issuer-serial', $cert]);
    my ($resp, $rep) = reply_for($req, $path);
    return ($req, $resp, $rep);
}

# GetCRL (22): IssuerAndSerialNumber of the CA certificate (sscep's way)
sub life_getcrl {
    my ($path) = @_;
    my $req = build_request(subject => '/CN=getcrl-asker', type => 22, challenge => undef,
                            args => ['--issuer-serial', pki('ca.pem')]);
    my $resp = send_request($req, path => $path);
    my $crl = work_file('getcrl', 'pem');
    my $rep = { rc => -1 };
    if ($resp->{status} == 200) {
        my $in = write_file(work_file('getcrl-rep', 'der'), $resp->{body});
        my $r = scepreq('parse', '-i', $in, '--verify', pki('all.pem'), '--key', $req->{key},
                        '--signer-cert', $req->{signer}, '--out-crl', $crl,
                        '--expect-nonce', $req->{nonce});
        $rep = { $r->{out} =~ /^(\w+)=(.*)$/mg };
        $rep->{rc} = $r->{rc};
        $rep->{err} = $r->{err};
        $rep->{crl_file} = $crl if -s $crl;
    }
    return ($req, $resp, $rep);
}

# A renewal: the CSR of a NEW key, signed by an issued certificate and its
# key. type 17 (RenewalReq) or 19 (PKCSReq, as sscep -O and certmonger).
# life_renew(old_cert => PEM, old_key => PEM, path => '/life-auto',
#            type => 17, subject => '/CN=..', challenge => undef, tid => ..)
# The reply is encrypted to the old certificate: decrypted with the old key.
sub life_renew {
    my %o = @_;
    my $new_key = $o{new_key} || new_key();
    my $req = build_request(key => $new_key, subject => $o{subject} || '/CN=renewal-asks-this',
                            type => $o{type} || 17,
                            challenge => exists $o{challenge} ? $o{challenge} : undef,
                            (defined $o{tid} ? (tid => $o{tid}) : ()),
                            args => ['--signer-cert', $o{old_cert}, '--signer-key', $o{old_key}]);
    my $as = { %$req, key => $o{old_key}, signer => $o{old_cert} };
    my ($resp, $rep) = reply_for($req, $o{path}, decrypt_as => $as);
    return ($req, $resp, $rep);
}

# The issued certificate of a SUCCESS reply (PEM file) or undef.
sub issued_cert {
    my $rep = shift;
    return ($rep->{pkiStatus} // '') eq '0' && $rep->{cert_file} ? $rep->{cert_file} : undef;
}

# A certificate for KEY made with openssl, not through SCEP (a client
# certificate by build-tools/make-pki.sh --cert):
# openssl_ca_cert(key => FILE, subject => '/CN=x', ca => 'main'|'other',
#                 start => '20200101000000Z', end => '20200201000000Z')
sub openssl_ca_cert {
    my %o = @_;
    croak 'openssl_ca_cert: start and end go together' if !$o{start} != !$o{end};
    my $out = work_file('openssl-ca', 'pem');
    my $ca = ($o{ca} || 'main') eq 'other' ? pki('other') : pki();
    my $r = run_cmd(['sh', catfile(Apache::Test::vars('scep_top'), 'build-tools', 'make-pki.sh'),
                     '--cert', $ca, $o{key}, $o{subject}, $out,
                     ($o{start} ? ($o{start}, $o{end}) : ())]);
    croak "make-pki.sh --cert: $r->{err}" if $r->{rc};
    return $out;
}

# a field of certmonger's saved request (multi-line values joined by \n)
sub certmonger_field {
    my ($d, $name) = @_;
    my @files = glob("$d/requests/*");
    return undef unless @files;
    my ($val, $on);
    for my $l (split /\n/, read_file($files[0])) {
        if ($l =~ /^\Q$name\E=(.*)$/) { $val = $1; $on = 1; next }
        if ($on && $l =~ /^ (.*)$/) { $val .= "\n$1"; next }
        $on = 0;
    }
    return $val;
}

# GET a CRL Location: (response, DER)
sub crl_der {
    my $path = shift;
    my $r = http(path => $path);
    return ($r, $r->{status} == 200 ? $r->{body} : undef);
}

# "Nov 26 04:28:10 2026 GMT" (openssl's dates) -> seconds since the epoch
sub openssl_time {
    my $s = shift // return undef;
    my %mon = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5,
               Jul => 6, Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);
    my ($m, $d, $H, $M, $S, $y) = $s =~ /^(\w{3})\s+(\d+)\s+(\d+):(\d+):(\d+)\s+(\d{4})\s+GMT/
        or return undef;
    return Time::Local::timegm($S, $M, $H, $d, $mon{$m}, $y);
}

# openssl crl -text of DER bytes -> { text, number, verify_ok, version,
#   last_update, next_update (epoch), aki, revoked => {SERIAL => reason},
#   revoked_at => {SERIAL => epoch} }
sub crl_text {
    my $der = shift;
    my $f = write_file(work_file('crl', 'der'), $der);
    my $r = run_cmd(['openssl', 'crl', '-inform', 'DER', '-in', $f, '-CAfile', pki('ca.pem'),
                     '-noout', '-text']);
    my %i = (text => $r->{out}, rc => $r->{rc}, file => $f,
             verify_ok => (($r->{out} . $r->{err}) =~ /^verify OK$/m ? 1 : 0));
    ($i{number}) = $r->{out} =~ /X509v3 CRL Number:\s*\n\s*(\d+)/;
    ($i{version}) = $r->{out} =~ /Version (\d+)/;
    $i{last_update} = openssl_time(($r->{out} =~ /Last Update:\s*(.+)$/m)[0]);
    $i{next_update} = openssl_time(($r->{out} =~ /Next Update:\s*(.+)$/m)[0]);
    ($i{aki}) = $r->{out} =~ /X509v3 Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/;
    my (%rev, %at);
    for my $entry (split /(?=Serial Number:)/, $r->{out}) {
        next unless $entry =~ /^Serial Number:\s*([0-9A-Fa-f]+)/;
        my $s = norm_serial($1);
        my ($reason) = $entry =~ /CRL Reason Code:\s*\n\s*(.+?)\s*$/m;
        $rev{$s} = $reason // '';
        $at{$s} = openssl_time(($entry =~ /Revocation Date:\s*(.+)$/m)[0]);
    }
    $i{revoked} = \%rev;
    $i{revoked_at} = \%at;
    return \%i;
}

1;
