// The task services' requests (Recognizer, Localizer, QuestionAnswerer, the
// library under the gRPC layer) with a tiny task model loaded. The first
// byte picks the RPC, the rest is its request as a binary proto:
// 0 Recognize, 1 Localize, 2 AnswerQuestion.
#include <cstddef>
#include <cstdint>

#include "common/model/internvideo/testing/tiny_checkpoint.h"
#include "fuzz/fuzz_support.h"
#include "fuzz/tiny_model.h"
#include "task_service/localizer.h"
#include "task_service/question_answerer.h"
#include "task_service/recognizer.h"

namespace {

using iv::fuzz::CheckPreciseStatus;
using iv::fuzz::ParseProto;

struct Tasks {
  iv::tasks::Recognizer recognizer;
  iv::tasks::Localizer localizer;
  iv::tasks::QuestionAnswerer answerer;
};

Tasks& TheTasks() {
  static Tasks* const tasks = [] {
    iv::tasks::TaskOptions options;
    options.allowed_roots = {iv::fuzz::VideoRoot()};
    // Small enough that an input cannot spend the fuzzer's memory or time.
    options.clips.max_rows = 8;
    options.clips.max_request_bytes = 64 << 20;
    options.feature_cache_bytes = 1 << 20;
    options.max_localize_windows = 64;
    const iv::serving::ModelRegistry* registry =
        &iv::fuzz::TinyModelRegistry(iv::model::testing::TinyTaskModelConfig());
    return new Tasks{
        {options, registry}, {options, registry}, {options, registry}};
  }();
  return *tasks;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Tasks& tasks = TheTasks();
  switch (data[0] % 3) {
    case 0: {
      internvideo::v1::RecognizeRequest request;
      if (!ParseProto(data + 1, size - 1, request)) return 0;
      CheckPreciseStatus(tasks.recognizer.Recognize(request).status());
      break;
    }
    case 1: {
      internvideo::v1::LocalizeRequest request;
      if (!ParseProto(data + 1, size - 1, request)) return 0;
      CheckPreciseStatus(tasks.localizer.Localize(request).status());
      break;
    }
    case 2: {
      internvideo::v1::AnswerQuestionRequest request;
      if (!ParseProto(data + 1, size - 1, request)) return 0;
      CheckPreciseStatus(tasks.answerer.AnswerQuestion(request).status());
      break;
    }
  }
  return 0;
}
