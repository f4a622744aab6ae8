#include "status/status_report.h"

#include <cinttypes>
#include <cstdio>
#include <cstdarg>

namespace pympm {

namespace {

void appendf(std::string& out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void appendf(std::string& out, const char* fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (static_cast<std::size_t>(n) < sizeof buf) {
        out.append(buf, static_cast<std::size_t>(n));
        return;
    }
    std::string big(static_cast<std::size_t>(n) + 1, '\0');
    va_start(ap, fmt);
    std::vsnprintf(big.data(), big.size(), fmt, ap);
    va_end(ap);
    big.pop_back();
    out += big;
}

double seconds_of(std::uint64_t ns) { return static_cast<double>(ns) / 1e9; }

double uptime(const BoardSnapshot& s, const ChildSnapshot& c) {
    return c.started_unix_ms ? static_cast<double>(s.taken_unix_ms - c.started_unix_ms) / 1000.0 : 0.0;
}

// HTML/JSON-safe: the text comes from the MPM's name and our own words, but
// is escaped anyway.
std::string escape_html(const std::string& in) {
    std::string out;
    for (char ch : in) {
        switch (ch) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out += ch;
        }
    }
    return out;
}

std::string escape_json(const std::string& in) {
    std::string out;
    for (unsigned char ch : in) {
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += static_cast<char>(ch);
        } else if (ch < 0x20)
            appendf(out, "\\u%04x", ch);
        else
            out += static_cast<char>(ch);
    }
    return out;
}

const char* model_gil(const ChildSnapshot& c) {
    return c.enable_threads ? "released between requests" : "kept by the request thread";
}

void json_counters(std::string& o, const ChildSnapshot& c) {
    appendf(o,
            "\"requests\": %" PRIu64 ", \"requests_in_app\": %" PRId64 ", \"requests_waiting\": %" PRId64
            ", \"app_4xx\": %" PRIu64 ", \"app_5xx\": %" PRIu64 ", \"exceptions\": %" PRIu64 ", \"timeouts\": %" PRIu64
            ", \"slot_waits\": %" PRIu64 ", \"slot_wait_seconds_total\": %.6f"
            ", \"slot_wait_seconds_max\": %.6f, \"app_seconds_total\": %.6f, \"app_seconds_p50\": %.6f"
            ", \"app_seconds_p99\": %.6f, \"rss_bytes\": %" PRIu64 ", \"python_threads\": %" PRIu64
            ", \"websockets_open\": %" PRId64,
            c.requests, c.in_app, c.waiting, c.app_4xx, c.app_5xx, c.exceptions, c.timeouts, c.slot_waits,
            seconds_of(c.slot_wait_ns), seconds_of(c.slot_wait_max_ns), seconds_of(c.app_time_ns),
            histogram_quantile(c.buckets, 0.5), histogram_quantile(c.buckets, 0.99), c.rss_bytes, c.python_threads,
            c.websockets_open);
    o += ", \"app_seconds_buckets\": {";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kHistogramSize; ++i) {
        cumulative += c.buckets[i];
        if (i + 1 < kHistogramSize)
            appendf(o, "\"%g\": %" PRIu64 ", ", kAppTimeBuckets[i], cumulative);
        else
            appendf(o, "\"+Inf\": %" PRIu64 "}", cumulative);
    }
}

} // namespace

std::string render_status_json(const BoardSnapshot& s) {
    std::string o = "{";
    appendf(o, "\"taken_unix_ms\": %" PRId64 ", \"children_started\": %" PRIu64 ", \"leaves\": {", s.taken_unix_ms,
            s.children_started);
    for (std::size_t i = 1; i < kLeaveReasons; ++i)
        appendf(o, "%s\"%s\": %" PRIu64, i > 1 ? ", " : "", leave_reason_name(static_cast<LeaveReason>(i)),
                s.leaves[i]);
    o += "}, \"totals\": {";
    json_counters(o, s.totals);
    o += "}, \"children\": [";
    bool first = true;
    for (const auto& c : s.children) {
        if (!first) o += ", ";
        first = false;
        appendf(o,
                "{\"pid\": %d, \"generation\": %d, \"uptime_seconds\": %.3f, \"mpm\": \"%s\", "
                "\"threads_per_child\": %d, \"py_threads\": %d, \"enable_threads\": %s, \"http2\": %s, "
                "\"predecessor_left\": \"%s\", \"leaving\": \"%s\", ",
                c.pid, c.generation, uptime(s, c), escape_json(c.mpm).c_str(), c.threads_per_child, c.py_threads,
                c.enable_threads ? "true" : "false", c.http2 ? "true" : "false",
                leave_reason_name(c.predecessor_reason), leave_reason_name(c.leaving));
        json_counters(o, c);
        o += "}";
    }
    o += "]}\n";
    return o;
}

