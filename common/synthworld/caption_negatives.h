// Hard negative captions for video-text contrastive training on SynthWorld,
// after NegCLIP (Yuksekgonul et al., ICLR 2023): a clip's own caption with
// one attribute of its actor changed. A batch of random clips rarely holds
// two that differ in only the actor's color, or only the direction of time,
// so plain InfoNCE never asks the video embedding for those distinctions;
// these captions do, and retrieval is judged on exactly them.
#ifndef COMMON_SYNTHWORLD_CAPTION_NEGATIVES_H_
#define COMMON_SYNTHWORLD_CAPTION_NEGATIVES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/data/manifest.h"

namespace iv::synthworld {

// `caption` (one of `clip`'s) with, in turn, the actor's color replaced by
// another color, its shape by another shape (both drawn from `seed`), and
// its action's phrase by the canonical phrase of the time-reversed twin.
// Only the first mention is changed (captions name the actor first); an
// attribute the caption does not mention gives no negative, so 0 to 3 come
// back. Words outside SynthWorld's vocabulary give none.
std::vector<std::string> AttributeSwappedCaptions(const data::TrimmedClip& clip,
                                                  const std::string& caption,
                                                  uint64_t seed);

}  // namespace iv::synthworld

#endif  // COMMON_SYNTHWORLD_CAPTION_NEGATIVES_H_
