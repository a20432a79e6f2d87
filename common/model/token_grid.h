// How many tokens a clip is cut into along time, height and width: tubelets
// for the masked encoder, frames x patches for the multimodal encoder.
#ifndef COMMON_MODEL_TOKEN_GRID_H_
#define COMMON_MODEL_TOKEN_GRID_H_

#include <cstdint>

namespace iv::model {

// Tokens are laid out time-major: token (t, h, w) is number
// (t * height + h) * width + w.
struct TokenGrid {
  int64_t time = 0;
  int64_t height = 0;
  int64_t width = 0;

  int64_t per_slice() const { return height * width; }
  int64_t size() const { return time * per_slice(); }
};

}  // namespace iv::model

#endif  // COMMON_MODEL_TOKEN_GRID_H_
