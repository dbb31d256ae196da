#!/usr/bin/env python3
"""qopt-run bench against llama-bench in alternating rounds on the same GGUFs.

usage: interleaved_ab.py [--types q4_0,q8_0] [--threads 2] [--rounds 5]
                         [--prompt 128] [--decode 32] [--json OUT]
                         [--docs DIR]
       interleaved_ab.py --from-json AB.json --docs DIR

../shared/perf/run_ab.sh measures every llama-bench test of a file first and
then every qopt-run bench run. On a VM whose memory bandwidth moves with its
neighbours (the 2-core EPYC of stop 33: 36-59 GB/s on two threads from one
minute to the next) that order can put the two engines in different
conditions: its decode ratios moved by up to 1.5x between two runs of the
same binaries. Here each round runs both engines once, back to back, on
the same file and thread count (the order alternates between rounds), and
the figure of merit is the median over rounds of qopt / llama.cpp within a
round.

Share of the stream. qopt-run bench also times a plain read of the weights
(`weight_stream_seconds`, in the same process, seconds before or after its
decode). Each round divides both engines' decode bytes per second by that
rate: qopt's by its own `weight_bytes_read_per_token`, llama.cpp's by the
GGUF's tensor bytes less the token embedding (a decode step reads one row of
it; when the file has no `output.weight` the embedding is the output matrix
and counts). So both engines are measured against the bandwidth of the
minute they ran in, which moves by 2x on the EPYC VM.

Each round: `llama-bench -m F -t T -p P -n D -r 1 -o json` and
`qopt-run bench F --json --no-progress -p P -n D -r 1 -t T`. Prints, per type
and thread count, the median tokens/s of each engine, the median of the
per-round ratios and in how many rounds qopt was faster; --json writes the
rounds too. Needs llama.cpp built by ../shared/perf/build_llama.sh and the
GGUFs of ../shared/perf/gen_synth.py (or --models, --llama-bench). stdlib only,
except --docs, which writes DIR/interleaved_ab.md (the table, with the run's
machine, commits and date), DIR/interleaved_ab.json (the rounds) and
DIR/interleaved_ab.png (matplotlib), from this run or from a JSON an earlier
run wrote (--from-json).
"""

import argparse
import json
import os
import statistics
import struct
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
    if doc and isinstance(doc, list):
        out["build"] = "%s (%s)" % (doc[0].get("build_number", "?"),
                                    doc[0].get("build_commit", "?"))
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
    out = {"prefill": doc["prefill_tokens_per_second"],
           "decode": doc["decode_tokens_per_second"]}
    stream = doc.get("weight_stream_seconds")
    read = doc.get("weight_bytes_read_per_token")
    if stream and read:
        out["stream_bytes_per_second"] = read / stream
        out["bytes_per_token"] = read
    return out


def gguf_tensor_bytes(path):
    """{name: bytes} of a GGUF's tensors, from the gaps between their data
    offsets (alignment padding, under 32 bytes a tensor, counts in)."""
    import struct
    with open(path, "rb") as fh:
        data = fh.read(1 << 24)
        size = os.fstat(fh.fileno()).st_size
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return vals[0] if len(vals) == 1 else vals

    def string():
        nonlocal pos
        n = take("Q")
        pos += n
        return data[pos - n:pos].decode("utf-8", "replace")

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?",
              10: "Q", 11: "q", 12: "d"}

    def value(kind):
        if kind == 8:
            return string()
        if kind == 9:
            inner, n = take("I"), take("Q")
            return [value(inner) for _ in range(n)]
        return take(scalar[kind])

    if data[:4] != b"GGUF":
        raise ValueError("%s is not a GGUF file" % path)
    pos = 4
    take("I")
    count, nkv = take("Q"), take("Q")
    align = 32
    for _ in range(nkv):
        key = string()
        v = value(take("I"))
        if key == "general.alignment":
            align = v
    infos = []
    for _ in range(count):
        name = string()
        dims = take("I")
        pos += 8 * dims + 4  # the dimensions and the type
        infos.append((take("Q"), name))
    start = (pos + align - 1) // align * align
    infos.sort()
    ends = [o for o, _ in infos[1:]] + [size - start]
    return {name: end - off for (off, name), end in zip(infos, ends)}


