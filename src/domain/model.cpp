#include "domain/model.h"

#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <set>
#include <type_traits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/names.h"
#include "common/status.h"

namespace hotswap::domain {
namespace {

using Errors = std::vector<FieldError>;

constexpr size_t kMaxRank = 8;
constexpr size_t kMaxDescriptionChars = 4096;
constexpr size_t kMaxTagValueChars = 256;
constexpr size_t kMaxQuotedBytes = 64;

constexpr std::string_view kStrategies[] = {"direct", "canary", "blue-green",
                                            "ab-test", "shadow", "rolling"};
constexpr std::string_view kDeploymentStates[] = {"pending",   "progressing", "paused",
                                                  "promoting", "succeeded",   "aborted",
                                                  "rolled_back", "failed", "undeployed",
                                                  "pending_approval", "rejected", "expired"};

struct DataTypeInfo {
  DataType type;
  std::string_view name;
  size_t size;
};
constexpr DataTypeInfo kDataTypes[] = {
    {DataType::kBool, "BOOL", 1},     {DataType::kUint8, "UINT8", 1},
    {DataType::kUint16, "UINT16", 2}, {DataType::kUint32, "UINT32", 4},
    {DataType::kUint64, "UINT64", 8}, {DataType::kInt8, "INT8", 1},
    {DataType::kInt16, "INT16", 2},   {DataType::kInt32, "INT32", 4},
    {DataType::kInt64, "INT64", 8},   {DataType::kFp16, "FP16", 2},
    {DataType::kFp32, "FP32", 4},     {DataType::kFp64, "FP64", 8},
    {DataType::kBytes, "BYTES", 0},
};

constexpr std::pair<VersionStatus, std::string_view> kVersionStatuses[] = {
    {VersionStatus::kRegistered, "registered"}, {VersionStatus::kValidated, "validated"},
    {VersionStatus::kApproved, "approved"},     {VersionStatus::kDeployed, "deployed"},
    {VersionStatus::kArchived, "archived"},
};

const DataTypeInfo* FindDataType(DataType t) {
  for (const DataTypeInfo& info : kDataTypes) {
    if (info.type == t) return &info;
  }
  return nullptr;
}

template <size_t N>
bool Contains(const std::string_view (&set)[N], std::string_view value) {
  for (std::string_view s : set) {
    if (s == value) return true;
  }
  return false;
}

template <size_t N>
std::string ListOf(const std::string_view (&set)[N]) {
  std::string out;
  for (std::string_view s : set) {
    if (!out.empty()) out.append(", ");
    out.append(s);
  }
  return out;
}

// ---- Paths and messages -------------------------------------------------------------------------
// Debian's Abseil has its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0), which does
// not convert from std::string_view: internal helpers take absl::string_view, and the
// std::string_view of the public API goes through AsAbsl.

absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Join(absl::string_view prefix, absl::string_view key) {
  if (prefix.empty()) return std::string(key);
  return absl::StrCat(prefix, ".", key);
}

std::string Index(absl::string_view prefix, size_t i) { return absl::StrCat(prefix, "[", i, "]"); }

// `s` in single quotes, cut (on a UTF-8 boundary) so user input cannot bloat a message.
std::string Quote(absl::string_view s) {
  if (s.size() <= kMaxQuotedBytes) return absl::StrCat("'", s, "'");
  size_t n = kMaxQuotedBytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return absl::StrCat("'", s.substr(0, n), "...'");
}

// Code points in a UTF-8 string (bytes that do not continue a sequence).
size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// ---- Validation helpers -------------------------------------------------------------------------

void AppendPrefixed(absl::string_view prefix, Errors nested, Errors* out) {
  for (FieldError& e : nested) out->push_back({Join(prefix, e.path), std::move(e.message)});
}

// Reports a ValidateName failure under `path`, without ValidateName's own "what: " prefix.
void CheckName(std::string_view value, const std::string& path, Errors* errors) {
  absl::Status s = ValidateName(value, path);
  if (s.ok()) return;
  absl::string_view message = s.message();
  const std::string prefix = absl::StrCat(path, ": ");
  if (absl::StartsWith(message, prefix)) message.remove_prefix(prefix.size());
  errors->push_back({path, std::string(message)});
}

void CheckTags(const std::map<std::string, std::string>& tags, Errors* errors) {
  for (const auto& [key, value] : tags) {
    const std::string path = Join("tags", key);
    absl::Status s = ValidateName(key, "key");
    if (!s.ok()) errors->push_back({path, absl::StrCat("invalid tag ", s.message())});
    if (Utf8Length(value) > kMaxTagValueChars) {
      errors->push_back({path, absl::StrCat("value longer than ", kMaxTagValueChars,
                                            " characters")});
    }
  }
}

void CheckVersionNumber(int64_t version, const std::string& path, Errors* errors) {
  if (version < 1) errors->push_back({path, absl::StrCat("must be >= 1, got ", version)});
}

bool IsPositiveFinite(double x) { return std::isfinite(x) && x > 0; }

void CheckPositive(const std::optional<double>& v, const std::string& path, Errors* errors) {
  if (v.has_value() && !IsPositiveFinite(*v)) {
    errors->push_back({path, absl::StrCat("must be a finite number > 0, got ", *v)});
  }
}

void CheckSpecs(const std::vector<TensorSpec>& specs, absl::string_view field,
                absl::string_view singular, Errors* errors) {
  if (specs.empty()) {
    errors->push_back({std::string(field), absl::StrCat("at least one ", singular,
                                                        " is required")});
  }
  std::set<std::string_view> seen;
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& spec = specs[i];
    const std::string at = Index(field, i);
    if (spec.name.empty()) {
      errors->push_back({Join(at, "name"), "must not be empty"});
    } else if (!seen.insert(spec.name).second) {
      errors->push_back({Join(at, "name"), absl::StrCat("duplicate name ", Quote(spec.name))});
    }
    if (FindDataType(spec.datatype) == nullptr) {
      errors->push_back({Join(at, "datatype"), "unknown datatype"});
    }
    if (spec.shape.size() > kMaxRank) {
      errors->push_back({Join(at, "shape"), absl::StrCat("rank ", spec.shape.size(),
                                                         " exceeds the maximum of ", kMaxRank)});
    }
    for (int64_t dim : spec.shape) {
      if (dim != -1 && dim < 1) {
        errors->push_back({Join(at, "shape"), absl::StrCat("dimension ", dim, " is invalid")});
      }
    }
  }
}

// ---- JSON reading -------------------------------------------------------------------------------
// Every reader has the shape `absl::Status Read(const Json& value, const std::string& path,
// T* out)` and reports errors as InvalidArgument "path: message".

template <typename T>
using ReadFn = absl::Status (*)(const Json&, const std::string&, T*);

const char* JsonTypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "integer";
    case Json::value_t::number_float: return "number";
    case Json::value_t::string: return "string";
    case Json::value_t::array: return "array";
    case Json::value_t::object: return "object";
    case Json::value_t::binary: return "binary";
    case Json::value_t::discarded: return "discarded";
  }
  return "unknown";
}

