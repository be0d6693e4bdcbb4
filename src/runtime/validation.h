// Input validation: checks a request's tensors against a model's input schema before they reach a
// backend, so engines only ever see well-formed inputs and users get a message that says which
// input is wrong and what was expected. Also synthesises valid inputs for warm-up runs.
//
// Rules checked by ValidateInputs (first problem found is reported, InvalidArgument):
//   - every input is named in the schema:   "unexpected input 'z' (model inputs: x, y)"
//   - no input appears twice:               "duplicate input 'x'"
//   - every schema input is present:        "missing input 'x'"
//   - datatype equal:                       "input 'x': expected datatype FP32, got INT64"
//   - rank equal and each fixed dim equal (a schema dim of -1 matches any size >= 0):
//                                           "input 'x': expected shape [-1,4], got [2,5]"
//   - data size consistent with the shape:  "input 'x': shape [2,4] of FP32 needs 32 bytes, got 28"
//     (BYTES: well-formed 4-byte length prefixes, element count equal to the shape's).
//
// Thread-safety: stateless functions; safe to call concurrently. ValidateInputs allocates nothing
// on success.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "domain/model.h"
#include "runtime/tensor.h"

namespace hotswap::runtime {

absl::Status ValidateInputs(const domain::TensorSchema& schema, const std::vector<Tensor>& inputs);

// One valid tensor per schema input, for warm-up: numeric data all zeros, BYTES elements empty
// strings. A variable (-1) first dimension becomes `batch` (values < 1 are taken as 1); any other
// variable dimension becomes 1.
std::vector<Tensor> SynthesizeInputs(const domain::TensorSchema& schema, int64_t batch);

}  // namespace hotswap::runtime
