// Server: wires configuration into components and owns them — the SQLite registry, token store
// and deployment records in DATA_DIR/registry.db, the local artifact store in DATA_DIR/artifacts,
// the authenticator, the inference backends, the model manager, the REST and V2 APIs and the
// HTTP server.
//
// Start-up order: data dir → database (migrations) → artifact store (temp-file clean-up) →
// audit key (DATA_DIR/audit.key on first start) → tokens (first start: an admin token is written to DATA_DIR/admin.token, mode 0600) → backends
// → model manager → routes → listen → restore the endpoints that were serving before (in the
// background; /readyz and /v2/health/ready answer 503 until it is done). Shutdown is the reverse:
// stop accepting, drain in-flight requests, stop the loader, close stores.
//
// Thread-safety: Create/Start/Stop from one thread.
#pragma once

#include <cstdint>
#include <iostream>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "api/http/router.h"
#include "common/clock.h"

namespace hotswap::server {

struct ServerConfig {
  std::string data_dir = "./hotswap-data";
  std::string http_address = "127.0.0.1:8080";   // HOST:PORT; port 0 = any free port
  // "" = SQLite in DATA_DIR/registry.db; "postgresql://user:pass@host:port/db" = PostgreSQL
  // (registry, tokens and deployments; artifacts stay in the artifact store).
  std::string registry_url;
  // Artifacts: "" = local files in DATA_DIR/artifacts; "s3://bucket[/prefix]" = any S3 API server
  // (AWS, MinIO) with a local cache. See docs/storage-backends.md.
  std::string artifacts_url;
  std::string s3_endpoint;          // "" = $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS
  std::string s3_region;            // "" = $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1
  std::string s3_addressing;        // "path" | "virtual" | "" = path with an endpoint, else virtual
  // Credentials: these keys (config file only, never flags), else $AWS_ACCESS_KEY_ID,
  // $AWS_SECRET_ACCESS_KEY, $AWS_SESSION_TOKEN. Never logged.
  std::string s3_access_key_id;
  std::string s3_secret_access_key;
  std::string s3_session_token;
  std::string artifact_cache_dir;                   // "" = DATA_DIR/artifact-cache (S3 only)
  int64_t artifact_cache_max_bytes = 10LL << 30;    // LRU bound of that cache
  int64_t s3_multipart_threshold_bytes = 64LL << 20;
  int64_t s3_part_size_bytes = 16LL << 20;
  int s3_max_attempts = 5;                          // per S3 request, with jittered backoff
  int threads = 0;                                // HTTP worker threads; 0 = number of cores
  int64_t max_body_bytes = 1 << 20;               // JSON request bodies
  int64_t max_artifact_bytes = 8LL << 30;         // uploaded artifacts
  std::string log_level = "info";                 // debug|info|warn|error
  // Serving.
  int max_inflight_per_endpoint = 256;            // concurrent infer requests per endpoint; 503 beyond
  int64_t max_infer_body_bytes = 64LL << 20;      // infer request bodies
  int warmup_runs = 5;                            // runs before a loaded version is published
  int64_t load_timeout_ms = 120'000;              // fetch + load + warm-up
  int intra_op_threads = 1;                       // engine threads per inference run
  bool memory_arena = false;                      // ONNX Runtime's CPU arena (runtime/backend.h)
  // Monitoring (docs/monitoring.md).
  bool monitoring = true;                         // latency windows, feedback joins, alerts
  int64_t prediction_ttl_s = 86'400;              // predictions wait this long for feedback
  int64_t prediction_store_capacity = 200'000;    // predictions remembered at most
  int64_t monitor_tick_ms = 5000;                 // window snapshots and alert evaluation
  std::string alert_webhook_url;                  // alert events are POSTed here ("" = none)
  std::string deployment_webhook_url;             // rollout decisions and outcomes ("" = none)
  // Audit log (docs/audit.md). The HMAC key of its checkpoints: `audit_key` (hex, config file
  // only, never a flag), else the file `audit_key_file` (hex), else DATA_DIR/audit.key, generated
  // on first start (32 random bytes, mode 0600). Replicas sharing a database need the same key.
  std::string audit_key;
  std::string audit_key_file;
  int64_t audit_checkpoint_every = 100;           // a signed checkpoint every N entries; 0 = on demand
  // Tracing (docs/tracing.md): spans go as OTLP/HTTP JSON to this collector ("" = tracing off,
  // the default). A base URL gets "/v1/traces" appended; a URL ending in /v1/traces is used as is.
  std::string otlp_endpoint;
  double trace_sample_ratio = 1.0;                // share of new traces recorded (0..1)
  // Shadow rollouts (docs/rollouts.md): the shadow worker uses at most this share of one core.
  double shadow_cpu_share = 0.1;
  // Approvals and validation gates (docs/governance.md).
  std::string approval_webhook_url;               // approval events are POSTed here ("" = none)
  bool validate_on_register = true;               // run the gates after every upload (async)
  bool validate_all_deploys = false;              // gate deploys to endpoints without a policy too
  int64_t validation_load_budget_ms = 60'000;     // gate 2: load time
  int64_t validation_memory_budget_bytes = 4LL << 30;  // gate 2: the loaded model's memory
  int validation_benchmark_runs = 200;            // gate 6: timed in-process runs
  int64_t validation_report_ttl_s = 600;          // a deploy reuses a report this young

  // Reads a JSON config file whose keys are the field names above; unknown keys are an error.
  // Values not in the file keep the values already in *this.
  absl::Status MergeFile(const std::string& path);
  absl::Status Validate() const;
};

// Splits "HOST:PORT". InvalidArgument when malformed.
absl::Status ParseHostPort(const std::string& address, std::string* host, int* port);

class Server {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> Create(const ServerConfig& config,
                                                        Clock* clock = SystemClock::Get());
  ~Server();

  absl::Status Start();
  void Stop();
  int http_port() const;
  // The admin token created on this start (first start only), else "".
  const std::string& bootstrap_token() const { return bootstrap_token_; }
  // True once the endpoints deployed before the last shutdown are serving again.
  bool ready() const;
  // Blocks until ready() (tests).
  void WaitReady() const;
  const ServerConfig& config() const { return config_; }
  // Every route the server answers (the OpenAPI test compares them with docs/openapi.json).
  const std::vector<http::Route>& routes() const;

 public:
  struct Components;  // defined in server.cpp

 private:
  Server(ServerConfig config, std::unique_ptr<Components> c);
  ServerConfig config_;
  std::unique_ptr<Components> c_;
  std::string bootstrap_token_;
};

// `hotswap serve`: creates and starts a server, prints where it listens (and the admin token on
// first start), waits for SIGINT/SIGTERM, shuts down gracefully. Returns the process exit code.
// Messages for the operator go to `out`, start-up errors to `err`.
int RunServe(const ServerConfig& config, std::ostream& out = std::cout,
             std::ostream& err = std::cerr);

}  // namespace hotswap::server