absl::Status ParseError(absl::string_view path, absl::string_view message) {
  if (path.empty()) return absl::InvalidArgumentError(message);
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
}

absl::Status TypeError(absl::string_view path, absl::string_view expected, const Json& got) {
  return ParseError(path, absl::StrCat("expected ", expected, ", got ", JsonTypeName(got)));
}

absl::Status ReadString(const Json& v, const std::string& path, std::string* out) {
  if (!v.is_string()) return TypeError(path, "string", v);
  *out = v.get_ref<const std::string&>();
  return absl::OkStatus();
}

absl::Status ReadInt(const Json& v, const std::string& path, int64_t* out) {
  if (!v.is_number_integer()) return TypeError(path, "integer", v);
  if (v.is_number_unsigned() &&
      v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return ParseError(path, "integer out of range");
  }
  *out = v.get<int64_t>();
  return absl::OkStatus();
}

absl::Status ReadDouble(const Json& v, const std::string& path, double* out) {
  if (!v.is_number()) return TypeError(path, "number", v);
  *out = v.get<double>();
  return absl::OkStatus();
}

absl::Status ReadBool(const Json& v, const std::string& path, bool* out) {
  if (!v.is_boolean()) return TypeError(path, "boolean", v);
  *out = v.get<bool>();
  return absl::OkStatus();
}

absl::Status ReadVerbatim(const Json& v, const std::string&, Json* out) {
  *out = v;
  return absl::OkStatus();
}

absl::Status ReadTimestamp(const Json& v, const std::string& path, int64_t* out) {
  if (!v.is_string()) return TypeError(path, "RFC 3339 timestamp string", v);
  const std::string& text = v.get_ref<const std::string&>();
  if (!ParseTimestamp(text, out)) {
    return ParseError(path, absl::StrCat("malformed timestamp ", Quote(text),
                                         " (expected RFC 3339 UTC, e.g. "
                                         "2026-11-24T01:02:03.456Z)"));
  }
  return absl::OkStatus();
}

