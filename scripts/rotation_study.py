#!/usr/bin/env python3
"""What rotations buy for weight quantization, measured (docs/rotations.md).

  rotation_study.py synthetic [--k K] [--check-ratio R]
  rotation_study.py stories QOPT_RUN [--shared DIR] [--json OUT]

synthetic: a linear layer as qopt sees it after qopt-fuse-norms, y = x W^T
with K = 4096 inputs (--k), N = 512 outputs, T = 256 tokens of Gaussian
activations, and a few outlier channels 50x larger (as in real LLMs). Two
settings:
  "activation" - the outliers are in x only (W Gaussian);
  "norm-fused" - the outliers come from the RMSNorm scale, which
                 qopt-fuse-norms multiplies into W's columns, so W has
                 outlier columns and x does not.
For each, the relative output error ||x W^T - x~ W~^T|| / ||x W^T|| of RTN
at 4 bits (asymmetric; groups of 32 or 128 along K, or one scale per
output channel; qopt's formulas, tests/Inputs/reference_quant_ppl.py), and
of W4 with activations quantized per token to 4 bits, without rotation and
with the R1 rotation qopt-fold-rotations applies (x -> x Q, W -> W Q): the
normalized Hadamard matrix and a Haar-random orthogonal matrix. With
--check-ratio R it fails unless both rotations divide the norm-fused
per-channel W4 error by at least R.

stories: the mean NLL of stories260K on tinystories-dev.txt under RTN at 4,
3 and 2 bits, static (quantized at r bits) and nested (quantized at 8 bits,
served at r), groups of 32 and 128, for: no rotation, norms fused only,
norms fused + Hadamard rotations (R1..R4), norms fused + random rotations.
Runs `QOPT_RUN ppl` with the matching --pipeline and --bits and prints a
markdown table (and the raw results as JSON with --json).
"""

import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "Inputs"))
from reference_quant_ppl import quantize_dequantize  # noqa: E402


def sylvester(n):
    """The normalized Sylvester Hadamard matrix H_n / sqrt(n), n = 2^m."""
    h = np.array([[1.0]])
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h / math.sqrt(n)


def haar_orthogonal(n, rng):
    """A Haar-random orthogonal matrix (QR of a Gaussian, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def rtn(w, bits, group):
    return quantize_dequantize(w.astype(np.float32), bits, group, "asym",
                               None).astype(np.float64)


def synthetic(args):
    rng = np.random.default_rng(2024)
    k, n, t, outliers, factor = args.k, 512, 256, 4, 50.0
    channels = rng.choice(k, outliers, replace=False)
    x = rng.standard_normal((t, k))
    w = rng.standard_normal((n, k)) / math.sqrt(k)
    scale = np.ones(k)
    scale[channels] = factor
    settings = {
        # Outliers in the activations, W Gaussian.
        "activation": (x * scale, w),
        # Outliers in the norm scale, fused into W's columns.
        "norm-fused": (x, w * scale),
    }
    rotations = {"none": None, "hadamard": sylvester(k),
                 "random": haar_orthogonal(k, rng)}
    rows, worst_ratio = [], math.inf
    for setting, (xs, ws) in settings.items():
        exact = xs @ ws.T
        # Weight-only W4 (groups of 32, 128, or one per output channel),
        # and W4 with 4-bit per-token activations (A4, one group per row).
        for group, act_bits in ((32, None), (128, None), (0, None), (0, 4)):
            errors = {}
            for name, q in rotations.items():
                xr, wr = (xs, ws) if q is None else (xs @ q, ws @ q)
                if act_bits:
                    xr = rtn(xr, act_bits, 0)
                approx = xr @ rtn(wr, 4, group).T
                errors[name] = (np.linalg.norm(exact - approx) /
                                np.linalg.norm(exact))
            label = ("per channel" if group == 0 else "g%d" % group) + (
                " + A%d per token" % act_bits if act_bits else "")
            rows.append((setting, label, errors))
            if setting == "norm-fused" and group == 0 and not act_bits:
                worst_ratio = min(worst_ratio,
                                  errors["none"] / errors["hadamard"],
                                  errors["none"] / errors["random"])
    print("| outliers | quantization | W4 error, no rotation | Hadamard "
          "| random | no rotation / Hadamard |")
    print("| --- | --- | --- | --- | --- | --- |")
    for setting, label, e in rows:
        print("| %s | %s | %.4f | %.4f | %.4f | %.1fx |" %
              (setting, label, e["none"], e["hadamard"], e["random"],
               e["none"] / e["hadamard"]))
    if args.check_ratio is not None and worst_ratio < args.check_ratio:
        sys.exit("rotation divides the norm-fused W4 error by %.2f only "
                 "(< %g)" % (worst_ratio, args.check_ratio))
    if args.check_ratio is not None:
        print("rotation-ok ratio>=%g" % args.check_ratio)


VARIANTS = [
    ("none", ""),
    ("fused norms", "qopt-fuse-norms,"),
    ("fused + Hadamard", "qopt-fuse-norms,qopt-fold-rotations{kind=hadamard},"),
    ("fused + random", "qopt-fuse-norms,qopt-fold-rotations{kind=random},"),
]


def stories(args):
    model = os.path.join(args.shared, "models", "stories260K")
    base = [args.qopt_run, "ppl", os.path.join(model, "stories260K.bin"),
            "--tokenizer", os.path.join(model, "tok512.bin"),
            "--text", os.path.join(model, "tinystories-dev.txt"),
            "--json", "--no-progress"]
    results = []
    for layout in ("static", "nested"):
        for group in (32, 128):
            for bits in (4, 3, 2):
                row = {"layout": layout, "group": group, "bits": bits}
                for label, prefix in VARIANTS:
                    stored = bits if layout == "static" else 8
                    pipeline = (prefix + "qopt-quantize-weights{bits=%d "
                                "group=%d layout=%s}" % (stored, group, layout))
                    cmd = base + ["--pipeline", pipeline]
                    if layout == "nested":
                        cmd += ["--bits", str(bits)]
                    out = subprocess.run(cmd, check=True, capture_output=True,
                                         text=True).stdout
                    row[label] = json.loads(out.strip().splitlines()[-1])["nll"]
                results.append(row)
                print("  %s g%d r=%d: %s" % (
                    layout, group, bits,
                    " ".join("%.4f" % row[l] for l, _ in VARIANTS)),
                    file=sys.stderr)
    print("| layout | group | r | " +
          " | ".join(label for label, _ in VARIANTS) + " |")
    print("| --- | --- | --- |" + " --- |" * len(VARIANTS))
    for row in results:
        print("| %s | %d | %d | " % (row["layout"], row["group"], row["bits"])
              + " | ".join("%.4f" % row[l] for l, _ in VARIANTS) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("synthetic")
    p.add_argument("--k", type=int, default=4096,
                   help="input channels (a power of two)")
    p.add_argument("--check-ratio", type=float)
    p = sub.add_parser("stories")
    p.add_argument("qopt_run")
    p.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    p.add_argument("--json")
    args = parser.parse_args()
    if args.command == "synthetic":
        synthetic(args)
    else:
        stories(args)


if __name__ == "__main__":
    main()
