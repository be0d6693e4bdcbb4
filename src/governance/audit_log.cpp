#include "governance/audit_log.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/sha256.h"
#include "common/status.h"

namespace hotswap::governance {
namespace {

constexpr size_t kMaxFieldBytes = 256;
constexpr size_t kMaxJsonBytes = 64 * 1024;
constexpr size_t kMinKeyBytes = 32;

std::string CleanField(const std::string& s) {
  std::string out = s.substr(0, kMaxFieldBytes);
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

std::string CleanJson(const std::string& s) {
  if (s.empty()) return "null";
  if (s.size() <= kMaxJsonBytes) return s;
  return nlohmann::json{{"omitted_bytes", s.size()}, {"sha256", Sha256Hex(s)}}.dump();
}

absl::StatusOr<std::string> KeyFromHex(std::string hex, absl::string_view where) {
  hex = std::string(absl::StripAsciiWhitespace(hex));
  bool all_hex = !hex.empty() && hex.size() % 2 == 0;
  for (char c : hex) all_hex = all_hex && absl::ascii_isxdigit(static_cast<unsigned char>(c));
  if (!all_hex || hex.size() < 2 * kMinKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": the audit key must be at least ", 2 * kMinKeyBytes,
        " hexadecimal digits (", kMinKeyBytes, " bytes), e.g. from `openssl rand -hex 32`"));
  }
  return absl::HexStringToBytes(hex);
}

}  // namespace

AuditLog::AuditLog(Options options, registry::AuditStore* store, std::string key, Clock* clock)
    : options_(options),
      store_(store),
      key_(std::move(key)),
      key_id_(registry::AuditKeyId(key_)),
      clock_(clock) {}

absl::StatusOr<registry::AuditEntry> AuditLog::Append(registry::AuditEntry entry) {
  entry.actor = CleanField(entry.actor.empty() ? "unknown" : entry.actor);
  entry.role = CleanField(entry.role);
  entry.action = CleanField(entry.action);
  entry.target = CleanField(entry.target);
  entry.source = CleanField(entry.source);
  entry.request_id = CleanField(entry.request_id);
  entry.before_json = CleanJson(entry.before_json);
  entry.after_json = CleanJson(entry.after_json);
  absl::StatusOr<registry::AuditEntry> stored = store_->Append(entry);
  if (!stored.ok()) {
    append_failures_.fetch_add(1);
    log::Error("audit entry could not be appended; the change it records was made",
               {{"action", entry.action}, {"target", entry.target}, {"actor", entry.actor},
                {"request_id", entry.request_id}, {"error", std::string(stored.status().message())}});
    return stored.status();
  }
  appended_.fetch_add(1);
  if (options_.checkpoint_every > 0 && stored->seq % options_.checkpoint_every == 0) {
    registry::AuditCheckpoint cp = registry::SignAuditCheckpoint(key_, *stored, clock_->NowMillis());
    if (absl::Status s = store_->InsertCheckpoint(cp); !s.ok()) {
      log::Error("audit checkpoint could not be stored",
                 {{"seq", static_cast<long long>(cp.seq)}, {"error", std::string(s.message())}});
    } else {
      checkpoints_.fetch_add(1);
    }
  }
  return stored;
}

absl::StatusOr<registry::AuditEntry> AuditLog::Append(registry::AuditEntry entry,
                                                      const nlohmann::json& before,
                                                      const nlohmann::json& after) {
  using nlohmann::json;
  entry.before_json = before.dump(-1, ' ', false, json::error_handler_t::replace);
  entry.after_json = after.dump(-1, ' ', false, json::error_handler_t::replace);
  return Append(std::move(entry));
}

absl::StatusOr<registry::AuditCheckpoint> AuditLog::Checkpoint() {
  HS_ASSIGN_OR_RETURN(std::optional<registry::AuditEntry> head, store_->Head());
  if (!head) return absl::FailedPreconditionError("the audit log is empty: nothing to checkpoint");
  registry::AuditCheckpoint cp = registry::SignAuditCheckpoint(key_, *head, clock_->NowMillis());
  HS_RETURN_IF_ERROR(store_->InsertCheckpoint(cp));
  checkpoints_.fetch_add(1);
  return cp;
}

absl::StatusOr<registry::AuditVerifyReport> AuditLog::Verify() {
  return registry::VerifyAuditLog(*store_, key_);
}

std::string AuditLog::RenderMetrics() const {
  return absl::StrCat(
      "# HELP hotswap_audit_entries_appended_total Audit log entries this server appended.\n"
      "# TYPE hotswap_audit_entries_appended_total counter\n"
      "hotswap_audit_entries_appended_total ", appended_.load(), "\n",
      "# HELP hotswap_audit_append_failures_total Changes made whose audit entry could not be "
      "appended (logged as errors).\n"
      "# TYPE hotswap_audit_append_failures_total counter\n"
      "hotswap_audit_append_failures_total ", append_failures_.load(), "\n",
      "# HELP hotswap_audit_checkpoints_total Signed audit checkpoints this server stored.\n"
      "# TYPE hotswap_audit_checkpoints_total counter\n"
      "hotswap_audit_checkpoints_total ", checkpoints_.load(), "\n");
}

absl::StatusOr<std::string> LoadOrCreateAuditKey(const std::string& inline_hex,
                                                 const std::string& key_file,
                                                 const std::string& default_path,
                                                 bool* generated) {
  if (generated != nullptr) *generated = false;
  if (!inline_hex.empty()) return KeyFromHex(inline_hex, "audit_key");
  const std::string& path = key_file.empty() ? default_path : key_file;
  std::ifstream in(path);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      log::Warn("the audit key file is readable by other users; chmod 600 it",
                {{"path", path}});
    }
    return KeyFromHex(ss.str(), path);
  }
  if (!key_file.empty()) {
    return absl::NotFoundError(absl::StrCat("cannot read the audit key file '", key_file,
                                            "': ", std::strerror(errno)));
  }
  unsigned char raw[kMinKeyBytes];
  if (RAND_bytes(raw, sizeof(raw)) != 1) return absl::InternalError("RAND_bytes failed");
  std::string key(reinterpret_cast<const char*>(raw), sizeof(raw));
  std::string content = absl::BytesToHexString(key) + "\n";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot create the audit key file '", path, "': ",
                                            std::strerror(errno)));
  }
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return absl::InternalError(absl::StrCat("cannot write the audit key file '", path, "'"));
  }
  if (generated != nullptr) *generated = true;
  return key;
}

}  // namespace hotswap::governance
