#include "server/server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/dataset_api.h"
#include "api/explain_api.h"
#include "api/governance_api.h"
#include "api/audit_api.h"
#include "api/http/http_server.h"
#include "api/inference_api.h"
#include "api/management_api.h"
#include "api/monitoring_api.h"
#include "auth/authenticator.h"
#include "common/log.h"
#include "common/status.h"
#include "governance/approvals.h"
#include "governance/audit_log.h"
#include "governance/validation_gates.h"
#include "governance/version_datasets.h"
#include "nlohmann/json.hpp"
#include "registry/postgres/pg_database.h"
#include "registry/postgres/postgres_audit_store.h"
#include "registry/postgres/postgres_dataset_store.h"
#include "registry/postgres/postgres_governance_store.h"
#include "registry/postgres/postgres_deployment_store.h"
#include "registry/postgres/postgres_registry.h"
#include "registry/postgres/postgres_token_store.h"
#include "registry/sqlite_audit_store.h"
#include "registry/sqlite_database.h"
#include "registry/sqlite_dataset_store.h"
#include "registry/sqlite_governance_store.h"
#include "registry/sqlite_deployment_store.h"
#include "runtime/onnx/onnx_backend.h"
#include "tracing/tracer.h"
#include "runtime/optional_backends.h"
#include "registry/sqlite_registry.h"
#include "registry/sqlite_token_store.h"
#include "storage/local_artifact_store.h"
#include "storage/s3/s3_artifact_store.h"

namespace hotswap::server {

namespace fs = std::filesystem;
using nlohmann::json;

absl::Status ParseHostPort(const std::string& address, std::string* host, int* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", address, "' must be HOST:PORT, e.g. 127.0.0.1:8080"));
  }
  int p = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &p) || p < 0 || p > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", address, "': port must be a number from 0 to 65535"));
  }
  *host = address.substr(0, colon);
  *port = p;
  return absl::OkStatus();
}

