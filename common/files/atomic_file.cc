#include "common/files/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"

namespace iv::files {
namespace {

std::string TempPathFor(const std::string& path) {
  static std::atomic<int> counter{0};
  return absl::StrCat(path, ".tmp.", getpid(), ".", counter++);
}

// `what` is a literal so that nothing can change errno before it is read.
absl::Status Errno(const char* what, const std::string& path) {
  const int error = errno;
  return absl::ErrnoToStatus(error, absl::StrCat(what, " ", path));
}

// Flushes what the kernel holds of `path` (a file or a folder) to the disk.
// Linux syncs an inode whatever fd it is reached through, so a read-only
// descriptor is enough, and the writer's own may already be closed.
absl::Status Sync(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  absl::Status status;
  if (fsync(fd) != 0) status = Errno("cannot fsync", path);
  close(fd);
  return status;
}

}  // namespace

PendingFile::PendingFile(std::string path)
    : path_(std::move(path)), temp_path_(TempPathFor(path_)) {}

absl::Status PendingFile::Commit() {
  if (done_) {
    return absl::FailedPreconditionError(
        absl::StrCat(temp_path_, " was already committed or discarded"));
  }
  absl::Status status = Sync(temp_path_);
  if (status.ok() && std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int error = errno;
    status = absl::ErrnoToStatus(
        error, absl::StrCat("cannot rename ", temp_path_, " to ", path_));
  }
  if (!status.ok()) {
    Discard();
    return status;
  }
  done_ = true;
  // The rename is an entry in the folder: until the folder is synced a crash
  // may bring back the old file, or no file at all if it is new.
  std::string folder = std::filesystem::path(path_).parent_path().string();
  if (folder.empty()) folder = ".";
  return Sync(folder);
}

void PendingFile::Discard() {
  if (done_) return;
  done_ = true;
  // ENOENT is no error: the writer may have failed before creating the file.
  unlink(temp_path_.c_str());
}

absl::StatusOr<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Open(
    const std::string& path) {
  std::unique_ptr<AtomicFileWriter> writer(new AtomicFileWriter(path));
  const std::string& temp = writer->file_.temp_path();
  // O_TRUNC rather than O_EXCL: a file of this name can only be left over
  // from a crashed process that had our pid, and is ours to replace.
  writer->fd_ =
      open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (writer->fd_ < 0) return Errno("cannot create", temp);
  return writer;
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) close(fd_);
  // file_'s destructor removes the temporary file unless it was committed.
}

absl::Status AtomicFileWriter::Append(const void* data, size_t size) {
  if (fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("writer for ", path(), " was committed"));
  }
  if (!error_.ok()) return error_;
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return error_ = Errno("cannot write", file_.temp_path());
    p += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::Commit() {
  if (fd_ < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("writer for ", path(), " was committed"));
  }
  // close() can report a write that failed late (NFS, quotas).
  if (close(std::exchange(fd_, -1)) != 0 && error_.ok()) {
    error_ = Errno("cannot close", file_.temp_path());
  }
  if (!error_.ok()) {
    file_.Discard();
    return error_;
  }
  return file_.Commit();
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents) {
  absl::StatusOr<std::unique_ptr<AtomicFileWriter>> file =
      AtomicFileWriter::Open(path);
  if (!file.ok()) return file.status();
  absl::Status status = (*file)->Append(contents.data(), contents.size());
  return status.ok() ? (*file)->Commit() : status;
}

}  // namespace iv::files
