#include "common/model/reference_testing.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>

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

const torch::Tensor& ExpectedTensor(const TensorFile& io,
                                    const std::string& name) {
  const torch::Tensor* tensor = io.Find(name);
  TORCH_CHECK(tensor != nullptr, "the reference wrote no ", name);
  return *tensor;
}

double ReferenceError(const TensorFile& io, const std::string& name,
                      const torch::Tensor& actual, const std::string& label) {
  const torch::Tensor& expected = ExpectedTensor(io, name);
  EXPECT_EQ(actual.sizes(), expected.sizes()) << name;
  const double error = RelativeL2Error(actual, expected);
  std::cout << label << (label.empty() ? "" : ": ") << "relative L2 error of "
            << name << ": " << error << "\n";
  return error;
}

}  // namespace iv::model
