#!/usr/bin/env bash
# Runs the whole test suite on this machine: installs what is missing
# (tools/setup.sh), extracts the real-video test set where its repositories
# are fetched (tools/real_videos.sh), builds everything and runs every test
# with Bazel, then prints one summary line ("tests: N passed, N failed, N skipped").
# Extra arguments go to `bazel test` (e.g. --test_filter=...).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
tools/setup.sh || exit 1

# The real-video test set (tools/real_videos.sh): extracted when the source
# repositories are fetched; the test skips what is missing.
real_videos=${IV_REAL_VIDEOS:-$HOME/.cache/iv/real-videos}
tools/real_videos.sh "$real_videos" || true

bazel test --keep_going --test_env=IV_REAL_VIDEOS="$real_videos" //... "$@"
status=$?

# Count test cases from each test target's JUnit XML report; a target
# without a fresh report (it failed to build) counts as one failure.
passed=0 failed=0 skipped=0
for target in $(bazel query 'tests(//...)' 2>/dev/null); do
  path=${target#//}
  report="bazel-testlogs/${path/://}/test.xml"
  if [ ! -f "$report" ]; then
    failed=$((failed + 1))
    continue
  fi
  read -r cases failures skips < <(awk '
    /<testcase /        { cases++ }
    /<failure|<error /  { failures++ }
    /result="skipped"/  { skips++ }
    END { print cases+0, failures+0, skips+0 }' "$report")
  passed=$((passed + cases - failures - skips))
  failed=$((failed + failures))
  skipped=$((skipped + skips))
done
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
