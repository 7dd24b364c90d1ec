# The health check for load balancers (README "SetHandler scep-health"):
# 200 with a small JSON when the records can be read and the CA and RA keys
# sign, with the time left on the CA, the RA and the CRL; 503 naming the
# problem when the database cannot be opened; a CRL past its nextUpdate is a
# warning, not a failure (the next fetch builds a new one). Polled many
# times in a row it keeps answering (a key signs at most every 10 s per
# child).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use JSON::PP ();
use File::Spec::Functions qw(catfile);
use lib 't/lib';
use SCEPTest qw(:all);

plan tests => 19;

sub not_after {
    my $r = run_cmd(['openssl', 'x509', '-in', shift, '-noout', '-enddate']);
    my ($d) = $r->{out} =~ /notAfter=(.+)/;
    return 0 + run_cmd(['date', '-d', $d, '+%s'])->{out};
}

sub health {
    my (%o) = @_;
    my $r = http(path => '/health', %o);
    $r->{json} = eval { JSON::PP->new->decode($r->{body}) };
    return $r;
}

########## the suite's server: healthy
my $r = health();
is($r->{status}, 200, 'GET /health: 200');
is($r->{headers}{'content-type'}, 'application/json', 'application/json');
my $j = $r->{json} || {};
is($j->{status}, 'ok', 'status ok');
is("$j->{database} $j->{keys}", 'ok ok', 'the records are read and the keys sign');
my $ca_left = not_after(pki('ca.pem')) - time;
ok(abs(($j->{ca_expires_in} // 0) - $ca_left) < 60, "ca_expires_in: $j->{ca_expires_in} (the CA's notAfter)");
my $ra_left = not_after(pki('ra.pem')) - time;
ok(abs(($j->{ra_expires_in} // 0) - $ra_left) < 60, "ra_expires_in: $j->{ra_expires_in} (the RA's notAfter)");
is_deeply($j->{problems}, [], 'no problems');
my $n = 0;
$n += health()->{status} == 200 ? 1 : 0 for 1 .. 100;
is($n, 100, '100 checks in a row: 100 times 200');
is(http(method => 'POST', path => '/health', body => '')->{status}, 405, 'POST: 405');

########## a database in a folder the children cannot enter: said at
# start-up (which file, which user, which folder and why), then 503
my $locked = work_file('health-locked');
mkdir $locked;
run_cmd(schema_cmd(sqlite => "$locked/scep.sqlite",
                   catfile(Apache::Test::vars('scep_top'), 'conf', 'schema-sqlite3.sql')));
chmod 0000, $locked;
my $h = private_httpd(name => 'health-nodb', conf => <<"EOC");
\@HTTPD_BASE\@
LoadModule mpm_event_module "\@MODULES\@/mod_mpm_event.so"
DBDriver sqlite3
DBDParams "$locked/scep.sqlite"
\@TEST_CA\@
<Location /health>
    SetHandler scep-health
</Location>
EOC
ok($h->{ok}, 'httpd starts with a database it cannot open') or diag($h->{err});
my $startup = $h->{dir} ? read_file("$h->{dir}/logs/error_log") : '';
like($startup, qr/SCEP00022: the SQLite database \S+health-locked\S*\/scep\.sqlite cannot be used by the children's user \S+ \(uid \d+\): the folder \S+health-locked\S* \(mode 0000, owner [^)]+\) cannot be entered/,
     'said at start-up: the file, the user, the folder, its mode and owner');
is(scalar(() = $startup =~ /SCEP00022/g), 1, 'once');
SKIP: {
    skip 'httpd did not start', 3 unless $h->{ok};
    $r = health(port => $h->{port});
    is($r->{status}, 503, 'GET /health: 503');
    is(($r->{json} || {})->{status}, 'fail', 'status fail');
    like(join(' ', @{ ($r->{json} || {})->{problems} || [] }), qr/database cannot be opened/,
         'the problem named');
}
private_httpd_stop($h);
chmod 0700, $locked;

########## a CRL past its nextUpdate: a warning
my $fp = uc sha256_of_der(pki('ca.pem'));
$h = private_httpd(name => 'health-crl', prepare_db => sub {
    my $db = shift;
    my $t = time - 10 * 86400;
    db_exec("INSERT INTO scep_crls (ca, number, this_update, next_update, revoked_count, der) "
            . "VALUES ('$fp', 7, $t, " . ($t + 86400) . ", 0, 'AA==')", file => $db);
}, conf => <<'EOC');
@HTTPD_BASE@
LoadModule mpm_event_module "@MODULES@/mod_mpm_event.so"
@SQLITE_DB@
@TEST_CA@
<Location /health>
    SetHandler scep-health
</Location>
EOC
ok($h->{ok}, 'httpd starts') or diag($h->{err});
SKIP: {
    skip 'httpd did not start', 2 unless $h->{ok};
    $r = health(port => $h->{port});
    ok($r->{status} == 200 && ($r->{json} || {})->{crl}{number} == 7
       && ($r->{json}{crl}{expires_in} // 0) < 0, 'a stale CRL: still 200, the CRL shown with its time left (negative)');
    like(join(' ', @{ ($r->{json} || {})->{warnings} || [] }), qr/past its nextUpdate/, 'and a warning');
}
private_httpd_stop($h);

sub sha256_of_der {
    my $der = run_cmd(['sh', '-c', 'openssl x509 -in "$1" -outform DER | sha256sum', 'sh', shift])->{out};
    return ($der =~ /^([0-9a-f]{64})/)[0];
}

error_log_clean();
