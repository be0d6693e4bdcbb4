#include "runtime/artifact_format.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace hotswap::runtime {
namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// "./m/saved_model.pb" -> is it saved_model.pb(txt) at the top or one directory down? Sets dir.
bool IsSavedModelEntry(std::string name, std::string* dir) {
  while (name.starts_with("./")) name.erase(0, 2);
  for (std::string_view file : {"saved_model.pb", "saved_model.pbtxt"}) {
    if (name == file) {
      *dir = "";
      return true;
    }
    if (EndsWith(name, absl::StrCat("/", ToAbsl(file)))) {
      std::string parent = name.substr(0, name.size() - file.size());
      if (std::count(parent.begin(), parent.end(), '/') == 1) {
        *dir = parent;
        return true;
      }
    }
  }
  return false;
}

// ---- protobuf (ONNX ModelProto) ------------------------------------------------------------

bool ReadVarint(std::string_view b, size_t* at, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && *at < b.size(); shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(b[(*at)++]);
    *v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// ModelProto fields and their wire types (0 varint, 2 length-delimited).
int OnnxWireType(uint64_t field) {
  switch (field) {
    case 1:  // ir_version
    case 5:  // model_version
      return 0;
    case 2: case 3: case 4: case 6: case 7: case 8: case 14: case 20: case 25:
      return 2;
    default:
      return -1;
  }
}

bool LooksLikeOnnx(std::string_view head, int64_t total_size) {
  size_t at = 0;
  int fields = 0;
  while (at < head.size()) {
    uint64_t tag = 0;
    if (!ReadVarint(head, &at, &tag)) return fields >= 2 && head.size() < static_cast<size_t>(total_size);
    const uint64_t field = tag >> 3;
    const int wire = static_cast<int>(tag & 7);
    if (fields == 0 && field != 1) return false;  // exporters write ir_version first
    if (OnnxWireType(field) != wire) return false;
    uint64_t value = 0;
    if (!ReadVarint(head, &at, &value)) return fields >= 1 && head.size() < static_cast<size_t>(total_size);
    if (fields == 0 && (value < 3 || value > 99)) return false;
    if (wire == 2) {
      if (value > static_cast<uint64_t>(total_size)) return false;
      at += value;  // may run past the head: then we have seen what we can
    }
    ++fields;
  }
  return fields >= 2 || (fields == 1 && at == static_cast<size_t>(total_size));
}

// ---- XGBoost -------------------------------------------------------------------------------

std::optional<ArtifactFormat> XgboostFormat(std::string_view head) {
  if (head.starts_with("binf")) return ArtifactFormat::kXgboostBinary;
  size_t at = 0;
  while (at < head.size() && std::strchr(" \t\r\n", head[at]) != nullptr) ++at;
  if (at >= head.size() || head[at] != '{') return std::nullopt;
  std::string_view rest = head.substr(at + 1);
  size_t ws = 0;
  while (ws < rest.size() && std::strchr(" \t\r\n", rest[ws]) != nullptr) ++ws;
  if (rest.substr(ws).starts_with("\"learner\"")) return ArtifactFormat::kXgboostJson;
  // UBJSON object: a key is a length (type marker + big-endian integer) then its bytes.
  static const std::pair<char, size_t> kLengths[] = {{'i', 1}, {'U', 1}, {'I', 2}, {'l', 4}, {'L', 8}};
  for (const auto& [marker, width] : kLengths) {
    if (!rest.empty() && rest[0] == marker && rest.size() >= 1 + width + 7 &&
        rest.substr(1 + width, 7) == "learner") {
      return ArtifactFormat::kXgboostUbjson;
    }
  }
  return std::nullopt;
}

// ---- zip (central directory names) -----------------------------------------------------------

uint32_t Le(std::string_view b, size_t at, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

// Entry names found in `bytes` (local headers "PK\3\4" and central directory "PK\1\2").
void ZipNames(std::string_view bytes, std::vector<std::string>* names) {
  for (size_t at = 0; at + 4 <= bytes.size(); ++at) {
    if (bytes[at] != 'P' || bytes[at + 1] != 'K') continue;
    if (bytes[at + 2] == 3 && bytes[at + 3] == 4 && at + 30 <= bytes.size()) {
      const size_t n = Le(bytes, at + 26, 2);
      if (at + 30 + n <= bytes.size()) names->emplace_back(bytes.substr(at + 30, n));
    } else if (bytes[at + 2] == 1 && bytes[at + 3] == 2 && at + 46 <= bytes.size()) {
      const size_t n = Le(bytes, at + 28, 2);
      if (at + 46 + n <= bytes.size()) names->emplace_back(bytes.substr(at + 46, n));
    }
  }
}

ArtifactFormat ZipFormat(const std::vector<std::string>& names, std::string* saved_model_dir) {
  bool constants = false, code = false, data_pkl = false;
  for (const std::string& n : names) {
    if (n == "constants.pkl" || EndsWith(n, "/constants.pkl")) constants = true;
    if (n.starts_with("code/") || n.find("/code/") != std::string::npos) code = true;
    if (n == "data.pkl" || EndsWith(n, "/data.pkl")) data_pkl = true;
    if (IsSavedModelEntry(n, saved_model_dir)) return ArtifactFormat::kSavedModelZip;
  }
  if (constants || code) return ArtifactFormat::kTorchScript;
  if (data_pkl) return ArtifactFormat::kTorchPickle;
  return ArtifactFormat::kZip;
}

}  // namespace

// ---- tar walking -----------------------------------------------------------------------------

// Follows a tar stream's 512-byte headers, skipping entry data, and remembers whether an entry
// is a SavedModel's saved_model.pb. Handles ustar prefixes, GNU long names ('L') and pax path
// records ('x').
class ArtifactSniffer::Tar {
 public:
  void Feed(std::string_view data) {
    while (!data.empty() && state_ != kDone) {
      if (skip_ > 0) {
        const size_t n = std::min<uint64_t>(skip_, data.size());
        if (capture_) long_name_.append(data.substr(0, std::min(n, kMaxName - long_name_.size())));
        skip_ -= n;
        data.remove_prefix(n);
        if (skip_ == 0) EndEntryData();
        continue;
      }
      const size_t n = std::min(512 - header_.size(), data.size());
      header_.append(data.substr(0, n));
      data.remove_prefix(n);
      if (header_.size() == 512) ParseHeader();
    }
  }
  bool is_tar() const { return headers_ > 0; }
  bool found() const { return found_; }
  const std::string& dir() const { return dir_; }
  bool done() const { return state_ == kDone; }

 private:
  enum State { kWalking, kDone };
  static constexpr size_t kMaxName = 4096;

  static std::optional<uint64_t> Octal(std::string_view field) {
    if (!field.empty() && (static_cast<uint8_t>(field[0]) & 0x80)) {  // base-256
      uint64_t v = 0;
      for (size_t i = 1; i < field.size(); ++i) v = (v << 8) | static_cast<uint8_t>(field[i]);
      return v;
    }
    uint64_t v = 0;
    bool digits = false;
    for (char c : field) {
      if (c == ' ' || c == '\0') {
        if (digits) break;
        continue;
      }
      if (c < '0' || c > '7') return std::nullopt;
      v = v * 8 + static_cast<uint64_t>(c - '0');
      digits = true;
    }
    return v;
  }

  void ParseHeader() {
    std::string h = std::move(header_);
    header_.clear();
    if (std::all_of(h.begin(), h.end(), [](char c) { return c == '\0'; })) {
      state_ = kDone;  // end-of-archive marker
      return;
    }
    // The checksum treats its own 8 bytes as spaces.
    uint64_t sum = 0;
    for (size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<uint8_t>(h[i]);
    const std::optional<uint64_t> stored = Octal(std::string_view(h).substr(148, 8));
    const std::optional<uint64_t> size = Octal(std::string_view(h).substr(124, 12));
    if (!stored || *stored != sum || !size) {
      state_ = kDone;  // not (or no longer) a tar
      return;
    }
    ++headers_;
    const char type = h[156];
    std::string name(h.data(), strnlen(h.data(), 100));
    if (std::string_view(h).substr(257, 5) == "ustar" && h[345] != '\0') {
      name = absl::StrCat(std::string(h.data() + 345, strnlen(h.data() + 345, 155)), "/", name);
    }
    if (!next_name_.empty()) {
      name = std::move(next_name_);
      next_name_.clear();
    }
    capture_ = (type == 'L' || type == 'x') && *size <= kMaxName;
    capture_type_ = type;
    long_name_.clear();
    if (type != 'L' && type != 'x' && type != 'g' && IsSavedModelEntry(name, &dir_)) {
      found_ = true;
      state_ = kDone;  // nothing more to learn: stop walking (and inflating) the rest
      return;
    }
    skip_ = (*size + 511) / 512 * 512;
    data_left_ = *size;
    if (skip_ == 0) EndEntryData();
  }

  void EndEntryData() {
    if (!capture_) return;
    capture_ = false;
    std::string text = long_name_.substr(0, std::min<uint64_t>(data_left_, long_name_.size()));
    if (capture_type_ == 'L') {
      next_name_ = std::string(text.c_str());
    } else {  // pax: "LEN path=VALUE\n" records
      const size_t at = text.find(" path=");
      if (at != std::string::npos) {
        const size_t end = text.find('\n', at);
        next_name_ = text.substr(at + 6, end == std::string::npos ? std::string::npos : end - at - 6);
      }
    }
  }

  State state_ = kWalking;
  std::string header_;
  uint64_t skip_ = 0;
  uint64_t data_left_ = 0;
  bool capture_ = false;
  char capture_type_ = 0;
  std::string long_name_;
  std::string next_name_;
  int64_t headers_ = 0;
  bool found_ = false;
  std::string dir_;
};

// Streaming gzip decompression into the tar walker.
class ArtifactSniffer::Gunzip {
 public:
  Gunzip() { ok_ = inflateInit2(&z_, 15 + 16) == Z_OK; }
  ~Gunzip() {
    if (ok_) inflateEnd(&z_);
  }
  void Feed(std::string_view data, Tar* tar) {
    if (!ok_ || finished_) return;
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z_.avail_in = static_cast<uInt>(data.size());
    char out[16384];
    while (z_.avail_in > 0 && !tar->done()) {
      z_.next_out = reinterpret_cast<Bytef*>(out);
      z_.avail_out = sizeof(out);
      const int rc = inflate(&z_, Z_NO_FLUSH);
      tar->Feed(std::string_view(out, sizeof(out) - z_.avail_out));
      if (rc == Z_STREAM_END || (rc != Z_OK && rc != Z_BUF_ERROR)) {
        finished_ = true;
        return;
      }
      if (rc == Z_BUF_ERROR && z_.avail_out != 0) return;
    }
  }

 private:
  z_stream z_{};
  bool ok_ = false;
  bool finished_ = false;
};

ArtifactSniffer::ArtifactSniffer() = default;
ArtifactSniffer::~ArtifactSniffer() = default;

void ArtifactSniffer::Feed(std::string_view chunk) {
  if (chunk.empty()) return;
  if (head_.size() < kKeep) head_.append(chunk.substr(0, kKeep - head_.size()));
  size_ += static_cast<int64_t>(chunk.size());
  tail_.append(chunk.size() > 2 * kKeep ? chunk.substr(chunk.size() - 2 * kKeep) : chunk);
  if (tail_.size() > 2 * kKeep) tail_.erase(0, tail_.size() - kKeep);

  if (!decided_container_ && head_.size() >= 2) {
    decided_container_ = true;
    tar_ = std::make_unique<Tar>();
    if (static_cast<uint8_t>(head_[0]) == 0x1f && static_cast<uint8_t>(head_[1]) == 0x8b) {
      gunzip_ = std::make_unique<Gunzip>();
    }
    // Everything so far: the head, then what this chunk had beyond it.
    const std::string_view beyond =
        size_ > static_cast<int64_t>(head_.size())
            ? chunk.substr(chunk.size() - static_cast<size_t>(size_ - head_.size()))
            : std::string_view();
    for (std::string_view part : {std::string_view(head_), beyond}) {
      if (gunzip_) {
        gunzip_->Feed(part, tar_.get());
      } else {
        tar_->Feed(part);
      }
    }
    return;
  }
  if (!tar_ || tar_->done()) return;
  if (gunzip_) {
    gunzip_->Feed(chunk, tar_.get());
  } else {
    tar_->Feed(chunk);
  }
}

SniffResult ArtifactSniffer::Finish() {
  SniffResult r;
  if (size_ == 0) return r;
  if (tar_ && tar_->is_tar()) {
    r.format = tar_->found() ? ArtifactFormat::kSavedModelTar : ArtifactFormat::kTar;
    r.saved_model_dir = tar_->dir();
    return r;
  }
  if (head_.starts_with("PK\x03\x04")) {
    std::vector<std::string> names;
    ZipNames(head_, &names);
    ZipNames(tail_, &names);
    r.format = ZipFormat(names, &r.saved_model_dir);
    return r;
  }
  if (std::optional<ArtifactFormat> xgb = XgboostFormat(head_)) {
    r.format = *xgb;
    return r;
  }
  if (LooksLikeOnnx(head_, size_)) r.format = ArtifactFormat::kOnnx;
  return r;
}

SniffResult ArtifactSniffer::SniffFile(const std::string& path) {
  ArtifactSniffer sniffer;
  std::ifstream in(path, std::ios::binary);
  char buffer[65536];
  while (in) {
    in.read(buffer, sizeof(buffer));
    sniffer.Feed(std::string_view(buffer, static_cast<size_t>(in.gcount())));
  }
  return sniffer.Finish();
}

std::string_view FrameworkOf(ArtifactFormat format) {
  switch (format) {
    case ArtifactFormat::kOnnx:
      return "onnx";
    case ArtifactFormat::kTorchScript:
      return "torchscript";
    case ArtifactFormat::kXgboostJson:
    case ArtifactFormat::kXgboostUbjson:
    case ArtifactFormat::kXgboostBinary:
      return "xgboost";
    case ArtifactFormat::kSavedModelTar:
      return "tensorflow";
    default:
      return "";
  }
}

std::string_view DescribeFormat(ArtifactFormat format) {
  switch (format) {
    case ArtifactFormat::kUnknown:
      return "of no format HotSwap recognises";
    case ArtifactFormat::kOnnx:
      return "an ONNX model (protobuf ModelProto)";
    case ArtifactFormat::kTorchScript:
      return "a TorchScript archive (a zip with constants.pkl and code/)";
    case ArtifactFormat::kTorchPickle:
      return "a torch.save archive (a zip with data.pkl but no TorchScript code: save the module "
             "with torch.jit.script/trace and torch.jit.save)";
    case ArtifactFormat::kXgboostJson:
      return "an XGBoost model (JSON)";
    case ArtifactFormat::kXgboostUbjson:
      return "an XGBoost model (UBJSON)";
    case ArtifactFormat::kXgboostBinary:
      return "an XGBoost model (legacy binary)";
    case ArtifactFormat::kSavedModelTar:
      return "a TensorFlow SavedModel (a tar with saved_model.pb)";
    case ArtifactFormat::kSavedModelZip:
      return "a zip of a TensorFlow SavedModel (HotSwap takes a SavedModel as a tar: "
             "tar -C DIR -cf model.tar .)";
    case ArtifactFormat::kTar:
      return "a tar archive without saved_model.pb at its top or one directory down";
    case ArtifactFormat::kZip:
      return "a zip archive that is not TorchScript";
  }
  return "";
}

absl::Status CheckDeclaredFramework(std::string_view declared, const SniffResult& detected) {
  const std::string_view actual = FrameworkOf(detected.format);
  if (actual == declared) return absl::OkStatus();
  const bool unknown = detected.format == ArtifactFormat::kUnknown;
  // A SavedModel travels as a tar, so for tensorflow "unrecognised" is already a mismatch; for
  // the others an unrecognised file is left to the engine at deploy.
  if (unknown && declared != "tensorflow") return absl::OkStatus();
  std::string hint;
  if (!actual.empty()) hint = absl::StrCat("; declare \"framework\": \"", ToAbsl(actual), "\"");
  if (declared == "tensorflow" && actual.empty() && detected.format != ArtifactFormat::kSavedModelZip) {
    hint = "; upload a SavedModel directory as a tar (tar -C DIR -cf model.tar .), optionally gzipped";
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "metadata.framework is \"", ToAbsl(declared), "\" but the artifact is ",
      ToAbsl(DescribeFormat(detected.format)), hint));
}

}  // namespace hotswap::runtime
