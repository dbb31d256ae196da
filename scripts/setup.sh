#!/usr/bin/env bash
#===- scripts/setup.sh - install dependencies, configure and build ---------===#
#
# Idempotent: installs what is missing (Debian 12 packages only), configures
# build/ against LLVM/MLIR 22 and builds everything. Environment:
#   QOPT_BUILD_DIR     build directory (default: build)
#   QOPT_BUILD_TYPE    CMake build type (default: Release)
#   QOPT_SANITIZE=1    ASan + UBSan build
#   QOPT_JOBS          parallel build jobs (default: nproc)
#   QOPT_BUILD_TARGET  what to build (default: all)
#
#===------------------------------------------------------------------------===#
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${QOPT_BUILD_DIR:-$root/build}"
build_type="${QOPT_BUILD_TYPE:-Release}"
jobs="${QOPT_JOBS:-$(nproc)}"

packages=(
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
  libeigen3-dev libgtest-dev libbenchmark-dev
  libomp-22-dev cmake ninja-build g++ python3 python3-numpy
  libsentencepiece-dev sentencepiece pkg-config clang-format-22
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "qopt setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "qopt setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

mlir_dir=/usr/lib/llvm-22/lib/cmake/mlir
[ -d "$mlir_dir" ] || { echo "qopt setup: $mlir_dir not found after installing libmlir-22-dev" >&2; exit 1; }

# ccache, when installed, makes rebuilds in several build directories cheap.
# It caches files compiled with a precompiled header (cmake/QOptPCH.cmake)
# only with the pch_defines and time_macros sloppiness.
launcher=()
if command -v ccache >/dev/null; then
  ccache_launcher="env;CCACHE_SLOPPINESS=pch_defines,time_macros;ccache"
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER="$ccache_launcher"
            -DCMAKE_CXX_COMPILER_LAUNCHER="$ccache_launcher")
fi

sanitize=OFF
[ "${QOPT_SANITIZE:-0}" = "1" ] && sanitize=ON

cmake -G Ninja -S "$root" -B "$build_dir" \
  -DCMAKE_BUILD_TYPE="$build_type" \
  -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ \
  -DMLIR_DIR="$mlir_dir" \
  -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
  -DQOPT_ENABLE_SANITIZERS="$sanitize" "${launcher[@]}" >/dev/null
cmake --build "$build_dir" -j "$jobs" --target "${QOPT_BUILD_TARGET:-all}"
