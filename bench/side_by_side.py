#!/usr/bin/env python3
"""qopt-run bench and llama-bench side by side: a table and a plot for docs.

usage: side_by_side.py [--run | --from-json AB.json] [--out-dir DIR]

--run (default) runs ../shared/perf/run_ab.sh (the shared harness: it builds
nothing, needs llama.cpp built by build_llama.sh and the synthetic 7B-shaped
GGUFs of gen_synth.py, and measures both engines on the same files in one
run, with the stream bandwidth before and after); PERF_TYPES, LLAMA_REPS,
QOPT_REPS and the harness's other variables pass through. --from-json reads
a JSON the harness wrote earlier instead.

Writes DIR/side_by_side.md (the table: tokens/s and ratios, medians, with the
spread over repetitions and the run's metadata) and DIR/side_by_side.png
(decode and prefill tokens/s per type at 1 and 2 threads). DIR defaults to
docs/data. Numbers are ratios measured in one run: absolute figures depend
on the machine and on what else it runs.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HARNESS = os.path.join(ROOT, "..", "shared", "perf", "run_ab.sh")

# (label, JSON key prefix) of the four measured configurations.
CONFIGS = [("qopt 1T", "qopt_t1"), ("qopt 2T", "qopt_t2"),
           ("llama.cpp 1T", "llama_t1"), ("llama.cpp 2T", "llama_t2")]


def run_harness(out_json):
    if not os.path.exists(HARNESS):
        sys.exit("side_by_side: %s not found: ../shared must be beside the "
                 "checkout" % HARNESS)
    proc = subprocess.run(["bash", HARNESS, out_json], cwd=ROOT)
    if proc.returncode != 0:
        sys.exit("side_by_side: run_ab.sh failed (exit %d)" % proc.returncode)


def value(row, prefix, what):
    v = row.get("%s_%s_tps" % (prefix, what))
    return v if isinstance(v, (int, float)) and v > 0 else None


def fmt(v, digits=1):
    return "-" if v is None else "%.*f" % (digits, v)


def ratio(a, b):
    return None if a is None or b is None else a / b


def write_table(data, path):
    meta = data.get("meta", {})
    lines = ["# qopt vs llama.cpp, side by side", "",
             "Same GGUF files, same machine, one run "
             "(`bench/side_by_side.py`, harness `../shared/perf/run_ab.sh`): "
             "%s, %s cores, llama.cpp %s, qopt %s, %s prompt tokens, %s decode "
             "tokens, medians of %s (llama.cpp) and %s (qopt) repetitions; "
             "%s." % (meta.get("host_cpu", "?"), meta.get("nproc", "?"),
                      meta.get("llama_version", "?"),
                      meta.get("qopt_commit", "?"),
                      meta.get("prompt_tokens", "?"),
                      meta.get("decode_tokens", "?"),
                      meta.get("llama_reps", "?"), meta.get("qopt_reps", "?"),
                      meta.get("date", "?")), ""]
    bw = data.get("stream_bandwidth", {})
    lines.append("Stream bandwidth (bw.c) during the run: %s." % ", ".join(
        "%s thread(s) %s GB/s (runs %s)" % (
            t, fmt(bw[t].get("median_GBps")),
            ", ".join(fmt(r) for r in bw[t].get("runs_GBps", [])))
        for t in sorted(bw)))
    lines += ["", "| type | phase | qopt 1T | qopt 2T | llama.cpp 1T | "
              "llama.cpp 2T | qopt/llama 1T | qopt/llama 2T |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in data.get("rows", []):
        for what in ("decode", "prefill"):
            v = [value(row, p, what) for _, p in CONFIGS]
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                row.get("type"), what, *(fmt(x) for x in v),
                fmt(ratio(v[0], v[2]), 2), fmt(ratio(v[1], v[3]), 2)))
    lines += ["", "Spread over repetitions, (max - min) / median, %:", "",
              "| type | phase | " + " | ".join(c for c, _ in CONFIGS) + " |",
              "| --- | --- |" + " ---: |" * len(CONFIGS)]
    for row in data.get("rows", []):
        for what in ("decode", "prefill"):
            lines.append("| %s | %s | %s |" % (row.get("type"), what, " | ".join(
                fmt(row.get("%s_%s_spread_pct" % (p, what))) for _, p in
                CONFIGS)))
    warnings = data.get("warnings") or []
    if warnings:
        lines += ["", "Warnings of the run:", ""] + ["- %s" % w
                                                      for w in warnings]
    lines += ["", "![tokens/s](side_by_side.png)", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_plot(data, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data.get("rows", [])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.2
    for ax, what in zip(axes, ("decode", "prefill")):
        for i, (label, prefix) in enumerate(CONFIGS):
            xs = [j + (i - 1.5) * width for j in range(len(rows))]
            ys = [value(r, prefix, what) or 0 for r in rows]
            ax.bar(xs, ys, width, label=label)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([r.get("type") for r in rows])
        ax.set_ylabel("tokens/s")
        ax.set_title("%s (%s tokens)" % (what, data.get("meta", {}).get(
            "decode_tokens" if what == "decode" else "prompt_tokens", "?")))
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend()
    fig.suptitle("qopt vs llama.cpp, 7B-shaped 4-layer GGUFs, same run")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--run", action="store_true",
                        help="run the harness (the default)")
    source.add_argument("--from-json", help="a JSON run_ab.sh wrote")
    parser.add_argument("--out-dir", default=os.path.join(ROOT, "docs", "data"))
    opts = parser.parse_args()
    path = opts.from_json
    if not path:
        path = os.path.join(opts.out_dir, "side_by_side.json")
        run_harness(path)
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit("side_by_side: cannot read %s: %s" % (path, e))
    if not data.get("rows"):
        sys.exit("side_by_side: %s has no measured rows" % path)
    os.makedirs(opts.out_dir, exist_ok=True)
    write_table(data, os.path.join(opts.out_dir, "side_by_side.md"))
    write_plot(data, os.path.join(opts.out_dir, "side_by_side.png"))
    print("side_by_side: wrote %s and %s" % (
        os.path.join(opts.out_dir, "side_by_side.md"),
        os.path.join(opts.out_dir, "side_by_side.png")))


if __name__ == "__main__":
    main()
