#!/usr/bin/env bash
#===- scripts/fuzz.sh - build and run the libFuzzer targets ----------------===#
#
#   scripts/fuzz.sh [-t SECONDS] [-e EXECS] [-b] [-r] [TARGET...]
#
# Builds the fuzz targets (fuzz/, QOPT_BUILD_FUZZERS) with Debian's clang 22
# in their own build directory, writes their seeds and fixtures
# (fuzz/make_seeds.py; the MLIR targets' seeds use qopt-import from the
# normal build), then runs each TARGET (default: all) in turn for SECONDS
# (default 600) or EXECS executions, whichever ends first, and prints one
# line per target: executions, seconds, coverage and crashes. A finding
# (crash, leak, timeout or out-of-memory) is kept under
# build-fuzz/findings/TARGET/ and makes the script exit 1.
#   -b   build and write seeds only
#   -r   run only (targets already built, e.g. copied to another machine)
# Environment: QOPT_FUZZ_BUILD_DIR (build-fuzz), QOPT_BUILD_DIR (build, for
# qopt-import), QOPT_FUZZ_NICE (19), QOPT_FUZZ_JOBS (1: parallel
# targets when run only).
#
# Needs clang-22 and libclang-rt-22-dev (apt-get install clang-22
# libclang-rt-22-dev).
#
#===------------------------------------------------------------------------===#
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz_dir="${QOPT_FUZZ_BUILD_DIR:-$root/build-fuzz}"
tools_dir="${QOPT_BUILD_DIR:-$root/build}/bin"
nice_level="${QOPT_FUZZ_NICE:-19}"
jobs="${QOPT_FUZZ_JOBS:-1}"
seconds=600
execs=0
build=1
run=1

all_targets=(fuzz-gguf fuzz-llama2c fuzz-llama2c-tokenizer fuzz-hf-tokenizer
             fuzz-manifest
             fuzz-safetensors fuzz-hf-config fuzz-safetensors-index
             fuzz-mlir-syntax fuzz-bytecode)

while getopts "t:e:br" opt; do
  case "$opt" in
    t) seconds="$OPTARG" ;;
    e) execs="$OPTARG" ;;
    b) run=0 ;;
    r) build=0 ;;
    *) sed -n '3,22p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all_targets[@]}")

dict_of() {
  case "$1" in
    fuzz-gguf) echo gguf ;;
    fuzz-safetensors) echo safetensors ;;
    fuzz-hf-config|fuzz-safetensors-index) echo hf-config ;;
    fuzz-manifest) echo manifest ;;
    fuzz-hf-tokenizer) echo hf-tokenizer ;;
    fuzz-mlir-syntax) echo mlir ;;
    fuzz-bytecode) echo bytecode ;;
    *) echo "" ;;
  esac
}

if [ "$build" = 1 ]; then
  clang=/usr/lib/llvm-22/bin/clang
  if [ ! -x "$clang++" ] || ! ls /usr/lib/llvm-22/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    echo "qopt fuzz: needs clang-22 and libclang-rt-22-dev (apt-get install clang-22 libclang-rt-22-dev)" >&2
    exit 1
  fi
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -G Ninja -S "$root" -B "$fuzz_dir" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER="$clang" -DCMAKE_CXX_COMPILER="$clang++" \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir -DQOPT_BUILD_FUZZERS=ON \
    -DQOPT_BUILD_TESTS=OFF -DQOPT_BUILD_BENCHMARKS=OFF "${launcher[@]}" >/dev/null
  nice -n "$nice_level" cmake --build "$fuzz_dir" -j "${QOPT_JOBS:-$(nproc)}" \
    --target "${targets[@]}" fuzz-gguf-convert
  seed_args=(--gguf-convert "$fuzz_dir/fuzz/fuzz-gguf-convert" --readers-only)
  if [[ " ${targets[*]} " == *" fuzz-mlir-syntax "* || " ${targets[*]} " == *" fuzz-bytecode "* ]]; then
    if [ ! -x "$tools_dir/qopt-import" ]; then
      echo "qopt fuzz: building qopt-import in $tools_dir/.. for the MLIR seeds"
      nice -n "$nice_level" cmake --build "$tools_dir/.." --target qopt-import
    fi
    seed_args=(--gguf-convert "$fuzz_dir/fuzz/fuzz-gguf-convert" --tools "$tools_dir")
  fi
  python3 "$root/fuzz/make_seeds.py" "$fuzz_dir/corpus-init" "${seed_args[@]}"
fi
[ "$run" = 1 ] || exit 0

export QOPT_FUZZ_FIXTURES="$fuzz_dir/corpus-init/fixtures"
# Inputs may be hostile to the allocator as well: a failed allocation is an
# error the code must handle, never a reason to commit gigabytes. Debian's
# LLVM and MLIR libraries are not instrumented, so manual poisoning by the
# LLVM headers inlined into qopt is ignored (as in the sanitizer suite).
export ASAN_OPTIONS="allow_user_poisoning=0:allocator_may_return_null=1:max_allocation_size_mb=4096:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

run_one() {
  local t="$1"
  local corpus="$fuzz_dir/corpus/$t" findings="$fuzz_dir/findings/$t"
  local log="$fuzz_dir/logs/$t.log"
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  local args=(-max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048
              -print_final_stats=1 -artifact_prefix="$findings/")
  [ "$execs" -gt 0 ] && args+=(-runs="$execs")
  local dict
  dict="$(dict_of "$t")"
  [ -n "$dict" ] && args+=(-dict="$root/fuzz/dicts/$dict.dict")
  if [ "$t" = fuzz-bytecode ]; then
    # Its child processes inherit libFuzzer's malloc hooks; their memory is
    # bounded by checkModuleInput (and ASan's max_allocation_size_mb).
    args+=(-rss_limit_mb=0 -malloc_limit_mb=0)
  fi
  local start=$SECONDS rc=0
  (cd "$findings" && nice -n "$nice_level" "$fuzz_dir/fuzz/$t" "${args[@]}" \
     "$corpus" "$fuzz_dir/corpus-init/seeds/$t") >"$log" 2>&1 || rc=$?
  local elapsed=$((SECONDS - start))
  local ran cov found
  ran="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)"
  found="$(find "$findings" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)"
  printf '%-24s %12s execs %6s s  cov %6s  findings %s  (exit %s)\n' \
    "$t" "${ran:-?}" "$elapsed" "${cov:-?}" "$found" "$rc"
  [ "$found" = 0 ] && [ "$rc" = 0 ]
}

mkdir -p "$fuzz_dir/logs"
status=0
if [ "$jobs" -gt 1 ]; then
  pids=()
  for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
    run_one "$t" > "$fuzz_dir/logs/$t.summary" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || status=1
    cat "$fuzz_dir/logs/${targets[$i]}.summary"
  done
else
  for t in "${targets[@]}"; do
    run_one "$t" || status=1
  done
fi
exit "$status"
