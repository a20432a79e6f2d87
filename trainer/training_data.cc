#include "trainer/training_data.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/data/recognition_samples.h"
#include "common/synthworld/benchmark.h"
#include "common/synthworld/vocabulary.h"
#include "common/video/clip_spec.h"

namespace iv::trainer {
namespace {

template <typename Sample>
absl::StatusOr<std::vector<Sample>> ReadManifests(
    const internvideo::v1::DataConfig& data,
    const data::ManifestOptions& options,
    absl::StatusOr<std::vector<Sample>> (*read_manifest)(
        const std::string&, const data::ManifestOptions&)) {
  std::vector<Sample> samples;
  for (const auto& manifest : data.manifests()) {
    absl::StatusOr<std::vector<Sample>> read =
        read_manifest(manifest.path(), options);
    if (!read.ok()) return read.status();
    const int repeats =
        manifest.weight() == 0
            ? 1
            : std::max(1, static_cast<int>(std::lround(manifest.weight())));
    for (int r = 0; r < repeats; ++r) {
      samples.insert(samples.end(), read->begin(), read->end());
    }
  }
  if (data.max_samples() > 0 &&
      static_cast<int64_t>(samples.size()) > data.max_samples()) {
    samples.resize(data.max_samples());
  }
  return samples;
}

}  // namespace

absl::StatusOr<Dataset> ReadDataset(
    const internvideo::v1::DataConfig& data, bool untrimmed,
    const std::vector<std::string>& class_names) {
  data::ManifestOptions options;
  options.class_names = class_names;
  Dataset dataset;
  if (untrimmed) {
    absl::StatusOr<std::vector<data::UntrimmedVideo>> videos =
        ReadManifests(data, options, &data::ReadUntrimmedManifest);
    if (!videos.ok()) return videos.status();
    dataset.videos = std::move(*videos);
  } else {
    absl::StatusOr<std::vector<data::TrimmedClip>> clips =
        ReadManifests(data, options, &data::ReadTrimmedManifest);
    if (!clips.ok()) return clips.status();
    dataset.clips = std::move(*clips);
  }
  return dataset;
}

absl::Status CheckActionLabels(const std::vector<data::TrimmedClip>& clips,
                               int64_t num_classes) {
  for (const data::TrimmedClip& clip : clips) {
    if (clip.action_id < 0 || clip.action_id >= num_classes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "recipe.train_data: clip ", clip.file, " has ",
          clip.action.empty() ? std::string("no action")
                              : absl::StrCat("action '", clip.action, "'"),
          ", which is not one of the model's ", num_classes,
          " classes (recipe.model.class_names); label every clip with one"));
    }
  }
  return absl::OkStatus();
}

std::vector<data::ClipSample> DatasetSamples(const Dataset& dataset) {
  if (dataset.videos.empty()) {
    return data::RecognitionSamples(dataset.clips,
                                    synthworld::MirroredActions());
  }
  std::vector<data::ClipSample> samples;
  for (const data::UntrimmedVideo& video : dataset.videos) {
    samples.push_back({video.path, -1, -1});
  }
  return samples;
}

std::string FallbackCaption(const data::TrimmedClip& clip) {
  return clip.actor.shape.empty() ? clip.action : synthworld::ClipKey(clip);
}

std::string RetrievalKey(const data::TrimmedClip& clip) {
  return clip.actor.shape.empty() ? clip.path : synthworld::ClipKey(clip);
}

absl::StatusOr<data::ClipLoaderOptions> LoaderOptions(
    const model::InternVideoConfig& model,
    const internvideo::v1::DataConfig& data, bool train,
    absl::string_view field) {
  // No limit on clips here: the loader takes one view per sample anyway.
  absl::StatusOr<video::ClipSpec> clip = video::ResolveClipSpec(
      model::ClipInputOf(model), data.sampling(), /*max_clips=*/1 << 20,
      absl::StrCat(field, ".sampling"));
  if (!clip.ok()) return clip.status();
  data::ClipLoaderOptions options;
  options.clip = *clip;
  options.clip.num_clips = 1;
  options.clip.three_crop = false;
  options.train = train;
  options.flip = train && data.horizontal_flip();
  options.workers = data.num_workers() > 0 ? data.num_workers() : 2;
  options.prefetch_batches =
      data.prefetch_batches() > 0 ? data.prefetch_batches() : 2;
  return options;
}

}  // namespace iv::trainer
