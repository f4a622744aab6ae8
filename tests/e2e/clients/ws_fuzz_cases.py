#!/usr/bin/python3
"""The WebSocket fuzz cases (design-websockets.md §7, "Fuzzer"): hostile
clients against an echo endpoint, each with the outcome RFC 6455 asks for.

    ws_fuzz_cases.py ws://127.0.0.1:PORT/ws/echo [--case NAME ...] [--list]
                     [--reference]

The endpoint must accept, echo every text and binary message, and keep the
default message limit (16 MiB). Each case runs ws_client.py's raw mode and
checks its transcript: `expect` is the Close code the server must send, or
"clean" (a Close with any code, or the connection closed; never a hang), or
"echo" (the listed messages come back, then the client closes normally).
Prints one JSON line: {"cases": [{"name", "ok", "want", "got", "error"}],
"failed": N}; exit status 1 when a case failed.

--reference: the endpoint is a websockets 10.4 server (the differential
oracle); cases where we deliberately differ from it are checked against its
answer instead (KNOWN_DIFFERENCES).
"""

import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ws_client  # noqa: E402

MAX_MESSAGE = 16 * 1024 * 1024


def frame(op, flags, kind_value):
    return f"frame={op}:{flags}:{kind_value}"


def soup(seed, valid):
    """Seeded frame soup: valid fragmented messages with pings between
    (then every message echoes), or random bytes after one valid frame."""
    rng = random.Random(seed)
    steps, want = [], []
    if not valid:
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
        return [frame(1, "fin", "text:ok"), "raw=" + junk.hex(), "wait-close"], None
    for _ in range(rng.randrange(5, 30)):
        text = "".join(rng.choice("abcxyz€ ") for _ in range(rng.randrange(0, 300)))
        data = text.encode()
        cuts = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, rng.randrange(1, 4))))
        parts = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
        for i, part in enumerate(parts):
            op = 1 if i == 0 else 0
            steps.append(frame(op, "fin" if i == len(parts) - 1 else "-", "hex:" + part.hex()))
            if rng.random() < 0.2:
                steps.append(frame(9, "fin", "text:p"))
        want.append(text)
    return steps, want


# (name, raw-mode options, steps, expect)
CASES = [
    ("unmasked_frame", [], [frame(1, "fin+nomask", "text:hi")], 1002),
    ("rsv1_without_deflate", [], [frame(1, "fin+rsv1", "text:hi")], 1002),
    ("rsv2", [], [frame(1, "fin+rsv2", "text:hi")], 1002),
    ("rsv3", [], [frame(2, "fin+rsv3", "hex:00")], 1002),
    ("rsv1_on_a_continuation", ["--deflate"], [frame(1, "-", "text:a"), frame(0, "fin+rsv1", "text:b")], 1002),
    ("rsv1_on_a_ping", ["--deflate"], [frame(9, "fin+rsv1", "text:p")], 1002),
]
CASES += [(f"reserved_opcode_{op:x}", [], [frame(f"{op:x}", "fin", "text:x")], 1002) for op in (3, 7, 0xB, 0xF)]
CASES += [
    ("orphan_continuation", [], [frame(0, "fin", "text:x")], 1002),
    ("data_frame_inside_a_message", [], [frame(1, "-", "text:a"), frame(2, "fin", "hex:00")], 1002),
    ("ping_of_126_bytes", [], [frame(9, "fin", "zeros:126")], 1002),
    ("close_of_126_bytes", [], [frame(8, "fin", "close:1000:" + "r" * 124)], 1002),
    ("fragmented_ping", [], [frame(9, "-", "text:p")], 1002),
    ("fragmented_close", [], [frame(8, "-", "close:1000:")], 1002),
    ("length_with_the_msb_set", [], [frame(2, "fin+msb", "hex:00")], 1002),
    ("declared_length_over_the_limit", [], [frame(2, f"fin+claim={MAX_MESSAGE + 1}", "hex:00")], 1009),
    (
        "fragments_over_the_limit",
        [],
        [frame(2, "-", "zeros:65536"), frame(0, f"fin+claim={MAX_MESSAGE}", "hex:")],
        1009,
    ),
    ("deflate_bomb", ["--deflate"], [frame(2, "fin+deflate", f"zeros:{4 * MAX_MESSAGE}")], 1009),
    ("corrupt_deflate_stream", ["--deflate"], [frame(1, "fin+rsv1", "hex:ffffffff")], 1002),
    ("close_of_one_byte", [], [frame(8, "fin", "hex:03")], 1002),
]
CASES += [
    (f"close_code_{code}", [], [frame(8, "fin", f"close:{code}:")], 1002)
    for code in (0, 999, 1004, 1005, 1006, 1015, 2999, 5000)
]
CASES += [
    (f"valid_close_code_{code}", [], [frame(8, "fin", f"close:{code}:")], code)
    for code in (1000, 1001, 1012, 3000, 4999)
]
CASES += [
    ("close_reason_not_utf8", [], [frame(8, "fin", "hex:03e8c3")], 1007),
    ("invalid_utf8_in_one_frame", [], [frame(1, "fin", "hex:61c080")], 1007),
    ("utf8_truncated_at_fin", [], [frame(1, "fin", "hex:61e282")], 1007),
    ("deflated_text_not_utf8", ["--deflate"], [frame(1, "fin+deflate", "hex:6162eda080")], 1007),
]
# A surrogate (ED A0 80) split at each of its bytes across two fragments.
CASES += [
    (
        f"invalid_utf8_split_at_{cut}",
        [],
        [frame(1, "-", "hex:" + "61eda080"[: 2 * cut]), frame(0, "fin", "hex:" + "61eda080"[2 * cut :])],
        1007,
    )
    for cut in range(1, 4)
]
CASES += [
    ("text_echoes", [], ["text=hello", "recv", "bytes=00ff", "recv", "close=1000:bye"], ("echo", ["hello", "00ff"])),
    (
        "deflated_text_echoes",
        ["--deflate"],
        ["text=" + "hello " * 50, "recv", "text=hello", "recv", "close=1000:"],
        ("echo", ["hello " * 50, "hello"]),
    ),
    (
        "control_frames_between_fragments",
        [],
        [frame(1, "-", "text:Hel"), frame(9, "fin", "text:p"), frame(0, "fin", "text:lo"), "recv", "close=1000:"],
        ("echo", ["Hello"]),
    ),
    (
        "frames_before_the_101_are_read_after_it",
        ["--early", "text=early"],
        ["recv", "close=1000:"],
        ("echo", ["early"]),
    ),
    ("client_vanishes_mid_frame", [], [frame(2, "fin+short=7", "zeros:100"), "drop"], "dropped"),
    ("client_vanishes_mid_message", [], [frame(1, "-", "text:half"), "drop"], "dropped"),
]
for seed in range(4):
    steps, want = soup(seed, True)
    CASES.append((f"valid_frame_soup_{seed}", [], steps + ["recv"] * len(want) + ["close=1000:"], ("echo", want)))
