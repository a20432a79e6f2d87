// SynthWorld's JSON Lines manifests (shared/spec/SYNTHWORLD.md, "Manifest
// format"): one trimmed clip or one untrimmed video per line. Any dataset
// written in this form can be trained on and evaluated, so readers accept
// lines from other renderers: unknown fields are ignored, and the fields the
// spec's examples show as derivable (action_id, num_objects) are filled in
// when missing.
#ifndef COMMON_DATA_MANIFEST_H_
#define COMMON_DATA_MANIFEST_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace iv::data {

struct ObjectDesc {
  std::string shape, color, size;
};

struct QuestionAnswer {
  std::string q, a;
};

struct TrimmedClip {
  std::string file;  // as written in the manifest (relative to its folder)
  std::string path;  // resolved by the reader to an absolute path
  ObjectDesc actor;
  std::string action;
  int action_id = -1;
  std::vector<ObjectDesc> distractors;
  int num_objects = 0;
  std::vector<std::string> captions;  // the first is the canonical one
  std::vector<QuestionAnswer> questions;
};

struct ActionSegment {
  double start_s = 0, end_s = 0;
  std::string action;
  int action_id = -1;
};

struct UntrimmedVideo {
  std::string file, path;  // as for TrimmedClip
  double duration_s = 0;
  std::vector<ActionSegment> segments;
  ObjectDesc actor;
  std::vector<ObjectDesc> distractors;
};

// Required per line: trimmed "file", "actor" {shape, color, size}, "action";
// untrimmed "file", "duration_s", "segments" [{start_s, end_s, action}].
// Everything else is optional. A missing action_id is looked up from the
// action's name in the SynthWorld vocabulary (-1 if it is not a SynthWorld
// action); a given one must agree with the name when the name is known.
// Errors: NOT_FOUND for a missing file; INVALID_ARGUMENT naming the file, the
// 1-based line number and the field ("m.jsonl:3: actor.color: missing").
// Blank lines are skipped.
absl::StatusOr<std::vector<TrimmedClip>> ReadTrimmedManifest(
    const std::string& path);
absl::StatusOr<std::vector<UntrimmedVideo>> ReadUntrimmedManifest(
    const std::string& path);

// Write `file` (not `path`) of each entry, one JSON object per line with the
// spec's field order, to a temporary file beside `path` that is renamed over
// it, so readers never see half a manifest.
absl::Status WriteTrimmedManifest(const std::string& path,
                                  const std::vector<TrimmedClip>& clips);
absl::Status WriteUntrimmedManifest(const std::string& path,
                                    const std::vector<UntrimmedVideo>& videos);

}  // namespace iv::data

#endif  // COMMON_DATA_MANIFEST_H_
