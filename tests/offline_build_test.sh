#!/usr/bin/env bash
# The build must never reach the network: no repository rule may download,
# and every external repository must be a local path. Checks the source tree
# that the WORKSPACE in the runfiles points back to.
set -euo pipefail
workspace=$(readlink -f "${TEST_SRCDIR}/${TEST_WORKSPACE}/WORKSPACE")
root=$(dirname "$workspace")
pattern='http_archive|http_file|http_jar|git_repository|new_git_repository|download_and_extract|ctx\.download|urls *=|url *=|remote_cache|remote_executor'
files=$(cd "$root" && find . -path ./bazel-\* -prune -o \( -name WORKSPACE -o -name 'BUILD' -o -name '*.bzl' -o -name '*.BUILD' -o -name '.bazelrc' \) -print)
[ -n "$files" ] || { echo "FAIL: found no build files under $root"; exit 1; }
bad=$(cd "$root" && grep -nE "$pattern" $files || true)
if [ -n "$bad" ]; then
  echo "FAIL: network dependencies in the build:"
  echo "$bad"
  exit 1
fi
# Every repository rule in the WORKSPACE names a local path.
rules=$(grep -cE '^(local_repository|new_local_repository)\(' "$workspace")
others=$(grep -E '^[a-z_]+\(' "$workspace" | grep -vcE '^(workspace|local_repository|new_local_repository)\(' || true)
if [ "$others" != "0" ]; then
  echo "FAIL: the WORKSPACE declares repository rules that are not local:"
  grep -E '^[a-z_]+\(' "$workspace" | grep -vE '^(workspace|local_repository|new_local_repository)\('
  exit 1
fi
echo "PASS: $(echo "$files" | wc -l) build files checked, $rules local repositories, nothing downloads"
