# SCEPOperationSlots (README): private httpd instances, the event MPM with one
# child of 16 threads, SQLite, /metrics.
#
# A, SCEPOperationSlots 1: 24 enrollments from 8 concurrent clients
# (bench/scepbench) all get a SUCCESS CertRep, with as many ISSUED
# transactions; /metrics counts PKIOperations that waited for the slot
# (scep_operation_slot_waits_total above 0, and time waited); nothing at
# [warn] or worse.
# B, the same instance, a Location whose validation webhook
# (t/tools/webhook-receiver.py) answers "allow" after 4 s: two enrollments
# sent at once both reach the webhook before it has answered the first, so
# the one slot was given back while a request waited for its validator;
# both are issued.
# C, no directive: 16 enrollments from 8 clients succeed, and the waits stay
# at 0.
# D, `SCEPOperationSlots 0`, `lots`, and inside a <VirtualHost>: httpd -t
# fails, naming the directive; `off` and `64` at server level pass.
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
plan tests => 16;

my $SLEEP = 4;       # the webhook's answer comes this late

my $V = receiver_start('slots-validate', mode => "sleep $SLEEP");
my $VURL = "https://127.0.0.1:$V->{port}/validate";

my $CONF = <<"EOC";
\@HTTPD_BASE\@
LoadModule mpm_event_module "\@MODULES\@/mod_mpm_event.so"
StartServers 1
ServerLimit 1
ThreadLimit 16
ThreadsPerChild 16
MaxRequestWorkers 16
MinSpareThreads 1
MaxSpareThreads 16
KeepAliveTimeout 30
MaxKeepAliveRequests 0
DBDriver sqlite3
DBDParams "\@DB\@"
DBDInitSQL "PRAGMA journal_mode=WAL"
SCEPChallengeThrottle off
%SLOTS%\@TEST_CA\@
<Location /scep>
    SetHandler scep
    SCEPChallengePasswordFile "\@PKI\@/challenge"
</Location>
<Location /hook>
    SetHandler scep
    SCEPChallengePasswordFile "\@PKI\@/challenge"
    SCEPValidationWebhook $VURL
    SCEPWebhookSecretFile "$SECRET_FILE"
    SCEPOutboundCAFile "$TLS->{cert}"
    SCEPOutboundTimeout 20
</Location>
<Location /metrics>
    SetHandler scep-metrics
</Location>
EOC

my @started;
END { private_httpd_stop($_) for @started }

sub start {
    my ($name, $slots) = @_;
    (my $conf = $CONF) =~ s/%SLOTS%/defined $slots ? "SCEPOperationSlots $slots\n" : ''/e;
    my $h = private_httpd(name => $name, conf => $conf);
    push @started, $h if $h->{ok};
    $h->{kind} = 'sqlite';
    $h->{url} = "http://127.0.0.1:$h->{port}/scep";
    return $h;
}

# scepbench at PATH: -> (all N got a verified SUCCESS, a one-line account)
sub burst {
    my ($h, $path, $prefix, $n, $c) = @_;
    local $h->{url} = "http://127.0.0.1:$h->{port}$path";
    return bench_burst($h, n => $n, c => $c, prefix => $prefix, pool => 8, decrypt => 4,
                       timeout => 40, max_time => 60, cmd_timeout => 120);
}

sub issued {
    my ($h, $prefix) = @_;
    return value($h, "SELECT COUNT(*) FROM scep_transactions WHERE status = 'ISSUED' "
                     . "AND subject LIKE '%CN=$prefix%'") // -1;
}

# a series of /metrics, -1 when absent
sub metric {
    my ($h, $name) = @_;
    my $m = http(port => $h->{port}, path => '/metrics');
    return $m->{status} == 200 && $m->{body} =~ /^\Q$name\E (\S+)$/m ? $1 + 0 : -1;
}

