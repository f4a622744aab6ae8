#include "status/status_report.h"

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>

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

// For text and attribute values alike.
std::string escape_html(const std::string& in) {
    std::string out;
    for (char ch : in) {
        switch (ch) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
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

// A Prometheus label value (after displayable(): valid UTF-8, no newline).
std::string escape_label(const std::string& in) {
    std::string out;
    for (char ch : in) {
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
    }
    return out;
}

// Characters that reorder or hide the text around them, and C1 controls.
bool hidden(std::uint32_t cp) {
    return cp <= 0x9f || cp == 0xad || cp == 0x61c || (cp >= 0x200b && cp <= 0x200f) ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff ||
           (cp >= 0xfff9 && cp <= 0xfffb);
}

// "/mount=target": the mount, and the target.
std::string mount_of(const std::string& app) {
    if (app.empty()) return "(other apps)";
    const auto eq = app.find('=');
    const std::string m = app.substr(0, eq);
    return m.empty() ? "/" : m;
}
std::string target_of(const std::string& app) {
    const auto eq = app.find('=');
    return eq == std::string::npos ? std::string() : app.substr(eq + 1);
}

double age_of(const BoardSnapshot& s, const RequestSnapshot& r) {
    return r.started_unix_ms ? std::max(0.0, static_cast<double>(s.taken_unix_ms - r.started_unix_ms) / 1000.0) : 0.0;
}

// What a child is doing, as a word and for people.
struct ChildState {
    const char* key;
    std::string text;
};
ChildState child_state(const BoardSnapshot& s, const ChildSnapshot& c) {
    if (c.leaving != LeaveReason::none)
        return {"leaving", std::string("leaving (") + leave_reason_name(c.leaving) +
                               "): finishes its requests, then exits; httpd starts another"};
    if (c.draining || c.generation < s.newest_generation)
        return {"draining", "draining: httpd told it to stop (graceful restart or stop); it finishes its requests "
                            "and takes no new connections"};
    return {"serving", "serving"};
}

// Why the previous child on the same row of the board left, for people.
const char* predecessor_text(LeaveReason r) {
    switch (r) {
    case LeaveReason::none: return "none (first child on this row)";
    case LeaveReason::httpd: return "stopped by httpd";
    case LeaveReason::max_requests: return "reached PyMaxRequests";
    case LeaveReason::max_memory: return "grew past PyMaxMemory";
    case LeaveReason::request_timeout: return "stuck past PyRequestTimeout";
    case LeaveReason::died: return "died (killed, crashed)";
    }
    return "";
}

// The limits every child of the newest generation runs with (from one of
// them: they share the configuration).
const ChildSnapshot* newest_child(const BoardSnapshot& s) {
    const ChildSnapshot* out = nullptr;
    for (const auto& c : s.children)
        if (!out || c.generation > out->generation) out = &c;
    return out;
}

std::uint64_t until_recycling(const ChildSnapshot& c) {
    return c.request_limit > c.served ? c.request_limit - c.served : 0;
}

const char* model_gil(const ChildSnapshot& c) {
    return c.enable_threads ? "released between requests" : "kept by the request thread";
}

void json_buckets(std::string& o, const std::uint64_t (&buckets)[kHistogramSize]);

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
    o += ", \"app_seconds_buckets\": ";
    json_buckets(o, c.buckets);
}

// A histogram's _bucket/_sum/_count lines; `labels` ("" or 'a="b",').
void prometheus_histogram(std::string& o, const char* name, const std::string& labels,
                          const std::uint64_t (&buckets)[kHistogramSize], std::uint64_t sum_ns) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kHistogramSize; ++i) {
        cumulative += buckets[i];
        if (i + 1 < kHistogramSize)
            appendf(o, "%s_bucket{%sle=\"%g\"} %" PRIu64 "\n", name, labels.c_str(), kAppTimeBuckets[i], cumulative);
        else
            appendf(o, "%s_bucket{%sle=\"+Inf\"} %" PRIu64 "\n", name, labels.c_str(), cumulative);
    }
    const std::string braces = labels.empty() ? "" : "{" + labels.substr(0, labels.size() - 1) + "}";
    appendf(o, "%s_sum%s %.6f\n%s_count%s %" PRIu64 "\n", name, braces.c_str(), seconds_of(sum_ns), name,
            braces.c_str(), cumulative);
}

