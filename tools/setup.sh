#!/usr/bin/env bash
# Installs exactly the Debian 12 packages this project builds and runs with.
# Idempotent: installs only what is missing, and does nothing (no root, no
# network) when everything is there. Exits non-zero with the reason when it
# cannot install.
set -euo pipefail

packages=(
  # Build: Bazel 4.2.3 and the rule sets it needs offline, a C++17 compiler.
  bazel-bootstrap bazel-platforms bazel-skylib bazel-rules-java g++
  # LibTorch (CPU) and a fast BLAS under it: without OpenBLAS, Debian's
  # LibTorch resolves libblas.so.3 to the reference BLAS and runs ~50x slower.
  libtorch-dev libopenblas0-openmp libopenblas-dev
  # Gloo's headers, which LibTorch's c10d ProcessGroupGloo header includes
  # (data-parallel training over CPU).
  libgloo-dev
  # gRPC, Protobuf, Abseil.
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev
  # Storage and search.
  librocksdb-dev libfaiss-dev
  # Video.
  libavcodec-dev libavformat-dev libswscale-dev libavutil-dev ffmpeg
  # Serving, command line, tests and benchmarks.
  prometheus-cpp-dev libcpp-httplib-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev openssl
  # Independent reference implementations that tests check the C++ against.
  python3 python3-numpy
  # PyTorch for Python: its torch.save makes the official-format checkpoints
  # that tests read, as the independent reference.
  python3-torch
  # Pillow and OpenCV: the official pipelines resize 8-bit frames with them
  # (common/video/image_resize.h matches them pixel for pixel).
  python3-pil python3-opencv
  # The `regex` module: the Unicode classes (\p{L}, \p{N}) of the CLIP
  # tokenizer's word pattern, in its independent reference.
  python3-regex
  # Text: Unicode properties and normalization (ICU), gzip (zlib) for the
  # CLIP tokenizer and its vocabulary file.
  libicu-dev zlib1g-dev
  # Fuzzing (tools/fuzz.sh): clang, and its libFuzzer and sanitizer
  # runtimes.
  clang libclang-rt-14-dev
)

say() { printf 'setup: %s\n' "$*" >&2; }

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
      grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    say "cannot install ${missing[*]}: this needs Debian 12 with apt-get."
    exit 1
  fi
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo)
    else
      say "cannot install ${missing[*]}: run as root (sudo $0)."
      exit 1
    fi
  fi
  say "installing ${#missing[@]} packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq ||
    { say "apt-get update failed; check the package sources."; exit 1; }
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null ||
    { say "apt-get install failed for: ${missing[*]}"; exit 1; }
fi

# The OpenBLAS package switches libblas.so.3 to itself; make sure nothing
# switched it back.
blas=$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null |
  sed -n 's/^Value: //p')
case "$blas" in
  *openblas*) ;;
  *)
    say "libblas.so.3 is '${blas:-unset}', not OpenBLAS: LibTorch would be ~50x slower."
    openblas=$(update-alternatives --list libblas.so.3-x86_64-linux-gnu 2>/dev/null |
      grep openblas | head -n 1 || true)
    if [ -n "$openblas" ] && [ "$(id -u)" -eq 0 ]; then
      update-alternatives --set libblas.so.3-x86_64-linux-gnu "$openblas"
      say "switched libblas.so.3 to $openblas"
    else
      say "run as root: update-alternatives --config libblas.so.3-x86_64-linux-gnu"
      exit 1
    fi
    ;;
esac
say "all ${#packages[@]} packages present."
