#!/usr/bin/env bash
# Runs the service tests (and the hostile-input suite) under AddressSanitizer
# and UndefinedBehaviorSanitizer: `bazel test --config=asan` in an output base
# of its own, so the regular build's outputs stay as they are. Extra arguments
# go to `bazel test`; without targets, the default set below runs.
#   tools/asan_test.sh                       # every service test
#   tools/asan_test.sh //index_service:all   # just these
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh

targets=()
flags=()
for arg in "$@"; do
  case "$arg" in
    //*) targets+=("$arg") ;;
    *) flags+=("$arg") ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  targets=(
    //common/serving:all //common/video:all //common/text:all
    //common/safetensors:all //encoder_service:all //index_service:all
    //task_service:all //captioner:all //trainer/service:all
    //tests:hostile_input_test
  )
fi
exec bazel --output_base="${HOME}/.cache/bazel-asan" test --config=asan \
  "${flags[@]}" "${targets[@]}"