void json_buckets(std::string& o, const std::uint64_t (&buckets)[kHistogramSize]) {
    o += "{";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kHistogramSize; ++i) {
        cumulative += buckets[i];
        if (i + 1 < kHistogramSize)
            appendf(o, "\"%g\": %" PRIu64 ", ", kAppTimeBuckets[i], cumulative);
        else
            appendf(o, "\"+Inf\": %" PRIu64 "}", cumulative);
    }
}

// A child's chart as inline SVG: requests per second (line) and the most
// requests in the app (bars) per step, each scaled to its own maximum,
// which the title gives. Numbers only: nothing to escape.
std::string history_svg(const std::vector<HistoryPoint>& h) {
    constexpr int kWidth = 180, kHeight = 36;
    if (h.empty()) return "<span>&ndash;</span>";
    double max_rate = 0;
    std::uint32_t max_in_app = 0;
    for (const auto& p : h) {
        max_rate = std::max(max_rate, p.rate);
        max_in_app = std::max(max_in_app, p.in_app);
    }
    const double step = static_cast<double>(kWidth) / static_cast<double>(kHistoryPoints);
    const double x0 = kWidth - step * static_cast<double>(h.size());
    std::string o;
    appendf(o,
            "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">"
            "<title>last %zu s: up to %.1f requests/s (line), up to %u in the app (bars)</title>"
            "<rect width=\"%d\" height=\"%d\" fill=\"#f6f6f6\"/>",
            kWidth, kHeight, kWidth, kHeight, h.size() * kHistoryStepSeconds, max_rate, max_in_app, kWidth, kHeight);
    for (std::size_t i = 0; i < h.size(); ++i) {
        if (!h[i].in_app) continue;
        const double bar = static_cast<double>(kHeight - 2) * h[i].in_app / static_cast<double>(max_in_app);
        appendf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f4b183\"/>",
                x0 + step * static_cast<double>(i), kHeight - bar, step, bar);
    }
    o += "<polyline fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"1.5\" points=\"";
    for (std::size_t i = 0; i < h.size(); ++i) {
        const double y = max_rate > 0 ? (kHeight - 2) * (1.0 - h[i].rate / max_rate) + 1 : kHeight - 1;
        appendf(o, "%s%.1f,%.1f", i ? " " : "", x0 + step * (static_cast<double>(i) + 0.5), y);
    }
    o += "\"/></svg>";
    return o;
}

} // namespace

std::string displayable(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size();) {
        const auto c = static_cast<unsigned char>(in[i]);
        if (c >= 0x20 && c < 0x7f) {
            if (c == '\\') out += '\\';
            out += static_cast<char>(c);
            ++i;
            continue;
        }
        std::size_t len = 0;
        std::uint32_t cp = 0, least = 0;
        if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, least = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, least = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, least = 0x10000;
        }
        bool valid = len > 0 && i + len <= in.size();
        for (std::size_t k = 1; valid && k < len; ++k) {
            const auto b = static_cast<unsigned char>(in[i + k]);
            valid = (b & 0xc0) == 0x80;
            cp = cp << 6 | (b & 0x3f);
        }
        valid = valid && cp >= least && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
        if (!valid) {
            appendf(out, "\\x%02x", c);
            ++i;
        } else if (hidden(cp)) {
            appendf(out, "\\u{%04X}", cp);
            i += len;
        } else {
            out.append(in.substr(i, len));
            i += len;
        }
    }
    return out;
}