std::string render_status_prometheus(const BoardSnapshot& s) {
    std::string o;
    auto head = [&](const char* name, const char* type, const char* help) {
        appendf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    };
    const ChildSnapshot& t = s.totals;
    head("pympm_children", "gauge", "Live httpd children running mod_pympm.");
    appendf(o, "pympm_children %zu\n", s.children.size());
    head("pympm_children_started_total", "counter", "Children that started since the server started.");
    appendf(o, "pympm_children_started_total %" PRIu64 "\n", s.children_started);
    head("pympm_child_leaves_total", "counter", "Children that left on their own, by reason.");
    for (std::size_t i = 2; i <= static_cast<std::size_t>(LeaveReason::request_timeout); ++i)
        appendf(o, "pympm_child_leaves_total{reason=\"%s\"} %" PRIu64 "\n",
                leave_reason_name(static_cast<LeaveReason>(i)), s.leaves[i]);
    head("pympm_child_deaths_total", "counter",
         "Children found dead without having left (killed, crashed); their counts stay in the totals.");
    appendf(o, "pympm_child_deaths_total %" PRIu64 "\n", s.leaves[static_cast<std::size_t>(LeaveReason::died)]);
    head("pympm_requests_total", "counter", "Requests that reached an app and finished.");
    appendf(o, "pympm_requests_total %" PRIu64 "\n", t.requests);
    head("pympm_requests_in_app", "gauge", "Requests running in an app now.");
    appendf(o, "pympm_requests_in_app %" PRId64 "\n", t.in_app);
    head("pympm_requests_waiting", "gauge", "Requests waiting for a PyThreads slot now.");
    appendf(o, "pympm_requests_waiting %" PRId64 "\n", t.waiting);
    head("pympm_app_responses_total", "counter", "Client (4xx) and server (5xx) error responses of apps.");
    appendf(o, "pympm_app_responses_total{class=\"4xx\"} %" PRIu64 "\n", t.app_4xx);
    appendf(o, "pympm_app_responses_total{class=\"5xx\"} %" PRIu64 "\n", t.app_5xx);
    head("pympm_app_exceptions_total", "counter", "Exceptions apps raised.");
    appendf(o, "pympm_app_exceptions_total %" PRIu64 "\n", t.exceptions);
    head("pympm_request_timeouts_total", "counter", "Requests that ran longer than PyRequestTimeout.");
    appendf(o, "pympm_request_timeouts_total %" PRIu64 "\n", t.timeouts);
    head("pympm_slot_waits_total", "counter", "Requests that waited for a PyThreads slot.");
    appendf(o, "pympm_slot_waits_total %" PRIu64 "\n", t.slot_waits);
    head("pympm_slot_wait_seconds_total", "counter", "Time requests spent waiting for a PyThreads slot.");
    appendf(o, "pympm_slot_wait_seconds_total %.6f\n", seconds_of(t.slot_wait_ns));
    head("pympm_app_duration_seconds", "histogram", "Time requests spent in apps, from getting a slot to the end.");
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kHistogramSize; ++i) {
        cumulative += t.buckets[i];
        if (i + 1 < kHistogramSize)
            appendf(o, "pympm_app_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", kAppTimeBuckets[i], cumulative);
        else
            appendf(o, "pympm_app_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cumulative);
    }
    appendf(o, "pympm_app_duration_seconds_sum %.6f\npympm_app_duration_seconds_count %" PRIu64 "\n",
            seconds_of(t.app_time_ns), cumulative);
    head("pympm_child_info", "gauge", "One per live child: its effective model (the value is 1).");
    for (const auto& c : s.children)
        appendf(o,
                "pympm_child_info{pid=\"%d\",generation=\"%d\",mpm=\"%s\",threads_per_child=\"%d\","
                "py_threads=\"%d\",enable_threads=\"%s\",http2=\"%s\",predecessor_left=\"%s\"} 1\n",
                c.pid, c.generation, escape_json(c.mpm).c_str(), c.threads_per_child, c.py_threads,
                c.enable_threads ? "on" : "off", c.http2 ? "on" : "off", leave_reason_name(c.predecessor_reason));
    struct PerChild {
        const char* name;
        const char* type;
        const char* help;
        std::string (*value)(const BoardSnapshot&, const ChildSnapshot&);
    };
    static const PerChild per_child[] = {
        {"pympm_child_requests", "gauge", "Requests a live child finished (resets with the child).",
         [](const BoardSnapshot&, const ChildSnapshot& c) { return std::to_string(c.requests); }},
        {"pympm_child_requests_in_app", "gauge", "Requests running in a child's apps now.",
         [](const BoardSnapshot&, const ChildSnapshot& c) { return std::to_string(c.in_app); }},
        {"pympm_child_resident_memory_bytes", "gauge", "A child's resident set size.",
         [](const BoardSnapshot&, const ChildSnapshot& c) { return std::to_string(c.rss_bytes); }},
        {"pympm_child_python_threads", "gauge", "Python thread states alive in a child.",
         [](const BoardSnapshot&, const ChildSnapshot& c) { return std::to_string(c.python_threads); }},
        {"pympm_child_websockets_open", "gauge", "WebSockets open in a child now.",
         [](const BoardSnapshot&, const ChildSnapshot& c) { return std::to_string(c.websockets_open); }},
        {"pympm_child_uptime_seconds", "gauge", "How long a child has run.",
         [](const BoardSnapshot& b, const ChildSnapshot& c) {
             char buf[32];
             std::snprintf(buf, sizeof buf, "%.3f", uptime(b, c));
             return std::string(buf);
         }},
    };
    for (const auto& m : per_child) {
        head(m.name, m.type, m.help);
        for (const auto& c : s.children) appendf(o, "%s{pid=\"%d\"} %s\n", m.name, c.pid, m.value(s, c).c_str());
    }
    return o;
}

