#include "asgi/asgi_request.h"

#include "python/gil.h"

#include <chrono>

namespace pympm {

namespace {

using IoLock = RequestCore::IoLock;

} // namespace

AsgiRequest::AsgiRequest(RequestContext& ctx, AsgiContext& asgi, RequestIO& io, const std::string& app_name)
    : core_(ctx, io, app_name), asgi_(asgi), x_(std::make_shared<AsgiExchange>(asgi)) {}

void AsgiRequest::answer(std::unique_ptr<LoopWork> work) {
    // Refused once the child stops: the loop is gone, nobody waits.
    asgi_.inbox.push(work);
}

void AsgiRequest::read_body(std::size_t max) {
    std::string chunk;
    bool ok;
    {
        IoLock lock(core_, IoLock::Entry::internal);
        ok = core_.body.read_raw(chunk, max);
    }
    // The client went away, or httpd refused the body (413, 400): either
    // way the app hears no more of it.
    if (!ok) x_->disconnected = true;
    answer(asgi_body_work(x_, std::move(chunk), ok && core_.body.ended(), !ok));
}

void AsgiRequest::take_head(AsgiEvent& e) {
    if (!e.has_head) return;
    e.has_head = false;
    started_ = true;
    core_.response.set_head(std::move(e.head), e.content_length);
    if (core_.ctx.response_ready) core_.ctx.response_ready(core_.ctx.response_ready_owner, core_.io);
}

bool AsgiRequest::handle(AsgiEvent& e, int& status) {
    switch (e.kind) {
    case AsgiEvent::Kind::read_body: read_body(e.max); return true;
    case AsgiEvent::Kind::wait_end: polling_end_ = true; return true;
    case AsgiEvent::Kind::log: core_.io.log(e.level, e.data); return true;
    case AsgiEvent::Kind::body: {
        take_head(e);
        bool ok =
            !x_->disconnected && core_.response.send(e.data.data(), e.data.size(),
                                                     e.more_body ? RequestIO::Send::flush : RequestIO::Send::buffer);
        if (ok && !e.more_body) {
            status = core_.response.finish();
            ok = !core_.response.client_gone();
        }
        // Set before the answer: the app's next send() raises.
        if (!ok) x_->disconnected = true;
        if (e.ack) answer(asgi_sent_work(x_, ok));
        if (e.more_body) return true;
        // The response is complete: the request ends here, whatever the app
        // still does (a background task after its last body part).
        x_->completed = true;
        return false;
    }
    case AsgiEvent::Kind::done:
        done_seen_ = true;
        take_head(e);
        status = finish_after_done(e.failure);
        return false;
    }
    return true;
}

void AsgiRequest::handle_late(AsgiEvent& e, int& status) {
    switch (e.kind) {
    case AsgiEvent::Kind::read_body: answer(asgi_body_work(x_, std::string(), false, true)); break;
    case AsgiEvent::Kind::body:
        if (e.ack) answer(asgi_sent_work(x_, false));
        break;
    case AsgiEvent::Kind::wait_end: break;
    case AsgiEvent::Kind::log: core_.io.log(e.level, e.data); break;
    case AsgiEvent::Kind::done:
        // Only one end per app: a second would answer the request again.
        if (done_seen_) break;
        done_seen_ = true;
        // The app returned just after its last part: its exception is still
        // this request's.
        status = finish_after_done(e.failure);
        break;
    }
}

int AsgiRequest::finish_after_done(const AppFailure& f) {
    if (f.kind == AppFailure::Kind::unavailable) {
        core_.log(LogLevel::error, std::string(PYMPM_APLOGNO(00200)) +
                                       "the ASGI event loop of this child stopped "
                                       "before it served " +
                                       std::string(core_.io.uri()) + "; 503");
        return core_.io.head_sent() ? 0 : 503;
    }
    if (f.kind != AppFailure::Kind::none) {
        const int status = core_.error_response(f);
        if (x_->completed || core_.io.head_sent()) return 0;
        return status;
    }
    if (!started_) {
        // httpd refused the body (it may have answered already), or the
        // client went away: nobody waits for an answer from the app.
        if (const int refused = core_.body.error_status()) return core_.io.head_sent() ? 0 : refused;
        if (x_->disconnected) return 400;
        return core_.fail_message("the ASGI app returned without sending http.response.start");
    }
    if (!x_->completed) {
        // It returned without its last body part: the response ends here.
        const int status = core_.response.finish();
        x_->completed = true;
        return status;
    }
    return 0;
}

int AsgiRequest::run(const AsgiMount& mount) {
    // The loop thread needs the GIL to run the app: a nested request under
    // a WSGI outer (an ErrorDocument from its body read) got it back.
    GilReleaseIfHeld no_gil;
    std::string why;
    if (int refused = core_.io.refuse_body_early(why)) {
        core_.log(LogLevel::info, std::string(PYMPM_APLOGNO(00051)) + "request body of " + std::string(core_.io.uri()) +
                                      " refused with " + std::to_string(refused) + " before calling " + core_.app_name +
                                      ": " + why);
        return refused;
    }
    x_->head = AsgiHead::capture(core_.io);
    if (!asgi_.inbox.push(asgi_start_work(x_, mount))) {
        core_.log(LogLevel::error, std::string(PYMPM_APLOGNO(00200)) +
                                       "the ASGI event loop of this child stopped "
                                       "before it served " +
                                       std::string(core_.io.uri()) + "; 503");
        return 503;
    }
    int status = 0;
    std::vector<AsgiEvent> late;
    for (bool running = true; running;) {
        // With a receive() waiting for the end, the client is looked at
        // once a second: its going away is what that receive() waits for.
        std::optional<std::chrono::milliseconds> timeout;
        if (polling_end_) timeout = std::chrono::milliseconds(1000);
        std::vector<AsgiEvent> events = x_->wait(timeout);
        if (events.empty() && polling_end_ && !x_->disconnected && core_.io.peer_closed()) {
            x_->disconnected = true;
            polling_end_ = false;
            answer(asgi_disconnected_work(x_));
        }
        // A whole batch is handled: the app's return posted with its
        // response ends the request in the same wake-up.
        for (AsgiEvent& e : events) {
            if (running)
                running = handle(e, status);
            else
                late.push_back(std::move(e));
        }
    }
    // From here the app runs on alone: a receive() or send() it still makes
    // finds the response over.
    for (AsgiEvent& e : x_->finish()) late.push_back(std::move(e));
    x_->completed = true;
    for (AsgiEvent& e : late) handle_late(e, status);
    return status;
}

} // namespace pympm
