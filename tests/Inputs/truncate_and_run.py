#!/usr/bin/env python3
"""Robustness driver: feeds truncated and corrupted copies of an .mlir file
to qopt-opt and fails only on crashes (death by a signal, an LLVM crash
report) and hangs. Diagnostics and non-zero exit codes are expected: most of
the inputs are invalid.

usage: truncate_and_run.py [options] INPUT WORKDIR QOPT_OPT [ARGS...]

QOPT_OPT and ARGS (e.g. -canonicalize) are the command; the input path
comes last. The tool comes last so that lit's substitution of qopt-opt,
which adds --verify-each, stays part of the command.
Inputs are cut at every STRIDE-th byte (sampled down to --max-prefixes
evenly spaced cuts; --all keeps every one), plus --flips copies with one
byte replaced, chosen with a fixed seed so that runs are reproducible.
--divisor D keeps a D-th of the sampled cuts and flips (lit's
%{mutant_divisor}: the sanitizer build runs a share of the cases).
Each failing input is left in WORKDIR and named in the report.
"""

import argparse
import concurrent.futures
import os
import random
import subprocess
import sys

# Bytes that steer the parser somewhere interesting when dropped in.
FLIP_BYTES = b"<>[]{}()%#!:,=?x0123456789-+. \n\"'@^*"


def make_cases(data, stride, max_prefixes, flips, seed, keep_all):
    cuts = list(range(stride, len(data), stride))
    if not keep_all and len(cuts) > max_prefixes:
        step = len(cuts) / max_prefixes
        cuts = [cuts[int(i * step)] for i in range(max_prefixes)]
    cases = [("prefix-%06d" % cut, data[:cut]) for cut in cuts]
    rng = random.Random(seed)
    for i in range(flips):
        pos = rng.randrange(len(data))
        mutated = bytearray(data)
        mutated[pos] = rng.choice(FLIP_BYTES)
        cases.append(("flip-%02d-at-%06d" % (i, pos), bytes(mutated)))
    return cases


def run_case(tool, args, path, timeout):
    try:
        proc = subprocess.run([tool] + args + [path], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "hang (no exit within %gs)" % timeout, b""
    except OSError as e:
        return "could not run: %s" % e, b""
    stderr = proc.stderr
    if proc.returncode < 0:
        return "killed by signal %d" % -proc.returncode, stderr
    if b"PLEASE submit a bug report" in stderr or b"Stack dump:" in stderr:
        return "crash report (exit code %d)" % proc.returncode, stderr
    return None, stderr


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stride", type=int, default=23)
    parser.add_argument("--max-prefixes", type=int, default=120)
    parser.add_argument("--all", action="store_true",
                        help="every prefix, no sampling")
    parser.add_argument("--flips", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--divisor", type=int, default=1)
    parser.add_argument("input")
    parser.add_argument("workdir")
    parser.add_argument("tool")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    opts = parser.parse_args()
    extra = opts.args

    with open(opts.input, "rb") as f:
        data = f.read()
    os.makedirs(opts.workdir, exist_ok=True)
    base = os.path.splitext(os.path.basename(opts.input))[0]
    cases = make_cases(data, opts.stride,
                       max(1, opts.max_prefixes // opts.divisor),
                       max(1, opts.flips // opts.divisor), opts.seed, opts.all)

    paths = []
    for name, content in cases:
        path = os.path.join(opts.workdir, "%s.%s.mlir" % (base, name))
        with open(path, "wb") as f:
            f.write(content)
        paths.append(path)

    failures = []
    with concurrent.futures.ThreadPoolExecutor(opts.jobs) as pool:
        results = pool.map(
            lambda p: (p, run_case(opts.tool, extra, p, opts.timeout)), paths)
        for path, (why, stderr) in results:
            if why:
                failures.append((path, why, stderr))
            else:
                os.remove(path)

    for path, why, stderr in failures:
        print("FAIL: %s %s: %s" % (opts.tool, " ".join(extra + [path]), why))
        tail = stderr.decode("utf-8", "replace").splitlines()[-40:]
        print("\n".join("  | " + line for line in tail))
    print("%s: %d inputs, %d crashes or hangs" %
          (os.path.basename(opts.input), len(paths), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
