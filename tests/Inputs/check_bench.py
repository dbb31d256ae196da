#!/usr/bin/env python3
"""Checks the JSON line of `qopt-run bench --json` read from stdin.

  check_bench.py [--prefill-tokens N] [--decode-tokens N]
                 [--kv-cache-bytes N] [--depth N]

Fails (exit 1, message on stderr) unless every reported rate, size and
ratio is present, finite and positive, and the depth (tokens in the cache
before each test, default 0) is the one expected in `depth`, in each test's
`n_depth` and in its name ("tg8 @ d16"). Never checks a timing bound. Prints
"bench-ok" and the keys on success, for FileCheck.
"""

import argparse
import json
import math
import sys

POSITIVE = [
    "prefill_tokens_per_second",
    "decode_tokens_per_second",
    "weight_bytes",
    "peak_rss_bytes",
    "read_bandwidth_bytes_per_second",
    "decode_over_stream_ratio",
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefill-tokens", type=int)
    parser.add_argument("--decode-tokens", type=int)
    parser.add_argument("--kv-cache-bytes", type=int,
                        help="the exact kv_cache_bytes expected")
    parser.add_argument("--depth", type=int, default=0,
                        help="the depth expected (default 0)")
    args = parser.parse_args()

    text = sys.stdin.read()
    lines = [l for l in text.splitlines() if l.strip()]
    if len(lines) != 1:
        sys.exit("expected one JSON line on stdin, got %d:\n%s" %
                 (len(lines), text))
    result = json.loads(lines[0])
    for key in POSITIVE:
        if key not in result:
            sys.exit("missing key %r in %s" % (key, lines[0]))
        value = result[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) \
                or not math.isfinite(value) or value <= 0:
            sys.exit("%s = %r is not a finite positive number" % (key, value))
    for key, want in (("prefill_tokens", args.prefill_tokens),
                      ("decode_tokens", args.decode_tokens)):
        if want is not None and result.get(key) != want:
            sys.exit("%s = %r, expected %d" % (key, result.get(key), want))
    if args.kv_cache_bytes is not None and \
            result.get("kv_cache_bytes") != args.kv_cache_bytes:
        sys.exit("kv_cache_bytes = %r, expected %d" %
                 (result.get("kv_cache_bytes"), args.kv_cache_bytes))
    if result.get("depth") != args.depth:
        sys.exit("depth = %r, expected %d" % (result.get("depth"), args.depth))
    tests = result.get("tests")
    if not isinstance(tests, list) or len(tests) != 2:
        sys.exit("expected two records in tests, got %r" % (tests,))
    suffix = " @ d%d" % args.depth if args.depth else ""
    for test in tests:
        name = test.get("test", "")
        if test.get("n_depth") != args.depth or \
                not name.endswith(suffix) or (not suffix and "@" in name):
            sys.exit("test %r has n_depth %r, expected depth %d" %
                     (name, test.get("n_depth"), args.depth))
    if result["peak_rss_bytes"] < result["weight_bytes"]:
        sys.exit("peak RSS %d is below the weight bytes %d" %
                 (result["peak_rss_bytes"], result["weight_bytes"]))
    print("bench-ok " + " ".join(POSITIVE))


if __name__ == "__main__":
    main()
