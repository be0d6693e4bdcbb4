#include "api/http/multipart.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace hotswap::http {
namespace {

// Input is processed in slices of at most this many bytes, which bounds the buffer.
constexpr size_t kMaxSlice = 64 * 1024;
// Spaces/tabs tolerated between a boundary and its CRLF.
constexpr size_t kMaxBoundaryPadding = 256;
constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kHeaderEnd = "\r\n\r\n";

bool IsLinearWhitespace(char c) { return c == ' ' || c == '\t'; }

// Debian's Abseil has its own absl::string_view, distinct from std::string_view.
absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string_view TrimLeading(std::string_view s) {
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  return s;
}

std::string_view Trim(std::string_view s) {
  s = TrimLeading(s);
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return absl::ascii_tolower(static_cast<unsigned char>(x)) ==
                  absl::ascii_tolower(static_cast<unsigned char>(y));
         });
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  return out;
}

// For error messages: at most 64 bytes of untrusted text, C-escaped.
std::string Quote(std::string_view s) {
  return absl::StrCat("'", absl::CHexEscape(Sv(s.substr(0, 64))), s.size() > 64 ? "...'" : "'");
}

// A header value of the form `type; key=value; key="quoted value"`.
struct ParameterizedValue {
  std::string type;
  std::vector<std::pair<std::string, std::string>> params;  // keys lower-cased, unique

  const std::string* Find(std::string_view key) const {
    for (const auto& [k, v] : params) {
      if (k == key) return &v;
    }
    return nullptr;
  }
};

absl::StatusOr<ParameterizedValue> ParseParameterizedValue(std::string_view s,
                                                           std::string_view header) {
  auto malformed = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed ", Sv(header), " header ", Quote(s), ": ", Sv(why)));
  };
  ParameterizedValue out;
  size_t i = std::min(s.find(';'), s.size());
  out.type = std::string(Trim(s.substr(0, i)));
  if (out.type.empty()) return malformed("missing type");
  while (i < s.size()) {
    // s[i] == ';'
    ++i;
    while (i < s.size() && IsLinearWhitespace(s[i])) ++i;
    if (i == s.size()) break;  // tolerate a trailing ';'
    size_t eq = s.find('=', i);
    if (eq == std::string_view::npos) return malformed("parameter without '='");
    std::string key = ToLower(Trim(s.substr(i, eq - i)));
    if (key.empty() || key.find_first_of(" \t\";") != std::string::npos) {
      return malformed("bad parameter name");
    }
    i = eq + 1;
    while (i < s.size() && IsLinearWhitespace(s[i])) ++i;
    std::string value;
    if (i < s.size() && s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char c = s[i];
        if (c == '"') {
          closed = true;
          ++i;
          break;
        }
        // RFC 2045 quoted-pair, except that a backslash before anything other than '"' or '\'
        // is kept: old browsers send Windows paths unescaped.
        if (c == '\\' && i + 1 < s.size() && (s[i + 1] == '"' || s[i + 1] == '\\')) {
          value.push_back(s[i + 1]);
          i += 2;
          continue;
        }
        if (c == '\r' || c == '\n') return malformed("line break in quoted value");
        value.push_back(c);
        ++i;
      }
      if (!closed) return malformed("unterminated quoted value");
      while (i < s.size() && IsLinearWhitespace(s[i])) ++i;
      if (i < s.size() && s[i] != ';') return malformed("text after quoted value");
    } else {
      size_t end = std::min(s.find(';', i), s.size());
      value = std::string(Trim(s.substr(i, end - i)));
      if (value.find_first_of(" \t\"") != std::string::npos) {
        return malformed("unquoted value with spaces or quotes");
      }
      i = end;
    }
    // Duplicates could be read differently by another parser on the path: refuse them.
    if (out.Find(key) != nullptr) return malformed(absl::StrCat("duplicate parameter ", key));
    out.params.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

// RFC 2046 bchars: DIGIT / ALPHA / "'" / "(" / ")" / "+" / "_" / "," / "-" / "." / "/" / ":" /
// "=" / "?" / " " (space not last).
bool IsBoundaryChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::strchr("'()+_,-./:=? ", c) != nullptr;
}

}  // namespace