absl::Status ReadDataType(const Json& v, const std::string& path, DataType* out) {
  if (!v.is_string()) return TypeError(path, "string", v);
  const std::string& name = v.get_ref<const std::string&>();
  std::optional<DataType> t = ParseDataType(name);
  if (!t.has_value()) return ParseError(path, absl::StrCat("unknown datatype ", Quote(name)));
  *out = *t;
  return absl::OkStatus();
}

absl::Status ReadVersionStatus(const Json& v, const std::string& path, VersionStatus* out) {
  if (!v.is_string()) return TypeError(path, "string", v);
  const std::string& name = v.get_ref<const std::string&>();
  std::optional<VersionStatus> s = ParseVersionStatus(name);
  if (!s.has_value()) {
    return ParseError(path, absl::StrCat("unknown version status ", Quote(name)));
  }
  *out = *s;
  return absl::OkStatus();
}

template <typename T>
absl::Status ReadArray(const Json& v, const std::string& path, ReadFn<T> read,
                       std::vector<T>* out) {
  if (!v.is_array()) return TypeError(path, "array", v);
  std::vector<T> items;
  items.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    T item{};
    HS_RETURN_IF_ERROR(read(v[i], Index(path, i), &item));
    items.push_back(std::move(item));
  }
  *out = std::move(items);
  return absl::OkStatus();
}

template <typename T>
absl::Status ReadMap(const Json& v, const std::string& path, ReadFn<T> read,
                     std::map<std::string, T>* out) {
  if (!v.is_object()) return TypeError(path, "object", v);
  std::map<std::string, T> items;
  for (auto it = v.begin(); it != v.end(); ++it) {
    T item{};
    HS_RETURN_IF_ERROR(read(it.value(), Join(path, it.key()), &item));
    items.emplace(it.key(), std::move(item));
  }
  *out = std::move(items);
  return absl::OkStatus();
}

absl::Status ReadInt64Array(const Json& v, const std::string& path, std::vector<int64_t>* out) {
  return ReadArray<int64_t>(v, path, &ReadInt, out);
}

absl::Status ReadStringArray(const Json& v, const std::string& path,
                             std::vector<std::string>* out) {
  return ReadArray<std::string>(v, path, &ReadString, out);
}

absl::Status ReadStringMap(const Json& v, const std::string& path,
                           std::map<std::string, std::string>* out) {
  return ReadMap<std::string>(v, path, &ReadString, out);
}

absl::Status ReadDoubleMap(const Json& v, const std::string& path,
                           std::map<std::string, double>* out) {
  return ReadMap<double>(v, path, &ReadDouble, out);
}

// The members of one JSON object, addressed by key, with paths under `path`.
class ObjectReader {
 public:
  ObjectReader(const Json& object, const std::string& path) : object_(object), path_(path) {}

  // Reads `key` into *out; when absent, leaves *out as is (or fails when `required`).
  template <typename T>
  absl::Status Field(absl::string_view key, std::type_identity_t<ReadFn<T>> read, T* out,
                     bool required = false) const {
    const Json* v = Find(key);
    if (v == nullptr) {
      return required ? ParseError(Join(path_, key), "required field is missing")
                      : absl::OkStatus();
    }
    return read(*v, Join(path_, key), out);
  }

  // Reads `key` into *out; absent or null leaves it unset.
  template <typename T>
  absl::Status Optional(absl::string_view key, std::type_identity_t<ReadFn<T>> read,
                        std::optional<T>* out) const {
    const Json* v = Find(key);
    if (v == nullptr || v->is_null()) {
      out->reset();
      return absl::OkStatus();
    }
    T value{};
    HS_RETURN_IF_ERROR(read(*v, Join(path_, key), &value));
    *out = std::move(value);
    return absl::OkStatus();
  }

 private:
  const Json* Find(absl::string_view key) const {
    auto it = object_.find(std::string(key));
    return it == object_.end() ? nullptr : &*it;
  }

  const Json& object_;
  const std::string& path_;
};

absl::Status ExpectObject(const Json& v, const std::string& path) {
  if (!v.is_object()) return TypeError(path, "object", v);
  return absl::OkStatus();
}

