#include "trainer/training_data.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/data/synthworld_samples.h"

namespace iv::trainer {
namespace {

using internvideo::v1::ClipSampling;

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

data::ClipLoaderOptions LoaderOptions(const model::InternVideoConfig& model,
                                      const internvideo::v1::DataConfig& data,
                                      bool train) {
  data::ClipLoaderOptions options;
  const ClipSampling* encoder_sampling = nullptr;
  if (model.masked_encoder) {
    options.num_frames = model.masked_encoder->num_frames;
    options.crop_size = model.masked_encoder->img_size;
    options.normalization = model::MaskedNormalization(model);
    encoder_sampling = &model.proto.masked_encoder().sampling();
  } else {
    options.num_frames = model.multimodal->vision.num_frames;
    options.crop_size = model.multimodal->vision.input_resolution;
    options.normalization = model::MultimodalNormalization(model);
    encoder_sampling = &model.proto.multimodal_encoder().vision().sampling();
  }
  for (const ClipSampling* sampling : {encoder_sampling, &data.sampling()}) {
    if (sampling->num_frames() > 0) options.num_frames = sampling->num_frames();
    if (sampling->crop_size() > 0) options.crop_size = sampling->crop_size();
    if (sampling->short_side() > 0) options.short_side = sampling->short_side();
    if (sampling->mode() == ClipSampling::MODE_DENSE) {
      options.sampler = data::FrameSampler::kDense;
    }
    if (sampling->frame_interval() > 0) {
      options.frame_interval = sampling->frame_interval();
    }
  }
  options.train = train;
  options.flip = train && data.horizontal_flip();
  options.workers = data.num_workers() > 0 ? data.num_workers() : 2;
  options.prefetch_batches =
      data.prefetch_batches() > 0 ? data.prefetch_batches() : 2;
  return options;
}

}  // namespace iv::trainer
