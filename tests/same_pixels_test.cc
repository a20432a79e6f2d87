// The same video through every path that cuts clips for a model gives the
// model the same input, bit for bit: the trainer's loader in evaluation mode
// (what the trainer's evaluation and `iv eval` read), the services' cutting
// (encoder_server, captioner_server), the task services' (Recognize, VQA),
// and the localization windows (training, evaluation and Localize share
// data::ComputeWindowFeatures, checked against the encoder's window rows).
// Then the encoder service, on loopback, returns exactly the embedding the
// model gives that input.
//
// Videos: a SynthWorld clip as rendered, and ffmpeg CLI transcodes of it to
// sizes and codecs that make every step work (resize of a non-square frame,
// a crop, another frame rate).
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/data/clip_loader.h"
#include "common/data/window_features.h"
#include "common/serving/video_clips.h"
#include "common/testing/loopback_server.h"
#include "common/testing/service_videos.h"
#include "common/video/decoder.h"
#include "encoder_service/encoder.h"
#include "encoder_service/encoder_service.h"
#include "task_service/task_inputs.h"
#include "trainer/training_data.h"

namespace iv {
namespace {

constexpr char kModel[] = "models/iv-tiny";

struct World {
  test::ServiceTestVideos dirs;
  std::vector<std::string> videos;  // paths under dirs.videos
};

const World& TestWorld() {
  static const World* world = [] {
    auto* w = new World{test::RenderServiceTestVideos("same_pixels", 11,
                                                      /*clips=*/1,
                                                      /*untrimmed=*/1)};
    const std::string clip = w->dirs.videos + "/clips/train_00000.mp4";
    w->videos.push_back(clip);
    // Non-square and larger (resized, then cropped), VP9 at 25 fps; and
    // smaller (upscaled) MPEG-4 in AVI.
    for (const auto& [name, args] :
         {std::pair<std::string, std::string>{
              "wide.webm", "-vf scale=150:90 -r 25 -c:v libvpx-vp9 -b:v 300k"},
          std::pair<std::string, std::string>{
              "small.avi", "-vf scale=48:40 -c:v mpeg4 -q:v 3"}}) {
      const std::string out = w->dirs.videos + "/" + name;
      const std::string command =
          absl::StrCat("ffmpeg -v error -y -i ", clip, " ", args, " ", out);
      EXPECT_EQ(std::system(command.c_str()), 0) << command;
      w->videos.push_back(out);
    }
    w->videos.push_back(w->dirs.videos + "/untrimmed/test_000.mp4");
    return w;
  }();
  return *world;
}

std::shared_ptr<const serving::ModelSnapshot> Model(
    serving::ModelRegistry& registry) {
  absl::StatusOr<std::shared_ptr<const serving::ModelSnapshot>> found =
      registry.Find("");
  EXPECT_TRUE(found.ok()) << found.status();
  return *found;
}

// The trainer's loader as `iv eval` and the trainer's evaluation set it up.
torch::Tensor LoaderClip(const serving::ModelSnapshot& model,
                         const std::string& path) {
  absl::StatusOr<data::ClipLoaderOptions> options = trainer::LoaderOptions(
      model.loaded.model->config(), internvideo::v1::DataConfig(),
      /*train=*/false);
  EXPECT_TRUE(options.ok()) << options.status();
  absl::StatusOr<std::unique_ptr<data::ClipLoader>> loader =
      data::ClipLoader::Create({{path, 0, -1}}, *options);
  EXPECT_TRUE(loader.ok()) << loader.status();
  auto sample = (*loader)->LoadSample(0, 0);
  EXPECT_TRUE(sample.ok()) << sample.status();
  return sample->first;
}

internvideo::v1::VideoSource Source(const std::string& path) {
  internvideo::v1::VideoSource source;
  source.set_path(path);
  return source;
}

TEST(SamePixelsTest, LoaderServicesAndTaskServicesCutTheSameClip) {
  auto registry = test::NewTestRegistry(kModel);
  const auto model = Model(*registry);
  for (const std::string& path : TestWorld().videos) {
    SCOPED_TRACE(path);
    const torch::Tensor loader = LoaderClip(*model, path);
    ASSERT_EQ(loader.dim(), 4);
    EXPECT_EQ(loader.size(1), model->input.num_frames);
    EXPECT_EQ(loader.size(2), model->input.size);

    auto decoder = video::VideoDecoder::Open(path);
    ASSERT_TRUE(decoder.ok());
    serving::ClipRequest request;
    auto served = serving::CutVideoClips(**decoder, request, *model,
                                         serving::ClipLimits());
    ASSERT_TRUE(served.ok()) << served.status();
    ASSERT_EQ(served->video_rows, 1);
    EXPECT_TRUE(torch::equal(served->rows[0], loader));

    tasks::TaskOptions options;
    options.allowed_roots = {TestWorld().dirs.videos};
    auto task = tasks::CutModelClips(Source(path), {}, *model, options);
    ASSERT_TRUE(task.ok()) << task.status();
    EXPECT_TRUE(torch::equal(task->multimodal[0], loader));
    EXPECT_TRUE(torch::equal(task->masked[0],
                             model->MaskedVideo(loader.unsqueeze(0))[0]));
  }
}

TEST(SamePixelsTest, LocalizationWindowsAreTheEncodersWindowRows) {
  auto registry = test::NewTestRegistry(kModel);
  const auto model = Model(*registry);
  const model::InternVideoConfig& config = model->loaded.model->config();
  ASSERT_TRUE(config.localization);
  const std::string& path = TestWorld().videos.back();  // untrimmed

  auto decoder = video::VideoDecoder::Open(path);
  ASSERT_TRUE(decoder.ok());
  serving::ClipRequest request;
  request.whole_video = false;
  request.windows.emplace();
  request.windows->set_window_s(config.localization->window_s);
  request.windows->set_stride_s(config.localization->stride_s);
  serving::ClipLimits limits;
  limits.max_rows = 4096;
  auto served = serving::CutVideoClips(**decoder, request, *model, limits);
  ASSERT_TRUE(served.ok()) << served.status();
  const int64_t windows = served->rows.size(0);
  ASSERT_GT(windows, 4);

  absl::StatusOr<data::ClipLoaderOptions> options = trainer::LoaderOptions(
      config, internvideo::v1::DataConfig(), /*train=*/false);
  ASSERT_TRUE(options.ok());
  model::InternVideoModel network = model->loaded.model;
  auto features = data::ComputeWindowFeatures(network, path, options->clip,
                                              static_cast<int>(windows));
  ASSERT_TRUE(features.ok()) << features.status();
  ASSERT_EQ(features->features.size(0), windows);
  for (int64_t w = 0; w < windows; ++w) {
    EXPECT_NEAR(features->centres_s[w],
                (served->windows[w].start_s() + served->windows[w].end_s()) / 2,
                1e-9);
  }
  // The features of the encoder's rows, in one batch as above: equal bits
  // mean equal inputs.
  torch::NoGradGuard no_grad;
  const torch::Tensor expected =
      network->ClipFeatures(config.localization->feature_source,
                            network->MaskedVideo(served->rows), served->rows);
  EXPECT_TRUE(torch::equal(features->features, expected.to(torch::kFloat32)));
}

TEST(SamePixelsTest, EncoderServiceEmbedsTheLoadersClip) {
  auto registry = test::NewTestRegistry(kModel);
  encoder::EncoderOptions options;
  options.allowed_roots = {TestWorld().dirs.videos};
  encoder::Encoder encoder(options, registry.get());
  encoder::EncoderServiceImpl service(&encoder);
  test::LoopbackServer server({&service});
  auto stub = internvideo::v1::EncoderService::NewStub(server.channel());
  const auto model = Model(*registry);
  for (const std::string& path : TestWorld().videos) {
    SCOPED_TRACE(path);
    internvideo::v1::EmbedVideoRequest request;
    *request.mutable_video() = Source(path);
    internvideo::v1::EmbedVideoResponse response;
    grpc::ClientContext context;
    const grpc::Status status = stub->EmbedVideo(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();

    torch::NoGradGuard no_grad;
    const torch::Tensor embedding =
        model->EmbedVideos(LoaderClip(*model, path).unsqueeze(0))[0];
    const torch::Tensor unit =
        (embedding / embedding.norm().clamp_min(1e-12)).contiguous();
    ASSERT_EQ(response.video_embedding().values_size(), unit.numel());
    for (int64_t i = 0; i < unit.numel(); ++i) {
      EXPECT_EQ(response.video_embedding().values(i), unit[i].item<float>())
          << i;
    }
  }
}

}  // namespace
}  // namespace iv
