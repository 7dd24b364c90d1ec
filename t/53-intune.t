# Microsoft Intune as the judge of a request's challenge, end to end
# (docs/intune.md): a private httpd (one process, its own SQLite records and
# the test CA) whose Locations ask Intune, and t/tools/intune-mock.py playing
# Entra ID, Microsoft Graph and ScepActions over HTTPS with a throwaway
# certificate that only SCEPOutboundCAFile trusts. Each case scripts the
# mock through its state file, enrolls a device, and reads what the device
# heard, what was recorded, what the mock was sent (field by field of the
# contract) and what the outbox worker delivered afterwards.
#   /intune           SCEPValidationUnavailable refuse (the default)
#   /intune-nodisc    the same, first asked while Graph is down
#   /intune-pending   SCEPValidationUnavailable pending
#   /intune-badsecret the same app with a client secret Entra ID refuses
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use Digest::SHA qw(sha1_hex);
use JSON::PP ();
use MIME::Base64 qw(encode_base64 decode_base64);
use lib 't/lib';
use SCEPTest qw(:all);

my $t0 = time;
my $TENANT = 'contoso.onmicrosoft.com';
my $CLIENT = '11111111-2222-3333-4444-555555555555';
my $APP = '0000000a-0000-0000-c000-000000000000';
my $INTUNE_SCOPE = 'https://api.manage.microsoft.com//.default';
my $GRAPH_SCOPE = 'https://graph.microsoft.com/.default';
my $GUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\z/i;
my $UNAVAILABLE = 'the enrollment service cannot decide now; try again later';
my $E_FAIL = 0x80004005;
my $rnd = sub { unpack 'H*', pack 'N2', map { int rand 2**32 } 1 .. 2 };
# characters a form body must escape, so a sloppy encoding cannot match
my $SECRET = 'mock+secret/&=%~.' . $rnd->();
my $WRONG = 'wrong+secret/&=' . $rnd->();
my %SECRETS = ($SECRET => 1, $WRONG => 1);    # none may reach the error_log

