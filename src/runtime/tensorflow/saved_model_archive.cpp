#include "runtime/tensorflow/saved_model_archive.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hotswap::runtime {
namespace {

namespace fs = std::filesystem;

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};

std::optional<uint64_t> Octal(std::string_view field) {
  if (!field.empty() && (static_cast<uint8_t>(field[0]) & 0x80)) {
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

// A relative path with no `..`, normalised ("./a//b" -> "a/b"); nullopt when refused.
std::optional<std::string> SafePath(const std::string& name) {
  if (name.empty() || name[0] == '/') return std::nullopt;
  std::vector<std::string> parts;
  for (absl::string_view p : absl::StrSplit(name, '/', absl::SkipEmpty())) {
    if (p == ".") continue;
    if (p == "..") return std::nullopt;
    parts.emplace_back(p);
  }
  std::string out;
  for (const std::string& p : parts) absl::StrAppend(&out, out.empty() ? "" : "/", p);
  return out;
}

}  // namespace

absl::Status ExtractTar(const std::string& archive, const std::string& dir, int64_t* bytes) {
  std::unique_ptr<gzFile_s, GzCloser> in(gzopen(archive.c_str(), "rb"));  // plain or gzip
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot open '", archive, "'"));
  gzbuffer(in.get(), 1 << 16);
  auto read = [&](char* out, size_t n) {
    size_t got = 0;
    while (got < n) {
      const int r = gzread(in.get(), out + got, static_cast<unsigned>(std::min<size_t>(n - got, 1 << 30)));
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    return got;
  };
  const std::string bad = absl::StrCat("'", archive, "' is not a SavedModel tar: ");
  std::string next_name;
  std::vector<char> buffer(1 << 16);
  int64_t entries = 0;
  for (;;) {
    char h[512];
    const size_t got = read(h, 512);
    if (got == 0 && entries > 0) return absl::OkStatus();  // no end marker: accept
    if (got != 512) return absl::InvalidArgumentError(absl::StrCat(bad, "truncated header"));
    if (std::all_of(h, h + 512, [](char c) { return c == '\0'; })) {
      if (entries == 0) return absl::InvalidArgumentError(absl::StrCat(bad, "empty archive"));
      return absl::OkStatus();
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<uint8_t>(h[i]);
    const auto stored = Octal(std::string_view(h + 148, 8));
    const auto size = Octal(std::string_view(h + 124, 12));
    if (!stored || *stored != sum || !size) {
      return absl::InvalidArgumentError(absl::StrCat(bad, "bad header checksum"));
    }
    ++entries;
    const char type = h[156];
    std::string name(h, strnlen(h, 100));
    if (std::string_view(h + 257, 5) == "ustar" && h[345] != '\0') {
      name = absl::StrCat(std::string(h + 345, strnlen(h + 345, 155)), "/", name);
    }
    if (!next_name.empty()) {
      name = std::move(next_name);
      next_name.clear();
    }
    const uint64_t padded = (*size + 511) / 512 * 512;
    if (type == 'L' || type == 'x' || type == 'g') {  // long name / pax headers
      if (*size > (1 << 20)) return absl::InvalidArgumentError(absl::StrCat(bad, "huge header"));
      std::string data(padded, '\0');
      if (read(data.data(), padded) != padded) {
        return absl::InvalidArgumentError(absl::StrCat(bad, "truncated header data"));
      }
      data.resize(*size);
      if (type == 'L') {
        next_name = std::string(data.c_str());
      } else if (type == 'x') {
        const size_t at = data.find(" path=");
        if (at != std::string::npos) {
          const size_t end = data.find('\n', at);
          next_name = data.substr(at + 6, end == std::string::npos ? std::string::npos : end - at - 6);
        }
      }
      continue;
    }
    const std::optional<std::string> path = SafePath(name);
    if (!path) return absl::InvalidArgumentError(absl::StrCat(bad, "unsafe entry '", name, "'"));
    const fs::path target = fs::path(dir) / *path;
    std::error_code ec;
    if (type == '5') {
      fs::create_directories(target, ec);
      if (ec) return absl::InternalError(absl::StrCat("creating ", target.string(), ": ", ec.message()));
      continue;
    }
    if (type != '0' && type != '\0' && type != '7') {
      return absl::InvalidArgumentError(
          absl::StrCat(bad, "entry '", name, "' is not a regular file or directory (type '",
                       std::string(1, type), "')"));
    }
    if (!path->empty()) fs::create_directories(target.parent_path(), ec);
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", target.string()));
    uint64_t left = padded;
    uint64_t data_left = *size;
    while (left > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, buffer.size()));
      if (read(buffer.data(), n) != n) {
        return absl::InvalidArgumentError(absl::StrCat(bad, "entry '", name, "' is truncated"));
      }
      const size_t keep = static_cast<size_t>(std::min<uint64_t>(data_left, n));
      out.write(buffer.data(), static_cast<std::streamsize>(keep));
      data_left -= keep;
      left -= n;
    }
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("writing ", target.string(), " failed"));
    *bytes += static_cast<int64_t>(*size);
  }
}

}  // namespace hotswap::runtime
