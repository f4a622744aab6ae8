/* WebSocket load generator for bench/run's ws-echo and ws-idle scenarios:
 * N client connections on one epoll loop, each with its own handshake and
 * masked frames (no library, so the client costs little next to the server).
 *
 *   ws_load ws://HOST:PORT/PATH echo N SECS [SIZE]   N connections, each
 *       sending a SIZE-byte (16) text message and waiting for its echo, for
 *       SECS seconds: messages per second and the round-trip latencies.
 *   ws_load ws://HOST:PORT/PATH idle N HOLD [SIZE]   N connections opened
 *       and held HOLD seconds (server pings answered), then one echo each:
 *       how many survived and the echo latencies.
 *
 * At the end every connection still open waits for its echo, then closes
 * with the close handshake (Close 1000, the server's Close): a server never
 * sees a connection vanish under an echo it is sending.
 *
 * Prints one JSON line. Needs `ulimit -n` above N. Build:
 *   cc -O2 -Wall -Wextra -o ws_load bench/tools/ws_load.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { CONNECTING, HANDSHAKE, IDLE, WAITING, CLOSING, DEAD };

struct conn {
    int fd;
    enum state state;
    char in[65536 + 16];
    size_t have;
    double sent_at;
    unsigned rng;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct {
    char host[256], port[16], path[1024];
    int idle;
    int n;
    double secs;
    size_t size;
} opt;

static double* lat;
static size_t nlat, caplat;
static long messages, errors;

static void record(double seconds) {
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 65536;
        lat = realloc(lat, caplat * sizeof *lat);
        if (!lat) abort();
    }
    lat[nlat++] = seconds;
}

static int write_all(int fd, const char* p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
            /* Small frames: the socket buffer is nearly never full; wait. */
            struct timespec t = {0, 100000};
            nanosleep(&t, NULL);
            continue;
        }
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A masked client frame. */
static int send_frame(struct conn* c, int op, const char* payload, size_t n) {
    char buf[65536 + 14];
    size_t h = 0;
    buf[h++] = (char)(0x80 | op);
    if (n < 126) {
        buf[h++] = (char)(0x80 | n);
    } else {
        buf[h++] = (char)(0x80 | 126);
        buf[h++] = (char)(n >> 8);
        buf[h++] = (char)(n & 0xFF);
    }
    c->rng = c->rng * 1103515245u + 12345u;
    unsigned char key[4] = {(unsigned char)(c->rng >> 24), (unsigned char)(c->rng >> 16), (unsigned char)(c->rng >> 8),
                            (unsigned char)c->rng};
    memcpy(buf + h, key, 4);
    h += 4;
    for (size_t i = 0; i < n; ++i) buf[h + i] = (char)(payload[i] ^ key[i & 3]);
    return write_all(c->fd, buf, h + n);
}

static char message[65536];

static void send_echo(struct conn* c) {
    c->sent_at = now();
    if (send_frame(c, 1, message, opt.size) < 0) {
        c->state = DEAD;
        ++errors;
        return;
    }
    c->state = WAITING;
}

/* Consumes whole server frames from c->in; returns -1 when the connection
 * must end. */
static int on_frames(struct conn* c, int measuring, double deadline) {
    size_t at = 0;
    for (;;) {
        if (c->have - at < 2) break;
        unsigned char* p = (unsigned char*)c->in + at;
        uint64_t len = p[1] & 0x7F;
        size_t head = 2;
        if (len == 126) {
            if (c->have - at < 4) break;
            len = (uint64_t)p[2] << 8 | p[3];
            head = 4;
        } else if (len == 127) {
            if (c->have - at < 10) break;
            len = 0;
            for (int i = 0; i < 8; ++i) len = len << 8 | p[2 + i];
            head = 10;
        }
        if (len > 65536) return -1;
        if (c->have - at < head + len) break;
        int op = p[0] & 0x0F;
        if (op == 0x9) {
            if (send_frame(c, 0xA, (char*)p + head, (size_t)len) < 0) return -1;
        } else if (op == 0x8) {
            return -1;
        } else if ((op == 0x1 || op == 0x2) && c->state == WAITING) {
            double t = now();
            if (measuring) {
                ++messages;
                record(t - c->sent_at);
            }
            c->state = IDLE;
            if (!opt.idle && t < deadline) send_echo(c);
        }
        at += head + (size_t)len;
    }
    memmove(c->in, c->in + at, c->have - at);
    c->have -= at;
    return 0;
}

