# What the admin endpoint accepts (issue #12, finding 10; README "SetHandler
# scep-admin"): API bodies are one JSON object read by a real parser
# (jansson) with strict members and types; bound names are structured
# ("subject" and "san" as arrays of {"type", "value"}), so no value can add a
# name; control characters are refused in every JSON string and HTML form
# field. The API at /life-admin (Basic auth, t/conf/lifecycle.conf.in), held
# requests at /life-manual, one-time challenges for profile otp and enrolled
# at /otp (t/conf/otp.conf.in).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use JSON::PP ();
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLifecycle qw(:all);

plan tests => 76;

my $FORM = 'application/x-www-form-urlencoded';

sub n_challenges { db_value('SELECT count(*) FROM scep_challenges') }
sub txn { db_rows('SELECT * FROM scep_transactions WHERE transaction_id = ' . q_str(shift))->[0] || {} }

# POST api/challenges with a raw body: the response
sub raw_challenge { admin(POST => 'api/challenges', body => shift) }

# the attributes of a certificate's subject, in order: ["commonName=dev", ...]
sub subject_attrs {
    my $f = shift;
    # one attribute a line, nothing escaped
    my $r = run_cmd(['openssl', 'x509', '-in', $f, '-noout', '-subject', '-nameopt', 'sep_multiline,lname,utf8']);
    return [map { /^\s+(\w+=.*)$/ ? $1 : () } split /\n/, $r->{out}];
}