absl::Status ReadTensorSpec(const Json& v, const std::string& path, TensorSpec* out) {
  HS_RETURN_IF_ERROR(ExpectObject(v, path));
  ObjectReader r(v, path);
  TensorSpec s;
  HS_RETURN_IF_ERROR(r.Field("name", &ReadString, &s.name, /*required=*/true));
  HS_RETURN_IF_ERROR(
      r.Field("datatype", &ReadDataType, &s.datatype, /*required=*/true));
  HS_RETURN_IF_ERROR(
      r.Field("shape", &ReadInt64Array, &s.shape, /*required=*/true));
  *out = std::move(s);
  return absl::OkStatus();
}

absl::Status ReadTensorSpecs(const Json& v, const std::string& path,
                             std::vector<TensorSpec>* out) {
  return ReadArray<TensorSpec>(v, path, &ReadTensorSpec, out);
}

absl::Status ReadTensorSchema(const Json& v, const std::string& path, TensorSchema* out) {
  HS_RETURN_IF_ERROR(ExpectObject(v, path));
  ObjectReader r(v, path);
  TensorSchema s;
  HS_RETURN_IF_ERROR(r.Field("inputs", &ReadTensorSpecs, &s.inputs));
  HS_RETURN_IF_ERROR(r.Field("outputs", &ReadTensorSpecs, &s.outputs));
  *out = std::move(s);
  return absl::OkStatus();
}

absl::Status ReadTrainingMetadata(const Json& v, const std::string& path, TrainingMetadata* out) {
  HS_RETURN_IF_ERROR(ExpectObject(v, path));
  ObjectReader r(v, path);
  TrainingMetadata t;
  HS_RETURN_IF_ERROR(r.Field("framework", &ReadString, &t.framework));
  HS_RETURN_IF_ERROR(r.Field("framework_version", &ReadString, &t.framework_version));
  HS_RETURN_IF_ERROR(r.Field("run_id", &ReadString, &t.run_id));
  HS_RETURN_IF_ERROR(r.Field("code_commit", &ReadString, &t.code_commit));
  HS_RETURN_IF_ERROR(r.Field("dataset_uri", &ReadString, &t.dataset_uri));
  HS_RETURN_IF_ERROR(r.Field("dataset_sha256", &ReadString, &t.dataset_sha256));
  // Kept verbatim (even when not an object): Validate reports a non-object.
  HS_RETURN_IF_ERROR(r.Field("hyperparameters", &ReadVerbatim, &t.hyperparameters));
  HS_RETURN_IF_ERROR(
      r.Field("metrics", &ReadDoubleMap, &t.metrics));
  HS_RETURN_IF_ERROR(r.Field("created_by", &ReadString, &t.created_by));
  *out = std::move(t);
  return absl::OkStatus();
}

absl::Status ReadQualityMetric(const Json& v, const std::string& path, QualityMetric* out) {
  HS_RETURN_IF_ERROR(ExpectObject(v, path));
  ObjectReader r(v, path);
  QualityMetric q;
  HS_RETURN_IF_ERROR(r.Field("name", &ReadString, &q.name, /*required=*/true));
  HS_RETURN_IF_ERROR(r.Field("value", &ReadDouble, &q.value, /*required=*/true));
  HS_RETURN_IF_ERROR(r.Field("tolerated_drop", &ReadDouble, &q.tolerated_drop));
  HS_RETURN_IF_ERROR(r.Field("higher_is_better", &ReadBool, &q.higher_is_better));
  *out = std::move(q);
  return absl::OkStatus();
}

absl::Status ReadPerformanceBaseline(const Json& v, const std::string& path,
                                     PerformanceBaseline* out) {
  HS_RETURN_IF_ERROR(ExpectObject(v, path));
  ObjectReader r(v, path);
  PerformanceBaseline b;
  HS_RETURN_IF_ERROR(r.Optional("latency_p50_ms", &ReadDouble, &b.latency_p50_ms));
  HS_RETURN_IF_ERROR(r.Optional("latency_p99_ms", &ReadDouble, &b.latency_p99_ms));
  HS_RETURN_IF_ERROR(r.Optional("quality", &ReadQualityMetric, &b.quality));
  HS_RETURN_IF_ERROR(
      r.Optional("min_throughput_rps", &ReadDouble, &b.min_throughput_rps));
  *out = std::move(b);
  return absl::OkStatus();
}

