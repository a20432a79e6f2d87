// Tiny InternVideo models with random weights, written as native
// checkpoint folders with their own small BPE vocabulary: what the
// services' tests and `iv bench` serve (no trained weights are needed to
// check serving; the numbers are compared with the same model's direct
// forward).
#ifndef COMMON_MODEL_INTERNVIDEO_TESTING_TINY_CHECKPOINT_H_
#define COMMON_MODEL_INTERNVIDEO_TESTING_TINY_CHECKPOINT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "protos/model_config.pb.h"

namespace iv::model::testing {

// 32-pixel frames (patch 16), 4 frames per clip, 2 vision layers of width
// 64, 1 text layer, 32-dimensional embeddings, context length 16.
internvideo::v1::ModelConfig TinyModelConfig();

// TinyModelConfig() with every part the task services use: a masked
// encoder (VideoMAE, same frames and size, width 32, 1 layer), CMA
// projecting into the joint space, a caption decoder (1 layer), a
// localization head over 1 s windows every 0.25 s, a VQA head with
// SynthWorld's 23 answers, and SynthWorld's 10 actions as class_names.
internvideo::v1::ModelConfig TinyTaskModelConfig();

// Writes `config` (TinyModelConfig(), TinyTaskModelConfig() or a variant
// of them that keeps their text side) with weights drawn from `seed`, and
// vocab.txt, into `dir`. Different seeds give different embeddings.
absl::Status WriteTinyCheckpoint(
    const std::string& dir, uint64_t seed,
    const internvideo::v1::ModelConfig& config = TinyModelConfig());

}  // namespace iv::model::testing

#endif  // COMMON_MODEL_INTERNVIDEO_TESTING_TINY_CHECKPOINT_H_
