# The core enrollment set against the scep_mysql virtual host, whose records
# go to MariaDB (DBDriver mysql): t/lib/SCEPDBSuite.pm, here for the driver
# mysql. Runs when SCEP_TEST_MYSQL holds the socket of a scratch MariaDB with
# a database scep; skipped otherwise.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';
use SCEPDBSuite ();

SCEPDBSuite::run('mysql');
