# GetCACaps: exact keywords, text/plain, whatever message= says
# (scep-wire.md §1.1, conformance cases 1-2), and certmonger's view of them.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);

plan tests => 23;

my $CAPS = "AES\nDES3\nPOSTPKIOperation\nSHA-1\nSHA-256\nSHA-384\nSHA-512\nSCEPStandard\n";

for my $case ([undef, 'no message'], ['0', 'message=0 (certmonger)'],
              ['My%20SCEP%20CA', 'message=name (Apple)'], ['', 'empty message']) {
    my ($msg, $name) = @$case;
    my $r = get_caps(message => $msg);
    is($r->{status}, 200, "GetCACaps, $name: 200");
    is($r->{headers}{'content-type'}, 'text/plain', "GetCACaps, $name: Content-Type exactly text/plain");
    is($r->{body}, $CAPS, "GetCACaps, $name: exact body");
}

# the operation name is matched case-insensitively; any path suffix works
{
    my $r = http(path => '/scep/pkiclient.exe?operation=getcacaps');
    is($r->{status}, 200, 'lower-case operation under a path suffix: 200');
    is($r->{body}, $CAPS, 'lower-case operation under a path suffix: same body');
}

# what must never be advertised (not implemented)
{
    my %kw = map { $_ => 1 } split /\n/, $CAPS;
    ok(!$kw{$_}, "$_ is not advertised") for qw(GetNextCACert Renewal Update);
}

# every Location of the main server answers the same list
{
    my $r = get_caps(path => '/certsrv/mscep/mscep.dll');
    is($r->{body}, $CAPS, 'NDES path: same capabilities');
}

# certmonger's scep-submit parses the list (case-insensitive whole lines)
{
    my $r = certmonger_submit(base_url() . '/scep', '-c');
    is($r->{rc}, 0, 'scep-submit -c exits 0') or diag($r->{err});
    my %seen = map { lc($_) => 1 } grep { length } split /\s*\n/, $r->{out};
    ok($seen{lc $_}, "scep-submit -c lists $_") for qw(AES POSTPKIOperation SHA-256);
}

# startup and this file's requests left nothing at [warn] or worse
error_log_clean(from_start => 1);
