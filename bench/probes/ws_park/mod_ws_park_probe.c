/* The WebSocket parking probe (issue 21): what a request *handler* can do on
 * httpd 2.4 to hold an idle WebSocket without a thread under the event MPM.
 * Not part of mod_pympm: a study tool, built with apxs by run.sh beside it.
 *
 * 2.4 has neither ap_mpm_register_poll_callback[_timeout]() nor
 * ap_mpm_resume_suspended() (trunk only), and CONN_STATE_ASYNC_WAITIO is a
 * state for process_connection hooks (the MPM polls the connection's own
 * socket, with Timeout). So the probe does what is left: the handler answers
 * the handshake and returns SUSPENDED; a poller thread of its own (one per
 * child, epoll) watches each parked socket and an eventfd per socket that a
 * "pusher" thread (standing in for the ASGI loop) writes; readiness is handed
 * to an MPM worker with ap_mpm_register_timed_callback(0), the only
 * thread-safe way in 2.4 to get code run on a worker. The worker reads and
 * echoes frames, writes pushes, and parks the socket again.
 *
 *   WsParkProbe thread|park|waitio   per directory: hold a thread, park, or
 *                                    leave CONN_STATE_ASYNC_WAITIO and return
 *                                    OK (does the MPM give the connection back
 *                                    to the connection hooks? logged if so)
 *   WsParkProbePush SECONDS          every SECONDS each open socket gets a
 *                                    text frame "push" (0: none)
 *   WsParkProbeTeardown close|pool   at the end: ap_lingering_close() only,
 *                                    or also destroy the connection's pool
 *                                    (c->pool, the MPM's ptrans)
 *
 * Frames: client frames of up to 125 bytes (what ws_load sends), masked;
 * text/binary echoed, ping answered, close echoed then the end.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_connection.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "mpm_common.h"
#include "apr_base64.h"
#include "apr_sha1.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"
#include "apr_portable.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

module AP_MODULE_DECLARE_DATA ws_park_probe_module;

typedef struct {
    int mode; /* 0 unset, 1 thread, 2 park */
    int push_s;
    int teardown_pool;
} probe_conf;

typedef struct probe_sock {
    request_rec *r;
    conn_rec *c;
    int fd;      /* the client's socket */
    int wake_fd; /* eventfd: a push is due */
    apr_bucket_brigade *in, *out;
    char buf[4096];
    size_t have;
    atomic_int scheduled;
    atomic_int pushes_due;
    int going_away;
    int done;
    struct probe_sock *next, *prev;
} probe_sock;

static int g_epfd = -1;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static probe_sock *g_socks; /* open parked or threaded sockets */
static atomic_int g_stopping;
static int g_push_s;
static atomic_long g_parked_now, g_resumes, g_pushes_sent, g_closed;

static void link_sock(probe_sock *s) {
    pthread_mutex_lock(&g_mu);
    s->next = g_socks;
    s->prev = NULL;
    if (g_socks) g_socks->prev = s;
    g_socks = s;
    pthread_mutex_unlock(&g_mu);
}

static void unlink_sock(probe_sock *s) {
    pthread_mutex_lock(&g_mu);
    if (s->prev) s->prev->next = s->next; else g_socks = s->next;
    if (s->next) s->next->prev = s->prev;
    pthread_mutex_unlock(&g_mu);
}

