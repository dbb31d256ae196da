#!/usr/bin/env bash
#===- scripts/check-format.sh - clang-format check of the C/C++ sources ----===#
#
# Checks every tracked C/C++ source against .clang-format (LLVM style) with
# Debian's clang-format-22 (installed by scripts/setup.sh): the formatter's
# output differs between versions, so the check pins one. Prints each file
# that is not formatted and exits 1; `--fix` formats them in place instead.
# Outside a git checkout it checks the same extensions found under the tree.
#
#===------------------------------------------------------------------------===#
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
formatter="${QOPT_CLANG_FORMAT:-clang-format-22}"
command -v "$formatter" >/dev/null || {
  echo "qopt check-format: $formatter not found (scripts/setup.sh installs clang-format-22)" >&2
  exit 2
}

patterns=('*.cpp' '*.h' '*.c')
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- "${patterns[@]}")
else
  mapfile -t files < <(find . -path './build*' -prune -o \
    \( -name '*.cpp' -o -name '*.h' -o -name '*.c' \) -type f -print | sed 's|^\./||')
fi

if [ "${1:-}" = "--fix" ]; then
  printf '%s\0' "${files[@]}" | xargs -0 -n 32 -P "$(nproc)" "$formatter" -i --style=file
  exit 0
fi

bad=()
for f in "${files[@]}"; do
  if ! "$formatter" --style=file "$f" | cmp -s - "$f"; then
    bad+=("$f")
  fi
done
if [ "${#bad[@]}" -gt 0 ]; then
  echo "qopt check-format: ${#bad[@]} file(s) differ from clang-format (run scripts/check-format.sh --fix):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "qopt check-format: ${#files[@]} files formatted"