absl::Status ServerConfig::MergeFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read config file '", path, "': ",
                                            std::strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  json j;
  try {
    j = json::parse(ss.str());
  } catch (const json::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file '", path, "' is not valid JSON: ", e.what()));
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("config file '", path, "' must hold an object"));
  }
  for (const auto& item : j.items()) {
    const std::string key = item.key();
    const json& value = item.value();
    auto bad = [&](absl::string_view want) {
      return absl::InvalidArgumentError(
          absl::StrCat("config file '", path, "': '", key, "' must be ", want));
    };
    if (key == "data_dir") {
      if (!value.is_string()) return bad("a string");
      data_dir = value.get<std::string>();
    } else if (key == "http_address") {
      if (!value.is_string()) return bad("a string HOST:PORT");
      http_address = value.get<std::string>();
    } else if (key == "threads") {
      if (!value.is_number_integer()) return bad("an integer");
      threads = value.get<int>();
    } else if (key == "max_body_bytes") {
      if (!value.is_number_integer()) return bad("an integer");
      max_body_bytes = value.get<int64_t>();
    } else if (key == "max_artifact_bytes") {
      if (!value.is_number_integer()) return bad("an integer");
      max_artifact_bytes = value.get<int64_t>();
    } else if (key == "log_level") {
      if (!value.is_string()) return bad("a string");
      log_level = value.get<std::string>();
    } else if (key == "registry_url") {
      if (!value.is_string()) return bad("a string postgresql://user:pass@host:port/db");
      registry_url = value.get<std::string>();
    } else if (key == "artifacts_url" || key == "s3_endpoint" || key == "s3_region" ||
               key == "s3_addressing" || key == "s3_access_key_id" ||
               key == "s3_secret_access_key" || key == "s3_session_token" ||
               key == "artifact_cache_dir") {
      if (!value.is_string()) return bad("a string");
      std::string v = value.get<std::string>();
      if (key == "artifacts_url") artifacts_url = v;
      if (key == "s3_endpoint") s3_endpoint = v;
      if (key == "s3_region") s3_region = v;
      if (key == "s3_addressing") s3_addressing = v;
      if (key == "s3_access_key_id") s3_access_key_id = v;
      if (key == "s3_secret_access_key") s3_secret_access_key = v;
      if (key == "s3_session_token") s3_session_token = v;
      if (key == "artifact_cache_dir") artifact_cache_dir = v;
    } else if (key == "artifact_cache_max_bytes" || key == "s3_multipart_threshold_bytes" ||
               key == "s3_part_size_bytes") {
      if (!value.is_number_integer()) return bad("an integer");
      int64_t v = value.get<int64_t>();
      if (key == "artifact_cache_max_bytes") artifact_cache_max_bytes = v;
      if (key == "s3_multipart_threshold_bytes") s3_multipart_threshold_bytes = v;
      if (key == "s3_part_size_bytes") s3_part_size_bytes = v;
    } else if (key == "s3_max_attempts") {
      if (!value.is_number_integer()) return bad("an integer");
      s3_max_attempts = value.get<int>();
    } else if (key == "max_inflight_per_endpoint") {
      if (!value.is_number_integer()) return bad("an integer");
      max_inflight_per_endpoint = value.get<int>();
    } else if (key == "max_infer_body_bytes") {
      if (!value.is_number_integer()) return bad("an integer");
      max_infer_body_bytes = value.get<int64_t>();
    } else if (key == "warmup_runs") {
      if (!value.is_number_integer()) return bad("an integer");
      warmup_runs = value.get<int>();
    } else if (key == "load_timeout_ms") {
      if (!value.is_number_integer()) return bad("an integer");
      load_timeout_ms = value.get<int64_t>();
    } else if (key == "intra_op_threads") {
      if (!value.is_number_integer()) return bad("an integer");
      intra_op_threads = value.get<int>();
    } else if (key == "memory_arena") {
      if (!value.is_boolean()) return bad("true or false");
      memory_arena = value.get<bool>();
    } else if (key == "monitoring") {
      if (!value.is_boolean()) return bad("true or false");
      monitoring = value.get<bool>();
    } else if (key == "prediction_ttl_s" || key == "prediction_store_capacity" ||
               key == "monitor_tick_ms") {
      if (!value.is_number_integer()) return bad("an integer");
      int64_t v = value.get<int64_t>();
      if (key == "prediction_ttl_s") prediction_ttl_s = v;
      if (key == "prediction_store_capacity") prediction_store_capacity = v;
      if (key == "monitor_tick_ms") monitor_tick_ms = v;
    } else if (key == "alert_webhook_url" || key == "deployment_webhook_url") {
      if (!value.is_string()) return bad("a string");
      (key == "alert_webhook_url" ? alert_webhook_url : deployment_webhook_url) =
          value.get<std::string>();
    } else if (key == "audit_key" || key == "audit_key_file") {
      if (!value.is_string()) return bad("a string");
      (key == "audit_key" ? audit_key : audit_key_file) = value.get<std::string>();
    } else if (key == "audit_checkpoint_every") {
      if (!value.is_number_integer()) return bad("an integer");
      audit_checkpoint_every = value.get<int64_t>();
    } else if (key == "otlp_endpoint") {
      if (!value.is_string()) return bad("a string URL, e.g. http://127.0.0.1:4318");
      otlp_endpoint = value.get<std::string>();
    } else if (key == "trace_sample_ratio") {
      if (!value.is_number()) return bad("a number from 0 to 1");
      trace_sample_ratio = value.get<double>();
    } else if (key == "shadow_cpu_share") {
      if (!value.is_number()) return bad("a number from 0.01 to 1");
      shadow_cpu_share = value.get<double>();
    } else if (key == "approval_webhook_url") {
      if (!value.is_string()) return bad("a string");
      approval_webhook_url = value.get<std::string>();
    } else if (key == "validate_on_register" || key == "validate_all_deploys") {
      if (!value.is_boolean()) return bad("true or false");
      (key == "validate_on_register" ? validate_on_register : validate_all_deploys) =
          value.get<bool>();
    } else if (key == "validation_load_budget_ms" || key == "validation_memory_budget_bytes" ||
               key == "validation_benchmark_runs" || key == "validation_report_ttl_s") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0) {
        return bad("a non-negative integer");
      }
      int64_t v = value.get<int64_t>();
      if (key == "validation_load_budget_ms") validation_load_budget_ms = v;
      if (key == "validation_memory_budget_bytes") validation_memory_budget_bytes = v;
      if (key == "validation_benchmark_runs") validation_benchmark_runs = static_cast<int>(v);
      if (key == "validation_report_ttl_s") validation_report_ttl_s = v;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "config file '", path, "': unknown key '", key,
          "' (known: data_dir, http_address, registry_url, artifacts_url, s3_endpoint, "
          "s3_region, s3_addressing, s3_access_key_id, s3_secret_access_key, s3_session_token, "
          "artifact_cache_dir, artifact_cache_max_bytes, s3_multipart_threshold_bytes, "
          "s3_part_size_bytes, s3_max_attempts, threads, max_body_bytes, "
          "max_artifact_bytes, log_level, max_inflight_per_endpoint, max_infer_body_bytes, warmup_runs, "
          "load_timeout_ms, intra_op_threads, memory_arena, monitoring, prediction_ttl_s, "
          "prediction_store_capacity, monitor_tick_ms, alert_webhook_url, deployment_webhook_url, "
          "audit_key, audit_key_file, audit_checkpoint_every, otlp_endpoint, trace_sample_ratio, "
          "shadow_cpu_share, approval_webhook_url, validate_on_register, validate_all_deploys, "
          "validation_load_budget_ms, validation_memory_budget_bytes, validation_benchmark_runs, "
          "validation_report_ttl_s)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ServerConfig::Validate() const {
  if (data_dir.empty()) return absl::InvalidArgumentError("data_dir must not be empty");
  std::string host;
  int port = 0;
  HS_RETURN_IF_ERROR(ParseHostPort(http_address, &host, &port));
  if (threads < 0 || threads > 256) {
    return absl::InvalidArgumentError("threads must be from 0 (= cores) to 256");
  }
  if (max_body_bytes < 1024) return absl::InvalidArgumentError("max_body_bytes must be >= 1024");
  if (max_artifact_bytes < 1) return absl::InvalidArgumentError("max_artifact_bytes must be >= 1");
  if (!registry_url.empty() && registry_url.rfind("postgresql://", 0) != 0 &&
      registry_url.rfind("postgres://", 0) != 0) {
    // Never echo a password: show the scheme only.
    std::string scheme = registry_url.substr(0, registry_url.find(':'));
    return absl::InvalidArgumentError(absl::StrCat(
        "registry_url (scheme '", scheme.size() > 20 ? scheme.substr(0, 20) + "..." : scheme,
        "') must be a postgresql:// URL (leave it empty for SQLite in the data dir)"));
  }
  if (!artifacts_url.empty() && artifacts_url.rfind("s3://", 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "artifacts_url '", artifacts_url,
        "' must be an s3://bucket[/prefix] URL (leave it empty for local files in the data dir)"));
  }
  if (!artifacts_url.empty() && artifacts_url.size() <= 5) {
    return absl::InvalidArgumentError("artifacts_url 's3://' names no bucket: s3://bucket[/prefix]");
  }
  if (!s3_addressing.empty() && s3_addressing != "path" && s3_addressing != "virtual") {
    return absl::InvalidArgumentError(
        absl::StrCat("s3_addressing '", s3_addressing, "' must be path or virtual"));
  }
  if (!s3_endpoint.empty() && s3_endpoint.rfind("http://", 0) != 0 &&
      s3_endpoint.rfind("https://", 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "s3_endpoint '", s3_endpoint, "' must start with http:// or https://"));
  }
  if (artifact_cache_max_bytes < 1) {
    return absl::InvalidArgumentError("artifact_cache_max_bytes must be >= 1");
  }
  if (s3_part_size_bytes < (5LL << 20)) {
    return absl::InvalidArgumentError("s3_part_size_bytes must be >= 5242880 (S3's minimum)");
  }
  if (s3_multipart_threshold_bytes < 1) {
    return absl::InvalidArgumentError("s3_multipart_threshold_bytes must be >= 1");
  }
  if (s3_max_attempts < 1 || s3_max_attempts > 20) {
    return absl::InvalidArgumentError("s3_max_attempts must be from 1 to 20");
  }
  if (max_inflight_per_endpoint < 1) {
    return absl::InvalidArgumentError("max_inflight_per_endpoint must be >= 1");
  }
  if (max_infer_body_bytes < 1024) {
    return absl::InvalidArgumentError("max_infer_body_bytes must be >= 1024");
  }
  if (warmup_runs < 0) return absl::InvalidArgumentError("warmup_runs must be >= 0");
  if (load_timeout_ms < 1) return absl::InvalidArgumentError("load_timeout_ms must be >= 1");
  if (prediction_ttl_s < 1) return absl::InvalidArgumentError("prediction_ttl_s must be >= 1");
  if (prediction_store_capacity < 0) {
    return absl::InvalidArgumentError("prediction_store_capacity must be >= 0");
  }
  if (monitor_tick_ms < 100 || monitor_tick_ms > 60'000) {
    return absl::InvalidArgumentError("monitor_tick_ms must be from 100 to 60000");
  }
  for (const auto& [key, url] : {std::pair<const char*, const std::string*>{"alert_webhook_url", &alert_webhook_url},
                                  {"deployment_webhook_url", &deployment_webhook_url}}) {
    if (!url->empty() && url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(key, " must start with http:// or https://"));
    }
  }
  if (intra_op_threads < 1 || intra_op_threads > 64) {
    return absl::InvalidArgumentError("intra_op_threads must be from 1 to 64");
  }
  if (audit_checkpoint_every < 0) {
    return absl::InvalidArgumentError("audit_checkpoint_every must be >= 0 (0 = only on demand)");
  }
  if (!otlp_endpoint.empty() && otlp_endpoint.rfind("http://", 0) != 0 &&
      otlp_endpoint.rfind("https://", 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "otlp_endpoint '", otlp_endpoint,
        "' must start with http:// or https:// (e.g. http://127.0.0.1:4318; empty = tracing off)"));
  }
  if (!(shadow_cpu_share >= 0.01 && shadow_cpu_share <= 1.0)) {
    return absl::InvalidArgumentError("shadow_cpu_share must be from 0.01 to 1");
  }
  if (!(trace_sample_ratio >= 0.0 && trace_sample_ratio <= 1.0)) {
    return absl::InvalidArgumentError("trace_sample_ratio must be from 0 to 1");
  }
  log::Level level;
  if (!log::ParseLevel(log_level, &level)) {
    return absl::InvalidArgumentError(
        absl::StrCat("log_level '", log_level, "' must be debug, info, warn or error"));
  }
  return absl::OkStatus();
}

