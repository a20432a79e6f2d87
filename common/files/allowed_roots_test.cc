#include "common/files/allowed_roots.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/testing/temp_dir.h"

namespace iv::files {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// <tmp>/data (the root, with video.mp4 and sub/clip.mp4), <tmp>/data2 (a
// sibling whose name starts with the root's) and <tmp>/outside, reached
// from the root by the symlinks escape.mp4 (a file) and out (a folder).
class AllowedRootsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = fs::canonical(test::FreshTempDir("allowed_roots"));
    data_ = tmp_ / "data";
    fs::create_directories(data_ / "sub");
    fs::create_directories(tmp_ / "data2");
    fs::create_directories(tmp_ / "outside" / "deep");
    for (const fs::path& file :
         {data_ / "video.mp4", data_ / "sub" / "clip.mp4",
          tmp_ / "data2" / "video.mp4", tmp_ / "outside" / "secret.mp4"}) {
      std::ofstream(file) << "bytes";
    }
    fs::create_symlink(tmp_ / "outside" / "secret.mp4", data_ / "escape.mp4");
    fs::create_symlink(tmp_ / "outside" / "deep", data_ / "out");
    fs::create_symlink(data_ / "sub", data_ / "inner");
  }

  fs::path tmp_;
  fs::path data_;
};

TEST_F(AllowedRootsTest, ResolvePathFollowsSymlinksAndDotDot) {
  EXPECT_EQ(ResolvePath(data_ / "escape.mp4"), tmp_ / "outside/secret.mp4");
  EXPECT_EQ(ResolvePath(data_ / "sub/../video.mp4"), data_ / "video.mp4");
  // ".." after a symlinked folder leaves the folder it points to.
  EXPECT_EQ(ResolvePath(data_ / "out/../secret.mp4"),
            tmp_ / "outside/secret.mp4");
  // Missing parts are normalized as written.
  EXPECT_EQ(ResolvePath(data_ / "inner/new/../later.mp4"),
            data_ / "sub/later.mp4");
  EXPECT_EQ(ResolvePath(""), fs::path());
}

TEST_F(AllowedRootsTest, ResolvePathMakesRelativePathsAbsolute) {
  const fs::path relative = fs::relative(data_ / "video.mp4");
  ASSERT_TRUE(relative.is_relative());
  EXPECT_EQ(ResolvePath(relative), data_ / "video.mp4");
}

TEST(IsUnderTest, ComparesWholeComponents) {
  EXPECT_TRUE(IsUnder("/data/video.mp4", "/data"));
  EXPECT_TRUE(IsUnder("/data", "/data"));
  EXPECT_TRUE(IsUnder("/data/x", "/data/"));
  EXPECT_TRUE(IsUnder("/data/x", "/"));
  EXPECT_FALSE(IsUnder("/data2/video.mp4", "/data"));
  EXPECT_FALSE(IsUnder("/dat", "/data"));
  EXPECT_FALSE(IsUnder("/", "/data"));
  EXPECT_FALSE(IsUnder("/data/x", ""));
  EXPECT_FALSE(IsUnder("", "/data"));
}

TEST_F(AllowedRootsTest, ContainsOnlyWhatResolvesUnderARoot) {
  const AllowedRoots roots({(data_ / "sub/..").string()});
  EXPECT_THAT(roots.roots(), ElementsAre(data_));
  EXPECT_TRUE(roots.Contains((data_ / "video.mp4").string()));
  EXPECT_TRUE(roots.Contains(data_.string()));
  EXPECT_TRUE(roots.Contains((data_ / "inner/clip.mp4").string()));
  EXPECT_TRUE(roots.Contains((data_ / "not/yet/written").string()));
  EXPECT_FALSE(roots.Contains((data_ / "escape.mp4").string()));
  EXPECT_FALSE(roots.Contains((data_ / "out/anything").string()));
  EXPECT_FALSE(roots.Contains((data_ / "../outside/secret.mp4").string()));
  EXPECT_FALSE(roots.Contains((tmp_ / "data2/video.mp4").string()));
  EXPECT_FALSE(roots.Contains(tmp_.string()));
  // Relative to the working directory.
  EXPECT_TRUE(roots.Contains(fs::relative(data_ / "video.mp4").string()));
  EXPECT_FALSE(roots.Contains(fs::relative(tmp_ / "data2").string()));
}

TEST_F(AllowedRootsTest, ARootThatIsASymlinkHoldsWhatItPointsTo) {
  fs::create_symlink(data_, tmp_ / "data_link");
  const AllowedRoots roots({(tmp_ / "data_link").string()});
  EXPECT_TRUE(roots.Contains((data_ / "video.mp4").string()));
  EXPECT_TRUE(roots.Contains((tmp_ / "data_link/video.mp4").string()));
}

TEST_F(AllowedRootsTest, NoRootsHoldNothing) {
  const AllowedRoots none({});
  EXPECT_FALSE(none.Contains((data_ / "video.mp4").string()));
  EXPECT_THAT(none.Resolve("video.mp4"), IsEmpty());
  const AllowedRoots empty_names({"", ""});
  EXPECT_THAT(empty_names.roots(), IsEmpty());
  EXPECT_FALSE(empty_names.Contains("/"));
}

TEST_F(AllowedRootsTest, ResolveTriesARelativePathUnderEachRoot) {
  const AllowedRoots roots({data_.string(), (tmp_ / "data2").string()});
  EXPECT_THAT(roots.Resolve("video.mp4"),
              ElementsAre(data_ / "video.mp4", tmp_ / "data2/video.mp4"));
  EXPECT_THAT(roots.Resolve("sub/clip.mp4"),
              ElementsAre(data_ / "sub/clip.mp4", tmp_ / "data2/sub/clip.mp4"));
  // Out of data, so only under data2.
  EXPECT_THAT(roots.Resolve("../data2/video.mp4"),
              ElementsAre(tmp_ / "data2/video.mp4"));
  // The symlink escapes data; data2 has no such file, but may get one.
  EXPECT_THAT(roots.Resolve("escape.mp4"),
              ElementsAre(tmp_ / "data2/escape.mp4"));
  EXPECT_THAT(roots.Resolve("../outside/secret.mp4"), IsEmpty());
  EXPECT_THAT(roots.Resolve("../../etc/passwd"), IsEmpty());
  EXPECT_THAT(roots.Resolve(""), IsEmpty());
  const AllowedRoots data_only({data_.string()});
  EXPECT_THAT(data_only.Resolve("escape.mp4"), IsEmpty());
  EXPECT_THAT(data_only.Resolve("out/../secret.mp4"), IsEmpty());
  EXPECT_THAT(data_only.Resolve("inner/clip.mp4"),
              ElementsAre(data_ / "sub/clip.mp4"));
}

TEST_F(AllowedRootsTest, ResolveTakesAnAbsolutePathAsItIs) {
  const AllowedRoots roots({data_.string(), (tmp_ / "data2").string()});
  EXPECT_THAT(roots.Resolve((data_ / "sub/../video.mp4").string()),
              ElementsAre(data_ / "video.mp4"));
  EXPECT_THAT(roots.Resolve((data_ / "escape.mp4").string()), IsEmpty());
  EXPECT_THAT(roots.Resolve((tmp_ / "outside/secret.mp4").string()), IsEmpty());
}

}  // namespace
}  // namespace iv::files