static int on_handshake(struct conn* c) {
    c->in[c->have] = 0;
    char* end = strstr(c->in, "\r\n\r\n");
    if (!end) return c->have >= sizeof c->in - 1 ? -1 : 0;
    if (strncmp(c->in, "HTTP/1.1 101", 12) != 0) return -1;
    size_t used = (size_t)(end + 4 - c->in);
    memmove(c->in, c->in + used, c->have - used);
    c->have -= used;
    c->state = IDLE;
    return 1;
}

static int cmp(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

static double pct(double p) {
    if (!nlat) return 0;
    size_t i = (size_t)(p * (double)(nlat - 1));
    return lat[i] * 1e6;
}

int main(int argc, char** argv) {
    if (argc < 5 || strncmp(argv[1], "ws://", 5) != 0) {
        fprintf(stderr, "usage: ws_load ws://HOST:PORT/PATH echo|idle N SECS [SIZE]\n");
        return 2;
    }
    const char *hp = argv[1] + 5, *slash = strchr(hp, '/'), *colon = strchr(hp, ':');
    if (!slash) slash = hp + strlen(hp);
    if (colon && colon < slash) {
        snprintf(opt.host, sizeof opt.host, "%.*s", (int)(colon - hp), hp);
        snprintf(opt.port, sizeof opt.port, "%.*s", (int)(slash - colon - 1), colon + 1);
    } else {
        snprintf(opt.host, sizeof opt.host, "%.*s", (int)(slash - hp), hp);
        snprintf(opt.port, sizeof opt.port, "80");
    }
    snprintf(opt.path, sizeof opt.path, "%s", *slash ? slash : "/");
    opt.idle = strcmp(argv[2], "idle") == 0;
    opt.n = atoi(argv[3]);
    opt.secs = atof(argv[4]);
    opt.size = argc > 5 ? (size_t)atol(argv[5]) : 16;
    if (opt.n <= 0 || opt.size > 65536) return 2;
    memset(message, 'x', opt.size);

    struct addrinfo hints = {0}, *ai;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(opt.host, opt.port, &hints, &ai) != 0) {
        fprintf(stderr, "ws_load: cannot resolve %s\n", opt.host);
        return 1;
    }
    char request[2048];
    int reqlen = snprintf(request, sizeof request,
                          "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                          opt.path, opt.host, opt.port);

    int ep = epoll_create1(0);
    struct conn* conns = calloc((size_t)opt.n, sizeof *conns);
    int open_ok = 0;
    double t0 = now();
    for (int i = 0; i < opt.n; ++i) {
        struct conn* c = &conns[i];
        c->rng = (unsigned)i * 2654435761u + 1;
        c->fd = socket(ai->ai_family, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
            write_all(c->fd, request, (size_t)reqlen) < 0) {
            c->state = DEAD;
            ++errors;
            continue;
        }
        fcntl(c->fd, F_SETFL, O_NONBLOCK);
        c->state = HANDSHAKE;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    freeaddrinfo(ai);

    /* Phases: handshakes; then echo for SECS, or hold for SECS then one
     * echo each. */
    int alive = 0; /* connections that took part to the end (their last echo came back) */
    int phase = 0; /* 0 handshakes, 1 run/hold, 2 final echoes (idle) or the last
                      echoes in flight (echo), 3 the close handshakes */
    double deadline = now() + 30, start = 0, end = 0;
    struct epoll_event evs[256];
    for (;;) {
        double t = now();
        if (phase == 0) {
            int pending = 0;
            for (int i = 0; i < opt.n; ++i) pending += conns[i].state == HANDSHAKE;
            if (!pending || t > deadline) {
                for (int i = 0; i < opt.n; ++i) {
                    if (conns[i].state == HANDSHAKE) conns[i].state = DEAD, ++errors;
                    open_ok += conns[i].state == IDLE;
                }
                phase = 1;
                start = now();
                deadline = start + opt.secs;
                if (!opt.idle)
                    for (int i = 0; i < opt.n; ++i)
                        if (conns[i].state == IDLE) send_echo(&conns[i]);
            }
        } else if (phase == 1 && t >= deadline) {
            end = t;
            phase = 2;
            deadline = t + 60;
            if (opt.idle)
                for (int i = 0; i < opt.n; ++i)
                    if (conns[i].state == IDLE) send_echo(&conns[i]);
        } else if (phase == 2) {
            int waiting = 0;
            for (int i = 0; i < opt.n; ++i) waiting += conns[i].state == WAITING;
            if (!waiting || t > deadline) {
                for (int i = 0; i < opt.n; ++i) alive += conns[i].state == IDLE;
                phase = 3;
                deadline = t + 10;
                for (int i = 0; i < opt.n; ++i)
                    if (conns[i].state == IDLE || conns[i].state == WAITING) {
                        if (conns[i].state == WAITING) ++errors; /* no echo within 60 s */
                        conns[i].state = send_frame(&conns[i], 0x8, "\x03\xe8", 2) < 0 ? DEAD : CLOSING;
                    }
            }
        } else if (phase == 3) {
            int closing = 0;
            for (int i = 0; i < opt.n; ++i) closing += conns[i].state == CLOSING;
            if (!closing || t > deadline) break;
        }
        int n = epoll_wait(ep, evs, 256, 50);
        for (int k = 0; k < n; ++k) {
            struct conn* c = evs[k].data.ptr;
            if (c->state == DEAD) continue;
            ssize_t r = read(c->fd, c->in + c->have, sizeof c->in - 1 - c->have);
            int bad = r <= 0 && !(r < 0 && (errno == EAGAIN || errno == EINTR));
            if (r > 0) {
                c->have += (size_t)r;
                if (c->state == HANDSHAKE) {
                    int h = on_handshake(c);
                    bad = h < 0;
                }
                if (!bad && c->state != HANDSHAKE)
                    /* Echo mode sends the next message only while the run lasts. */
                    bad = on_frames(c, (phase == 2 && opt.idle) || (phase == 1 && !opt.idle),
                                    phase == 1 ? deadline : 0) < 0;
            }
            if (bad) {
                /* The server's Close (or EOF) ends a closing connection. */
                if (c->state != CLOSING && (c->state == WAITING || phase != 1 || !opt.idle)) ++errors;
                c->state = DEAD;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
            }
        }
    }
    qsort(lat, nlat, sizeof *lat, cmp);
    double run = opt.idle ? opt.secs : end - start;
    double sum = 0;
    for (size_t i = 0; i < nlat; ++i) sum += lat[i];
    printf("{\"mode\": \"%s\", \"connections\": %d, \"opened\": %d, \"alive\": %d, \"seconds\": %.3f, "
           "\"messages\": %ld, \"msgs_per_s\": %.1f, \"p50_us\": %.0f, \"p90_us\": %.0f, \"p99_us\": %.0f, "
           "\"max_us\": %.0f, \"mean_us\": %.1f, \"errors\": %ld, \"setup_s\": %.3f}\n",
           opt.idle ? "idle" : "echo", opt.n, open_ok, alive, run, messages,
           opt.idle ? 0.0 : (double)messages / (run > 0 ? run : 1), pct(0.50), pct(0.90), pct(0.99), pct(1.0),
           nlat ? sum / (double)nlat * 1e6 : 0.0, errors, start - t0);
    for (int i = 0; i < opt.n; ++i)
        if (conns[i].state != DEAD) close(conns[i].fd);
    return errors ? 1 : 0;
}