std::string render_status_json(const BoardSnapshot& s) {
    std::string o = "{";
    appendf(o, "\"taken_unix_ms\": %" PRId64 ", \"children_started\": %" PRIu64 ", \"leaves\": {", s.taken_unix_ms,
            s.children_started);
    for (std::size_t i = 1; i < kLeaveReasons; ++i)
        appendf(o, "%s\"%s\": %" PRIu64, i > 1 ? ", " : "", leave_reason_name(static_cast<LeaveReason>(i)),
                s.leaves[i]);
    o += "}, \"totals\": {";
    json_counters(o, s.totals);
    appendf(o, ", \"requests_per_second\": %.3f", s.totals.rate);
    const ChildSnapshot* newest = newest_child(s);
    appendf(o,
            "}, \"newest_generation\": %d, \"limits\": {\"request_timeout_seconds\": %d, \"max_memory_bytes\": "
            "%" PRIu64 "}, \"requests_unreadable\": %" PRIu64 ", \"requests\": [",
            s.newest_generation, newest ? newest->request_timeout_s : 0, newest ? newest->max_memory_bytes : 0,
            s.requests_torn);
    for (std::size_t i = 0; i < s.requests.size(); ++i) {
        const RequestSnapshot& r = s.requests[i];
        appendf(o,
                "%s{\"pid\": %d, \"mount\": \"%s\", \"app\": \"%s\", \"method\": \"%s\", \"path\": \"%s\", "
                "\"path_truncated\": %s, \"client\": \"%s\", \"vhost\": \"%s\", \"age_seconds\": %.3f, "
                "\"state\": \"%s\"}",
                i ? ", " : "", r.pid, escape_json(displayable(mount_of(r.app_name))).c_str(),
                escape_json(displayable(target_of(r.app_name))).c_str(), escape_json(displayable(r.method)).c_str(),
                escape_json(displayable(r.path)).c_str(), (r.truncated & (1u << kFieldPath)) ? "true" : "false",
                escape_json(displayable(r.client)).c_str(), escape_json(displayable(r.vhost)).c_str(), age_of(s, r),
                request_state_key(r.state));
    }
    o += "], \"apps\": [";
    for (std::size_t i = 0; i < s.apps.size(); ++i) {
        const AppSnapshot& a = s.apps[i];
        appendf(o,
                "%s{\"mount\": \"%s\", \"app\": \"%s\", \"requests\": %" PRIu64 ", \"app_4xx\": %" PRIu64
                ", \"app_5xx\": %" PRIu64 ", \"exceptions\": %" PRIu64 ", \"timeouts\": %" PRIu64
                ", \"requests_in_app\": %" PRId64 ", \"requests_waiting\": %" PRId64
                ", \"requests_per_second\": %.3f, \"app_seconds_total\": %.6f, \"app_seconds_p50\": %.6f"
                ", \"app_seconds_p99\": %.6f, \"app_seconds_buckets\": ",
                i ? ", " : "", escape_json(displayable(mount_of(a.name))).c_str(),
                escape_json(displayable(target_of(a.name))).c_str(), a.requests, a.app_4xx, a.app_5xx, a.exceptions,
                a.timeouts, a.in_app, a.waiting, a.rate, seconds_of(a.app_time_ns), histogram_quantile(a.buckets, 0.5),
                histogram_quantile(a.buckets, 0.99));
        json_buckets(o, a.buckets);
        o += "}";
    }
    o += "], \"children\": [";
    bool first = true;
    for (const auto& c : s.children) {
        if (!first) o += ", ";
        first = false;
        appendf(o,
                "{\"pid\": %d, \"generation\": %d, \"uptime_seconds\": %.3f, \"mpm\": \"%s\", "
                "\"threads_per_child\": %d, \"py_threads\": %d, \"enable_threads\": %s, \"http2\": %s, "
                "\"predecessor_left\": \"%s\", \"leaving\": \"%s\", \"state\": \"%s\", \"draining\": %s, ",
                c.pid, c.generation, uptime(s, c), escape_json(c.mpm).c_str(), c.threads_per_child, c.py_threads,
                c.enable_threads ? "true" : "false", c.http2 ? "true" : "false",
                leave_reason_name(c.predecessor_reason), leave_reason_name(c.leaving), child_state(s, c).key,
                child_state(s, c).key == std::string("draining") ? "true" : "false");
        appendf(o,
                "\"request_timeout_seconds\": %d, \"request_limit\": %" PRIu64 ", \"requests_counted\": %" PRIu64
                ", \"max_memory_bytes\": %" PRIu64 ", \"requests_per_second\": %.3f, \"rate_window_seconds\": "
                "%.1f, \"requests_unlisted\": %" PRIu64 ", ",
                c.request_timeout_s, c.request_limit, c.served, c.max_memory_bytes, c.rate, c.rate_window_s,
                c.unlisted);
        if (c.request_limit)
            appendf(o, "\"requests_until_recycling\": %" PRIu64 ", ", until_recycling(c));
        else
            o += "\"requests_until_recycling\": null, ";
        appendf(o, "\"history\": {\"step_seconds\": %d, \"requests_per_second\": [", kHistoryStepSeconds);
        for (std::size_t k = 0; k < c.history.size(); ++k) appendf(o, "%s%.3f", k ? ", " : "", c.history[k].rate);
        o += "], \"most_in_app\": [";
        for (std::size_t k = 0; k < c.history.size(); ++k) appendf(o, "%s%u", k ? ", " : "", c.history[k].in_app);
        o += "]}, ";
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
    prometheus_histogram(o, "pympm_app_duration_seconds", "", t.buckets, t.app_time_ns);
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
    head("pympm_child_draining", "gauge", "1 for a child httpd told to stop or that decided to leave.");
    for (const auto& c : s.children)
        appendf(o, "pympm_child_draining{pid=\"%d\"} %d\n", c.pid,
                child_state(s, c).key == std::string("serving") ? 0 : 1);
    head("pympm_child_requests_until_recycling", "gauge",
         "Requests a child serves before PyMaxRequests recycles it (children with a limit).");
    for (const auto& c : s.children)
        if (c.request_limit)
            appendf(o, "pympm_child_requests_until_recycling{pid=\"%d\"} %" PRIu64 "\n", c.pid, until_recycling(c));
    const ChildSnapshot* newest = newest_child(s);
    head("pympm_limit_request_timeout_seconds", "gauge", "PyRequestTimeout (0: off).");
    appendf(o, "pympm_limit_request_timeout_seconds %d\n", newest ? newest->request_timeout_s : 0);
    head("pympm_limit_max_memory_bytes", "gauge", "PyMaxMemory (0: off).");
    appendf(o, "pympm_limit_max_memory_bytes %" PRIu64 "\n", newest ? newest->max_memory_bytes : 0);
    head("pympm_requests_current", "gauge", "Requests in progress, by state.");
    std::uint64_t by_state[kRequestStates] = {};
    for (const auto& r : s.requests) ++by_state[static_cast<std::size_t>(r.state)];
    for (std::size_t i = 1; i < kRequestStates; ++i)
        appendf(o, "pympm_requests_current{state=\"%s\"} %" PRIu64 "\n",
                request_state_key(static_cast<RequestState>(i)), by_state[i]);
    // Per app (mount): its requests since the server started, never
    // backwards, whichever children served them.
    auto labels = [](const AppSnapshot& a) {
        return "mount=\"" + escape_label(displayable(mount_of(a.name))) + "\",target=\"" +
               escape_label(displayable(target_of(a.name))) + "\"";
    };
    head("pympm_app_requests_total", "counter", "Requests that reached an app and finished, by app (mount).");
    for (const auto& a : s.apps)
        appendf(o, "pympm_app_requests_total{%s} %" PRIu64 "\n", labels(a).c_str(), a.requests);
    head("pympm_app_error_responses_total", "counter", "Client (4xx) and server (5xx) error responses, by app.");
    for (const auto& a : s.apps) {
        appendf(o, "pympm_app_error_responses_total{%s,class=\"4xx\"} %" PRIu64 "\n", labels(a).c_str(), a.app_4xx);
        appendf(o, "pympm_app_error_responses_total{%s,class=\"5xx\"} %" PRIu64 "\n", labels(a).c_str(), a.app_5xx);
    }
    head("pympm_app_raised_total", "counter", "Exceptions raised, by app.");
    for (const auto& a : s.apps)
        appendf(o, "pympm_app_raised_total{%s} %" PRIu64 "\n", labels(a).c_str(), a.exceptions);
    head("pympm_app_timeouts_total", "counter", "Requests that ran past PyRequestTimeout, by app.");
    for (const auto& a : s.apps)
        appendf(o, "pympm_app_timeouts_total{%s} %" PRIu64 "\n", labels(a).c_str(), a.timeouts);
    head("pympm_mount_duration_seconds", "histogram",
         "Time requests spent in apps, from getting a slot to the end, by app (mount).");
    for (const auto& a : s.apps)
        prometheus_histogram(o, "pympm_mount_duration_seconds", labels(a) + ",", a.buckets, a.app_time_ns);
    head("pympm_app_requests_in_app", "gauge", "Requests in an app now (from the list of current requests), by app.");
    for (const auto& a : s.apps) appendf(o, "pympm_app_requests_in_app{%s} %" PRId64 "\n", labels(a).c_str(), a.in_app);
    head("pympm_app_requests_waiting", "gauge", "Requests waiting for a PyThreads slot now, by app.");
    for (const auto& a : s.apps)
        appendf(o, "pympm_app_requests_waiting{%s} %" PRId64 "\n", labels(a).c_str(), a.waiting);
    return o;
}

std::string render_status_html(const BoardSnapshot& s, const HtmlOptions& options) {
    std::string o =
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mod_pympm status</title>\n";
    if (options.refresh_s > 0) appendf(o, "<meta http-equiv=\"refresh\" content=\"%d\">\n", options.refresh_s);
    o += "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
         "td,th{border:1px solid #bbb;padding:.25em .5em;text-align:right}th{background:#eee}"
         "td.l,th.l{text-align:left}td.p{font-family:monospace;text-align:left;word-break:break-all}"
         "dt{font-weight:bold}</style></head><body>\n<h1>mod_pympm status</h1>\n";
    const ChildSnapshot& t = s.totals;
    const std::string refresh_note =
        options.refresh_s > 0 ? "; this page reloads every " + std::to_string(options.refresh_s) + " s" : "";
    appendf(o,
            "<p>%zu live children; %" PRIu64 " started since the server started; %.1f requests/s now (over the "
            "last 10 s)%s. Totals since the server started (children that left included):</p>\n"
            "<table><tr><th>requests</th><th>in app now</th><th>waiting for "
            "a slot</th><th>4xx</th><th>5xx</th><th>exceptions</th><th>timeouts</th><th>app time p50</th>"
            "<th>app time p99</th><th>slot waits</th><th>slot wait total</th></tr>\n"
            "<tr><td>%" PRIu64 "</td><td>%" PRId64 "</td><td>%" PRId64 "</td><td>%" PRIu64 "</td><td>%" PRIu64
            "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%.4f s</td><td>%.4f s</td><td>%" PRIu64
            "</td><td>%.3f s</td></tr></table>\n",
            s.children.size(), s.children_started, t.rate, refresh_note.c_str(), t.requests, t.in_app, t.waiting,
            t.app_4xx, t.app_5xx, t.exceptions, t.timeouts, histogram_quantile(t.buckets, 0.5),
            histogram_quantile(t.buckets, 0.99), t.slot_waits, seconds_of(t.slot_wait_ns));
    o += "<p>Children that left on their own: ";
    for (std::size_t i = 2; i <= static_cast<std::size_t>(LeaveReason::request_timeout); ++i)
        appendf(o, "%s%s %" PRIu64, i > 2 ? ", " : "", leave_reason_name(static_cast<LeaveReason>(i)), s.leaves[i]);
    appendf(o, "; died without leaving (killed, crashed) %" PRIu64,
            s.leaves[static_cast<std::size_t>(LeaveReason::died)]);
    o += ".</p>\n";

    // The limits the newest children run with.
    const ChildSnapshot* newest = newest_child(s);
    o += "<h2>Limits</h2>\n<p>";
    if (newest && newest->request_timeout_s > 0)
        appendf(o,
                "PyRequestTimeout %d s (a request in the app longer gets pympm.RequestTimeout; twice as long "
                "recycles its child)",
                newest->request_timeout_s);
    else
        o += "PyRequestTimeout off";
    if (newest && newest->request_limit > 0)
        appendf(o,
                "; PyMaxRequests: this child's limit %" PRIu64 " (each child draws its own jitter; see "
                "&ldquo;until recycling&rdquo; below)",
                newest->request_limit);
    else
        o += "; PyMaxRequests off";
    if (newest && newest->max_memory_bytes > 0)
        appendf(o, "; PyMaxMemory %.0f MiB (a child whose RSS passes it after a request is recycled)",
                static_cast<double>(newest->max_memory_bytes) / (1024.0 * 1024.0));
    else
        o += "; PyMaxMemory off";
    o += ".</p>\n";

    appendf(o, "<h2>Current requests (%zu)</h2>\n", s.requests.size());
    if (s.requests_torn)
        appendf(o,
                "<p>%" PRIu64 " request(s) not shown: their child was writing them on every read (it may be "
                "stopped).</p>\n",
                s.requests_torn);
    if (s.requests.empty()) {
        o += "<p>None.</p>\n";
    } else {
        o += "<table><tr><th>child</th><th class=\"l\">app (mount)</th><th class=\"l\">method</th><th "
             "class=\"l\">path</th><th class=\"l\">client</th><th class=\"l\">vhost</th><th>age</th><th "
             "class=\"l\">state</th></tr>\n";
        for (const auto& r : s.requests) {
            const bool cut = (r.truncated & (1u << kFieldPath)) != 0;
            appendf(o,
                    "<tr><td>%d</td><td class=\"l\">%s</td><td class=\"p\">%s</td><td class=\"p\">%s%s</td><td "
                    "class=\"l\">%s</td><td class=\"l\">%s</td><td>%.1f s</td><td class=\"l\">%s</td></tr>\n",
                    r.pid, escape_html(displayable(mount_of(r.app_name))).c_str(),
                    escape_html(displayable(r.method)).c_str(), escape_html(displayable(r.path)).c_str(),
                    cut ? "&hellip;" : "", escape_html(displayable(r.client)).c_str(),
                    escape_html(displayable(r.vhost)).c_str(), age_of(s, r), request_state_text(r.state));
        }
        o += "</table>\n";
    }

    o += "<h2>Apps</h2>\n";
    if (s.apps.empty()) {
        o += "<p>None yet.</p>\n";
    } else {
        o += "<table><tr><th class=\"l\">mount</th><th class=\"l\">app</th><th>requests</th><th>requests/s</th><th>in "
             "app now</th><th>waiting for a slot</th><th>4xx</th><th>5xx</th><th>exceptions</th><th>timeouts</th>"
             "<th>app time p50 / p99</th></tr>\n";
        for (const auto& a : s.apps)
            appendf(o,
                    "<tr><td class=\"l\">%s</td><td class=\"l\">%s</td><td>%" PRIu64 "</td><td>%.1f</td><td>%" PRId64
                    "</td><td>%" PRId64 "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64
                    "</td><td>%.4f s / %.4f s</td></tr>\n",
                    escape_html(displayable(mount_of(a.name))).c_str(),
                    escape_html(displayable(target_of(a.name))).c_str(), a.requests, a.rate, a.in_app, a.waiting,
                    a.app_4xx, a.app_5xx, a.exceptions, a.timeouts, histogram_quantile(a.buckets, 0.5),
                    histogram_quantile(a.buckets, 0.99));
        o += "</table>\n";
    }

    o += "<h2>Children</h2>\n<table><tr><th>pid</th><th>generation</th><th class=\"l\">state</th><th>uptime</th>"
         "<th class=\"l\">model</th><th>requests</th><th>requests/s</th><th>until recycling</th><th>in app</th>"
         "<th>waiting</th><th>slot wait total / max</th><th>app time p50 / p99</th><th>4xx</th><th>5xx</th>"
         "<th>exceptions</th><th>timeouts</th><th>RSS</th><th>Python threads</th><th>WebSockets</th>"
         "<th class=\"l\">previous child on its row</th><th class=\"l\">last minutes</th></tr>\n";
    for (const auto& c : s.children) {
        std::string until = "&ndash;";
        if (c.request_limit) until = std::to_string(until_recycling(c)) + " of " + std::to_string(c.request_limit);
        std::string rss;
        appendf(rss, "%.1f MiB", static_cast<double>(c.rss_bytes) / (1024.0 * 1024.0));
        if (c.max_memory_bytes)
            appendf(rss, " (%.0f %% of PyMaxMemory)",
                    100.0 * static_cast<double>(c.rss_bytes) / static_cast<double>(c.max_memory_bytes));
        appendf(o,
                "<tr><td>%d</td><td>%d</td><td class=\"l\">%s</td><td>%.0f s</td><td class=\"l\">%s, %d threads, "
                "PyThreads %d, GIL %s%s</td><td>%" PRIu64 "</td><td>%.1f</td><td>%s</td><td>%" PRId64
                "</td><td>%" PRId64 "</td><td>%.3f s / %.3f s</td><td>%.4f s / %.4f s</td><td>%" PRIu64
                "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%s</td><td>%" PRIu64
                "</td><td>%" PRId64 "</td><td class=\"l\">%s</td><td class=\"l\">%s</td>"
                "</tr>\n",
                c.pid, c.generation, escape_html(child_state(s, c).text).c_str(), uptime(s, c),
                escape_html(c.mpm).c_str(), c.threads_per_child, c.py_threads, model_gil(c), c.http2 ? ", HTTP/2" : "",
                c.requests, c.rate, until.c_str(), c.in_app, c.waiting, seconds_of(c.slot_wait_ns),
                seconds_of(c.slot_wait_max_ns), histogram_quantile(c.buckets, 0.5), histogram_quantile(c.buckets, 0.99),
                c.app_4xx, c.app_5xx, c.exceptions, c.timeouts, rss.c_str(), c.python_threads, c.websockets_open,
                predecessor_text(c.predecessor_reason), history_svg(c.history).c_str());
    }
    o += "</table>\n";
    o += "<h2>Legend</h2>\n<dl>\n"
         "<dt>state of a request</dt><dd>waiting for a PyThreads slot: all of its child's PyThreads slots are busy; "
         "in the app: the app runs it; reading the request body / writing the response: the app waits on the "
         "client's connection. Paths are shown without the query string, cut at 128 bytes (&hellip;); control "
         "characters, bytes that are not UTF-8 and invisible characters appear as \\xNN or \\u{NNNN}, and a "
         "backslash as \\\\.</dd>\n"
         "<dt>state of a child</dt><dd>serving; draining: httpd told it to stop (a graceful restart: it belongs to "
         "an older generation than the newest children, or a graceful stop), it finishes its requests and takes "
         "no new connections; leaving (reason): it decided to go (PyMaxRequests, PyMaxMemory, a stuck request) "
         "and httpd starts another.</dd>\n"
         "<dt>previous child on its row</dt><dd>why the child that had this child's row of the status board "
         "before it left: stopped by httpd (graceful restart, MaxConnectionsPerChild, idle children reaped), "
         "reached PyMaxRequests, grew past PyMaxMemory, stuck past PyRequestTimeout, or died without leaving "
         "(killed, crashed: its counts stay in the totals).</dd>\n"
         "<dt>until recycling</dt><dd>requests this child still serves before PyMaxRequests recycles it.</dd>\n"
         "<dt>requests/s</dt><dd>over the last 10 s, sampled once a second by each child.</dd>\n"
         "<dt>last minutes</dt><dd>the child's chart, one step every 5 s over the last 5 minutes: requests "
         "per second (blue line) and the most requests in the app at once (orange bars), each scaled to its "
         "highest value, which hovering over the chart shows.</dd>\n"
         "<dt>generation</dt><dd>how many graceful restarts the server had when the child started.</dd>\n"
         "</dl>\n";
    o += "<p>Also as <a href=\"?format=json\">JSON</a> and <a href=\"?format=prometheus\">Prometheus</a>; reload "
         "every <a href=\"?refresh=5\">5 s</a>, <a href=\"?refresh=30\">30 s</a>.</p>\n</body></html>\n";
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
