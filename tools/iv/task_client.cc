#include "tools/iv/task_client.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/serving/flags.h"
#include "google/protobuf/util/json_util.h"

namespace iv::cli {
namespace {

namespace fs = std::filesystem;

// Where --local looks without --model: $IV_MODEL, else the embedded model
// of a repository checkout (as tools/quickstart.sh does).
std::string DefaultModelDir() {
  const char* env = std::getenv("IV_MODEL");
  return env != nullptr && *env != '\0' ? env : "models/iv-tiny";
}

}  // namespace

void AddTaskTargetFlags(CLI::App& command, TaskTarget& target,
                        const std::string& default_server,
                        const std::string& server_binary) {
  command.description(absl::StrCat(
      command.get_description(),
      "\nAsks the service at --server, or with --local answers in this "
      "process with the service's own library and --model. Each VIDEO is "
      "sent inline up to 32 MiB; a larger file is sent as its absolute "
      "path, which the service must be allowed to read (",
      server_binary, " --allowed-roots)."));
  target.server = default_server;
  target.model_dir = DefaultModelDir();
  command.add_option("--server", target.server, "Service address host:port")
      ->capture_default_str();
  command.add_flag("--local", target.local,
                   "Answer in this process with the service's own library "
                   "and --model instead of calling --server");
  command
      .add_option("--model", target.model_dir,
                  "Checkpoint folder (or folder of step-N/ versions) for "
                  "--local; default $IV_MODEL, else models/iv-tiny")
      ->capture_default_str();
  command.add_option("--timeout", target.timeout_s, "Seconds per request")
      ->capture_default_str();
  command.add_flag("--json", target.json,
                   "Print the response as one line of JSON");
  serving::AddConnectionFlags(command, target.connection);
}

void OnRun(CLI::App& command, std::function<int()> run) {
  command.callback([run = std::move(run)] {
    if (int code = run(); code != 0) throw CLI::RuntimeError(code);
  });
}

absl::StatusOr<internvideo::v1::VideoSource> VideoSourceFor(
    const std::string& path) {
  std::error_code error;
  const fs::path absolute = fs::absolute(path, error);
  if (error || !fs::is_regular_file(absolute, error)) {
    return absl::NotFoundError(
        absl::StrCat("VIDEO: \"", path, "\" is not a file"));
  }
  internvideo::v1::VideoSource source;
  const uintmax_t size = fs::file_size(absolute, error);
  if (!error && size <= static_cast<uintmax_t>(kMaxInlineVideoBytes)) {
    std::ifstream in(absolute, std::ios::binary);
    std::string bytes(std::istreambuf_iterator<char>(in), {});
    if (!in.bad() && bytes.size() == size) {
      source.set_content(std::move(bytes));
      return source;
    }
    return absl::NotFoundError(
        absl::StrCat("VIDEO: cannot read \"", path, "\""));
  }
  source.set_path(absolute.lexically_normal().string());
  return source;
}

std::vector<std::string> LocalVideoRoots() { return {"/"}; }

std::vector<std::string> SplitList(absl::string_view text) {
  std::vector<std::string> items;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (!item.empty()) items.emplace_back(item);
  }
  return items;
}

absl::StatusOr<std::unique_ptr<serving::ModelRegistry>> LoadLocalModel(
    const std::string& model_dir) {
  std::error_code error;
  if (!fs::is_directory(model_dir, error)) {
    return absl::NotFoundError(absl::StrCat(
        "--model: no model folder at \"", model_dir,
        "\"; pass --model DIR (a checkpoint folder such as models/iv-tiny)"));
  }
  serving::ModelRegistryOptions options;
  options.model_dir = model_dir;
  auto registry = std::make_unique<serving::ModelRegistry>(options, nullptr);
  if (absl::Status loaded = registry->Poll(); !loaded.ok()) {
    return absl::Status(loaded.code(), absl::StrCat("--model ", model_dir, ": ",
                                                    loaded.message()));
  }
  return registry;
}

void PrintJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  std::printf("%s\n", json.c_str());
}

void PrintLabelScores(
    absl::string_view label_header,
    const google::protobuf::RepeatedPtrField<internvideo::v1::LabelScore>&
        scores) {
  std::printf("%3s  %7s  %s\n", "#", "score",
              std::string(label_header).c_str());
  for (int i = 0; i < scores.size(); ++i) {
    std::printf("%3d  %7.4f  %s\n", i + 1, scores[i].score(),
                scores[i].label().c_str());
  }
}

void PrintModel(const internvideo::v1::ModelRef& model) {
  std::printf("(model %s%s)\n", model.model_id().c_str(),
              model.version() == model.model_id()
                  ? ""
                  : (" " + model.version()).c_str());
}

int PrintError(absl::string_view command, const absl::Status& status) {
  const std::string line =
      absl::StrReplaceAll(absl::StrCat(absl::StatusCodeToString(status.code()),
                                       ": ", status.message()),
                          {{"\n", " "}});
  std::fprintf(stderr, "iv %s: %s\n", std::string(command).c_str(),
               line.c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace iv::cli
