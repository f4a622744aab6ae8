/*
 * mod_bench_floor: httpd's floor for bench/run and bench/profile-callgrind.
 *
 * Answers every request with the bytes of one file, read into memory at
 * startup, with the headers of bench/apps/hello.py (Content-Type text/plain,
 * Content-Length): what httpd itself costs per request when a module answers
 * from memory, with no app and no file behind it. It claims URLs the way
 * mod_pympm does (translate_name, then no directory or file walk), so
 * "mod_pympm - floor" is what Python and the module add.
 *
 *     LoadModule bench_floor_module /path/mod_bench_floor.so
 *     BenchFloorBody /path/hello.txt
 *
 * Built by bench/run (build_floor) into its temporary folder; never installed.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_buckets.h"
#include "apr_file_io.h"
#include "apr_strings.h"

#include <string.h>

module AP_MODULE_DECLARE_DATA bench_floor_module;

static const char floor_handler_name[] = "bench-floor";

typedef struct {
    const char *body; /* NULL: no BenchFloorBody, the module stays out of the way */
    apr_size_t length;
} floor_config;

static void *create_server_config(apr_pool_t *p, server_rec *s)
{
    (void)s;
    return apr_pcalloc(p, sizeof(floor_config));
}

/* Read once into the config pool: the body then outlives every request of
 * this generation, so the handler can send it without copying it. */
static const char *set_body(cmd_parms *cmd, void *dummy, const char *path)
{
    floor_config *conf = ap_get_module_config(cmd->server->module_config, &bench_floor_module);
    apr_file_t *f;
    apr_finfo_t info;
    apr_size_t got;
    char *buf;
    (void)dummy;
    path = ap_server_root_relative(cmd->pool, path);
    if (apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, cmd->pool) != APR_SUCCESS)
        return apr_pstrcat(cmd->pool, "BenchFloorBody: cannot open ", path, NULL);
    if (apr_file_info_get(&info, APR_FINFO_SIZE, f) != APR_SUCCESS)
        return apr_pstrcat(cmd->pool, "BenchFloorBody: cannot stat ", path, NULL);
    buf = apr_palloc(cmd->pool, (apr_size_t)info.size + 1);
    if (apr_file_read_full(f, buf, (apr_size_t)info.size, &got) != APR_SUCCESS
        || got != (apr_size_t)info.size)
        return apr_pstrcat(cmd->pool, "BenchFloorBody: cannot read ", path, NULL);
    apr_file_close(f);
    conf->body = buf;
    conf->length = got;
    return NULL;
}

static int translate_name(request_rec *r)
{
    floor_config *conf = ap_get_module_config(r->server->module_config, &bench_floor_module);
    if (!conf->body || !r->uri || r->uri[0] != '/')
        return DECLINED;
    r->handler = floor_handler_name;
    r->filename = apr_pstrcat(r->pool, "bench-floor:", r->uri, NULL);
    return OK;
}

/* Our URLs are not files: skip the directory and file walk, as mod_pympm
 * does (TRACE stays httpd's, as there). */
static int map_to_storage(request_rec *r)
{
    if (r->method_number == M_TRACE || !r->handler || strcmp(r->handler, floor_handler_name))
        return DECLINED;
    return OK;
}

static int handler(request_rec *r)
{
    floor_config *conf;
    apr_bucket_brigade *bb;
    if (!r->handler || strcmp(r->handler, floor_handler_name))
        return DECLINED;
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET)
        return HTTP_METHOD_NOT_ALLOWED;
    conf = ap_get_module_config(r->server->module_config, &bench_floor_module);
    ap_set_content_type(r, "text/plain");
    ap_set_content_length(r, (apr_off_t)conf->length);
    /* One brigade, the body as an immortal bucket (no copy) and EOS: the
     * least any module can hand httpd for a response held in memory. */
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_immortal_create(conf->body, conf->length,
                                                           r->connection->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(r->connection->bucket_alloc));
    return ap_pass_brigade(r->output_filters, bb) == APR_SUCCESS ? OK : AP_FILTER_ERROR;
}

static void register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_translate_name(translate_name, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_map_to_storage(map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(handler, NULL, NULL, APR_HOOK_MIDDLE);
}

static const command_rec commands[] = {
    AP_INIT_TAKE1("BenchFloorBody", set_body, NULL, RSRC_CONF,
                  "file whose bytes every request is answered with"),
    {NULL}
};

module AP_MODULE_DECLARE_DATA bench_floor_module = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL,
    create_server_config, NULL,
    commands,
    register_hooks
};
