// What the model library's tests share to compare a module with a Python
// reference (e.g. videomae/testdata/videomae_reference.py): running the
// script once into the test's temporary folder, reading the safetensors
// files it wrote, and the error measure the tests bound.
#ifndef COMMON_MODEL_REFERENCE_TESTING_H_
#define COMMON_MODEL_REFERENCE_TESTING_H_

#include <torch/torch.h>

#include <string>

#include "common/safetensors/safetensors.h"

namespace iv::model {

// Runs Debian's /usr/bin/python3 on `script` (relative to the workspace
// root, listed in the test's data) with testing::TempDir() as its only
// argument; a non-zero exit fails the calling test.
void RunPythonReference(const std::string& script);

// Reads testing::TempDir()/`name`; a failure fails the calling test and
// gives an empty file.
TensorFile ReadReferenceOutput(const std::string& name);

// ||actual - expected|| / ||expected||, computed in float64.
double RelativeL2Error(const torch::Tensor& actual,
                       const torch::Tensor& expected);

// The tensor `name` the reference wrote into `io`; throws (failing the
// calling test) when it wrote none.
const torch::Tensor& ExpectedTensor(const TensorFile& io,
                                    const std::string& name);

// RelativeL2Error of `actual` against ExpectedTensor(io, name), printed
// with `label` for the record; a shape mismatch fails the calling test.
double ReferenceError(const TensorFile& io, const std::string& name,
                      const torch::Tensor& actual,
                      const std::string& label = "");

}  // namespace iv::model

#endif  // COMMON_MODEL_REFERENCE_TESTING_H_
