#include "common/data/manifest.h"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/files/atomic_file.h"

namespace iv::data {
namespace {

using json = nlohmann::json;
// Keeps the spec's field order in what we write, for people reading the files.
using ordered_json = nlohmann::ordered_json;

// Turns one manifest line's JSON into structs, naming the file, line and field
// of anything wrong.
class LineParser {
 public:
  LineParser(const std::string& file, int line,
             const std::vector<std::string>& class_names)
      : file_(file), line_(line), class_names_(class_names) {}

  absl::Status Invalid(const std::string& field,
                       absl::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ":", line_, ": ", field, ": ", problem));
  }

  // Reads object[key] into `out`. `prefix` is the path of `object` within the
  // line, for messages. Absent (or null) keys leave `out` as it is.
  template <typename T>
  absl::Status Get(const json& object, const std::string& prefix,
                   const char* key, bool required, T* out) const {
    const std::string field =
        prefix.empty() ? std::string(key) : absl::StrCat(prefix, ".", key);
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) {
      return required ? Invalid(field, "missing") : absl::OkStatus();
    }
    return Parse(*it, field, out);
  }

  absl::Status Parse(const json& value, const std::string& field,
                     std::string* out) const {
    if (!value.is_string()) return Invalid(field, "must be a string");
    *out = value.get<std::string>();
    return absl::OkStatus();
  }

  absl::Status Parse(const json& value, const std::string& field,
                     double* out) const {
    if (!value.is_number()) return Invalid(field, "must be a number");
    *out = value.get<double>();
    return absl::OkStatus();
  }

  absl::Status Parse(const json& value, const std::string& field,
                     int* out) const {
    if (!value.is_number_integer() ||
        value.get<int64_t>() < std::numeric_limits<int>::min() ||
        value.get<int64_t>() > std::numeric_limits<int>::max()) {
      return Invalid(field, "must be an integer");
    }
    *out = value.get<int>();
    return absl::OkStatus();
  }

  absl::Status Parse(const json& value, const std::string& field,
                     ObjectDesc* out) const {
    if (!value.is_object()) return Invalid(field, "must be an object");
    absl::Status s = Get(value, field, "shape", true, &out->shape);
    if (s.ok()) s = Get(value, field, "color", true, &out->color);
    if (s.ok()) s = Get(value, field, "size", true, &out->size);
    return s;
  }

  absl::Status Parse(const json& value, const std::string& field,
                     QuestionAnswer* out) const {
    if (!value.is_object()) return Invalid(field, "must be an object");
    absl::Status s = Get(value, field, "q", true, &out->q);
    if (s.ok()) s = Get(value, field, "a", true, &out->a);
    return s;
  }

  absl::Status Parse(const json& value, const std::string& field,
                     ActionSegment* out) const {
    if (!value.is_object()) return Invalid(field, "must be an object");
    absl::Status s = Get(value, field, "start_s", true, &out->start_s);
    if (s.ok()) s = Get(value, field, "end_s", true, &out->end_s);
    if (s.ok() && out->end_s < out->start_s) {
      s = Invalid(field + ".end_s", "before start_s");
    }
    if (s.ok()) {
      s = GetAction(value, field, /*required=*/true, &out->action,
                    &out->action_id);
    }
    return s;
  }

  template <typename T>
  absl::Status Parse(const json& value, const std::string& field,
                     std::vector<T>* out) const {
    if (!value.is_array()) return Invalid(field, "must be an array");
    out->resize(value.size());
    for (size_t i = 0; i < value.size(); ++i) {
      absl::Status s =
          Parse(value[i], absl::StrCat(field, "[", i, "]"), &(*out)[i]);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // "action" and "action_id" (the name's index in the class list when
  // absent).
  absl::Status GetAction(const json& object, const std::string& prefix,
                         bool required, std::string* name, int* id) const {
    absl::Status s = Get(object, prefix, "action", required, name);
    if (!s.ok()) return s;
    const int known = ClassId(*name);
    *id = known;
    s = Get(object, prefix, "action_id", false, id);
    if (s.ok() && known >= 0 && *id != known) {
      s = Invalid(prefix.empty() ? "action_id" : prefix + ".action_id",
                  absl::StrCat(*id, " does not match action '", *name, "' (id ",
                               known, ")"));
    }
    return s;
  }

 private:
  int ClassId(const std::string& name) const {
    for (size_t i = 0; i < class_names_.size(); ++i) {
      if (class_names_[i] == name) return static_cast<int>(i);
    }
    return -1;
  }

  const std::string& file_;
  const int line_;
  const std::vector<std::string>& class_names_;
};

absl::Status ParseLine(const LineParser& p, const json& line,
                       TrimmedClip* clip) {
  absl::Status s = p.Get(line, "", "file", true, &clip->file);
  if (s.ok()) s = p.Get(line, "", "actor", false, &clip->actor);
  if (s.ok()) {
    s = p.GetAction(line, "", /*required=*/false, &clip->action,
                    &clip->action_id);
  }
  if (s.ok()) s = p.Get(line, "", "distractors", false, &clip->distractors);
  clip->num_objects = (clip->actor.shape.empty() ? 0 : 1) +
                      static_cast<int>(clip->distractors.size());
  if (s.ok()) s = p.Get(line, "", "num_objects", false, &clip->num_objects);
  if (s.ok()) s = p.Get(line, "", "captions", false, &clip->captions);
  if (s.ok()) s = p.Get(line, "", "questions", false, &clip->questions);
  return s;
}

absl::Status ParseLine(const LineParser& p, const json& line,
                       UntrimmedVideo* video) {
  absl::Status s = p.Get(line, "", "file", true, &video->file);
  if (s.ok()) s = p.Get(line, "", "duration_s", true, &video->duration_s);
  if (s.ok()) s = p.Get(line, "", "segments", true, &video->segments);
  if (s.ok()) s = p.Get(line, "", "actor", false, &video->actor);
  if (s.ok()) s = p.Get(line, "", "distractors", false, &video->distractors);
  return s;
}

// Reads every non-blank line of a manifest as an Entry.
template <typename Entry>
absl::StatusOr<std::vector<Entry>> ReadManifest(
    const std::string& path, const ManifestOptions& options) {
  const std::vector<std::string>& class_names = options.class_names;
  std::ifstream in(path);
  if (!in) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot open manifest ", path));
  }
  const std::filesystem::path folder =
      std::filesystem::absolute(path).parent_path();
  std::vector<Entry> entries;
  std::string text;
  for (int line_number = 1; std::getline(in, text); ++line_number) {
    if (absl::StripAsciiWhitespace(text).empty()) continue;
    const LineParser parser(path, line_number, class_names);
    json line;
    try {
      line = json::parse(text);
    } catch (const json::parse_error& e) {
      return parser.Invalid("line", absl::StrCat("not JSON: ", e.what()));
    }
    if (!line.is_object()) return parser.Invalid("line", "not a JSON object");
    Entry entry;
    if (absl::Status s = ParseLine(parser, line, &entry); !s.ok()) return s;
    entry.path = (folder / entry.file).lexically_normal().string();
    entries.push_back(std::move(entry));
  }
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat("cannot read manifest ", path));
  }
  return entries;
}

