#!/usr/bin/env bash
# The project's main job, from a fresh Debian 12 machine: installs what is
# missing, builds everything, and runs what works end to end today: renders a
# small SynthWorld video library, looks at it, and samples frames from it.
# Later milestones grow this into the full demo (serve iv-tiny, ingest,
# search). Output goes to ${IV_QUICKSTART_DIR:-/tmp/iv-quickstart}.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "Installing missing Debian packages (tools/setup.sh)"
tools/setup.sh

step "Building every target offline (bazel build //...)"
bazel build //...
iv=bazel-bin/tools/iv/iv

out=${IV_QUICKSTART_DIR:-/tmp/iv-quickstart}

step "iv version"
"$iv" version

step "Rendering a SynthWorld library (iv synth) into $out"
"$iv" synth --out "$out" --seed 1 --train 120 --val 20 --test 20 \
  --untrimmed-test 4 --preview
head -n 3 "$out/preview.txt"

step "Probing one clip (iv video probe)"
"$iv" video probe "$out/clips/train_00000.mp4"

step "Sampling 8 frames the way a model sees them (iv video sample)"
"$iv" video sample "$out/untrimmed/test_000.mp4" --num-frames 8 \
  --out "$out/sample.safetensors"

cat <<MSG

Done. Look at $out/preview.png (one clip per row, time left to right) and
$out/train.jsonl (captions, questions, labels).
The iv tool is at $iv: try '$iv --help'.
Run the test suite with: tools/test.sh
MSG
