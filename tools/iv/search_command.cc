#include "tools/iv/search_command.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/serving/connection.h"
#include "common/serving/flags.h"
#include "common/serving/ports.h"
#include "protos/index_service.grpc.pb.h"

namespace iv::cli {
namespace {

namespace v1 = internvideo::v1;

struct SearchArgs {
  std::string text;
  std::string video;
  std::string vector;
  bool upload = false;
  std::string index = serving::LoopbackAddress(serving::kIndexPort);
  std::string collection = "videos";
  int k = 10;
  std::string scope = "all";
  std::vector<std::string> where;
  double timeout_s = 60;
  serving::ConnectionOptions connection;
};

int Usage(const std::string& message) {
  std::fprintf(stderr, "iv search: %s (see iv search --help)\n",
               message.c_str());
  return 2;
}

std::string MetadataText(const v1::SearchHit& hit, const std::string& key) {
  auto it = hit.metadata().find(key);
  if (it == hit.metadata().end()) return "";
  return it->second.string_value();
}

int RunSearch(const SearchArgs& args) {
  v1::SearchRequest request;
  request.set_collection(args.collection);
  request.set_k(args.k);
  const int queries =
      !args.text.empty() + !args.video.empty() + !args.vector.empty();
  if (queries != 1) {
    return Usage("give exactly one query: \"TEXT\", --video FILE or --vector");
  }
  if (!args.text.empty()) {
    request.set_text(args.text);
  } else if (!args.video.empty()) {
    std::error_code error;
    const std::string path =
        std::filesystem::absolute(args.video, error).string();
    if (args.upload) {
      std::ifstream in(path, std::ios::binary);
      if (!in) return Usage("cannot read --video " + args.video);
      request.mutable_video()->set_content(
          std::string(std::istreambuf_iterator<char>(in), {}));
    } else {
      request.mutable_video()->set_path(path);
    }
  } else {
    for (absl::string_view part : absl::StrSplit(args.vector, ',')) {
      float value;
      if (!absl::SimpleAtof(absl::StripAsciiWhitespace(part), &value)) {
        return Usage("--vector: '" + std::string(part) + "' is not a number");
      }
      request.mutable_vector()->add_values(value);
    }
  }
  if (args.scope == "whole") {
    request.set_scope(v1::SEGMENT_SCOPE_WHOLE_VIDEOS);
  } else if (args.scope == "segments") {
    request.set_scope(v1::SEGMENT_SCOPE_SEGMENTS);
  } else if (args.scope != "all") {
    return Usage("--scope must be all, whole or segments");
  }
  for (const std::string& condition : args.where) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(condition, absl::MaxSplits('=', 1));
    if (kv.first.empty() || condition.find('=') == std::string::npos) {
      return Usage("--where takes KEY=VALUE, got '" + condition + "'");
    }
    v1::FieldCondition* must = request.mutable_filter()->add_must();
    must->set_key(kv.first);
    must->mutable_equals()->set_string_value(kv.second);
  }

  absl::StatusOr<serving::Connection> index =
      serving::Connection::Open(args.index, args.connection);
  if (!index.ok()) {
    std::fprintf(stderr, "iv search: %s\n",
                 std::string(index.status().message()).c_str());
    return 2;
  }
  auto stub = v1::IndexService::NewStub(index->channel());
  v1::SearchResponse response;
  grpc::Status status =
      stub->Search(index->NewContext(absl::Seconds(args.timeout_s)).get(),
                   request, &response);
  if (!status.ok()) {
    std::fprintf(stderr, "iv search: %s: %s\n", args.index.c_str(),
                 status.error_message().c_str());
    return status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ? 2 : 1;
  }
  if (response.hits_size() == 0) {
    std::printf("no results in '%s'\n", args.collection.c_str());
    return 0;
  }
  std::printf("%3s  %7s  %-15s  %s\n", "#", "score", "segment", "video");
  for (int i = 0; i < response.hits_size(); ++i) {
    const v1::SearchHit& hit = response.hits(i);
    char segment[64] = "whole video";
    if (hit.has_segment()) {
      std::snprintf(segment, sizeof(segment), "%.2f-%.2f s",
                    hit.segment().start_s(), hit.segment().end_s());
    }
    std::string path = MetadataText(hit, "path");
    if (path.empty()) path = hit.id();
    std::string label = MetadataText(hit, "caption");
    if (label.empty() && !MetadataText(hit, "shape").empty()) {
      label = MetadataText(hit, "color") + " " + MetadataText(hit, "shape");
    }
    std::printf("%3d  %7.4f  %-15s  %s%s\n", i + 1, hit.score(), segment,
                path.c_str(),
                label.empty() ? "" : ("  (" + label + ")").c_str());
  }
  if (response.has_query_model()) {
    // A single checkpoint folder's version is its name, often the model id.
    const v1::ModelRef& model = response.query_model();
    std::printf("(query embedded by %s%s)\n", model.model_id().c_str(),
                model.version() == model.model_id()
                    ? ""
                    : (" " + model.version()).c_str());
  }
  return 0;
}

}  // namespace

void AddSearchCommand(CLI::App& iv) {
  auto args = std::make_shared<SearchArgs>();
  CLI::App* search = iv.add_subcommand(
      "search",
      "Search an index-service collection by text, by video or by vector "
      "and print the ranked results with scores, paths and time segments.\n"
      "  iv search \"a red circle moves left\"\n"
      "  iv search --video clip.mp4 -k 5\n"
      "  iv search \"the blue square grows\" --scope segments");
  search->add_option("text", args->text, "Query text");
  search->add_option("--video", args->video,
                     "Query video (a path the encoder service may read, or "
                     "with --upload any local file)");
  search->add_flag("--upload", args->upload, "Send the --video file's bytes");
  search->add_option("--vector", args->vector,
                     "Query vector as comma-separated numbers");
  search->add_option("--index", args->index, "Index service address")
      ->capture_default_str();
  search->add_option("--collection", args->collection, "Collection")
      ->capture_default_str();
  search->add_option("-k", args->k, "Number of results")->capture_default_str();
  search
      ->add_option("--scope", args->scope,
                   "all, whole (whole videos) or segments (moments)")
      ->capture_default_str();
  search->add_option("--where", args->where,
                     "Metadata filter KEY=VALUE (string equality; repeat "
                     "for AND)");
  search->add_option("--timeout", args->timeout_s, "Seconds")
      ->capture_default_str();
  serving::AddConnectionFlags(*search, args->connection);
  search->callback([args] {
    if (int code = RunSearch(*args); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace iv::cli
