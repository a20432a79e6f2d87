#include "common/model/internvideo/testing/tiny_checkpoint.h"

#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/files/atomic_file.h"
#include "common/model/checkpoint/native_checkpoint.h"
#include "common/model/internvideo/internvideo_model.h"
#include "common/synthworld/vocabulary.h"
#include "common/text/bpe_trainer.h"
#include "common/text/clip_tokenizer.h"

namespace iv::model::testing {
namespace {

constexpr char kVocabFile[] = "vocab.txt";
// 2 * 256 byte symbols + 40 merges + start and end of text.
constexpr int kMerges = 40;
constexpr int kVocabSize = 2 * 256 + kMerges + 2;

}  // namespace

internvideo::v1::ModelConfig TinyModelConfig() {
  internvideo::v1::ModelConfig config;
  config.set_name("iv-test-tiny");
  internvideo::v1::MultimodalEncoderConfig& encoder =
      *config.mutable_multimodal_encoder();
  encoder.set_preset("tiny");
  encoder.set_embed_dim(32);
  internvideo::v1::MultimodalVisionConfig& vision = *encoder.mutable_vision();
  vision.set_input_resolution(32);
  vision.set_patch_size(16);
  vision.set_width(64);
  vision.set_layers(2);
  vision.set_heads(2);
  vision.set_num_frames(4);
  vision.mutable_global_branch()->set_n_layers(1);
  internvideo::v1::TextEncoderConfig& text = *encoder.mutable_text();
  text.set_context_length(16);
  text.set_vocab_size(kVocabSize);
  text.set_width(64);
  text.set_heads(2);
  text.set_layers(1);
  encoder.mutable_tokenizer()->set_vocab_path(kVocabFile);
  return config;
}

internvideo::v1::ModelConfig TinyTaskModelConfig() {
  internvideo::v1::ModelConfig config = TinyModelConfig();
  config.set_name("iv-test-tiny-task");
  for (const synthworld::ActionInfo& action : synthworld::Actions()) {
    config.add_class_names(std::string(action.name));
  }
  const internvideo::v1::MultimodalVisionConfig& vision =
      config.multimodal_encoder().vision();
  internvideo::v1::MaskedVideoEncoderConfig& masked =
      *config.mutable_masked_encoder();
  masked.set_preset("tiny");
  masked.set_img_size(vision.input_resolution());
  masked.set_patch_size(vision.patch_size());
  masked.set_num_frames(vision.num_frames());
  masked.set_tubelet_size(2);
  masked.set_embed_dim(32);
  masked.set_depth(1);
  masked.set_num_heads(2);
  config.mutable_cma()->set_num_blocks(1);
  config.mutable_cma()->set_video_projection(true);
  internvideo::v1::CaptionDecoderConfig& decoder =
      *config.mutable_multimodal_encoder()->mutable_caption_decoder();
  decoder.set_layers(1);
  decoder.set_max_length(config.multimodal_encoder().text().context_length());
  // 1 s windows: 16 SynthWorld frames, enough for the 4 a clip takes.
  internvideo::v1::LocalizationHeadConfig& localization =
      *config.mutable_localization_head();
  localization.mutable_feature_window()->set_window_s(1.0);
  localization.mutable_feature_window()->set_stride_s(0.25);
  localization.set_width(16);
  localization.set_layers(1);
  localization.set_heads(2);
  internvideo::v1::VqaHeadConfig& vqa = *config.mutable_vqa_head();
  vqa.set_layers(1);
  for (absl::string_view answer : synthworld::Answers()) {
    vqa.add_answers(std::string(answer));
  }
  return config;
}

absl::Status WriteTinyCheckpoint(const std::string& dir, uint64_t seed,
                                 const internvideo::v1::ModelConfig& config) {
  const std::vector<std::string> corpus = {
      "a red circle moves left", "a blue square rotates clockwise",
      "a green triangle grows", "a yellow star moves right and shrinks"};
  absl::StatusOr<std::string> merges = text::TrainBpe(corpus, kMerges);
  if (!merges.ok()) return merges.status();
  model::NativeCheckpoint checkpoint;
  checkpoint.arch = model::kInternVideoArch;
  checkpoint.config = config;
  absl::StatusOr<model::InternVideoConfig> resolved =
      model::ResolveInternVideoConfig(config);
  if (!resolved.ok()) return resolved.status();
  torch::manual_seed(seed);
  model::InternVideoModel model(*resolved);
  checkpoint.weights = model::StateDict(*model);
  checkpoint.metadata[model::kSourceMetadata] =
      absl::StrCat("random weights, seed ", seed);
  // The vocabulary first: the config, written last, marks the folder
  // complete.
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (absl::Status s = files::WriteFileAtomically(
          absl::StrCat(dir, "/", kVocabFile), *merges);
      !s.ok()) {
    return s;
  }
  return model::WriteNativeCheckpoint(dir, checkpoint);
}

}  // namespace iv::model::testing
