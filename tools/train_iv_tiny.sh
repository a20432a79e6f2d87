#!/bin/bash
# Trains iv-tiny, the project's embedded default model, from this repository
# alone, on 2 CPU cores in about an hour: renders the SynthWorld it learns
# from, learns its tokenizer vocabulary, runs the stages of
# models/iv-tiny/recipes (masked encoder -> multimodal encoder -> CMA ->
# caption decoder -> localization head -> VQA head), evaluates every task on
# the test splits and writes the model folder.
#
#   tools/train_iv_tiny.sh [OUT]     OUT defaults to models/iv-tiny
#
# Environment: IV_TINY_WORK (working folder, default /tmp/iv-tiny; a rerun
# skips what it finds finished there), IV_BIN (an iv binary; default: built
# with Bazel).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
recipes=$repo/models/iv-tiny/recipes
out=$(realpath -m "${1:-$repo/models/iv-tiny}")
work=${IV_TINY_WORK:-/tmp/iv-tiny}
iv=${IV_BIN:-}
if [ -z "$iv" ]; then
  (cd "$repo" && bazel build //tools/iv:iv)
  iv=$repo/bazel-bin/tools/iv/iv
fi
iv=$(realpath "$iv")
mkdir -p "$work" && cd "$work"
start=$SECONDS
say() { printf '\n== %s (%d min in)\n' "$*" $(((SECONDS - start) / 60)); }

# The world: 3,000 / 300 / 300 trimmed clips of 64x64 (seed 7) and, from
# another seed, untrimmed videos for the localization head. Each stage also
# trains on the same training events rendered as real videos differ
# (`--variety`: 16 or 25 fps, H.264, VP9, MPEG-4 and MJPEG at several
# compressions, noise, background, contrast, brightness and uneven light;
# sides 64..96 to keep decoding cheap, the model reads 64), the augmentation
# that holds the model on files it was not rendered for. The variety test
# splits (sides 96..224) measure that.
synth() {
  local out=$1
  shift
  if [ ! -f "$out/world.json" ]; then
    say "rendering $out"
    rm -rf "$out"
    "$iv" synth --out "$out" "$@"
  fi
}
synth world --seed 7 --size 64 --train 3000 --val 300 --test 300 \
  --untrimmed-test 0
synth variety_train --seed 7 --variety --variety-sizes 64 96 --train 3000 \
  --val 0 --test 0 --untrimmed-test 0
synth variety --seed 7 --variety --train 0 --val 0 --test 300 \
  --untrimmed-test 0
synth untrimmed --seed 8 --size 64 --train 0 --val 0 --test 0 \
  --untrimmed-train 400 --untrimmed-val 40 --untrimmed-test 30
synth untrimmed_variety_train --seed 8 --variety --variety-sizes 64 96 \
  --train 0 --val 0 --test 0 --untrimmed-train 200 --untrimmed-test 0
synth untrimmed_variety --seed 8 --variety --train 0 --val 0 --test 0 \
  --untrimmed-test 30
if [ ! -f vocab/bpe_vocab.txt ]; then
  say "learning the tokenizer vocabulary"
  "$iv" vocab --manifest world/train.jsonl --size 1024 --out vocab
fi
# 514 byte and special tokens + one per merge line after the header.
vocab_size=$(($(grep -vc '^#' vocab/bpe_vocab.txt) + 514))

# A stage's recipe: the model parts it needs, then its objective and data.
# The caption decoder reads the multimodal encoder's tokens up to stage 3 and
# CMA's coordinated tokens (a new decoder, trained in stage 4) after it.
caption_decoder_features=FEATURE_SOURCE_MULTIMODAL_ENCODER
recipe() {
  local stage=$1
  shift
  {
    echo "name: \"iv-tiny-$stage\""
    echo "output_dir: \"runs/$stage\""
    echo 'model {'
    echo '  name: "iv-tiny"'
    echo '  class_names: ["move_left", "move_right", "move_up", "move_down",'
    echo '    "rotate_clockwise", "rotate_counterclockwise", "grow", "shrink",'
    echo '    "appear", "disappear"]'
    for part in "$@"; do cat "$recipes/$part.textproto"; done
    echo '}'
    cat "$recipes/$stage.textproto"
  } | sed -e "s/@VOCAB_SIZE@/$vocab_size/" \
    -e "s/@CAPTION_DECODER_FEATURES@/$caption_decoder_features/" \
    >"$stage.textproto"
}
# Trains a stage (resuming if interrupted) and points runs/STAGE/final at
# its last checkpoint.
train() {
  local stage=$1
  say "stage $stage"
  "$iv" train "$stage.textproto"
  local last
  last=$(ls -d "runs/$stage/checkpoints"/step-* | sort | tail -1)
  ln -sfn "$(realpath "$last")" "runs/$stage/final"
}

recipe 1_recognition masked_encoder attribute_head
train 1_recognition
recipe 2_multimodal multimodal_encoder
train 2_multimodal
recipe 3_cma masked_encoder multimodal_encoder coordination
train 3_cma
caption_decoder_features=FEATURE_SOURCE_CMA
for stage in 4_captioning 5_localization 6_vqa; do
  recipe $stage masked_encoder multimodal_encoder coordination
  train $stage
done

say "writing $out"
mkdir -p "$out"
final=runs/6_vqa/final
for file in model.safetensors model_config.textproto bpe_vocab.txt; do
  cp "$final/$file" "$out/$file"
done
# The checkpoint's CRC-32 lines of the files kept.
grep -E ' (model\.safetensors|model_config\.textproto|bpe_vocab\.txt)$' \
  "$final/CHECKSUMS" >"$out/CHECKSUMS"

say "evaluating on the test splits, plain and varied"
# Every task's metrics on a split's clips and videos, a line each.
evaluate() {
  local clips=$1 videos=$2
  for task in recognition retrieval vqa caption; do
    "$iv" eval --checkpoint "$out" --manifest "$clips" --task $task | tail -1
  done
  "$iv" eval --checkpoint "$out" --manifest "$clips" \
    --task recognition --single-frame | tail -1 |
    sed 's/"task":"recognition"/"task":"recognition_single_frame"/'
  "$iv" eval --checkpoint "$out" --manifest "$videos" \
    --task localization | tail -1
}
{
  evaluate world/test.jsonl untrimmed/test_untrimmed.jsonl |
    sed 's/^{/{"split":"plain",/'
  evaluate variety/test.jsonl untrimmed_variety/test_untrimmed.jsonl |
    sed 's/^{/{"split":"variety",/'
} | tee metrics.jsonl
say "done: $out ($(du -sh "$out" | cut -f1)); metrics in $work/metrics.jsonl"
