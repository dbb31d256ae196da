#!/usr/bin/env python3
"""qopt-run bench against llama-bench in alternating rounds on the same GGUFs.

usage: interleaved_ab.py [--types q4_0,q8_0] [--threads 2] [--rounds 5]
                         [--prompt 128] [--decode 32] [--json OUT]

../shared/perf/run_ab.sh measures every llama-bench test of a file first and
then every qopt-run bench run. On a VM whose memory bandwidth moves with its
neighbours (the 2-core EPYC of stop 33: 36-59 GB/s on two threads from one
minute to the next) that order can put the two engines in different
conditions: its decode ratios moved by up to 1.5x between two runs of the
same binaries. Here each round runs both engines once, back to back, on
the same file and thread count (the order alternates between rounds), and
the figure of merit is the median over rounds of qopt / llama.cpp within a
round.

Each round: `llama-bench -m F -t T -p P -n D -r 1 -o json` and
`qopt-run bench F --json --no-progress -p P -n D -r 1 -t T`. Prints, per type
and thread count, the median tokens/s of each engine, the median of the
per-round ratios and in how many rounds qopt was faster; --json writes the
rounds too. Needs llama.cpp built by ../shared/perf/build_llama.sh and the
GGUFs of ../shared/perf/gen_synth.py (or --models, --llama-bench). stdlib only.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_json(cmd, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        sys.exit("interleaved_ab: %s failed (exit %d): %s" %
                 (os.path.basename(cmd[0]), proc.returncode, tail))
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as err:
        sys.exit("interleaved_ab: %s printed no JSON: %s" %
                 (os.path.basename(cmd[0]), err))


def llama_round(args, path, threads, env):
    doc = run_json([args.llama_bench, "-m", path, "-t", str(threads),
                    "-p", str(args.prompt), "-n", str(args.decode), "-r", "1",
                    "-o", "json"], env)
    out = {}
    for test in doc:
        if test.get("n_prompt", 0) > 0 and test.get("n_gen", 0) == 0:
            out["prefill"] = test["avg_ts"]
        elif test.get("n_gen", 0) > 0 and test.get("n_prompt", 0) == 0:
            out["decode"] = test["avg_ts"]
    return out


def qopt_round(args, path, threads):
    doc = run_json([args.qopt_run, "bench", path, "--json", "--no-progress",
                    "-p", str(args.prompt), "-n", str(args.decode), "-r", "1",
                    "-t", str(threads)])
    return {"prefill": doc["prefill_tokens_per_second"],
            "decode": doc["decode_tokens_per_second"]}


def summarize(rounds, what):
    pairs = [(r["qopt"][what], r["llama"][what]) for r in rounds
             if r["qopt"].get(what) and r["llama"].get(what)]
    if not pairs:
        return None
    return {"qopt_median_tps": statistics.median(q for q, _ in pairs),
            "llama_median_tps": statistics.median(l for _, l in pairs),
            "median_ratio": statistics.median(q / l for q, l in pairs),
            "min_ratio": min(q / l for q, l in pairs),
            "max_ratio": max(q / l for q, l in pairs),
            "qopt_faster_rounds": sum(q > l for q, l in pairs),
            "rounds": len(pairs)}


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--types", default="q8_0,q4_0")
    parser.add_argument("--threads", default="2",
                        help="comma-separated thread counts")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--decode", type=int, default=32)
    parser.add_argument("--models", default=os.environ.get(
        "PERF_MODELS", "/tmp/qopt-perf-models"))
    parser.add_argument("--llama-bench", default=os.path.join(os.environ.get(
        "LLAMA_BUILD", "/tmp/llama-build"), "bin", "llama-bench"))
    parser.add_argument("--qopt-run", default=os.path.join(
        ROOT, "build", "bin", "qopt-run"))
    parser.add_argument("--json", help="write the summary and rounds here")
    args = parser.parse_args()
    if args.rounds < 1 or args.prompt < 1 or args.decode < 1:
        sys.exit("interleaved_ab: --rounds, --prompt and --decode must be >= 1")
    try:
        threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        sys.exit("interleaved_ab: --threads takes integers, got '%s'" %
                 args.threads)
    for tool in (args.llama_bench, args.qopt_run):
        if not os.access(tool, os.X_OK):
            sys.exit("interleaved_ab: no executable %s (build llama.cpp with "
                     "../shared/perf/build_llama.sh and qopt with "
                     "scripts/setup.sh)" % tool)
    env = dict(os.environ)
    libdir = os.path.dirname(args.llama_bench)
    env["LD_LIBRARY_PATH"] = libdir + (":" + env["LD_LIBRARY_PATH"]
                                       if env.get("LD_LIBRARY_PATH") else "")
    results = []
    for t in args.types.split(","):
        path = os.path.join(args.models, "synth-7b4l-%s.gguf" % t)
        if not os.path.exists(path):
            sys.exit("interleaved_ab: %s not found (run "
                     "../shared/perf/gen_synth.py, or pass --models)" % path)
        for th in threads:
            rounds = []
            for i in range(args.rounds):
                r = {}
                order = ("llama", "qopt") if i % 2 == 0 else ("qopt", "llama")
                for engine in order:
                    r[engine] = (llama_round(args, path, th, env)
                                 if engine == "llama"
                                 else qopt_round(args, path, th))
                rounds.append(r)
                print("interleaved_ab: %s t%d round %d: decode qopt %.2f "
                      "llama %.2f, prefill qopt %.1f llama %.1f" %
                      (t, th, i + 1, r["qopt"]["decode"],
                       r["llama"].get("decode", 0), r["qopt"]["prefill"],
                       r["llama"].get("prefill", 0)), flush=True)
            results.append({"type": t, "threads": th,
                            "decode": summarize(rounds, "decode"),
                            "prefill": summarize(rounds, "prefill"),
                            "rounds": rounds})
    print()
    print("%-7s %3s | %-44s | %-44s" % ("type", "T", "decode tok/s: qopt / llama, "
                                        "median ratio [min-max]",
                                        "prefill tok/s: qopt / llama, "
                                        "median ratio [min-max]"))
    for r in results:
        cells = []
        for what in ("decode", "prefill"):
            s = r[what]
            cells.append("-" if s is None else
                         "%7.2f / %7.2f  %.3f [%.2f-%.2f] %d/%d" %
                         (s["qopt_median_tps"], s["llama_median_tps"],
                          s["median_ratio"], s["min_ratio"], s["max_ratio"],
                          s["qopt_faster_rounds"], s["rounds"]))
        print("%-7s %3d | %-44s | %-44s" % (r["type"], r["threads"], *cells))
    print("(k/n: rounds in which qopt was faster)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"prompt_tokens": args.prompt,
                       "decode_tokens": args.decode, "results": results},
                      fh, indent=1)


if __name__ == "__main__":
    main()
