#!/usr/bin/env python3
"""Checks `qopt-run bench --json` outputs of one nested model at decreasing
served widths: `weight_bytes` equal (the artifact is the same), and
`weight_bytes_read_per_token` strictly decreasing.

  check_served_bytes.py B8.json B4.json B2.json

Prints "served W1 W2 ...: bytes read strictly decreasing, weight bytes
equal" for FileCheck; exits 1 with a message otherwise.
"""

import json
import sys


def main():
    runs = []
    for path in sys.argv[1:]:
        lines = [l for l in open(path).read().splitlines() if l.strip()]
        runs.append(json.loads(lines[-1]))
    widths = [str(r["served_bits"]) for r in runs]
    total = {r["weight_bytes"] for r in runs}
    if len(total) != 1:
        sys.exit("weight_bytes differ between runs: %s" % sorted(total))
    read = [r["weight_bytes_read_per_token"] for r in runs]
    if any(b >= a for a, b in zip(read, read[1:])):
        sys.exit("bytes read are not strictly decreasing: %s" % read)
    if read[0] > runs[0]["weight_bytes"]:
        sys.exit("reads more than the weights: %s" % read)
    print("served %s: bytes read strictly decreasing, weight bytes equal"
          % " ".join(widths))


if __name__ == "__main__":
    main()