for seed in range(4):
    steps, _ = soup(100 + seed, False)
    CASES.append((f"random_bytes_soup_{seed}", [], steps, "clean"))

# Where we deliberately answer otherwise than websockets 10.4 (RFC 6455
# §5.2: the MSB must be 0 is a protocol error; websockets checks its size
# limit first).
KNOWN_DIFFERENCES = {"length_with_the_msb_set": 1009}


def check(expect, t):
    events = t["events"]
    if t["status"] != 101:
        return False, f"status {t['status']}"
    if expect == "dropped":
        return t["error"] is None, "dropped"
    if t["error"]:
        return False, t["error"]
    if isinstance(expect, int):
        got = t["close"]["code"] if t["close"] else None
        return got == expect, got
    if expect == "clean":
        ended = t["close"] is not None or any(e["type"] == "eof" for e in events)
        return ended, (t["close"] or "eof") if ended else "no close"
    kind, want = expect
    got = [e.get("data", e.get("hex")) for e in events if e["type"] in ("text", "bytes")]
    return got == want and t["close"] is not None and t["close"]["code"] == 1000, got


def run_case(url, case, reference, timeout):
    name, options, steps, expect = case
    if reference and name in KNOWN_DIFFERENCES:
        expect = KNOWN_DIFFERENCES[name]
    argv = ["--mode", "raw", "--timeout", str(timeout), *options, url, *steps]
    if isinstance(expect, int) or expect == "clean":
        argv.append("wait-close")
    t = {"status": None, "headers": [], "subprotocol": None, "extensions": None, "events": [], "close": None}
    t["error"] = None
    try:
        ws_client.main_transcript(argv, t)
    except Exception as e:
        t["error"] = f"{type(e).__name__}: {e}"
    ok, got = check(expect, t)
    want = expect if not isinstance(expect, tuple) else expect[0]
    return {"name": name, "ok": ok, "want": want, "got": got, "error": t["error"]}


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url", nargs="?")
    p.add_argument("--case", action="append", default=[])
    p.add_argument("--list", action="store_true")
    p.add_argument("--reference", action="store_true")
    p.add_argument("--timeout", type=float, default=10.0)
    args = p.parse_args(argv)
    if args.list:
        print("\n".join(c[0] for c in CASES))
        return 0
    if not args.url:
        p.error("the URL of an echo endpoint is needed")
    unknown = set(args.case) - {c[0] for c in CASES}
    if unknown:
        p.error(f"unknown cases: {sorted(unknown)}")
    cases = [c for c in CASES if not args.case or c[0] in args.case]
    results = [run_case(args.url, c, args.reference, args.timeout) for c in cases]
    failed = sum(not r["ok"] for r in results)
    sys.stdout.write("\n" + json.dumps({"cases": results, "failed": failed}) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
