#include "common/model/reference_testing.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace iv::model {

void RunPythonReference(const std::string& script) {
  const std::string command =
      absl::StrCat("/usr/bin/python3 ", script, " ", testing::TempDir());
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

TensorFile ReadReferenceOutput(const std::string& name) {
  absl::StatusOr<TensorFile> file =
      ReadSafetensors(absl::StrCat(testing::TempDir(), "/", name));
  EXPECT_TRUE(file.ok()) << file.status();
  return file.ok() ? *std::move(file) : TensorFile{};
}

double RelativeL2Error(const torch::Tensor& actual,
                       const torch::Tensor& expected) {
  const torch::Tensor reference = expected.to(torch::kFloat64);
  return ((actual.to(torch::kFloat64) - reference).norm() / reference.norm())
      .item<double>();
}

}  // namespace iv::model
