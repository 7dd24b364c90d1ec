package SCEPCommand;
# The command lines of the database shells the tests run (sqlite3, psql,
# mariadb) and of a schema load, in one place.
#
# Nothing here needs Apache::Test's configuration, so t/TEST.PL uses it as
# well as t/lib/SCEPTest.pm (which re-exports it) and t/lib/SCEPLoad.pm.
use strict;
use warnings;

use Exporter 'import';
use Carp qw(croak);

our @EXPORT_OK = qw(sqlite3_cmd psql_cmd mariadb_cmd schema_cmd mysql_socket);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

######################################################################
# the database shells

# sqlite3_cmd(FILE, ARGS...): stops at the first error, waits up to 10 s
# for a lock httpd holds
sub sqlite3_cmd {
    my ($file, @args) = @_;
    return ['sqlite3', '-bail', '-cmd', '.timeout 10000', $file, @args];
}

# psql_cmd(CONNINFO, ARGS...): no ~/.psqlrc, quiet, stops at the first error
sub psql_cmd {
    my ($conninfo, @args) = @_;
    croak 'no PostgreSQL conninfo (SCEP_TEST_PGSQL is not set)' unless $conninfo;
    return ['psql', $conninfo, '-X', '-q', '-v', 'ON_ERROR_STOP=1', @args];
}

# the socket of the scratch MariaDB (SCEP_TEST_MYSQL)
sub mysql_socket {
    return $ENV{SCEP_TEST_MYSQL} || croak 'SCEP_TEST_MYSQL is not set';
}

# mariadb_cmd(ARGS...): the database scep of the scratch MariaDB, batch
# output (a header line, then tab-separated rows)
sub mariadb_cmd {
    my @args = @_;
    return ['mariadb', '--socket=' . mysql_socket(), '--batch', 'scep', @args];
}

# schema_cmd(KIND, TARGET, SCHEMA_FILE): the command that loads a schema
# file; KIND sqlite (TARGET: the database file), pgsql (a conninfo) or
# mysql (TARGET ignored)
sub schema_cmd {
    my ($kind, $target, $schema) = @_;
    return sqlite3_cmd($target, ".read $schema") if $kind eq 'sqlite';
    return psql_cmd($target, '-f', $schema) if $kind eq 'pgsql';
    return mariadb_cmd('-e', "source $schema") if $kind eq 'mysql';
    croak "unknown database kind $kind";
}

1;
