# The load test with a webhook in the path (issue #14): N enrollments
# (SCEP_TEST_LOAD_N, default 600) from 16 concurrent clients (bench/scepbench)
# against a private httpd (event MPM, SQLite as the README configures it)
# whose /scep asks a validation webhook before each issuance and notifies
# another receiver of each. The notification receiver is down for the whole
# run (HTTP 503, then not listening at all), httpd is stopped and started
# again with events waiting, then the receiver comes back: every issued
# certificate's event is delivered, once per event id, none lost.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLoad qw(:all);
use SCEPReceiver qw(:all);

unless (have_python()) {
    plan skip_all => 'python3 is needed for t/tools/webhook-receiver.py';
}
my $N = $ENV{SCEP_TEST_LOAD_N} ? int($ENV{SCEP_TEST_LOAD_N} * 0.3) || 60 : 600;
my $C = 16;

my $V = receiver_start('load-validate', mode => 'allow');
my $E = receiver_start('load-events', mode => 'status 503');
my $h = load_httpd(name => 'load-webhook', mpm => 'event', db => 'sqlite', location => <<"EOL");
    SCEPValidationWebhook https://127.0.0.1:$V->{port}/validate
    SCEPNotifyWebhook https://127.0.0.1:$E->{port}/events
    SCEPWebhookSecretFile "$SECRET_FILE"
    SCEPOutboundCAFile "$TLS->{cert}"
EOL
END { local $?; private_httpd_stop($h) if $h && $h->{ok} }
ok($h->{ok}, 'httpd with the webhooks starts') or diag($h->{err});

my $r = bench_run($h, n => $N, c => $C, prefix => 't73');
my $res = $r->{result};
is($res->{ok}, $N, "$N enrollments at concurrency $C, each a verified SUCCESS")
    or diag($r->{out} . $r->{err});
diag(sprintf 'with the webhook in the path: %s/s (p50 %s ms, p99 %s ms)',
             $res->{rate} // '?', $res->{p50_ms} // '?', $res->{p99_ms} // '?');
my $asked = requests_of($V, '/validate');
is(scalar @$asked, $N, 'the validation webhook was asked once per enrollment');
is(scalar(grep { !$_->{signature_ok} } @$asked), 0, '... each request correctly signed');

sub q1 { db_value($_[0], file => $h->{db}) }
my $issued = q1("SELECT COUNT(*) FROM scep_transactions WHERE status = 'ISSUED'");
is($issued, $N, "$N certificates on record");
is(q1("SELECT COUNT(*) FROM scep_transactions t WHERE t.status = 'ISSUED' AND NOT EXISTS "
      . "(SELECT 1 FROM scep_outbox o WHERE o.event = 'issued' AND o.event_key = t.transaction_id)"),
   0, 'each with its issued event, written with it');
ok(poll(20, sub { q1('SELECT COUNT(*) FROM scep_outbox WHERE attempts > 0') > 0 }),
   'the worker tries, the receiver answers 503');

# the receiver goes away altogether, httpd restarts with events waiting
receiver_stop($E);
private_httpd_stop($h);
ok(private_httpd_start_again($h), 'httpd starts again with the events waiting');
my $waiting = q1('SELECT COUNT(*) FROM scep_outbox WHERE delivered_at IS NULL');
ok($waiting > 0, "$waiting events wait through the restart");

# the receiver is back on its port: the retries are made due now (their
# back-off after a few minutes of failures would otherwise be part of the wait)
my $back = receiver_start('load-events-back', port => $E->{port}, mode => 'allow');
db_exec('UPDATE scep_outbox SET next_at = 0 WHERE delivered_at IS NULL', file => $h->{db});
# the new processes wait out the stopped worker's lease (30 s and a call)
my $done = poll(180, sub { q1('SELECT COUNT(*) FROM scep_outbox WHERE delivered_at IS NULL') == 0 });
ok($done, 'every event delivered once the receiver is back')
    or diag(q1('SELECT COUNT(*) FROM scep_outbox WHERE delivered_at IS NULL') . ' still waiting');
my $rows = db_rows('SELECT id FROM scep_outbox ORDER BY id', file => $h->{db});
my %got;
$got{ header_of($_, 'X-SCEP-Event-Id') // '' }++ for @{ requests_of($back, '/events') };
is_deeply([sort { $a <=> $b } grep { /^\d+$/ } keys %got], [map { $_->{id} } @$rows],
          'the receiver got every event id of the outbox (none lost)');
is(scalar(grep { $got{$_} > 1 } keys %got), 0, '... each once');
is(scalar(grep { !$_->{signature_ok} } @{ requests_of($back, '/events') }), 0, '... each correctly signed');
is(scalar(crashes($h)), 0, 'no child crashed');

done_testing();
