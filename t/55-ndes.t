# The NDES challenge page (SetHandler scep-ndes, README "NDES-compatible
# one-time challenges"): fetched the way Jamf/Fleet-style MDMs and
# PowerShell scripts do (UTF-16LE with a BOM, Fleet's regular expression,
# the whitespace-split hex match), the challenge enrolled through
# certmonger at /certsrv/mscep/mscep.dll, and the cache-full, permission,
# fail-closed and start-up error cases. A private httpd.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use Encode qw(decode);
use MIME::Base64 qw(encode_base64);
use Digest::SHA qw(sha256_hex);
use lib 't/lib';
use SCEPTest qw(:all);

my $dir = work_file('ndes');
mkdir $dir;
my $htpasswd = "$dir/ndes.htpasswd";
for my $u (['alice', 'alice-pass'], ['bob', 'bob-pass'], ['carol', 'carol-pass']) {
    my $r = run_cmd(['htpasswd', '-bB' . (-e $htpasswd ? '' : 'c'), $htpasswd, @$u]);
    die "htpasswd: $r->{err}" if $r->{rc};
}

my $CONF = <<"EOC";
\@HTTPD_BASE\@
LoadModule mpm_event_module "\@MODULES\@/mod_mpm_event.so"
\@AUTH_MODULES\@
\@SQLITE_DB\@
\@TEST_CA\@
<Location /certsrv/mscep/mscep.dll>
    SetHandler scep
    SCEPProfileName mscep
    SCEPOneTimeChallenges on
</Location>
<Location /certsrv/mscep_admin>
    SetHandler scep-ndes
    SCEPNDESProfile mscep
    SCEPNDESPasswordCache 2
    SCEPNDESChallengeValidity 30m
    SCEPNDESUsers alice bob
    AuthType Basic
    AuthName "NDES"
    AuthUserFile "$htpasswd"
    Require valid-user
</Location>
# no authentication: the handler refuses (fail closed)
<Location /open-ndes>
    SetHandler scep-ndes
    SCEPNDESProfile mscep
</Location>
EOC

my $h;
END { local $?; private_httpd_stop($h) if $h && $h->{ok} }
$h = private_httpd(name => 'ndes', conf => $CONF);
ok($h->{ok}, 'httpd with the NDES page starts') or diag($h->{err});
my $port = $h->{port};
my $db = $h->{db};

sub basic { 'Basic ' . encode_base64("$_[0]:$_[1]", '') }

# GET the page as user (undef: anonymous): { status, text (decoded), raw }
sub page {
    my ($user, $pass, $path) = @_;
    my $r = http(port => $port, path => $path // '/certsrv/mscep_admin/',
                 headers => [defined $user ? (Authorization => basic($user, $pass)) : ()]);
    my $text = substr($r->{body}, 0, 2) eq "\xFF\xFE"
               ? decode('UTF-16LE', substr($r->{body}, 2)) : undef;
    return { %$r, text => $text };
}

# the two scrapers: Fleet's expression, and the PowerShell split match
sub fleet_scrape { $_[0] =~ /(?i)The enrollment challenge password is: <B> (?P<password>\S*)/ ? $+{password} : undef }
sub ps_scrape { (grep { /^[A-F0-9]{16}/ } split /\s+/, $_[0])[0] }

