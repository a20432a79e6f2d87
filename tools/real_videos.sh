#!/usr/bin/env bash
# Extracts the real-video test set: videos none of us made, from the test
# data and demos of public repositories, into DEST (default
# $IV_REAL_VIDEOS, else ~/.cache/iv/real-videos). Each source repository is
# a git directory: REPOS_DIR/<owner>+<name>/repo (default /work/.mirror, as
# the project's fetch tool leaves them) or a clone named by the environment
# (IV_REPO_open_mmlab_mmaction2=/path/to/mmaction2/.git, ...). Files whose
# repository is absent are skipped with a note; the tests that read DEST
# skip what is missing. Nothing is committed: the files stay in DEST.
#   tools/real_videos.sh [DEST]
set -euo pipefail

dest=${1:-${IV_REAL_VIDEOS:-$HOME/.cache/iv/real-videos}}
repos_dir=${REPOS_DIR:-/work/.mirror}
mkdir -p "$dest"

# name in DEST | repository | path in it | what it is
videos=(
  "mmaction2_demo.mp4|open-mmlab/mmaction2|demo/demo.mp4|H.264 340x256, 28 fps"
  "mmaction2_test.avi|open-mmlab/mmaction2|tests/data/test.avi|MPEG-4 part 2 320x240 with MP3 audio"
  "mmaction2_test.mp4|open-mmlab/mmaction2|tests/data/test.mp4|H.264 340x256, 30 fps"
  "mmaction2_skeleton_1080p.avi|open-mmlab/mmaction2|tools/data/skeleton/S001C001P001R001A001_rgb.avi|H.264 1920x1080 in AVI"
  "internvid_example1.mp4|OpenGVLab/InternVideo|Data/InternVid/example1.mp4|InternVid's example clip"
)

found=0
for entry in "${videos[@]}"; do
  IFS='|' read -r name repo path what <<<"$entry"
  variable="IV_REPO_$(printf '%s' "$repo" | tr '/.-' '___')"
  git_dir=${!variable:-$repos_dir/${repo/\//+}/repo}
  if [ -f "$dest/$name" ]; then
    found=$((found + 1))
    continue
  fi
  if ! git --git-dir="$git_dir" cat-file -e "HEAD:$path" 2>/dev/null; then
    echo "real_videos: skipped $name: no $repo at $git_dir (fetch it, or set $variable)" >&2
    continue
  fi
  git --git-dir="$git_dir" cat-file -p "HEAD:$path" >"$dest/.$name"
  mv "$dest/.$name" "$dest/$name"
  echo "real_videos: $name <- $repo:$path ($what)" >&2
  found=$((found + 1))
done
echo "real_videos: $found of ${#videos[@]} videos in $dest" >&2
