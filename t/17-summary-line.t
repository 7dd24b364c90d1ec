# One summary line per transaction (README "Logging"): SCEP00367 at info,
# key=value, for log shippers: tid, location, op, outcome, failinfo,
# serial, subject, client, http, ms; quoted values carry '"', '\', '%' and
# control characters as %XX.
# Checked by parsing each line strictly and comparing with what the devices
# got: an issued certificate, a refusal, a request held for approval.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);

plan tests => 15;

my $TAG = "s17-$$";

# the summary lines logged since this file started, by transactionID
sub summaries {
    my %by;
    for my $l (error_log_lines(0)) {
        next unless $l =~ /SCEP00367: transaction (.*)$/;
        my $kv = $1;
        my %f;
        while ($kv =~ /\G(\w+)=("[^"\\]*"|[^"\s]+)\s*/gc) {
            my ($k, $v) = ($1, $2);
            $v =~ s/^"(.*)"$/$1/s and $v =~ s/%([0-9A-F]{2})/chr hex $1/ge;
            $f{$k} = $v;
        }
        $f{_rest} = substr($kv, pos($kv) // 0);
        $by{$f{tid}} = \%f if defined $f{tid};
    }
    return \%by;
}

my ($okq, undef, $ok) = enroll(build => { subject => "/CN=$TAG-ok/O=Quote \"\\ Inc" });
my ($badq, undef, $bad) = enroll(build => { subject => "/CN=$TAG-bad", challenge => 'wrong' });
my ($heldq, undef, $held) = enroll(build => { subject => "/CN=$TAG-held" }, send => { path => '/life-manual' });
is(join(',', map { $_->{pkiStatus} // '-' } $ok, $bad, $held), '0,2,3', 'three devices: issued, refused, held');

my $s = summaries();
my $o = $s->{$okq->{tid} // ''} || {};
is($o->{outcome}, 'SUCCESS', 'the issued one: outcome=SUCCESS');
is($o->{op}, 'PKCSReq', 'op=PKCSReq');
ok($o->{serial} && $o->{serial} =~ /^[0-9A-F]+$/, "serial=$o->{serial}");
is($o->{failinfo}, '-', 'failinfo=-');
like($o->{subject} // '', qr/CN=\Q$TAG\E-ok/, 'subject= the one it asked for');
like($o->{subject} // '', qr/Quote \\" Inc/, 'its quote (RFC 2253: \\") came through the %XX encoding');
is($o->{location}, '/scep', 'location=/scep');
is($o->{client}, '127.0.0.1', 'client=127.0.0.1');
ok(defined $o->{ms} && $o->{ms} =~ /^\d+$/ && $o->{http} eq '200', "http=200 ms=$o->{ms}");
is($o->{_rest}, '', 'nothing on the line that is not key=value');

my $b = $s->{$badq->{tid} // ''} || {};
is("$b->{outcome} $b->{failinfo}", 'FAILURE badRequest', 'the refused one: outcome=FAILURE failinfo=badRequest');
is($b->{serial}, '-', 'serial=-');
my $h = $s->{$heldq->{tid} // ''} || {};
is("$h->{outcome} $h->{location}", 'PENDING /life-manual', 'the held one: outcome=PENDING at /life-manual');

error_log_clean();
