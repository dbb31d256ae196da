#!/usr/bin/env bash
#===- scripts/test.sh - every qopt test ------------------------------------===#
#
# Sets up and builds (scripts/setup.sh), then runs all suites through ctest:
# the lit suite (check-qopt), the runtime GoogleTest suite and the embedding
# test that builds a consumer against the installed package.
#
#===------------------------------------------------------------------------===#
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${QOPT_BUILD_DIR:-$root/build}"

"$root/scripts/setup.sh"
if [ "${QOPT_SANITIZE:-0}" = "1" ]; then
  # The instrumented code inlines LLVM headers that poison memory the
  # uninstrumented Debian libLLVM/libMLIR then touch legitimately: ignore
  # manual poisoning (real heap errors and leaks are still reported).
  export ASAN_OPTIONS="allow_user_poisoning=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  export UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
fi
ctest --test-dir "$build_dir" --output-on-failure "$@"
