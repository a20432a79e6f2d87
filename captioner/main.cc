// captioner_server: the CaptionerService over gRPC. Serves the model in
// --model-dir, hot-loading each newer step-N/ version published there.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "captioner/captioner.h"
#include "captioner/captioner_service.h"
#include "common/serving/model_server.h"
#include "common/serving/ports.h"

int main(int argc, char** argv) {
  CLI::App app{
      "The InternVideo captioner: describes videos in words with the "
      "multimodal encoder's caption decoder (greedy, beam search or "
      "sampling), from a model folder it hot-reloads."};
  iv::serving::ModelServerSpec spec;
  spec.name = "captioner_server";
  spec.default_port = iv::serving::kCaptionerPort;
  spec.checkpoint = "a checkpoint folder with a caption decoder";
  spec.load_note = [](const iv::serving::ModelSnapshot& model) {
    return std::string(model.config().caption_decoder.has_value()
                           ? ""
                           : " (it has no caption decoder: every request "
                             "will get FAILED_PRECONDITION)");
  };
  iv::serving::ModelServer server(spec);
  server.AddFlags(app);
  iv::captioner::CaptionerOptions options;
  app.add_option("--allowed-roots", options.allowed_roots,
                 "folders whose videos video.path may name (default: none, "
                 "only inline videos)")
      ->delimiter(',');
  app.add_option("--max-beam-width", options.max_beam_width,
                 "largest decoding.beam_width a request may ask for")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--max-batch", options.max_batch,
                 "videos per BatchCaptionVideos call")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--decode-threads", options.decode_threads,
                 "threads decoding videos, apart from the model's")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  CLI11_PARSE(app, argc, argv);

  if (absl::Status status = server.Init(); !status.ok()) {
    std::fprintf(stderr, "captioner_server: %s\n",
                 std::string(status.message()).c_str());
    return 2;
  }
  iv::captioner::Captioner captioner(options, &server.registry());
  iv::captioner::CaptionerServiceImpl service(&captioner);
  return server.Run({&service});
}
