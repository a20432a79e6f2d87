#include "common/testing/service_videos.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "common/synthworld/renderer.h"
#include "common/testing/temp_dir.h"

namespace iv::test {

ServiceTestVideos RenderServiceTestVideos(const std::string& name,
                                          uint64_t seed, int clips,
                                          int untrimmed) {
  namespace fs = std::filesystem;
  ServiceTestVideos out;
  out.root = FreshTempDir(name);
  out.videos = out.root + "/videos";
  out.outside = out.root + "/outside";
  synthworld::SynthOptions options;
  options.out_dir = out.videos;
  options.seed = seed;
  options.rendering.size = 64;
  options.train_clips = clips;
  options.val_clips = 0;
  options.test_clips = 0;
  options.test_untrimmed = untrimmed;
  options.threads = 2;
  EXPECT_TRUE(synthworld::RenderWorld(options, {}).ok());
  fs::create_directories(out.outside);
  fs::copy_file(out.videos + "/clips/train_00000.mp4",
                out.outside + "/secret.mp4");
  std::mt19937 rng(1);
  std::string noise(20000, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  std::ofstream(out.videos + "/corrupt.mp4", std::ios::binary) << noise;
  return out;
}

}  // namespace iv::test
