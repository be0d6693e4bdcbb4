#include "runtime/onnx/onnx_backend.h"

#include <onnxruntime_c_api.h>
#include <onnxruntime_session_options_config_keys.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/status.h"

namespace hotswap::runtime {
namespace {

static_assert(std::endian::native == std::endian::little,
              "BYTES tensors use little-endian length prefixes");

// ---- process-wide engine state -------------------------------------------------------------

// Created once, never destroyed: the env must outlive every session, including sessions a
// static destructor might still hold at exit.
struct OrtRuntime {
  const OrtApi* api = nullptr;
  OrtEnv* env = nullptr;
  OrtMemoryInfo* cpu_memory = nullptr;  // describes borrowed CPU buffers
  OrtAllocator* allocator = nullptr;    // the default CPU allocator (thread-safe, not owned)
  std::string version;                  // "1.30.0"
};

const OrtApi* g_api = nullptr;  // set once by InitRuntime() before any other use
const OrtApi& Api() { return *g_api; }

void LogFromOrt(void* /*param*/, OrtLoggingLevel severity, const char* category, const char* logid,
                const char* code_location, const char* message) {
  log::Level level = severity >= ORT_LOGGING_LEVEL_ERROR     ? log::Level::kError
                     : severity >= ORT_LOGGING_LEVEL_WARNING ? log::Level::kWarn
                                                             : log::Level::kDebug;
  log::Write(level, "onnxruntime",
             {{"category", category ? category : ""},
              {"session", logid ? logid : ""},
              {"where", code_location ? code_location : ""},
              {"detail", message ? message : ""}});
}

// The engine's message (trailing whitespace trimmed); releases `status`.
std::string TakeMessage(OrtStatus* status) {
  std::string message = Api().GetErrorMessage(status);
  Api().ReleaseStatus(status);
  while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) {
    message.pop_back();
  }
  return message;
}

absl::StatusOr<const OrtRuntime*> InitRuntime() {
  const OrtApiBase* base = OrtGetApiBase();
  auto runtime = std::make_unique<OrtRuntime>();
  runtime->version = base->GetVersionString();
  runtime->api = base->GetApi(ORT_API_VERSION);
  if (runtime->api == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("ONNX Runtime library ", runtime->version, " does not serve C API version ",
                     ORT_API_VERSION, " (the version of the headers HotSwap was built with)"));
  }
  g_api = runtime->api;
  OrtStatus* status = Api().CreateEnvWithCustomLogger(
      LogFromOrt, nullptr, ORT_LOGGING_LEVEL_WARNING, "hotswap", &runtime->env);
  if (status != nullptr) {
    return absl::InternalError(
        absl::StrCat("creating the ONNX Runtime env: ", TakeMessage(status)));
  }
  status = Api().CreateCpuMemoryInfo(OrtDeviceAllocator, OrtMemTypeDefault, &runtime->cpu_memory);
  if (status == nullptr) status = Api().GetAllocatorWithDefaultOptions(&runtime->allocator);
  if (status != nullptr) {
    return absl::InternalError(absl::StrCat("ONNX Runtime set-up: ", TakeMessage(status)));
  }
  return runtime.release();  // lives until exit (see OrtRuntime)
}

absl::StatusOr<const OrtRuntime*> Runtime() {
  static const absl::StatusOr<const OrtRuntime*> runtime = InitRuntime();
  return runtime;
}

// Serialises loads so the RSS growth measured around one session creation is that load's.
ABSL_CONST_INIT absl::Mutex g_load_mu(absl::kConstInit);

// ---- RAII for engine objects ---------------------------------------------------------------

struct SessionOptionsDeleter {
  void operator()(OrtSessionOptions* p) const { Api().ReleaseSessionOptions(p); }
};
struct SessionDeleter {
  void operator()(OrtSession* p) const { Api().ReleaseSession(p); }
};
struct TypeInfoDeleter {
  void operator()(OrtTypeInfo* p) const { Api().ReleaseTypeInfo(p); }
};
struct RunOptionsDeleter {
  void operator()(OrtRunOptions* p) const { Api().ReleaseRunOptions(p); }
};
struct ShapeInfoDeleter {
  void operator()(OrtTensorTypeAndShapeInfo* p) const { Api().ReleaseTensorTypeAndShapeInfo(p); }
};
using SessionOptionsPtr = std::unique_ptr<OrtSessionOptions, SessionOptionsDeleter>;
using SessionPtr = std::unique_ptr<OrtSession, SessionDeleter>;
using TypeInfoPtr = std::unique_ptr<OrtTypeInfo, TypeInfoDeleter>;
using ShapeInfoPtr = std::unique_ptr<OrtTensorTypeAndShapeInfo, ShapeInfoDeleter>;
using RunOptionsPtr = std::unique_ptr<OrtRunOptions, RunOptionsDeleter>;