static int write_frame(probe_sock *s, int op, const char *p, size_t n) {
    char h[2] = {(char)(0x80 | op), (char)n};
    APR_BRIGADE_INSERT_TAIL(s->out, apr_bucket_transient_create(h, 2, s->c->bucket_alloc));
    if (n) APR_BRIGADE_INSERT_TAIL(s->out, apr_bucket_transient_create(p, n, s->c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(s->out, apr_bucket_flush_create(s->c->bucket_alloc));
    apr_status_t rv = ap_pass_brigade(s->c->output_filters, s->out);
    apr_brigade_cleanup(s->out);
    return rv == APR_SUCCESS && !s->c->aborted;
}

/* Reads what is there without blocking and answers it; 0 once the socket is
 * over (close, EOF, error). Returns with the input drained (EAGAIN), which
 * also drains what mod_ssl had decrypted and buffered. */
static int pump_input(probe_sock *s) {
    for (;;) {
        apr_brigade_cleanup(s->in);
        apr_status_t rv = ap_get_brigade(s->c->input_filters, s->in, AP_MODE_READBYTES, APR_NONBLOCK_READ,
                                         sizeof s->buf - s->have);
        if (APR_STATUS_IS_EAGAIN(rv)) return 1;
        if (rv != APR_SUCCESS) return 0;
        /* The core input filter answers a non-blocking read with nothing to
         * read by an empty brigade, not EAGAIN. */
        if (APR_BRIGADE_EMPTY(s->in)) return 1;
        int eof = 0;
        for (apr_bucket *b = APR_BRIGADE_FIRST(s->in); b != APR_BRIGADE_SENTINEL(s->in); b = APR_BUCKET_NEXT(b)) {
            if (APR_BUCKET_IS_EOS(b)) { eof = 1; break; }
            if (APR_BUCKET_IS_METADATA(b)) continue;
            const char *d; apr_size_t n;
            if (apr_bucket_read(b, &d, &n, APR_BLOCK_READ) != APR_SUCCESS) return 0;
            if (n > sizeof s->buf - s->have) n = sizeof s->buf - s->have;
            memcpy(s->buf + s->have, d, n);
            s->have += n;
        }
        apr_brigade_cleanup(s->in);
        /* Whole frames (masked, payload <= 125). */
        while (s->have >= 6) {
            unsigned char *f = (unsigned char *)s->buf;
            int op = f[0] & 0x0f;
            size_t len = f[1] & 0x7f;
            if (!(f[1] & 0x80) || len > 125) return 0;
            if (s->have < 6 + len) break;
            char payload[125];
            for (size_t i = 0; i < len; i++) payload[i] = (char)(f[6 + i] ^ f[2 + (i & 3)]);
            memmove(s->buf, s->buf + 6 + len, s->have - 6 - len);
            s->have -= 6 + len;
            if (op == 1 || op == 2) { if (!write_frame(s, op, payload, len)) return 0; }
            else if (op == 9) { if (!write_frame(s, 10, payload, len)) return 0; }
            else if (op == 8) { write_frame(s, 8, payload, len >= 2 ? 2 : 0); return 0; }
        }
        if (eof) return 0;
    }
}

static int pump_pushes(probe_sock *s) {
    uint64_t v;
    while (read(s->wake_fd, &v, sizeof v) > 0) {}
    if (s->going_away) {
        const char code[2] = {0x03, (char)0xe9}; /* 1001 */
        write_frame(s, 8, code, 2);
        return 0;
    }
    int due = atomic_exchange(&s->pushes_due, 0);
    for (; due > 0; due--) {
        if (!write_frame(s, 1, "push", 4)) return 0;
        atomic_fetch_add(&g_pushes_sent, 1);
    }
    return 1;
}

static void arm(probe_sock *s, int op) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = s};
    epoll_ctl(g_epfd, op, s->fd, &ev);
    struct epoll_event ew = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = (char *)s + 1};
    epoll_ctl(g_epfd, op, s->wake_fd, &ew);
}

/* The end, on a worker: what a handler's caller would do after it, then the
 * connection. 2.4 has no ap_mpm_resume_suspended(): the MPM never gets this
 * connection back, so its count and its pool stay taken unless destroyed here. */
static void finish(probe_sock *s) {
    request_rec *r = s->r;
    conn_rec *c = s->c;
    probe_conf *conf = ap_get_module_config(r->per_dir_config, &ws_park_probe_module);
    int pool = conf->teardown_pool;
    epoll_ctl(g_epfd, EPOLL_CTL_DEL, s->fd, NULL);
    epoll_ctl(g_epfd, EPOLL_CTL_DEL, s->wake_fd, NULL);
    close(s->wake_fd);
    unlink_sock(s);
    atomic_fetch_sub(&g_parked_now, 1);
    atomic_fetch_add(&g_closed, 1);
    ap_finalize_request_protocol(r);
    ap_process_request_after_handler(r); /* r is gone */
    ap_lingering_close(c);
    if (pool) apr_pool_destroy(c->pool);
}

static void resume_cb(void *baton) {
    probe_sock *s = baton;
    atomic_fetch_add(&g_resumes, 1);
    apr_thread_mutex_lock(s->r->invoke_mtx); /* the handler has returned */
    apr_thread_mutex_unlock(s->r->invoke_mtx);
    int ok = pump_pushes(s) && pump_input(s);
    if (!ok || atomic_load(&g_stopping)) {
        if (ok) { s->going_away = 1; pump_pushes(s); }
        finish(s);
        return;
    }
    /* Events while this ran were skipped (scheduled): re-arming both, level
     * triggered, reports them now. */
    atomic_store(&s->scheduled, 0);
    arm(s, EPOLL_CTL_MOD);
}