struct Server::Components {
  // First, so it is destroyed last: the deployment service and the APIs hold a pointer to it.
  std::unique_ptr<tracing::Tracer> tracer;  // nullptr = tracing off
  std::shared_ptr<void> database;  // keeps the SQLite or PostgreSQL connection(s) alive
  std::unique_ptr<registry::ModelRegistry> registry;
  std::unique_ptr<auth::TokenStore> tokens;
  std::unique_ptr<storage::ArtifactStore> store;
  std::unique_ptr<auth::Authenticator> authenticator;
  std::unique_ptr<api::ManagementApi> api;
  std::unique_ptr<registry::DeploymentStore> deployment_store;
  std::unique_ptr<registry::DatasetStore> dataset_store;
  std::unique_ptr<governance::VersionDatasets> datasets;
  std::unique_ptr<api::DatasetApi> dataset_api;
  std::unique_ptr<api::ExplainApi> explain_api;
  std::unique_ptr<registry::AuditStore> audit_store;
  std::unique_ptr<governance::AuditLog> audit;
  std::unique_ptr<api::AuditApi> audit_api;
  runtime::BackendRegistry backends;
  serving::MetricsRegistry metrics;
  std::unique_ptr<serving::ModelManager> manager;
  std::unique_ptr<serving::DeploymentService> deployments;
  std::unique_ptr<serving::ShadowMirror> mirror;
  std::unique_ptr<monitoring::Monitor> monitor;
  std::unique_ptr<monitoring::WebhookSender> deployment_webhook;
  std::unique_ptr<api::InferenceApi> inference;
  std::unique_ptr<api::MonitoringApi> monitoring_api;
  http::Router router;
  std::unique_ptr<http::HttpServer> http;
  std::atomic<bool> ready{false};
  std::thread restorer;
  // Approvals and validation gates; declared last so they are destroyed first (their threads
  // use the manager, stores and registry above).
  std::unique_ptr<registry::GovernanceStore> governance_store;
  std::unique_ptr<governance::ValidationPipeline> validation;
  std::unique_ptr<governance::ApprovalService> approvals;
  std::unique_ptr<api::GovernanceApi> governance_api;
};