absl::StatusOr<std::string> MultipartBoundary(std::string_view content_type) {
  HS_ASSIGN_OR_RETURN(ParameterizedValue v, ParseParameterizedValue(content_type, "Content-Type"));
  if (!EqualsIgnoreCase(v.type, "multipart/form-data")) {
    return absl::InvalidArgumentError(
        absl::StrCat("Content-Type ", Quote(v.type), " is not multipart/form-data"));
  }
  const std::string* boundary = v.Find("boundary");
  if (boundary == nullptr) {
    return absl::InvalidArgumentError("Content-Type multipart/form-data without a boundary");
  }
  if (boundary->empty() || boundary->size() > 70) {
    return absl::InvalidArgumentError("multipart boundary must be 1-70 characters");
  }
  if (boundary->back() == ' ' || !std::all_of(boundary->begin(), boundary->end(), IsBoundaryChar)) {
    return absl::InvalidArgumentError(
        absl::StrCat("multipart boundary ", Quote(*boundary), " has characters RFC 2046 forbids"));
  }
  return *boundary;
}

MultipartParser::MultipartParser(std::string boundary, Callbacks cb, size_t max_header_bytes)
    : delimiter_(absl::StrCat(Sv(kCrlf), "--", boundary)),
      cb_(std::move(cb)),
      max_header_bytes_(max_header_bytes),
      // The first boundary may open the body without a preceding CRLF: pretend there was one.
      buffer_(kCrlf) {
  if (boundary.empty()) {
    state_ = State::kFailed;
    status_ = absl::InvalidArgumentError("empty multipart boundary");
  }
}

absl::Status MultipartParser::Feed(std::string_view chunk) {
  while (!chunk.empty()) {
    if (state_ == State::kFailed) return status_;
    if (state_ == State::kDone) return absl::OkStatus();  // epilogue: ignored
    const size_t take = std::min(chunk.size(), kMaxSlice);
    buffer_.append(chunk.data(), take);
    chunk.remove_prefix(take);
    absl::Status status = Process();
    if (!status.ok()) {
      state_ = State::kFailed;
      status_ = std::move(status);
      buffer_ = std::string();
      return status_;
    }
  }
  return state_ == State::kFailed ? status_ : absl::OkStatus();
}

absl::Status MultipartParser::Finish() {
  if (state_ == State::kFailed) return status_;
  if (state_ == State::kDone) return absl::OkStatus();
  state_ = State::kFailed;
  status_ =
      absl::InvalidArgumentError("truncated multipart body: the closing boundary was not seen");
  buffer_ = std::string();
  return status_;
}

absl::Status MultipartParser::Process() {
  for (;;) {
    switch (state_) {
      case State::kPreamble: {
        size_t pos = buffer_.find(delimiter_);
        if (pos == std::string::npos) {
          buffer_.erase(0, buffer_.size() - HeldBackLength(buffer_));
          return absl::OkStatus();
        }
        buffer_.erase(0, pos + delimiter_.size());
        state_ = State::kAfterDelimiter;
        padding_ = 0;
        break;
      }

      case State::kAfterDelimiter: {
        size_t ws = 0;
        while (ws < buffer_.size() && IsLinearWhitespace(buffer_[ws])) ++ws;
        buffer_.erase(0, ws);
        padding_ += ws;
        if (padding_ > kMaxBoundaryPadding) {
          return absl::InvalidArgumentError(
              "malformed multipart body: too much whitespace after a boundary");
        }
        if (buffer_.size() < 2) {
          if (buffer_.empty() || buffer_[0] == '\r' || (buffer_[0] == '-' && padding_ == 0)) {
            return absl::OkStatus();  // need more input
          }
        } else if (padding_ == 0 && buffer_[0] == '-' && buffer_[1] == '-') {
          state_ = State::kDone;
          buffer_ = std::string();
          return absl::OkStatus();
        } else if (std::string_view(buffer_).starts_with(kCrlf)) {
          // Keep the CRLF: the header block is then everything up to the next CRLFCRLF, which
          // also matches a part with no headers at all.
          state_ = State::kHeaders;
          scan_from_ = 0;
          break;
        }
        return absl::InvalidArgumentError(
            "malformed multipart body: a boundary is followed by something other than CRLF or "
            "\"--\" (is the boundary part of the data?)");
      }

      case State::kHeaders: {
        size_t pos = buffer_.find(kHeaderEnd, scan_from_);
        if (pos == std::string::npos) {
          // buffer_ is CRLF + block + terminator; a terminator not yet found starts at
          // size - 3 or later, so the block will be at least size - 5 bytes.
          if (buffer_.size() > max_header_bytes_ + 5) {
            return absl::InvalidArgumentError(
                absl::StrCat("multipart part headers exceed ", max_header_bytes_, " bytes"));
          }
          scan_from_ = buffer_.size() >= 3 ? buffer_.size() - 3 : 0;
          return absl::OkStatus();
        }
        // buffer_ starts with the boundary line's CRLF; pos == 0 means no headers.
        std::string_view block =
            pos == 0 ? std::string_view() : std::string_view(buffer_).substr(2, pos - 2);
        if (block.size() > max_header_bytes_) {
          return absl::InvalidArgumentError(
              absl::StrCat("multipart part headers exceed ", max_header_bytes_, " bytes"));
        }
        // BeginPart reads `block` from buffer_, so erase afterwards.
        absl::Status status = BeginPart(block);
        buffer_.erase(0, pos + kHeaderEnd.size());
        HS_RETURN_IF_ERROR(status);
        state_ = State::kData;
        break;
      }

      case State::kData: {
        size_t pos = buffer_.find(delimiter_);
        if (pos == std::string::npos) {
          const size_t emit = buffer_.size() - HeldBackLength(buffer_);
          if (emit > 0) {
            HS_RETURN_IF_ERROR(Emit(std::string_view(buffer_).substr(0, emit)));
            buffer_.erase(0, emit);
          }
          return absl::OkStatus();
        }
        if (pos > 0) HS_RETURN_IF_ERROR(Emit(std::string_view(buffer_).substr(0, pos)));
        buffer_.erase(0, pos + delimiter_.size());
        state_ = State::kAfterDelimiter;
        padding_ = 0;
        if (cb_.on_part_end) HS_RETURN_IF_ERROR(cb_.on_part_end());
        break;
      }

      case State::kDone:
      case State::kFailed:
        return absl::OkStatus();
    }
  }
}

