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
ctest --test-dir "$build_dir" --output-on-failure "$@"
