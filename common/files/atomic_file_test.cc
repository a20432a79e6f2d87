#include "common/files/atomic_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "common/testing/temp_dir.h"

namespace iv::files {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary) << contents;
}

// The names in `dir`, to show that no temporary file is left.
std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

std::unique_ptr<AtomicFileWriter> OpenOrDie(const std::string& path) {
  absl::StatusOr<std::unique_ptr<AtomicFileWriter>> file =
      AtomicFileWriter::Open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  return file.ok() ? std::move(*file) : nullptr;
}

TEST(AtomicFileWriterTest, CommitReplacesTheFileWithWhatWasAppended) {
  const std::string dir = test::FreshTempDir("commit");
  const std::string path = dir + "/data.bin";
  WriteFile(path, "old");
  std::unique_ptr<AtomicFileWriter> file = OpenOrDie(path);
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->Append("new ", 4).ok());
  const std::string binary("\0\xff", 2);
  ASSERT_TRUE(file->Append(binary.data(), binary.size()).ok());
  ASSERT_TRUE(file->Append(nullptr, 0).ok());
  EXPECT_EQ(ReadFile(path), "old");  // nothing shows before Commit
  ASSERT_TRUE(file->Commit().ok());
  EXPECT_EQ(ReadFile(path), "new " + binary);
  EXPECT_THAT(Names(dir), UnorderedElementsAre("data.bin"));
  EXPECT_EQ(file->Commit().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(file->Append("x", 1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadFile(path), "new " + binary);
}

TEST(AtomicFileWriterTest, UncommittedWriterLeavesTheOldFileAndNoTemporary) {
  const std::string dir = test::FreshTempDir("uncommitted");
  const std::string path = dir + "/data.txt";
  WriteFile(path, "old");
  {
    std::unique_ptr<AtomicFileWriter> file = OpenOrDie(path);
    ASSERT_NE(file, nullptr);
    ASSERT_TRUE(file->Append("new", 3).ok());
    EXPECT_EQ(Names(dir).size(), 2);  // the temporary file, beside the target
  }
  EXPECT_EQ(ReadFile(path), "old");
  EXPECT_THAT(Names(dir), UnorderedElementsAre("data.txt"));

  {
    std::unique_ptr<AtomicFileWriter> file = OpenOrDie(dir + "/new.txt");
    ASSERT_NE(file, nullptr);
  }
  EXPECT_THAT(Names(dir), UnorderedElementsAre("data.txt"));
}

TEST(AtomicFileWriterTest, TwoWritersToOnePathDoNotClash) {
  const std::string dir = test::FreshTempDir("two_writers");
  const std::string path = dir + "/data.txt";
  std::unique_ptr<AtomicFileWriter> a = OpenOrDie(path);
  std::unique_ptr<AtomicFileWriter> b = OpenOrDie(path);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(a->Append("first writer", 12).ok());
  ASSERT_TRUE(b->Append("second", 6).ok());
  ASSERT_TRUE(a->Commit().ok());
  EXPECT_EQ(ReadFile(path), "first writer");
  ASSERT_TRUE(b->Commit().ok());
  EXPECT_EQ(ReadFile(path), "second");  // the last to commit wins, whole
  EXPECT_THAT(Names(dir), UnorderedElementsAre("data.txt"));
}

TEST(AtomicFileWriterTest, MissingFolderIsNotFoundNamingThePath) {
  const std::string path = test::FreshTempDir("missing") + "/no/such/f.txt";
  absl::StatusOr<std::unique_ptr<AtomicFileWriter>> file =
      AtomicFileWriter::Open(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(file.status().message(), HasSubstr(path));
}

TEST(AtomicFileWriterTest, FolderThatIsAFileIsAnError) {
  const std::string dir = test::FreshTempDir("not_a_folder");
  WriteFile(dir + "/file", "");
  absl::Status status = WriteFileAtomically(dir + "/file/f.txt", "x");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);  // ENOTDIR
  EXPECT_THAT(status.message(), HasSubstr(dir + "/file/f.txt"));
}

TEST(AtomicFileWriterTest, ReadOnlyFolderIsPermissionDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "root may write into any folder";
  const std::string dir = test::FreshTempDir("read_only");
  ASSERT_EQ(chmod(dir.c_str(), 0555), 0);
  absl::Status status = WriteFileAtomically(dir + "/f.txt", "x");
  chmod(dir.c_str(), 0755);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(status.message(), HasSubstr(dir + "/f.txt"));
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(AtomicFileWriterTest, FailedCommitLeavesTheTargetAndNoTemporary) {
  const std::string dir = test::FreshTempDir("failed_commit");
  const std::string path = dir + "/target";
  fs::create_directories(path + "/inside");  // a folder cannot be renamed over
  std::unique_ptr<AtomicFileWriter> file = OpenOrDie(path);
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(file->Append("x", 1).ok());
  absl::Status status = file->Commit();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr(path));
  EXPECT_THAT(Names(dir), UnorderedElementsAre("target"));
  EXPECT_TRUE(fs::is_directory(path + "/inside"));
}

TEST(PendingFileTest, CommitsWhatAnotherWriterPutAtTheTemporaryPath) {
  const std::string dir = test::FreshTempDir("pending");
  const std::string path = dir + "/video.mp4";
  WriteFile(path, "old");
  PendingFile file(path);
  EXPECT_EQ(file.path(), path);
  EXPECT_EQ(file.temp_path().rfind(path + ".tmp.", 0), 0) << file.temp_path();
  EXPECT_NE(PendingFile(path).temp_path(), file.temp_path());
  EXPECT_THAT(Names(dir), UnorderedElementsAre("video.mp4"));  // none made yet
  WriteFile(file.temp_path(), "new");
  EXPECT_EQ(ReadFile(path), "old");
  ASSERT_TRUE(file.Commit().ok());
  EXPECT_EQ(ReadFile(path), "new");
  EXPECT_THAT(Names(dir), UnorderedElementsAre("video.mp4"));
  EXPECT_EQ(file.Commit().code(), absl::StatusCode::kFailedPrecondition);
  file.Discard();  // after a commit: nothing to remove
  EXPECT_EQ(ReadFile(path), "new");
}

TEST(PendingFileTest, DiscardedOrDestroyedRemovesTheTemporaryFile) {
  const std::string dir = test::FreshTempDir("pending_discard");
  const std::string path = dir + "/video.mp4";
  WriteFile(path, "old");
  PendingFile discarded(path);
  WriteFile(discarded.temp_path(), "new");
  discarded.Discard();
  discarded.Discard();
  EXPECT_EQ(discarded.Commit().code(), absl::StatusCode::kFailedPrecondition);
  {
    PendingFile destroyed(path);
    WriteFile(destroyed.temp_path(), "new");
  }
  EXPECT_EQ(ReadFile(path), "old");
  EXPECT_THAT(Names(dir), UnorderedElementsAre("video.mp4"));
}

TEST(PendingFileTest, NothingWrittenIsNotFound) {
  const std::string dir = test::FreshTempDir("pending_nothing");
  PendingFile file(dir + "/video.mp4");
  absl::Status status = file.Commit();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr(file.temp_path()));
  EXPECT_TRUE(fs::is_empty(dir));
}

TEST(WriteFileAtomicallyTest, WritesAndReplaces) {
  const std::string dir = test::FreshTempDir("write");
  const std::string path = dir + "/a.txt";
  ASSERT_TRUE(WriteFileAtomically(path, "first").ok());
  EXPECT_EQ(ReadFile(path), "first");
  ASSERT_TRUE(WriteFileAtomically(path, "").ok());
  EXPECT_EQ(ReadFile(path), "");
  EXPECT_TRUE(fs::exists(path));
  EXPECT_THAT(Names(dir), UnorderedElementsAre("a.txt"));
  EXPECT_EQ(WriteFileAtomically(dir + "/missing/a.txt", "x").code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace iv::files