// OrtValues of one Run, released together.
class OrtValues {
 public:
  explicit OrtValues(size_t n) : values_(n, nullptr) {}
  ~OrtValues() {
    for (OrtValue* v : values_) {
      if (v != nullptr) Api().ReleaseValue(v);
    }
  }
  OrtValues(const OrtValues&) = delete;
  OrtValues& operator=(const OrtValues&) = delete;
  OrtValue*& operator[](size_t i) { return values_[i]; }
  OrtValue** data() { return values_.data(); }
  const OrtValue* const* const_data() const { return values_.data(); }

 private:
  absl::InlinedVector<OrtValue*, 8> values_;
};

// ---- errors ---------------------------------------------------------------------------------

// Converts an engine error met while creating a session for an artifact.
absl::Status LoadError(OrtStatus* status, std::string_view path) {
  OrtErrorCode code = Api().GetErrorCode(status);
  std::string detail = TakeMessage(status);
  // The engine repeats the path: "Load model from PATH failed:DETAIL".
  const std::string repeated = absl::StrCat("Load model from ", ToAbsl(path), " failed:");
  if (detail.starts_with(repeated)) detail.erase(0, repeated.size());
  std::string message = absl::StrCat("ONNX Runtime cannot load '", ToAbsl(path), "': ", detail);
  switch (code) {
    case ORT_INVALID_PROTOBUF:
    case ORT_INVALID_GRAPH:
    case ORT_INVALID_ARGUMENT:
      return absl::InvalidArgumentError(message);
    case ORT_FAIL:  // e.g. an operator this runtime does not know
    case ORT_NO_SUCHFILE:
    case ORT_NO_MODEL:
    case ORT_NOT_IMPLEMENTED:
    case ORT_MODEL_LOADED:
      return absl::FailedPreconditionError(message);
    default:
      return absl::InternalError(message);
  }
}

// Converts an engine error met while running a loaded model.
absl::Status RunError(OrtStatus* status, std::string_view what) {
  OrtErrorCode code = Api().GetErrorCode(status);
  std::string message = absl::StrCat(ToAbsl(what), ": ", TakeMessage(status));
  return code == ORT_INVALID_ARGUMENT ? absl::InvalidArgumentError(message)
                                      : absl::InternalError(message);
}

// Any other engine error (describing a session, reading an output): an engine failure.
absl::Status EngineError(OrtStatus* status, std::string_view what) {
  return absl::InternalError(absl::StrCat(ToAbsl(what), ": ", TakeMessage(status)));
}

// Returns `to_status` when the engine call `expr` fails; `to_status` may use the failed
// OrtStatus* as `hs_ort_status_` (and must consume it: LoadError/RunError/EngineError do).
#define HS_ORT_RETURN_IF_ERROR(expr, to_status)      \
  do {                                               \
    OrtStatus* hs_ort_status_ = (expr);              \
    if (hs_ort_status_ != nullptr) return to_status; \
  } while (0)

// ---- types ----------------------------------------------------------------------------------

std::optional<domain::DataType> ToDataType(ONNXTensorElementDataType t) {
  using domain::DataType;
  switch (t) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL:
      return DataType::kBool;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8:
      return DataType::kUint8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16:
      return DataType::kUint16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32:
      return DataType::kUint32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64:
      return DataType::kUint64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8:
      return DataType::kInt8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16:
      return DataType::kInt16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32:
      return DataType::kInt32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64:
      return DataType::kInt64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16:
      return DataType::kFp16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT:
      return DataType::kFp32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE:
      return DataType::kFp64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING:
      return DataType::kBytes;
    default:
      return std::nullopt;
  }
}

