package SCEPCommand;
# The programs the tests start, in one place: the command lines of the
# database shells (sqlite3, psql, mariadb) and of a schema load,
# certmonger's private environment, a free port on 127.0.0.1, and starting
# a program in the background in its own process group.
#
# Nothing here needs Apache::Test's configuration, so t/TEST.PL uses it as
# well as t/lib/SCEPTest.pm (which re-exports it), t/lib/SCEPLoad.pm and
# t/lib/SCEPWebDriver.pm.
use strict;
use warnings;

use Exporter 'import';
use Carp qw(croak);
use IO::Socket::INET ();
use POSIX ();

our @EXPORT_OK = qw(
    sqlite3_cmd psql_cmd mariadb_cmd schema_cmd mysql_socket
    certmonger_env free_port spawn
);
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

######################################################################
# certmonger

# certmonger_env(DIR): the environment of a certmonger session whose state
# is all below DIR (the folders are made); its own HOME, no session bus of
# the caller's (dbus-run-session starts one)
sub certmonger_env {
    my $d = shift;
    for ('', qw(/config /requests /cas /local /tmp /out)) { mkdir "$d$_" unless -d "$d$_" }
    return (
        HOME => $d,
        CERTMONGER_CONFIG_DIR => "$d/config",
        CERTMONGER_REQUESTS_DIR => "$d/requests",
        CERTMONGER_CAS_DIR => "$d/cas",
        CERTMONGER_LOCAL_CA_DIR => "$d/local",
        CERTMONGER_TMPDIR => "$d/tmp",
        XDG_RUNTIME_DIR => undef,
        DBUS_SESSION_BUS_ADDRESS => undef,
    );
}

######################################################################
# processes

# a TCP port on 127.0.0.1 nobody listens on now (another process may take
# it before the caller binds it: callers retry)
sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1,
                                  Proto => 'tcp', ReuseAddr => 1) or croak "socket: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

# spawn([PROG, ARGS...], stdin => FILE (/dev/null), stdout => FILE,
#       stderr => FILE or 'stdout', append => 1, cwd => DIR,
#       env => {K => V (undef: removed)}) -> pid
# The child runs in a process group of its own (kill -PID reaches what it
# starts too); without stdout/stderr it keeps the caller's.
sub spawn {
    my ($cmd, %o) = @_;
    my $pid = fork;
    croak "fork: $!" unless defined $pid;
    return $pid if $pid;
    POSIX::setpgid(0, 0);
    chdir $o{cwd} or POSIX::_exit(126) if $o{cwd};
    my $mode = $o{append} ? '>>' : '>';
    open STDIN, '<', ($o{stdin} || '/dev/null');
    open STDOUT, $mode, $o{stdout} if $o{stdout};
    if (($o{stderr} // '') eq 'stdout') { open STDERR, '>&', \*STDOUT }
    elsif ($o{stderr}) { open STDERR, $mode, $o{stderr} }
    while (my ($k, $v) = each %{ $o{env} || {} }) {
        if (defined $v) { $ENV{$k} = $v } else { delete $ENV{$k} }
    }
    { no warnings 'exec'; exec { $cmd->[0] } @$cmd; }
    print STDERR "exec $cmd->[0]: $!\n";
    POSIX::_exit(127);
}

1;