static void *poller(void *arg) {
    (void)arg;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(g_epfd, evs, 256, -1);
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < n; i++) {
            probe_sock *s = (probe_sock *)((uintptr_t)evs[i].data.ptr & ~(uintptr_t)1);
            if (atomic_exchange(&s->scheduled, 1)) continue; /* the resume re-arms both */
            if (ap_mpm_register_timed_callback(0, resume_cb, s) != APR_SUCCESS) atomic_store(&s->scheduled, 0);
        }
    }
    return NULL;
}

static void *pusher(void *arg) {
    (void)arg;
    for (;;) {
        sleep(g_push_s > 0 ? g_push_s : 1);
        if (g_push_s <= 0) continue;
        pthread_mutex_lock(&g_mu);
        for (probe_sock *s = g_socks; s; s = s->next) {
            atomic_fetch_add(&s->pushes_due, 1);
            uint64_t one = 1;
            (void)!write(s->wake_fd, &one, sizeof one);
        }
        pthread_mutex_unlock(&g_mu);
    }
    return NULL;
}

static int handshake(request_rec *r) {
    const char *key = apr_table_get(r->headers_in, "Sec-WebSocket-Key");
    const char *up = apr_table_get(r->headers_in, "Upgrade");
    if (!key || !up || strcasecmp(up, "websocket")) return HTTP_BAD_REQUEST;
    apr_sha1_ctx_t sha;
    unsigned char digest[APR_SHA1_DIGESTSIZE];
    const char *guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    apr_sha1_init(&sha);
    apr_sha1_update(&sha, key, strlen(key));
    apr_sha1_update(&sha, guid, strlen(guid));
    apr_sha1_final(digest, &sha);
    char *accept = apr_palloc(r->pool, apr_base64_encode_len(sizeof digest));
    apr_base64_encode(accept, (const char *)digest, sizeof digest);
    r->status = HTTP_SWITCHING_PROTOCOLS;
    r->status_line = ap_get_status_line(HTTP_SWITCHING_PROTOCOLS);
    apr_table_clear(r->headers_out);
    apr_table_setn(r->headers_out, "Upgrade", "websocket");
    apr_table_setn(r->headers_out, "Connection", "Upgrade");
    apr_table_setn(r->headers_out, "Sec-WebSocket-Accept", accept);
    ap_send_interim_response(r, 1);
    ap_remove_input_filter_byhandle(r->connection->input_filters, "reqtimeout");
    r->output_filters = r->proto_output_filters = r->connection->output_filters;
    r->input_filters = r->proto_input_filters = r->connection->input_filters;
    r->connection->keepalive = AP_CONN_CLOSE;
    return OK;
}

static int conn_hook(conn_rec *c) {
    if (apr_table_get(c->notes, "ws-park-probe-waitio"))
        ap_log_cerror(APLOG_MARK, APLOG_WARNING, 0, c, "probe: waitio connection back in process_connection");
    return DECLINED;
}

