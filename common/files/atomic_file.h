// Files that appear whole or not at all. Data goes to a temporary file in the
// target's folder (the same file system, so rename(2) replaces the target in
// one step); committing fsyncs it, renames it over the target and fsyncs the
// folder, so that after a crash or power loss readers find the old file or
// the new one, never a torn or empty one.
//
// Temporary names are the target's path plus ".tmp.<pid>.<counter>": unique
// per process and call, so writers in several threads or processes never
// share one (the last to commit wins).
#ifndef COMMON_FILES_ATOMIC_FILE_H_
#define COMMON_FILES_ATOMIC_FILE_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace iv::files {

// A temporary path beside `path` for data that a library writes by name
// itself (FFmpeg opens its output file). Nothing is created on disk here.
// Commit puts what was written there in place; otherwise the destructor
// removes it, so a failed writer leaves nothing behind.
class PendingFile {
 public:
  explicit PendingFile(std::string path);
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;
  ~PendingFile() { Discard(); }

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

  // Fsyncs temp_path(), renames it over path() and fsyncs the folder. On an
  // error the temporary file is removed and path() keeps its old contents,
  // but for a failed folder fsync: the new file is in place then, only not
  // certain to survive a crash. Errors carry errno's code and name the file,
  // e.g. NOT_FOUND when nothing was written to temp_path(). Once committed or
  // discarded: FAILED_PRECONDITION.
  absl::Status Commit();

  // Removes the temporary file, if there is one and it was not committed.
  // Idempotent.
  void Discard();

 private:
  const std::string path_;
  const std::string temp_path_;
  bool done_ = false;  // committed or discarded
};

// Streams data into a new file that replaces `path` only on Commit:
//
//   absl::StatusOr<std::unique_ptr<AtomicFileWriter>> file =
//       AtomicFileWriter::Open(path);
//   if (!file.ok()) return file.status();
//   absl::Status s = (*file)->Append(header.data(), header.size());
//   if (s.ok()) s = (*file)->Append(body.data(), body.size());
//   return s.ok() ? (*file)->Commit() : s;
//
// Destroying a writer that was not committed leaves `path` as it was and
// removes the temporary file.
class AtomicFileWriter {
 public:
  // Creates the temporary file. Errors carry errno's code and name the file:
  // NOT_FOUND for a missing folder, PERMISSION_DENIED for a read-only one.
  static absl::StatusOr<std::unique_ptr<AtomicFileWriter>> Open(
      const std::string& path);

  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  // Writes all `size` bytes. After an error the file can no longer be
  // committed: every later call returns that error.
  absl::Status Append(const void* data, size_t size);

  // Closes the file and commits it as PendingFile::Commit does. Returns the
  // first Append error instead (nothing is committed then). Once only: a
  // second call is FAILED_PRECONDITION.
  absl::Status Commit();

  const std::string& path() const { return file_.path(); }

 private:
  explicit AtomicFileWriter(const std::string& path) : file_(path) {}

  PendingFile file_;
  int fd_ = -1;  // open on file_.temp_path() from Open until Commit
  absl::Status error_;
};

// Writes `contents` to `path` through an AtomicFileWriter: readers see the
// old contents or all of the new ones.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents);

}  // namespace iv::files

#endif  // COMMON_FILES_ATOMIC_FILE_H_