########## a challenge, as the MDMs read it
my $p = page('alice', 'alice-pass');
is($p->{status}, 200, 'alice gets the page');
is(substr($p->{body}, 0, 2), "\xFF\xFE", 'UTF-16LE with a BOM');
like($p->{headers}{'content-type'} // '', qr{^text/html}, 'HTML');
like($p->{headers}{'cache-control'} // '', qr/no-store/, 'not cached');
my $challenge = fleet_scrape($p->{text});
like($challenge // '', qr/^[0-9A-F]{16}$/, "Fleet's expression finds 16 uppercase hex characters");
is(ps_scrape($p->{text}), $challenge, 'the PowerShell whitespace-split match finds the same');
like($p->{text}, qr/expire within 30 minutes/, 'the validity as configured');
my $rows = db_rows("SELECT created_by, profile, hash, expires_at - created_at AS ttl, used_at FROM scep_challenges", file => $db);
is(scalar @$rows, 1, 'one challenge on record');
is($rows->[0]{created_by}, 'alice', '... made by alice');
is($rows->[0]{profile}, 'mscep', '... for the configured profile');
is($rows->[0]{hash}, uc(sha256_hex($challenge)), '... stored as its hash only');
is($rows->[0]{ttl}, 1800, '... valid 30 minutes');

########## enrolled with a real client at the NDES URL
my $url = "http://127.0.0.1:$port/certsrv/mscep/mscep.dll";
my $cm = certmonger_enroll(url => $url, cn => 'ndes-device-1', challenge => $challenge);
is($cm->{status}, 'MONITORING', 'certmonger enrolls with the scraped challenge')
    or diag($cm->{out} . $cm->{err});
ok($cm->{cert} && -s $cm->{cert}, 'and gets its certificate');
my $used = db_rows("SELECT used_tid FROM scep_challenges WHERE hash = '" . uc(sha256_hex($challenge)) . "'", file => $db);
ok($used->[0]{used_tid}, 'the challenge is consumed');
my $again = certmonger_enroll(url => $url, cn => 'ndes-device-2', challenge => $challenge);
isnt($again->{status}, 'MONITORING', 'the same challenge does not enroll a second device');

########## the password cache: at most 2 unused per user
my $c1 = fleet_scrape(page('alice', 'alice-pass')->{text});
my $c2 = fleet_scrape(page('alice', 'alice-pass')->{text});
ok($c1 && $c2 && $c1 ne $c2, 'two more challenges for alice, each new');
my $full = page('alice', 'alice-pass');
is($full->{status}, 200, 'a third while two are unused');
like($full->{text}, qr/The password cache is full\./, '... is the cache-full page');
ok(!defined fleet_scrape($full->{text}) && !defined ps_scrape($full->{text}),
   '... with no challenge a scraper could take');
my $bob = page('bob', 'bob-pass');
ok(fleet_scrape($bob->{text}), 'another user still gets one');

########## authenticated, not allowed; anonymous; no authentication configured
my $carol = page('carol', 'carol-pass');
like($carol->{text}, qr/You do not have sufficient permission to enroll with SCEP\./,
     'carol (not in SCEPNDESUsers) gets the permission page');
ok(!defined fleet_scrape($carol->{text}), '... and no challenge');
is(page(undef, undef)->{status}, 401, 'anonymous: httpd asks for credentials');
is(page('alice', 'wrong')->{status}, 401, 'a wrong password: the same');
is(page(undef, undef, '/open-ndes/')->{status}, 403, 'a page without authentication refuses (fail closed)');
is(db_rows("SELECT COUNT(*) AS n FROM scep_challenges WHERE created_by = 'carol'", file => $db)->[0]{n}, 0,
   'no challenge was made for carol');
my $log = read_file("$h->{dir}/logs/error_log");
unlike($log, qr/\Q$challenge\E|\Q$c1\E|\Q$c2\E/, 'no challenge in the error_log');
like($log, qr/SCEP00701: NDES challenge refused to alice/, 'the cache-full refusal is logged');
like($log, qr/SCEP00341: refusing scep-ndes: no authenticated user/, 'the fail-closed refusal is logged');
private_httpd_stop($h);

########## start-up errors
for my $case (['a profile no Location has', "SCEPNDESProfile nowhere", qr/SCEPNDESProfile nowhere .*no Location of the server has this profile/],
              ['a profile without one-time challenges', "SCEPNDESProfile plain", qr/SCEPNDESProfile plain .*does not take one-time/]) {
    my ($name, $line, $re) = @$case;
    my $bad = private_httpd(name => 'ndes-bad', conf => <<"EOC");
\@HTTPD_BASE\@
LoadModule mpm_event_module "\@MODULES\@/mod_mpm_event.so"
\@AUTH_MODULES\@
\@SQLITE_DB\@
\@TEST_CA\@
<Location /plain>
    SetHandler scep
    SCEPProfileName plain
    SCEPChallengePassword x
</Location>
<Location /ndes>
    SetHandler scep-ndes
    $line
    AuthType Basic
    AuthName "NDES"
    AuthUserFile "$htpasswd"
    Require valid-user
</Location>
EOC
    ok(!$bad->{ok}, "httpd refuses to start: $name");
    like($bad->{out} . $bad->{err}, $re, '... saying why');
    private_httpd_stop($bad) if $bad->{ok};
}

done_testing();
