// Issue 13: the shipped load-balanced layout, tested. A front httpd on
// 127.0.0.1 (conf/examples/balancer/front.conf: mod_proxy_balancer,
// mod_proxy_hcheck, pooled keep-alive connections) over three mod_pympm
// backends on 127.0.0.2-4, one port, each its own server root
// (conf/examples/balancer/backend.conf, with SetHandler pympm-health). Twelve clients (GET and
// POST, keep-alive and not) load the front for the whole test while:
//  (a) scripts/rolling-deploy moves every backend from app version 1 to 2:
//      no request fails, none needs a retry, and afterwards every response
//      is from version 2;
//  (b) one backend is killed with SIGKILL: the only requests that fail are
//      ones already sent to it when it died (the front's log names it for
//      each; mod_proxy cannot resend a request it has written, whatever the
//      method: it answers 502, or closes a keep-alive client connection so
//      that the client may resend a GET, which these clients do once),
//      requests it refuses go to another backend, nothing sent after its
//      death fails, and the front takes it out of rotation within the
//      health-check interval (1 s) plus a margin for a loaded machine;
//  (c) started again, it rejoins rotation by itself.
#include "http_client.h"
#include "httpd_server.h"
#include "test_mpm_common.h"
#include "test_support.h"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

using namespace pympm_test;
using pympm_test::mpm::eventually;
using namespace std::chrono_literals;

