#!/bin/bash
# Builds the model library (common/model/{videomae,multimodal,cma}) and the
# encoder benchmark with plain g++ against any LibTorch, without Bazel: the
# GPU machines have a CUDA PyTorch 2.x wheel (a full C++ LibTorch inside)
# but no Bazel, Abseil or Protobuf. The modules build from config_types.h's
# plain structs; only config.cc (typed-config resolution) needs Protobuf and
# is left out.
#
#   tools/gpu/build.sh            # -> build/gpu/encoder_benchmark, libiv_model.a
#   build/gpu/encoder_benchmark --python python3 --batch 32 --iters 10
#                                 # CUDA when available; --python: the torch to compare with
#
# LibTorch is $LIBTORCH (a folder with include/ and lib/), else the torch
# package of $PYTHON (default python3), else Debian's (/usr). BUILD_DIR
# changes the output folder, JOBS the parallel compiles.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
BUILD_DIR=${BUILD_DIR:-build/gpu}
JOBS=${JOBS:-$(nproc)}

abi=1
if [[ -n "${LIBTORCH:-}" ]]; then
  root=$LIBTORCH
elif root=$("$PYTHON" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null); then
  abi=$("$PYTHON" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
else
  root=/usr
fi

cxxflags=(-std=c++17 -O2 -fPIC -DNDEBUG "-D_GLIBCXX_USE_CXX11_ABI=$abi" -I.)
if [[ -d "$root/include/torch" ]]; then
  cxxflags+=(-isystem "$root/include" -isystem "$root/include/torch/csrc/api/include")
else  # Debian's python3-torch: headers under /usr/include
  cxxflags+=(-isystem /usr/include/torch/csrc/api/include)
fi
libdir=$root/lib
[[ -e "$libdir/libtorch_cpu.so" ]] || libdir=$(dirname "$(ldconfig -p | awk '/libtorch_cpu.so / {print $NF; exit}')")
ldflags=(-L"$libdir" -Wl,-rpath,"$libdir")
# libtorch_cuda registers CUDA from static initializers: link it even though
# no symbol of it is referenced.
if [[ -e "$libdir/libtorch_cuda.so" ]]; then
  ldflags+=(-Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed)
fi
ldflags+=(-ltorch -ltorch_cpu -lc10 -pthread)

version=$(printf '#include <torch/version.h>\nTORCH_VERSION\n' |
  ${CXX:-g++} "${cxxflags[@]}" -E -P -x c++ - 2>/dev/null | tail -1 | tr -d '"')
echo "LibTorch ${version:-?} from $root (libraries $libdir, C++11 ABI $abi)"

sources=()
for dir in common/model/videomae common/model/multimodal common/model/cma; do
  for file in "$dir"/*.cc; do
    case "$file" in
      */config.cc | *_test.cc) ;;
      *) sources+=("$file") ;;
    esac
  done
done
sources+=(common/model/conv_stem.cc common/video/transforms.cc tools/bench/encoder_benchmark.cc)

mkdir -p "$BUILD_DIR/obj"
export CXX=${CXX:-g++}
printf '%s\n' "${sources[@]}" | xargs -P "$JOBS" -I{} sh -c '
  obj="$0/obj/$(echo "{}" | tr / _).o"
  if [ ! -e "$obj" ] || [ "{}" -nt "$obj" ] || [ -n "$(find $(dirname {}) tools/bench -name "*.h" -newer "$obj" | head -1)" ]; then
    echo "  CXX {}"; $CXX "$@" -c "{}" -o "$obj"
  fi' "$BUILD_DIR" "${cxxflags[@]}"

objects=()
for file in "${sources[@]}"; do objects+=("$BUILD_DIR/obj/$(echo "$file" | tr / _).o"); done
rm -f "$BUILD_DIR/libiv_model.a"
ar rcs "$BUILD_DIR/libiv_model.a" "${objects[@]}"
echo "  LINK $BUILD_DIR/encoder_benchmark"
$CXX "${cxxflags[@]}" tools/bench/encoder_benchmark_main.cc "$BUILD_DIR/libiv_model.a" \
  "${ldflags[@]}" -o "$BUILD_DIR/encoder_benchmark"
echo "built $BUILD_DIR/encoder_benchmark and $BUILD_DIR/libiv_model.a"
