#include "runtime/tensorflow/tensorflow_backend.h"

#include <dlfcn.h>
#include <tensorflow/c/c_api.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
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
#include "nlohmann/json.hpp"
#include "runtime/artifact_format.h"
#include "runtime/process_memory.h"
#include "runtime/tensorflow/saved_model_archive.h"

namespace hotswap::runtime {
namespace {

namespace fs = std::filesystem;

// ---- the C API, from a dlopen()ed library -----------------------------------------------------

#define HS_TF_FUNCTIONS(X)                                                                       \
  X(TF_Version) X(TF_NewStatus) X(TF_DeleteStatus) X(TF_GetCode) X(TF_Message) X(TF_NewGraph)   \
  X(TF_DeleteGraph) X(TF_NewSessionOptions) X(TF_DeleteSessionOptions) X(TF_SetConfig)          \
  X(TF_NewBuffer) X(TF_DeleteBuffer) X(TF_LoadSessionFromSavedModel) X(TF_CloseSession)         \
  X(TF_DeleteSession) X(TF_GraphOperationByName) X(TF_OperationNumOutputs) X(TF_SessionRun)     \
  X(TF_AllocateTensor) X(TF_DeleteTensor) X(TF_TensorData) X(TF_TensorByteSize)                 \
  X(TF_TensorType) X(TF_NumDims) X(TF_Dim)

struct TfApi {
#define HS_TF_POINTER(name) decltype(&::name) name = nullptr;
  HS_TF_FUNCTIONS(HS_TF_POINTER)
#undef HS_TF_POINTER
  std::string version;
  std::string library;
};

std::string LibraryPath() {
  const char* from_env = std::getenv("HOTSWAP_TENSORFLOW_LIBRARY");
  return from_env != nullptr ? from_env : HOTSWAP_TENSORFLOW_LIBRARY;
}

std::atomic<bool> g_opened{false};

absl::StatusOr<const TfApi*> OpenTensorflow() {
  if (std::getenv("TF_CPP_MIN_LOG_LEVEL") == nullptr) setenv("TF_CPP_MIN_LOG_LEVEL", "2", 0);
  const std::string library = LibraryPath();
  // Local and deep-bound: TensorFlow's own protobuf/Abseil stay private to it (see the header).
  void* handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (handle == nullptr) {
    const char* error = dlerror();
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open TensorFlow's library ", library, ": ", error ? error : "unknown error"));
  }
  auto api = std::make_unique<TfApi>();
  api->library = library;
#define HS_TF_RESOLVE(name)                                                                     \
  api->name = reinterpret_cast<decltype(&::name)>(dlsym(handle, #name));                        \
  if (api->name == nullptr) {                                                                   \
    return absl::FailedPreconditionError(                                                       \
        absl::StrCat(library, " has no ", #name, ": not a TensorFlow C API library"));          \
  }
  HS_TF_FUNCTIONS(HS_TF_RESOLVE)
#undef HS_TF_RESOLVE
  api->version = api->TF_Version();
  g_opened.store(true);
  return api.release();  // the library stays loaded until exit
}

absl::StatusOr<const TfApi*> Api() {
  static const absl::StatusOr<const TfApi*> api = OpenTensorflow();
  return api;
}

ABSL_CONST_INIT absl::Mutex g_load_mu(absl::kConstInit);

// A TF_Status, deleted at scope exit.
class Status {
 public:
  explicit Status(const TfApi& api) : api_(api), s_(api.TF_NewStatus()) {}
  ~Status() { api_.TF_DeleteStatus(s_); }
  Status(const Status&) = delete;
  Status& operator=(const Status&) = delete;
  TF_Status* get() const { return s_; }
  bool ok() const { return api_.TF_GetCode(s_) == TF_OK; }
  TF_Code code() const { return api_.TF_GetCode(s_); }
  std::string message() const { return api_.TF_Message(s_); }

 private:
  const TfApi& api_;
  TF_Status* s_;
};

// ---- datatypes --------------------------------------------------------------------------------

std::optional<domain::DataType> ToDataType(int tf_type) {
  using domain::DataType;
  switch (tf_type) {
    case TF_FLOAT:
      return DataType::kFp32;
    case TF_DOUBLE:
      return DataType::kFp64;
    case TF_HALF:
      return DataType::kFp16;
    case TF_INT8:
      return DataType::kInt8;
    case TF_INT16:
      return DataType::kInt16;
    case TF_INT32:
      return DataType::kInt32;
    case TF_INT64:
      return DataType::kInt64;
    case TF_UINT8:
      return DataType::kUint8;
    case TF_UINT16:
      return DataType::kUint16;
    case TF_UINT32:
      return DataType::kUint32;
    case TF_UINT64:
      return DataType::kUint64;
    case TF_BOOL:
      return DataType::kBool;
    default:
      return std::nullopt;
  }
}

// ---- the MetaGraphDef's signatures (a few protobuf fields, read by hand) ----------------------

class ProtoReader {
 public:
  explicit ProtoReader(std::string_view b) : b_(b) {}
  // Next field: number, wire type, and its varint value or bytes. False at the end or on error.
  bool Next(uint32_t* field, int* wire, uint64_t* varint, std::string_view* bytes) {
    if (at_ >= b_.size()) return false;
    uint64_t tag = 0;
    if (!Varint(&tag)) return false;
    *field = static_cast<uint32_t>(tag >> 3);
    *wire = static_cast<int>(tag & 7);
    switch (*wire) {
      case 0:
        return Varint(varint);
      case 1:
        return Skip(8);
      case 5:
        return Skip(4);
      case 2: {
        uint64_t n = 0;
        if (!Varint(&n) || n > b_.size() - at_) return false;
        *bytes = b_.substr(at_, n);
        at_ += n;
        return true;
      }
      default:
        return false;
    }
  }

 private:
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64 && at_ < b_.size(); shift += 7) {
      const uint8_t byte = static_cast<uint8_t>(b_[at_++]);
      *v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  bool Skip(size_t n) {
    if (n > b_.size() - at_) return false;
    at_ += n;
    return true;
  }
  std::string_view b_;
  size_t at_ = 0;
};

struct TensorInfo {
  std::string tensor;  // graph tensor, "serving_default_input:0"
  int dtype = 0;
  std::vector<int64_t> shape;
  bool unknown_rank = true;
};

struct Signature {
  std::map<std::string, TensorInfo> inputs, outputs;  // by V2 name, sorted
};

TensorInfo ParseTensorInfo(std::string_view b) {
  TensorInfo info;
  ProtoReader r(b);
  uint32_t f;
  int w;
  uint64_t v;
  std::string_view s;
  while (r.Next(&f, &w, &v, &s)) {
    if (f == 1 && w == 2) info.tensor = std::string(s);
    if (f == 2 && w == 0) info.dtype = static_cast<int>(v);
    if (f == 3 && w == 2) {  // TensorShapeProto
      info.unknown_rank = false;
      ProtoReader shape(s);
      uint32_t sf;
      int sw;
      uint64_t sv;
      std::string_view ss;
      while (shape.Next(&sf, &sw, &sv, &ss)) {
        if (sf == 3 && sw == 0 && sv != 0) info.unknown_rank = true;
        if (sf == 2 && sw == 2) {  // Dim { int64 size = 1; }
          int64_t size = -1;
          ProtoReader dim(ss);
          uint32_t df;
          int dw;
          uint64_t dv;
          std::string_view ds;
          while (dim.Next(&df, &dw, &dv, &ds)) {
            if (df == 1 && dw == 0) size = static_cast<int64_t>(dv);
          }
          info.shape.push_back(size < 0 ? -1 : size);
        }
      }
    }
  }
  return info;
}

// Map entry { key = 1; value = 2 }.
std::pair<std::string, std::string_view> MapEntry(std::string_view b) {
  std::pair<std::string, std::string_view> entry;
  ProtoReader r(b);
  uint32_t f;
  int w;
  uint64_t v;
  std::string_view s;
  while (r.Next(&f, &w, &v, &s)) {
    if (f == 1 && w == 2) entry.first = std::string(s);
    if (f == 2 && w == 2) entry.second = s;
  }
  return entry;
}

// MetaGraphDef.signature_def (field 5): map<string, SignatureDef{inputs = 1, outputs = 2}>.
std::map<std::string, Signature> ParseSignatures(std::string_view meta_graph) {
  std::map<std::string, Signature> out;
  ProtoReader r(meta_graph);
  uint32_t f;
  int w;
  uint64_t v;
  std::string_view s;
  while (r.Next(&f, &w, &v, &s)) {
    if (f != 5 || w != 2) continue;
    auto [name, def] = MapEntry(s);
    Signature& sig = out[name];
    ProtoReader d(def);
    uint32_t df;
    int dw;
    uint64_t dv;
    std::string_view ds;
    while (d.Next(&df, &dw, &dv, &ds)) {
      if ((df == 1 || df == 2) && dw == 2) {
        auto [key, info] = MapEntry(ds);
        (df == 1 ? sig.inputs : sig.outputs)[key] = ParseTensorInfo(info);
      }
    }
  }
  return out;
}

// ---- the loaded model -------------------------------------------------------------------------

struct Port {
  std::string name;
  TF_Output output{};
  int dtype = 0;
  domain::DataType datatype = domain::DataType::kFp32;
};

class TfModel : public LoadedModel {
 public:
  TfModel(const TfApi* api, TF_Graph* graph, TF_Session* session, std::vector<Port> inputs,
          std::vector<Port> outputs, domain::TensorSchema schema, int64_t memory_bytes)
      : api_(api),
        graph_(graph),
        session_(session),
        inputs_(std::move(inputs)),
        outputs_(std::move(outputs)),
        schema_(std::move(schema)),
        memory_bytes_(memory_bytes) {}
  ~TfModel() override {
    Status status(*api_);
    api_->TF_CloseSession(session_, status.get());
    api_->TF_DeleteSession(session_, status.get());
    api_->TF_DeleteGraph(graph_);
  }
  TfModel(const TfModel&) = delete;
  TfModel& operator=(const TfModel&) = delete;

  const domain::TensorSchema& schema() const override { return schema_; }
  int64_t memory_bytes() const override { return memory_bytes_; }

  absl::Status Run(const std::vector<Tensor>& inputs, const std::vector<std::string>& output_names,
                   std::vector<Tensor>* outputs) const override;

 private:
  const TfApi* api_;
  TF_Graph* graph_;
  TF_Session* session_;
  const std::vector<Port> inputs_;
  const std::vector<Port> outputs_;
  const domain::TensorSchema schema_;
  const int64_t memory_bytes_;
};

// TF_Tensors of one run, deleted together.
class TensorList {
 public:
  TensorList(const TfApi& api, size_t n) : api_(api), t_(n, nullptr) {}
  ~TensorList() {
    for (TF_Tensor* t : t_) {
      if (t != nullptr) api_.TF_DeleteTensor(t);
    }
  }
  TensorList(const TensorList&) = delete;
  TensorList& operator=(const TensorList&) = delete;
  TF_Tensor** data() { return t_.data(); }
  TF_Tensor*& operator[](size_t i) { return t_[i]; }

 private:
  const TfApi& api_;
  std::vector<TF_Tensor*> t_;
};

absl::Status TfModel::Run(const std::vector<Tensor>& inputs,
                          const std::vector<std::string>& output_names,
                          std::vector<Tensor>* outputs) const {
  if (outputs == nullptr) return absl::InvalidArgumentError("Run: outputs is null");
  const size_t n_in = inputs_.size();
  if (inputs.size() != n_in) {
    return absl::InvalidArgumentError(
        absl::StrCat("the model takes ", n_in, " input(s), got ", inputs.size()));
  }
  TensorList in(*api_, n_in);
  std::vector<TF_Output> in_ports(n_in);
  for (const Tensor& t : inputs) {
    size_t i = 0;
    while (i < n_in && inputs_[i].name != t.name) ++i;
    if (i == n_in) return absl::InvalidArgumentError(absl::StrCat("unknown input '", t.name, "'"));
    if (in[i] != nullptr) return absl::InvalidArgumentError(absl::StrCat("input '", t.name, "' given twice"));
    if (t.datatype != inputs_[i].datatype) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", t.name, "' must be ",
                       ToAbsl(domain::DataTypeName(inputs_[i].datatype)), ", got ",
                       ToAbsl(domain::DataTypeName(t.datatype))));
    }
    const int64_t count = t.ElementCount();
    if (count < 0 ||
        static_cast<uint64_t>(count) * domain::DataTypeSize(t.datatype) != t.data.size()) {
      return absl::InvalidArgumentError(absl::StrCat("input '", t.name, "': shape ",
                                                     ShapeString(t.shape), " does not fit ",
                                                     t.data.size(), " bytes"));
    }
    in[i] = api_->TF_AllocateTensor(static_cast<TF_DataType>(inputs_[i].dtype), t.shape.data(),
                                    static_cast<int>(t.shape.size()), t.data.size());
    if (in[i] == nullptr) return absl::InternalError("TensorFlow could not allocate an input");
    if (!t.data.empty()) std::memcpy(api_->TF_TensorData(in[i]), t.data.data(), t.data.size());
    in_ports[i] = inputs_[i].output;
  }

  std::vector<size_t> selected;
  if (output_names.empty()) {
    for (size_t o = 0; o < outputs_.size(); ++o) selected.push_back(o);
  } else {
    for (const std::string& name : output_names) {
      size_t o = 0;
      while (o < outputs_.size() && outputs_[o].name != name) ++o;
      if (o == outputs_.size()) return absl::InvalidArgumentError(absl::StrCat("unknown output '", name, "'"));
      selected.push_back(o);
    }
  }
  std::vector<TF_Output> out_ports;
  for (size_t o : selected) out_ports.push_back(outputs_[o].output);
  TensorList out(*api_, selected.size());
  Status status(*api_);
  api_->TF_SessionRun(session_, nullptr, in_ports.data(), in.data(), static_cast<int>(n_in),
                      out_ports.data(), out.data(), static_cast<int>(out_ports.size()), nullptr, 0,
                      nullptr, status.get());
  if (!status.ok()) {
    std::string message = absl::StrCat("TensorFlow failed to run the model: ", status.message());
    return status.code() == TF_INVALID_ARGUMENT ? absl::InvalidArgumentError(message)
                                                : absl::InternalError(message);
  }
  const size_t first = outputs->size();
  for (size_t k = 0; k < selected.size(); ++k) {
    const Port& port = outputs_[selected[k]];
    TF_Tensor* t = out[k];
    if (t == nullptr || api_->TF_TensorType(t) != port.dtype) {
      outputs->resize(first);
      return absl::InternalError(absl::StrCat("output '", port.name, "' has an unexpected type"));
    }
    Tensor result{port.name, port.datatype, {}, {}};
    for (int d = 0; d < api_->TF_NumDims(t); ++d) result.shape.push_back(api_->TF_Dim(t, d));
    const size_t size = api_->TF_TensorByteSize(t);
    result.data.assign(static_cast<const char*>(api_->TF_TensorData(t)), size);
    outputs->push_back(std::move(result));
  }
  return absl::OkStatus();
}

// ConfigProto{intra_op_parallelism_threads = 2; inter_op_parallelism_threads = 5;
// use_per_session_threads = 9}, serialised by hand.
std::string SessionConfig(int intra_op_threads) {
  std::string proto;
  auto varint = [&](uint64_t v) {
    while (v >= 0x80) {
      proto.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    proto.push_back(static_cast<char>(v));
  };
  proto.push_back(0x10);
  varint(static_cast<uint64_t>(intra_op_threads));
  proto.push_back(0x28);
  varint(1);
  proto.push_back(0x48);
  varint(1);
  return proto;
}

// A private temporary directory, removed at scope exit.
class TempDir {
 public:
  explicit TempDir(const std::string& near) {
    std::string pattern = (fs::path(near).parent_path() / "savedmodel.XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TensorflowBackend>> TensorflowBackend::Create() {
  // The library (~800 MB mapped, ~300 MB resident) is opened at the first load, not here.
  const std::string library = LibraryPath();
  if (::access(library.c_str(), R_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("TensorFlow's library ", library, " is missing or unreadable"));
  }
  return std::unique_ptr<TensorflowBackend>(new TensorflowBackend());
}

std::string TensorflowBackend::version() const {
  if (g_opened.load()) {
    auto api = Api();
    if (api.ok()) return absl::StrCat("tensorflow ", (*api)->version);
  }
  return absl::StrCat("tensorflow ", HOTSWAP_TENSORFLOW_VERSION);  // what CMake found
}

absl::StatusOr<std::unique_ptr<LoadedModel>> TensorflowBackend::Load(
    const std::string& artifact_path, const LoadOptions& options) {
  HS_ASSIGN_OR_RETURN(const TfApi* api, Api());
  if (options.intra_op_threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("intra_op_threads must be >= 1, got ", options.intra_op_threads));
  }
  std::error_code ec;
  if (!fs::is_regular_file(artifact_path, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("model artifact '", artifact_path, "' does not exist or is not a file"));
  }
  const SniffResult sniffed = ArtifactSniffer::SniffFile(artifact_path);
  if (sniffed.format != ArtifactFormat::kSavedModelTar) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model artifact '", artifact_path, "' is ", ToAbsl(DescribeFormat(sniffed.format)),
        ", not a SavedModel tar (tar -C export_dir -cf model.tar .)"));
  }
  TempDir dir(artifact_path);
  if (dir.path().empty()) {
    return absl::InternalError(absl::StrCat("cannot create a temporary directory beside ",
                                            artifact_path));
  }
  int64_t extracted = 0;
  HS_RETURN_IF_ERROR(ExtractTar(artifact_path, dir.path(), &extracted));
  const std::string export_dir = (fs::path(dir.path()) / sniffed.saved_model_dir).string();

  std::string signature_name = "serving_default";
  std::string tag = "serve";
  if (fs::exists(fs::path(export_dir) / "hotswap.json")) {
    std::ifstream in(fs::path(export_dir) / "hotswap.json");
    nlohmann::json config = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!config.is_object()) {
      return absl::InvalidArgumentError("hotswap.json in the SavedModel tar is not a JSON object");
    }
    if (config.contains("signature_def") && config["signature_def"].is_string()) {
      signature_name = config["signature_def"].get<std::string>();
    }
    if (config.contains("tags") && config["tags"].is_string()) tag = config["tags"].get<std::string>();
  }

