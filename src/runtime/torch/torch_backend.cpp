// The one translation unit that includes LibTorch's headers (they are slow to compile).
// check-thread-safety: skip — LibTorch 1.13's headers do not compile under clang 14 in C++20
// mode (scripts/check-thread-safety.sh); this file has no thread-safety annotations (its one
// mutex is only ever held through absl::MutexLock).
#include "runtime/torch/torch_backend.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/script.h>
#include <torch/version.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "runtime/process_memory.h"

namespace hotswap::runtime {
namespace {

ABSL_CONST_INIT absl::Mutex g_load_mu(absl::kConstInit);

// LibTorch's message without its C++ backtrace, first line only.
std::string Message(const std::exception& e) {
  std::string m;
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    m = c10_error->what_without_backtrace();
  } else {
    m = e.what();
  }
  const size_t newline = m.find('\n');
  if (newline != std::string::npos) {
    // The TorchScript interpreter puts the Python-level error last; keep it.
    const size_t last = m.find_last_not_of("\n ");
    const size_t line_start = m.rfind('\n', last);
    std::string tail = m.substr(line_start == std::string::npos ? 0 : line_start + 1,
                                last == std::string::npos ? std::string::npos : last - line_start);
    std::string head = m.substr(0, newline);
    m = tail.empty() || tail == head ? head : absl::StrCat(head, " ... ", tail);
  }
  return m;
}

std::optional<at::ScalarType> ToScalarType(domain::DataType t) {
  using domain::DataType;
  switch (t) {
    case DataType::kBool:
      return at::kBool;
    case DataType::kUint8:
      return at::kByte;
    case DataType::kInt8:
      return at::kChar;
    case DataType::kInt16:
      return at::kShort;
    case DataType::kInt32:
      return at::kInt;
    case DataType::kInt64:
      return at::kLong;
    case DataType::kFp16:
      return at::kHalf;
    case DataType::kFp32:
      return at::kFloat;
    case DataType::kFp64:
      return at::kDouble;
    default:
      return std::nullopt;  // UINT16/32/64, BYTES
  }
}

class TorchModel : public LoadedModel {
 public:
  TorchModel(torch::jit::Module module, std::vector<size_t> argument_of_input,
             domain::TensorSchema schema, int threads, int64_t memory_bytes)
      : module_(std::move(module)),
        forward_(module_.get_method("forward")),
        argument_of_input_(std::move(argument_of_input)),
        schema_(std::move(schema)),
        threads_(threads),
        memory_bytes_(memory_bytes) {}

  const domain::TensorSchema& schema() const override { return schema_; }
  int64_t memory_bytes() const override { return memory_bytes_; }

  absl::Status Run(const std::vector<Tensor>& inputs, const std::vector<std::string>& output_names,
                   std::vector<Tensor>* outputs) const override {
    if (outputs == nullptr) return absl::InvalidArgumentError("Run: outputs is null");
    try {
      return RunUnsafe(inputs, output_names, outputs);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("LibTorch failed: ", Message(e)));
    }
  }

 private:
  absl::Status RunUnsafe(const std::vector<Tensor>& inputs,
                         const std::vector<std::string>& output_names,
                         std::vector<Tensor>* outputs) const;

  torch::jit::Module module_;  // owns what forward_ runs
  torch::jit::Method forward_;
  // Schema input i is forward's argument argument_of_input_[i] (0-based, after self).
  const std::vector<size_t> argument_of_input_;
  const domain::TensorSchema schema_;
  const int threads_;
  const int64_t memory_bytes_;
};

