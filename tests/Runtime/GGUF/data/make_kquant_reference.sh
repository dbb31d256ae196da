#!/usr/bin/env bash
#===- tests/Runtime/GGUF/data/make_kquant_reference.sh - K-quant vectors ---===#
#
# Builds make_kquant_reference.c against a llama.cpp checkout and CPU build
# and runs it to regenerate kquant-reference.gguf next to this script.
#
#   LLAMA_SRC     llama.cpp source tree (default /tmp/llama-src); the headers
#                 are taken from $LLAMA_SRC/ggml/include
#   LLAMA_BUILD   its CMake build (default /tmp/llama-build); libggml-base.so
#                 is taken from $LLAMA_BUILD/bin (and linked with an rpath)
#   LLAMA_VERSION the version string stored in the file; by default
#                 `git describe` of $LLAMA_SRC (with the full commit), else
#                 .qopt-perf-describe / .qopt-perf-rev in $LLAMA_SRC, else
#                 the Version of $LLAMA_BUILD/llama.pc
#   CC            the C compiler (default cc)
#   OUT           the output file (default kquant-reference.gguf here)
#
#===------------------------------------------------------------------------===#
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="${LLAMA_SRC:-/tmp/llama-src}"
build="${LLAMA_BUILD:-/tmp/llama-build}"
out="${OUT:-$here/kquant-reference.gguf}"
cc="${CC:-cc}"

die() {
  echo "make_kquant_reference: $*" >&2
  exit 1
}

[ -f "$src/ggml/include/ggml.h" ] && [ -f "$src/ggml/include/gguf.h" ] ||
  die "no llama.cpp headers in $src/ggml/include (set LLAMA_SRC to a llama.cpp checkout with ggml/include/gguf.h)"
libdir=""
for d in "$build/bin" "$build/ggml/src" "$build/lib"; do
  if [ -e "$d/libggml-base.so" ]; then
    libdir="$d"
    break
  fi
done
[ -n "$libdir" ] ||
  die "no libggml-base.so under $build (set LLAMA_BUILD to a llama.cpp build made with -DBUILD_SHARED_LIBS=ON)"
command -v "$cc" >/dev/null || die "C compiler '$cc' not found (set CC)"

version="${LLAMA_VERSION:-}"
if [ -z "$version" ] && git -C "$src" rev-parse HEAD >/dev/null 2>&1; then
  version="$(git -C "$src" describe --tags --always --dirty) ($(git -C "$src" rev-parse HEAD))"
fi
if [ -z "$version" ] && [ -f "$src/.qopt-perf-describe" ] && [ -f "$src/.qopt-perf-rev" ]; then
  version="$(tr -d '\n' <"$src/.qopt-perf-describe") ($(tr -d '\n' <"$src/.qopt-perf-rev"))"
fi
if [ -z "$version" ] && [ -f "$build/llama.pc" ]; then
  version="llama.pc $(sed -n 's/^Version: *//p' "$build/llama.pc")"
fi
[ -n "$version" ] || die "cannot tell the llama.cpp version of $src (set LLAMA_VERSION)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$cc" -std=c11 -O1 -Wall -Wextra -I"$src/ggml/include" \
  "$here/make_kquant_reference.c" -o "$tmp/make_kquant_reference" \
  -L"$libdir" -Wl,-rpath,"$libdir" -lggml-base -lm ||
  die "cannot build make_kquant_reference.c against $src and $libdir"
"$tmp/make_kquant_reference" "$version" "$out"
echo "make_kquant_reference: $(wc -c <"$out") bytes in $out"