ordered_json ToJson(const ObjectDesc& object) {
  return {
      {"shape", object.shape}, {"color", object.color}, {"size", object.size}};
}

ordered_json ToJson(const std::vector<ObjectDesc>& objects) {
  ordered_json list = ordered_json::array();
  for (const ObjectDesc& object : objects) list.push_back(ToJson(object));
  return list;
}

// action_id is written only when known, as readers derive it from the name.
void AddAction(const std::string& name, int id, ordered_json* out) {
  if (!name.empty()) (*out)["action"] = name;
  if (id >= 0) (*out)["action_id"] = id;
}

ordered_json ToJson(const TrimmedClip& clip) {
  ordered_json line;
  line["file"] = clip.file;
  const bool scene = !clip.actor.shape.empty();  // SynthWorld's fields
  if (scene) line["actor"] = ToJson(clip.actor);
  AddAction(clip.action, clip.action_id, &line);
  if (scene) {
    line["distractors"] = ToJson(clip.distractors);
    line["num_objects"] = clip.num_objects;
  }
  line["captions"] = clip.captions;
  ordered_json questions = ordered_json::array();
  for (const QuestionAnswer& qa : clip.questions) {
    questions.push_back({{"q", qa.q}, {"a", qa.a}});
  }
  line["questions"] = std::move(questions);
  return line;
}

ordered_json ToJson(const UntrimmedVideo& video) {
  ordered_json line;
  line["file"] = video.file;
  line["duration_s"] = video.duration_s;
  ordered_json segments = ordered_json::array();
  for (const ActionSegment& segment : video.segments) {
    ordered_json s = {{"start_s", segment.start_s}, {"end_s", segment.end_s}};
    AddAction(segment.action, segment.action_id, &s);
    segments.push_back(std::move(s));
  }
  line["segments"] = std::move(segments);
  if (!video.actor.shape.empty()) {
    line["actor"] = ToJson(video.actor);
    line["distractors"] = ToJson(video.distractors);
  }
  return line;
}

template <typename Entry>
absl::Status WriteManifest(const std::string& path,
                           const std::vector<Entry>& entries) {
  std::string text;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].file.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("entries[", i, "].file: empty"));
    }
    absl::StrAppend(&text, ToJson(entries[i]).dump(), "\n");
  }
  return files::WriteFileAtomically(path, text);
}

}  // namespace

absl::StatusOr<std::vector<TrimmedClip>> ReadTrimmedManifest(
    const std::string& path, const ManifestOptions& options) {
  return ReadManifest<TrimmedClip>(path, options);
}

absl::StatusOr<std::vector<UntrimmedVideo>> ReadUntrimmedManifest(
    const std::string& path, const ManifestOptions& options) {
  return ReadManifest<UntrimmedVideo>(path, options);
}

absl::Status WriteTrimmedManifest(const std::string& path,
                                  const std::vector<TrimmedClip>& clips) {
  return WriteManifest(path, clips);
}

absl::Status WriteUntrimmedManifest(const std::string& path,
                                    const std::vector<UntrimmedVideo>& videos) {
  return WriteManifest(path, videos);
}

}  // namespace iv::data