def llama_bytes_per_token(path):
    tensors = gguf_tensor_bytes(path)
    total = sum(tensors.values())
    if "output.weight" in tensors:
        total -= tensors.get("token_embd.weight", 0)
    return total


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


def stream_shares(rounds, llama_bytes):
    """Median share of the round's stream bandwidth of each engine's decode."""
    q, l = [], []
    for r in rounds:
        rate = r["qopt"].get("stream_bytes_per_second")
        if not rate or not r["llama"].get("decode"):
            continue
        q.append(r["qopt"]["decode"] * r["qopt"]["bytes_per_token"] / rate)
        l.append(r["llama"]["decode"] * llama_bytes / rate)
    if not q:
        return None
    return {"qopt_median_share": statistics.median(q),
            "llama_median_share": statistics.median(l),
            "qopt_share_range": [min(q), max(q)],
            "llama_share_range": [min(l), max(l)],
            "median_stream_gb_per_second": statistics.median(
                r["qopt"]["stream_bytes_per_second"] for r in rounds
                if r["qopt"].get("stream_bytes_per_second")) / 1e9,
            "llama_bytes_per_token": llama_bytes}


def run_meta(args):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short",
                             "HEAD"], capture_output=True, text=True)
    import datetime
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime(
                "%Y-%m-%dT%H:%MZ"),
            "host_cpu": cpu, "nproc": os.cpu_count(),
            "qopt_commit": commit.stdout.strip() or "?",
            "rounds": args.rounds}


