package SCEPDBSuite;
# The core enrollment set against a virtual host whose records go to a
# database server instead of the main server's SQLite: one suite, run once
# per driver by its own test file, so that each is reported on its own:
#   t/20-pgsql.t  scep_pg     DBDriver pgsql  SCEP_TEST_PGSQL (a libpq conninfo)
#   t/21-mysql.t  scep_mysql  DBDriver mysql  SCEP_TEST_MYSQL (a MariaDB socket)
# t/TEST.PL loads the driver's schema (conf/schema-pgsql.sql,
# conf/schema-mysql.sql) into that database and enables the virtual host
# (-D SCEP_PGSQL, -D SCEP_MYSQL) when the variable is set; the file skips
# otherwise. What differs between the drivers is the data in %DRIVER.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Carp qw(croak);
use MIME::Base64 qw(decode_base64);
use SCEPTest qw(:all);

my %DRIVER = (
    pgsql => {
        name => 'PostgreSQL', vhost => 'scep_pg', cn => 'pg', query => [pg => 1],
        env => 'SCEP_TEST_PGSQL', needs => 'a libpq conninfo for a scratch database',
    },
    mysql => {
        name => 'MariaDB', vhost => 'scep_mysql', cn => 'my', query => [mysql => 1],
        env => 'SCEP_TEST_MYSQL', needs => 'the socket of a scratch MariaDB with a database scep',
    },
);

