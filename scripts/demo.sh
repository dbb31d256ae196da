#!/usr/bin/env bash
#===- scripts/demo.sh - the main job ---------------------------------------===#
#
# Sets up and builds qopt, then runs the bundled stories260K model end to
# end: import the llama2.c checkpoint into a qopt module, compile it ahead of
# time for this CPU, generate a story, measure perplexity on the dev text and
# the prefill/decode throughput. Finally shows the quantization dialect on
# examples/matryoshka.mlir (one int8 weight served at 8, 4 and 2 bits).
#
# Environment: QOPT_MODEL_DIR (default ../shared/models/stories260K),
# QOPT_BUILD_DIR (default build).
#
#===------------------------------------------------------------------------===#
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${QOPT_BUILD_DIR:-$root/build}"
model_dir="${QOPT_MODEL_DIR:-$root/../shared/models/stories260K}"

"$root/scripts/setup.sh"
bin="$build_dir/bin"
work="$build_dir/demo"

if [ ! -f "$model_dir/stories260K.bin" ] || [ ! -f "$model_dir/tok512.bin" ]; then
  cat >&2 <<MSG
qopt demo: no model at $model_dir
  The demo runs karpathy's TinyStories 260K model (llama2.c format):
  put stories260K.bin and tok512.bin (from the llama2.c project's
  tinyllamas release) into that folder, or set QOPT_MODEL_DIR. Any llama2.c
  .bin, Hugging Face Llama directory or GGUF file also works directly:
    $bin/qopt-run generate MODEL --prompt "Once upon a time" -n 100
MSG
  exit 1
fi
mkdir -p "$work"

step() { printf '\n== %s\n' "$*"; }

step "import: qopt-import stories260K.bin -> $work/stories260K.mlirbc"
"$bin/qopt-import" "$model_dir/stories260K.bin" -o "$work/stories260K.mlirbc"
"$bin/qopt-import" "$model_dir/stories260K.bin" --emit=mlir --elide-weights \
  -o "$work/stories260K.mlir"
echo "(the IR, weights elided: $work/stories260K.mlir; first lines of @decode)"
grep -A 9 "func.func @decode" "$work/stories260K.mlir" | cut -c1-160

step "compile ahead of time: qopt-run compile -> $work/stories260K.aot"
rm -rf "$work/stories260K.aot"
"$bin/qopt-run" compile "$work/stories260K.mlirbc" -o "$work/stories260K.aot" \
  --tokenizer "$model_dir/tok512.bin"

step "generate (greedy, from BOS)"
"$bin/qopt-run" generate "$work/stories260K.aot" --prompt "" -n 120

step "the same artifact from plain C, without MLIR (examples/generate.c, libqopt_artifact)"
"$bin/qopt-example-generate" "$work/stories260K.aot" "" 120

step "generate (temperature 0.8, top-p 0.9, seed 7)"
"$bin/qopt-run" generate "$work/stories260K.aot" --prompt "Once upon a time" \
  -n 120 --temperature 0.8 --seed 7

step "perplexity on tinystories-dev.txt (fp32 reference: 5.3395)"
"$bin/qopt-run" ppl "$work/stories260K.aot" --text "$model_dir/tinystories-dev.txt"

step "throughput"
"$bin/qopt-run" bench "$work/stories260K.aot"

step "the quantization dialect: qopt-opt examples/matryoshka.mlir --qopt-import-quant --canonicalize"
"$bin/qopt-opt" "$root/examples/matryoshka.mlir" --qopt-import-quant --canonicalize