sub q_str { my $s = shift; $s =~ s/'/''/g; "'$s'" }

######################################################################
# the mock

sub python3 {
    for my $p ('/usr/bin/python3', split(/:/, $ENV{PATH} // '')) {
        my $py = -d $p ? "$p/python3" : $p;
        return $py if -x $py && system($py, '-c', '1') == 0;
    }
    return undef;
}

my $W = work_dir();
my $STATE = "$W/intune.state";
my $MOCK_LOG = "$W/intune.log";
my ($MOCK, $MOCK_PORT, $H);
END {
    private_httpd_stop($H) if $H;
    if ($MOCK) { kill 'TERM', $MOCK->{pid}; cmd_wait($MOCK, 5) }
}

# every request the mock logged, in order
sub mock_log {
    return () unless -e $MOCK_LOG;
    my $json = JSON::PP->new;
    return map { $json->decode($_) } grep { /\S/ } split /\n/, read_file($MOCK_LOG);
}
sub mock_mark { return scalar(my @l = mock_log()) }
sub mock_since { my @l = mock_log(); return @l[$_[0] .. $#l] }

sub state { write_file($STATE, join('', map { "$_\n" } @_)) }

sub is_token { ($_[0]{path} // '') eq "/$TENANT/oauth2/v2.0/token" }
sub is_discovery { ($_[0]{path} // '') eq "/v1.0/servicePrincipals/appId=$APP/endpoints" }
sub action_of { ($_[0]{path} // '') =~ m{^/ScepRequestValidationFEService/ScepActions/(\w+)\z} ? $1 : '' }
# a ScepActions call's transactionId
sub tid_of {
    my $b = $_[0]{body};
    return '' unless ref $b eq 'HASH';
    my $inner = $b->{request} || $b->{notification} || {};
    return ref $inner eq 'HASH' ? $inner->{transactionId} // '' : '';
}
sub calls { my ($action, $tid, @l) = @_; grep { action_of($_) eq $action && tid_of($_) eq $tid } @l }

######################################################################
# the private httpd

sub location {
    my ($path, $secret_file, @more) = @_;
    return <<"EOC" . join('', map { "    $_\n" } @more) . "</Location>\n";
<Location $path>
    SetHandler scep
    SCEPIntuneTenant $TENANT
    SCEPIntuneClientID $CLIENT
    SCEPIntuneSecretFile "$secret_file"
    SCEPIntuneEndpoints https://127.0.0.1:\@MOCK\@/$TENANT/oauth2/v2.0/token https://127.0.0.1:\@MOCK\@/v1.0/servicePrincipals/appId=$APP/endpoints
    SCEPOutboundCAFile "$W/mock.pem"
    SCEPOutboundTimeout 5
EOC
}

my $CONF = <<'EOC';
@HTTPD_BASE@
# one process (so one set of tokens), threads as in production
LoadModule mpm_event_module "@MODULES@/mod_mpm_event.so"
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
MinSpareThreads 1
MaxSpareThreads 8
LogLevel info scep:debug
@SQLITE_DB@
@TEST_CA@
SCEPChallengeThrottle off
EOC
$CONF .= location('/intune', "$W/secret");
$CONF .= location('/intune-nodisc', "$W/secret");
$CONF .= location('/intune-pending', "$W/secret", 'SCEPValidationUnavailable pending');
$CONF .= location('/intune-badsecret', "$W/wrong-secret");

my @KEYS;
sub next_key { @KEYS ? shift @KEYS : new_key() }

# enroll_intune(path, challenge, cn) -> { req, rep, csr_der, csr_b64, resp }:
# the device's own CSR (openssl req, so that its exact bytes are known)
sub enroll_intune {
    my ($path, $challenge, $cn) = @_;
    $SECRETS{$challenge} = 1;
    my $key = next_key();
    my $csr = openssl_csr(key => $key, subject => [[CN => $cn]], challenge => $challenge);
    my $der = run_cmd(['openssl', 'req', '-in', $csr, '-outform', 'DER'])->{out};
    my $req = build_request(key => $key, subject => undef, challenge => undef, args => ['--csr', $csr]);
    my $resp = send_request($req, port => $H->{port}, path => $path);
    my $rep = $resp->{status} == 200 ? parse_reply($resp, $req) : { http => $resp->{status} };
    return { req => $req, rep => $rep, resp => $resp, csr_der => $der,
             csr_b64 => encode_base64($der, '') };
}

sub txn { db_rows('SELECT * FROM scep_transactions WHERE transaction_id = ' . q_str($_[0]), file => $H->{db})->[0] // {} }
sub outbox { db_rows("SELECT * FROM scep_outbox WHERE sink = 'intune' AND event_key = " . q_str($_[0])
                     . ' ORDER BY id', file => $H->{db}) }
# the outbox rows of these transactions, once every one is delivered (at most S seconds)
sub delivered {
    my ($s, @tids) = @_;
    return poll($s, sub {
        my @rows = map { @{ outbox($_) } } @tids;
        return @rows && !grep({ !defined $_->{delivered_at} } @rows) ? \@rows : undef;
    });
}

sub failure_text {
    my $rep = shift;
    return join '|', $rep->{pkiStatus} // '-', $rep->{failInfo} // '-', $rep->{failInfoText} // $rep->{err} // '';
}

######################################################################
# set up: the mock's certificate and secrets, the mock, httpd

my $PY = python3();
unless ($PY) {
    Test::More::plan(skip_all => 'python3 is needed for t/tools/intune-mock.py');
}
@KEYS = new_keys((2048) x 10);
{
    my $r = run_cmd(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
                     '-nodes', '-keyout', "$W/mock.key", '-out', "$W/mock.pem", '-days', 2,
                     '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
    is($r->{rc}, 0, 'a throwaway certificate for the mock (SAN IP:127.0.0.1)') or diag($r->{err});
    write_file("$W/secret", "$SECRET\n");
    write_file("$W/wrong-secret", "$WRONG\n");
    chmod 0600, "$W/secret", "$W/wrong-secret";
    state();
    $MOCK = start_cmd([$PY, catfile_top('t', 'tools', 'intune-mock.py'), '--port', 0,
                       '--cert', "$W/mock.pem", '--key', "$W/mock.key", '--log', $MOCK_LOG,
                       '--state', $STATE, '--tenant', $TENANT, '--client-id', $CLIENT,
                       '--secret', $SECRET]);
    ($MOCK_PORT) = (poll(20, sub { cmd_output($MOCK) =~ /^listening (\d+)$/m || !cmd_alive($MOCK) })
                    && cmd_output($MOCK) =~ /^listening (\d+)$/m);
    ok($MOCK_PORT, "the mock listens on 127.0.0.1:" . ($MOCK_PORT // '?')) or diag(cmd_output($MOCK));
    (my $conf = $CONF) =~ s{\@MOCK\@}{$MOCK_PORT // 0}ge;
    $H = private_httpd(name => 'intune', conf => $conf);
    ok($H->{ok}, 'a private httpd whose Locations ask Intune') or diag($H->{err});
}

sub catfile_top { join '/', Apache::Test::vars('scep_top'), @_ }

SKIP: {
skip 'the mock or httpd did not start', 1 unless $MOCK_PORT && $H->{ok};

my @ISSUED;    # transactions whose certificate must reach Intune

########## a valid challenge: SUCCESS, then a successNotification
{
    my $ch = 'intune-valid-' . $rnd->();
    state("valid $ch");
    my $mark = mock_mark();
    my $e = enroll_intune('/intune', $ch, 'intune-dev-1');
    my ($req, $rep) = @$e{qw(req rep)};
    is($rep->{pkiStatus} // '', '0', 'a challenge Intune takes: SUCCESS') or diag(failure_text($rep));
    ok($rep->{cert_file}, 'with the certificate');
    my $row = txn($req->{tid});
    is($row->{status} // '', 'ISSUED', 'recorded ISSUED');
    my $info = $rep->{cert_file} ? cert_info($rep->{cert_file}) : {};
    is(norm_serial($row->{serial}), norm_serial($info->{serial}), "the record names the device's certificate");

    my @l = mock_since($mark);
    # 1. Entra ID: a Graph token (for discovery) and an Intune token
    my @tok = grep { is_token($_) } @l;
    is_deeply([map { $_->{body}{scope} // '' } @tok], [$GRAPH_SCOPE, $INTUNE_SCOPE],
              'two token requests: the Graph scope, then the Intune scope ("//.default")');
    for my $t (@tok) {
        my $what = 'token request (' . ($t->{body}{scope} // '?') . ')';
        is($t->{method}, 'POST', "$what: POST to /<tenant>/oauth2/v2.0/token");
        like($t->{headers}{'content-type'} // '', qr{^application/x-www-form-urlencoded\b},
             "$what: a form body");
        is($t->{body}{grant_type} // '', 'client_credentials', "$what: grant_type=client_credentials");
        is($t->{body}{client_id} // '', $CLIENT, "$what: client_id");
        is_deeply($t->{body}{client_secret}, { matches => JSON::PP::true },
                  "$what: the client secret, form-escaped, is the file's (without its line break)");
        is($t->{status}, 200, "$what: issued");
    }
    # 2. Graph: the endpoints of the Intune service principal
    my @disc = grep { is_discovery($_) } @l;
    is(scalar @disc, 1, 'one discovery call');
    my $d = $disc[0] || {};
    is($d->{method} // '', 'GET', 'discovery: GET .../servicePrincipals/appId=0000000a-.../endpoints');
    like($d->{headers}{authorization} // '', qr/^Bearer mock-graph-[0-9a-f]+\z/, 'discovery: the Graph token as Bearer');
    like($d->{headers}{'client-request-id'} // '', $GUID, 'discovery: a GUID client-request-id');
    is($d->{status} // 0, 200, 'discovery: answered');
    # 3. ScepActions/validateRequest
    my @v = calls('validateRequest', $req->{tid}, @l);
    is(scalar @v, 1, 'one validateRequest for the transaction');
    my $v = $v[0] || {};
    is($v->{method} // '', 'POST', 'validateRequest: POST');
    like($v->{headers}{authorization} // '', qr/^Bearer mock-intune-[0-9a-f]+\z/, 'validateRequest: the Intune token as Bearer');
    is($v->{headers}{'api-version'} // '', '2018-02-20', 'validateRequest: api-version 2018-02-20');
    like($v->{headers}{'client-request-id'} // '', $GUID, 'validateRequest: a GUID client-request-id');
    isnt($v->{headers}{'client-request-id'} // '', $d->{headers}{'client-request-id'} // '',
         "validateRequest: a client-request-id of its own");
    like($v->{headers}{'content-type'} // '', qr{^application/json\b}, 'validateRequest: Content-Type application/json');
    like($v->{headers}{useragent} // '', qr{^mod_scep/\S+\z}, 'validateRequest: UserAgent (the library\'s spelling) mod_scep/<version>');
    my $body = ($v->{body} || {})->{request} || {};
    is_deeply([sort keys %$body], [qw(callerInfo certificateRequest transactionId)],
              'validateRequest: {"request": {transactionId, certificateRequest, callerInfo}}');
    is($body->{transactionId} // '', $req->{tid}, 'validateRequest: transactionId is the SCEP transactionID');
    is($body->{certificateRequest} // '', $e->{csr_b64},
       'validateRequest: certificateRequest is the base64 of the DER CSR the device sent, byte for byte');
    is($body->{callerInfo} // '', $v->{headers}{useragent} // 'x', 'validateRequest: callerInfo is the product/version');
    is(($v->{code} // '') . ' ' . ($v->{status} // ''), 'Success 200', 'the mock answered Success');

    # 4. the outbox worker tells Intune what was issued
    my $rows = delivered(20, $req->{tid});
    ok($rows, 'the outbox row of the issued certificate is delivered (within 20 s)')
        or diag(explain(outbox($req->{tid})));
    my $o = ($rows || outbox($req->{tid}))->[0] || {};
    # attempts counts every delivery tried, the one that went through too
    is_deeply([@$o{qw(event attempts last_error)}], ['issued', 1, undef], 'outbox: event issued, delivered at the first attempt');
    my @n = calls('successNotification', $req->{tid}, mock_log());
    is(scalar @n, 1, 'one successNotification for the transaction');
    my $n = $n[0] || {};
    like($n->{headers}{authorization} // '', qr/^Bearer mock-intune-/, 'successNotification: Bearer (the Intune token)');
    is($n->{headers}{'api-version'} // '', '2018-02-20', 'successNotification: api-version');
    like($n->{headers}{'client-request-id'} // '', $GUID, 'successNotification: a GUID client-request-id');
    my $nb = ($n->{body} || {})->{notification} || {};
    my $der = $rep->{cert_file} ? pem_file_der($rep->{cert_file}) : '';
    is($nb->{transactionId} // '', $req->{tid}, 'successNotification: transactionId');
    is($nb->{certificateRequest} // '', $e->{csr_b64}, 'successNotification: the CSR the device sent');
    is($nb->{certificateThumbprint} // '', uc sha1_hex($der), "successNotification: certificateThumbprint is the certificate's SHA-1, uppercase hex");
    is(norm_serial($nb->{certificateSerialNumber}), norm_serial($info->{serial}) || 'x',
       "successNotification: certificateSerialNumber is the certificate's serial, hex");
    my $iso = run_cmd(['openssl', 'x509', '-in', $rep->{cert_file} // '/dev/null', '-noout', '-enddate',
                       '-dateopt', 'iso_8601'])->{out};
    my ($na) = $iso =~ /notAfter=(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)Z/ ? ("$1T$2.000Z") : ('?');
    is($nb->{certificateExpirationDateUtc} // '', $na, "successNotification: certificateExpirationDateUtc is notAfter ($na)");
    is($nb->{issuingCertificateAuthority} // '', $info->{issuer} // 'x', "successNotification: issuingCertificateAuthority is the issuer's name");
    is($nb->{callerInfo} // '', $body->{callerInfo} // 'x', 'successNotification: callerInfo');
    ok(exists $nb->{caConfiguration} && !defined $nb->{caConfiguration}
       && exists $nb->{certificateAuthority} && !defined $nb->{certificateAuthority},
       'successNotification: caConfiguration and certificateAuthority are null');
    is(($n->{code} // '') . ' ' . ($n->{status} // ''), 'Success 200', 'Intune acknowledged it');
    is(scalar(grep { is_token($_) } mock_since($mark)), 2, 'the notification reused the Intune token (no third token request)');
}

########## an invalid challenge: FAILURE badRequest, then a failureNotification
{
    my $ch = 'intune-expired-' . $rnd->();
    state("deny $ch ChallengeExpired");
    my $mark = mock_mark();
    my $e = enroll_intune('/intune', $ch, 'intune-dev-2');
    my ($req, $rep) = @$e{qw(req rep)};
    is(failure_text($rep), '2|2|the request was not authorized',
       'a challenge Intune refuses: FAILURE badRequest, "the request was not authorized"');
    unlike($rep->{failInfoText} // '', qr/ChallengeExpired|scripted/,
           "the device is not told Intune's code or errorDescription");
    ok(!$rep->{cert_file}, 'no certificate');
    my $row = txn($req->{tid});
    is($row->{status} // '', 'REJECTED', 'recorded REJECTED');
    like($row->{fail_text} // '', qr/^Intune refused it: Intune: ChallengeExpired: The challenge was refused \(scripted\)\.\z/,
         "the record keeps Intune's code and errorDescription");
    is($row->{auth_failed} // '', 1, 'counted as a failed attempt');
    my @v = calls('validateRequest', $req->{tid}, mock_since($mark));
    is(join(',', map { "$_->{status} $_->{code}" } @v), '200 ChallengeExpired', 'Intune was asked once and said ChallengeExpired');

    my $rows = delivered(20, $req->{tid});
    ok($rows, 'the outbox row of the refusal is delivered (within 20 s)') or diag(explain(outbox($req->{tid})));
    is(($rows || [{}])->[0]{event} // '', 'refused', 'outbox: event refused');
    my @n = calls('failureNotification', $req->{tid}, mock_log());
    is(scalar @n, 1, 'one failureNotification for the transaction');
    my $nb = (($n[0] || {})->{body} || {})->{notification} || {};
    is_deeply([sort keys %$nb], [qw(callerInfo certificateRequest errorDescription hResult transactionId)],
              'failureNotification: {"notification": {transactionId, certificateRequest, hResult, errorDescription, callerInfo}}');
    is($nb->{certificateRequest} // '', $e->{csr_b64}, 'failureNotification: the CSR the device sent');
    is($nb->{hResult} // 0, $E_FAIL, 'failureNotification: hResult E_FAIL (0x80004005) as a number');
    like($nb->{errorDescription} // '', qr/ChallengeExpired/, 'failureNotification: errorDescription says why');
    ok(length($nb->{errorDescription} // '') <= 255, 'errorDescription within 255 characters');
    is(($n[0] || {})->{code} // '', 'Success', 'Intune acknowledged it');
}

########## an expired token: renewed once, the call sent again, SUCCESS
{
    my $ch = 'intune-retry-' . $rnd->();
    ok(delivered(20, map { $_->{event_key} } @{ db_rows("SELECT event_key FROM scep_outbox", file => $H->{db}) }),
       'nothing left in the outbox before the token expires');
    state("valid $ch", 'token expire-next');
    my $mark = mock_mark();
    my $e = enroll_intune('/intune', $ch, 'intune-dev-3');
    my ($req, $rep) = @$e{qw(req rep)};
    is($rep->{pkiStatus} // '', '0', 'validateRequest with a token Intune takes for expired: still SUCCESS')
        or diag(failure_text($rep));
    my @l = mock_since($mark);
    my @v = calls('validateRequest', $req->{tid}, @l);
    is(join(',', map { $_->{status} } @v), '401,200', 'validateRequest: 401, then 200 (exactly one retry)');
    my @seq = map { is_token($_) ? 'token:' . ($_->{body}{scope} eq $INTUNE_SCOPE ? 'intune' : 'graph')
                  : action_of($_) } grep { is_token($_) || action_of($_) eq 'validateRequest' } @l;
    is(join(' ', @seq), 'validateRequest token:intune validateRequest',
       'between them, exactly one new Intune token');
    isnt($v[0]{headers}{authorization} // '', $v[1]{headers}{authorization} // '', 'the retry carries the new token');
    is(scalar(grep { is_discovery($_) } @l), 0, 'the discovered service is kept (no second discovery)');
    push @ISSUED, $req->{tid};
    ok(delivered(20, $req->{tid}), 'its successNotification is delivered');
}

########## Intune refuses the notification for a while: retried, then delivered
{
    my $ch = 'intune-notify-' . $rnd->();
    state("valid $ch", 'notify refuse InternalServerError');
    my $mark = mock_mark();
    my $e = enroll_intune('/intune', $ch, 'intune-dev-4');
    my $tid = $e->{req}{tid};
    is($e->{rep}{pkiStatus} // '', '0', 'SUCCESS while Intune refuses notifications') or diag(failure_text($e->{rep}));
    my $row = poll(20, sub { my $r = outbox($tid)->[0]; $r && $r->{attempts} >= 1 ? $r : undef });
    ok($row, 'the refused successNotification is counted as a failed attempt (attempts > 0)');
    ok(!defined(($row || {})->{delivered_at}), 'and not marked delivered');
    like(($row || {})->{last_error} // '', qr/successNotification: InternalServerError/, 'last_error says what Intune answered');
    state("valid $ch");
    my $rows = delivered(30, $tid);
    ok($rows, 'once Intune accepts, the notification is delivered (within 30 s)') or diag(explain(outbox($tid)));
    my $tries = ($rows || [{}])->[0]{attempts} // 0;
    ok($tries >= 2, "delivered at attempt $tries (after at least one refused)");
    is(($rows || [{}])->[0]{last_error}, undef, 'last_error is cleared');
    my @n = calls('successNotification', $tid, mock_since($mark));
    is(join(',', map { $_->{code} // '-' } @n[-2, -1]), 'InternalServerError,Success',
       'the mock saw the refused notification, then the same one accepted');
    ok(@n >= 2 && $n[0]{body}{notification}{certificateThumbprint} eq $n[-1]{body}{notification}{certificateThumbprint},
       'the retry is the same notification');
    my $log = read_file("$H->{dir}/logs/error_log");
    like($log, qr/SCEP00331: event \d+ \(issued of \Q$tid\E\) delivered after \d+ failed attempts/,
         'error_log: SCEP00331 when it finally went through');
}

########## Graph cannot be reached: "cannot decide now", or PENDING
{
    my $ch = 'intune-nodisc-' . $rnd->();
    state("valid $ch", 'discovery fail');
    my $mark = mock_mark();
    my $e = enroll_intune('/intune-nodisc', $ch, 'intune-dev-5');
    is(failure_text($e->{rep}), "2|2|$UNAVAILABLE",
       'discovery fails (Graph 503), SCEPValidationUnavailable refuse: FAILURE "cannot decide now"');
    my $row = txn($e->{req}{tid});
    is($row->{status} // '', 'REJECTED', 'recorded REJECTED');
    like($row->{fail_text} // '', qr/^Intune gave no answer: Intune service discovery failed: HTTP 503/,
         'the record says discovery failed with HTTP 503');
    is($row->{auth_failed} // '', 0, 'not counted as a failed attempt');
    my @l = mock_since($mark);
    # (the outbox worker may already be trying this refusal's failureNotification,
    # and ask Graph too: only the first discovery after the request is its)
    my ($disc) = grep { is_discovery($_) } @l;
    is(($disc || {})->{status} // 0, 503, 'Graph was asked and answered 503');
    is(scalar(calls('validateRequest', $e->{req}{tid}, @l)), 0, 'validateRequest was not called');
    is(scalar @{ outbox($e->{req}{tid}) }, 0, 'no failureNotification for a request Intune never saw');

    my $p = enroll_intune('/intune-pending', $ch, 'intune-dev-6');
    is($p->{rep}{pkiStatus} // '', '3', 'the same with SCEPValidationUnavailable pending: PENDING')
        or diag(failure_text($p->{rep}));
    my $prow = txn($p->{req}{tid});
    is($prow->{status} // '', 'PENDING', 'recorded PENDING');
    is(scalar @{ outbox($p->{req}{tid}) }, 0, 'nothing for Intune while it waits');

    # a Location that discovered the service earlier keeps it
    my $k = enroll_intune('/intune', $ch, 'intune-dev-7');
    is($k->{rep}{pkiStatus} // '', '0', 'a Location that discovered the service before Graph went down: SUCCESS')
        or diag(failure_text($k->{rep}));
    push @ISSUED, $k->{req}{tid};
    state("valid $ch");
}

########## a client secret Entra ID refuses
{
    my $ch = 'intune-badsecret-' . $rnd->();
    state("valid $ch");
    my $mark = mock_mark();
    my $e = enroll_intune('/intune-badsecret', $ch, 'intune-dev-8');
    is(failure_text($e->{rep}), "2|2|$UNAVAILABLE", 'a wrong client secret: FAILURE "cannot decide now"');
    my $row = txn($e->{req}{tid});
    like($row->{fail_text} // '', qr/Graph token request failed: HTTP 401 invalid_client \(AADSTS7000215\)/,
         'the record: the token request failed, HTTP 401 invalid_client (AADSTS7000215)');
    # (the worker may be asking for tokens of the other Locations meanwhile)
    my @tok = grep { is_token($_) && !$_->{body}{client_secret}{matches} } mock_since($mark);
    ok(@tok && !grep({ $_->{status} != 401 } @tok), 'Entra ID was sent the wrong secret and answered 401');
    my $log = read_file("$H->{dir}/logs/error_log");
    like($log, qr/SCEP00654: Intune validateRequest, transaction \Q$e->{req}{tid}\E: no answer: Graph token request failed: HTTP 401/,
         'error_log: SCEP00654 says the token request failed');
    # it would wait in the outbox for as long as the secret is wrong
    is(scalar @{ outbox($e->{req}{tid}) }, 0, 'no failureNotification for a request Intune never saw');
}

########## everything issued reached Intune; nothing secret reached the log
{
    my $rows = delivered(30, @ISSUED);
    ok($rows, 'every successNotification is delivered') or diag(explain([map { @{ outbox($_) } } @ISSUED]));
    my $log = read_file("$H->{dir}/logs/error_log");
    my @tokens = map { ($_->{headers}{authorization} // '') =~ /^Bearer (\S+)/ ? $1 : () } mock_log();
    ok(@tokens >= 5, scalar(@tokens) . ' Bearer tokens were used');
    my @leaked = grep { index($log, $_) >= 0 } sort(keys %SECRETS), @tokens;
    ok(!@leaked, 'error_log: none of the client secrets, challenges (' . scalar(keys %SECRETS)
       . ') and access tokens appears') or diag("leaked: @leaked");
    # what may be [warn] or worse: a refusal (SCEP00656), no answer (SCEP00654),
    # a notification not acknowledged (SCEP00658), the outbox retrying (SCEP00330)
    my @bad = grep { /\] \[(?:[\w.]+:)?(?:warn|error|crit|alert|emerg)\] / && !/SCEP0065[468]|SCEP00330/ }
              split /\n/, $log;
    ok(!@bad, "the private httpd's error_log: no other [warn] or worse") or diag(join "\n", @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);
    unlike($log, qr/exit signal|Segmentation/, 'no child crashed');
}
}

private_httpd_stop($H);
undef $H;
if ($MOCK) { kill 'TERM', $MOCK->{pid}; cmd_wait($MOCK, 5); undef $MOCK }
note(sprintf 't/53-intune.t took %ds', time - $t0);
error_log_clean();
done_testing();