absl::Status MultipartParser::BeginPart(std::string_view block) {
  // Split into logical header lines, joining folded continuation lines.
  std::vector<std::string> lines;
  while (!block.empty()) {
    size_t end = std::min(block.find(kCrlf), block.size());
    std::string_view line = block.substr(0, end);
    block.remove_prefix(std::min(end + kCrlf.size(), block.size()));
    if (!line.empty() && IsLinearWhitespace(line[0])) {
      if (lines.empty()) {
        return absl::InvalidArgumentError(
            "malformed multipart part header: continuation line without a header");
      }
      absl::StrAppend(&lines.back(), " ", Sv(TrimLeading(line)));
    } else {
      lines.emplace_back(line);
    }
  }

  PartHeaders headers;
  bool saw_disposition = false;
  bool saw_content_type = false;
  for (const std::string& line : lines) {
    size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed multipart part header line ", Quote(line)));
    }
    std::string_view name = Trim(std::string_view(line).substr(0, colon));
    std::string_view value = Trim(std::string_view(line).substr(colon + 1));
    if (EqualsIgnoreCase(name, "content-disposition")) {
      if (saw_disposition) {
        return absl::InvalidArgumentError("multipart part with two Content-Disposition headers");
      }
      saw_disposition = true;
      HS_ASSIGN_OR_RETURN(ParameterizedValue v,
                          ParseParameterizedValue(value, "Content-Disposition"));
      if (!EqualsIgnoreCase(v.type, "form-data")) {
        return absl::InvalidArgumentError(absl::StrCat("multipart part Content-Disposition is ",
                                                       Quote(v.type), ", expected form-data"));
      }
      if (const std::string* n = v.Find("name")) headers.name = *n;
      if (const std::string* f = v.Find("filename")) headers.filename = *f;
    } else if (EqualsIgnoreCase(name, "content-type")) {
      if (saw_content_type) {
        return absl::InvalidArgumentError("multipart part with two Content-Type headers");
      }
      saw_content_type = true;
      headers.content_type = std::string(value);
    }
  }
  if (!saw_disposition) {
    return absl::InvalidArgumentError("multipart part without a Content-Disposition header");
  }
  if (headers.name.empty()) {
    return absl::InvalidArgumentError(
        "multipart part without a name (Content-Disposition: form-data; name=\"...\")");
  }
  return cb_.on_part_begin ? cb_.on_part_begin(headers) : absl::OkStatus();
}

absl::Status MultipartParser::Emit(std::string_view data) {
  return cb_.on_part_data ? cb_.on_part_data(data) : absl::OkStatus();
}

size_t MultipartParser::HeldBackLength(std::string_view data) const {
  const size_t longest = std::min(data.size(), delimiter_.size() - 1);
  // Every candidate starts with '\r', the delimiter's first byte; the earliest match is longest.
  for (size_t start = data.size() - longest; start < data.size(); ++start) {
    const void* cr = std::memchr(data.data() + start, '\r', data.size() - start);
    if (cr == nullptr) return 0;
    start = static_cast<size_t>(static_cast<const char*>(cr) - data.data());
    std::string_view tail = data.substr(start);
    if (std::string_view(delimiter_).substr(0, tail.size()) == tail) return tail.size();
  }
  return 0;
}

}  // namespace hotswap::http
