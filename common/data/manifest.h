// Dataset manifests in JSON Lines: one trimmed clip or one untrimmed video
// per line, a general video-text-label schema. SynthWorld's manifests
// (shared/spec/SYNTHWORLD.md, "Manifest format") are one instance; rows of
// Kinetics-style (file + action), MSR-VTT-style (file + captions) and
// ActivityNet-style (file + duration + labelled segments) datasets are
// others:
//   {"file": "abseiling/0001.mp4", "action": "abseiling"}
//   {"file": "video7010.mp4", "captions": ["a man sings on a stage"]}
//   {"file": "v_x.mp4", "duration_s": 120.5,
//    "segments": [{"start_s": 1.0, "end_s": 20.0, "action": "Long jump"}]}
// Unknown fields are ignored. SynthWorld's scene fields (actor,
// distractors, num_objects) are optional; its attribute heads and hard
// negatives read them when they are there.
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
  std::string file;    // as written in the manifest (relative to its folder)
  std::string path;    // resolved by the reader to an absolute path
  std::string action;  // the action class's name; "" when unlabelled
  int action_id = -1;  // its index in the class list; -1 when unknown
  std::vector<std::string> captions;  // the first is the canonical one
  std::vector<QuestionAnswer> questions;
  // SynthWorld's scene: empty, none and 0 when the row has none.
  ObjectDesc actor;
  std::vector<ObjectDesc> distractors;
  int num_objects = 0;
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

// How action names become class ids: their index in `class_names` (a
// model's ModelConfig.class_names). With no class names a row's own
// action_id is its id (-1 when it has none).
struct ManifestOptions {
  std::vector<std::string> class_names;
};

// Required per line: "file"; untrimmed also "duration_s" and "segments"
// [{start_s, end_s, action}]. Everything else is optional. A missing
// action_id is the action's index in the class list (-1 if it is not in
// it); a given one must agree with the name when the name is in the list.
// num_objects defaults to the actor (if any) plus the distractors.
// Errors: NOT_FOUND for a missing file; INVALID_ARGUMENT naming the file,
// the 1-based line number and the field ("m.jsonl:3: actor.color:
// missing"). Blank lines are skipped.
absl::StatusOr<std::vector<TrimmedClip>> ReadTrimmedManifest(
    const std::string& path, const ManifestOptions& options = {});
absl::StatusOr<std::vector<UntrimmedVideo>> ReadUntrimmedManifest(
    const std::string& path, const ManifestOptions& options = {});

// Write `file` (not `path`) of each entry, one JSON object per line with the
// spec's field order, to a temporary file beside `path` that is renamed over
// it, so readers never see half a manifest.
absl::Status WriteTrimmedManifest(const std::string& path,
                                  const std::vector<TrimmedClip>& clips);
absl::Status WriteUntrimmedManifest(const std::string& path,
                                    const std::vector<UntrimmedVideo>& videos);

}  // namespace iv::data

#endif  // COMMON_DATA_MANIFEST_H_
