#!/usr/bin/env python3
"""Runs a tool on every file of a directory and checks that each run ends
cleanly: exit 0, or exit 1 with exactly one line on stderr that contains
"error: ". A signal, a crash report, any other exit code, a multi-line error
or a run longer than the timeout fails, naming the input.

usage: expect_clean_errors.py [--timeout S] [--jobs N] DIR TOOL [ARGS...]

Each input is given as `TOOL [ARGS before @] INPUT [ARGS after @]`: an `@`
among ARGS marks where the input goes (default: last).
"""

import argparse
import concurrent.futures
import os
import subprocess
import sys


def run_case(tool, args, path, timeout):
    if "@" in args:
        at = args.index("@")
        cmd = [tool] + args[:at] + [path] + args[at + 1:]
    else:
        cmd = [tool] + args + [path]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "no exit within %gs" % timeout, b""
    err = proc.stderr
    lines = err.decode("utf-8", "replace").splitlines()
    if proc.returncode < 0:
        return "killed by signal %d" % -proc.returncode, err
    if b"Stack dump:" in err or b"PLEASE submit a bug report" in err:
        return "crash report (exit %d)" % proc.returncode, err
    if proc.returncode == 0:
        return None, err
    if proc.returncode != 1:
        return "exit code %d" % proc.returncode, err
    if len(lines) != 1 or "error: " not in lines[0]:
        return "%d lines of stderr, not one error" % len(lines), err
    return None, err


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("dir")
    parser.add_argument("tool")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    opts = parser.parse_args()
    extra = opts.args

    paths = sorted(os.path.join(opts.dir, n) for n in os.listdir(opts.dir))
    failures = []
    clean = errors = 0
    with concurrent.futures.ThreadPoolExecutor(opts.jobs) as pool:
        for path, (why, err) in pool.map(
                lambda p: (p, run_case(opts.tool, extra, p, opts.timeout)),
                paths):
            if why:
                failures.append((path, why, err))
            elif err:
                errors += 1
            else:
                clean += 1
    for path, why, err in failures:
        print("FAIL: %s on %s: %s" % (os.path.basename(opts.tool), path, why))
        tail = err.decode("utf-8", "replace").splitlines()[-20:]
        print("\n".join("  | " + line for line in tail))
    print("%d inputs: %d one-line errors, %d accepted, %d failures" %
          (len(paths), errors, clean, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