  TF_Graph* graph = api->TF_NewGraph();
  TF_Session* session = nullptr;
  int64_t memory_bytes = 0;
  std::string meta_graph;
  {
    Status status(*api);
    TF_SessionOptions* session_options = api->TF_NewSessionOptions();
    const std::string config = SessionConfig(options.intra_op_threads);
    api->TF_SetConfig(session_options, config.data(), config.size(), status.get());
    if (!status.ok()) {
      api->TF_DeleteSessionOptions(session_options);
      api->TF_DeleteGraph(graph);
      return absl::InternalError(absl::StrCat("TensorFlow session options: ", status.message()));
    }
    TF_Buffer* meta = api->TF_NewBuffer();
    const char* tags[] = {tag.c_str()};
    {
      absl::MutexLock lock(&g_load_mu);
      const int64_t rss_before = ResidentSetBytes();
      session = api->TF_LoadSessionFromSavedModel(session_options, nullptr, export_dir.c_str(),
                                                  tags, 1, graph, meta, status.get());
      memory_bytes = ResidentSetBytes() - rss_before;
    }
    api->TF_DeleteSessionOptions(session_options);
    if (meta->data != nullptr) meta_graph.assign(static_cast<const char*>(meta->data), meta->length);
    api->TF_DeleteBuffer(meta);
    if (!status.ok() || session == nullptr) {
      api->TF_DeleteGraph(graph);
      return absl::InvalidArgumentError(absl::StrCat("TensorFlow cannot load the SavedModel in '",
                                                     artifact_path, "': ", status.message()));
    }
  }
  // From here on the model owns graph and session (its destructor releases them).
  auto release = [&](absl::Status s) -> absl::Status {
    Status status(*api);
    api->TF_CloseSession(session, status.get());
    api->TF_DeleteSession(session, status.get());
    api->TF_DeleteGraph(graph);
    return s;
  };