########## A: one slot, eight clients
my $A = start('slots-one', 1);
ok($A->{ok}, 'A: httpd starts with SCEPOperationSlots 1') or diag($A->{err});
SKIP: {
    skip 'A: httpd did not start', 5 unless $A->{ok};
    is(metric($A, 'scep_operation_slot_waits_total'), 0, 'A: no waits before any request');
    my ($all, $said) = burst($A, '/scep', 't68a', 24, 8);
    ok($all, 'A: 24 enrollments from 8 clients at once, one slot: all SUCCESS') or diag($said);
    is(issued($A, 't68a'), 24, 'A: 24 ISSUED transactions');
    my ($waits, $secs) = (metric($A, 'scep_operation_slot_waits_total'),
                          metric($A, 'scep_operation_slot_wait_seconds_total'));
    ok($waits > 0 && $secs > 0, "A: /metrics: $waits PKIOperations waited for the slot, $secs s in all")
        or diag("waits $waits, seconds $secs");
    my @bad = log_bad($A);
    is(scalar @bad, 0, 'A: nothing at [warn] or worse') or diag(join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]);
}

########## B: the slot is given back while a request waits for its validator
SKIP: {
    skip 'B: httpd A did not start', 3 unless $A->{ok};
    my ($all, $said) = burst($A, '/hook', 't68b', 2, 2);
    ok($all, "B: two enrollments at once at a Location whose webhook answers after $SLEEP s: both SUCCESS")
        or diag($said);
    my @t = sort { $a <=> $b } map { $_->{time} } @{ requests_of($V, '/validate') };
    is(scalar @t, 2, 'B: the webhook was asked twice');
    ok(@t == 2 && $t[1] - $t[0] < $SLEEP,
       sprintf('B: the second call reached the webhook %.2f s after the first, before its answer '
               . '(one slot, given back while a request waits)', @t == 2 ? $t[1] - $t[0] : -1))
        or diag("arrivals: @t");
}

########## C: no directive
my $C = start('slots-none');
ok($C->{ok}, 'C: httpd starts without SCEPOperationSlots') or diag($C->{err});
SKIP: {
    skip 'C: httpd did not start', 2 unless $C->{ok};
    my ($all, $said) = burst($C, '/scep', 't68c', 16, 8);
    ok($all, 'C: 16 enrollments from 8 clients: all SUCCESS') or diag($said);
    is(metric($C, 'scep_operation_slot_waits_total'), 0, 'C: no slots, no waits');
}

########## D: the directive's values and context
SKIP: {
    skip 'D: httpd A did not start', 4 unless $A->{ok};
    (my $text = read_file($A->{conf})) =~ s/^SCEPOperationSlots .*\n//m;
    my $check = sub {
        my ($r, $out) = httpd_config_test($A->{dir}, @_);
        return ($r->{rc}, $out);
    };
    my ($rc, $out) = $check->('zero', $text . "SCEPOperationSlots 0\n");
    ok($rc != 0 && $out =~ /SCEPOperationSlots: '0' is not off or a number of slots from 1 to 100000/,
       'D: SCEPOperationSlots 0: httpd -t fails, naming it') or diag($out);
    ($rc, $out) = $check->('lots', $text . "SCEPOperationSlots lots\n");
    ok($rc != 0 && $out =~ /SCEPOperationSlots: 'lots'/, 'D: SCEPOperationSlots lots: httpd -t fails')
        or diag($out);
    ($rc, $out) = $check->('vhost', $text . "<VirtualHost 127.0.0.1:$A->{port}>\n"
                                     . "    SCEPOperationSlots 4\n</VirtualHost>\n");
    ok($rc != 0 && $out =~ /SCEPOperationSlots/,
       'D: SCEPOperationSlots in a <VirtualHost>: httpd -t fails, naming it') or diag($out);
    ($rc, $out) = $check->('ok', $text . "SCEPOperationSlots off\nSCEPOperationSlots 64\n");
    ok($rc == 0 && $out =~ /Syntax OK/, 'D: off and 64 at server level: httpd -t passes') or diag($out);
}