std::string ElementTypeName(ONNXTensorElementDataType t) {
  switch (t) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16:
      return "bfloat16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_COMPLEX64:
      return "complex64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_COMPLEX128:
      return "complex128";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT8E4M3FN:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT8E4M3FNUZ:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT8E5M2:
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT8E5M2FNUZ:
      return "float8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT4:
      return "int4";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT4:
      return "uint4";
    default:
      return absl::StrCat("#", static_cast<int>(t));
  }
}

const char* OnnxTypeName(ONNXType t) {
  switch (t) {
    case ONNX_TYPE_SEQUENCE:
      return "a sequence";
    case ONNX_TYPE_MAP:
      return "a map";
    case ONNX_TYPE_OPAQUE:
      return "an opaque value";
    case ONNX_TYPE_SPARSETENSOR:
      return "a sparse tensor";
    case ONNX_TYPE_OPTIONAL:
      return "an optional";
    default:
      return "not a tensor";
  }
}

// ---- memory ---------------------------------------------------------------------------------

int64_t ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long long total = 0, resident = 0;
  int n = std::fscanf(f, "%lld %lld", &total, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

// ---- the loaded model -----------------------------------------------------------------------

// What Run needs to know about one input or output, prepared at load.
struct Port {
  std::string name;
  ONNXTensorElementDataType element_type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  domain::DataType datatype = domain::DataType::kFp32;
};

class OnnxModel : public LoadedModel {
 public:
  OnnxModel(const OrtRuntime* runtime, SessionPtr session, RunOptionsPtr run_options,
            std::vector<Port> inputs, std::vector<Port> outputs, domain::TensorSchema schema,
            int64_t memory_bytes)
      : runtime_(runtime),
        session_(std::move(session)),
        run_options_(std::move(run_options)),
        inputs_(std::move(inputs)),
        outputs_(std::move(outputs)),
        schema_(std::move(schema)),
        memory_bytes_(memory_bytes) {
    for (const Port& p : inputs_) input_names_.push_back(p.name.c_str());
    for (const Port& p : outputs_) output_names_.push_back(p.name.c_str());
    std::vector<std::string> in, out;
    for (const Port& p : inputs_) in.push_back(p.name);
    for (const Port& p : outputs_) out.push_back(p.name);
    input_list_ = absl::StrJoin(in, ", ");
    output_list_ = absl::StrJoin(out, ", ");
  }

  const domain::TensorSchema& schema() const override { return schema_; }
  int64_t memory_bytes() const override { return memory_bytes_; }

  absl::Status Run(const std::vector<Tensor>& inputs, const std::vector<std::string>& output_names,
                   std::vector<Tensor>* outputs) const override;

 private:
  absl::Status MakeInput(const Port& port, const Tensor& tensor, OrtValue** value) const;
  absl::Status AppendOutput(const Port& port, const OrtValue* value, Tensor* out) const;

  const OrtRuntime* runtime_;
  SessionPtr session_;
  // Shared by concurrent Runs (read-only): keeps the engine from logging the failures that Run
  // returns as a Status anyway, so bad requests cannot flood the log.
  RunOptionsPtr run_options_;
  std::vector<Port> inputs_;               // in session order
  std::vector<Port> outputs_;              // in session order
  std::vector<const char*> input_names_;   // point into inputs_[i].name
  std::vector<const char*> output_names_;  // point into outputs_[i].name
  std::string input_list_;                 // "a, b" for error messages
  std::string output_list_;
  domain::TensorSchema schema_;
  int64_t memory_bytes_;
};

absl::Status OnnxModel::MakeInput(const Port& port, const Tensor& tensor, OrtValue** value) const {
  if (tensor.datatype != port.datatype) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input '", port.name, "': the model takes ", ToAbsl(domain::DataTypeName(port.datatype)),
        ", got ", ToAbsl(domain::DataTypeName(tensor.datatype))));
  }
  const int64_t count = tensor.ElementCount();
  if (count < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("input '", port.name, "': shape [", absl::StrJoin(tensor.shape, ","),
                     "] has a negative dimension or too many elements"));
  }
  const int64_t* dims = tensor.shape.data();
  const size_t rank = tensor.shape.size();

  if (port.datatype != domain::DataType::kBytes) {
    const size_t element_size = domain::DataTypeSize(port.datatype);
    if (static_cast<uint64_t>(count) > std::numeric_limits<size_t>::max() / element_size ||
        tensor.data.size() != static_cast<size_t>(count) * element_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", port.name, "': shape [", absl::StrJoin(tensor.shape, ","), "] of ",
          ToAbsl(domain::DataTypeName(port.datatype)), " needs ",
          static_cast<uint64_t>(count) * element_size, " bytes, got ", tensor.data.size()));
    }
    // Borrowed, not copied: the engine only reads inputs, and `tensor` outlives the Run call.
    void* data = const_cast<char*>(tensor.data.data());
    HS_ORT_RETURN_IF_ERROR(
        Api().CreateTensorWithDataAsOrtValue(runtime_->cpu_memory, data, tensor.data.size(), dims,
                                             rank, port.element_type, value),
        RunError(hs_ort_status_, absl::StrCat("input '", port.name, "'")));
    return absl::OkStatus();
  }

  // BYTES: [u32 length][bytes] per element -> a string tensor. Every element takes at least its
  // 4-byte prefix, which bounds what a shape may claim before the engine allocates for it.
  if (static_cast<uint64_t>(count) > tensor.data.size() / 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input '", port.name, "': shape [", absl::StrJoin(tensor.shape, ","), "] needs ", count,
        " BYTES elements, the data holds at most ", tensor.data.size() / 4));
  }
  HS_ORT_RETURN_IF_ERROR(Api().CreateTensorAsOrtValue(runtime_->allocator, dims, rank,
                                                      ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING, value),
                         RunError(hs_ort_status_, absl::StrCat("input '", port.name, "'")));
  const char* p = tensor.data.data();
  const char* end = p + tensor.data.size();
  for (int64_t i = 0; i < count; ++i) {
    uint32_t length = 0;
    if (end - p < 4) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", port.name, "': BYTES data ends before element ", i, " of ", count));
    }
    std::memcpy(&length, p, 4);
    p += 4;
    if (static_cast<size_t>(end - p) < length) {
      return absl::InvalidArgumentError(absl::StrCat("input '", port.name, "': BYTES element ", i,
                                                     " claims ", length, " bytes, ", end - p,
                                                     " remain"));
    }
    char* buffer = nullptr;
    HS_ORT_RETURN_IF_ERROR(
        Api().GetResizedStringTensorElementBuffer(*value, static_cast<size_t>(i), length, &buffer),
        RunError(hs_ort_status_, absl::StrCat("input '", port.name, "'")));
    if (length > 0) std::memcpy(buffer, p, length);
    p += length;
  }
  if (p != end) {
    return absl::InvalidArgumentError(absl::StrCat("input '", port.name, "': ", end - p,
                                                   " bytes after the last of ", count,
                                                   " BYTES elements"));
  }
  return absl::OkStatus();
}