absl::Status ReadModel(const Json& v, const std::string& path, Model* out) {
  HS_RETURN_IF_ERROR(ExpectObject(v, path));
  ObjectReader r(v, path);
  Model m;
  HS_RETURN_IF_ERROR(r.Field("name", &ReadString, &m.name, /*required=*/true));
  HS_RETURN_IF_ERROR(r.Field("description", &ReadString, &m.description));
  HS_RETURN_IF_ERROR(
      r.Field("tags", &ReadStringMap, &m.tags));
  HS_RETURN_IF_ERROR(r.Field("created_at", &ReadTimestamp, &m.created_at_ms));
  HS_RETURN_IF_ERROR(r.Field("updated_at", &ReadTimestamp, &m.updated_at_ms));
  *out = std::move(m);
  return absl::OkStatus();
}

absl::Status ReadModelVersion(const Json& v, const std::string& path, ModelVersion* out) {
  HS_RETURN_IF_ERROR(ExpectObject(v, path));
  ObjectReader r(v, path);
  ModelVersion mv;
  HS_RETURN_IF_ERROR(
      r.Field("model_name", &ReadString, &mv.model_name, /*required=*/true));
  HS_RETURN_IF_ERROR(r.Field("version", &ReadInt, &mv.version, /*required=*/true));
  HS_RETURN_IF_ERROR(
      r.Field("framework", &ReadString, &mv.framework, /*required=*/true));
  HS_RETURN_IF_ERROR(r.Field("sha256", &ReadString, &mv.sha256));
  HS_RETURN_IF_ERROR(r.Field("size_bytes", &ReadInt, &mv.size_bytes));
  HS_RETURN_IF_ERROR(r.Field("status", &ReadVersionStatus, &mv.status));
  HS_RETURN_IF_ERROR(r.Optional("schema", &ReadTensorSchema, &mv.schema));
  HS_RETURN_IF_ERROR(
      r.Optional("training", &ReadTrainingMetadata, &mv.training));
  HS_RETURN_IF_ERROR(
      r.Optional("baseline", &ReadPerformanceBaseline, &mv.baseline));
  HS_RETURN_IF_ERROR(r.Field("preprocessing", &ReadVerbatim, &mv.preprocessing));
  HS_RETURN_IF_ERROR(
      r.Field("tags", &ReadStringMap, &mv.tags));
  HS_RETURN_IF_ERROR(r.Optional("parent_version", &ReadInt, &mv.parent_version));
  HS_RETURN_IF_ERROR(
      r.Field("aliases", &ReadStringArray, &mv.aliases));
  HS_RETURN_IF_ERROR(r.Field("created_by", &ReadString, &mv.created_by));
  HS_RETURN_IF_ERROR(r.Field("created_at", &ReadTimestamp, &mv.created_at_ms));
  *out = std::move(mv);
  return absl::OkStatus();
}

absl::Status ReadDeployment(const Json& v, const std::string& path, Deployment* out) {
  HS_RETURN_IF_ERROR(ExpectObject(v, path));
  ObjectReader r(v, path);
  Deployment d;
  // `id` is optional so that a create request (whose id the server assigns) parses too.
  HS_RETURN_IF_ERROR(r.Field("id", &ReadString, &d.id));
  HS_RETURN_IF_ERROR(
      r.Field("endpoint", &ReadString, &d.endpoint, /*required=*/true));
  HS_RETURN_IF_ERROR(
      r.Field("model_name", &ReadString, &d.model_name, /*required=*/true));
  HS_RETURN_IF_ERROR(r.Field("version", &ReadInt, &d.version, /*required=*/true));
  HS_RETURN_IF_ERROR(r.Field("strategy", &ReadString, &d.strategy));
  HS_RETURN_IF_ERROR(r.Field("state", &ReadString, &d.state));
  HS_RETURN_IF_ERROR(r.Field("message", &ReadString, &d.message));
  HS_RETURN_IF_ERROR(r.Optional("previous_version", &ReadInt, &d.previous_version));
  HS_RETURN_IF_ERROR(r.Field("created_at", &ReadTimestamp, &d.created_at_ms));
  HS_RETURN_IF_ERROR(r.Field("updated_at", &ReadTimestamp, &d.updated_at_ms));
  HS_RETURN_IF_ERROR(r.Field("rollout", &ReadVerbatim, &d.rollout));
  if (!d.rollout.is_object()) return ParseError(Join(path, "rollout"), "expected an object");
  *out = std::move(d);
  return absl::OkStatus();
}