std::string render_status_html(const BoardSnapshot& s) {
    std::string o = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mod_pympm status</title>\n"
                    "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
                    "td,th{border:1px solid #bbb;padding:.25em .5em;text-align:right}th{background:#eee}"
                    "td.l,th.l{text-align:left}</style></head><body>\n<h1>mod_pympm status</h1>\n";
    const ChildSnapshot& t = s.totals;
    appendf(o,
            "<p>%zu live children; %" PRIu64 " started since the server started. Totals since then "
            "(children that left included):</p>\n<table><tr><th>requests</th><th>in app now</th><th>waiting for "
            "a slot</th><th>4xx</th><th>5xx</th><th>exceptions</th><th>timeouts</th><th>app time p50</th>"
            "<th>app time p99</th><th>slot waits</th><th>slot wait total</th></tr>\n"
            "<tr><td>%" PRIu64 "</td><td>%" PRId64 "</td><td>%" PRId64 "</td><td>%" PRIu64 "</td><td>%" PRIu64
            "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%.4f s</td><td>%.4f s</td><td>%" PRIu64
            "</td><td>%.3f s</td></tr></table>\n",
            s.children.size(), s.children_started, t.requests, t.in_app, t.waiting, t.app_4xx, t.app_5xx, t.exceptions,
            t.timeouts, histogram_quantile(t.buckets, 0.5), histogram_quantile(t.buckets, 0.99), t.slot_waits,
            seconds_of(t.slot_wait_ns));
    o += "<p>Children that left on their own: ";
    for (std::size_t i = 2; i <= static_cast<std::size_t>(LeaveReason::request_timeout); ++i)
        appendf(o, "%s%s %" PRIu64, i > 2 ? ", " : "", leave_reason_name(static_cast<LeaveReason>(i)), s.leaves[i]);
    appendf(o, "; died without leaving (killed, crashed) %" PRIu64,
            s.leaves[static_cast<std::size_t>(LeaveReason::died)]);
    o += ".</p>\n<h2>Children</h2>\n<table><tr><th>pid</th><th>generation</th><th>uptime</th><th class=\"l\">model"
         "</th><th>requests</th><th>in app</th><th>waiting</th><th>slot wait total / max</th><th>app time p50 / "
         "p99</th><th>4xx</th><th>5xx</th><th>exceptions</th><th>timeouts</th><th>RSS</th><th>Python threads</th>"
         "<th>WebSockets</th><th class=\"l\">predecessor left</th><th class=\"l\">leaving</th></tr>\n";
    for (const auto& c : s.children) {
        appendf(o,
                "<tr><td>%d</td><td>%d</td><td>%.0f s</td><td class=\"l\">%s, %d threads, PyThreads %d, GIL %s%s</td>"
                "<td>%" PRIu64 "</td><td>%" PRId64 "</td><td>%" PRId64 "</td><td>%.3f s / %.3f s</td><td>%.4f s / "
                "%.4f s</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td>"
                "<td>%.1f MiB</td><td>%" PRIu64 "</td><td>%" PRId64
                "</td><td class=\"l\">%s</td><td class=\"l\">%s</td></tr>\n",
                c.pid, c.generation, uptime(s, c), escape_html(c.mpm).c_str(), c.threads_per_child, c.py_threads,
                model_gil(c), c.http2 ? ", HTTP/2" : "", c.requests, c.in_app, c.waiting, seconds_of(c.slot_wait_ns),
                seconds_of(c.slot_wait_max_ns), histogram_quantile(c.buckets, 0.5), histogram_quantile(c.buckets, 0.99),
                c.app_4xx, c.app_5xx, c.exceptions, c.timeouts, static_cast<double>(c.rss_bytes) / (1024.0 * 1024.0),
                c.python_threads, c.websockets_open, leave_reason_name(c.predecessor_reason),
                c.leaving == LeaveReason::none ? "" : leave_reason_name(c.leaving));
    }
    o += "</table>\n<p>Also as <a href=\"?format=json\">JSON</a> and <a href=\"?format=prometheus\">Prometheus</a>."
         "</p>\n</body></html>\n";
    return o;
}

