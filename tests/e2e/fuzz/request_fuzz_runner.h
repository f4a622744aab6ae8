// Runs one request-fuzzer case (request_fuzz_cases.h) against a server and
// judges what came back: every answer a well-formed HTTP response in step
// with its request (or a clean close), within a deadline. What went wrong
// is returned as problems, in words; a deadline that passed is a hang.
#pragma once

#include "request_fuzz_cases.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace pympm_test::fuzz {

struct Outcome {
    std::vector<std::string> problems;
    bool hang = false;              // a deadline passed: the server neither answered nor closed
    std::size_t requests = 0;       // HTTP requests the case made
    bool closed_unanswered = false; // the server closed before answering a request (a dying child does)
    bool client_left = false;       // we closed without waiting for the answer
    std::uint16_t local_port = 0;   // our side's port: httpd tags its log lines with it
    std::string sent;               // the bytes written (HTTP/2: the whole client side)
    std::string received;           // the bytes read (HTTP/1 only)
};

Outcome run_case(const Case& c, std::uint16_t port, std::chrono::milliseconds deadline);

// How to replay the case: the bytes as a C string and what the client did.
std::string reproducer(const Case& c, const Outcome& o, std::size_t max_bytes = 3000);

Mutation kind_of(const Case& c);
const std::string& what_of(const Case& c);

} // namespace pympm_test::fuzz