namespace {

absl::Status WriteTokenFile(const std::string& path, const std::string& token) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
  }
  std::string content = token + "\n";
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

// The registry, token and deployment stores: SQLite in the data dir by default.
absl::Status OpenRegistry(const ServerConfig& config, Clock* clock, Server::Components* c) {
  if (!config.registry_url.empty()) {
    registry::PgDatabase::Options po;
    po.conninfo = config.registry_url;
    HS_ASSIGN_OR_RETURN(auto pg, registry::PgDatabase::Open(po));
    HS_ASSIGN_OR_RETURN(c->registry, registry::PostgresRegistry::Create(pg, clock));
    HS_ASSIGN_OR_RETURN(c->tokens, registry::PostgresTokenStore::Create(pg, clock));
    c->deployment_store = std::make_unique<registry::PostgresDeploymentStore>(pg);
    c->dataset_store = std::make_unique<registry::PostgresDatasetStore>(pg);
    c->governance_store = std::make_unique<registry::PostgresGovernanceStore>(pg);
    HS_ASSIGN_OR_RETURN(c->audit_store, registry::PostgresAuditStore::Create(pg, clock));
    c->database = std::move(pg);
    log::Info("registry: PostgreSQL");
    return absl::OkStatus();
  }
  HS_ASSIGN_OR_RETURN(auto db, registry::SqliteDatabase::Open(config.data_dir + "/registry.db"));
  HS_ASSIGN_OR_RETURN(c->registry, registry::SqliteRegistry::Create(db, clock));
  HS_ASSIGN_OR_RETURN(c->tokens, registry::SqliteTokenStore::Create(db, clock));
  c->deployment_store = std::make_unique<registry::SqliteDeploymentStore>(db);
  c->dataset_store = std::make_unique<registry::SqliteDatasetStore>(db);
  c->governance_store = std::make_unique<registry::SqliteGovernanceStore>(db);
  HS_ASSIGN_OR_RETURN(c->audit_store, registry::SqliteAuditStore::Create(db, clock));
  c->database = std::move(db);
  return absl::OkStatus();
}

