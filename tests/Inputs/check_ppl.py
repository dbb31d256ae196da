#!/usr/bin/env python3
"""Checks the JSON line of `qopt-run ppl --json` read from stdin.

  check_ppl.py [--tokens N] [--nll X] [--reference FILE] [--tolerance T]
               [--stderr] [--below FILE [--margin M]]
               [--gemm-reference GEMM:FILE:T ...]

Fails (exit 1, message on stderr) unless the result has `tokens` == N (if
given), a finite NLL and perplexity with ppl == exp(nll), and |nll - X| <=
T (if X is given; T defaults to 1e-3). --stderr also requires the
standard errors: nll_stderr finite, > 0 and below the NLL, and
ppl_stderr == ppl * nll_stderr. --reference FILE takes N and X from
the JSON line of another `qopt-run ppl --json` run (e.g. the same model
without a pass pipeline). --below FILE requires the NLL to be lower than
that of another run by at least M (default 0). --gemm-reference
GEMM:FILE:T (repeatable) takes the reference from FILE (or the NLL, if
FILE is a number) and the tolerance T
instead where the run's `prefill_gemm` is GEMM (the prefill GEMM's
micro-kernel, e.g. amx-bf16, whose arithmetic differs from the int8
path's). Prints "ppl-ok tokens=N nll=X" on success, for FileCheck.
"""

import argparse
import json
import math
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int)
    parser.add_argument("--nll", type=float)
    parser.add_argument("--reference")
    parser.add_argument("--tolerance", type=float, default=1e-3)
    parser.add_argument("--stderr", action="store_true")
    parser.add_argument("--below")
    parser.add_argument("--margin", type=float, default=0.0)
    parser.add_argument("--gemm-reference", action="append", default=[])
    args = parser.parse_args()

    text = sys.stdin.read()
    lines = [l for l in text.splitlines() if l.strip()]
    if len(lines) != 1:
        sys.exit("expected one JSON line on stdin, got %d:\n%s" %
                 (len(lines), text))
    result = json.loads(lines[0])
    for case in args.gemm_reference:
        parts = case.rsplit(":", 2)
        if len(parts) != 3:
            sys.exit("--gemm-reference %r is not GEMM:FILE:T" % case)
        if result.get("prefill_gemm") == parts[0]:
            try:
                args.nll, args.reference = float(parts[1]), None
            except ValueError:
                args.reference = parts[1]
            args.tolerance = float(parts[2])
    if args.reference:
        with open(args.reference) as f:
            reference = json.loads(f.read().strip().splitlines()[-1])
        args.tokens, args.nll = reference["tokens"], reference["nll"]
    for key in ("tokens", "sequences", "nll", "ppl"):
        if key not in result:
            sys.exit("missing key %r in %s" % (key, lines[0]))
    nll, ppl = result["nll"], result["ppl"]
    if not (math.isfinite(nll) and math.isfinite(ppl) and nll > 0):
        sys.exit("NLL %r / perplexity %r is not finite and positive" %
                 (nll, ppl))
    if abs(math.log(ppl) - nll) > 1e-9 * max(1.0, nll):
        sys.exit("perplexity %r is not exp(nll %r)" % (ppl, nll))
    if args.stderr:
        err, perr = result.get("nll_stderr"), result.get("ppl_stderr")
        if not (isinstance(err, float) and math.isfinite(err) and
                0 < err < nll):
            sys.exit("nll_stderr %r is not finite, positive and below the "
                     "NLL" % (err,))
        if abs(perr - ppl * err) > 1e-9 * max(1.0, perr):
            sys.exit("ppl_stderr %r is not ppl * nll_stderr" % (perr,))
    if args.tokens is not None and result["tokens"] != args.tokens:
        sys.exit("tokens %r, expected %d" % (result["tokens"], args.tokens))
    if args.nll is not None and abs(nll - args.nll) > args.tolerance:
        sys.exit("NLL %.6f differs from %.6f by %.6f (> %g)" %
                 (nll, args.nll, abs(nll - args.nll), args.tolerance))
    if args.below:
        with open(args.below) as f:
            other = json.loads(f.read().strip().splitlines()[-1])["nll"]
        if not nll < other - args.margin:
            sys.exit("NLL %.6f is not below %.6f - %g (%s)" %
                     (nll, other, args.margin, args.below))
    print("ppl-ok tokens=%d nll=%.6f" % (result["tokens"], nll))


if __name__ == "__main__":
    main()