absl::Status OnnxModel::AppendOutput(const Port& port, const OrtValue* value, Tensor* out) const {
  const std::string what = absl::StrCat("output '", port.name, "'");
  OrtTensorTypeAndShapeInfo* raw_info = nullptr;
  HS_ORT_RETURN_IF_ERROR(Api().GetTensorTypeAndShape(value, &raw_info),
                         EngineError(hs_ort_status_, what));
  ShapeInfoPtr info(raw_info);
  ONNXTensorElementDataType element_type;
  size_t rank = 0;
  size_t count = 0;
  HS_ORT_RETURN_IF_ERROR(Api().GetTensorElementType(info.get(), &element_type),
                         EngineError(hs_ort_status_, what));
  HS_ORT_RETURN_IF_ERROR(Api().GetDimensionsCount(info.get(), &rank),
                         EngineError(hs_ort_status_, what));
  out->shape.resize(rank);
  HS_ORT_RETURN_IF_ERROR(Api().GetDimensions(info.get(), out->shape.data(), rank),
                         EngineError(hs_ort_status_, what));
  HS_ORT_RETURN_IF_ERROR(Api().GetTensorShapeElementCount(info.get(), &count),
                         EngineError(hs_ort_status_, what));
  std::optional<domain::DataType> datatype = ToDataType(element_type);
  if (!datatype) {
    return absl::InternalError(absl::StrCat(what, ": element type ", ElementTypeName(element_type),
                                            " has no V2 datatype"));
  }
  out->name = port.name;
  out->datatype = *datatype;

  if (*datatype != domain::DataType::kBytes) {
    const size_t bytes = count * domain::DataTypeSize(*datatype);
    out->data.resize(bytes);
    if (bytes > 0) {
      void* data = nullptr;
      HS_ORT_RETURN_IF_ERROR(Api().GetTensorMutableData(const_cast<OrtValue*>(value), &data),
                             EngineError(hs_ort_status_, what));
      std::memcpy(out->data.data(), data, bytes);
    }
    return absl::OkStatus();
  }

  size_t total = 0;
  HS_ORT_RETURN_IF_ERROR(Api().GetStringTensorDataLength(value, &total),
                         EngineError(hs_ort_status_, what));
  out->data.clear();
  out->data.reserve(total + 4 * count);
  for (size_t i = 0; i < count; ++i) {
    size_t length = 0;
    HS_ORT_RETURN_IF_ERROR(Api().GetStringTensorElementLength(value, i, &length),
                           EngineError(hs_ort_status_, what));
    if (length > std::numeric_limits<uint32_t>::max()) {
      return absl::InternalError(absl::StrCat(what, ": element ", i, " is over 4 GiB"));
    }
    const uint32_t length32 = static_cast<uint32_t>(length);
    const size_t at = out->data.size();
    out->data.resize(at + 4 + length);
    std::memcpy(out->data.data() + at, &length32, 4);
    if (length > 0) {
      HS_ORT_RETURN_IF_ERROR(
          Api().GetStringTensorElement(value, length, i, out->data.data() + at + 4),
          EngineError(hs_ort_status_, what));
    }
  }
  return absl::OkStatus();
}