namespace {

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

}  // namespace

// The artifact store: local files in the data dir by default, S3 for artifacts_url s3://.
absl::Status OpenArtifactStore(const ServerConfig& config, Server::Components* c) {
  if (config.artifacts_url.empty()) {
    storage::LocalArtifactStore::Options so;
    so.root_dir = config.data_dir + "/artifacts";
    so.max_artifact_bytes = config.max_artifact_bytes;
    HS_ASSIGN_OR_RETURN(c->store, storage::LocalArtifactStore::Open(so));
    return absl::OkStatus();
  }
  storage::s3::S3ArtifactStore::Options so;
  std::string rest = config.artifacts_url.substr(5);  // after "s3://"
  size_t slash = rest.find('/');
  so.bucket = rest.substr(0, slash);
  so.prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  so.s3.region = !config.s3_region.empty()
                     ? config.s3_region
                     : EnvOr("AWS_REGION", EnvOr("AWS_DEFAULT_REGION", "us-east-1"));
  so.s3.endpoint = !config.s3_endpoint.empty()
                       ? config.s3_endpoint
                       : EnvOr("AWS_ENDPOINT_URL_S3", EnvOr("AWS_ENDPOINT_URL", ""));
  bool aws = so.s3.endpoint.empty();
  if (aws) so.s3.endpoint = absl::StrCat("https://s3.", so.s3.region, ".amazonaws.com");
  so.s3.path_style = config.s3_addressing.empty() ? !aws : config.s3_addressing == "path";
  if (!config.s3_access_key_id.empty() || !config.s3_secret_access_key.empty()) {
    so.s3.credentials = {config.s3_access_key_id, config.s3_secret_access_key,
                         config.s3_session_token};
  } else {
    so.s3.credentials = {EnvOr("AWS_ACCESS_KEY_ID", ""), EnvOr("AWS_SECRET_ACCESS_KEY", ""),
                         EnvOr("AWS_SESSION_TOKEN", "")};
  }
  so.cache_dir = config.artifact_cache_dir.empty() ? config.data_dir + "/artifact-cache"
                                                   : config.artifact_cache_dir;
  so.cache_max_bytes = config.artifact_cache_max_bytes;
  so.max_artifact_bytes = config.max_artifact_bytes;
  so.multipart_threshold_bytes = config.s3_multipart_threshold_bytes;
  so.part_size_bytes = config.s3_part_size_bytes;
  so.max_attempts = config.s3_max_attempts;
  HS_ASSIGN_OR_RETURN(c->store, storage::s3::S3ArtifactStore::Open(std::move(so)));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const ServerConfig& config, Clock* clock) {
  HS_RETURN_IF_ERROR(config.Validate());
  log::Level level = log::Level::kInfo;
  log::ParseLevel(config.log_level, &level);
  log::SetLevel(level);

  std::error_code ec;
  fs::create_directories(config.data_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create data dir '", config.data_dir, "': ", ec.message()));
  }
  ::chmod(config.data_dir.c_str(), 0700);

  auto c = std::make_unique<Components>();
  HS_RETURN_IF_ERROR(OpenRegistry(config, clock, c.get()));
  HS_RETURN_IF_ERROR(OpenArtifactStore(config, c.get()));
  bool key_generated = false;
  HS_ASSIGN_OR_RETURN(std::string audit_key,
                      governance::LoadOrCreateAuditKey(config.audit_key, config.audit_key_file,
                                                       config.data_dir + "/audit.key",
                                                       &key_generated));
  c->audit = std::make_unique<governance::AuditLog>(
      governance::AuditLog::Options{.checkpoint_every = config.audit_checkpoint_every},
      c->audit_store.get(), std::move(audit_key), clock);
  if (key_generated) {
    log::Info("first start: audit key created (replicas sharing this registry need the same key)",
              {{"path", config.data_dir + "/audit.key"}, {"key_id", c->audit->key_id()}});
  }
  if (!config.registry_url.empty() && config.audit_key.empty() && config.audit_key_file.empty()) {
    log::Warn("the audit key is this server's own (DATA_DIR/audit.key) but the registry is shared: "
              "give every replica the same --audit-key-file, or checkpoints one signs fail "
              "verification on another",
              {{"key_id", c->audit->key_id()}});
  }
  c->authenticator = std::make_unique<auth::Authenticator>(c->tokens.get());
  HS_RETURN_IF_ERROR(c->authenticator->Reload());

  std::string bootstrap;
  if (c->authenticator->NoActiveTokens()) {
    HS_ASSIGN_OR_RETURN(auto created, c->authenticator->CreateToken("admin", auth::Role::kAdmin));
    bootstrap = created.second;
    HS_RETURN_IF_ERROR(WriteTokenFile(config.data_dir + "/admin.token", bootstrap));
    log::Info("first start: admin token created", {{"path", config.data_dir + "/admin.token"}});
  }

  HS_ASSIGN_OR_RETURN(auto onnx, runtime::OnnxBackend::Create());
  log::Info("inference backend ready", {{"framework", "onnx"}, {"version", onnx->version()}});
  c->backends.Register(std::move(onnx));
  for (const runtime::OptionalBackend& b : runtime::RegisterOptionalBackends(&c->backends)) {
    if (!b.built) {
      log::Info("inference backend not in this build", {{"framework", b.framework}});
    } else if (!b.status.ok()) {
      log::Error("inference backend failed to start; its versions cannot be deployed",
                 {{"framework", b.framework}, {"error", std::string(b.status.message())}});
    } else {
      log::Info("inference backend ready", {{"framework", b.framework}, {"version", b.version}});
    }
  }
  monitoring::Monitor::Options mon;
  mon.tick_ms = config.monitor_tick_ms;
  mon.predictions.ttl_ms = config.prediction_ttl_s * 1000;
  mon.predictions.capacity = static_cast<size_t>(config.prediction_store_capacity);
  mon.rules_path = config.data_dir + "/alert-rules.json";
  mon.webhook_url = config.alert_webhook_url;
  c->monitor = std::make_unique<monitoring::Monitor>(mon, &c->metrics, clock);
  if (config.monitoring) {
    Components* comps = c.get();
    c->monitor->SetReferenceProvider(
        [comps](const std::string& model, int64_t version) -> absl::StatusOr<monitoring::CsvTable> {
          if (comps->datasets == nullptr) return absl::NotFoundError("no dataset store");
          HS_ASSIGN_OR_RETURN(governance::LoadedDataset d,
                              comps->datasets->Load(model, version, "reference"));
          return monitoring::CsvTable::FromRows(std::move(d.table.header),
                                                std::move(d.table.rows));
        });
  }
  serving::ModelManager::Options mo;
  mo.cache_dir = config.data_dir + "/cache";
  mo.warmup_runs = config.warmup_runs;
  mo.load_timeout_ms = config.load_timeout_ms;
  mo.intra_op_threads = config.intra_op_threads;
  mo.memory_arena = config.memory_arena;
  if (config.monitoring) {
    monitoring::Monitor* mon_for_loads = c->monitor.get();
    mo.make_observer = [mon_for_loads](const serving::ServedVersion& sv) {
      return mon_for_loads->MakeObserver(sv);
    };
  }
  c->manager = std::make_unique<serving::ModelManager>(mo, c->registry.get(), c->store.get(),
                                                       &c->backends, &c->metrics, clock);
  c->deployments = std::make_unique<serving::DeploymentService>(
      c->registry.get(), c->deployment_store.get(), c->manager.get(), clock);
  if (!config.otlp_endpoint.empty()) {
    tracing::Tracer::Options to;
    to.endpoint = config.otlp_endpoint;
    to.sample_ratio = config.trace_sample_ratio;
    HS_ASSIGN_OR_RETURN(c->tracer, tracing::Tracer::Create(std::move(to)));
    c->deployments->SetTracer(c->tracer.get());
    log::Info("tracing on", {{"otlp_url", c->tracer->url()},
                             {"sample_ratio", config.trace_sample_ratio}});
  }
  governance::AuditLog* audit = c->audit.get();
  c->deployment_webhook = std::make_unique<monitoring::WebhookSender>(config.deployment_webhook_url);
  monitoring::WebhookSender* dep_hook = c->deployment_webhook.get();
  auto event_of = [](const char* type, const domain::Deployment& d) {
    return json{{"type", type},          {"deployment", d.id},      {"endpoint", d.endpoint},
                {"model", d.model_name}, {"version", d.version},    {"strategy", d.strategy},
                {"state", d.state},      {"message", d.message}};
  };
  if (dep_hook->enabled()) {
    c->deployments->SetDecisionListener([dep_hook, event_of](const domain::Deployment& d,
                                                             const json& entry) {
      json e = event_of("rollout.decision", d);
      e["decision"] = entry;
      dep_hook->Enqueue(e);
    });
  }
  c->deployments->SetOutcomeListener([audit, dep_hook, event_of](const domain::Deployment& d) {
    dep_hook->Enqueue(event_of("deployment.outcome", d));
    api::RecordSystemChange(audit, "deployment." + d.state, "endpoint/" + d.endpoint, "", nullptr,
                            json{{"id", d.id},
                                 {"model", d.model_name},
                                 {"version", d.version},
                                 {"strategy", d.strategy},
                                 {"state", d.state},
                                 {"message", d.message}});
  });

  Components* raw = c.get();
  auto readiness = [raw]() -> absl::Status {
    if (!raw->ready.load()) {
      return absl::UnavailableError("restoring the models that were serving before the restart");
    }
    return absl::OkStatus();
  };
  // Validation gates and approvals (docs/governance.md).
  c->datasets = std::make_unique<governance::VersionDatasets>(
      governance::VersionDatasets::Options{}, c->registry.get(), c->dataset_store.get(),
      c->store.get(), clock);
  governance::ValidationPipeline::Options vo;
  vo.work_dir = config.data_dir + "/cache";
  vo.load_budget_ms = config.validation_load_budget_ms;
  vo.memory_budget_bytes = config.validation_memory_budget_bytes;
  vo.benchmark_runs = config.validation_benchmark_runs;
  vo.report_ttl_ms = config.validation_report_ttl_s * 1000;
  c->validation = std::make_unique<governance::ValidationPipeline>(
      vo, c->registry.get(), c->store.get(), &c->backends, c->manager.get(), c->datasets.get(),
      c->governance_store.get(), clock);
  governance::ApprovalService::Options apo;
  apo.webhook_url = config.approval_webhook_url;
  c->approvals = std::make_unique<governance::ApprovalService>(
      apo, c->governance_store.get(), c->deployment_store.get(), clock);
  // Clients' own decisions are audited by the API with their identity; what the server does by
  // itself (expiry, a deploy that fails to start, a deploy started after a restart) here.
  c->approvals->SetEventListener(
      [audit](const std::string& event, const registry::ApprovalRequest& r, bool system) {
        if (!system) return;
        api::RecordSystemChange(audit, event, "approval/" + r.id, "", nullptr,
                                api::ApprovalJson(r));
      });

  api::ManagementApi::Options ao;
  ao.max_artifact_bytes = config.max_artifact_bytes;
  ao.audit = c->audit.get();
  if (config.validate_on_register) {
    governance::ValidationPipeline* validation = c->validation.get();
    ao.on_version_registered = [validation](const domain::ModelVersion& v) {
      validation->ValidateAsync(v);
    };
  }
  c->api = std::make_unique<api::ManagementApi>(ao, c->registry.get(), c->store.get(),
                                                c->authenticator.get(), readiness);
  c->api->RegisterRoutes(&c->router);
  c->audit_api = std::make_unique<api::AuditApi>(c->audit.get());
  c->audit_api->RegisterRoutes(&c->router);
  api::InferenceApi::Options io;
  io.max_inflight_per_endpoint = config.max_inflight_per_endpoint;
  io.max_infer_body_bytes = config.max_infer_body_bytes;
  c->mirror = std::make_unique<serving::ShadowMirror>(serving::ShadowMirror::kDefaultCapacity,
                                                      config.shadow_cpu_share);
  io.mirror = c->mirror.get();
  storage::ArtifactStore* store = c->store.get();
  if (config.monitoring) {
    io.monitor = c->monitor.get();
    monitoring::Monitor* mon_ptr = c->monitor.get();
    c->deployments->SetQualitySource(
        [mon_ptr](const serving::VersionMetrics& series,
                  int64_t since_ms) -> std::optional<serving::QualityStats> {
          return mon_ptr->Quality(&series, since_ms);
        });
  }
  monitoring::Monitor* monitor = c->monitor.get();
  tracing::Tracer* tracer = c->tracer.get();
  governance::ApprovalService* approvals = c->approvals.get();
  governance::ValidationPipeline* validation = c->validation.get();
  io.extra_metrics = [store, monitor, audit, dep_hook, tracer, approvals, validation] {
    return storage::RenderArtifactStoreMetrics(store->Stats(), store->Kind()) +
           monitor->RenderPrometheus() + audit->RenderMetrics() +
           dep_hook->RenderPrometheus("hotswap_deployment_webhook_total",
                                      "Rollout decisions and deployment outcomes posted to the "
                                      "deployment webhook, by result.") +
           (tracer != nullptr ? tracer->RenderPrometheus() : std::string()) +
           approvals->RenderMetrics() + validation->RenderMetrics();
  };
  io.tracer = tracer;
  io.audit = audit;
  api::GovernanceApi::Options go;
  go.audit = audit;
  go.validate_all_deploys = config.validate_all_deploys;
  go.clock = clock;
  c->governance_api = std::make_unique<api::GovernanceApi>(
      go, c->registry.get(), c->governance_store.get(), c->approvals.get(), c->validation.get(),
      c->deployments.get(), c->manager.get());
  c->governance_api->RegisterRoutes(&c->router);
  api::GovernanceApi* governance_api = c->governance_api.get();
  io.deploy_guard = [governance_api](http::HttpRequest& req, serving::DeployRequest* dr,
                                     const json& override) {
    return governance_api->GuardDeploy(req, dr, override);
  };
  io.ungated_deploy_check = [governance_api](const std::string& endpoint) {
    return governance_api->CheckUngated(endpoint);
  };
  c->inference = std::make_unique<api::InferenceApi>(io, c->manager.get(), c->deployments.get(),
                                                     &c->metrics, &c->backends, readiness);
  c->inference->RegisterRoutes(&c->router);
  c->monitoring_api = std::make_unique<api::MonitoringApi>(api::MonitoringApi::Options{},
                                                           c->monitor.get(), c->manager.get());
  c->monitoring_api->RegisterRoutes(&c->router);
  c->dataset_api = std::make_unique<api::DatasetApi>(c->registry.get(), c->datasets.get());
  c->dataset_api->RegisterRoutes(&c->router);
  c->explain_api = std::make_unique<api::ExplainApi>(api::ExplainApi::Options{}, c->manager.get(),
                                                     c->datasets.get(), readiness);
  c->explain_api->RegisterRoutes(&c->router);

  http::HttpServer::Options ho;
  HS_RETURN_IF_ERROR(ParseHostPort(config.http_address, &ho.host, &ho.port));
  ho.threads = config.threads;
  ho.max_body_bytes = config.max_body_bytes;
  c->http = std::make_unique<http::HttpServer>(ho, &c->router, c->api->AuthMiddleware(),
                                               &api::ManagementApi::ErrorFor);
  auto server = std::unique_ptr<Server>(new Server(config, std::move(c)));
  server->bootstrap_token_ = std::move(bootstrap);
  return server;
}