sub q_str { my $s = shift; $s =~ s/'/''/g; "'$s'" }

sub serial_of { my $rep = shift; $rep->{cert_file} ? cert_info($rep->{cert_file})->{serial} : '' }

# run('pgsql' | 'mysql'): the whole suite (plan and error_log check included)
sub run {
    my $d = $DRIVER{ $_[0] } or croak "no database driver $_[0]";
    plan(skip_all => "$d->{env} is not set ($d->{needs})") unless $ENV{ $d->{env} };

    my ($DB, $VH, $P) = @$d{qw(name vhost cn)};
    my $rows_of = sub { db_rows(shift, @{ $d->{query} }) };
    my $value_of = sub { db_value(shift, @{ $d->{query} }) };
    my $URL = base_url($VH);
    my $CA = pki('ca.pem');
    my @tids;

    ########## the vhost is up and in RA mode
    {
        my $r = http(vhost => $VH, path => '/scep?operation=GetCACert');
        is($r->{status}, 200, "$VH: GetCACert 200");
        is($r->{headers}{'content-type'}, 'application/x-x509-ca-ra-cert', "$VH: RA mode");
        is($value_of->('SELECT count(*) FROM scep_transactions'), 0, "$DB starts with no rows");
    }

    ########## certmonger
    {
        my $cm = certmonger_enroll(url => "$URL/scep", cn => "$P-cm-host");
        is($cm->{status}, 'MONITORING', "certmonger via $VH: MONITORING") or diag("$cm->{out}\n$cm->{err}");
        ok(openssl_verify($CA, $cm->{cert}), 'the certificate verifies against the CA');
        my $ci = cert_info($cm->{cert}) || {};
        is($ci->{subject} // '', "CN=$P-cm-host", "subject CN=$P-cm-host");
        my $rows = $rows_of->("SELECT status, serial, profile, client_addr FROM scep_transactions "
                              . "WHERE subject = 'CN=$P-cm-host'");
        is(scalar @$rows, 1, "one $DB transactions row");
        is($rows->[0]{status} // '', 'ISSUED', 'ISSUED');
        is(norm_serial($rows->[0]{serial}), norm_serial($ci->{serial}), 'with the serial of the certificate');
        is($rows->[0]{client_addr} // '', '127.0.0.1', 'client_addr 127.0.0.1');
        my $der = $value_of->('SELECT der FROM scep_certificates WHERE serial = ' . q_str($rows->[0]{serial} // ''));
        ok(defined $der && decode_base64($der) eq (pem_file_der($cm->{cert}) // ''),
           "scep_certificates in $DB holds the DER");
    }

    ########## scepreq by POST and by GET
    for my $m (['POST', {}], ['GET', { method => 'GET' }],
               ['GET wrapped', { method => 'GET', encode => \&b64_wrapped }]) {
        (my $cn = "$P-wire-$m->[0]") =~ s/\s+/-/g;
        my $req = build_request(subject => "/CN=$cn");
        my $resp = send_request($req, vhost => $VH, %{ $m->[1] });
        my $rep = $resp->{status} == 200 ? parse_reply($resp, $req) : {};
        is($rep->{pkiStatus} // '', '0', "scepreq $m->[0] via $VH: SUCCESS")
            or diag($rep->{failInfoText} // $resp->{body});
        is($rep->{recipientNonce} // '', $req->{nonce}, "scepreq $m->[0]: recipientNonce echoed");
        my $rows = $rows_of->('SELECT status, serial FROM scep_transactions WHERE transaction_id = '
                              . q_str($req->{tid}));
        ok(@$rows == 1 && $rows->[0]{status} eq 'ISSUED'
           && norm_serial($rows->[0]{serial}) eq norm_serial(serial_of($rep)),
           "scepreq $m->[0]: ISSUED row with the serial in $DB");
        push @tids, $req->{tid};
    }

    ########## the names written with the record, at /prof-wifi (O and a
    ########## URI set by the profile, CN and DNS names from the request):
    ########## four (PostgreSQL's one-statement write fills its four slots)
    ########## and six (more than it takes: the transaction of statements)
    for my $dns (1, 3) {
        my $cn = "$P-names-$dns";
        my @san = map { "$cn-$_.wifi.example.com" } 1 .. $dns;
        my $req = build_request(subject => "/CN=$cn", args => [map { ('--san-dns', $_) } @san]);
        my $rep = parse_reply(send_request($req, vhost => $VH, path => '/prof-wifi',
                                           headers => ['X-Device-SID' => "S-1-5-21-$dns"]), $req);
        my @want = sort($cn, 'example corp', @san, "tag:microsoft.com,2022-09-14:sid:s-1-5-21-$dns");
        my $got = $rows_of->('SELECT n.name FROM scep_names n JOIN scep_transactions t ON n.txn = t.id '
                             . 'WHERE t.transaction_id = ' . q_str($req->{tid}));
        my @got = sort map { $_->{name} } @$got;
        ok(($rep->{pkiStatus} // '') eq '0' && "@got" eq "@want",
           scalar(@want) . " names of the certificate in ${DB}'s scep_names")
            or diag('status ' . ($rep->{pkiStatus} // '-') . "; want @want; got @got");
        push @tids, $req->{tid};
    }

    ########## wrong challenge
    {
        my $req = build_request(subject => "/CN=$P-refused", challenge => 'wrong');
        my $rep = parse_reply(send_request($req, vhost => $VH), $req, decrypt => 0);
        is($rep->{pkiStatus} // '', '2', "wrong challenge via $VH: FAILURE");
        is($rep->{failInfo} // '', '2', 'failInfo 2 (badRequest)');
        my $rows = $rows_of->('SELECT status, fail_info, fail_text FROM scep_transactions WHERE transaction_id = '
                              . q_str($req->{tid}));
        is(scalar @$rows, 1, "one $DB row for the refusal");
        is($rows->[0]{status} // '', 'REJECTED', 'REJECTED');
        is($rows->[0]{fail_info} // '', 2, 'fail_info 2');
        like($rows->[0]{fail_text} // '', qr/challenge/, 'fail_text says why');
        push @tids, $req->{tid};
    }

    ########## resend: same serial, one row
    {
        my $req = build_request(subject => "/CN=$P-resend");
        my @s;
        for my $i (1 .. 3) {
            my $rep = parse_reply(send_request($req, vhost => $VH, $i == 3 ? (method => 'GET') : ()), $req);
            is($rep->{pkiStatus} // '', '0', "resend #$i via $VH: SUCCESS");
            push @s, serial_of($rep);
        }
        ok($s[0] && $s[0] eq $s[1] && $s[1] eq $s[2], 'the same serial each time');
        is($value_of->('SELECT count(*) FROM scep_transactions WHERE transaction_id = ' . q_str($req->{tid})), 1,
           "one $DB row");
        is($value_of->("SELECT count(*) FROM scep_certificates WHERE subject = 'CN=$P-resend'"), 1,
           'one certificate');
        push @tids, $req->{tid};

        # a different key under the same transactionID
        my $other = build_request(subject => "/CN=$P-thief", tid => $req->{tid});
        my $rep = parse_reply(send_request($other, vhost => $VH), $other, decrypt => 0);
        is($rep->{pkiStatus} // '', '2', "same transactionID, other key via $VH: FAILURE");
        is($rep->{failInfo} // '', '2', 'failInfo 2');
    }

    ########## micromdm scepclient at /scep-legacy
    {
        my $mm = micromdm_enroll(url => "$URL/scep-legacy", cn => "$P-mm-host");
        is($mm->{rc}, 0, "micromdm via $VH /scep-legacy exits 0") or diag("$mm->{out}\n$mm->{err}");
        ok(openssl_verify($CA, $mm->{cert}), 'the certificate verifies');
        my $rows = $rows_of->('SELECT status, serial, profile FROM scep_transactions WHERE key_fp = '
                              . q_str(key_fp($mm->{key})));
        is(scalar @$rows, 1, "one $DB row for the micromdm key");
        is($rows->[0]{status} // '', 'ISSUED', 'ISSUED');
        is($rows->[0]{profile} // '', '/scep-legacy', 'profile /scep-legacy');
        is(norm_serial($rows->[0]{serial}), norm_serial((cert_info($mm->{cert}) || {})->{serial}),
           'with the certificate serial');
    }

    ########## consistency, and nothing went to SQLite
    {
        is($value_of->('SELECT count(*) FROM scep_transactions t LEFT JOIN scep_certificates c '
                       . "ON c.ca = t.ca AND c.serial = t.serial WHERE t.status = 'ISSUED' AND c.serial IS NULL"),
           0, "every ISSUED $DB row has its certificate");
        is($value_of->("SELECT count(*) FROM scep_transactions WHERE status = 'REJECTED' AND fail_info IS NULL"),
           0, "every REJECTED $DB row has fail_info");
        my $issued = $value_of->("SELECT count(*) FROM scep_transactions WHERE status = 'ISSUED'");
        is($issued, 8, "eight ISSUED rows in $DB (certmonger, 3 x scepreq, 2 x names, resend, micromdm)");
        is($value_of->('SELECT count(*) FROM scep_certificates'), $issued, 'and as many certificates');
        my $in_sqlite = db_value('SELECT count(*) FROM scep_transactions WHERE transaction_id IN ('
                                 . join(',', map { q_str($_) } @tids) . ')');
        is($in_sqlite, 0, 'none of these transactions is in the main server\'s SQLite database');
        is(db_value("SELECT count(*) FROM scep_certificates WHERE subject LIKE 'CN=$P-%'"), 0,
           "no $P- certificate in SQLite");
    }

    if ($_[0] eq 'pgsql') {
        statements_of_one_enrollment($d, $VH);
        statistics_of_new_tables($d, $VH);
    }
    error_log_clean();
    done_testing();
}

# The statements the server ran between two markers, as PostgreSQL logged
# them (log_statement = all): [ [pid, statement name or SQL], ... ] for
# the other sessions, without the preparation of a new connection.
sub logged_between {
    my ($log, $begin, $end) = @_;
    my ($text, @out, $in, %psql) = (eval { local (@ARGV, $/) = ($log); <> } // '');
    for my $line (split /\n/, $text) {
        my ($pid, $what) = $line =~ /\[(\d+)\] LOG:  (?:statement|execute [^:]+): (.*)$/
            or next;
        if ($what =~ /\Q$begin\E/) { $in = 1; $psql{$pid} = 1; next }
        last if $what =~ /\Q$end\E/;
        # a new connection: mod_dbd prepares every statement
        next if $line =~ /LOG:  statement: PREPARE /;
        my ($name) = $line =~ /LOG:  execute ([^:]+):/;
        push @out, [$pid, $name // $what] if $in && !$psql{$pid};
    }
    return \@out;
}

# One enrollment on the common path (a static challenge, a new
# transactionID) touches the store through one read and one write
# statement: PostgreSQL logs every statement for a moment.
sub statements_of_one_enrollment {
    my ($d, $VH) = @_;
    my $log = $ENV{SCEP_TEST_PG_LOG};
    SKIP: {
        skip 'SCEP_TEST_PG_LOG is not set (the server log of the scratch PostgreSQL)', 3
            unless $log && -r $log;
        my $tag = "scep-marker-$$-" . time;
        db_exec("ALTER SYSTEM SET log_statement = 'all'", @{ $d->{query} });
        db_exec('SELECT pg_reload_conf()', @{ $d->{query} });
        # the reload reaches each session before its next command: a new
        # session that is logged shows it has
        my $seen = 0;
        for my $try (1 .. 50) {
            db_exec("SELECT '$tag-ready-$try'", @{ $d->{query} });
            last if ($seen = (eval { local (@ARGV, $/) = ($log); <> } // '') =~ /\Q$tag-ready-$try\E/);
            select(undef, undef, undef, 0.1);
        }
        select(undef, undef, undef, 0.3);     # and the pooled sessions of httpd
        db_exec("SELECT '$tag-begin'", @{ $d->{query} });
        my $req = build_request(subject => "/CN=$d->{cn}-one-read-one-write");
        my $rep = parse_reply(send_request($req, vhost => $VH), $req);
        db_exec("SELECT '$tag-end'", @{ $d->{query} });
        db_exec('ALTER SYSTEM RESET log_statement', @{ $d->{query} });
        db_exec('SELECT pg_reload_conf()', @{ $d->{query} });
        ok($seen && ($rep->{pkiStatus} // '') eq '0', 'an enrollment while PostgreSQL logs '
           . 'every statement: SUCCESS') or diag($rep->{failInfoText} // 'no reply');
        my $ran = logged_between($log, "$tag-begin", "$tag-end");
        my $shape = join ' ', map { $_->[1] =~ /^(BEGIN|COMMIT|ROLLBACK)$/ ? $1 : $_->[1] } @$ran;
        # PostgreSQL takes the write as one statement (scep_record_one): two
        # round trips an enrollment where BEGIN ... COMMIT made it six
        like($shape, qr/^scep_preflight scep_record_one$/,
             'one read (scep_preflight), then one write statement (scep_record_one)') or diag($shape);
        note("statements of one enrollment: $shape");
        my %pids = map { $_->[0] => 1 } @$ran;
        is(scalar keys %pids, 1, 'on one connection');
    }
}

# A new database has no statistics until autovacuum's first pass, and the
# prepared lookups that PostgreSQL plans meanwhile can read every row of the
# CA: mod_scep analyzes the tables of the enrollment path itself, at every
# 64th enrollment, when they have rows and were never analyzed.
sub statistics_of_new_tables {
    my ($d, $VH) = @_;
    my @q = @{ $d->{query} };
    my $stats = "SELECT count(*) FROM pg_stats WHERE tablename = 'scep_transactions'";
    # as if neither VACUUM nor ANALYZE had reached scep_transactions yet
    db_exec("ALTER TABLE scep_transactions SET (autovacuum_enabled = off)", @q);
    db_exec("DELETE FROM pg_statistic WHERE starelid = 'scep_transactions'::regclass", @q);
    db_exec("UPDATE pg_class SET reltuples = -1 WHERE oid = 'scep_transactions'::regclass", @q);
    is(db_value($stats, @q), 0, 'scep_transactions without statistics');
    my $enroll = sub {
        my $req = build_request(subject => "/CN=$d->{cn}-" . shift);
        my $rep = parse_reply(send_request($req, vhost => $VH), $req);
        return ($rep->{pkiStatus} // '') eq '0';
    };
    # an enrollment whose transaction is not the 64th: no question asked
    db_exec("SELECT setval('scep_transactions_id_seq', "
            . "(SELECT (COALESCE(MAX(id), 0) / 64 + 1) * 64 + 1 FROM scep_transactions))", @q);
    my $mark = log_mark();
    ok($enroll->('stats-not-yet'), 'an enrollment (id not a multiple of 64): SUCCESS');
    is(db_value($stats, @q), 0, 'the table is left as it was');
    # the next one is the 64th
    db_exec("SELECT setval('scep_transactions_id_seq', "
            . "(SELECT (MAX(id) / 64 + 1) * 64 - 1 FROM scep_transactions))", @q);
    ok($enroll->('stats-now'), 'the 64th enrollment: SUCCESS');
    cmp_ok(db_value($stats, @q), '>', 0, 'scep_transactions now has statistics');
    is(db_value("SELECT (reltuples >= 0)::int FROM pg_class "
                . "WHERE oid = 'scep_transactions'::regclass", @q), 1, 'and its row count is known');
    my @said = grep { /SCEP00376: .*scep_transactions had rows and no statistics: analyzed/ }
               error_log_lines($mark);
    is(scalar @said, 1, 'logged once (SCEP00376)');
    db_exec("ALTER TABLE scep_transactions RESET (autovacuum_enabled)", @q);
}

1;