absl::Status OnnxModel::Run(const std::vector<Tensor>& inputs,
                            const std::vector<std::string>& output_names,
                            std::vector<Tensor>* outputs) const {
  if (outputs == nullptr) return absl::InvalidArgumentError("Run: outputs is null");
  const size_t n_in = inputs_.size();
  if (inputs.size() != n_in) {
    return absl::InvalidArgumentError(absl::StrCat("the model takes ", n_in, " input(s) (",
                                                   input_list_, "), got ", inputs.size()));
  }
  // Inputs in session order; the caller's order is free.
  OrtValues in_values(n_in);
  for (const Tensor& tensor : inputs) {
    size_t i = 0;
    while (i < n_in && inputs_[i].name != tensor.name) ++i;
    if (i == n_in) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown input '", tensor.name, "'; the model's inputs are: ", input_list_));
    }
    if (in_values[i] != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("input '", tensor.name, "' given twice"));
    }
    HS_RETURN_IF_ERROR(MakeInput(inputs_[i], tensor, &in_values[i]));
  }

  // Requested outputs (indices into outputs_).
  absl::InlinedVector<size_t, 8> selected;
  absl::InlinedVector<const char*, 8> selected_names;
  const char* const* names = output_names_.data();
  size_t n_out = outputs_.size();
  if (!output_names.empty()) {
    for (const std::string& name : output_names) {
      size_t o = 0;
      while (o < outputs_.size() && outputs_[o].name != name) ++o;
      if (o == outputs_.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown output '", name, "'; the model's outputs are: ", output_list_));
      }
      selected.push_back(o);
      selected_names.push_back(output_names_[o]);
    }
    names = selected_names.data();
    n_out = selected.size();
  }

  OrtValues out_values(n_out);
  HS_ORT_RETURN_IF_ERROR(Api().Run(session_.get(), run_options_.get(), input_names_.data(),
                                   in_values.const_data(), n_in, names, n_out, out_values.data()),
                         RunError(hs_ort_status_, "ONNX Runtime failed to run the model"));

  const size_t first = outputs->size();
  outputs->resize(first + n_out);
  for (size_t k = 0; k < n_out; ++k) {
    const Port& port = outputs_[selected.empty() ? k : selected[k]];
    absl::Status status = AppendOutput(port, out_values[k], &(*outputs)[first + k]);
    if (!status.ok()) {
      outputs->resize(first);
      return status;
    }
  }
  return absl::OkStatus();
}

// ---- loading --------------------------------------------------------------------------------

