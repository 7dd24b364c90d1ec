# The core enrollment set against the scep_pg virtual host, whose records go
# to PostgreSQL (DBDriver pgsql): t/lib/SCEPDBSuite.pm, here for the driver
# pgsql. Runs when SCEP_TEST_PGSQL holds a libpq conninfo; skipped otherwise.
use strict;
use warnings FATAL => 'all';
use lib 't/lib';
use SCEPDBSuite ();

SCEPDBSuite::run('pgsql');