  const std::map<std::string, Signature> signatures = ParseSignatures(meta_graph);
  auto found = signatures.find(signature_name);
  if (found == signatures.end()) {
    std::vector<std::string> names;
    for (const auto& [name, sig] : signatures) names.push_back(name);
    return release(absl::FailedPreconditionError(
        absl::StrCat("the SavedModel has no signature '", signature_name, "' (it has: ",
                     absl::StrJoin(names, ", "), ")")));
  }
  domain::TensorSchema schema;
  std::vector<Port> ports[2];
  for (int side = 0; side < 2; ++side) {
    const auto& infos = side == 0 ? found->second.inputs : found->second.outputs;
    for (const auto& [name, info] : infos) {
      const char* kind = side == 0 ? "input" : "output";
      const std::optional<domain::DataType> datatype = ToDataType(info.dtype);
      if (!datatype) {
        return release(absl::FailedPreconditionError(absl::StrCat(
            "signature '", signature_name, "' ", kind, " '", name, "' has TensorFlow dtype ",
            info.dtype, ", which has no KServe V2 datatype HotSwap serves")));
      }
      if (info.unknown_rank) {
        return release(absl::FailedPreconditionError(absl::StrCat(
            "signature '", signature_name, "' ", kind, " '", name, "' has an unknown rank")));
      }
      const size_t colon = info.tensor.rfind(':');
      const std::string op_name = info.tensor.substr(0, colon);
      const int index = colon == std::string::npos ? 0 : std::atoi(info.tensor.c_str() + colon + 1);
      TF_Operation* op = api->TF_GraphOperationByName(graph, op_name.c_str());
      if (op == nullptr || index >= api->TF_OperationNumOutputs(op)) {
        return release(absl::FailedPreconditionError(absl::StrCat(
            "signature '", signature_name, "' names tensor '", info.tensor,
            "', which the graph does not have")));
      }
      ports[side].push_back(Port{name, TF_Output{op, index}, info.dtype, *datatype});
      (side == 0 ? schema.inputs : schema.outputs)
          .push_back(domain::TensorSpec{name, *datatype, info.shape});
    }
  }
  if (schema.outputs.empty()) {
    return release(absl::FailedPreconditionError(
        absl::StrCat("signature '", signature_name, "' has no outputs")));
  }
  memory_bytes = std::max(memory_bytes, extracted);
  return std::unique_ptr<LoadedModel>(new TfModel(api, graph, session, std::move(ports[0]),
                                                  std::move(ports[1]), std::move(schema),
                                                  memory_bytes));
}

}  // namespace hotswap::runtime
