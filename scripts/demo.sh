#!/usr/bin/env bash
#===- scripts/demo.sh - the main job ---------------------------------------===#
#
# Sets up and builds qopt, then runs qopt-opt on examples/matryoshka.mlir:
# first as written, then through qopt-import-quant and the canonicalizer,
# which evaluate the Matryoshka slices of a constant int8 weight.
#
#===------------------------------------------------------------------------===#
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${QOPT_BUILD_DIR:-$root/build}"

"$root/scripts/setup.sh"
example="$root/examples/matryoshka.mlir"
opt="$build_dir/bin/qopt-opt"

echo "== qopt-opt $example --qopt-import-quant --canonicalize"
"$opt" "$example" --qopt-import-quant --canonicalize
