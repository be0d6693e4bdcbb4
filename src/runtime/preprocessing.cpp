#include "runtime/preprocessing.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"

namespace hotswap::runtime {
namespace {

using domain::DataType;
using Json = nlohmann::json;

constexpr size_t kNotFound = static_cast<size_t>(-1);
constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- Compile-time helpers -----------------------------------------------------------------------

absl::Status ConfigError(const std::string& path, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", ToAbsl(message)));
}

std::string JsonTypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "a number";
    default:
      return "an unsupported value";
  }
}

// Rejects fields outside `allowed`.
absl::Status CheckFields(const Json& object, const std::string& path,
                         std::initializer_list<std::string_view> allowed) {
  for (const auto& item : object.items()) {
    bool known = false;
    for (std::string_view a : allowed) known = known || item.key() == a;
    if (!known) {
      std::vector<std::string> names(allowed.begin(), allowed.end());
      return ConfigError(path, absl::StrCat("unknown field '", item.key(),
                                            "' (allowed: ", absl::StrJoin(names, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<double> RequiredNumber(const Json& object, const std::string& path,
                                      const char* key) {
  const std::string field = absl::StrCat(path, ".", key);
  auto it = object.find(key);
  if (it == object.end()) return ConfigError(field, "missing");
  if (!it->is_number()) return ConfigError(field, "must be a number, got " + JsonTypeName(*it));
  const double value = it->get<double>();
  if (!std::isfinite(value)) return ConfigError(field, "must be finite");
  return value;
}

absl::StatusOr<std::optional<double>> OptionalNumber(const Json& object, const std::string& path,
                                                     const char* key) {
  if (!object.contains(key)) return std::optional<double>();
  HS_ASSIGN_OR_RETURN(double value, RequiredNumber(object, path, key));
  return std::optional<double>(value);
}

absl::StatusOr<absl::flat_hash_map<std::string, int64_t>> ParseVocabulary(const Json& step,
                                                                          const std::string& path) {
  const std::string field = path + ".vocabulary";
  auto it = step.find("vocabulary");
  if (it == step.end()) return ConfigError(field, "missing");
  if (!it->is_array()) return ConfigError(field, "must be an array, got " + JsonTypeName(*it));
  if (it->empty()) return ConfigError(field, "must not be empty");
  absl::flat_hash_map<std::string, int64_t> vocabulary;
  vocabulary.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& category = (*it)[i];
    const std::string item_path = absl::StrCat(field, "[", i, "]");
    if (!category.is_string()) {
      return ConfigError(item_path, "must be a string, got " + JsonTypeName(category));
    }
    const std::string& name = category.get_ref<const std::string&>();
    if (!vocabulary.emplace(name, static_cast<int64_t>(i)).second) {
      return ConfigError(item_path, absl::StrCat("duplicate category '", name, "'"));
    }
  }
  return vocabulary;
}

// ---- Apply-time helpers -------------------------------------------------------------------------

template <typename T>
void ReadColumn(const std::string& data, int64_t batch, double* out) {
  const char* src = data.data();
  for (int64_t i = 0; i < batch; ++i) {
    T v;
    std::memcpy(&v, src + static_cast<size_t>(i) * sizeof(T), sizeof(T));
    out[i] = static_cast<double>(v);
  }
}

// Reads a numeric column (size already checked) as doubles.
void ReadNumeric(const Tensor& t, int64_t batch, double* out) {
  switch (t.datatype) {
    case DataType::kBool:
      for (int64_t i = 0; i < batch; ++i) out[i] = t.data[static_cast<size_t>(i)] != 0 ? 1 : 0;
      break;
    case DataType::kUint8:
      ReadColumn<uint8_t>(t.data, batch, out);
      break;
    case DataType::kUint16:
      ReadColumn<uint16_t>(t.data, batch, out);
      break;
    case DataType::kUint32:
      ReadColumn<uint32_t>(t.data, batch, out);
      break;
    case DataType::kUint64:
      ReadColumn<uint64_t>(t.data, batch, out);
      break;
    case DataType::kInt8:
      ReadColumn<int8_t>(t.data, batch, out);
      break;
    case DataType::kInt16:
      ReadColumn<int16_t>(t.data, batch, out);
      break;
    case DataType::kInt32:
      ReadColumn<int32_t>(t.data, batch, out);
      break;
    case DataType::kInt64:
      ReadColumn<int64_t>(t.data, batch, out);
      break;
    case DataType::kFp16:
      for (int64_t i = 0; i < batch; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data.data() + static_cast<size_t>(i) * 2, 2);
        out[i] = HalfToFloat(h);
      }
      break;
    case DataType::kFp32:
      ReadColumn<float>(t.data, batch, out);
      break;
    case DataType::kFp64:
      ReadColumn<double>(t.data, batch, out);
      break;
    case DataType::kBytes:
      break;  // rejected before
  }
}

template <typename OutT>
OutT Narrow(double v) {
  if constexpr (std::is_same_v<OutT, float>) {
    // Out-of-range finite doubles become ±inf explicitly (the plain cast is undefined).
    if (std::isfinite(v) && std::fabs(v) > std::numeric_limits<float>::max()) {
      return v > 0 ? std::numeric_limits<float>::infinity()
                   : -std::numeric_limits<float>::infinity();
    }
  }
  return static_cast<OutT>(v);
}

template <typename OutT>
void Store(Tensor* out, size_t index, OutT value) {
  std::memcpy(out->data.data() + index * sizeof(OutT), &value, sizeof(OutT));
}

}  // namespace

absl::StatusOr<Preprocessor> Preprocessor::Compile(const nlohmann::json& config) {
  Preprocessor pre;
  if (config.is_null()) return pre;
  try {
    if (!config.is_object()) {
      return ConfigError("(root)", "must be an object, got " + JsonTypeName(config));
    }
    HS_RETURN_IF_ERROR(CheckFields(config, "(root)", {"outputs"}));
    auto outputs = config.find("outputs");
    if (outputs == config.end()) return ConfigError("outputs", "missing");
    if (!outputs->is_array()) {
      return ConfigError("outputs", "must be an array, got " + JsonTypeName(*outputs));
    }
    // Where each feature input is first used and how (for consistency messages).
    std::vector<std::string> first_use;
    for (size_t o = 0; o < outputs->size(); ++o) {
      const Json& output_json = (*outputs)[o];
      const std::string opath = absl::StrCat("outputs[", o, "]");
      if (!output_json.is_object()) {
        return ConfigError(opath, "must be an object, got " + JsonTypeName(output_json));
      }
      HS_RETURN_IF_ERROR(CheckFields(output_json, opath, {"name", "datatype", "features"}));
      Output output;
      auto name = output_json.find("name");
      if (name == output_json.end()) return ConfigError(opath + ".name", "missing");
      if (!name->is_string() || name->get_ref<const std::string&>().empty()) {
        return ConfigError(opath + ".name", "must be a non-empty string");
      }
      output.name = name->get<std::string>();
      for (const Output& earlier : pre.outputs_) {
        if (earlier.name == output.name) {
          return ConfigError(opath + ".name", absl::StrCat("duplicate output '", output.name, "'"));
        }
      }
      if (auto dt = output_json.find("datatype"); dt != output_json.end()) {
        const std::optional<DataType> type =
            dt->is_string() ? domain::ParseDataType(dt->get_ref<const std::string&>())
                            : std::nullopt;
        if (type != DataType::kFp32 && type != DataType::kFp64) {
          return ConfigError(opath + ".datatype",
                             absl::StrCat("must be \"FP32\" or \"FP64\", got ", dt->dump()));
        }
        output.datatype = *type;
      }
      auto features = output_json.find("features");
      if (features == output_json.end()) return ConfigError(opath + ".features", "missing");
      if (!features->is_array() || features->empty()) {
        return ConfigError(opath + ".features", "must be a non-empty array");
      }

      for (size_t f = 0; f < features->size(); ++f) {
        const Json& feature_json = (*features)[f];
        const std::string fpath = absl::StrCat(opath, ".features[", f, "]");
        if (!feature_json.is_object()) {
          return ConfigError(fpath, "must be an object, got " + JsonTypeName(feature_json));
        }
        HS_RETURN_IF_ERROR(CheckFields(feature_json, fpath, {"feature", "steps"}));
        Feature feature;
        auto input = feature_json.find("feature");
        if (input == feature_json.end()) return ConfigError(fpath + ".feature", "missing");
        if (!input->is_string() || input->get_ref<const std::string&>().empty()) {
          return ConfigError(fpath + ".feature", "must be a non-empty string");
        }
        feature.input = input->get<std::string>();

        Json no_steps = Json::array();
        const Json* steps = &no_steps;
        if (auto s = feature_json.find("steps"); s != feature_json.end()) {
          if (!s->is_array()) {
            return ConfigError(fpath + ".steps", "must be an array, got " + JsonTypeName(*s));
          }
          steps = &*s;
        }
        // A categorical encoder (one_hot/lookup) splits the steps: before it the value is a
        // category (only a string impute fits); after it a number.
        size_t encoder_at = kNotFound;
        for (size_t s = 0; s < steps->size(); ++s) {
          const Json& step = (*steps)[s];
          if (step.is_object() && step.contains("op") && step["op"].is_string()) {
            const std::string& op = step["op"].get_ref<const std::string&>();
            if (op == "one_hot" || op == "lookup") {
              if (encoder_at != kNotFound) {
                return ConfigError(absl::StrCat(fpath, ".steps[", s, "]"),
                                   "a feature can have only one one_hot/lookup step");
              }
              encoder_at = s;
            }
          }
        }
        for (size_t s = 0; s < steps->size(); ++s) {
          const Json& step = (*steps)[s];
          const std::string spath = absl::StrCat(fpath, ".steps[", s, "]");
          if (!step.is_object()) {
            return ConfigError(spath, "must be an object, got " + JsonTypeName(step));
          }
          auto op_it = step.find("op");
          if (op_it == step.end()) return ConfigError(spath + ".op", "missing");
          if (!op_it->is_string()) {
            return ConfigError(spath + ".op", "must be a string, got " + JsonTypeName(*op_it));
          }
          const std::string& op = op_it->get_ref<const std::string&>();
          const bool categorical_stage = encoder_at != kNotFound && s < encoder_at;
          if (categorical_stage && op != "impute") {
            return ConfigError(spath + ".op",
                               absl::StrCat("'", op, "' cannot come before '",
                                            (*steps)[encoder_at]["op"].get<std::string>(),
                                            "': the feature is still a category there"));
          }
          if (encoder_at != kNotFound && s > encoder_at && feature.encoding == Encoding::kOneHot) {
            return ConfigError(spath, "one_hot must be the last step");
          }
          NumericStep numeric;
          if (op == "impute") {
            HS_RETURN_IF_ERROR(CheckFields(step, spath, {"op", "value"}));
            auto value = step.find("value");
            if (value == step.end()) return ConfigError(spath + ".value", "missing");
            if (categorical_stage) {
              if (!value->is_string()) {
                return ConfigError(spath + ".value",
                                   "must be a string (the feature is a category before its "
                                   "one_hot/lookup step), got " +
                                       JsonTypeName(*value));
              }
              feature.missing_category = value->get<std::string>();
              continue;
            }
            HS_ASSIGN_OR_RETURN(numeric.a, RequiredNumber(step, spath, "value"));
            numeric.op = Op::kImpute;
          } else if (op == "standardize") {
            HS_RETURN_IF_ERROR(CheckFields(step, spath, {"op", "mean", "std"}));
            HS_ASSIGN_OR_RETURN(numeric.a, RequiredNumber(step, spath, "mean"));
            HS_ASSIGN_OR_RETURN(numeric.b, RequiredNumber(step, spath, "std"));
            if (!(numeric.b > 0)) {
              return ConfigError(spath + ".std", absl::StrCat("must be > 0, got ", numeric.b));
            }
            numeric.op = Op::kStandardize;
          } else if (op == "min_max") {
            HS_RETURN_IF_ERROR(CheckFields(step, spath, {"op", "min", "max"}));
            HS_ASSIGN_OR_RETURN(numeric.a, RequiredNumber(step, spath, "min"));
            HS_ASSIGN_OR_RETURN(numeric.b, RequiredNumber(step, spath, "max"));
            if (!(numeric.b > numeric.a)) {
              return ConfigError(spath + ".max",
                                 absl::StrCat("must be > min (", numeric.a, "), got ", numeric.b));
            }
            numeric.op = Op::kMinMax;
          } else if (op == "clip") {
            HS_RETURN_IF_ERROR(CheckFields(step, spath, {"op", "min", "max"}));
            HS_ASSIGN_OR_RETURN(std::optional<double> lo, OptionalNumber(step, spath, "min"));
            HS_ASSIGN_OR_RETURN(std::optional<double> hi, OptionalNumber(step, spath, "max"));
            if (!lo && !hi) return ConfigError(spath, "clip needs 'min', 'max' or both");
            numeric.a = lo.value_or(-kInf);
            numeric.b = hi.value_or(kInf);
            if (numeric.a > numeric.b) {
              return ConfigError(spath + ".max",
                                 absl::StrCat("must be >= min (", numeric.a, "), got ", numeric.b));
            }
            numeric.op = Op::kClip;
          } else if (op == "log1p") {
            HS_RETURN_IF_ERROR(CheckFields(step, spath, {"op"}));
            numeric.op = Op::kLog1p;
          } else if (op == "one_hot") {
            HS_RETURN_IF_ERROR(CheckFields(step, spath, {"op", "vocabulary"}));
            HS_ASSIGN_OR_RETURN(feature.vocabulary, ParseVocabulary(step, spath));
            feature.encoding = Encoding::kOneHot;
            feature.columns = feature.vocabulary.size();
            continue;
          } else if (op == "lookup") {
            HS_RETURN_IF_ERROR(CheckFields(step, spath, {"op", "vocabulary", "default"}));
            HS_ASSIGN_OR_RETURN(feature.vocabulary, ParseVocabulary(step, spath));
            HS_ASSIGN_OR_RETURN(std::optional<double> fallback,
                                OptionalNumber(step, spath, "default"));
            feature.lookup_default = fallback.value_or(-1);
            feature.encoding = Encoding::kLookup;
            continue;
          } else {
            return ConfigError(spath + ".op",
                               absl::StrCat("unknown op '", op,
                                            "' (known: impute, standardize, min_max, clip, log1p, "
                                            "one_hot, lookup)"));
          }
          feature.steps.push_back(numeric);
        }

        // Record the request tensor; one name cannot be both numeric and categorical.
        const bool categorical = feature.encoding != Encoding::kNone;
        size_t slot = kNotFound;
        for (size_t i = 0; i < pre.feature_inputs_.size(); ++i) {
          if (pre.feature_inputs_[i].name == feature.input) slot = i;
        }
        if (slot == kNotFound) {
          slot = pre.feature_inputs_.size();
          pre.feature_inputs_.push_back({feature.input, categorical});
          first_use.push_back(fpath);
        } else if (pre.feature_inputs_[slot].categorical != categorical) {
          return ConfigError(
              fpath + ".feature",
              absl::StrCat("'", feature.input, "' is used as ",
                           categorical ? "categorical" : "numeric", " here but as ",
                           categorical ? "numeric" : "categorical", " at ", first_use[slot]));
        }
        feature.input_slot = slot;
        feature.offset = output.columns;
        output.columns += feature.columns;
        output.features.push_back(std::move(feature));
      }
      pre.outputs_.push_back(std::move(output));
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("(root): ", e.what()));
  }
  return pre;
}

std::vector<std::string> Preprocessor::output_names() const {
  std::vector<std::string> names;
  names.reserve(outputs_.size());
  for (const Output& o : outputs_) names.push_back(o.name);
  return names;
}

domain::TensorSchema Preprocessor::RequestSchema(const domain::TensorSchema& model_schema) const {
  domain::TensorSchema schema;
  schema.outputs = model_schema.outputs;
  for (const domain::TensorSpec& spec : model_schema.inputs) {
    bool produced = false;
    for (const Output& o : outputs_) produced = produced || o.name == spec.name;
    if (!produced) schema.inputs.push_back(spec);
  }
  for (const FeatureInput& f : feature_inputs_) {
    schema.inputs.push_back(
        {f.name, f.categorical ? DataType::kBytes : DataType::kFp32, std::vector<int64_t>{-1}});
  }
  return schema;
}

absl::Status Preprocessor::CheckAgainst(const domain::TensorSchema& model_schema) const {
  for (const Output& o : outputs_) {
    const domain::TensorSpec* spec = nullptr;
    for (const domain::TensorSpec& s : model_schema.inputs) {
      if (s.name == o.name) spec = &s;
    }
    if (spec == nullptr) {
      std::vector<std::string> names;
      for (const domain::TensorSpec& s : model_schema.inputs) names.push_back(s.name);
      return absl::InvalidArgumentError(
          absl::StrCat("preprocessing output '", o.name,
                       "' is not a model input (model inputs: ", absl::StrJoin(names, ", "), ")"));
    }
    const bool shape_ok =
        spec->shape.size() == 2 && spec->shape[0] != 0 &&
        (spec->shape[1] == -1 || spec->shape[1] == static_cast<int64_t>(o.columns));
    if (spec->datatype != o.datatype || !shape_ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "preprocessing output '", o.name, "' produces ", ToAbsl(domain::DataTypeName(o.datatype)),
          " [batch,", o.columns, "] but the model expects ",
          ToAbsl(domain::DataTypeName(spec->datatype)), " ", ShapeString(spec->shape)));
    }
  }
  return absl::OkStatus();
}

template <typename OutT>
absl::Status Preprocessor::FillOutput(const Output& output, const std::vector<Tensor>& inputs,
                                      const std::vector<size_t>& input_of_slot, int64_t batch,
                                      std::vector<double>* scratch, Tensor* out) const {
  const size_t rows = static_cast<size_t>(batch);
  double* values = scratch->data();
  for (const Feature& feature : output.features) {
    const Tensor& in = inputs[input_of_slot[feature.input_slot]];
    if (feature.encoding == Encoding::kNone) {
      ReadNumeric(in, batch, values);
    } else {
      const std::string_view data = in.data;
      size_t pos = 0;
      for (size_t row = 0; row < rows; ++row) {
        uint32_t len = 0;
        if (data.size() - pos >= 4) std::memcpy(&len, data.data() + pos, 4);  // LE host
        if (data.size() - pos < 4 || data.size() - pos - 4 < len) {
          return absl::InvalidArgumentError(
              absl::StrCat("feature '", feature.input, "': malformed BYTES data at element ", row));
        }
        std::string_view category = data.substr(pos + 4, len);
        pos += 4 + len;
        if (category.empty() && feature.missing_category) category = *feature.missing_category;
        const auto it = feature.vocabulary.find(ToAbsl(category));
        const int64_t index = it == feature.vocabulary.end() ? -1 : it->second;
        if (feature.encoding == Encoding::kOneHot) {
          if (index >= 0) {
            Store<OutT>(out, row * output.columns + feature.offset + static_cast<size_t>(index),
                        OutT{1});
          }
        } else {
          values[row] = index >= 0 ? static_cast<double>(index) : feature.lookup_default;
        }
      }
      if (pos != data.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("feature '", feature.input, "': BYTES data holds more than ", batch,
                         " elements (shape ", ShapeString(in.shape), ")"));
      }
      if (feature.encoding == Encoding::kOneHot) continue;
    }

    for (const NumericStep& step : feature.steps) {
      switch (step.op) {
        case Op::kImpute:
          for (size_t r = 0; r < rows; ++r) {
            if (std::isnan(values[r])) values[r] = step.a;
          }
          break;
        case Op::kStandardize:
          for (size_t r = 0; r < rows; ++r) values[r] = (values[r] - step.a) / step.b;
          break;
        case Op::kMinMax: {
          const double range = step.b - step.a;
          for (size_t r = 0; r < rows; ++r) values[r] = (values[r] - step.a) / range;
          break;
        }
        case Op::kClip:
          for (size_t r = 0; r < rows; ++r) {
            const double x = values[r];
            values[r] = x < step.a ? step.a : (x > step.b ? step.b : x);  // NaN stays NaN
          }
          break;
        case Op::kLog1p:
          for (size_t r = 0; r < rows; ++r) {
            if (values[r] <= -1) {
              return absl::InvalidArgumentError(absl::StrCat("feature '", feature.input,
                                                             "': log1p needs values > -1, got ",
                                                             values[r], " at row ", r));
            }
            values[r] = std::log1p(values[r]);
          }
          break;
      }
    }
    for (size_t r = 0; r < rows; ++r) {
      Store<OutT>(out, r * output.columns + feature.offset, Narrow<OutT>(values[r]));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Tensor>> Preprocessor::Apply(std::vector<Tensor>&& inputs) const {
  if (empty()) return std::move(inputs);

  // Resolve and check every feature tensor once.
  std::vector<size_t> input_of_slot(feature_inputs_.size(), kNotFound);
  std::vector<bool> consumed(inputs.size(), false);
  int64_t batch = -1;
  size_t batch_slot = 0;
  for (size_t slot = 0; slot < feature_inputs_.size(); ++slot) {
    const FeatureInput& feature = feature_inputs_[slot];
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].name == feature.name) {
        input_of_slot[slot] = i;
        break;
      }
    }
    if (input_of_slot[slot] == kNotFound) {
      std::string user;
      for (const Output& o : outputs_) {
        for (const Feature& f : o.features) {
          if (user.empty() && f.input_slot == slot) user = o.name;
        }
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "missing feature '", feature.name, "' (preprocessed into model input '", user, "')"));
    }
    const Tensor& t = inputs[input_of_slot[slot]];
    consumed[input_of_slot[slot]] = true;
    const bool shape_ok =
        (t.shape.size() == 1 || (t.shape.size() == 2 && t.shape[1] == 1)) && t.shape[0] >= 0;
    if (!shape_ok) {
      return absl::InvalidArgumentError(absl::StrCat("feature '", feature.name,
                                                     "': expected shape [batch] or [batch,1], got ",
                                                     ShapeString(t.shape)));
    }
    if (feature.categorical && t.datatype != DataType::kBytes) {
      return absl::InvalidArgumentError(absl::StrCat("feature '", feature.name,
                                                     "': one_hot/lookup need BYTES input, got ",
                                                     ToAbsl(domain::DataTypeName(t.datatype))));
    }
    if (!feature.categorical) {
      if (t.datatype == DataType::kBytes) {
        return absl::InvalidArgumentError(absl::StrCat(
            "feature '", feature.name, "': numeric steps need a numeric datatype, got BYTES"));
      }
      const size_t element_size = domain::DataTypeSize(t.datatype);
      if (t.data.size() / element_size != static_cast<uint64_t>(t.shape[0]) ||
          t.data.size() % element_size != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "feature '", feature.name, "': data holds ", t.data.size(), " bytes, shape ",
            ShapeString(t.shape), " of ", ToAbsl(domain::DataTypeName(t.datatype)), " needs ",
            static_cast<uint64_t>(t.shape[0]) * element_size));
      }
    }
    if (batch < 0) {
      batch = t.shape[0];
      batch_slot = slot;
    } else if (t.shape[0] != batch) {
      return absl::InvalidArgumentError(
          absl::StrCat("feature '", feature.name, "' has batch size ", t.shape[0], " but feature '",
                       feature_inputs_[batch_slot].name, "' has ", batch));
    }
  }
  // A BYTES feature's data is bounded by its size, numeric ones were checked exactly; the batch
  // is therefore backed by real bytes and the scratch allocation is bounded by the request.
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (consumed[i]) continue;
    for (const Output& o : outputs_) {
      if (o.name == inputs[i].name) {
        return absl::InvalidArgumentError(
            absl::StrCat("request input '", o.name,
                         "' collides with the preprocessing output of the same name; send its "
                         "features instead"));
      }
    }
  }
  if (feature_inputs_.size() > 0 && batch > 0) {
    // Each BYTES element takes at least its 4-byte prefix.
    for (size_t slot = 0; slot < feature_inputs_.size(); ++slot) {
      const Tensor& t = inputs[input_of_slot[slot]];
      if (t.datatype == DataType::kBytes && t.data.size() / 4 < static_cast<uint64_t>(batch)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "feature '", t.name, "': BYTES data holds fewer than ", batch, " elements"));
      }
    }
  }

  std::vector<double> scratch(static_cast<size_t>(batch));
  std::vector<Tensor> result;
  result.reserve(outputs_.size() + inputs.size());
  for (const Output& output : outputs_) {
    Tensor t;
    t.name = output.name;
    t.datatype = output.datatype;
    t.shape = {batch, static_cast<int64_t>(output.columns)};
    const size_t cells = static_cast<size_t>(batch) * output.columns;
    if (output.datatype == DataType::kFp32) {
      t.data.assign(cells * sizeof(float), '\0');
      HS_RETURN_IF_ERROR(FillOutput<float>(output, inputs, input_of_slot, batch, &scratch, &t));
    } else {
      t.data.assign(cells * sizeof(double), '\0');
      HS_RETURN_IF_ERROR(FillOutput<double>(output, inputs, input_of_slot, batch, &scratch, &t));
    }
    result.push_back(std::move(t));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!consumed[i]) result.push_back(std::move(inputs[i]));
  }
  return result;
}

}  // namespace hotswap::runtime
