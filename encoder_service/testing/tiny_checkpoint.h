// A tiny multimodal InternVideo model with random weights, written as a
// native checkpoint folder with its own small BPE vocabulary: what the
// encoder service's tests and `iv bench embed` serve (no trained weights
// are needed to check serving; the numbers are compared with the same
// model's direct forward).
#ifndef ENCODER_SERVICE_TESTING_TINY_CHECKPOINT_H_
#define ENCODER_SERVICE_TESTING_TINY_CHECKPOINT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "protos/model_config.pb.h"

namespace iv::encoder::testing {

// 32-pixel frames (patch 16), 4 frames per clip, 2 vision layers of width
// 64, 1 text layer, 32-dimensional embeddings, context length 16.
internvideo::v1::ModelConfig TinyModelConfig();

// Writes `config` (TinyModelConfig() or a variant of it that keeps its text
// side) with weights drawn from `seed`, and vocab.txt, into `dir`.
// Different seeds give different embeddings.
absl::Status WriteTinyCheckpoint(
    const std::string& dir, uint64_t seed,
    const internvideo::v1::ModelConfig& config = TinyModelConfig());

}  // namespace iv::encoder::testing

#endif  // ENCODER_SERVICE_TESTING_TINY_CHECKPOINT_H_