// Runs a reader at the top level; no exception escapes.
template <typename T>
absl::StatusOr<T> ParseTopLevel(const Json& j, ReadFn<T> read) {
  try {
    T out{};
    HS_RETURN_IF_ERROR(read(j, std::string(), &out));
    return out;
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("malformed JSON: ", e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("reading JSON: ", e.what()));
  }
}

// ---- JSON writing -------------------------------------------------------------------------------

Json SpecToJson(const TensorSpec& s) {
  Json shape = Json::array();
  for (int64_t d : s.shape) shape.push_back(d);
  Json j = Json::object();
  j["name"] = s.name;
  j["datatype"] = std::string(DataTypeName(s.datatype));
  j["shape"] = std::move(shape);
  return j;
}

Json SpecsToJson(const std::vector<TensorSpec>& specs) {
  Json a = Json::array();
  for (const TensorSpec& s : specs) a.push_back(SpecToJson(s));
  return a;
}

Json QualityToJson(const QualityMetric& q) {
  Json j = Json::object();
  j["name"] = q.name;
  j["value"] = q.value;
  j["tolerated_drop"] = q.tolerated_drop;
  j["higher_is_better"] = q.higher_is_better;
  return j;
}

template <typename T>
Json MapToJson(const std::map<std::string, T>& m) {
  Json j = Json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

}  // namespace

// ---- Errors, enums ------------------------------------------------------------------------------

std::string JoinFieldErrors(const std::vector<FieldError>& errors) {
  return absl::StrJoin(errors, "; ", [](std::string* out, const FieldError& e) {
    if (e.path.empty()) {
      absl::StrAppend(out, e.message);
    } else {
      absl::StrAppend(out, e.path, ": ", e.message);
    }
  });
}

absl::Status FieldErrorsToStatus(std::string_view what, const std::vector<FieldError>& errors) {
  if (errors.empty()) return absl::OkStatus();
  if (what.empty()) return absl::InvalidArgumentError(JoinFieldErrors(errors));
  return absl::InvalidArgumentError(absl::StrCat(AsAbsl(what), ": ", JoinFieldErrors(errors)));
}

std::string_view DataTypeName(DataType t) {
  const DataTypeInfo* info = FindDataType(t);
  return info == nullptr ? "INVALID" : info->name;
}

std::optional<DataType> ParseDataType(std::string_view name) {
  for (const DataTypeInfo& info : kDataTypes) {
    if (info.name == name) return info.type;
  }
  return std::nullopt;
}

size_t DataTypeSize(DataType t) {
  const DataTypeInfo* info = FindDataType(t);
  return info == nullptr ? 0 : info->size;
}

std::string_view VersionStatusName(VersionStatus s) {
  for (const auto& [status, name] : kVersionStatuses) {
    if (status == s) return name;
  }
  return "invalid";
}

std::optional<VersionStatus> ParseVersionStatus(std::string_view s) {
  for (const auto& [status, name] : kVersionStatuses) {
    if (name == s) return status;
  }
  return std::nullopt;
}

bool IsKnownFramework(std::string_view f) { return Contains(kFrameworks, f); }

// ---- TensorSchema -------------------------------------------------------------------------------

std::vector<FieldError> Validate(const TensorSchema& s) {
  Errors errors;
  CheckSpecs(s.inputs, "inputs", "input", &errors);
  CheckSpecs(s.outputs, "outputs", "output", &errors);
  return errors;
}

Json ToJson(const TensorSchema& s) {
  Json j = Json::object();
  j["inputs"] = SpecsToJson(s.inputs);
  j["outputs"] = SpecsToJson(s.outputs);
  return j;
}

absl::StatusOr<TensorSchema> TensorSchemaFromJson(const Json& j) {
  return ParseTopLevel<TensorSchema>(j, &ReadTensorSchema);
}

// ---- TrainingMetadata ---------------------------------------------------------------------------

std::vector<FieldError> Validate(const TrainingMetadata& t) {
  Errors errors;
  if (!t.code_commit.empty()) {
    bool hex = true;
    for (char c : t.code_commit) hex = hex && IsHexDigit(c);
    if (!hex || t.code_commit.size() < 7 || t.code_commit.size() > 40) {
      errors.push_back({"code_commit", "must be a git commit SHA of 7-40 hex characters"});
    }
  }
  if (!t.dataset_sha256.empty() && !IsSha256Hex(t.dataset_sha256)) {
    errors.push_back({"dataset_sha256", "must be 64 lower-case hex characters"});
  }
  if (!t.hyperparameters.is_object()) {
    errors.push_back({"hyperparameters", absl::StrCat("must be a JSON object, got ",
                                                      JsonTypeName(t.hyperparameters))});
  }
  for (const auto& [name, value] : t.metrics) {
    const std::string path = Join("metrics", name);
    if (name.empty()) errors.push_back({path, "metric name must not be empty"});
    if (!std::isfinite(value)) errors.push_back({path, "must be a finite number"});
  }
  return errors;
}

