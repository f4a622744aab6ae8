#include "httpd_request_io.h"

#include "httpd_websocket_io.h"
#include "server_config.h"

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_script.h>
#include <apr_strings.h>
#include <apr_uri.h>

#include <cstdlib>
#include <cstring>
#include <sys/socket.h>
#include <string>

namespace pympm::httpd {

namespace {
std::string apr_error(apr_status_t rv) {
    char buf[256];
    apr_strerror(rv, buf, sizeof buf);
    return buf;
}
} // namespace

HttpdRequestIO::HttpdRequestIO(request_rec* r, const MountEntry& mount, std::size_t script_name_len)
    : r_(r), mount_(mount), script_name_len_(script_name_len) {
    if (r->prev && ap_is_HTTP_ERROR(r->prev->status)) error_status_ = r->prev->status;
    body_not_ours_ = r->main != nullptr || error_status_ != 0;
}

HttpdRequestIO::~HttpdRequestIO() = default;

WebSocketIO* HttpdRequestIO::websocket() {
    if (!websocket_ && HttpdWebSocketIO::wanted(r_)) websocket_ = std::make_unique<HttpdWebSocketIO>(r_);
    return websocket_.get();
}

std::string_view HttpdRequestIO::uri() const {
    return r_->unparsed_uri ? std::string_view(r_->unparsed_uri) : std::string_view(r_->uri);
}

std::string HttpdRequestIO::describe() const {
    std::string out = std::string(r_->method ? r_->method : "?") + " " + std::string(uri()) + " " +
                      (r_->protocol ? r_->protocol : "") + " from " + (r_->useragent_ip ? r_->useragent_ip : "?");
    if (r_->connection && r_->connection->client_addr) out += ":" + std::to_string(r_->connection->client_addr->port);
    return out;
}

void HttpdRequestIO::end_keepalive() { r_->connection->keepalive = AP_CONN_CLOSE; }

namespace {

// The request target of the request line as sent (REQUEST_URI), a view
// into r->the_request.
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

std::string_view original_uri(const request_rec* r) {
    if (!r->the_request) return std::string_view("", 0);
    const char* p = r->the_request;
    while (*p && !is_space(*p)) ++p; // the method
    while (is_space(*p)) ++p;
    const char* end = p;
    while (*end && !is_space(*end)) ++end;
    return std::string_view(p, static_cast<std::size_t>(end - p));
}

bool needs_html_escape(const char* s) {
    for (; *s; ++s)
        if (*s == '<' || *s == '>' || *s == '&' || *s == '"') return true;
    return false;
}

std::string_view number(char (&buf)[12], unsigned value) {
    char* end = buf + sizeof buf;
    char* p = end;
    do {
        *--p = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value && p > buf);
    return std::string_view(p, static_cast<std::size_t>(end - p));
}

// httpd's PATH and LD_LIBRARY_PATH, which CGI passes on: read once per
// child (what the process was started with, whatever the app later does to
// os.environ). Copies that live as long as the process.
struct ProcessEnvironment {
    const char* path;
    const char* ld_library_path;
};

const ProcessEnvironment& process_environment() {
    static const ProcessEnvironment env = [] {
        const char* path = std::getenv("PATH");
        const char* ld = std::getenv("LD_LIBRARY_PATH");
        return ProcessEnvironment{path ? strdup(path) : DEFAULT_PATH, ld ? strdup(ld) : nullptr};
    }();
    return env;
}

// A request header CGI treats specially, or none. Most headers are not
// compared at all: their length rules them out.
enum class SpecialHeader {
    none,
    content_type,
    content_length,
    transfer_encoding,
    proxy,
    authorization,
    proxy_authorization
};

SpecialHeader special_header(const char* key) {
    switch (std::strlen(key)) {
    case 5: return !strcasecmp(key, "Proxy") ? SpecialHeader::proxy : SpecialHeader::none;
    case 12: return !strcasecmp(key, "Content-Type") ? SpecialHeader::content_type : SpecialHeader::none;
    case 13: return !strcasecmp(key, "Authorization") ? SpecialHeader::authorization : SpecialHeader::none;
    case 14: return !strcasecmp(key, "Content-Length") ? SpecialHeader::content_length : SpecialHeader::none;
    case 17: return !strcasecmp(key, "Transfer-Encoding") ? SpecialHeader::transfer_encoding : SpecialHeader::none;
    case 19: return !strcasecmp(key, "Proxy-Authorization") ? SpecialHeader::proxy_authorization : SpecialHeader::none;
    default: return SpecialHeader::none;
    }
}

} // namespace

void HttpdRequestIO::cgi_environ(CgiEnviron& out) {
    // What ap_add_common_vars and ap_add_cgi_vars give CGI scripts, read
    // straight from the request: r->subprocess_env is left as it is.
    request_rec* r = r_;
    conn_rec* c = r->connection;
    auto* core = static_cast<core_dir_config*>(ap_get_core_module_config(r->per_dir_config));
    const bool pass_auth = core && core->cgi_pass_auth == AP_CGI_PASS_AUTH_ON;

    // Variables httpd and its modules set (SetEnv, mod_ssl, mod_rewrite E=,
    // REDIRECT_*); SCRIPT_FILENAME only for a script mount.
    const bool script = mount_.target.kind == AppTarget::Kind::script;
    const apr_array_header_t* vars = apr_table_elts(r->subprocess_env);
    const auto* ve = reinterpret_cast<const apr_table_entry_t*>(vars->elts);
    const apr_array_header_t* hdrs = apr_table_elts(r->headers_in);
    const auto* he = reinterpret_cast<const apr_table_entry_t*>(hdrs->elts);
    for (int i = 0; i < vars->nelts; ++i) {
        if (!ve[i].key || !ve[i].val) continue;
        if (!script && !std::strcmp(ve[i].key, "SCRIPT_FILENAME")) continue;
        out.add(ve[i].key, ve[i].val, false);
    }
    for (int i = 0; i < hdrs->nelts; ++i) {
        const char* key = he[i].key;
        if (!key || !he[i].val) continue;
        switch (special_header(key)) {
        case SpecialHeader::content_type: out.set(CgiKey::k_CONTENT_TYPE, he[i].val); break;
        case SpecialHeader::content_length: out.set(CgiKey::k_CONTENT_LENGTH, he[i].val); break;
        case SpecialHeader::transfer_encoding:
            // httpd has taken the chunked coding off (it refuses any other):
            // wsgi.input is the body itself, read to its end. An app told
            // "chunked" would de-chunk it a second time (dulwich.web does).
            break;
        case SpecialHeader::proxy: break; // httpoxy: HTTP_PROXY configures HTTP clients
        case SpecialHeader::authorization:
            // CGI hides it (unless CGIPassAuth On); an app mounted with
            // PyApp is the authority for its own URLs and gets it, as from
            // any WSGI server, unless httpd authenticated the request itself
            // (REMOTE_USER then says who; the credentials stay with httpd).
            if (pass_auth || !r->user) out.add(key, he[i].val, true);
            break;
        case SpecialHeader::proxy_authorization:
            if (pass_auth) out.add(key, he[i].val, true);
            break;
        case SpecialHeader::none: out.add(key, he[i].val, true); break;
        }
    }

    const char* path = apr_table_get(r->subprocess_env, "PATH");
    out.set(CgiKey::k_PATH, path ? path : process_environment().path);
    out.set(CgiKey::k_LD_LIBRARY_PATH, process_environment().ld_library_path);
    out.set(CgiKey::k_SERVER_SIGNATURE, ap_psignature("", r));
    out.set(CgiKey::k_SERVER_SOFTWARE, ap_get_server_banner());
    const char* name = ap_get_server_name_for_url(r);
    out.set(CgiKey::k_SERVER_NAME, name && needs_html_escape(name) ? ap_escape_html(r->pool, name) : name);
    out.set(CgiKey::k_SERVER_ADDR, c->local_ip);
    out.set(CgiKey::k_SERVER_PORT, number(server_port_, ap_get_server_port(r)));
    out.set(CgiKey::k_REMOTE_HOST, ap_get_useragent_host(r, REMOTE_HOST, nullptr));
    out.set(CgiKey::k_REMOTE_ADDR, r->useragent_ip);
    out.set(CgiKey::k_DOCUMENT_ROOT, ap_document_root(r));
    out.set(CgiKey::k_REQUEST_SCHEME, ap_http_scheme(r));
    out.set(CgiKey::k_CONTEXT_PREFIX, ap_context_prefix(r));
    out.set(CgiKey::k_CONTEXT_DOCUMENT_ROOT, ap_context_document_root(r));
    out.set(CgiKey::k_SERVER_ADMIN, r->server->server_admin);
    if (script) out.set(CgiKey::k_SCRIPT_FILENAME, std::string_view(mount_.target.location));
    out.set(CgiKey::k_REMOTE_PORT, number(remote_port_, c->client_addr ? c->client_addr->port : 0));
    if (r->user) {
        out.set(CgiKey::k_REMOTE_USER, r->user);
    } else {
        for (request_rec* back = r->prev; back; back = back->prev)
            if (back->user) {
                out.set(CgiKey::k_REDIRECT_REMOTE_USER, back->user);
                break;
            }
    }
    out.set(CgiKey::k_AUTH_TYPE, r->ap_auth_type);
    out.set(CgiKey::k_REMOTE_IDENT, ap_get_remote_logname(r));
    if (r->prev) {
        // An ErrorDocument's or an internal redirect's: where it came from.
        if (core && core->qualify_redirect_url == AP_CORE_CONFIG_ON) {
            apr_uri_t uri = r->prev->parsed_uri;
            if (!uri.scheme) uri.scheme = const_cast<char*>(ap_http_scheme(r->prev));
            if (!uri.port) {
                uri.port = ap_get_server_port(r->prev);
                uri.port_str = apr_psprintf(r->pool, "%u", uri.port);
            }
            if (!uri.hostname) uri.hostname = const_cast<char*>(ap_get_server_name_for_url(r->prev));
            out.set(CgiKey::k_REDIRECT_URL, apr_uri_unparse(r->pool, &uri, 0));
        } else {
            out.set(CgiKey::k_REDIRECT_URL, r->prev->uri);
        }
        out.set(CgiKey::k_REDIRECT_QUERY_STRING, r->prev->args);
    }

    out.set(CgiKey::k_GATEWAY_INTERFACE, std::string_view("CGI/1.1"));
    out.set(CgiKey::k_SERVER_PROTOCOL, r->protocol);
    out.set(CgiKey::k_REQUEST_METHOD, r->method);
    out.set(CgiKey::k_QUERY_STRING, r->args ? r->args : "");
    bool current_uri = false;
    if (core && core->cgi_var_rules) {
        const char* rule =
            static_cast<const char*>(apr_hash_get(core->cgi_var_rules, "REQUEST_URI", APR_HASH_KEY_STRING));
        current_uri = rule && !std::strcmp(rule, "current-uri");
    }
    out.set(CgiKey::k_REQUEST_URI, current_uri ? std::string_view(r->uri) : original_uri(r));
    // The WSGI split of the path at the mount.
    out.set(CgiKey::k_SCRIPT_NAME, std::string_view(r->uri, script_name_len_));
    out.set(CgiKey::k_PATH_INFO, r->uri + script_name_len_);
    out.set(CgiKey::k_PATH_TRANSLATED, path_translated_);
}

void HttpdRequestIO::request_line(RequestLine& out) {
    out.method = r_->method ? r_->method : "GET";
    out.protocol = r_->protocol ? r_->protocol : "HTTP/1.1";
    out.path = r_->uri;
    out.mount_length = script_name_len_;
    out.target = r_->unparsed_uri ? r_->unparsed_uri : r_->uri;
    out.query = r_->args ? r_->args : "";
    out.https = is_https();
    conn_rec* c = r_->connection;
    out.client_ip = r_->useragent_ip ? r_->useragent_ip : (c->client_ip ? c->client_ip : "");
    // mod_remoteip rewrites the user agent's address, port included.
    out.client_port = r_->useragent_addr ? r_->useragent_addr->port : c->client_addr ? c->client_addr->port : 0;
    out.server_ip = c->local_ip ? c->local_ip : "";
    out.server_port = c->local_addr ? c->local_addr->port : 0;
    const apr_array_header_t* arr = apr_table_elts(r_->headers_in);
    const auto* elts = reinterpret_cast<const apr_table_entry_t*>(arr->elts);
    out.headers.reserve(static_cast<std::size_t>(arr->nelts));
    for (int i = 0; i < arr->nelts; ++i) {
        const char* key = elts[i].key;
        if (!key || !elts[i].val) continue;
        // As for WSGI (and CGI): proxy credentials stay with httpd, `Proxy`
        // never reaches the app (httpoxy: ASGI-to-WSGI adapters turn it into
        // HTTP_PROXY), and the credentials of a request httpd authenticated
        // itself stay with httpd.
        if (!strcasecmp(key, "Proxy") || !strcasecmp(key, "Proxy-Authorization") ||
            (r_->user && !strcasecmp(key, "Authorization")))
            continue;
        out.headers.emplace_back(key, elts[i].val);
    }
}

bool HttpdRequestIO::peer_closed() {
    // mod_http2's streams have no socket of their own.
    conn_rec* c = r_->connection;
    if (c->master) return false;
    apr_socket_t* sock = ap_get_conn_socket(c);
    apr_os_sock_t fd = -1;
    if (!sock || apr_os_sock_get(&fd, sock) != APR_SUCCESS || fd < 0) return false;
    char byte;
    const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0; // EOF; data (a pipelined request) or EAGAIN: still there
}

bool HttpdRequestIO::is_https() const { return std::strcmp(ap_http_scheme(r_), "https") == 0; }

std::optional<std::uint64_t> HttpdRequestIO::body_length() const {
    if (body_not_ours_) return 0;
    // HTTP/1 has a body only with one of these headers (RFC 9112 6.3).
    if (r_->proto_num < 2000 && !apr_table_get(r_->headers_in, "Transfer-Encoding") &&
        !apr_table_get(r_->headers_in, "Content-Length"))
        return 0;
    // Without Content-Length (HTTP/2 may send a body with neither header)
    // the length is unknown, not zero.
    if (apr_table_get(r_->headers_in, "Transfer-Encoding")) return std::nullopt;
    const char* cl = apr_table_get(r_->headers_in, "Content-Length");
    if (!cl) return std::nullopt;
    char* end = nullptr;
    apr_off_t length = 0;
    if (apr_strtoff(&length, cl, &end, 10) != APR_SUCCESS || end == cl || *end || length < 0) return std::nullopt;
    return static_cast<std::uint64_t>(length);
}

int HttpdRequestIO::refuse_body_early(std::string& why) {
    // As mod_wsgi and CGI (ap_setup_client_block) do: a declared length over
    // the limit is refused before the app runs, so an app that would not
    // read the body cannot answer 200 to it. Chunked bodies are checked by
    // httpd's input filter while the app reads.
    const apr_off_t limit = ap_get_limit_req_body(r_);
    const char* cl = apr_table_get(r_->headers_in, "Content-Length");
    if (body_not_ours_ || !limit || !cl || apr_table_get(r_->headers_in, "Transfer-Encoding")) return 0;
    char* end = nullptr;
    apr_off_t length = 0;
    if (apr_strtoff(&length, cl, &end, 10) != APR_SUCCESS || *end || length <= limit) return 0;
    why = "its Content-Length " + std::to_string(static_cast<long long>(length)) + " exceeds LimitRequestBody " +
          std::to_string(static_cast<long long>(limit));
    return HTTP_REQUEST_ENTITY_TOO_LARGE;
}

std::size_t HttpdRequestIO::read_body(char* buf, std::size_t len) {
    if (in_eos_ || len == 0 || body_not_ours_) return 0;
    conn_rec* c = r_->connection;
    if (!in_) in_ = apr_brigade_create(r_->pool, c->bucket_alloc);
    std::size_t got = 0;
    while (got == 0 && !in_eos_) {
        const bool ended_before = r_->eos_sent;
        apr_status_t rv =
            ap_get_brigade(r_->input_filters, in_, AP_MODE_READBYTES, APR_BLOCK_READ, static_cast<apr_off_t>(len));
        if (rv == APR_SUCCESS && !ended_before && r_->eos_sent) {
            // httpd's input filter refuses a malformed chunk or a body over
            // LimitRequestBody by sending an error and the end of the
            // response down the output filters. Once the head is out nothing
            // turns that into AP_FILTER_ERROR: the read "succeeds" with the
            // refused bytes (the bad chunk line, the excess) as body, and
            // the response has ended (the last chunk went out). Neither the
            // bytes nor anything the app sends after them belong on the wire.
            apr_brigade_cleanup(in_);
            in_eos_ = true;
            error_sent_ = true;
            throw BadRequestBody(HTTP_BAD_REQUEST,
                                 "httpd refused the request body (a malformed chunk, or more than LimitRequestBody) "
                                 "after the response had begun, and ended the response");
        }
        if (rv != APR_SUCCESS) {
            apr_brigade_cleanup(in_);
            in_eos_ = true;
            if (rv == AP_FILTER_ERROR) {
                // The input filter has already answered (413 for
                // LimitRequestBody, 400 for a malformed chunk).
                error_sent_ = true;
                head_sent_ = true;
                int status = ap_is_HTTP_ERROR(r_->status) ? r_->status : HTTP_BAD_REQUEST;
                throw BadRequestBody(status, "httpd refused the request body and answered " + std::to_string(status));
            }
            if (rv == APR_ENOSPC) throw BadRequestBody(HTTP_REQUEST_ENTITY_TOO_LARGE, "the request body is too large");
            if (rv == APR_EGENERAL || rv == APR_EINVAL)
                throw BadRequestBody(HTTP_BAD_REQUEST, "the request body is malformed (" + apr_error(rv) + ")");
            // EOF before the end of the body (APR_INCOMPLETE), a reset, a
            // timeout: the client is gone or stalled.
            if (APR_STATUS_IS_TIMEUP(rv) || rv == APR_ETIMEDOUT)
                throw ClientGone("timed out waiting for the request body");
            throw ClientGone(apr_error(rv));
        }
        for (apr_bucket* b = APR_BRIGADE_FIRST(in_); b != APR_BRIGADE_SENTINEL(in_); b = APR_BUCKET_NEXT(b)) {
            if (APR_BUCKET_IS_EOS(b)) {
                in_eos_ = true;
                break;
            }
            if (AP_BUCKET_IS_ERROR(b)) {
                int status = static_cast<ap_bucket_error*>(b->data)->status;
                apr_brigade_cleanup(in_);
                in_eos_ = true;
                throw BadRequestBody(status, "httpd refused the request body (status " + std::to_string(status) + ")");
            }
            if (APR_BUCKET_IS_METADATA(b)) continue;
            const char* data = nullptr;
            apr_size_t n = 0;
            rv = apr_bucket_read(b, &data, &n, APR_BLOCK_READ);
            if (rv != APR_SUCCESS) {
                apr_brigade_cleanup(in_);
                throw ClientGone(apr_error(rv));
            }
            std::size_t take = std::min<std::size_t>(n, len - got);
            std::memcpy(buf + got, data, take);
            got += take;
        }
        apr_brigade_cleanup(in_);
    }
    return got;
}

void HttpdRequestIO::set_head(const ResponseHead& head) {
    if (head_sent_) return;
    r_->status = head.status;
    // No reason phrase (ASGI gives none): httpd supplies the standard one.
    r_->status_line =
        head.status_line.empty() ? nullptr : apr_pstrmemdup(r_->pool, head.status_line.data(), head.status_line.size());
    if (error_status_ && head.status == 200) {
        // An app serving an ErrorDocument answers like a static error page:
        // with the error's status, so a 404 page stays a 404.
        r_->status = error_status_;
        r_->status_line = nullptr;
    }
    for (const auto& [name, value] : head.headers) {
        const char* v = apr_pstrmemdup(r_->pool, value.data(), value.size());
        if (strcasecmp(name.c_str(), "Content-Type") == 0) {
            ap_set_content_type(r_, v);
        } else if (strcasecmp(name.c_str(), "Content-Length") == 0) {
            ap_set_content_length(r_, static_cast<apr_off_t>(std::strtoull(v, nullptr, 10)));
        } else {
            apr_table_addn(r_->headers_out, apr_pstrmemdup(r_->pool, name.data(), name.size()), v);
        }
    }
}

void HttpdRequestIO::pass(const char* what) {
    head_sent_ = true;
    apr_status_t rv = ap_pass_brigade(r_->output_filters, out_);
    apr_brigade_cleanup(out_);
    // Once the end of the response went through, an aborted connection is
    // nothing to report (mod_http2 marks a stream's connection so as soon as
    // the stream is done).
    if (rv != APR_SUCCESS || (r_->connection->aborted && !eos_sent_))
        throw ClientGone(std::string(what) + ": " + (rv != APR_SUCCESS ? apr_error(rv) : "connection aborted"));
}

void HttpdRequestIO::send_body(const char* data, std::size_t len, Send mode) {
    if (error_sent_ || eos_sent_) return;
    conn_rec* c = r_->connection;
    if (!out_) out_ = apr_brigade_create(r_->pool, c->bucket_alloc);
    // Transient: no copy; httpd copies only what it must hold back.
    if (len > 0) APR_BRIGADE_INSERT_TAIL(out_, apr_bucket_transient_create(data, len, c->bucket_alloc));
    if (mode == Send::flush) APR_BRIGADE_INSERT_TAIL(out_, apr_bucket_flush_create(c->bucket_alloc));
    if (mode == Send::last) {
        APR_BRIGADE_INSERT_TAIL(out_, apr_bucket_eos_create(c->bucket_alloc));
        eos_sent_ = true;
    }
    pass("sending the response body");
}

void HttpdRequestIO::send_file(int fd, std::uint64_t offset, std::uint64_t len, bool last) {
    if (error_sent_ || eos_sent_) return;
    conn_rec* c = r_->connection;
    if (!out_) out_ = apr_brigade_create(r_->pool, c->bucket_alloc);
    apr_file_t* app_file = nullptr;
    apr_os_file_t os_fd = fd;
    if (apr_os_file_put(&app_file, &os_fd, APR_FOPEN_READ | APR_FOPEN_SENDFILE_ENABLED, r_->pool) != APR_SUCCESS)
        throw ClientGone("could not wrap the file descriptor");
    if (last) {
        // The app closes its descriptor once this returns; httpd gets its
        // own (closed by the pool, which the file bucket follows when it is
        // set aside), so the file and EOS go in one pass and the event MPM
        // writes what the socket does not take at once after the handler
        // returns, as for a static file.
        apr_file_t* own = nullptr;
        if (apr_file_dup(&own, app_file, r_->pool) != APR_SUCCESS)
            throw ClientGone("could not duplicate the file descriptor");
        apr_brigade_insert_file(out_, own, static_cast<apr_off_t>(offset), static_cast<apr_off_t>(len), r_->pool);
        APR_BRIGADE_INSERT_TAIL(out_, apr_bucket_eos_create(c->bucket_alloc));
        eos_sent_ = true;
        pass("sending the file");
        return;
    }
    // The descriptor stays the app's (no cleanup registered): the flush
    // writes everything before the app may close it.
    apr_brigade_insert_file(out_, app_file, static_cast<apr_off_t>(offset), static_cast<apr_off_t>(len), r_->pool);
    APR_BRIGADE_INSERT_TAIL(out_, apr_bucket_flush_create(c->bucket_alloc));
    pass("sending the file");
}

void HttpdRequestIO::finish() {
    if (error_sent_ || eos_sent_) return;
    conn_rec* c = r_->connection;
    if (!out_) out_ = apr_brigade_create(r_->pool, c->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(out_, apr_bucket_eos_create(c->bucket_alloc));
    eos_sent_ = true;
    pass("ending the response");
}

void HttpdRequestIO::abort() {
    if (error_sent_ || eos_sent_) return;
    conn_rec* c = r_->connection;
    if (!out_) out_ = apr_brigade_create(r_->pool, c->bucket_alloc);
    // As mod_proxy does for a broken backend: an error bucket of 502 makes
    // the chunk filter omit the last chunk and httpd close the connection,
    // so the client can tell the response is incomplete.
    c->keepalive = AP_CONN_CLOSE;
    APR_BRIGADE_INSERT_TAIL(out_, ap_bucket_error_create(HTTP_BAD_GATEWAY, nullptr, r_->pool, c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(out_, apr_bucket_eos_create(c->bucket_alloc));
    eos_sent_ = true;
    try {
        pass("aborting the response");
    } catch (const ClientGone&) {}
}

void HttpdRequestIO::log(LogLevel level, std::string_view message) {
    ap_log_rerror(APLOG_MARK, static_cast<int>(level), 0, r_, "%.*s", static_cast<int>(message.size()), message.data());
}

} // namespace pympm::httpd
