#include "trainer/training_data.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/data/synthworld_samples.h"
#include "common/video/clip_spec.h"

namespace iv::trainer {
namespace {

template <typename Sample>
absl::StatusOr<std::vector<Sample>> ReadManifests(
    const internvideo::v1::DataConfig& data,
    absl::StatusOr<std::vector<Sample>> (*read_manifest)(const std::string&)) {
  std::vector<Sample> samples;
  for (const auto& manifest : data.manifests()) {
    absl::StatusOr<std::vector<Sample>> read = read_manifest(manifest.path());
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

absl::StatusOr<Dataset> ReadDataset(const internvideo::v1::DataConfig& data,
                                    bool untrimmed) {
  Dataset dataset;
  if (untrimmed) {
    absl::StatusOr<std::vector<data::UntrimmedVideo>> videos =
        ReadManifests(data, &data::ReadUntrimmedManifest);
    if (!videos.ok()) return videos.status();
    dataset.videos = std::move(*videos);
  } else {
    absl::StatusOr<std::vector<data::TrimmedClip>> clips =
        ReadManifests(data, &data::ReadTrimmedManifest);
    if (!clips.ok()) return clips.status();
    dataset.clips = std::move(*clips);
  }
  return dataset;
}

std::vector<data::ClipSample> DatasetSamples(const Dataset& dataset) {
  if (dataset.videos.empty()) return data::RecognitionSamples(dataset.clips);
  std::vector<data::ClipSample> samples;
  for (const data::UntrimmedVideo& video : dataset.videos) {
    samples.push_back({video.path, -1, -1});
  }
  return samples;
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