absl::Status TorchModel::RunUnsafe(const std::vector<Tensor>& inputs,
                                   const std::vector<std::string>& output_names,
                                   std::vector<Tensor>* outputs) const {
  const size_t n = schema_.inputs.size();
  if (inputs.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("the model takes ", n, " input(s), got ", inputs.size()));
  }
  std::vector<c10::IValue> stack(n);
  std::vector<bool> given(n, false);
  for (const Tensor& t : inputs) {
    size_t i = 0;
    while (i < n && schema_.inputs[i].name != t.name) ++i;
    if (i == n) return absl::InvalidArgumentError(absl::StrCat("unknown input '", t.name, "'"));
    if (given[i]) return absl::InvalidArgumentError(absl::StrCat("input '", t.name, "' given twice"));
    given[i] = true;
    const domain::TensorSpec& spec = schema_.inputs[i];
    if (t.datatype != spec.datatype) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", t.name, "' must be ", ToAbsl(domain::DataTypeName(spec.datatype)), ", got ",
          ToAbsl(domain::DataTypeName(t.datatype))));
    }
    const int64_t count = t.ElementCount();
    if (count < 0 ||
        static_cast<uint64_t>(count) * domain::DataTypeSize(t.datatype) != t.data.size()) {
      return absl::InvalidArgumentError(absl::StrCat("input '", t.name, "': shape ",
                                                     ShapeString(t.shape), " does not fit ",
                                                     t.data.size(), " bytes"));
    }
    // Borrowed, not copied: the request owns the buffer for the duration of the call.
    stack[argument_of_input_[i]] =
        torch::from_blob(const_cast<char*>(t.data.data()), t.shape,
                         torch::TensorOptions().dtype(*ToScalarType(t.datatype)));
  }

  if (at::get_num_threads() != threads_) at::set_num_threads(threads_);
  c10::InferenceMode inference;
  c10::IValue result;
  try {
    result = forward_(std::move(stack));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("the model failed: ", Message(e)));
  }

  std::vector<at::Tensor> returned;
  if (result.isTensor()) {
    returned.push_back(result.toTensor());
  } else if (result.isTuple()) {
    for (const c10::IValue& v : result.toTupleRef().elements()) {
      if (!v.isTensor()) return absl::InternalError("the model returned a tuple holding a non-tensor");
      returned.push_back(v.toTensor());
    }
  } else if (result.isTensorList()) {
    for (const at::Tensor& t : result.toTensorVector()) returned.push_back(t);
  } else {
    return absl::InternalError(
        absl::StrCat("the model returned ", result.tagKind(), "; HotSwap serves tensors"));
  }
  if (returned.size() != schema_.outputs.size()) {
    return absl::InternalError(absl::StrCat("the model returned ", returned.size(),
                                            " tensor(s); the schema declares ",
                                            schema_.outputs.size()));
  }

  auto append = [&](size_t o) -> absl::Status {
    const domain::TensorSpec& spec = schema_.outputs[o];
    at::Tensor t = returned[o].contiguous().cpu();
    if (t.scalar_type() != *ToScalarType(spec.datatype)) {
      return absl::InternalError(absl::StrCat("output '", spec.name, "' is ",
                                              c10::toString(t.scalar_type()),
                                              "; the schema declares ",
                                              ToAbsl(domain::DataTypeName(spec.datatype))));
    }
    Tensor out{spec.name, spec.datatype, std::vector<int64_t>(t.sizes().begin(), t.sizes().end()),
               std::string(t.nbytes(), '\0')};
    if (t.nbytes() > 0) std::memcpy(out.data.data(), t.data_ptr(), t.nbytes());
    outputs->push_back(std::move(out));
    return absl::OkStatus();
  };
  const size_t first = outputs->size();
  absl::Status status;
  if (output_names.empty()) {
    for (size_t o = 0; o < returned.size() && status.ok(); ++o) status = append(o);
  } else {
    for (const std::string& name : output_names) {
      size_t o = 0;
      while (o < schema_.outputs.size() && schema_.outputs[o].name != name) ++o;
      if (o == schema_.outputs.size()) {
        status = absl::InvalidArgumentError(absl::StrCat("unknown output '", name, "'"));
      } else {
        status = append(o);
      }
      if (!status.ok()) break;
    }
  }
  if (!status.ok()) outputs->resize(first);
  return status;
}

// What `forward` declares: argument names (all Tensors) and, when known, the output count.
struct ForwardSignature {
  std::vector<std::string> arguments;
  std::optional<size_t> outputs;
  std::string text;  // "forward(x: Tensor) -> Tensor"
};

absl::StatusOr<ForwardSignature> DescribeForward(const torch::jit::Module& module) {
  auto method = module.find_method("forward");
  if (!method) return absl::FailedPreconditionError("the TorchScript module has no forward method");
  const c10::FunctionSchema& schema = method->function().getSchema();
  ForwardSignature sig;
  std::ostringstream text;
  text << schema;
  sig.text = text.str();
  const auto& args = schema.arguments();
  for (size_t i = 0; i < args.size(); ++i) {
    if (i == 0 && args[i].name() == "self") continue;
    if (!args[i].type()->isSubtypeOf(*c10::TensorType::get())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "forward's argument '", args[i].name(), "' is ", args[i].type()->str(),
          "; HotSwap passes tensors only (", sig.text, ")"));
    }
    sig.arguments.push_back(args[i].name());
  }
  if (schema.returns().size() == 1) {
    const c10::TypePtr& type = schema.returns()[0].type();
    if (type->isSubtypeOf(*c10::TensorType::get())) {
      sig.outputs = 1;
    } else if (auto tuple = type->cast<c10::TupleType>()) {
      for (const auto& e : tuple->elements()) {
        if (!e->isSubtypeOf(*c10::TensorType::get())) {
          return absl::FailedPreconditionError(
              absl::StrCat("forward returns a tuple holding ", e->str(), " (", sig.text,
                           "); HotSwap serves tensors"));
        }
      }
      sig.outputs = tuple->elements().size();
    }
  }
  return sig;
}

