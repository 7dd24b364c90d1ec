# SQLite with a rollback journal instead of WAL (README: durability): a
# COMMIT needs every reader gone, and one that finds the database busy past
# apr_dbd_sqlite3's 1.6 s of retries fails, while SQLite keeps that
# transaction open and apr_dbd forgets it. mod_scep must then roll it back:
# before the fix the enrollment's own uncommitted row was found on the
# same connection, taken for an identical request's, and its certificate
# sent, with no record ever committed (and the connection went back to
# mod_dbd's pool inside that transaction).
#
# A private httpd (SCEPLoad's load_httpd: the event MPM, SQLite switched to
# journal_mode=DELETE). The sqlite3 shell reads inside a transaction for
# 4 s, holding SQLite's shared lock, while one enrollment is sent: no
# certificate, no row. Then, with the reader gone, the same request: a
# certificate and its one row, and the next enrollments are recorded.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Test::More import => ['!plan'];
use lib 't/lib';
use SCEPTest qw(:all);
use SCEPLoad qw(:all);

plan tests => 6;

my $h = load_httpd(name => 'rbjournal', mpm => 'event', db => 'sqlite', journal => 'delete');
END { private_httpd_stop($h) if $h && $h->{ok} }
ok($h->{ok}, 'httpd starts on a database with a rollback journal') or diag("$h->{out}$h->{err}");

SKIP: {
    skip 'httpd did not start', 5 unless $h->{ok};
    my $prefix = "t69-$$";
    is(value($h, 'PRAGMA journal_mode'), 'delete', 'the database is not in WAL mode');

    # a reader holds SQLite's shared lock through the enrollment's COMMIT
    my ($reader, $reading) = sqlite_hold($h->{db}, "BEGIN;\nSELECT count(*) FROM scep_transactions;", 4);
    $reading or diag('the sqlite3 shell did not start reading: ' . cmd_output($reader));
    my $req = build_request(subject => "/CN=$prefix-busy");
    my $mark = scalar log_lines($h);
    my $resp = send_request($req, port => $h->{port});
    my $rep = $resp->{status} == 200 ? parse_reply($resp, $req) : {};
    my $read = cmd_wait($reader, 30);
    my @lines = log_lines($h);
    ok(($rep->{pkiStatus} // '') ne '0' && !$rep->{cert_file}
       && grep({ /SCEP00106: commit failed/ } @lines[$mark .. $#lines]),
       'a COMMIT that finds a reader past the retries: SCEP00106, no certificate (HTTP '
       . $resp->{status} . ', pkiStatus ' . ($rep->{pkiStatus} // 'none') . ')')
        or diag(join "\n", @lines[$mark .. $#lines], cmd_output($reader));
    is($read->{rc}, 0, 'the reader ended') or diag(cmd_output($reader));

    # the reader gone: the same request gets its certificate, from one row
    my $again = parse_reply(send_request($req, port => $h->{port}), $req);
    is($again->{pkiStatus} // '', '0', 'the same request again: SUCCESS')
        or diag($again->{failInfoText} // 'no reply');
    # and every enrollment since is on disk, in a fresh reader's view
    my @more = map { build_request(subject => "/CN=$prefix-next-$_") } 1 .. 4;
    my $ok = grep { (parse_reply(send_request($_, port => $h->{port}), $_)->{pkiStatus} // '') eq '0' } @more;
    is(value($h, "SELECT count(*) FROM scep_transactions WHERE status = 'ISSUED' "
                 . "AND subject LIKE '%$prefix%'") . " rows, $ok issued", '5 rows, 4 issued',
       'one ISSUED row for the retried request and one for each of the 4 next');
}