// Describes input or output `index` of `session` (is_input selects which).
absl::Status DescribePort(OrtSession* session, size_t index, bool is_input,
                          const OrtRuntime& runtime, Port* port, domain::TensorSpec* spec) {
  const char* kind = is_input ? "input" : "output";
  char* raw_name = nullptr;
  HS_ORT_RETURN_IF_ERROR(
      is_input ? Api().SessionGetInputName(session, index, runtime.allocator, &raw_name)
               : Api().SessionGetOutputName(session, index, runtime.allocator, &raw_name),
      EngineError(hs_ort_status_, absl::StrCat("describing ", kind, " ", index)));
  port->name = raw_name;
  (void)runtime.allocator->Free(runtime.allocator, raw_name);

  OrtTypeInfo* raw_type = nullptr;
  HS_ORT_RETURN_IF_ERROR(
      is_input ? Api().SessionGetInputTypeInfo(session, index, &raw_type)
               : Api().SessionGetOutputTypeInfo(session, index, &raw_type),
      EngineError(hs_ort_status_, absl::StrCat("describing ", kind, " '", port->name, "'")));
  TypeInfoPtr type(raw_type);
  ONNXType onnx_type = ONNX_TYPE_UNKNOWN;
  HS_ORT_RETURN_IF_ERROR(Api().GetOnnxTypeFromTypeInfo(type.get(), &onnx_type),
                         EngineError(hs_ort_status_, "describing a port"));
  const OrtTensorTypeAndShapeInfo* info = nullptr;
  if (onnx_type == ONNX_TYPE_TENSOR) {
    HS_ORT_RETURN_IF_ERROR(Api().CastTypeInfoToTensorInfo(type.get(), &info),
                           EngineError(hs_ort_status_, "describing a port"));
  }
  if (info == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        kind, " '", port->name, "' is ", OnnxTypeName(onnx_type),
        "; HotSwap serves tensors only (for scikit-learn classifiers converted with skl2onnx, "
        "pass options={id(model): {'zipmap': False}})"));
  }
  HS_ORT_RETURN_IF_ERROR(Api().GetTensorElementType(info, &port->element_type),
                         EngineError(hs_ort_status_, "describing a port"));
  std::optional<domain::DataType> datatype = ToDataType(port->element_type);
  if (!datatype) {
    return absl::FailedPreconditionError(
        absl::StrCat(kind, " '", port->name, "' has ONNX element type ",
                     ElementTypeName(port->element_type), ", which has no KServe V2 datatype"));
  }
  port->datatype = *datatype;
  size_t rank = 0;
  HS_ORT_RETURN_IF_ERROR(Api().GetDimensionsCount(info, &rank),
                         EngineError(hs_ort_status_, "describing a port"));
  spec->name = port->name;
  spec->datatype = *datatype;
  spec->shape.assign(rank, -1);
  HS_ORT_RETURN_IF_ERROR(Api().GetDimensions(info, spec->shape.data(), rank),
                         EngineError(hs_ort_status_, "describing a port"));
  for (int64_t& d : spec->shape) {
    if (d < 0) d = -1;  // symbolic ("batch") or unknown
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<OnnxBackend>> OnnxBackend::Create() {
  HS_RETURN_IF_ERROR(Runtime().status());
  return std::unique_ptr<OnnxBackend>(new OnnxBackend());
}

std::string OnnxBackend::version() const {
  absl::StatusOr<const OrtRuntime*> runtime = Runtime();
  return runtime.ok() ? absl::StrCat("onnxruntime ", (*runtime)->version) : "onnxruntime";
}

absl::StatusOr<std::unique_ptr<LoadedModel>> OnnxBackend::Load(const std::string& artifact_path,
                                                               const LoadOptions& options) {
  HS_ASSIGN_OR_RETURN(const OrtRuntime* runtime, Runtime());
  if (options.intra_op_threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("intra_op_threads must be >= 1, got ", options.intra_op_threads));
  }
  // Checked here for a clear message; the engine would report the same less plainly.
  std::error_code ec;
  const auto file_status = std::filesystem::status(artifact_path, ec);
  if (ec || !std::filesystem::exists(file_status)) {
    return absl::FailedPreconditionError(
        absl::StrCat("model artifact '", artifact_path, "' does not exist"));
  }
  if (!std::filesystem::is_regular_file(file_status)) {
    return absl::FailedPreconditionError(
        absl::StrCat("model artifact '", artifact_path, "' is not a regular file"));
  }
  const auto file_size = std::filesystem::file_size(artifact_path, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("model artifact '", artifact_path, "' cannot be read: ", ec.message()));
  }
  if (file_size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model artifact '", artifact_path, "' is empty, not an ONNX model"));
  }

  OrtSessionOptions* raw_options = nullptr;
  HS_ORT_RETURN_IF_ERROR(Api().CreateSessionOptions(&raw_options),
                         EngineError(hs_ort_status_, "creating session options"));
  SessionOptionsPtr session_options(raw_options);
  OrtSessionOptions* so = session_options.get();
  const std::string log_id = std::filesystem::path(artifact_path).filename().string();
  // Each step runs only when the previous ones succeeded.
  OrtStatus* s = Api().SetIntraOpNumThreads(so, options.intra_op_threads);
  if (s == nullptr) s = Api().SetInterOpNumThreads(so, 1);
  if (s == nullptr) s = Api().SetSessionExecutionMode(so, ORT_SEQUENTIAL);
  if (s == nullptr) s = Api().SetSessionGraphOptimizationLevel(so, ORT_ENABLE_ALL);
  if (s == nullptr) s = Api().SetSessionLogId(so, log_id.c_str());
  if (s == nullptr && !options.memory_arena) s = Api().DisableCpuMemArena(so);
  if (s == nullptr && !options.memory_arena) s = Api().DisableMemPattern(so);
  if (s == nullptr) {
    s = Api().AddSessionConfigEntry(so, kOrtSessionOptionsConfigAllowIntraOpSpinning, "0");
  }
  if (s == nullptr) {
    s = Api().AddSessionConfigEntry(so, kOrtSessionOptionsConfigAllowInterOpSpinning, "0");
  }
  if (s != nullptr) return EngineError(s, "setting session options");

  SessionPtr session;
  int64_t memory_bytes = 0;
  {
    absl::MutexLock lock(&g_load_mu);
    const int64_t rss_before = ResidentBytes();
    OrtSession* raw_session = nullptr;
    OrtStatus* status = Api().CreateSession(runtime->env, artifact_path.c_str(), so, &raw_session);
    if (status != nullptr) return LoadError(status, artifact_path);
    session.reset(raw_session);
    memory_bytes = std::max<int64_t>(ResidentBytes() - rss_before, static_cast<int64_t>(file_size));
  }

  size_t n_inputs = 0;
  size_t n_outputs = 0;
  HS_ORT_RETURN_IF_ERROR(Api().SessionGetInputCount(session.get(), &n_inputs),
                         EngineError(hs_ort_status_, "counting inputs"));
  HS_ORT_RETURN_IF_ERROR(Api().SessionGetOutputCount(session.get(), &n_outputs),
                         EngineError(hs_ort_status_, "counting outputs"));
  std::vector<Port> inputs(n_inputs);
  std::vector<Port> outputs(n_outputs);
  domain::TensorSchema schema;
  schema.inputs.resize(n_inputs);
  schema.outputs.resize(n_outputs);
  for (size_t i = 0; i < n_inputs; ++i) {
    HS_RETURN_IF_ERROR(
        DescribePort(session.get(), i, /*is_input=*/true, *runtime, &inputs[i], &schema.inputs[i]));
  }
  for (size_t i = 0; i < n_outputs; ++i) {
    HS_RETURN_IF_ERROR(DescribePort(session.get(), i, /*is_input=*/false, *runtime, &outputs[i],
                                    &schema.outputs[i]));
  }
  OrtRunOptions* raw_run_options = nullptr;
  HS_ORT_RETURN_IF_ERROR(Api().CreateRunOptions(&raw_run_options),
                         EngineError(hs_ort_status_, "creating run options"));
  RunOptionsPtr run_options(raw_run_options);
  HS_ORT_RETURN_IF_ERROR(
      Api().RunOptionsSetRunLogSeverityLevel(run_options.get(), ORT_LOGGING_LEVEL_FATAL),
      EngineError(hs_ort_status_, "setting run options"));
  if (n_outputs == 0) {
    return absl::InvalidArgumentError(absl::StrCat("model '", artifact_path, "' has no outputs"));
  }
  return std::unique_ptr<LoadedModel>(
      new OnnxModel(runtime, std::move(session), std::move(run_options), std::move(inputs),
                    std::move(outputs), std::move(schema), memory_bytes));
}

}  // namespace hotswap::runtime
