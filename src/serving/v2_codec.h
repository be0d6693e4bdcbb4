// KServe V2 / Open Inference Protocol REST codec: turns an HTTP inference request body into
// runtime::Tensors and model outputs back into a response body. Supports Triton's binary tensor
// extension (the Inference-Header-Content-Length header; `binary_data_size` / `binary_data`
// parameters), so tritonclient and perf_analyzer work unchanged.
//
// Request (JSON part):
//   {"id": "r1", "parameters": {"binary_data_output": false},
//    "inputs":  [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [[1, 2, 3, 4]]},
//                {"name": "y", "shape": [2], "datatype": "INT64",
//                 "parameters": {"binary_data_size": 16}}],
//    "outputs": [{"name": "probs", "parameters": {"binary_data": true}}]}
//   `data` may be flat or nested (row-major); BOOL as true/false; BYTES as JSON strings; FP16 as
//   numbers (rounded to half, nearest-even). Integers must be integral JSON numbers in range.
//   Binary inputs take their bytes, in input order, from the body after the JSON part.
//
// Response:
//   {"model_name": "m", "model_version": "3", "id": "r1",
//    "outputs": [{"name": "probs", "datatype": "FP32", "shape": [1, 3], "data": [0.1, 0.2, 0.7]}]}
//   Data is always flat. Floats use the shortest representation that round-trips
//   (std::to_chars); NaN and ±Infinity, which JSON cannot express, are written as null (request
//   such outputs as binary to get exact values). BYTES elements that are not valid UTF-8 have
//   invalid bytes replaced by U+FFFD in JSON (binary output keeps them exact).
//   Binary outputs carry "parameters": {"binary_data_size": N} instead of "data" and their bytes
//   are appended after the JSON, in output order; EncodedResponse::json_length is then the
//   Inference-Header-Content-Length to send.
//
// Errors from ParseInferRequest are InvalidArgument with a message naming the field and input,
// e.g. "input 'x': shape [2,4] needs 8 elements, got 7". No input crashes the parser.
//
// Thread-safety: both functions are thread-safe. Parsing reuses a thread-local simdjson parser
// for bodies up to 256 KiB (it then holds ~15 bytes per byte of the largest such body, ~4 MB per
// thread at most); larger bodies get a parser of their own that is freed on return.
// Errors are InvalidArgument, except ResourceExhausted when the parser cannot allocate.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tensor.h"

namespace hotswap::serving {

// One entry of the request's "outputs" list.
struct RequestedOutput {
  std::string name;
  bool binary = false;  // parameters.binary_data
  bool operator==(const RequestedOutput&) const = default;
};

struct InferRequest {
  std::string id;                       // echoed back; empty when the request had none
  std::vector<runtime::Tensor> inputs;  // in request order; names unique
  // Empty = all outputs; names unique. Each entry's `binary` is already resolved: its own
  // parameters.binary_data when given, else binary_outputs_by_default.
  std::vector<RequestedOutput> outputs;
  bool binary_outputs_by_default = false;  // request-level parameters.binary_data_output
};

// `body` is the whole HTTP body. `json_length` is the Inference-Header-Content-Length header value
// when present: the first json_length bytes are JSON, the rest is the concatenated binary data of
// the inputs whose parameters carry `binary_data_size`, in input order. Every byte must be used.
absl::StatusOr<InferRequest> ParseInferRequest(std::string_view body,
                                               std::optional<size_t> json_length);

struct EncodedResponse {
  std::string body;
  std::optional<size_t> json_length;  // set when binary outputs are present
};

// Encodes `outputs` (normally what the backend produced for `requested`). When `requested` is
// non-empty only outputs named there are written (in the order of `outputs`); an output is binary
// when its RequestedOutput says so, or, when it is not listed, when `binary_by_default` is set.
// "id" is written only when `id` is non-empty. Tensors are trusted to be well-formed (data size
// matching shape and datatype); a short buffer is never read past its end.
EncodedResponse EncodeInferResponse(std::string_view model_name, std::string_view model_version,
                                    std::string_view id,
                                    const std::vector<runtime::Tensor>& outputs,
                                    const std::vector<RequestedOutput>& requested,
                                    bool binary_by_default);

}  // namespace hotswap::serving
