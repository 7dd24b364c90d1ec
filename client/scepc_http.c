/*
 * scepc_http.c: HTTP/1.1 with keep-alive to a server on 127.0.0.0/8, as
 * scepbench sends its requests: Content-Length, chunked or read-to-EOF
 * bodies, one resend when a reused connection turns out closed.
 * Part of the independent SCEP client library (scepc.h).
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "scepc.h"

/* The port of a URL: 1..65535, said as scepbench's other numbers are. */
static int port_parse(const char *s, long *port)
{
    char *end;

    errno = 0;
    *port = strtol(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || *port < 1 || *port > 65535) {
        fprintf(stderr, "scepbench: port: expected an integer in 1..65535, got '%s'\n", s);
        return 0;
    }
    return 1;
}

/* The path of a URL up to its query ("/" when there is none). */
static int path_copy(struct scepc_url *u, const char *slash)
{
    const char *q;
    size_t n;

    if (*slash == '\0') {
        snprintf(u->path, sizeof(u->path), "/");
        return 1;
    }
    q = strchr(slash, '?');
    n = q ? (size_t)(q - slash) : strlen(slash);
    if (n >= sizeof(u->path)) {
        fprintf(stderr, "scepbench: path too long\n");
        return 0;
    }
    memcpy(u->path, slash, n);
    u->path[n] = '\0';
    return 1;
}

int scepc_url_parse(struct scepc_url *u, const char *url)
{
    const char *p, *slash, *colon;
    char host[256];
    size_t hl;
    long port = 80;

    if (strncmp(url, "http://", 7) != 0) {
        fprintf(stderr, "scepbench: only http:// URLs are supported: %s\n", url);
        return 0;
    }
    p = url + 7;
    slash = strchr(p, '/');
    if (slash == NULL)
        slash = p + strlen(p);
    colon = memchr(p, ':', (size_t)(slash - p));
    hl = (size_t)((colon ? colon : slash) - p);
    if (hl == 0 || hl >= sizeof(host)) {
        fprintf(stderr, "scepbench: bad host in %s\n", url);
        return 0;
    }
    memcpy(host, p, hl);
    host[hl] = '\0';
    if (colon != NULL) {
        char buf[16];
        size_t pl = (size_t)(slash - colon - 1);

        if (pl == 0 || pl >= sizeof(buf)) {
            fprintf(stderr, "scepbench: bad port in %s\n", url);
            return 0;
        }
        memcpy(buf, colon + 1, pl);
        buf[pl] = '\0';
        if (!port_parse(buf, &port))
            return 0;
    }
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    memset(&u->addr, 0, sizeof(u->addr));
    u->addr.sin_family = AF_INET;
    u->addr.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &u->addr.sin_addr) != 1
        || (ntohl(u->addr.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "scepbench: refusing %s: only 127.0.0.0/8 addresses are allowed\n",
                host);
        return 0;
    }
    snprintf(u->host, sizeof(u->host), "%.20s:%ld", host, port);
    return path_copy(u, slash);
}

void scepc_conn_close(struct scepc_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->served = 0;
    c->len = 0;
}

static int conn_open(struct scepc_conn *c, char *err, size_t errlen)
{
    struct timeval tv;
    int one = 1;

    scepc_conn_close(c);
    if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return 0;
    }
    tv.tv_sec = c->timeout;
    tv.tv_usec = 0;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (const struct sockaddr *)&c->url->addr, sizeof(c->url->addr)) != 0) {
        snprintf(err, errlen, "connect %s: %s", c->url->host, strerror(errno));
        scepc_conn_close(c);
        return 0;
    }
    return 1;
}

static int send_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 0;
        p += w;
        n -= (size_t)w;
    }
    return 1;
}

/* Reads more bytes into the connection buffer: >0 bytes read, 0 EOF, -1 error. */
static ssize_t conn_fill(struct scepc_conn *c)
{
    ssize_t r;

    if (c->cap - c->len < 16384) {
        size_t ncap = c->cap ? c->cap * 2 : 65536;
        char *nb;

        if (ncap > (size_t)SCEPC_MAX_RESPONSE + 65536 || (nb = realloc(c->buf, ncap)) == NULL)
            return -1;
        c->buf = nb;
        c->cap = ncap;
    }
    do {
        r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    } while (r < 0 && errno == EINTR);
    if (r > 0)
        c->len += (size_t)r;
    return r;
}