namespace {

const std::array<std::string, 3> kBackends = {"127.0.0.2", "127.0.0.3", "127.0.0.4"};
const std::string kVictim = "127.0.0.3"; // the backend phase (b) kills
// Slack over the health-check interval (hcinterval=1 in front.conf) for a
// machine whose two cores other tests share.
constexpr auto kLeaveRotationBound = 1s + 4s;
constexpr auto kRejoinBound = 30s;
// A request the front writes on a pooled connection to the killed backend
// just after it died, before the connection's closing reached the front,
// fails as one in flight would (seen under ASan, whose processes take
// longer to die).
constexpr auto kStaleConnectionGrace = 250ms;

std::string read_source_file(const std::string& relative) {
    const std::string path = source_dir() + "/" + relative;
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Replaces every `from` in a shipped file's text; the file must contain it,
// or the test would silently run something other than what is shipped.
void substitute(std::string& text, const std::string& from, const std::string& to, const std::string& file) {
    BOOST_TEST_REQUIRE(contains(text, from), file << " no longer contains '" << from << "'");
    for (std::size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size())
        text.replace(pos, from.size(), to);
}

std::string member_url(const std::string& address, std::uint16_t port) {
    return "http://" + address + ":" + std::to_string(port);
}

// ------------------------------------------------------------------ servers

HttpdOptions backend_options(const std::string& address, std::uint16_t port) {
    HttpdOptions o;
    o.mpm = Mpm::event;
    o.listen_address = address;
    o.port = port;
    // The sizing backend.conf sets (it comes later in the config and wins);
    // the harness writes the same values so that nothing conflicts.
    o.start_servers = 2;
    o.server_limit = 4;
    o.thread_limit = 64;
    o.threads_per_child = 64;
    o.max_request_workers = 128;
    o.min_spare_threads = 64;
    o.max_spare_threads = 128;
    o.scan_all_modules = true;
    std::string conf = read_source_file("conf/examples/balancer/backend.conf");
    substitute(conf, "<VirtualHost *:8080>", "<VirtualHost " + address + ":" + std::to_string(port) + ">",
               "backend.conf");
    substitute(conf, "/srv/www/app", "@APPS@/app", "backend.conf");
    o.extra_config = conf;
    return o;
}

HttpdOptions front_options(std::uint16_t backend_port) {
    HttpdOptions o;
    o.mpm = Mpm::event;
    o.load_pympm = false;
    o.start_servers = 2;
    o.server_limit = 4;
    o.thread_limit = 32;
    o.threads_per_child = 32;
    o.max_request_workers = 64;
    o.min_spare_threads = 32;
    o.max_spare_threads = 64;
    o.log_level = "warn proxy_hcheck:info";
    o.scan_all_modules = true;
    std::string conf = read_source_file("conf/examples/balancer/front.conf");
    // The front's own port is picked at start(): its vhost takes any.
    substitute(conf, "<VirtualHost *:80>", "<VirtualHost *>", "front.conf");
    substitute(conf, "/usr/lib/apache2/modules", httpd_modules_dir(), "front.conf");
    const std::array<std::string, 3> shipped = {"192.0.2.11:8080", "192.0.2.12:8080", "192.0.2.13:8080"};
    for (std::size_t i = 0; i < shipped.size(); ++i)
        substitute(conf, shipped[i], kBackends[i] + ":" + std::to_string(backend_port), "front.conf");
    o.extra_config = conf;
    return o;
}

std::string app_source(const std::string& version) {
    std::ifstream in(test_apps_dir() + "/scale_out_app.py");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string mark = "VERSION = \"@VERSION@\"";
    auto pos = text.find(mark);
    if (pos == std::string::npos) throw std::runtime_error("scale_out_app.py has no " + mark);
    return text.replace(pos, mark.size(), "VERSION = \"" + version + "\"");
}

// Member URL -> status flags ("Init Ok", "Init HcFl", "Init Dis", ...), from
// the XML form of the front's balancer-manager. Its parameters count only
// with a Referer of its own (httpd's protection against cross-site requests).
std::map<std::string, std::string> member_status(std::uint16_t front_port) {
    const std::string manager = "http://127.0.0.1:" + std::to_string(front_port) + "/balancer-manager";
    HttpRequest req;
    req.target = "/balancer-manager?b=app&xml=1";
    req.headers = {{"Referer", manager}};
    req.timeout = 10s;
    auto r = http_request(front_port, req);
    std::map<std::string, std::string> out;
    static const std::regex worker(R"(<httpd:worker>[\s\S]*?<httpd:name>([^<]*)</httpd:name>[\s\S]*?)"
                                   R"(<httpd:status>([^<]*)</httpd:status>)");
    for (std::sregex_iterator it(r.body.begin(), r.body.end(), worker), end; it != end; ++it) out[(*it)[1]] = (*it)[2];
    return out;
}

bool in_rotation(const std::string& status) {
    static const std::regex ok(R"((^| )Ok( |$))"), out(R"(Dis|Stop|Err|HcFl)");
    return std::regex_search(status, ok) && !std::regex_search(status, out);
}

// How often eventually() asks the balancer or the apps (each poll is a request).
constexpr std::chrono::milliseconds kScaleOutPoll = 50ms;

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

// -------------------------------------------------------------------- load

enum class Kind { get_close, get_keepalive, post_close, post_keepalive };
constexpr std::array<Kind, 4> kKinds = {Kind::get_close, Kind::get_keepalive, Kind::post_close, Kind::post_keepalive};
const char* kind_name(Kind k) {
    switch (k) {
    case Kind::get_close: return "GET";
    case Kind::get_keepalive: return "GET keep-alive";
    case Kind::post_close: return "POST";
    case Kind::post_keepalive: return "POST keep-alive";
    }
    return "?";
}
bool is_post(Kind k) { return k == Kind::post_close || k == Kind::post_keepalive; }
bool keeps_alive(Kind k) { return k == Kind::get_keepalive || k == Kind::post_keepalive; }

std::uint32_t crc32(const std::string& data) {
    static const auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    std::uint32_t c = 0xFFFFFFFFu;
    for (unsigned char b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

enum Phase { warmup, deploy, after_deploy, killed, rejoined, kPhases };
const char* phase_name(int p) {
    switch (p) {
    case warmup: return "warm-up";
    case deploy: return "(a) rolling deploy v1->v2";
    case after_deploy: return "(a) after the deploy";
    case killed: return "(b) backend killed";
    case rejoined: return "(c) backend restarted";
    }
    return "?";
}

struct Outcome {
    int phase = warmup;
    Kind kind = Kind::get_close;
    bool ok = false;
    // A keep-alive GET sent a second time: its reused connection closed
    // before any response (RFC 9112, 9.3.1: what browsers do; never a POST).
    bool retried = false;
    std::string error;
    std::string version;
    std::string backend;
    Clock::time_point start, end;
    // Client ports the front saw for it (the front's log tags lines with them).
    std::vector<std::uint16_t> ports;
};

// Clients that send requests to the front without pause but a short think
// time, each on its own thread, until stopped. Every request is recorded.
class Load {
public:
    Load(std::uint16_t port, int clients_per_kind) : port_(port) {
        int id = 0;
        for (int i = 0; i < clients_per_kind; ++i)
            for (Kind k : kKinds) {
                ++clients_;
                threads_.emplace_back([this, id, k] { run(id, k); });
                ++id;
            }
    }
    ~Load() { stop(); }
    Load(const Load&) = delete;
    Load& operator=(const Load&) = delete;

    int clients() const { return clients_; }
    void set_phase(int p) { phase_ = p; }
    void stop() {
        stop_ = true;
        for (auto& t : threads_)
            if (t.joinable()) t.join();
    }
    std::vector<Outcome> outcomes() const {
        std::lock_guard lock(mutex_);
        return outcomes_;
    }
    // Responses from `backend` (any, if empty) to requests started at or
    // after `since`.
    std::size_t served_since(const std::string& backend, Clock::time_point since) const {
        std::lock_guard lock(mutex_);
        return static_cast<std::size_t>(std::count_if(outcomes_.begin(), outcomes_.end(), [&](const Outcome& o) {
            return o.ok && o.start >= since && (backend.empty() || o.backend == backend);
        }));
    }

private:
    static bool closed_without_response(const HttpError& e) {
        const std::string what = e.what();
        return contains(what, "closed before a response") || what.rfind("send:", 0) == 0;
    }

    static void check(const HttpResponse& r, const HttpRequest& req, Outcome& o) {
        std::map<std::string, std::string> kv;
        std::istringstream in(r.body);
        for (std::string line; std::getline(in, line);)
            if (auto eq = line.find('='); eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
        o.version = kv["version"];
        o.backend = kv["backend"];
        if (r.status != 200) {
            o.error = "status " + std::to_string(r.status) + ": " + r.body.substr(0, r.body.find('\n'));
            return;
        }
        char crc[16];
        std::snprintf(crc, sizeof crc, "%08x", crc32(req.body));
        if (kv["method"] != req.method || kv["length"] != std::to_string(req.body.size()) || kv["crc32"] != crc) {
            o.error = "wrong answer: " + r.body;
            return;
        }
        o.ok = true;
    }

    void run(int id, Kind kind) {
        std::mt19937 rng(static_cast<unsigned>(id) * 7919u + 1);
        std::uniform_int_distribution<std::size_t> body_size(1, 24 * 1024);
        std::unique_ptr<HttpConnection> conn;
        int used = 0; // requests answered on `conn`
        for (long n = 0; !stop_; ++n) {
            Outcome o;
            o.phase = phase_;
            o.kind = kind;
            o.start = Clock::now();
            HttpRequest req;
            req.method = is_post(kind) ? "POST" : "GET";
            req.target = std::string(is_post(kind) ? "/p/" : "/g/") + std::to_string(id) + "/" + std::to_string(n);
            req.keep_alive = keeps_alive(kind);
            req.timeout = 30s;
            if (is_post(kind)) {
                req.body.resize(body_size(rng));
                for (auto& c : req.body) c = static_cast<char>(rng());
            }
            for (int attempt = 0;; ++attempt) {
                bool reused = false;
                try {
                    if (!conn || !conn->is_open()) {
                        conn = std::make_unique<HttpConnection>(port_, 10s);
                        used = 0;
                    }
                    reused = used > 0;
                    o.ports.push_back(conn->local_port());
                    HttpResponse r = conn->request(req);
                    ++used;
                    check(r, req, o);
                } catch (const HttpError& e) {
                    conn.reset();
                    if (reused && !is_post(kind) && attempt == 0 && closed_without_response(e)) {
                        o.retried = true;
                        continue;
                    }
                    o.error = e.what();
                }
                break;
            }
            o.end = Clock::now();
            // A request still in flight when the backend is killed belongs
            // to phase (b), whenever it started: the kill may break it.
            // (set_phase(killed) comes before the kill: one that ends in
            // between is counted there too, where a failure must still be
            // the kill's.)
            if (o.phase < killed && phase_.load() >= killed) o.phase = killed;
            {
                std::lock_guard lock(mutex_);
                outcomes_.push_back(std::move(o));
            }
            // Steady, not flat out: the servers, the deploy script and other
            // tests share two cores.
            std::this_thread::sleep_for(5ms);
        }
    }

    std::uint16_t port_;
    int clients_ = 0;
    std::atomic<int> phase_{warmup};
    std::atomic<bool> stop_{false};
    mutable std::mutex mutex_;
    std::vector<Outcome> outcomes_;
    std::vector<std::thread> threads_;
};

struct PhaseCounts {
    std::size_t sent = 0, ok = 0, failed = 0, retried = 0;
    std::map<std::string, std::size_t> versions, backends;
    std::map<std::string, std::size_t> failed_by_kind;
};

std::array<PhaseCounts, kPhases> count_by_phase(const std::vector<Outcome>& all) {
    std::array<PhaseCounts, kPhases> c{};
    for (const auto& o : all) {
        auto& p = c[static_cast<std::size_t>(o.phase)];
        ++p.sent;
        if (o.retried) ++p.retried;
        if (o.ok) {
            ++p.ok;
            ++p.versions["v" + o.version];
            ++p.backends[o.backend];
        } else {
            ++p.failed;
            ++p.failed_by_kind[kind_name(o.kind)];
        }
    }
    return c;
}

std::string describe(const std::map<std::string, std::size_t>& m) {
    std::string s;
    for (const auto& [k, v] : m) s += (s.empty() ? "" : ", ") + k + " " + std::to_string(v);
    return s.empty() ? "-" : s;
}

// Error-level lines of the log between two marks.
std::vector<std::string> error_lines(const HttpdServer& srv, std::size_t from, std::size_t to) {
    std::string text = srv.log_since(from).substr(0, to - from);
    static const std::regex level(R"(\[[a-z0-9_]+:(error|crit|alert|emerg)\])");
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (std::regex_search(line, level)) out.push_back(line);
    return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(scale_out, *boost::unit_test::label("slow"))

BOOST_AUTO_TEST_CASE(rolling_deploy_and_backend_loss_under_load) {
    const auto t_begin = Clock::now();
    const std::uint16_t backend_port = pick_free_port_on({kBackends.begin(), kBackends.end()});

    // Backends: version 1 of the app, the shipped config with its health endpoint.
    std::vector<std::unique_ptr<HttpdServer>> backends;
    std::map<std::string, HttpdServer*> by_address;
    for (const auto& address : kBackends) {
        auto srv = std::make_unique<HttpdServer>(backend_options(address, backend_port));
        srv->add_app_file("app/wsgi.py", app_source("1"));
        srv->add_app_file("app/wsgi_v2.py", app_source("2"));
        by_address[address] = srv.get();
        backends.push_back(std::move(srv));
    }
    for (auto& b : backends) b->start();
    HttpdServer front(front_options(backend_port));
    front.start();
    const std::string manager = "http://127.0.0.1:" + std::to_string(front.port()) + "/balancer-manager";
    auto status_of = [&](const std::string& address) {
        return member_status(front.port())[member_url(address, backend_port)];
    };

    // Warm-up: the health checks pass, every backend answers through the front.
    Load load(front.port(), 3);
    const auto t_load = Clock::now();
    for (const auto& a : kBackends)
        BOOST_TEST_REQUIRE(eventually([&] { return in_rotation(status_of(a)) && load.served_since(a, t_load) > 0; },
                                      30s, kScaleOutPoll),
                           a << " does not serve through the front; status " << status_of(a));

    // (a) Rolling deploy with the shipped script. Its restart command puts
    // version 2 in place and gracefully restarts that backend (SIGUSR1 is
    // what `apachectl -k graceful` sends).
    std::string restart = "case \"$BACKEND_HOST\" in\n";
    for (const auto& [address, srv] : by_address) restart += "  " + address + ") root=" + srv->root() + " ;;\n";
    restart += "  *) exit 1 ;;\nesac\n"
               "cp \"$root/apps/app/wsgi_v2.py\" \"$root/apps/app/wsgi.py\" &&\n"
               "kill -USR1 \"$(cat \"$root/run/httpd.pid\")\"\n";
    const std::size_t mark_deploy = front.log_mark();
    load.set_phase(deploy);
    const auto t_deploy = Clock::now();
    CommandResult deployed = run_command({"/bin/bash", source_dir() + "/scripts/rolling-deploy", "--manager", manager,
                                          "--restart", restart, "--drain", "2", "--timeout", "30"},
                                         120s);
    const auto t_deployed = Clock::now();
    load.set_phase(after_deploy);
    const std::size_t mark_deployed = front.log_mark();
    BOOST_TEST_MESSAGE("rolling-deploy (" << seconds_between(t_deploy, t_deployed) << " s):\n" << deployed.output);
    BOOST_TEST_REQUIRE(deployed.exit_code == 0, "scripts/rolling-deploy failed:\n" << deployed.output);
    // Every backend serves version 2 from now on.
    for (const auto& a : kBackends)
        BOOST_TEST(eventually([&] { return load.served_since(a, t_deployed) >= 10; }, 20s, kScaleOutPoll),
                   a << " served no request after the deploy");

    // (b) SIGKILL one backend: the machine dies.
    const std::size_t mark_kill = front.log_mark();
    load.set_phase(killed);
    const auto t_kill = Clock::now();
    by_address[kVictim]->kill_all();
    const auto t_dead = Clock::now(); // every process of it gone, its sockets closed
    bool left = eventually([&] { return !in_rotation(status_of(kVictim)); }, kLeaveRotationBound + 10s, 20ms);
    const auto t_left = Clock::now();
    BOOST_TEST_REQUIRE(left, kVictim << " is still in rotation: " << status_of(kVictim));
    // A stretch of load while it is down, over three failed health checks:
    // the other two take everything.
    BOOST_TEST(eventually(
                   [&] {
                       return front.count_log("AH00957: HCOH: attempt to connect to " + regex_escape(kVictim),
                                              mark_kill) >= 3 &&
                              load.served_since("", t_left) >= 200;
                   },
                   30s, kScaleOutPoll),
               "the front's health check did not fail on " << kVictim << " three times, or it served little meanwhile");

    // (c) It comes back: the health check puts it back by itself.
    load.set_phase(rejoined);
    const auto t_restart = Clock::now();
    by_address[kVictim]->start();
    bool rejoined_ok =
        eventually([&] { return in_rotation(status_of(kVictim)) && load.served_since(kVictim, t_restart) > 0; },
                   kRejoinBound, 100ms);
    const auto t_rejoined = Clock::now();
    BOOST_TEST(rejoined_ok,
               kVictim << " did not rejoin within " << kRejoinBound.count() << " s: " << status_of(kVictim));
    BOOST_TEST(eventually([&] { return load.served_since(kVictim, t_rejoined) >= 20; }, 20s, kScaleOutPoll),
               kVictim << " takes no share of the load after rejoining");
    const std::size_t mark_end = front.log_mark();
    load.stop();

    // ------------------------------------------------------------ results
    const auto all = load.outcomes();
    const auto counts = count_by_phase(all);
    for (int p = 0; p < kPhases; ++p) {
        const auto& c = counts[static_cast<std::size_t>(p)];
        BOOST_TEST_MESSAGE(phase_name(p) << ": sent " << c.sent << ", succeeded " << c.ok << ", failed " << c.failed
                                         << " (" << describe(c.failed_by_kind) << "), retried by the client "
                                         << c.retried << "; versions: " << describe(c.versions)
                                         << "; backends: " << describe(c.backends));
    }
    BOOST_TEST_MESSAGE(
        "kill -> all its processes gone "
        << seconds_between(t_kill, t_dead) << " s; kill -> out of rotation " << seconds_between(t_kill, t_left)
        << " s (bound " << std::chrono::duration<double>(kLeaveRotationBound).count()
        << " s); start -> back in rotation and serving " << seconds_between(t_restart, t_rejoined) << " s");
    for (const auto& o : all)
        if (!o.ok)
            BOOST_TEST_MESSAGE("failed in " << phase_name(o.phase) << ": " << kind_name(o.kind) << " started "
                                            << seconds_between(t_kill, o.start) << " s after the kill: " << o.error);

    // (a) Not one request lost or retried, and version 2 only afterwards.
    for (int p : {warmup, deploy, after_deploy}) {
        const auto& c = counts[static_cast<std::size_t>(p)];
        BOOST_TEST(c.failed == 0u, phase_name(p) << ": " << c.failed << " failed requests");
        BOOST_TEST(c.retried == 0u, phase_name(p) << ": " << c.retried << " requests needed a retry");
    }
    BOOST_TEST(counts[deploy].versions.count("v1") == 1u);
    BOOST_TEST(counts[deploy].versions.count("v2") == 1u);
    for (const auto& o : all)
        if (o.ok && o.start >= t_deployed)
            BOOST_TEST(o.version == "2",
                       "a response from version " << o.version << " after the deploy (" << o.backend << ")");
    // The front's log during the deploy: at most requests that had picked a
    // backend just before it was disabled and then found it disabled (they
    // go to another backend, as the failover logic does), nothing else.
    // Which line says so depends on when they looked: connecting (AH01114)
    // or taking a connection from the pool (AH00940, seen on a loaded
    // machine).
    for (const auto& line : error_lines(front, mark_deploy, mark_deployed)) {
        bool expected = std::regex_search(
            line, std::regex(R"(AH01114: HTTP: failed to make connection to backend: 127\.0\.0\.[234]$|)"
                             R"(AH00940: HTTP: disabled connection for \(127\.0\.0\.[234]:[0-9]+\)$)"));
        BOOST_TEST(expected, "front error during the deploy: " << line);
        if (expected) front.allow_log_error(regex_escape(line));
    }

    // (b) Only requests sent to the victim before it was gone may fail: at
    // most one per client (one request in flight each), each with a line in
    // the front's log saying that the victim's answer broke off, and none
    // sent once it was dead.
    const std::regex victim_line(regex_escape(kVictim + ":" + std::to_string(backend_port)) + "|" +
                                 regex_escape(kVictim) + "$");
    std::size_t failed_in_kill = 0;
    for (const auto& o : all) {
        if (o.ok) continue;
        ++failed_in_kill;
        BOOST_TEST(o.phase == killed, "a request failed outside phase (b): " << o.error);
        BOOST_TEST((o.start < t_dead + kStaleConnectionGrace && o.end > t_kill),
                   "a failed request was not in flight when the backend died: started "
                       << seconds_between(t_kill, o.start) << " s after the kill, ended "
                       << seconds_between(t_kill, o.end) << " s after: " << o.error);
        bool named = false;
        for (auto p : o.ports)
            for (const auto& line : front.log_lines_matching(regex_escape(client_log_tag(p)), mark_kill)) {
                BOOST_TEST_MESSAGE("  front: " << line);
                named = named || std::regex_search(line, victim_line);
            }
        BOOST_TEST(named, "the front's log does not tie a failed request to " << kVictim << ": " << o.error);
    }
    // One request in flight per client at most.
    const auto bound = static_cast<std::size_t>(load.clients());
    BOOST_TEST(failed_in_kill <= bound, failed_in_kill << " requests failed when the backend died; bound " << bound);
    BOOST_TEST(seconds_between(t_kill, t_left) <= std::chrono::duration<double>(kLeaveRotationBound).count(),
               kVictim << " left rotation " << seconds_between(t_kill, t_left) << " s after the kill");
    // The front's log from the kill on says nothing but what happened to the
    // victim: answers that broke off (each tagged with a client port of a
    // failed or client-retried request), connections it refused (requests the
    // balancer then sent to another backend: each of those succeeded), and
    // failed health checks.
    std::multimap<std::uint16_t, const Outcome*> by_port;
    for (const auto& o : all)
        if (o.phase >= killed)
            for (auto p : o.ports) by_port.emplace(p, &o);
    auto port_has = [&](std::uint16_t port, const std::function<bool(const Outcome&)>& pred) {
        auto [b, e] = by_port.equal_range(port);
        return std::any_of(b, e, [&](const auto& kv) { return pred(*kv.second); });
    };
    static const std::regex client_tag(R"(\[client 127\.0\.0\.1:([0-9]+)\])");
    static const std::regex refused(
        R"(AH00957: http: attempt to connect|AH00959: ap_proxy_connect_backend disabling worker|AH01114: HTTP: failed to make connection)");
    static const std::regex health_check(R"(AH00957: HCOH: attempt to connect)");
    static const std::regex broke_off(
        R"(AH01102: error reading status line from remote server|AH00898: Error reading from remote server)");
    std::size_t redispatched = 0;
    for (const auto& line : error_lines(front, mark_kill, mark_end)) {
        std::smatch m;
        const bool tagged = std::regex_search(line, m, client_tag);
        const auto port = tagged ? static_cast<std::uint16_t>(std::stoi(m[1])) : std::uint16_t{0};
        const bool about_victim = std::regex_search(line, victim_line);
        bool expected = false;
        if (std::regex_search(line, health_check))
            expected = about_victim;
        else if (std::regex_search(line, refused)) {
            expected = about_victim && (!tagged || port_has(port, [](const Outcome& o) { return o.ok; }));
            if (expected && tagged && contains(line, "AH01114")) ++redispatched;
        } else if (std::regex_search(line, broke_off))
            expected = tagged && (about_victim || contains(line, "AH00898")) &&
                       port_has(port, [](const Outcome& o) { return !o.ok || o.retried; });
        BOOST_TEST(expected, "front error after the kill: " << line);
        if (expected) front.allow_log_error(regex_escape(line));
    }
    BOOST_TEST_MESSAGE(redispatched << " requests refused by the dead backend went to another one");

    const double runtime = seconds_between(t_begin, Clock::now());
    BOOST_TEST_MESSAGE("test ran " << runtime << " s; " << all.size() << " requests from " << load.clients()
                                   << " clients");
}

BOOST_AUTO_TEST_SUITE_END()

// SetHandler pympm-health, the health endpoint the front checks (as
// backend.conf configures it): 200 while every app of the child imported,
// 503 naming the mounts that did not, the generation a deploy script waits
// for, and an answer at once while the child's PyThreads slots are busy.
BOOST_AUTO_TEST_SUITE(scale_out_health)

namespace {

const std::string kHealthLocation = "<Location /health>\n    SetHandler pympm-health\n</Location>\n";

HttpdOptions health_server(const std::string& apps) {
    HttpdOptions o;
    o.mpm = Mpm::event;
    o.start_servers = 1;
    o.server_limit = 2; // room for the new child of a graceful restart
    o.threads_per_child = 4;
    o.thread_limit = 4;
    o.max_request_workers = 4;
    o.pympm_config = apps;
    o.extra_config = kHealthLocation;
    return o;
}

std::map<std::string, std::string> key_values(const std::string& body) {
    std::map<std::string, std::string> kv;
    std::istringstream in(body);
    for (std::string line; std::getline(in, line);)
        if (auto eq = line.find('='); eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
    return kv;
}

} // namespace

BOOST_AUTO_TEST_CASE(ok_with_the_generation_of_the_child) {
    HttpdServer srv(health_server("PyPath @APPS@/pkgdir\n"
                                  "PyApp / @APPS@/hello.py\n"
                                  "PyApp /pkg pympm_testpkg.wsgi:app\n"));
    srv.start();
    auto r = http_get(srv.port(), "/health");
    BOOST_TEST(r.status == 200, r.body);
    auto kv = key_values(r.body);
    BOOST_TEST(kv["status"] == "ok");
    BOOST_TEST(kv["generation"] == "0");
    BOOST_TEST(kv["pid"] == std::to_string(srv.child_pids().at(0)));
    BOOST_TEST(kv.count("failed") == 0u);
    BOOST_TEST(r.headers.get("Cache-Control") == "no-store");
    BOOST_TEST(r.headers.get("Content-Type") == "text/plain; charset=us-ascii");
    BOOST_TEST(r.body == "status=ok\npid=" + kv["pid"] + "\ngeneration=0\n");

    HttpRequest head;
    head.method = "HEAD";
    head.target = "/health";
    auto h = http_request(srv.port(), head);
    BOOST_TEST(h.status == 200);
    BOOST_TEST(h.body.empty());

    HttpRequest post;
    post.method = "POST";
    post.target = "/health";
    post.body = "x";
    auto p = http_request(srv.port(), post);
    BOOST_TEST(p.status == 405);
    BOOST_TEST(contains(p.headers.get("Allow"), "GET"), p.headers.get("Allow"));

    // A graceful restart: the new children report the next generation.
    srv.graceful_restart();
    BOOST_TEST(eventually([&] { return key_values(http_get(srv.port(), "/health").body)["generation"] == "1"; }, 15s,
                          kScaleOutPoll));
}

BOOST_AUTO_TEST_CASE(unavailable_while_an_app_did_not_import) {
    HttpdServer srv(health_server("PyApp / @APPS@/hello.py\n"
                                  "PyApp /broken @APPS@/import_error_app.py\n"));
    // The import fails in child_init; that is the point of the test.
    srv.allow_traceback_lines();
    srv.allow_log_error("pympm-test-import-failure");
    srv.allow_log_error("import_error_app");
    srv.start();
    auto r = http_get(srv.port(), "/health");
    BOOST_TEST(r.status == 503, r.body);
    auto kv = key_values(r.body);
    BOOST_TEST(kv["status"] == "import-failed");
    BOOST_TEST(kv["failed"] == "/broken");
    BOOST_TEST(http_get(srv.port(), "/").status == 200, "the other app serves meanwhile");
}

// Under PyThreads 1 with the one slot taken by a slow request, the health
// check still answers at once: it needs neither the slot nor the GIL.
BOOST_AUTO_TEST_CASE(answers_while_every_slot_is_busy) {
    HttpdServer srv(health_server("PyApp /h @APPS@/hardening_app.py\nPyThreads 1\n"));
    srv.options().extra_config += "<Location /pympm-status>\n    SetHandler pympm-status\n</Location>\n";
    srv.start();
    auto slow = std::async(std::launch::async, [&] { return http_get(srv.port(), "/h/sleep?s=8", 30s); });
    BOOST_TEST_REQUIRE(eventually(
        [&] { return contains(http_get(srv.port(), "/pympm-status?format=json").body, "\"requests_in_app\": 1"); }, 20s,
        kScaleOutPoll));
    auto r = http_get(srv.port(), "/health", 5s);
    BOOST_TEST(r.status == 200, r.body);
    BOOST_TEST((slow.wait_for(0s) != std::future_status::ready), "answered while the slow request holds the slot");
    BOOST_TEST(slow.get().status == 200);
}

BOOST_AUTO_TEST_SUITE_END()