# a held request at /life-manual: its transactionID and API id
sub pending {
    my $cn = shift;
    my ($req, undef, $rep) = life_enroll('/life-manual', subject => "/CN=$cn");
    my $e = enrollment_by_tid($req->{tid});
    return ($req->{tid}, $e ? $e->{id} : 0, $rep->{pkiStatus} // '-');
}

# enroll at /otp with a one-time challenge: the certificate file or undef
sub enroll_otp {
    my ($secret, $cn) = @_;
    my $req = build_request(subject => "/CN=$cn", challenge => $secret);
    my $resp = send_request($req, path => '/otp');
    my $rep = $resp->{status} == 200 ? parse_reply($resp, $req) : {};
    diag('pkiStatus=' . ($rep->{pkiStatus} // '-') . ' ' . ($rep->{failInfoText} // $rep->{err} // ''))
        unless $rep->{cert_file};
    return $rep->{cert_file};
}

########## a "san" that smuggles a second name
{
    my $before = n_challenges();
    my $r = admin(POST => 'api/challenges',
                  json => { profile => 'otp', san => "dns:a.example.com\ndns:evil.example.com" });
    is($r->{status}, 400, 'san as a string with a newline (the old form): 400') or diag($r->{body});
    $r = admin(POST => 'api/challenges',
               json => { profile => 'otp', san => ["dns:a.example.com\ndns:evil.example.com"] });
    is($r->{status}, 400, 'san as an array of "type:value" strings: 400');
    $r = admin(POST => 'api/challenges',
               json => { profile => 'otp', san => [{ type => 'dns', value => "a.example.com\ndns:evil.example.com" }] });
    is($r->{status}, 400, 'a newline in a SAN value: 400');
    like(($r->{json} || {})->{error} // '', qr/control character/, 'the error says why');
    for my $c (["\r", 'CR'], ["\t", 'TAB'], ["\x7f", 'DEL'], ["\x01", '0x01']) {
        $r = admin(POST => 'api/challenges',
                   json => { profile => 'otp', san => [{ type => 'dns', value => "a$c->[0]b.example.com" }] });
        is($r->{status}, 400, "a $c->[1] in a SAN value: 400");
    }
    $r = admin(POST => 'api/challenges',
               json => { profile => 'otp', san => [{ type => "dns\n", value => 'a.example.com' }] });
    is($r->{status}, 400, 'a newline in a SAN type: 400');
    $r = raw_challenge('{"profile":"otp","san":[{"type":"dns","value":"a\u0000b"}]}');
    is($r->{status}, 400, 'an escaped NUL in a SAN value: 400');
    is(n_challenges(), $before, 'none of them made a challenge');

    # a well-formed list binds exactly its names
    $r = admin(POST => 'api/challenges',
               json => { profile => 'otp', san => [{ type => 'dns', value => 'one.example.com' },
                                                   { type => 'dns', value => 'two.example.com' }] });
    is($r->{status}, 201, 'two SANs as {"type", "value"} objects: 201') or diag($r->{body});
    my $id = ($r->{json} || {})->{id} // 0;
    is(db_value("SELECT san FROM scep_challenges WHERE id = $id"), "dns:one.example.com\ndns:two.example.com",
       'stored one a line');
}

########## a subject value that looks like another attribute
{
    my $r = admin(POST => 'api/challenges',
                  json => { profile => 'otp', subject => [{ type => 'CN', value => 'inj-dev/OU=Admins' }] });
    is($r->{status}, 201, 'subject [{CN: "inj-dev/OU=Admins"}]: 201') or diag($r->{body});
    my ($id, $secret) = @{ $r->{json} || {} }{qw(id challenge)};
    ($id, $secret) = ($id // 0, $secret // 'none');
    is(db_value("SELECT subject FROM scep_challenges WHERE id = $id"), '/CN=inj-dev\/OU=Admins',
       'stored with the slash escaped');
    my $cert = enroll_otp($secret, 'asks-for-this');
    ok($cert, 'enrollment with that challenge at /otp: SUCCESS');
    is_deeply($cert ? subject_attrs($cert) : [], ['commonName=inj-dev/OU=Admins'],
              'the certificate has one attribute, CN "inj-dev/OU=Admins", and no OU');

    $r = admin(POST => 'api/challenges',
               json => { profile => 'otp', subject => [{ type => 'CN', value => 'back\\slash/x' },
                                                       { type => 'O', value => 'Ex=ample' }] });
    is($r->{status}, 201, 'subject with a backslash, a slash and an "=": 201') or diag($r->{body});
    ($id, $secret) = @{ $r->{json} || {} }{qw(id challenge)};
    $cert = enroll_otp($secret // 'none', 'asks-for-that');
    is_deeply($cert ? subject_attrs($cert) : [], ['commonName=back\\slash/x', 'organizationName=Ex=ample'],
              'the certificate has exactly those two attributes');

    $r = admin(POST => 'api/challenges', json => { profile => 'otp', subject => '/CN=dev/OU=x' });
    is($r->{status}, 400, 'subject as a "/CN=..." string: 400');
    like(($r->{json} || {})->{error} // '', qr/subject.*array/, 'the error says it must be an array');
    $r = admin(POST => 'api/challenges', json => { profile => 'otp', subject => [{ type => 'XX', value => 'x' }] });
    is($r->{status}, 400, 'an unknown attribute type: 400');
    $r = admin(POST => 'api/challenges', json => { profile => 'otp', subject => [{ type => 'CN=a/OU', value => 'x' }] });
    is($r->{status}, 400, 'an attribute type with "=" and "/": 400');
    $r = admin(POST => 'api/challenges', json => { profile => 'otp', subject => [{ type => 'CN', value => "a\nb" }] });
    is($r->{status}, 400, 'a newline in a subject value: 400');
    $r = admin(POST => 'api/challenges', json => { profile => 'otp', subject => [] });
    is($r->{status}, 400, 'an empty subject: 400');
    $r = admin(POST => 'api/challenges', json => { profile => 'otp', subject => [{ type => 'CN', value => '' }] });
    is($r->{status}, 400, 'an empty value: 400');
    $r = admin(POST => 'api/challenges',
               json => { profile => 'otp', subject => [{ type => 'CN', value => 'x', extra => 1 }] });
    is($r->{status}, 400, 'a subject item with a third member: 400');
    $r = admin(POST => 'api/challenges', json => { profile => 'otp', subject => [{ type => 'CN', value => 7 }] });
    is($r->{status}, 400, 'a number as a subject value: 400');
    $r = admin(POST => 'api/challenges', json => { profile => 'otp', subject => ['CN=x'] });
    is($r->{status}, 400, 'a string as a subject item: 400');
}

########## the body: one object, known members, right types
{
    my $before = n_challenges();
    my @bad = (
        ['{"profile":"otp","profile":"otp"}', 'a duplicate member'],
        ['{"profile":"otp","colour":"red"}', 'an unknown member'],
        ['{"profile":"otp","ttl":600}', 'ttl as a number'],
        ['{"profile":7}', 'profile as a number'],
        ['{"profile":["otp"]}', 'profile as an array'],
        ['{"profile":"otp","san":{"type":"dns","value":"a.example.com"}}', 'san as an object'],
        ['{"profile":"otp","subject":null}', 'subject null'],
        ['{"profile":"otp"} x', 'trailing junk'],
        ['{"profile":"otp"}{"profile":"otp"}', 'two objects'],
        ['["profile","otp"]', 'an array'],
        ['"otp"', 'a string'],
        ['{"profile":"otp"', 'a truncated object'],
        ['{"ttl":"10m"}', 'no profile'],
        ["{\"profile\":\"otp\xff\"}", 'invalid UTF-8'],
        ["{\"profile\":\"o\x01tp\"}", 'a raw control character'],
    );
    for my $b (@bad) {
        my $r = raw_challenge($b->[0]);
        is($r->{status}, 400, "POST api/challenges with $b->[1]: 400") or diag($r->{body});
    }
    my $r = raw_challenge('{"profile":"otp","colour":"red"}');
    like(($r->{json} || {})->{error} // '', qr/unknown member "colour"/, 'the error names the unknown member');
    is(n_challenges(), $before, 'none of them made a challenge');
    $r = raw_challenge(" {\n \"profile\" : \"otp\" , \"ttl\" : \"10m\" } \n");
    is($r->{status}, 201, 'the same with white space around: 201') or diag($r->{body});
}

########## approve, reject and revoke bodies
{
    my ($tid, $id, $st) = pending('input-1');
    is($st, '3', 'a request is held at /life-manual');
    my $r = admin(POST => "api/enrollments/$id/reject", json => { reason => 5 });
    is($r->{status}, 400, 'reject with a number as reason: 400');
    $r = admin(POST => "api/enrollments/$id/reject", json => { reason => 'x', note => 'y' });
    is($r->{status}, 400, 'reject with an unknown member: 400');
    $r = admin(POST => "api/enrollments/$id/reject", json => { reason => "bad\x07device" });
    is($r->{status}, 400, 'reject with a control character in the reason: 400');
    $r = admin(POST => "api/enrollments/$id/reject", body => '{"reason":"a","reason":"b"}');
    is($r->{status}, 400, 'reject with the reason twice: 400');
    $r = admin(POST => "api/enrollments/$id/approve", json => { force => JSON::PP::true });
    is($r->{status}, 400, 'approve with a member: 400');
    $r = admin(POST => "api/enrollments/$id/approve", body => 'null');
    is($r->{status}, 400, 'approve with a body that is not an object: 400');
    is(txn($tid)->{status}, 'PENDING', 'the request is still PENDING');

    $r = admin(POST => "api/enrollments/$id/approve", body => '{}');
    is($r->{status}, 200, 'approve with {}: 200') or diag($r->{body});
    my $serial = ($r->{json} || {})->{serial} // 'none';
    $r = admin(POST => "api/certificates/$serial/revoke", json => { reason => 'keyCompromise', when => 'now' });
    is($r->{status}, 400, 'revoke with an unknown member: 400');
    $r = admin(POST => "api/certificates/$serial/revoke", json => { reason => 1 });
    is($r->{status}, 400, 'revoke with a number as reason: 400');
    ok(!db_value('SELECT revoked_at FROM scep_certificates WHERE serial = ' . q_str($serial)), 'not revoked');
    $r = admin(POST => "api/certificates/$serial/revoke");
    is($r->{status}, 200, 'revoke with an empty body: 200') or diag($r->{body});

    my $ch = admin(POST => 'api/challenges', json => { profile => 'otp' });
    my $cid = ($ch->{json} || {})->{id} // 0;
    $r = admin(POST => "api/challenges/$cid/revoke", json => { why => 'x' });
    is($r->{status}, 400, 'revoke a challenge with a member: 400');
    $r = admin(POST => "api/challenges/$cid/revoke");
    is($r->{status}, 200, 'and without: 200');
}

########## the HTML forms
{
    my $pg = http(path => ADMIN, headers => [admin_auth('alice')]);
    my ($token) = ($pg->{headers}{'set-cookie'} // '') =~ /scep_admin_csrf=([0-9A-Fa-f]+)/;
    $token //= '';
    my $post = sub {
        my ($action, $body) = @_;
        return http(method => 'POST', path => ADMIN . "/ui/$action", body => "csrf=$token&$body",
                    headers => [admin_auth('alice'), Cookie => "scep_admin_csrf=$token", 'Content-Type' => $FORM]);
    };
    my ($tid, $id) = pending('input-2');
    my $r = $post->('reject', "id=$id&reason=bad%01reason");
    is($r->{status}, 400, 'ui/reject with a control character in the reason: 400');
    like($r->{body}, qr/"reason" contains a control character/, 'saying which field');
    $r = $post->('reject', "id=$id&reason=bad%0Areason");
    is($r->{status}, 400, 'ui/reject with a newline in the reason: 400');
    is(txn($tid)->{status}, 'PENDING', 'still PENDING');
    my $before = n_challenges();
    $r = $post->('challenge', 'profile=otp&ttl=10m&subject=%2FCN%3Da%0A%2FOU%3Db');
    is($r->{status}, 400, 'ui/challenge with a newline in the subject: 400');
    $r = $post->('challenge', 'profile=otp&ttl=10m&san=dns%3Aa.example.com%09dns%3Ab.example.com');
    is($r->{status}, 400, 'ui/challenge with a TAB in the SANs: 400');
    $r = $post->('challenge', "profile=otp%7F&ttl=10m");
    is($r->{status}, 400, 'ui/challenge with a DEL in the profile: 400');
    is(n_challenges(), $before, 'no challenge made');
    $r = $post->('challenge', 'profile=otp&ttl=10m&san=dns%3Aa.example.com%0D%0Adns%3Ab.example.com');
    is($r->{status}, 200, 'ui/challenge with two SANs on two lines (the textarea): 200');
    is(n_challenges(), $before + 1, 'one challenge made');
    $r = $post->('reject', "id=$id&reason=not+our+device+%2B1");
    is($r->{status}, 303, 'ui/reject with an ordinary reason: 303');
    is(txn($tid)->{status}, 'REJECTED', 'REJECTED');
    is(txn($tid)->{fail_text}, 'not our device +1', "a browser's '+' is a space, its %2B a '+'");
}

error_log_clean();