Json ToJson(const TrainingMetadata& t) {
  Json j = Json::object();
  j["framework"] = t.framework;
  j["framework_version"] = t.framework_version;
  j["run_id"] = t.run_id;
  j["code_commit"] = t.code_commit;
  j["dataset_uri"] = t.dataset_uri;
  j["dataset_sha256"] = t.dataset_sha256;
  j["hyperparameters"] = t.hyperparameters;
  j["metrics"] = MapToJson(t.metrics);
  j["created_by"] = t.created_by;
  return j;
}

absl::StatusOr<TrainingMetadata> TrainingMetadataFromJson(const Json& j) {
  return ParseTopLevel<TrainingMetadata>(j, &ReadTrainingMetadata);
}

// ---- PerformanceBaseline ------------------------------------------------------------------------

std::vector<FieldError> Validate(const PerformanceBaseline& b) {
  Errors errors;
  CheckPositive(b.latency_p50_ms, "latency_p50_ms", &errors);
  CheckPositive(b.latency_p99_ms, "latency_p99_ms", &errors);
  if (b.latency_p50_ms.has_value() && b.latency_p99_ms.has_value() &&
      *b.latency_p99_ms < *b.latency_p50_ms) {
    errors.push_back({"latency_p99_ms", "must be >= latency_p50_ms"});
  }
  if (b.quality.has_value()) {
    const QualityMetric& q = *b.quality;
    if (q.name.empty()) errors.push_back({"quality.name", "must not be empty"});
    if (!std::isfinite(q.value)) errors.push_back({"quality.value", "must be a finite number"});
    if (!std::isfinite(q.tolerated_drop) || q.tolerated_drop < 0) {
      errors.push_back({"quality.tolerated_drop",
                        absl::StrCat("must be a finite number >= 0, got ", q.tolerated_drop)});
    }
  }
  CheckPositive(b.min_throughput_rps, "min_throughput_rps", &errors);
  return errors;
}

Json ToJson(const PerformanceBaseline& b) {
  Json j = Json::object();
  if (b.latency_p50_ms.has_value()) j["latency_p50_ms"] = *b.latency_p50_ms;
  if (b.latency_p99_ms.has_value()) j["latency_p99_ms"] = *b.latency_p99_ms;
  if (b.quality.has_value()) j["quality"] = QualityToJson(*b.quality);
  if (b.min_throughput_rps.has_value()) j["min_throughput_rps"] = *b.min_throughput_rps;
  return j;
}

absl::StatusOr<PerformanceBaseline> PerformanceBaselineFromJson(const Json& j) {
  return ParseTopLevel<PerformanceBaseline>(j, &ReadPerformanceBaseline);
}

// ---- Model --------------------------------------------------------------------------------------

std::vector<FieldError> Validate(const Model& m) {
  Errors errors;
  CheckName(m.name, "name", &errors);
  if (Utf8Length(m.description) > kMaxDescriptionChars) {
    errors.push_back({"description", absl::StrCat("longer than ", kMaxDescriptionChars,
                                                  " characters")});
  }
  CheckTags(m.tags, &errors);
  return errors;
}

Json ToJson(const Model& m) {
  Json j = Json::object();
  j["name"] = m.name;
  j["description"] = m.description;
  j["tags"] = MapToJson(m.tags);
  j["created_at"] = FormatTimestamp(m.created_at_ms);
  j["updated_at"] = FormatTimestamp(m.updated_at_ms);
  return j;
}

absl::StatusOr<Model> ModelFromJson(const Json& j) {
  return ParseTopLevel<Model>(j, &ReadModel);
}

// ---- ModelVersion -------------------------------------------------------------------------------