// Checks the declared schema against forward; returns, for each declared input, its argument.
absl::StatusOr<std::vector<size_t>> MatchSchema(const ForwardSignature& sig,
                                                const std::optional<domain::TensorSchema>& declared) {
  const std::string takes =
      absl::StrCat("forward takes (", absl::StrJoin(sig.arguments, ", "), ")",
                   sig.outputs ? absl::StrCat(" and returns ", *sig.outputs, " tensor(s)") : "");
  if (!declared || declared->inputs.empty() || declared->outputs.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "a TorchScript module does not record its inputs' datatypes and shapes: register the "
        "version with a schema (metadata.schema) naming forward's arguments and its outputs; ",
        takes));
  }
  if (declared->inputs.size() != sig.arguments.size()) {
    return absl::FailedPreconditionError(absl::StrCat("the schema declares ",
                                                      declared->inputs.size(), " input(s); ",
                                                      takes));
  }
  std::vector<size_t> argument_of_input;
  for (const domain::TensorSpec& spec : declared->inputs) {
    auto it = std::find(sig.arguments.begin(), sig.arguments.end(), spec.name);
    if (it == sig.arguments.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the schema's input '", spec.name, "' is not an argument of forward; ",
                       takes));
    }
    argument_of_input.push_back(static_cast<size_t>(it - sig.arguments.begin()));
  }
  if (sig.outputs && *sig.outputs != declared->outputs.size()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the schema declares ", declared->outputs.size(), " output(s); ", takes));
  }
  for (const auto* list : {&declared->inputs, &declared->outputs}) {
    for (const domain::TensorSpec& spec : *list) {
      if (!ToScalarType(spec.datatype)) {
        return absl::FailedPreconditionError(
            absl::StrCat("'", spec.name, "' is declared ", ToAbsl(domain::DataTypeName(spec.datatype)),
                         ", which LibTorch has no tensor type for"));
      }
    }
  }
  return argument_of_input;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TorchBackend>> TorchBackend::Create() {
  static std::once_flag once;
  std::call_once(once, [] {
    try {
      at::set_num_interop_threads(1);
    } catch (const std::exception&) {
      // Already fixed by someone else in this process; harmless.
    }
  });
  return std::unique_ptr<TorchBackend>(new TorchBackend());
}

std::string TorchBackend::version() const {
  return absl::StrCat("libtorch ", TORCH_VERSION_MAJOR, ".", TORCH_VERSION_MINOR, ".",
                      TORCH_VERSION_PATCH);
}

absl::StatusOr<std::unique_ptr<LoadedModel>> TorchBackend::Load(const std::string& artifact_path,
                                                                const LoadOptions& options) {
  if (options.intra_op_threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("intra_op_threads must be >= 1, got ", options.intra_op_threads));
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(artifact_path, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("model artifact '", artifact_path, "' does not exist or is not a file"));
  }
  const auto file_size = std::filesystem::file_size(artifact_path, ec);
  if (ec || file_size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model artifact '", artifact_path, "' is empty, not a TorchScript archive"));
  }
  torch::jit::Module module;
  int64_t memory_bytes = 0;
  try {
    absl::MutexLock lock(&g_load_mu);
    const int64_t rss_before = ResidentSetBytes();
    module = torch::jit::load(artifact_path, torch::kCPU);
    module.eval();
    memory_bytes = ResidentSetBytes() - rss_before;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("LibTorch cannot load '", artifact_path, "' as TorchScript: ", Message(e)));
  }
  memory_bytes = std::max<int64_t>(memory_bytes, static_cast<int64_t>(file_size));
  try {
    HS_ASSIGN_OR_RETURN(ForwardSignature sig, DescribeForward(module));
    HS_ASSIGN_OR_RETURN(std::vector<size_t> argument_of_input,
                        MatchSchema(sig, options.declared_schema));
    return std::unique_ptr<LoadedModel>(
        new TorchModel(std::move(module), std::move(argument_of_input), *options.declared_schema,
                       options.intra_op_threads, memory_bytes));
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(
        absl::StrCat("describing the TorchScript module: ", Message(e)));
  }
}

}  // namespace hotswap::runtime
