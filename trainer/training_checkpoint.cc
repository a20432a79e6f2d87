#include "trainer/training_checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files/atomic_file.h"
#include "common/files/checksums.h"
#include "common/files/read_file.h"
#include "common/model/checkpoint/native_checkpoint.h"
#include "nlohmann/json.hpp"

namespace iv::trainer {
namespace {

namespace fs = std::filesystem;

constexpr char kCheckpointsDir[] = "checkpoints";
constexpr char kOptimizerFile[] = "optimizer.pt";
constexpr char kStateFile[] = "trainer_state.json";
constexpr char kStepPrefix[] = "step-";

absl::Status SyncFolder(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", dir));
  const int rc = fsync(fd);
  close(fd);
  return rc == 0 ? absl::OkStatus()
                 : absl::InternalError(absl::StrCat("cannot fsync ", dir));
}

std::string StateJson(const TrainerState& state) {
  nlohmann::json json = {{"step", state.step},
                         {"epoch", state.epoch},
                         {"batch_in_epoch", state.batch_in_epoch},
                         {"seed", state.seed},
                         {"loss", state.loss},
                         {"metrics", state.metrics}};
  return json.dump(2);
}

absl::StatusOr<TrainerState> ParseState(const std::string& text,
                                        const std::string& path) {
  try {
    const nlohmann::json json = nlohmann::json::parse(text);
    TrainerState state;
    state.step = json.at("step").get<int64_t>();
    state.epoch = json.at("epoch").get<int>();
    state.batch_in_epoch = json.at("batch_in_epoch").get<int64_t>();
    state.seed = json.at("seed").get<uint64_t>();
    state.loss = json.value("loss", 0.0);
    state.metrics = json.value("metrics", std::map<std::string, double>{});
    return state;
  } catch (const nlohmann::json::exception& error) {
    return absl::DataLossError(absl::StrCat(path, ": ", error.what()));
  }
}

// The step of a folder named "step-00000123", or -1.
int64_t StepOf(const fs::path& dir) {
  const std::string name = dir.filename().string();
  int64_t step = -1;
  if (name.rfind(kStepPrefix, 0) != 0 ||
      !absl::SimpleAtoi(name.substr(sizeof(kStepPrefix) - 1), &step)) {
    return -1;
  }
  return step;
}

// The folders named like checkpoints under `output_dir`, oldest first, by
// name alone: nothing in them is read.
std::vector<std::pair<int64_t, std::string>> CheckpointFolders(
    const std::string& output_dir) {
  std::vector<std::pair<int64_t, std::string>> dirs;
  const fs::path root = fs::path(output_dir) / kCheckpointsDir;
  std::error_code error;
  if (!fs::is_directory(root, error)) return dirs;
  for (const auto& entry : fs::directory_iterator(root, error)) {
    const int64_t step = StepOf(entry.path());
    if (step >= 0 && entry.is_directory()) {
      dirs.emplace_back(step, entry.path().string());
    }
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

// Every checkpoint the trainer writes lists its files in CHECKSUMS, so one
// without that list is as damaged as one whose files differ from it.
absl::Status VerifyCheckpointFiles(const std::string& dir) {
  const absl::Status verified = files::VerifyChecksums(dir);
  if (absl::IsNotFound(verified)) {
    return absl::DataLossError(verified.message());
  }
  return verified;
}

}  // namespace

absl::StatusOr<std::string> WriteTrainingCheckpoint(
    const std::string& output_dir, model::InternVideoModel& model,
    const TrainingOptimizer& optimizer, const TrainerState& state,
    const std::string& vocab_path) {
  const std::string root = absl::StrCat(output_dir, "/", kCheckpointsDir);
  const std::string name = absl::StrFormat("%s%08d", kStepPrefix, state.step);
  const std::string final_dir = absl::StrCat(root, "/", name);
  const std::string temp_dir =
      absl::StrCat(root, "/.", name, ".tmp.", getpid());
  std::error_code error;
  fs::remove_all(temp_dir, error);
  fs::create_directories(temp_dir, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot create ", temp_dir, ": ", error.message()));
  }

  model::NativeCheckpoint native;
  native.arch = model::kInternVideoArch;
  native.config = model->config().proto;
  native.weights = model::StateDict(*model);
  native.metadata["step"] = absl::StrCat(state.step);
  std::vector<std::string> files = {model::kNativeWeightsFile,
                                    model::kNativeConfigFile, kOptimizerFile,
                                    kStateFile};
  if (!vocab_path.empty()) {
    const std::string vocab_name = fs::path(vocab_path).filename().string();
    fs::copy_file(vocab_path, absl::StrCat(temp_dir, "/", vocab_name),
                  fs::copy_options::overwrite_existing, error);
    if (error) {
      return absl::InternalError(
          absl::StrCat("cannot copy ", vocab_path, ": ", error.message()));
    }
    native.config.mutable_multimodal_encoder()
        ->mutable_tokenizer()
        ->set_vocab_path(vocab_name);
    files.push_back(vocab_name);
  }
  if (absl::Status s = model::WriteNativeCheckpoint(temp_dir, native);
      !s.ok()) {
    return s;
  }
  try {
    torch::serialize::OutputArchive archive;
    optimizer.Save(archive);
    std::ostringstream bytes;
    archive.save_to(bytes);
    if (absl::Status s = files::WriteFileAtomically(
            absl::StrCat(temp_dir, "/", kOptimizerFile), bytes.str());
        !s.ok()) {
      return s;
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(e.what_without_backtrace());
  }
  if (absl::Status s = files::WriteFileAtomically(
          absl::StrCat(temp_dir, "/", kStateFile), StateJson(state));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = files::WriteChecksums(temp_dir, files); !s.ok()) {
    return s;
  }
  fs::remove_all(final_dir, error);
  fs::rename(temp_dir, final_dir, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot rename ", temp_dir, ": ", error.message()));
  }
  if (absl::Status s = SyncFolder(root); !s.ok()) return s;
  return final_dir;
}

std::vector<CheckpointInfo> ListTrainingCheckpoints(
    const std::string& output_dir, std::vector<std::string>* skipped) {
  std::vector<CheckpointInfo> found;
  const std::vector<std::pair<int64_t, std::string>> dirs =
      CheckpointFolders(output_dir);
  for (const auto& [step, dir] : dirs) {
    absl::Status verified = VerifyCheckpointFiles(dir);
    absl::StatusOr<std::string> text =
        files::ReadFile(absl::StrCat(dir, "/", kStateFile));
    absl::StatusOr<TrainerState> state =
        text.ok() ? ParseState(*text, dir) : text.status();
    if (!verified.ok() || !state.ok()) {
      if (skipped) {
        skipped->push_back(verified.ok() ? state.status().ToString()
                                         : verified.ToString());
      }
      continue;
    }
    found.push_back({dir, *state});
  }
  return found;
}

absl::StatusOr<TrainerState> LoadTrainingCheckpoint(
    const std::string& path, model::InternVideoModel& model,
    TrainingOptimizer& optimizer) {
  if (absl::Status s = VerifyCheckpointFiles(path); !s.ok()) return s;
  absl::StatusOr<model::NativeCheckpoint> native =
      model::ReadNativeCheckpoint(path);
  if (!native.ok()) return native.status();
  absl::StatusOr<model::LoadReport> loaded =
      model::LoadStateDict(*model, native->weights);
  if (!loaded.ok()) return loaded.status();
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(absl::StrCat(path, "/", kOptimizerFile));
    if (absl::Status s = optimizer.Load(archive); !s.ok()) return s;
  } catch (const c10::Error& e) {
    return absl::DataLossError(absl::StrCat(path, "/", kOptimizerFile, ": ",
                                            e.what_without_backtrace()));
  }
  absl::StatusOr<std::string> text =
      files::ReadFile(absl::StrCat(path, "/", kStateFile));
  if (!text.ok()) return text.status();
  return ParseState(*text, path);
}

void PruneTrainingCheckpoints(const std::string& output_dir, int keep) {
  if (keep <= 0) return;
  // By name only: verifying every kept checkpoint here would re-read them
  // all each time one is written.
  const std::vector<std::pair<int64_t, std::string>> all =
      CheckpointFolders(output_dir);
  std::error_code error;
  for (size_t i = 0; i + keep < all.size(); ++i) {
    fs::remove_all(all[i].second, error);
  }
}

}  // namespace iv::trainer