Server::Server(ServerConfig config, std::unique_ptr<Components> c)
    : config_(std::move(config)), c_(std::move(c)) {}

Server::~Server() { Stop(); }

absl::Status Server::Start() {
  HS_RETURN_IF_ERROR(c_->monitor->Start());
  HS_RETURN_IF_ERROR(c_->http->Start());
  Components* c = c_.get();
  c_->restorer = std::thread([c] {
    int n = c->deployments->RestoreAll();
    if (n > 0) log::Info("endpoints restored", {{"count", n}});
    // Approved deploys whose start a restart interrupted start now, on the restored endpoints.
    c->approvals->Resume();
    c->ready.store(true);
  });
  c_->deployments->StartOrchestrator();
  log::Info("listening", {{"http", absl::StrCat(config_.http_address.substr(
                                                    0, config_.http_address.rfind(':')),
                                                ":", c_->http->port())},
                          {"data_dir", config_.data_dir}});
  return absl::OkStatus();
}

void Server::Stop() {
  if (!c_) return;
  if (c_->http) c_->http->Stop();
  if (c_->restorer.joinable()) c_->restorer.join();
  if (c_->deployments) c_->deployments->StopOrchestrator();
  if (c_->deployments) c_->deployments->WaitLoadsIdle();
  if (c_->monitor) c_->monitor->Stop();
  if (c_->tracer) c_->tracer->Stop();  // last: sends the spans of everything that stopped
}