def write_docs(doc, out_dir):
    """DIR/interleaved_ab.md and DIR/interleaved_ab.png from a run's JSON."""
    meta = doc.get("meta", {})
    results = doc.get("results", [])
    builds = {r["llama"].get("build") for res in results
              for r in res.get("rounds", []) if r["llama"].get("build")}
    lines = [
        "# qopt vs llama.cpp, alternating rounds", "",
        "`bench/interleaved_ab.py`: each round runs llama-bench and qopt-run "
        "bench once, back to back, on the same GGUF and thread count, the "
        "order alternating; ratios are the median over rounds of the ratio "
        "within a round. %s, %s cores; qopt %s; llama.cpp %s; %s rounds, %s "
        "prompt tokens, %s decode tokens; %s." % (
            meta.get("host_cpu", "?"), meta.get("nproc", "?"),
            meta.get("qopt_commit", "?"), ", ".join(sorted(builds)) or "?",
            meta.get("rounds", "?"), doc.get("prompt_tokens", "?"),
            doc.get("decode_tokens", "?"), meta.get("date", "?")), "",
        "Share of the stream: each engine's decode bytes per second over the "
        "weight-read rate qopt-run bench measured in the same round (qopt's "
        "`weight_bytes_read_per_token`; llama.cpp's tensor bytes from the "
        "GGUF less the token embedding).", "",
        "| type | threads | decode qopt / llama.cpp tok/s | decode ratio "
        "(range; rounds qopt won) | share of stream qopt / llama.cpp "
        "(median) | prefill qopt / llama.cpp tok/s | prefill ratio (range; "
        "won) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]

    def cells(s):
        if not s:
            return "-", "-"
        return ("%.1f / %.1f" % (s["qopt_median_tps"], s["llama_median_tps"]),
                "%.2fx (%.2f-%.2f; %d/%d)" % (
                    s["median_ratio"], s["min_ratio"], s["max_ratio"],
                    s["qopt_faster_rounds"], s["rounds"]))

    for r in results:
        share = r.get("decode_stream_share")
        lines.append("| %s | %d | %s | %s | %s | %s | %s |" % (
            r["type"], r["threads"], *cells(r.get("decode")),
            "-" if not share else "%.0f%% / %.0f%%" % (
                100 * share["qopt_median_share"],
                100 * share["llama_median_share"]),
            *cells(r.get("prefill"))))
    lines += ["", "![tokens/s](interleaved_ab.png)", "",
              "The rounds: `interleaved_ab.json` beside this file.", ""]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "interleaved_ab.json"), "w") as fh:
        json.dump(doc, fh, indent=1)
    md = os.path.join(out_dir, "interleaved_ab.md")
    with open(md, "w") as fh:
        fh.write("\n".join(lines))

    try:
        import matplotlib
    except ImportError:
        sys.exit("interleaved_ab: wrote %s; the plot needs matplotlib "
                 "(apt-get install python3-matplotlib)" % md)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    labels = ["%s %dT" % (r["type"], r["threads"]) for r in results]
    for ax, what in zip(axes, ("decode", "prefill")):
        for i, (engine, key) in enumerate((("qopt", "qopt_median_tps"),
                                           ("llama.cpp", "llama_median_tps"))):
            ys = [(r.get(what) or {}).get(key, 0) for r in results]
            ax.bar([j + (i - 0.5) * 0.38 for j in range(len(results))], ys,
                   0.38, label=engine)
        for j, r in enumerate(results):
            s = r.get(what)
            if s:
                ax.annotate("%.2fx" % s["median_ratio"],
                            (j, max(s["qopt_median_tps"],
                                    s["llama_median_tps"])),
                            ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(results)))
        ax.set_xticklabels(labels, rotation=30, ha="right")
        ax.set_ylabel("tokens/s (median over rounds)")
        ax.set_title("%s (%s tokens)" % (what, doc.get(
            "decode_tokens" if what == "decode" else "prompt_tokens", "?")))
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend()
    fig.suptitle("qopt vs llama.cpp, 7B-shaped 4-layer GGUFs, alternating "
                 "rounds (labels: median qopt / llama.cpp ratio)")
    fig.tight_layout()
    png = os.path.join(out_dir, "interleaved_ab.png")
    fig.savefig(png, dpi=100)
    print("interleaved_ab: wrote %s and %s" % (md, png))


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
    parser.add_argument("--docs", metavar="DIR",
                        help="also write DIR/interleaved_ab.md and .png")
    parser.add_argument("--from-json", metavar="AB_JSON",
                        help="measure nothing: write --docs from this JSON")
    args = parser.parse_args()
    if args.from_json:
        if not args.docs:
            sys.exit("interleaved_ab: --from-json needs --docs DIR")
        try:
            with open(args.from_json) as fh:
                doc = json.load(fh)
        except (OSError, ValueError) as err:
            sys.exit("interleaved_ab: cannot read %s: %s" %
                     (args.from_json, err))
        if not doc.get("results"):
            sys.exit("interleaved_ab: %s has no results" % args.from_json)
        write_docs(doc, args.docs)
        return
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
    meta = run_meta(args)
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
        try:
            llama_bytes = llama_bytes_per_token(path)
        except (ValueError, KeyError, struct.error, IndexError) as err:
            sys.exit("interleaved_ab: cannot read the tensors of %s: %s" %
                     (path, err))
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
                            "decode_stream_share": stream_shares(
                                rounds, llama_bytes),
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
    print()
    print("decode share of the round's stream (qopt-run's own weight read):")
    for r in results:
        s = r["decode_stream_share"]
        if s is None:
            continue
        print("%-7s %3d | qopt %.0f%% [%.0f-%.0f]  llama.cpp %.0f%% [%.0f-%.0f]"
              "  stream median %.1f GB/s" %
              (r["type"], r["threads"], 100 * s["qopt_median_share"],
               *(100 * x for x in s["qopt_share_range"]),
               100 * s["llama_median_share"],
               *(100 * x for x in s["llama_share_range"]),
               s["median_stream_gb_per_second"]))
    doc = {"prompt_tokens": args.prompt, "decode_tokens": args.decode,
           "meta": meta, "results": results}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(doc, fh, indent=1)
    if args.docs:
        write_docs(doc, args.docs)


if __name__ == "__main__":
    main()
