#!/usr/bin/env bash
#===- scripts/test.sh - every qopt test ------------------------------------===#
#
# Sets up and builds (scripts/setup.sh), then runs all suites through ctest:
# the lit suite (check-qopt), the runtime GoogleTest suite and the embedding
# test that builds a consumer against the installed package; then the
# sanitizer suite in build-asan (below).
#
#===------------------------------------------------------------------------===#
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${QOPT_BUILD_DIR:-$root/build}"

"$root/scripts/setup.sh"
# The sources follow .clang-format (LLVM style); a file that does not fails
# the run before any suite starts.
"$root/scripts/check-format.sh"
if [ "${QOPT_SANITIZE:-0}" = "1" ]; then
  # The instrumented code inlines LLVM headers that poison memory the
  # uninstrumented Debian libLLVM/libMLIR then touch legitimately: ignore
  # manual poisoning (real heap errors and leaks are still reported).
  export ASAN_OPTIONS="allow_user_poisoning=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  export UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
fi
# Suites run side by side (-j): the lit suites spread over the cores
# themselves, and the single-threaded GoogleTest binaries fill the gaps.
jobs="$(nproc 2>/dev/null || echo 2)"
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" "$@"

# The sanitizer suite (docs/hardening.md), built with ASan + UBSan in a
# second build directory: the unit tests of the readers and the runtime, the
# whole lit suite (qopt-opt with --verify-each, qopt-import, qopt-run's
# checks, hostile inputs) and an end-to-end smoke of qopt-run on
# stories260K. Set QOPT_SANITIZER_SUITE=0 to skip it; a full sanitizer
# build (QOPT_SANITIZE=1) runs everything instrumented already.
if [ "${QOPT_SANITIZER_SUITE:-1}" = "1" ] && [ "${QOPT_SANITIZE:-0}" != "1" ]; then
  asan_dir="${QOPT_ASAN_BUILD_DIR:-$root/build-asan}"
  start=$SECONDS
  QOPT_BUILD_DIR="$asan_dir" QOPT_SANITIZE=1 \
    QOPT_BUILD_TARGET=qopt-sanitizer-suite "$root/scripts/setup.sh"
  ASAN_OPTIONS="allow_user_poisoning=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
  UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" \
    ctest --test-dir "$asan_dir" --output-on-failure -j "$jobs" -L sanitizer-suite
  echo "qopt test: sanitizer suite built and passed in $((SECONDS - start)) s"
fi