static int probe_handler(request_rec *r) {
    if (!r->handler || strcmp(r->handler, "ws-park-probe")) return DECLINED;
    probe_conf *conf = ap_get_module_config(r->per_dir_config, &ws_park_probe_module);
    int async = 0;
    ap_mpm_query(AP_MPMQ_IS_ASYNC, &async);
    if (r->connection->master) return HTTP_NOT_IMPLEMENTED; /* an h2 stream: no socket of its own */
    int rc = handshake(r);
    if (rc != OK) return rc;
    /* Not in r->pool: the poller may still look at it after the end (never
     * freed: a probe). */
    probe_sock *s = calloc(1, sizeof *s);
    s->r = r;
    s->c = r->connection;
    s->in = apr_brigade_create(r->pool, s->c->bucket_alloc);
    s->out = apr_brigade_create(r->pool, s->c->bucket_alloc);
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    apr_socket_t *sock = ap_get_conn_socket(s->c);
    apr_os_sock_t fd = -1;
    apr_os_sock_get(&fd, sock);
    s->fd = fd;
    link_sock(s);
    atomic_fetch_add(&g_parked_now, 1);
    if (conf->mode == 3) {
        /* What a request handler cannot do: ap_process_request_after_handler()
         * moves the connection on whatever state it is left in. */
        unlink_sock(s);
        close(s->wake_fd);
        atomic_fetch_sub(&g_parked_now, 1);
        apr_table_setn(s->c->notes, "ws-park-probe-waitio", "1");
        s->c->cs->state = CONN_STATE_ASYNC_WAITIO;
        s->c->cs->sense = CONN_SENSE_WANT_READ;
        s->c->keepalive = AP_CONN_KEEPALIVE;
        return OK;
    }
    if (conf->mode == 2 && async && g_epfd >= 0) {
        /* Nothing read yet past the handshake may sit in the filters: pump
         * once, then park. */
        atomic_store(&s->scheduled, 1);
        if (!pump_input(s)) {
            unlink_sock(s);
            close(s->wake_fd);
            atomic_fetch_sub(&g_parked_now, 1);
            return OK;
        }
        atomic_store(&s->scheduled, 0);
        arm(s, EPOLL_CTL_ADD);
        return SUSPENDED;
    }
    /* thread mode: as mod_pympm and mod_proxy_wstunnel do in 2.4 */
    for (;;) {
        struct pollfd p[2] = {{.fd = s->fd, .events = POLLIN}, {.fd = s->wake_fd, .events = POLLIN}};
        poll(p, 2, 1000);
        if (atomic_load(&g_stopping)) { s->going_away = 1; pump_pushes(s); break; }
        if (!pump_pushes(s) || !pump_input(s)) break;
    }
    unlink_sock(s);
    close(s->wake_fd);
    atomic_fetch_sub(&g_parked_now, 1);
    atomic_fetch_add(&g_closed, 1);
    return OK;
}

/* /probe-status: what this child holds. */
static int status_handler(request_rec *r) {
    if (!r->handler || strcmp(r->handler, "ws-park-probe-status")) return DECLINED;
    ap_set_content_type(r, "text/plain");
    ap_rprintf(r, "pid %d open %ld resumes %ld pushes %ld closed %ld\n", (int)getpid(), atomic_load(&g_parked_now),
               atomic_load(&g_resumes), atomic_load(&g_pushes_sent), atomic_load(&g_closed));
    return OK;
}

static void child_init(apr_pool_t *p, server_rec *s) {
    (void)p; (void)s;
    g_epfd = epoll_create1(EPOLL_CLOEXEC);
    pthread_t t;
    pthread_create(&t, NULL, poller, NULL);
    pthread_detach(t);
    pthread_create(&t, NULL, pusher, NULL);
    pthread_detach(t);
}

/* A graceful stop: each socket gets 1001 on a worker. */
static void child_stopping(apr_pool_t *p, int graceful) {
    (void)p; (void)graceful;
    atomic_store(&g_stopping, 1);
    pthread_mutex_lock(&g_mu);
    for (probe_sock *s = g_socks; s; s = s->next) {
        uint64_t one = 1;
        (void)!write(s->wake_fd, &one, sizeof one);
    }
    pthread_mutex_unlock(&g_mu);
}

static void *create_conf(apr_pool_t *p, char *d) { (void)d; return apr_pcalloc(p, sizeof(probe_conf)); }

static const char *set_mode(cmd_parms *cmd, void *c, const char *v) {
    (void)cmd;
    ((probe_conf *)c)->mode = !strcasecmp(v, "park") ? 2 : !strcasecmp(v, "waitio") ? 3 : 1;
    return NULL;
}
static const char *set_push(cmd_parms *cmd, void *c, const char *v) {
    (void)cmd; (void)c;
    g_push_s = atoi(v);
    return NULL;
}
static const char *set_teardown(cmd_parms *cmd, void *c, const char *v) {
    (void)cmd;
    ((probe_conf *)c)->teardown_pool = !strcasecmp(v, "pool");
    return NULL;
}

static const command_rec cmds[] = {
    AP_INIT_TAKE1("WsParkProbe", set_mode, NULL, ACCESS_CONF | RSRC_CONF, "thread or park"),
    AP_INIT_TAKE1("WsParkProbePush", set_push, NULL, RSRC_CONF, "seconds between pushes"),
    AP_INIT_TAKE1("WsParkProbeTeardown", set_teardown, NULL, ACCESS_CONF | RSRC_CONF, "close or pool"),
    {NULL}};

static void register_hooks(apr_pool_t *p) {
    (void)p;
    ap_hook_handler(probe_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_process_connection(conn_hook, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_handler(status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_stopping(child_stopping, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(ws_park_probe) = {STANDARD20_MODULE_STUFF, create_conf, NULL, NULL, NULL, cmds, register_hooks, 0};
