#!/usr/bin/env bash
# The project's main job, from a fresh Debian 12 machine: installs what is
# missing, builds everything, and runs what works end to end today.
# Later milestones grow this into the full demo (render a SynthWorld video
# library, serve iv-tiny, ingest, search).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "Installing missing Debian packages (tools/setup.sh)"
tools/setup.sh

step "Building every target offline (bazel build //...)"
bazel build //...
iv=bazel-bin/tools/iv/iv

step "iv version"
"$iv" version

step "iv --help"
"$iv" --help

cat <<MSG

Done. The iv tool is at $iv (try '$iv health --help').
Run the test suite with: tools/test.sh
MSG