std::string render_status_auto(const BoardSnapshot& s) {
    const ChildSnapshot& t = s.totals;
    std::string o;
    appendf(o,
            "pympmChildren: %zu\npympmRequests: %" PRIu64 "\npympmRequestsInApp: %" PRId64
            "\npympmRequestsWaiting: %" PRId64 "\npympmApp4xx: %" PRIu64 "\npympmApp5xx: %" PRIu64
            "\npympmExceptions: %" PRIu64 "\npympmTimeouts: %" PRIu64 "\npympmAppSecondsP50: %.6f"
            "\npympmAppSecondsP99: %.6f\n",
            s.children.size(), t.requests, t.in_app, t.waiting, t.app_4xx, t.app_5xx, t.exceptions, t.timeouts,
            histogram_quantile(t.buckets, 0.5), histogram_quantile(t.buckets, 0.99));
    return o;
}

std::string render_status_section(const BoardSnapshot& s) {
    const ChildSnapshot& t = s.totals;
    std::string o = "<hr /><h2>mod_pympm</h2>\n";
    appendf(o,
            "<p>%zu children; %" PRIu64 " requests in apps (%" PRId64 " running, %" PRId64
            " waiting for a slot); %" PRIu64 " exceptions, %" PRIu64 " timeouts; app time p50 %.4f s, p99 %.4f s."
            "</p>\n<table border=\"0\"><tr><th>pid</th><th>requests</th><th>in app</th><th>RSS</th></tr>\n",
            s.children.size(), t.requests, t.in_app, t.waiting, t.exceptions, t.timeouts,
            histogram_quantile(t.buckets, 0.5), histogram_quantile(t.buckets, 0.99));
    for (const auto& c : s.children)
        appendf(o, "<tr><td>%d</td><td>%" PRIu64 "</td><td>%" PRId64 "</td><td>%.1f MiB</td></tr>\n", c.pid, c.requests,
                c.in_app, static_cast<double>(c.rss_bytes) / (1024.0 * 1024.0));
    o += "</table>\n";
    return o;
}

} // namespace pympm
