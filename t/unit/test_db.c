/* Unit-test fixture: an in-memory SQLite database made from
 * conf/schema-sqlite3.sql and a store on it, which prepares each statement
 * when it first runs it, as in httpd. One copy for every suite that needs
 * records (the store, the engine, the admin actions). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <apr_dbd.h>
#include <apr_hash.h>
#include "tests.h"

/* The schema file as one string, its comments blanked out (they hold ';'
 * too, which would split statements). */
static char *schema_text(apr_pool_t *pool)
{
    FILE *f = fopen(SRCDIR "/conf/schema-sqlite3.sql", "r");
    char *schema, *c;
    long len;

    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    schema = apr_pcalloc(pool, (apr_size_t)len + 1);
    ck_assert_int_eq(fread(schema, 1, (size_t)len, f), len);
    fclose(f);
    for (c = schema; (c = strstr(c, "--")) != NULL; ) {
        while (*c && *c != '\n') *c++ = ' ';
    }
    return schema;
}

/* apr_dbd_open registers no cleanup: this one closes the handle when its
 * pool goes (apr_dbd_sqlite3 finalizes the statements first). */
static apr_status_t close_handle(void *data)
{
    t_db_t *db = data;

    apr_dbd_close(db->driver, db->handle);
    return APR_SUCCESS;
}

t_db_t *t_db_open(apr_pool_t *pool)
{
    t_db_t *db = apr_pcalloc(pool, sizeof(*db));
    apr_hash_t *prepared = apr_hash_make(pool);
    char *stmt, *last = NULL;
    int nrows;

    apr_dbd_init(pool);
    ck_assert_int_eq(apr_dbd_get_driver(pool, "sqlite3", &db->driver), APR_SUCCESS);
    ck_assert_int_eq(apr_dbd_open(db->driver, pool, ":memory:", &db->handle), APR_SUCCESS);
    apr_pool_cleanup_register(pool, db, close_handle, apr_pool_cleanup_null);
    /* one statement at a time: the driver runs only the first */
    for (stmt = apr_strtok(schema_text(pool), ";", &last); stmt;
         stmt = apr_strtok(NULL, ";", &last)) {
        stmt += strspn(stmt, " \t\r\n");
        if (!*stmt || !strncmp(stmt, "PRAGMA", 6)) {    /* WAL means nothing in memory */
            continue;
        }
        ck_assert_msg(apr_dbd_query(db->driver, db->handle, &nrows, stmt) == 0, "%s: %s",
                      stmt, apr_dbd_error(db->driver, db->handle, 1));
    }
    /* empty, as mod_dbd's for us: the store prepares each statement when
     * it first runs it */
    db->prepared = prepared;
    db->store = scep_store_make(pool, db->driver, db->handle, prepared, NULL);
    return db;
}

void t_db_change_schema(t_db_t *db, apr_pool_t *pool, const char *sql)
{
    int nrows;

    ck_assert_msg(apr_dbd_query(db->driver, db->handle, &nrows, sql) == 0, "%s: %s", sql,
                  apr_dbd_error(db->driver, db->handle, 1));
    /* SQLite's statements do not survive a schema change: the next use
     * prepares them again */
    apr_hash_clear(db->prepared);
}

long t_db_count(t_db_t *db, apr_pool_t *pool, const char *sql)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const char *value;
    long n;

    ck_assert_msg(apr_dbd_select(db->driver, pool, db->handle, &res, sql, 0) == 0, "%s: %s",
                  sql, apr_dbd_error(db->driver, db->handle, 1));
    ck_assert_int_eq(apr_dbd_get_row(db->driver, pool, res, &row, -1), 0);
    value = apr_dbd_get_entry(db->driver, row, 0);
    ck_assert_ptr_nonnull(value);
    n = atol(value);
    /* read to the end: the statement is reset only then */
    while (apr_dbd_get_row(db->driver, pool, res, &row, -1) == 0) {
    }
    return n;
}
