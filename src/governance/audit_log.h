// AuditLog: the server's entry point to the tamper-evident audit log. Anything in the server that
// changes state appends an AuditEntry here (the management API for every successful change, the
// deployment service's outcome hook for rollout results; approvals and validation-gate overrides
// can do the same); the AuditStore links it into the hash chain (registry/audit_chain.h).
//
// What it adds to the store:
//   - sanitising: actor/role/action/target/source/request_id are cut to 256 bytes of printable
//     ASCII (other bytes become '?'), a before/after JSON text over 64 KiB is replaced by
//     {"omitted_bytes": N, "sha256": "..."}; so a hostile header cannot make an append fail;
//   - a signed checkpoint (HMAC-SHA256 with the server's audit key) after every
//     `checkpoint_every` entries (seq divisible by it), and on demand (Checkpoint());
//   - Verify() with the server's key;
//   - counters for /metrics: hotswap_audit_entries_appended_total,
//     hotswap_audit_append_failures_total, hotswap_audit_checkpoints_total.
//
// Append failures: the change being recorded has already been made (the audit append is its own
// transaction after it), so a failed append is logged as an error with the entry's fields and
// counted; the caller's response is not changed. docs/audit.md says why.
//
// Thread-safe (the store is; counters are atomic).
//
//   governance::AuditLog audit({.checkpoint_every = 100}, store, key, clock);
//   registry::AuditEntry e;
//   e.actor = "ci"; e.role = "editor"; e.action = "approval.approve"; e.target = "endpoint/iris";
//   e.after_json = R"({"request":"42"})";
//   audit.Append(std::move(e));   // seq, hash, ts assigned; failures logged and counted
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "nlohmann/json.hpp"
#include "registry/audit_chain.h"
#include "registry/audit_store.h"

namespace hotswap::governance {

class AuditLog {
 public:
  struct Options {
    // A checkpoint after every N-th entry (seq % N == 0); 0 = only on demand.
    int64_t checkpoint_every = 100;
  };

  // `key` is the raw HMAC key (at least 32 bytes); `store` and `clock` must outlive the log.
  AuditLog(Options options, registry::AuditStore* store, std::string key, Clock* clock);

  // Appends (see the header comment). Returns the stored entry, or the store's error after
  // logging and counting it.
  absl::StatusOr<registry::AuditEntry> Append(registry::AuditEntry entry);
  // Convenience: the same with JSON values for before/after (null = none).
  absl::StatusOr<registry::AuditEntry> Append(registry::AuditEntry entry,
                                              const nlohmann::json& before,
                                              const nlohmann::json& after);

  // Signs and stores a checkpoint of the current head. FailedPrecondition when the log is
  // empty; AlreadyExists when the head is already checkpointed.
  absl::StatusOr<registry::AuditCheckpoint> Checkpoint();
  absl::StatusOr<registry::AuditVerifyReport> Verify();

  registry::AuditStore& store() { return *store_; }
  const std::string& key_id() const { return key_id_; }
  int64_t append_failures() const { return append_failures_.load(); }
  // Prometheus text of the counters (with HELP/TYPE lines).
  std::string RenderMetrics() const;

 private:
  const Options options_;
  registry::AuditStore* const store_;
  const std::string key_;
  const std::string key_id_;
  Clock* const clock_;
  std::atomic<int64_t> appended_{0};
  std::atomic<int64_t> append_failures_{0};
  std::atomic<int64_t> checkpoints_{0};
};

// The audit key, raw bytes. In order: `inline_hex` (config key audit_key) when not empty; else
// the file `key_file` (config audit_key_file / --audit-key-file) when not empty, which must exist;
// else `default_path` (DATA_DIR/audit.key), created on first use with 32 random bytes, mode 0600
// (*generated set). Files hold the key as hex (at least 64 hex digits = 32 bytes), whitespace
// around it ignored. InvalidArgument for a short or non-hex key, NotFound for a missing key_file.
absl::StatusOr<std::string> LoadOrCreateAuditKey(const std::string& inline_hex,
                                                 const std::string& key_file,
                                                 const std::string& default_path,
                                                 bool* generated = nullptr);

}  // namespace hotswap::governance