static void conn_consume(struct scepc_conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Ensures at least n buffered bytes. */
static int conn_need(struct scepc_conn *c, size_t n)
{
    while (c->len < n) {
        if (n > (size_t)SCEPC_MAX_RESPONSE)
            return 0;
        if (conn_fill(c) <= 0)
            return 0;
    }
    return 1;
}

/* Position just after the next CRLF in the buffer, reading as needed; 0 on failure. */
static size_t conn_line(struct scepc_conn *c)
{
    size_t scanned = 0;

    for (;;) {
        char *nl = c->len > scanned ? memchr(c->buf + scanned, '\n', c->len - scanned) : NULL;

        if (nl != NULL)
            return (size_t)(nl - c->buf) + 1;
        scanned = c->len;
        if (c->len > 65536 || conn_fill(c) <= 0)
            return 0;
    }
}

static int body_append(struct scepc_response *r, const char *p, size_t n)
{
    unsigned char *nb;

    if (r->body_len + n > (size_t)SCEPC_MAX_RESPONSE
        || (nb = realloc(r->body, r->body_len + n + 1)) == NULL)
        return 0;
    memcpy(nb + r->body_len, p, n);
    r->body = nb;
    r->body_len += n;
    return 1;
}

/* What the header says about the body */
struct framing {
    long clen;     /* Content-Length, -1 when absent */
    int chunked;
};

/* Reads until the buffer holds the whole header; its end (the CRLFCRLF) or
 * NULL with err set. */
static char *header_wait(struct scepc_conn *c, int *got_bytes, char *err, size_t errlen)
{
    char *hdr_end;

    for (;;) {
        ssize_t got;

        if (c->len >= 4 && (hdr_end = memmem(c->buf, c->len, "\r\n\r\n", 4)) != NULL)
            return hdr_end;
        if (c->len > 65536) {
            snprintf(err, errlen, "response header too long");
            return NULL;
        }
        got = conn_fill(c);
        if (got <= 0) {
            snprintf(err, errlen, got == 0 ? "connection closed by the server%s"
                                           : "receive failed%s",
                     c->len ? " in the response header" : " before any response");
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                snprintf(err, errlen, "timeout (%d s) waiting for the response", c->timeout);
            return NULL;
        }
        *got_bytes = 1;
    }
}

/* One header field (the line without its CRLF, cut at the colon). */
static void header_field(char *line, struct scepc_response *r, struct framing *fr)
{
    char *colon = strchr(line, ':'), *v;

    if (colon == NULL)
        return;
    *colon = '\0';
    v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (strcasecmp(line, "Content-Length") == 0)
        fr->clen = strtol(v, NULL, 10);
    else if (strcasecmp(line, "Transfer-Encoding") == 0 && strcasestr(v, "chunked"))
        fr->chunked = 1;
    else if (strcasecmp(line, "Connection") == 0) {
        if (strcasestr(v, "close"))
            r->close = 1;
        else if (strcasestr(v, "keep-alive"))
            r->close = 0;
    } else if (strcasecmp(line, "Content-Type") == 0)
        snprintf(r->content_type, sizeof(r->content_type), "%s", v);
}

/* The status line and the header fields, consumed from the buffer. */
static int header_read(struct scepc_conn *c, struct scepc_response *r, struct framing *fr,
                       int *got_bytes, char *err, size_t errlen)
{
    char *hdr_end, *line, *eol;
    size_t hlen;
    int minor = 1;

    if ((hdr_end = header_wait(c, got_bytes, err, errlen)) == NULL)
        return 0;
    hlen = (size_t)(hdr_end - c->buf) + 4;
    *hdr_end = '\0';
    if (sscanf(c->buf, "HTTP/1.%d %d", &minor, &r->status) != 2) {
        snprintf(err, errlen, "bad status line");
        return 0;
    }
    r->close = minor == 0;
    line = strstr(c->buf, "\r\n");
    while (line != NULL && line < hdr_end) {
        line += 2;
        eol = strstr(line, "\r\n");
        if (eol == NULL)
            eol = hdr_end;
        *eol = '\0';
        header_field(line, r, fr);
        line = eol < hdr_end ? eol : NULL;
    }
    conn_consume(c, hlen);
    return 1;
}

/* A chunked body and its trailers. */
static int body_chunked(struct scepc_conn *c, struct scepc_response *r, char *err,
                        size_t errlen)
{
    for (;;) {
        size_t end = conn_line(c);
        long n;

        if (end == 0) {
            snprintf(err, errlen, "truncated chunked body");
            return 0;
        }
        n = strtol(c->buf, NULL, 16);
        conn_consume(c, end);
        if (n < 0 || n > SCEPC_MAX_RESPONSE) {
            snprintf(err, errlen, "bad chunk size");
            return 0;
        }
        if (n == 0)
            break;
        if (!conn_need(c, (size_t)n + 2) || !body_append(r, c->buf, (size_t)n)) {
            snprintf(err, errlen, "truncated chunk");
            return 0;
        }
        conn_consume(c, (size_t)n + 2);
    }
    /* trailers up to an empty line */
    for (;;) {
        size_t end = conn_line(c);

        if (end == 0) {
            snprintf(err, errlen, "truncated chunked trailer");
            return 0;
        }
        conn_consume(c, end);
        if (end <= 2)
            return 1;
    }
}

/* A body of Content-Length bytes, or (clen < 0) up to EOF. */
static int body_plain(struct scepc_conn *c, struct scepc_response *r, long clen, char *err,
                      size_t errlen)
{
    ssize_t got;

    if (clen >= 0) {
        if (clen > SCEPC_MAX_RESPONSE || !conn_need(c, (size_t)clen)) {
            snprintf(err, errlen, "truncated body (Content-Length %ld)", clen);
            return 0;
        }
        if (clen > 0 && !body_append(r, c->buf, (size_t)clen)) {
            snprintf(err, errlen, "out of memory");
            return 0;
        }
        conn_consume(c, (size_t)clen);
        return 1;
    }
    while ((got = conn_fill(c)) > 0)
        if (c->len > (size_t)SCEPC_MAX_RESPONSE)
            break;
    if (got < 0 || !body_append(r, c->buf, c->len)) {
        snprintf(err, errlen, "body read failed");
        return 0;
    }
    c->len = 0;
    r->close = 1;
    return 1;
}

/*
 * Reads one HTTP/1.x response.  Returns 1 on success; 0 on failure with
 * *got_bytes telling whether anything at all arrived (for the keep-alive
 * race: a reused connection the server closed before reading the request).
 */
static int read_response(struct scepc_conn *c, struct scepc_response *r, int *got_bytes,
                         char *err, size_t errlen)
{
    struct framing fr = { -1, 0 };

    memset(r, 0, sizeof(*r));
    *got_bytes = c->len > 0;
    if (!header_read(c, r, &fr, got_bytes, err, errlen))
        return 0;
    if (fr.chunked ? !body_chunked(c, r, err, errlen)
                   : !body_plain(c, r, fr.clen, err, errlen))
        return 0;
    c->served++;
    return 1;
}

int scepc_http_exchange(struct scepc_conn *c, const unsigned char *req, size_t reqlen,
                        struct scepc_response *r, int *resent, char *err, size_t errlen)
{
    int attempt;

    for (attempt = 0; attempt < 2; attempt++) {
        int reused = c->fd >= 0 && c->served > 0, got = 0;

        memset(r, 0, sizeof(*r));
        if (c->fd < 0 && !conn_open(c, err, errlen))
            return 0;
        if (!send_all(c->fd, req, reqlen)) {
            snprintf(err, errlen, "send failed: %s",
                     errno == EAGAIN || errno == EWOULDBLOCK ? "timeout" : strerror(errno));
        } else if (read_response(c, r, &got, err, errlen)) {
            if (r->close)
                scepc_conn_close(c);
            return 1;
        }
        scepc_conn_close(c);
        free(r->body);
        r->body = NULL;
        if (!reused || got)
            return 0;
        (*resent)++;
    }
    return 0;
}
