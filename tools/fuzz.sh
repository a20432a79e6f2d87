#!/usr/bin/env bash
# Builds every libFuzzer target of //fuzz with clang, ASan and UBSan
# (--config=fuzz, in an output base of its own so that it leaves the gcc
# build alone) and runs each for SECONDS (default 60) from a copy of its
# corpus (fuzz/corpus/<name>/). Prints, per target, the inputs executed and
# whether it found anything; exits non-zero on any finding, leaving the
# input that triggered it, and the target's log, under fuzz-findings/<name>/.
#   tools/fuzz.sh [SECONDS] [NAME...]   e.g. tools/fuzz.sh 3600 safetensors
#   tools/fuzz.sh --runs N [NAME...]    N inputs each from seed 1: the same
#                                       inputs every time (what CI runs, so
#                                       that its verdict is reproducible)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

if [ "${1:-}" = "--runs" ]; then
  runs_asked=${2:?--runs needs a count}
  shift 2
  budget=(-runs="$runs_asked" -seed=1)
  budget_text="from seed 1"
else
  seconds=${1:-60}
  shift || true
  budget=(-max_total_time="$seconds")
  budget_text="in ${seconds}s"
fi
output_base=${FUZZ_OUTPUT_BASE:-$HOME/.cache/bazel-fuzz}
findings=${FUZZ_FINDINGS:-$PWD/fuzz-findings}

tools/setup.sh || exit 1

if [ $# -gt 0 ]; then
  names=("$@")
else
  names=()
  for source in fuzz/*_fuzzer.cc; do
    name=${source#fuzz/}
    names+=("${name%_fuzzer.cc}")
  done
fi
targets=()
for name in "${names[@]}"; do
  if [ ! -f "fuzz/${name}_fuzzer.cc" ]; then
    echo "fuzz: no target $name (fuzz/${name}_fuzzer.cc)" >&2
    exit 1
  fi
  targets+=("//fuzz:${name}_fuzzer")
done

# Only the targets asked for: the model-free ones build without the model
# library (CI runs just those).
bazel=(bazel --output_base="$output_base")
"${bazel[@]}" build --config=fuzz "${targets[@]}" || exit 1
bin=$("${bazel[@]}" info --config=fuzz bazel-bin 2>/dev/null) || exit 1

# A UBSan report is a finding too; leaks of one input are (LeakSanitizer
# runs after each input; fuzz/lsan.supp lists known ones of other libraries),
# ODR checks are not (Debian's libraries trip them).
export ASAN_OPTIONS=detect_odr_violation=0:${ASAN_OPTIONS:-}
export LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp:${LSAN_OPTIONS:-}
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
for name in "${names[@]}"; do
  corpus="$work/$name/corpus"
  artifacts="$work/$name/artifacts"
  mkdir -p "$corpus" "$artifacts"
  cp -r "fuzz/corpus/$name/." "$corpus/"
  flags=("${budget[@]}" -rss_limit_mb=4096 -timeout=10
         -print_final_stats=1 -artifact_prefix="$artifacts/")
  [ -f "fuzz/dicts/$name.dict" ] && flags+=(-dict="fuzz/dicts/$name.dict")
  log="$work/$name/log"
  "$bin/fuzz/${name}_fuzzer" "${flags[@]}" "$corpus" >"$log" 2>&1
  status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ "$status" -eq 0 ] && [ -z "$(ls -A "$artifacts")" ]; then
    echo "fuzz: $name: ${runs:-?} inputs ${budget_text}, no finding"
  else
    failed=1
    mkdir -p "$findings/$name"
    cp "$artifacts"/* "$log" "$findings/$name/" 2>/dev/null
    echo "fuzz: $name: FINDING after ${runs:-?} inputs (exit $status):" \
      "$findings/$name/"
    grep -m 3 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" |
      sed 's/^/fuzz:   /'
  fi
done
exit "$failed"
