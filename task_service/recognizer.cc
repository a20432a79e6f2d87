#include "task_service/recognizer.h"

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/serving/status.h"

namespace iv::tasks {
namespace {

using internvideo::v1::RecognizeRequest;
using serving::InvalidField;

constexpr char kDefaultPrompt[] = "a video of {label}";
constexpr char kLabelSlot[] = "{label}";

// How many times "{label}" appears in `text` (as StrReplaceAll counts:
// without overlaps).
int64_t CountSlots(absl::string_view text) {
  int64_t count = 0;
  for (size_t at = text.find(kLabelSlot); at != absl::string_view::npos;
       at = text.find(kLabelSlot, at + std::strlen(kLabelSlot))) {
    ++count;
  }
  return count;
}

// The prompts of a zero-shot request, checked field by field.
absl::StatusOr<std::vector<std::string>> Prompts(
    const RecognizeRequest::ZeroShot& zero_shot, const TaskOptions& options) {
  if (zero_shot.labels().empty()) {
    return InvalidField("zero_shot.labels",
                        "empty: give the candidate labels to choose from");
  }
  if (zero_shot.labels_size() > options.max_texts) {
    return InvalidField(
        "zero_shot.labels",
        absl::StrCat(zero_shot.labels_size(), " labels, the server's limit is ",
                     options.max_texts));
  }
  const std::string& template_text = zero_shot.prompt_template().empty()
                                         ? kDefaultPrompt
                                         : zero_shot.prompt_template();
  if (static_cast<int>(template_text.size()) > options.max_text_bytes) {
    return InvalidField(
        "zero_shot.prompt_template",
        absl::StrCat(template_text.size(), " bytes, the server's limit is ",
                     options.max_text_bytes));
  }
  const int64_t slots = CountSlots(template_text);
  if (slots == 0) {
    return InvalidField(
        "zero_shot.prompt_template",
        absl::StrCat("must contain \"{label}\", got \"", template_text, "\""));
  }
  std::vector<std::string> prompts;
  for (int i = 0; i < zero_shot.labels_size(); ++i) {
    const std::string& label = zero_shot.labels(i);
    const std::string field = absl::StrCat("zero_shot.labels[", i, "]");
    if (label.empty()) return InvalidField(field, "empty");
    // The prompt is what the text encoder reads: it, not the label alone,
    // must fit the limit (a template may repeat {label}).
    const int64_t prompt_bytes =
        static_cast<int64_t>(template_text.size()) +
        slots * (static_cast<int64_t>(label.size()) -
                 static_cast<int64_t>(std::strlen(kLabelSlot)));
    if (prompt_bytes > options.max_text_bytes) {
      return InvalidField(field, absl::StrCat("its prompt is ", prompt_bytes,
                                              " bytes, the server's limit is ",
                                              options.max_text_bytes));
    }
    prompts.push_back(
        absl::StrReplaceAll(template_text, {{kLabelSlot, label}}));
  }
  return prompts;
}

// Why the model cannot recognize with a trained head, or OK.
absl::Status CheckTrainedHead(const serving::ModelSnapshot& model) {
  model::InternVideoModelImpl& network = *model.loaded.model.ptr();
  const model::InternVideoConfig& config = network.config();
  constexpr char kAdvice[] = "use zero_shot with label texts";
  if (!network.masked_encoder()) {
    return Lacks(model,
                 "finetuned masked encoder (no trained recognition head)",
                 kAdvice);
  }
  const int64_t classes =
      config.cma ? config.cma->num_classes : config.masked_encoder->num_classes;
  if (classes <= 0) {
    return Lacks(model, "recognition head (no class_names)", kAdvice);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<internvideo::v1::RecognizeResponse> Recognizer::Recognize(
    const RecognizeRequest& request,
    const serving::Cancelled& cancelled) const {
  absl::StatusOr<int> top_k = ResolveTopK(request.top_k());
  if (!top_k.ok()) return top_k.status();
  std::vector<std::string> prompts;
  if (request.has_zero_shot()) {
    absl::StatusOr<std::vector<std::string>> made =
        Prompts(request.zero_shot(), options_);
    if (!made.ok()) return made.status();
    prompts = std::move(*made);
  }
  absl::StatusOr<ModelPtr> found = registry_->Find(request.model_id());
  if (!found.ok()) return found.status();
  const serving::ModelSnapshot& model = **found;
  if (request.has_zero_shot()) {
    if (model.loaded.tokenizer == nullptr) {
      return Lacks(model, "tokenizer (its config names no vocab_path)",
                   "zero-shot recognition needs the text encoder's");
    }
    for (size_t i = 0; i < prompts.size(); ++i) {
      if (absl::Status s = CheckFitsContext(
              model, prompts[i], absl::StrCat("zero_shot.labels[", i, "]"));
          !s.ok()) {
        return s;
      }
    }
  } else if (absl::Status s = CheckTrainedHead(model); !s.ok()) {
    return s;
  }
  absl::StatusOr<ModelClips> clips = CutModelClips(
      request.video(), request.sampling(), model, options_, cancelled);
  if (!clips.ok()) return clips.status();

  c10::InferenceMode inference;
  torch::Tensor probabilities;
  std::vector<std::string> labels;
  if (request.has_zero_shot()) {
    probabilities =
        MatchProbabilities(model, *clips, EmbedTexts(model, prompts));
    labels = {request.zero_shot().labels().begin(),
              request.zero_shot().labels().end()};
  } else {
    probabilities = model.loaded.model.ptr()
                        ->RecognitionLogits(clips->masked, clips->multimodal)
                        .to(torch::kFloat32)
                        .softmax(1)
                        .mean(0);
    const auto& names = model.loaded.model->config().proto.class_names();
    labels = {names.begin(), names.end()};
  }
  internvideo::v1::RecognizeResponse response;
  AddTopK(probabilities, labels, *top_k, response.mutable_labels());
  response.set_num_views(static_cast<int32_t>(clips->views));
  *response.mutable_model() = model.Ref();
  return response;
}

}  // namespace iv::tasks
