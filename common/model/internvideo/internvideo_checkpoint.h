// Loading a trained InternVideo model for inference: a native checkpoint
// folder of arch "internvideo" (what the trainer writes) with its tokenizer,
// whose vocabulary the config names relative to the folder.
#ifndef COMMON_MODEL_INTERNVIDEO_INTERNVIDEO_CHECKPOINT_H_
#define COMMON_MODEL_INTERNVIDEO_INTERNVIDEO_CHECKPOINT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/model/internvideo/internvideo_model.h"
#include "common/text/clip_tokenizer.h"

namespace iv::model {

struct LoadedInternVideo {
  InternVideoModel model{nullptr};                 // in eval mode
  std::unique_ptr<text::ClipTokenizer> tokenizer;  // null without text
  std::string path;
};

// Loads a trained InternVideo model, or one part of it that `iv model
// import` wrote under the official names (videomae-vit-*: the masked
// encoder; internvideo-mm-*: the multimodal encoder and its caption
// decoder). NOT_FOUND / DATA_LOSS naming the file when the folder is
// incomplete or corrupt; INVALID_ARGUMENT when it holds another arch or its
// weights do not fit its config.
absl::StatusOr<LoadedInternVideo> LoadInternVideo(const std::string& dir);

}  // namespace iv::model

#endif  // COMMON_MODEL_INTERNVIDEO_INTERNVIDEO_CHECKPOINT_H_