bool Server::ready() const { return c_->ready.load(); }

void Server::WaitReady() const {
  while (!c_->ready.load()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

int Server::http_port() const { return c_->http->port(); }

const std::vector<http::Route>& Server::routes() const { return c_->router.routes(); }

int RunServe(const ServerConfig& config, std::ostream& out, std::ostream& err) {
  // Block the shutdown signals before any thread starts, then wait for them here.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = Server::Create(config);
  if (!server.ok()) {
    err << "hotswap serve: " << server.status().message() << "\n";
    return 1;
  }
  if (absl::Status s = (*server)->Start(); !s.ok()) {
    err << "hotswap serve: " << s.message() << "\n";
    return 1;
  }
  std::string host = config.http_address.substr(0, config.http_address.rfind(':'));
  std::string url = absl::StrCat("http://", host, ":", (*server)->http_port());
  out << "HotSwap serving on " << url << " (data dir " << config.data_dir << ")\n";
  if (!(*server)->bootstrap_token().empty()) {
    out << "Admin API token (shown once; also saved to " << config.data_dir
              << "/admin.token, mode 0600):\n  " << (*server)->bootstrap_token() << "\n";
  }
  out << "Try: HOTSWAP_URL=" << url << " HOTSWAP_TOKEN=$(cat " << config.data_dir
            << "/admin.token) hotswap model list\n"
            << std::flush;
  int sig = 0;
  sigwait(&set, &sig);
  log::Info("shutting down", {{"signal", sig}});
  (*server)->Stop();
  log::Info("stopped");
  return 0;
}

}  // namespace hotswap::server
