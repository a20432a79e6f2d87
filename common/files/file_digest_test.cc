#include "common/files/file_digest.h"

#include <fstream>

#include "common/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace iv::files {
namespace {

TEST(Sha256FileTest, MatchesKnownDigests) {
  const std::string dir = test::FreshTempDir("digest");
  const std::string path = dir + "/abc.txt";
  std::ofstream(path) << "abc";
  // FIPS 180-2 test vector for "abc".
  EXPECT_EQ(*Sha256File(path),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string empty = dir + "/empty";
  std::ofstream{empty};
  EXPECT_EQ(*Sha256File(empty),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256Test, MatchesKnownDigests) {
  EXPECT_EQ(Sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256FileTest, MissingFileIsNotFound) {
  EXPECT_EQ(Sha256File("/nonexistent/file").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace iv::files