std::vector<FieldError> Validate(const ModelVersion& v) {
  Errors errors;
  CheckName(v.model_name, "model_name", &errors);
  CheckVersionNumber(v.version, "version", &errors);
  if (!IsKnownFramework(v.framework)) {
    errors.push_back({"framework", absl::StrCat("unknown framework ", Quote(v.framework),
                                                " (expected one of ", ListOf(kFrameworks), ")")});
  }
  if (!IsSha256Hex(v.sha256)) {
    errors.push_back({"sha256", "must be 64 lower-case hex characters"});
  }
  if (v.size_bytes < 0) {
    errors.push_back({"size_bytes", absl::StrCat("must be >= 0, got ", v.size_bytes)});
  }
  if (!ParseVersionStatus(VersionStatusName(v.status)).has_value()) {
    errors.push_back({"status", "unknown version status"});
  }
  if (v.schema.has_value()) AppendPrefixed("schema", Validate(*v.schema), &errors);
  if (v.training.has_value()) AppendPrefixed("training", Validate(*v.training), &errors);
  if (v.baseline.has_value()) AppendPrefixed("baseline", Validate(*v.baseline), &errors);
  CheckTags(v.tags, &errors);
  if (v.parent_version.has_value()) {
    if (*v.parent_version < 1) {
      errors.push_back(
          {"parent_version", absl::StrCat("must be >= 1, got ", *v.parent_version)});
    } else if (*v.parent_version >= v.version) {
      errors.push_back({"parent_version", absl::StrCat("must be < version (", v.version,
                                                       "), got ", *v.parent_version)});
    }
  }
  return errors;
}

Json ToJson(const ModelVersion& v) {
  Json j = Json::object();
  j["model_name"] = v.model_name;
  j["version"] = v.version;
  j["framework"] = v.framework;
  j["sha256"] = v.sha256;
  j["size_bytes"] = v.size_bytes;
  j["status"] = std::string(VersionStatusName(v.status));
  if (v.schema.has_value()) j["schema"] = ToJson(*v.schema);
  if (v.training.has_value()) j["training"] = ToJson(*v.training);
  if (v.baseline.has_value()) j["baseline"] = ToJson(*v.baseline);
  if (!v.preprocessing.is_null()) j["preprocessing"] = v.preprocessing;
  j["tags"] = MapToJson(v.tags);
  if (v.parent_version.has_value()) j["parent_version"] = *v.parent_version;
  Json aliases = Json::array();
  for (const std::string& a : v.aliases) aliases.push_back(a);
  j["aliases"] = std::move(aliases);
  j["created_by"] = v.created_by;
  j["created_at"] = FormatTimestamp(v.created_at_ms);
  return j;
}

absl::StatusOr<ModelVersion> ModelVersionFromJson(const Json& j) {
  return ParseTopLevel<ModelVersion>(j, &ReadModelVersion);
}

// ---- Deployment ---------------------------------------------------------------------------------

std::vector<FieldError> Validate(const Deployment& d) {
  Errors errors;
  if (d.id.empty()) errors.push_back({"id", "must not be empty"});
  CheckName(d.endpoint, "endpoint", &errors);
  CheckName(d.model_name, "model_name", &errors);
  CheckVersionNumber(d.version, "version", &errors);
  if (!Contains(kStrategies, d.strategy)) {
    errors.push_back({"strategy", absl::StrCat("unknown strategy ", Quote(d.strategy),
                                               " (expected one of ", ListOf(kStrategies), ")")});
  }
  if (!Contains(kDeploymentStates, d.state)) {
    errors.push_back({"state", absl::StrCat("unknown state ", Quote(d.state), " (expected one of ",
                                            ListOf(kDeploymentStates), ")")});
  }
  return errors;
}

Json ToJson(const Deployment& d) {
  Json j = Json::object();
  j["id"] = d.id;
  j["endpoint"] = d.endpoint;
  j["model_name"] = d.model_name;
  j["version"] = d.version;
  j["strategy"] = d.strategy;
  j["state"] = d.state;
  if (!d.message.empty()) j["message"] = d.message;
  if (d.previous_version) j["previous_version"] = *d.previous_version;
  j["created_at"] = FormatTimestamp(d.created_at_ms);
  j["updated_at"] = FormatTimestamp(d.updated_at_ms);
  if (!d.rollout.empty()) {
    j["rollout"] = d.rollout;
    // The progress a client watches, at the top level too (`hotswap rollout status --json`).
    for (const char* k : {"step", "weights", "decisions"}) {
      if (d.rollout.contains(k)) j[k] = d.rollout[k];
    }
  }
  return j;
}

absl::StatusOr<Deployment> DeploymentFromJson(const Json& j) {
  return ParseTopLevel<Deployment>(j, &ReadDeployment);
}

}  // namespace hotswap::domain
