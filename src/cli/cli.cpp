#include "cli/cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/api_client.h"
#include "cli/drift_commands.h"
#include "server/server.h"
#include "serving/rollout.h"

namespace hotswap::cli {
namespace {

using nlohmann::json;

constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;
constexpr int kExitAuditBroken = 4;  // `audit verify` found the log tampered with

struct Globals {
  std::string url;
  std::string token;
  bool json = false;
};

std::string EnvOr(const char* name, std::string def) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : std::move(def);
}

// A fixed-width table for people.
void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t i = 0; i < cells.size(); ++i) {
      s += cells[i];
      if (i + 1 < cells.size()) s += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    out << s << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

std::string TagsText(const json& tags) {
  std::vector<std::string> parts;
  if (tags.is_object())
    for (const auto& [k, v] : tags.items()) parts.push_back(k + "=" + (v.is_string() ? v.get<std::string>() : v.dump()));
  return absl::StrJoin(parts, ",");
}

std::string HumanBytes(int64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  std::ostringstream s;
  s.precision(u == 0 ? 0 : 1);
  s << std::fixed << v << " " << units[u];
  return s.str();
}

// A progress bar on stderr, drawn only when stderr is a terminal.
ProgressFn ProgressBar(std::ostream& err, std::string label) {
  if (!isatty(STDERR_FILENO)) return nullptr;
  auto last = std::make_shared<int>(-1);
  return [&err, label, last](int64_t done, int64_t total) {
    if (total <= 0) return;
    int pct = static_cast<int>(done * 100 / total);
    if (pct == *last) return;
    *last = pct;
    int filled = pct * 30 / 100;
    err << "\r" << label << " [" << std::string(filled, '#') << std::string(30 - filled, ' ')
        << "] " << pct << "% " << HumanBytes(done) << "/" << HumanBytes(total);
    if (done >= total) err << "\n";
    err.flush();
  };
}

absl::StatusOr<std::map<std::string, std::string>> ParseTagArgs(const std::vector<std::string>& args) {
  std::map<std::string, std::string> tags;
  for (const auto& a : args) {
    size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--tag '", a, "' must be KEY=VALUE"));
    }
    tags[a.substr(0, eq)] = a.substr(eq + 1);
  }
  return tags;
}

absl::StatusOr<json> ReadJsonFile(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", what, " file '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " file '", path, "' is not valid JSON"));
  }
  return j;
}

class Cli {
 public:
  Cli(std::ostream& out, std::ostream& err) : out_(out), err_(err) {}

  int Run(int argc, const char* const* argv);

 private:
  ApiClient Client() const { return ApiClient(g_.url, g_.token); }

  // Prints the error and returns the exit code for it.
  int Fail(const absl::Status& s) {
    err_ << "error: " << s.message() << "\n";
    if (absl::IsUnavailable(s) && s.message().find("cannot reach") != std::string_view::npos) {
      return kExitUnreachable;
    }
    if (absl::IsUnauthenticated(s) && g_.token.empty()) {
      err_ << "hint: pass --token or set HOTSWAP_TOKEN (the first admin token is in "
              "DATA_DIR/admin.token)\n";
    }
    return absl::IsInvalidArgument(s) && s.message().find("(HTTP") == std::string_view::npos
               ? kExitUsage
               : kExitRefused;
  }

  int PrintJsonOr(const json& j, const std::function<void()>& human) {
    if (g_.json) out_ << j.dump(2) << "\n";
    else human();
    return 0;
  }

  void PrintModel(const json& m) {
    out_ << "name:        " << m.value("name", "") << "\n"
         << "description: " << m.value("description", "") << "\n"
         << "tags:        " << TagsText(m.value("tags", json::object())) << "\n"
         << "created:     " << m.value("created_at", "") << "\n"
         << "updated:     " << m.value("updated_at", "") << "\n";
    if (m.contains("aliases")) out_ << "aliases:     " << TagsText(m["aliases"]) << "\n";
  }

  void PrintVersion(const json& v) {
    out_ << "model:     " << v.value("model_name", "") << "\n"
         << "version:   " << v.value("version", 0) << "\n"
         << "framework: " << v.value("framework", "") << "\n"
         << "status:    " << v.value("status", "") << "\n"
         << "sha256:    " << v.value("sha256", "") << "\n"
         << "size:      " << HumanBytes(v.value("size_bytes", int64_t{0})) << "\n"
         << "aliases:   " << absl::StrJoin(v.value("aliases", std::vector<std::string>{}), ",") << "\n"
         << "tags:      " << TagsText(v.value("tags", json::object())) << "\n"
         << "created:   " << v.value("created_at", "") << " by " << v.value("created_by", "") << "\n";
    if (v.contains("parent_version")) out_ << "parent:    " << v["parent_version"].dump() << "\n";
  }

  // One line per stored validation report: "validation: registration passed", ...
  void PrintValidationSummary(const json& val) {
    if (val.value("reports", json::array()).empty()) {
      out_ << "validation: none\n";
      return;
    }
    for (const auto& r : val["reports"]) {
      out_ << "validation: " << r.value("context", "") << " " << r.value("state", "");
      json failed = r["report"].value("failed_gates", json::array());
      if (!failed.empty()) {
        out_ << " (failed: " << absl::StrJoin(failed.get<std::vector<std::string>>(), ", ") << ")";
      }
      out_ << "\n";
    }
  }

  // A report's gates as a table.
  void PrintReport(const json& report) {
    out_ << "model " << report.value("model", "") << " version " << report.value("version", 0)
         << " (" << report.value("context", "") << "): "
         << (report.value("passed", false) ? "passed" : "FAILED");
    if (report.contains("serving_version") && !report["serving_version"].is_null()) {
      out_ << " against " << report.value("serving_model", "") << " version "
           << report["serving_version"].dump();
    }
    out_ << "\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& g : report.value("gates", json::array())) {
      rows.push_back({g.value("name", ""), g.value("status", ""), g.value("detail", "")});
    }
    PrintTable(out_, {"GATE", "STATUS", "DETAIL"}, rows);
  }

  void PrintApproval(const json& a) {
    out_ << "id:         " << a.value("id", "") << "\n"
         << "state:      " << a.value("state", "") << "\n"
         << "endpoint:   " << a.value("endpoint", "") << "\n"
         << "model:      " << a.value("model", "") << " version " << a.value("version", 0) << "\n"
         << "deployment: " << a.value("deployment_id", "") << "\n"
         << "requested:  " << a.value("created_at", "") << " by " << a.value("requested_by", "")
         << " (" << a.value("requester_role", "") << ")\n"
         << "approvals:  " << a.value("approvals", 0) << " of " << a.value("required_approvals", 0)
         << "\n"
         << "expires:    " << a.value("expires_at", "") << "\n";
    if (!a.value("message", "").empty()) out_ << "message:    " << a.value("message", "") << "\n";
    if (a.contains("override") && a["override"].is_object()) {
      out_ << "override:   by " << a["override"].value("by", "") << ": "
           << a["override"].value("reason", "") << "\n";
    }
    for (const auto& d : a.value("decisions", json::array())) {
      out_ << "  " << d.value("at", "") << " " << d.value("actor", "") << " ("
           << d.value("role", "") << ") " << d.value("decision", "");
      if (!d.value("comment", "").empty()) out_ << ": " << d.value("comment", "");
      out_ << "\n";
    }
  }

  std::ostream& out_;
  std::ostream& err_;
  Globals g_;
};

int Cli::Run(int argc, const char* const* argv) {
  CLI::App app{"HotSwap — put ML models into production safely.\n"
               "`hotswap serve` runs the server; the other commands talk to a running server, except the\n"
               "offline `profile` and `drift` (docs/monitoring.md).",
               "hotswap"};
  app.require_subcommand(1);
  g_.url = EnvOr("HOTSWAP_URL", "http://127.0.0.1:8080");
  g_.token = EnvOr("HOTSWAP_TOKEN", "");
  app.add_option("--url", g_.url, "Server URL (env HOTSWAP_URL)")->capture_default_str();
  app.add_option("--token", g_.token, "API token (env HOTSWAP_TOKEN)");
  app.add_flag("--json", g_.json, "Machine-readable JSON output");
  int rc = 0;

  // serve
  server::ServerConfig cfg;
  std::string config_file;
  auto* serve = app.add_subcommand("serve", "Run the HotSwap server");
  serve->add_option("--data-dir", cfg.data_dir, "Data directory (registry, artifacts, admin token)")
      ->capture_default_str();
  serve->add_option("--http", cfg.http_address, "HTTP listen address HOST:PORT (port 0 = any)")
      ->capture_default_str();
  serve->add_option("--config", config_file,
                    "JSON config file (keys: data_dir, http_address, registry_url, artifacts_url, "
                    "s3_endpoint, s3_region, s3_addressing, s3_access_key_id, s3_secret_access_key, "
                    "s3_session_token, artifact_cache_dir, artifact_cache_max_bytes, "
                    "s3_multipart_threshold_bytes, s3_part_size_bytes, s3_max_attempts, threads, "
                    "max_body_bytes, "
                    "max_artifact_bytes, log_level, max_inflight_per_endpoint, "
                    "max_infer_body_bytes, warmup_runs, load_timeout_ms, intra_op_threads, memory_arena, "
                    "audit_key, audit_key_file, audit_checkpoint_every, otlp_endpoint, "
                    "trace_sample_ratio, shadow_cpu_share, monitoring, prediction_ttl_s, "
                    "prediction_store_capacity, "
                    "monitor_tick_ms, alert_webhook_url, deployment_webhook_url, "
                    "approval_webhook_url, validate_on_register, validate_all_deploys, "
                    "validation_load_budget_ms, validation_memory_budget_bytes, "
                    "validation_benchmark_runs, validation_report_ttl_s); flags override it");
  serve->add_option("--registry-url", cfg.registry_url,
                    "PostgreSQL registry, postgresql://user:pass@host:port/db (default: SQLite in "
                    "the data dir)");
  serve->add_option("--artifacts-url", cfg.artifacts_url,
                    "Artifact store: s3://bucket[/prefix] for any S3 API server (default: local "
                    "files in the data dir). Credentials from AWS_ACCESS_KEY_ID / "
                    "AWS_SECRET_ACCESS_KEY or the config file");
  serve->add_option("--s3-endpoint", cfg.s3_endpoint,
                    "S3 endpoint for MinIO and other non-AWS servers, e.g. http://127.0.0.1:9000 "
                    "(default: $AWS_ENDPOINT_URL, else AWS)");
  serve->add_option("--s3-region", cfg.s3_region,
                    "S3 region (default: $AWS_REGION, else us-east-1)");
  serve->add_option("--s3-addressing", cfg.s3_addressing,
                    "path or virtual (default: path with --s3-endpoint, virtual on AWS)")
      ->check(CLI::IsMember({"path", "virtual"}));
  serve->add_option("--artifact-cache-dir", cfg.artifact_cache_dir,
                    "Local cache of S3 artifacts (default: DATA_DIR/artifact-cache)");
  serve->add_option("--artifact-cache-max-bytes", cfg.artifact_cache_max_bytes,
                    "Size bound of that cache (least recently used artifacts are evicted)")
      ->capture_default_str();
  serve->add_option("--threads", cfg.threads, "HTTP worker threads (0 = cores)")->capture_default_str();
  serve->add_option("--max-artifact-bytes", cfg.max_artifact_bytes, "Largest artifact accepted")
      ->capture_default_str();
  serve->add_option("--log-level", cfg.log_level, "debug|info|warn|error")->capture_default_str();
  serve->add_option("--max-inflight", cfg.max_inflight_per_endpoint,
                    "Concurrent infer requests per endpoint; beyond it 503 + Retry-After")
      ->capture_default_str();
  serve->add_option("--warmup-runs", cfg.warmup_runs, "Runs before a loaded version is published")
      ->capture_default_str();
  serve->add_option("--load-timeout-ms", cfg.load_timeout_ms, "Fetch + load + warm-up time limit")
      ->capture_default_str();
  serve->add_option("--intra-op-threads", cfg.intra_op_threads, "Engine threads per inference run")
      ->capture_default_str();
  bool memory_arena = false;
  serve->add_flag("--memory-arena", memory_arena,
                  "Give ONNX Runtime sessions their CPU memory arena and memory-pattern planning "
                  "(off by default: faster on small models; large models may want it)");
  bool no_monitoring = false;
  serve->add_flag("--no-monitoring", no_monitoring,
                  "Do not remember predictions for feedback joins, drift or quality analysis "
                  "(latency windows stay on; docs/monitoring.md)");
  serve->add_option("--prediction-ttl-s", cfg.prediction_ttl_s,
                    "How long a prediction waits for its feedback")
      ->capture_default_str();
  serve->add_option("--prediction-store-capacity", cfg.prediction_store_capacity,
                    "Predictions remembered at most (oldest evicted)")
      ->capture_default_str();
  serve->add_option("--alert-webhook-url", cfg.alert_webhook_url,
                    "POST monitoring alert events here (docs/monitoring.md)");
  serve->add_option("--deployment-webhook-url", cfg.deployment_webhook_url,
                    "POST rollout decisions and deployment outcomes here (docs/rollouts.md)");
  serve->add_option("--audit-key-file", cfg.audit_key_file,
                    "Audit checkpoint HMAC key, hex (default: DATA_DIR/audit.key, generated on "
                    "first start; replicas sharing a registry need the same key)");
  serve->add_option("--audit-checkpoint-every", cfg.audit_checkpoint_every,
                    "Sign an audit checkpoint every N entries (0 = only on demand)")
      ->capture_default_str();
  serve->add_option("--otlp-endpoint", cfg.otlp_endpoint,
                    "OpenTelemetry collector for traces, OTLP/HTTP JSON, e.g. "
                    "http://127.0.0.1:4318 (/v1/traces is appended). Default: tracing off");
  serve->add_option("--trace-sample-ratio", cfg.trace_sample_ratio,
                    "Share of new traces recorded, 0..1 (a request's traceparent decides for "
                    "its own trace)")
      ->capture_default_str();
  serve->add_option("--shadow-cpu-share", cfg.shadow_cpu_share,
                    "Most of one core the shadow worker may use, 0.01..1: a slower shadow "
                    "compares a sample of the mirrored copies and drops the rest (counted)")
      ->capture_default_str();
  serve->callback([&] {
    server::ServerConfig merged;
    if (!config_file.empty()) {
      if (auto s = merged.MergeFile(config_file); !s.ok()) {
        err_ << "error: " << s.message() << "\n";
        rc = kExitUsage;
        return;
      }
    }
    // Flags given on the command line win over the file.
    if (serve->count("--data-dir") || config_file.empty()) merged.data_dir = cfg.data_dir;
    if (serve->count("--http") || config_file.empty()) merged.http_address = cfg.http_address;
    if (serve->count("--registry-url") || config_file.empty()) merged.registry_url = cfg.registry_url;
    if (serve->count("--artifacts-url") || config_file.empty())
      merged.artifacts_url = cfg.artifacts_url;
    if (serve->count("--s3-endpoint") || config_file.empty()) merged.s3_endpoint = cfg.s3_endpoint;
    if (serve->count("--s3-region") || config_file.empty()) merged.s3_region = cfg.s3_region;
    if (serve->count("--s3-addressing") || config_file.empty())
      merged.s3_addressing = cfg.s3_addressing;
    if (serve->count("--artifact-cache-dir") || config_file.empty())
      merged.artifact_cache_dir = cfg.artifact_cache_dir;
    if (serve->count("--artifact-cache-max-bytes") || config_file.empty())
      merged.artifact_cache_max_bytes = cfg.artifact_cache_max_bytes;
    if (serve->count("--threads") || config_file.empty()) merged.threads = cfg.threads;
    if (serve->count("--max-artifact-bytes") || config_file.empty())
      merged.max_artifact_bytes = cfg.max_artifact_bytes;
    if (serve->count("--log-level") || config_file.empty()) merged.log_level = cfg.log_level;
    if (serve->count("--max-inflight") || config_file.empty())
      merged.max_inflight_per_endpoint = cfg.max_inflight_per_endpoint;
    if (serve->count("--warmup-runs") || config_file.empty()) merged.warmup_runs = cfg.warmup_runs;
    if (serve->count("--load-timeout-ms") || config_file.empty())
      merged.load_timeout_ms = cfg.load_timeout_ms;
    if (serve->count("--intra-op-threads") || config_file.empty())
      merged.intra_op_threads = cfg.intra_op_threads;
    if (no_monitoring) merged.monitoring = false;
    if (memory_arena) merged.memory_arena = true;
    if (serve->count("--prediction-ttl-s") || config_file.empty())
      merged.prediction_ttl_s = cfg.prediction_ttl_s;
    if (serve->count("--prediction-store-capacity") || config_file.empty())
      merged.prediction_store_capacity = cfg.prediction_store_capacity;
    if (serve->count("--alert-webhook-url") || config_file.empty())
      merged.alert_webhook_url = cfg.alert_webhook_url;
    if (serve->count("--deployment-webhook-url") || config_file.empty())
      merged.deployment_webhook_url = cfg.deployment_webhook_url;
    if (serve->count("--audit-key-file") || config_file.empty())
      merged.audit_key_file = cfg.audit_key_file;
    if (serve->count("--audit-checkpoint-every") || config_file.empty())
      merged.audit_checkpoint_every = cfg.audit_checkpoint_every;
    if (serve->count("--otlp-endpoint") || config_file.empty())
      merged.otlp_endpoint = cfg.otlp_endpoint;
    if (serve->count("--trace-sample-ratio") || config_file.empty())
      merged.trace_sample_ratio = cfg.trace_sample_ratio;
    if (serve->count("--shadow-cpu-share") || config_file.empty())
      merged.shadow_cpu_share = cfg.shadow_cpu_share;
    if (auto s = merged.Validate(); !s.ok()) {
      err_ << "error: " << s.message() << "\n";
      rc = kExitUsage;
      return;
    }
    rc = server::RunServe(merged, out_, err_);
  });

  // model
  auto* model = app.add_subcommand("model", "Register, list, show and delete models");
  model->require_subcommand(1);
  std::string m_name, m_desc, m_prefix, m_framework, m_tag_filter;
  std::vector<std::string> m_tags;
  int m_limit = 50;
  bool m_force = false;
  auto* m_register = model->add_subcommand("register", "Register a new model");
  m_register->add_option("name", m_name, "Model name")->required();
  m_register->add_option("--description", m_desc, "Description");
  m_register->add_option("--tag", m_tags, "Tag KEY=VALUE (repeatable)");
  m_register->callback([&] {
    auto tags = ParseTagArgs(m_tags);
    if (!tags.ok()) { rc = Fail(tags.status()); return; }
    json body{{"name", m_name}};
    if (!m_desc.empty()) body["description"] = m_desc;
    if (!tags->empty()) body["tags"] = *tags;
    auto r = Client().Call("POST", "/api/v1/models", &body);
    if (!r.ok()) { rc = Fail(r.status()); return; }
    rc = PrintJsonOr(r->Json(), [&] { out_ << "registered model '" << m_name << "'\n"; });
  });
  auto* m_list = model->add_subcommand("list", "List models");
  m_list->add_option("--prefix", m_prefix, "Only names starting with this");
  m_list->add_option("--tag", m_tag_filter, "Only models with tag KEY=VALUE");
  m_list->add_option("--framework", m_framework, "Only models with a version in this framework");
  m_list->add_option("--limit", m_limit, "Page size (1-1000)")->capture_default_str();
  m_list->callback([&] {
    json all = json::array();
    std::string token;
    do {
      std::string q = absl::StrCat("/api/v1/models?limit=", m_limit);
      if (!m_prefix.empty()) q += "&name_prefix=" + UrlEncode(m_prefix);
      if (!m_tag_filter.empty()) q += "&tag=" + UrlEncode(m_tag_filter);
      if (!m_framework.empty()) q += "&framework=" + UrlEncode(m_framework);
      if (!token.empty()) q += "&page_token=" + UrlEncode(token);
      auto r = Client().Call("GET", q);
      if (!r.ok()) { rc = Fail(r.status()); return; }
      json j = r->Json();
      for (auto& m : j["models"]) all.push_back(m);
      token = j.value("next_page_token", "");
    } while (!token.empty());
    rc = PrintJsonOr(json{{"models", all}}, [&] {
      std::vector<std::vector<std::string>> rows;
      for (const auto& m : all)
        rows.push_back({m.value("name", ""), m.value("description", ""),
                        TagsText(m.value("tags", json::object())), m.value("updated_at", "")});
      PrintTable(out_, {"NAME", "DESCRIPTION", "TAGS", "UPDATED"}, rows);
    });
  });
  auto* m_show = model->add_subcommand("show", "Show one model");
  m_show->add_option("name", m_name, "Model name")->required();
  m_show->callback([&] {
    auto r = Client().Call("GET", "/api/v1/models/" + UrlEncode(m_name));
    if (!r.ok()) { rc = Fail(r.status()); return; }
    rc = PrintJsonOr(r->Json(), [&] { PrintModel(r->Json()); });
  });
  auto* m_delete = model->add_subcommand("delete", "Delete a model with all its versions (admin)");
  m_delete->add_option("name", m_name, "Model name")->required();
  m_delete->add_flag("--force", m_force, "Delete even when a version is deployed");
  m_delete->callback([&] {
    auto r = Client().Call("DELETE", "/api/v1/models/" + UrlEncode(m_name) +
                                         (m_force ? "?force=true" : ""));
    if (!r.ok()) { rc = Fail(r.status()); return; }
    rc = PrintJsonOr(r->Json(), [&] { out_ << "deleted model '" << m_name << "'\n"; });
  });

  // version
  auto* version = app.add_subcommand("version", "Upload, list, show and download model versions");
  version->require_subcommand(1);
  std::string v_model, v_file, v_framework, v_metadata_file, v_schema_file, v_ref, v_out;
  int64_t v_number = 0, v_parent = 0;
  std::vector<std::string> v_tags;
  auto* v_upload = version->add_subcommand("upload", "Upload an artifact as a new version");
  v_upload->add_option("model", v_model, "Model name")->required();
  v_upload->add_option("file", v_file, "Artifact file (e.g. model.onnx)")->required()->check(CLI::ExistingFile);
  v_upload->add_option("--framework", v_framework, "onnx|tensorflow|torchscript|xgboost (default onnx)");
  v_upload->add_option("--version", v_number, "Version number (default: next)");
  v_upload->add_option("--metadata", v_metadata_file,
                       "JSON file with metadata (schema, training, baseline, preprocessing, ...)");
  v_upload->add_option("--schema", v_schema_file, "JSON file with the tensor schema");
  v_upload->add_option("--parent", v_parent, "Parent version (lineage)");
  v_upload->add_option("--tag", v_tags, "Tag KEY=VALUE (repeatable)");
  v_upload->callback([&] {
    json meta = json::object();
    if (!v_metadata_file.empty()) {
      auto j = ReadJsonFile(v_metadata_file, "metadata");
      if (!j.ok()) { rc = Fail(j.status()); return; }
      meta = *j;
    }
    if (!v_schema_file.empty()) {
      auto j = ReadJsonFile(v_schema_file, "schema");
      if (!j.ok()) { rc = Fail(j.status()); return; }
      meta["schema"] = *j;
    }
    if (!v_framework.empty()) meta["framework"] = v_framework;
    if (!meta.contains("framework")) meta["framework"] = "onnx";
    if (v_number > 0) meta["version"] = v_number;
    if (v_parent > 0) meta["parent_version"] = v_parent;
    auto tags = ParseTagArgs(v_tags);
    if (!tags.ok()) { rc = Fail(tags.status()); return; }
    if (!tags->empty()) meta["tags"] = *tags;
    auto sha = Sha256OfFile(v_file);
    if (!sha.ok()) { rc = Fail(sha.status()); return; }
    auto r = Client().Upload("/api/v1/models/" + UrlEncode(v_model) + "/versions", meta.dump(),
                             v_file, *sha, ProgressBar(err_, "uploading"));
    if (!r.ok()) { rc = Fail(r.status()); return; }
    json v = r->Json();
    rc = PrintJsonOr(v, [&] {
      out_ << "uploaded " << v_model << " version " << v.value("version", 0) << " (sha256 "
           << v.value("sha256", "") << ", " << HumanBytes(v.value("size_bytes", int64_t{0})) << ")\n";
    });
  });
  auto* v_list = version->add_subcommand("list", "List the versions of a model");
  v_list->add_option("model", v_model, "Model name")->required();
  v_list->callback([&] {
    json all = json::array();
    std::string token;
    do {
      std::string q = "/api/v1/models/" + UrlEncode(v_model) + "/versions?limit=1000";
      if (!token.empty()) q += "&page_token=" + UrlEncode(token);
      auto r = Client().Call("GET", q);
      if (!r.ok()) { rc = Fail(r.status()); return; }
      json j = r->Json();
      for (auto& v : j["versions"]) all.push_back(v);
      token = j.value("next_page_token", "");
    } while (!token.empty());
    rc = PrintJsonOr(json{{"versions", all}}, [&] {
      std::vector<std::vector<std::string>> rows;
      for (const auto& v : all)
        rows.push_back({std::to_string(v.value("version", 0)), v.value("framework", ""),
                        v.value("status", ""),
                        absl::StrJoin(v.value("aliases", std::vector<std::string>{}), ","),
                        HumanBytes(v.value("size_bytes", int64_t{0})),
                        v.value("sha256", "").substr(0, 12), v.value("created_at", "")});
      PrintTable(out_, {"VERSION", "FRAMEWORK", "STATUS", "ALIASES", "SIZE", "SHA256", "CREATED"},
                 rows);
    });
  });
  auto* v_show = version->add_subcommand("show", "Show one version (number or alias)");
  v_show->add_option("model", v_model, "Model name")->required();
  v_show->add_option("version", v_ref, "Version number or alias")->required();
  v_show->callback([&] {
    auto r = Client().Call("GET", "/api/v1/models/" + UrlEncode(v_model) + "/versions/" + UrlEncode(v_ref));
    if (!r.ok()) { rc = Fail(r.status()); return; }
    json v = r->Json();
    // The validation gates' reports (docs/governance.md); shown when the server has them.
    auto val = Client().Call("GET", "/api/v1/models/" + UrlEncode(v_model) + "/versions/" +
                                        UrlEncode(v_ref) + "/validation");
    if (val.ok()) v["validation"] = val->Json();
    rc = PrintJsonOr(v, [&] {
      PrintVersion(v);
      if (v.contains("validation")) PrintValidationSummary(v["validation"]);
    });
  });
  auto* v_download = version->add_subcommand("download", "Download a version's artifact (verified)");
  v_download->add_option("model", v_model, "Model name")->required();
  v_download->add_option("version", v_ref, "Version number or alias")->required();
  v_download->add_option("-o,--output", v_out, "Output file (default MODEL-VERSION.bin)");
  v_download->callback([&] {
    std::string dest = v_out.empty() ? v_model + "-" + v_ref + ".bin" : v_out;
    auto r = Client().Download(
        "/api/v1/models/" + UrlEncode(v_model) + "/versions/" + UrlEncode(v_ref) + "/artifact", dest,
        ProgressBar(err_, "downloading"));
    if (!r.ok()) { rc = Fail(r.status()); return; }
    json j{{"path", dest}, {"sha256", r->headers.count("x-content-sha256") ? r->headers["x-content-sha256"] : ""}};
    rc = PrintJsonOr(j, [&] { out_ << "saved " << dest << " (sha256 verified)\n"; });
  });

  // dataset
  auto* dataset = app.add_subcommand(
      "dataset", "Attach CSV datasets to a version: holdout (validation gates), reference "
                 "(drift), background (explanations)");
  dataset->require_subcommand(1);
  std::string ds_model, ds_version, ds_kind, ds_file;
  auto* ds_put = dataset->add_subcommand(
      "put", "Store FILE.csv (header row; numeric where the version's schema says so) as the "
             "version's dataset of KIND, replacing the one it had");
  ds_put->add_option("model", ds_model, "Model name")->required();
  ds_put->add_option("version", ds_version, "Version number or alias")->required();
  ds_put->add_option("kind", ds_kind, "holdout, reference or background")
      ->required()
      ->check(CLI::IsMember({"holdout", "reference", "background"}));
  ds_put->add_option("file", ds_file, "CSV file")->required();
  ds_put->callback([&] {
    std::ifstream in(ds_file, std::ios::binary);
    if (!in) {
      rc = Fail(absl::InvalidArgumentError(absl::StrCat("cannot read CSV file '", ds_file, "'")));
      return;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string csv = ss.str();
    auto r = Client().Send("PUT", "/api/v1/models/" + UrlEncode(ds_model) + "/versions/" +
                                      UrlEncode(ds_version) + "/datasets/" + UrlEncode(ds_kind),
                           &csv, "text/csv");
    if (!r.ok()) { rc = Fail(r.status()); return; }
    json j = r->Json();
    rc = PrintJsonOr(j, [&] {
      out_ << (r->status == 201 ? "stored " : "replaced ") << ds_kind << " dataset of " << ds_model
           << " version " << j.value("version", 0) << ": " << j.value("rows", 0) << " rows, "
           << j.value("columns", json::array()).size() << " columns (sha256 "
           << j.value("sha256", "") << ")\n";
    });
  });
  auto* ds_list = dataset->add_subcommand("list", "List a version's datasets");
  ds_list->add_option("model", ds_model, "Model name")->required();
  ds_list->add_option("version", ds_version, "Version number or alias")->required();
  ds_list->callback([&] {
    auto r = Client().Call("GET", "/api/v1/models/" + UrlEncode(ds_model) + "/versions/" +
                                      UrlEncode(ds_version) + "/datasets");
    if (!r.ok()) { rc = Fail(r.status()); return; }
    json j = r->Json();
    rc = PrintJsonOr(j, [&] {
      std::vector<std::vector<std::string>> rows;
      for (const auto& d : j["datasets"]) {
        rows.push_back({d.value("kind", ""), std::to_string(d.value("rows", 0)),
                        std::to_string(d.value("columns", json::array()).size()),
                        HumanBytes(d.value("size_bytes", int64_t{0})),
                        d.value("sha256", "").substr(0, 12), d.value("created_at", "")});
      }
      PrintTable(out_, {"KIND", "ROWS", "COLUMNS", "SIZE", "SHA256", "CREATED"}, rows);
    });
  });

  // alias
  auto* alias = app.add_subcommand("alias", "Point names such as 'production' at versions");
  alias->require_subcommand(1);
  std::string a_model, a_alias;
  int64_t a_version = 0;
  auto* a_set = alias->add_subcommand("set", "Create or move an alias (atomic)");
  a_set->add_option("model", a_model, "Model name")->required();
  a_set->add_option("alias", a_alias, "Alias, e.g. production")->required();
  a_set->add_option("version", a_version, "Version number")->required();
  a_set->callback([&] {
    json body{{"version", a_version}};
    auto r = Client().Call("PUT", "/api/v1/models/" + UrlEncode(a_model) + "/aliases/" + UrlEncode(a_alias), &body);
    if (!r.ok()) { rc = Fail(r.status()); return; }
    rc = PrintJsonOr(r->Json(), [&] {
      out_ << a_model << "@" << a_alias << " -> version " << a_version << "\n";
    });
  });
  auto* a_delete = alias->add_subcommand("delete", "Delete an alias");
  a_delete->add_option("model", a_model, "Model name")->required();
  a_delete->add_option("alias", a_alias, "Alias")->required();
  a_delete->callback([&] {
    auto r = Client().Call("DELETE", "/api/v1/models/" + UrlEncode(a_model) + "/aliases/" + UrlEncode(a_alias));
    if (!r.ok()) { rc = Fail(r.status()); return; }
    rc = PrintJsonOr(json{{"deleted", a_alias}}, [&] { out_ << "deleted alias '" << a_alias << "'\n"; });
  });
  auto* a_list = alias->add_subcommand("list", "List a model's aliases");
  a_list->add_option("model", a_model, "Model name")->required();
  a_list->callback([&] {
    auto r = Client().Call("GET", "/api/v1/models/" + UrlEncode(a_model) + "/aliases");
    if (!r.ok()) { rc = Fail(r.status()); return; }
    json j = r->Json();
    rc = PrintJsonOr(j, [&] {
      std::vector<std::vector<std::string>> rows;
      for (const auto& [k, v] : j["aliases"].items()) rows.push_back({k, v.dump()});
      PrintTable(out_, {"ALIAS", "VERSION"}, rows);
    });
  });

  // deploy, endpoints, deployments
  auto* deploy = app.add_subcommand(
      "deploy", "Deploy a version to an endpoint: load, warm up, then switch atomically");
  std::string d_model, d_alias, d_endpoint, d_strategy = "direct";
  int64_t d_version = 0;
  bool d_no_wait = false;
  deploy->add_option("model", d_model, "Model name")->required();
  deploy->add_option("--version", d_version, "Version number (default: --alias, else the latest)");
  deploy->add_option("--alias", d_alias, "Deploy the version this alias points at");
  deploy->add_option("--endpoint", d_endpoint, "Endpoint name (default: the model name)");
  deploy->add_option("--strategy", d_strategy,
                     "direct | canary | rolling | blue-green | shadow | ab-test (progressive strategies "
                     "roll the version out beside the serving one; see docs/rollouts.md)")
      ->capture_default_str();
  std::string d_steps, d_analysis;
  double d_batches = 0, d_pause_s = -1, d_preview_s = -1, d_window_s = -1, d_deadline_s = 0;
  deploy->add_option("--steps", d_steps,
                     "canary steps WEIGHT%:DURATION, e.g. 5:60s,25:2m,50:2m (then promotion)");
  deploy->add_option("--batches", d_batches, "rolling: equal traffic steps (default 4)");
  deploy->add_option("--pause-s", d_pause_s, "rolling: seconds per batch (default 60)");
  deploy->add_option("--preview-s", d_preview_s,
                     "blue-green: seconds at 0% before the switch (default 0)");
  deploy->add_option("--rollback-window-s", d_window_s,
                     "blue-green: seconds blue stays warm after the switch (default 300)");
  deploy->add_option("--analysis", d_analysis,
                     "analysis options as JSON, e.g. '{\"max_error_rate\":0.02,"
                     "\"max_p99_ms\":20,\"min_requests\":100}'");
  deploy->add_option("--deadline-s", d_deadline_s, "whole rollout deadline in seconds");
  double d_duration_s = -1, d_mirror = -1;
  bool d_auto_promote = false;
  deploy->add_option("--duration-s", d_duration_s,
                     "shadow: seconds of mirroring (default 600); ab-test: the horizon (default "
                     "86400)");
  double d_weight = -1, d_alpha = -1, d_min_samples = -1;
  std::string d_metric;
  deploy->add_option("--weight", d_weight, "ab-test: candidate share in percent (default 50)");
  deploy->add_option("--metric", d_metric,
                     "ab-test: accuracy | mae | outcome:NAME, from feedback (default accuracy)");
  deploy->add_option("--alpha", d_alpha, "ab-test: significance level (default 0.05)");
  deploy->add_option("--min-samples", d_min_samples,
                     "ab-test: feedback items per variant before a winner (default 200)");
  deploy->add_option("--mirror-percent", d_mirror,
                     "shadow: share of requests copied to the candidate (default 100)");
  deploy->add_flag("--auto-promote", d_auto_promote,
                   "shadow, ab-test: promote when the comparison passes / the candidate wins "
                   "(else pause for promote)");
  deploy->add_flag("--no-wait", d_no_wait, "Return once the deployment is accepted");
  std::string d_override;
  deploy->add_option("--override-reason", d_override,
                     "Deploy although the validation gates failed (the endpoint's approval policy "
                     "must allow it and name your role; audited)");
  deploy->callback([&] {
    json body{{"model", d_model}, {"strategy", d_strategy}};
    if (d_version > 0) body["version"] = d_version;
    if (!d_alias.empty()) body["alias"] = d_alias;
    if (!d_endpoint.empty()) body["endpoint"] = d_endpoint;
    if (!d_steps.empty()) {
      auto steps = serving::ParseStepList(d_steps);
      if (!steps.ok()) {
        err_ << "error: --steps: " << steps.status().message() << "\n";
        rc = kExitUsage;
        return;
      }
      body["steps"] = json::array();
      for (const auto& st : *steps) {
        body["steps"].push_back({{"weight", st.weight_bp / 100.0}, {"duration_s", st.duration_ms / 1000.0}});
      }
    }
    if (!d_analysis.empty()) {
      json a = json::parse(d_analysis, nullptr, false);
      if (a.is_discarded() || !a.is_object()) {
        err_ << "error: --analysis must be a JSON object\n";
        rc = kExitUsage;
        return;
      }
      body["analysis"] = a;
    }
    if (d_batches > 0) body["batches"] = d_batches;
    if (d_pause_s >= 0) body["pause_s"] = d_pause_s;
    if (d_preview_s >= 0) body["preview_s"] = d_preview_s;
    if (d_window_s >= 0) body["rollback_window_s"] = d_window_s;
    if (d_deadline_s > 0) body["deadline_s"] = d_deadline_s;
    if (d_duration_s >= 0) body["duration_s"] = d_duration_s;
    if (d_mirror >= 0) body["mirror_percent"] = d_mirror;
    if (d_auto_promote) body["auto_promote"] = true;
    if (d_weight >= 0) body["weight"] = d_weight;
    if (!d_metric.empty()) body["metric"] = d_metric;
    if (d_alpha >= 0) body["alpha"] = d_alpha;
    if (d_min_samples >= 0) body["min_samples"] = d_min_samples;
    if (!d_override.empty()) body["override"] = {{"reason", d_override}};
    auto r = Client().Call("POST", "/api/v1/deployments", &body);
    if (!r.ok()) { rc = Fail(r.status()); return; }
    json d = r->Json();
    std::string id = d.value("id", "");
    bool tty = isatty(STDERR_FILENO);
    for (int i = 0; !d_no_wait && d.value("state", "") == "pending" && i < 6000; ++i) {
      if (tty) {
        err_ << "\rdeploying " << d.value("model_name", "") << " version " << d.value("version", 0)
             << " to " << d.value("endpoint", "") << " " << "|/-\\"[i % 4] << std::flush;
      }
      usleep(100000);
      auto cur = Client().Call("GET", "/api/v1/deployments/" + UrlEncode(id));
      if (!cur.ok()) { rc = Fail(cur.status()); return; }
      d = cur->Json();
    }
    if (tty && !d_no_wait) err_ << "\r";
    rc = PrintJsonOr(d, [&] {
      out_ << "deployment " << id << ": " << d.value("state", "") << " — " << d.value("model_name", "")
           << " version " << d.value("version", 0) << " on endpoint " << d.value("endpoint", "");
      if (!d.value("message", "").empty()) out_ << " (" << d.value("message", "") << ")";
      out_ << "\n";
      if (d.contains("approval_id")) {
        out_ << "held for approval: hotswap approval show " << d.value("approval_id", "") << "\n";
      }
    });
    if (d.value("state", "") == "failed") rc = kExitRefused;
    if (d.value("strategy", "direct") != "direct" && !d_no_wait && !g_.json) {
      out_ << "follow it with: hotswap rollout status " << d.value("endpoint", "") << " --watch\n";
    }
  });

  // rollout
  auto* rollout = app.add_subcommand("rollout", "Watch and steer progressive rollouts");
  rollout->require_subcommand(1);
  std::string r_target;
  bool r_watch = false, r_full = false;
  // The rollout named by an id ("dep-...") or the newest rollout of an endpoint.
  auto find_rollout = [&](const std::string& target) -> absl::StatusOr<json> {
    if (target.rfind("dep-", 0) == 0) {
      auto r = Client().Call("GET", "/api/v1/deployments/" + UrlEncode(target));
      if (!r.ok()) return r.status();
      return r->Json();
    }
    auto r = Client().Call("GET", "/api/v1/deployments?limit=50&endpoint=" + UrlEncode(target));
    if (!r.ok()) return r.status();
    json list = r->Json();  // keep it alive while iterating
    for (const json& d : list["deployments"]) {
      if (d.value("strategy", "direct") != "direct") return d;
    }
    return absl::NotFoundError("endpoint '" + target + "' has no rollout (only direct deployments)");
  };
  auto print_rollout = [&](const json& d) {
    json w = d.value("weights", json::object());
    out_ << d.value("endpoint", "") << ": " << d.value("strategy", "") << " of "
         << d.value("model_name", "") << " version " << d.value("version", 0) << " (stable "
         << d.value("previous_version", 0) << ") — " << d.value("state", "") << "\n";
    out_ << "  step " << d.value("step", 0) << "/" << d["rollout"].value("steps", 0)
         << ", weights: stable " << w.value("stable", 0.0) << "%, candidate "
         << w.value("candidate", 0.0) << "%\n";
    if (!d.value("message", "").empty()) out_ << "  " << d.value("message", "") << "\n";
    auto print_ab = [&](const json& ab) {
      for (const char* side : {"candidate", "stable"}) {
        const json& m = ab[side];
        out_ << "    " << side << ": " << ab.value("metric", "") << " mean " << m.value("mean", 0.0)
             << " over " << m.value("n", 0) << " feedback items (" << m.value("requests", 0)
             << " requests)\n";
      }
      out_ << "    always-valid p " << ab.value("p_value", 1.0) << " (alpha " << ab.value("alpha", 0.0)
           << "), sample-ratio p " << ab.value("srm_p", 1.0) << "\n";
    };
    if (d.value("strategy", "") == "ab-test" && d["rollout"].contains("ab")) {
      out_ << "  A/B test now:\n";
      print_ab(d["rollout"]["ab"]);
    }
    const json decisions = d.value("decisions", json::array());
    for (auto it = decisions.rbegin(); it != decisions.rend(); ++it) {
      if (!it->contains("analysis")) continue;
      const json& a = (*it)["analysis"];
      out_ << "  last analysis (" << it->value("at", "") << ", step " << it->value("step", 0)
           << "): " << it->value("verdict", "") << " — " << it->value("reason", "") << "\n";
      if (a.contains("metric")) {
        print_ab(a);
        break;
      }
      for (const char* side : {"candidate", "stable"}) {
        const json& m = a[side];
        out_ << "    " << side << ": " << m.value("requests", 0) << " requests, error rate "
             << m.value("error_rate", 0.0) << ", p50 " << m.value("p50_ms", 0.0) << " ms, p99 "
             << m.value("p99_ms", 0.0) << " ms\n";
      }
      break;
    }
  };
  auto* r_status = rollout->add_subcommand("status", "Show a rollout: state, step, weights, decisions");
  r_status->add_option("target", r_target, "Endpoint name or deployment id")->required();
  r_status->add_flag("--watch", r_watch, "Refresh every second until the rollout ends");
  r_status->callback([&] {
    std::string last;
    while (true) {
      auto d = find_rollout(r_target);
      if (!d.ok()) { rc = Fail(d.status()); return; }
      std::string state = d->value("state", "");
      bool ended = state == "succeeded" || state == "failed" || state == "aborted" ||
                   state == "rolled_back";
      std::string now = d->dump();
      if (now != last) {
        rc = PrintJsonOr(*d, [&] { print_rollout(*d); });
        out_ << std::flush;
        last = now;
      }
      if (!r_watch || ended) {
        if (state == "failed" || state == "rolled_back") rc = kExitRefused;
        return;
      }
      usleep(1000000);
    }
  });
  for (const char* action : {"promote", "pause", "resume", "abort", "retry"}) {
    std::string help = std::string(action) == "promote"
                           ? "Go to the next step now (--full: promote at once)"
                       : std::string(action) == "pause"  ? "Hold the current weights"
                       : std::string(action) == "resume" ? "Continue a paused rollout"
                       : std::string(action) == "abort"
                           ? "Roll back: all traffic to the stable version"
                           : "Start an ended (aborted, rolled back, failed) rollout again";
    auto* sub = rollout->add_subcommand(action, help);
    sub->add_option("target", r_target, "Endpoint name or deployment id")->required();
    if (std::string(action) == "promote") sub->add_flag("--full", r_full, "Promote at once");
    std::string act = action;
    sub->callback([&, act] {
      auto d = find_rollout(r_target);
      if (!d.ok()) { rc = Fail(d.status()); return; }
      json body = json::object();
      if (act == "promote" && r_full) body["full"] = true;
      auto r = Client().Call("POST",
                             "/api/v1/deployments/" + UrlEncode(d->value("id", "")) + "/" + act,
                             &body);
      if (!r.ok()) { rc = Fail(r.status()); return; }
      json j = r->Json();
      rc = PrintJsonOr(j, [&] { print_rollout(j); });
    });
  }

  auto* endpoint = app.add_subcommand("endpoint", "What the server is serving");
  endpoint->require_subcommand(1);
  std::string e_name;
  auto* e_list = endpoint->add_subcommand("list", "List endpoints with the version each serves");
  e_list->callback([&] {
    auto r = Client().Call("GET", "/api/v1/endpoints");
    if (!r.ok()) { rc = Fail(r.status()); return; }
    json j = r->Json();
    rc = PrintJsonOr(j, [&] {
      std::vector<std::vector<std::string>> rows;
      for (const auto& e : j["endpoints"])
        rows.push_back({e.value("endpoint", ""), e.value("model", ""),
                        std::to_string(e.value("version", 0)), e.value("framework", ""),
                        HumanBytes(e.value("memory_bytes", int64_t{0})), e.value("loaded_at", "")});
      PrintTable(out_, {"ENDPOINT", "MODEL", "VERSION", "FRAMEWORK", "MEMORY", "LOADED"}, rows);
    });
  });
  auto* e_undeploy = endpoint->add_subcommand("undeploy", "Stop serving an endpoint");
  e_undeploy->add_option("name", e_name, "Endpoint name")->required();
  e_undeploy->callback([&] {
    auto r = Client().Call("DELETE", "/api/v1/endpoints/" + UrlEncode(e_name));
    if (!r.ok()) { rc = Fail(r.status()); return; }
    rc = PrintJsonOr(json{{"undeployed", e_name}}, [&] { out_ << "endpoint '" << e_name << "' no longer serves\n"; });
  });

  // monitor / feedback
  std::string mon_endpoint, mon_window = "5m";
  bool mon_watch = false;
  auto* monitor = app.add_subcommand(
      "monitor", "Latency, errors, throughput and accuracy of an endpoint over a sliding window");
  monitor->add_option("endpoint", mon_endpoint, "Endpoint name")->required();
  monitor->add_option("--window", mon_window, "1m, 5m, 1h or 24h")
      ->check(CLI::IsMember({"1m", "5m", "1h", "24h"}))
      ->capture_default_str();
  monitor->add_flag("--watch", mon_watch, "Refresh every 2 seconds (Ctrl-C to stop)");
  monitor->callback([&] {
    auto fmt = [](const json& v, const char* unit = "") {
      if (!v.is_number()) return std::string("-");
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3g%s", v.get<double>(), unit);
      return std::string(buf);
    };
    while (true) {
      auto r = Client().Call("GET", "/api/v1/monitoring/" + UrlEncode(mon_endpoint) +
                                        "?window=" + mon_window);
      if (!r.ok()) { rc = Fail(r.status()); return; }
      json j = r->Json();
      rc = PrintJsonOr(j, [&] {
        out_ << "endpoint " << mon_endpoint << ", window " << mon_window << "\n";
        std::vector<std::vector<std::string>> rows;
        for (const auto& s : j["series"]) {
          const json& t = s["latency_ms"]["total"];
          const json& acc = s["accuracy"];
          std::string quality = "-";
          if (acc["classification"].is_object()) {
            quality = "acc " + fmt(acc["classification"]["accuracy"]) + " (n=" +
                      std::to_string(acc["classification"].value("labelled", 0)) + ")";
          } else if (acc["regression"].is_object()) {
            quality = "mae " + fmt(acc["regression"]["mae"]) + " (n=" +
                      std::to_string(acc["regression"].value("labelled", 0)) + ")";
          }
          std::string alerts;
          for (const auto& a : s["alerts_firing"]) alerts += (alerts.empty() ? "" : ",") + a.get<std::string>();
          rows.push_back({std::to_string(s.value("version", 0)), s.value("variant", ""),
                          std::to_string(s.value("requests", 0)), fmt(s["error_rate"]),
                          fmt(s["throughput_rps"]), fmt(t["p50"], " ms"), fmt(t["p99"], " ms"),
                          quality, alerts.empty() ? "-" : alerts});
        }
        PrintTable(out_, {"VERSION", "VARIANT", "REQUESTS", "ERR RATE", "REQ/S", "P50", "P99",
                          "QUALITY", "ALERTS"},
                   rows);
        const json& f = j["feedback"];
        out_ << "feedback: " << f.value("matched", 0) << " matched, " << f.value("unknown", 0)
             << " unknown, " << f.value("duplicate", 0) << " duplicate; predictions stored: "
             << j["predictions"].value("stored", 0) << "\n";
      });
      out_ << std::flush;
      if (!mon_watch) return;
      usleep(2000000);
    }
  });

  std::string fb_request_id, fb_label, fb_file;
  double fb_value = 0;
  auto* feedback = app.add_subcommand(
      "feedback", "Post ground truth for earlier predictions (one, or a JSON Lines file of items)");
  feedback->add_option("--request-id", fb_request_id, "The infer request's id (or x-request-id)");
  auto* fb_label_opt = feedback->add_option("--label", fb_label, "True class (classification)");
  auto* fb_value_opt = feedback->add_option("--value", fb_value, "True value (regression)");
  feedback->add_option("--file", fb_file,
                       "JSON Lines file, one item per line: {\"request_id\": ..., \"label\"|"
                       "\"value\"|\"outcome\": ...}; posted in batches of 1000")
      ->check(CLI::ExistingFile);
  feedback->callback([&] {
    std::vector<json> items;
    if (!fb_file.empty()) {
      if (!fb_request_id.empty()) {
        rc = Fail(absl::InvalidArgumentError("give --file or --request-id, not both"));
        return;
      }
      std::ifstream in(fb_file);
      std::string line;
      for (int n = 1; std::getline(in, line); ++n) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        json item = json::parse(line, nullptr, false);
        if (item.is_discarded() || !item.is_object()) {
          rc = Fail(absl::InvalidArgumentError(
              absl::StrCat(fb_file, ":", n, ": not a JSON object")));
          return;
        }
        items.push_back(std::move(item));
      }
    } else {
      if (fb_request_id.empty() || (fb_label_opt->count() == 0 && fb_value_opt->count() == 0)) {
        rc = Fail(absl::InvalidArgumentError(
            "give --request-id with --label or --value, or --file FILE.jsonl"));
        return;
      }
      json item = {{"request_id", fb_request_id}};
      if (fb_label_opt->count()) item["label"] = fb_label;
      if (fb_value_opt->count()) item["value"] = fb_value;
      items.push_back(item);
    }
    json total = {{"items", 0}, {"matched", 0}, {"unknown", 0}, {"duplicate", 0}, {"not_applicable", 0}};
    for (size_t i = 0; i < items.size(); i += 1000) {
      json batch = json::array();
      for (size_t k = i; k < std::min(items.size(), i + 1000); ++k) batch.push_back(items[k]);
      json body = {{"items", batch}};
      auto r = Client().Call("POST", "/api/v1/feedback", &body);
      if (!r.ok()) {
        err_ << "items " << i + 1 << "-" << i + batch.size() << " refused; " << i
             << " posted before them\n";
        rc = Fail(r.status());
        return;
      }
      json j = r->Json();
      for (auto& [k, v] : total.items()) v = v.get<int64_t>() + j.value(k, int64_t{0});
      if (items.size() > 1000) {
        err_ << "posted " << std::min(items.size(), i + 1000) << "/" << items.size() << "\n";
      }
    }
    rc = PrintJsonOr(total, [&] {
      out_ << total["items"] << " items: " << total["matched"] << " matched, " << total["unknown"]
           << " unknown, " << total["duplicate"] << " duplicate, " << total["not_applicable"]
           << " not applicable\n";
    });
  });

  auto* deployment = app.add_subcommand("deployment", "Deployment history");
  deployment->require_subcommand(1);
  std::string dep_endpoint, dep_id;
  auto* dep_list = deployment->add_subcommand("list", "List deployments, newest first");
  dep_list->add_option("--endpoint", dep_endpoint, "Only this endpoint");
  dep_list->callback([&] {
    auto r = Client().Call("GET", "/api/v1/deployments" +
                                      (dep_endpoint.empty() ? "" : "?endpoint=" + UrlEncode(dep_endpoint)));
    if (!r.ok()) { rc = Fail(r.status()); return; }
    json j = r->Json();
    rc = PrintJsonOr(j, [&] {
      std::vector<std::vector<std::string>> rows;
      for (const auto& d : j["deployments"])
        rows.push_back({d.value("id", ""), d.value("endpoint", ""), d.value("model_name", ""),
                        std::to_string(d.value("version", 0)), d.value("strategy", ""),
                        d.value("state", ""), d.value("updated_at", "")});
      PrintTable(out_, {"ID", "ENDPOINT", "MODEL", "VERSION", "STRATEGY", "STATE", "UPDATED"}, rows);
    });
  });
  auto* dep_show = deployment->add_subcommand("show", "Show one deployment");
  dep_show->add_option("id", dep_id, "Deployment id")->required();
  dep_show->callback([&] {
    auto r = Client().Call("GET", "/api/v1/deployments/" + UrlEncode(dep_id));
    if (!r.ok()) { rc = Fail(r.status()); return; }
    rc = PrintJsonOr(r->Json(), [&] { out_ << r->Json().dump(2) << "\n"; });
  });

  // approval (docs/governance.md)
  auto* approval = app.add_subcommand(
      "approval", "Approval requests of deploys to protected endpoints, and their policies");
  approval->require_subcommand(1);
  std::string ap_id, ap_comment, ap_state, ap_endpoint, ap_model;
  auto* ap_list = approval->add_subcommand("list", "List approval requests, newest first");
  ap_list->add_option("--state", ap_state,
                      "pending|approved|deployed|failed|rejected|expired");
  ap_list->add_option("--endpoint", ap_endpoint, "Only this endpoint");
  ap_list->add_option("--model", ap_model, "Only this model");
  ap_list->callback([&] {
    std::string q = "/api/v1/approvals?limit=1000";
    if (!ap_state.empty()) q += "&state=" + UrlEncode(ap_state);
    if (!ap_endpoint.empty()) q += "&endpoint=" + UrlEncode(ap_endpoint);
    if (!ap_model.empty()) q += "&model=" + UrlEncode(ap_model);
    auto r = Client().Call("GET", q);
    if (!r.ok()) { rc = Fail(r.status()); return; }
    json j = r->Json();
    rc = PrintJsonOr(j, [&] {
      std::vector<std::vector<std::string>> rows;
      for (const auto& a : j["approvals"]) {
        rows.push_back({a.value("id", ""), a.value("state", ""), a.value("endpoint", ""),
                        a.value("model", ""), std::to_string(a.value("version", 0)),
                        absl::StrCat(a.value("approvals", 0), "/", a.value("required_approvals", 0)),
                        a.value("requested_by", ""), a.value("expires_at", "")});
      }
      PrintTable(out_, {"ID", "STATE", "ENDPOINT", "MODEL", "VERSION", "APPROVALS", "REQUESTED BY",
                        "EXPIRES"},
                 rows);
    });
  });
  auto* ap_show = approval->add_subcommand("show", "Show one approval request with its decisions");
  ap_show->add_option("id", ap_id, "Approval request id (apr-...)")->required();
  ap_show->callback([&] {
    auto r = Client().Call("GET", "/api/v1/approvals/" + UrlEncode(ap_id));
    if (!r.ok()) { rc = Fail(r.status()); return; }
    rc = PrintJsonOr(r->Json(), [&] { PrintApproval(r->Json()); });
  });
  for (const char* action : {"approve", "reject"}) {
    const std::string act = action;
    auto* cmd = approval->add_subcommand(
        act, act == "approve"
                 ? "Approve a pending request (the policy's approver role; not your own deploy)"
                 : "Reject a pending request; this ends it and nothing is deployed");
    cmd->add_option("id", ap_id, "Approval request id (apr-...)")->required();
    auto* c = cmd->add_option("--comment", ap_comment, "Why (required to reject)");
    if (act == "reject") c->required();
    cmd->callback([&, act] {
      json body = json::object();
      if (!ap_comment.empty()) body["comment"] = ap_comment;
      auto r = Client().Call("POST", "/api/v1/approvals/" + UrlEncode(ap_id) + "/" + act, &body);
      if (!r.ok()) { rc = Fail(r.status()); return; }
      json a = r->Json();
      rc = PrintJsonOr(a, [&] {
        out_ << a.value("id", "") << ": " << a.value("state", "") << " ("
             << a.value("approvals", 0) << " of " << a.value("required_approvals", 0)
             << " approvals)";
        if (!a.value("message", "").empty()) out_ << " — " << a.value("message", "");
        out_ << "\n";
      });
    });
  }
  auto* policy = approval->add_subcommand("policy", "Approval policies per endpoint");
  policy->require_subcommand(1);
  std::string po_endpoint, po_environment, po_approver_role, po_override_role;
  int po_required = 0;
  int64_t po_expiry_s = 0;
  bool po_self = false, po_override = false, po_no_validation = false;
  auto* po_set = policy->add_subcommand("set", "Create or replace an endpoint's policy (admin)");
  po_set->add_option("endpoint", po_endpoint, "Endpoint name")->required();
  po_set->add_option("--required", po_required, "Distinct approvals needed (1-10, default 1)");
  po_set->add_option("--approver-role", po_approver_role,
                     "Role that may approve: editor|deployer|approver|admin (default approver)");
  po_set->add_flag("--allow-self-approval", po_self,
                   "Let the requester approve their own deploy (default: refused)");
  po_set->add_option("--expiry-s", po_expiry_s, "Pending requests expire after this (default 86400)");
  po_set->add_option("--environment", po_environment, "A label, e.g. production");
  po_set->add_flag("--no-validation", po_no_validation, "Do not run the validation gates first");
  po_set->add_flag("--allow-override", po_override, "A failed validation may be overridden");
  po_set->add_option("--override-role", po_override_role, "Role that may override (default admin)");
  po_set->callback([&] {
    json body = json::object();
    if (po_required > 0) body["required_approvals"] = po_required;
    if (!po_approver_role.empty()) body["approver_role"] = po_approver_role;
    if (po_self) body["allow_self_approval"] = true;
    if (po_expiry_s > 0) body["expiry_seconds"] = po_expiry_s;
    if (!po_environment.empty()) body["environment"] = po_environment;
    if (po_no_validation) body["require_validation"] = false;
    if (po_override) body["allow_override"] = true;
    if (!po_override_role.empty()) body["override_role"] = po_override_role;
    auto r = Client().Call("PUT", "/api/v1/approval-policies/" + UrlEncode(po_endpoint), &body);
    if (!r.ok()) { rc = Fail(r.status()); return; }
    rc = PrintJsonOr(r->Json(), [&] { out_ << r->Json().dump(2) << "\n"; });
  });
  auto* po_show = policy->add_subcommand("show", "Show an endpoint's policy");
  po_show->add_option("endpoint", po_endpoint, "Endpoint name")->required();
  po_show->callback([&] {
    auto r = Client().Call("GET", "/api/v1/approval-policies/" + UrlEncode(po_endpoint));
    if (!r.ok()) { rc = Fail(r.status()); return; }
    rc = PrintJsonOr(r->Json(), [&] { out_ << r->Json().dump(2) << "\n"; });
  });
  auto* po_delete = policy->add_subcommand("delete", "Remove an endpoint's policy (admin)");
  po_delete->add_option("endpoint", po_endpoint, "Endpoint name")->required();
  po_delete->callback([&] {
    auto r = Client().Call("DELETE", "/api/v1/approval-policies/" + UrlEncode(po_endpoint));
    if (!r.ok()) { rc = Fail(r.status()); return; }
    if (!g_.json) out_ << "removed the approval policy of '" << po_endpoint << "'\n";
  });

  // validation (docs/governance.md)
  auto* validation = app.add_subcommand("validation", "The validation gates' reports of a version");
  validation->require_subcommand(1);
  std::string va_model, va_ref, va_endpoint;
  auto* va_show = validation->add_subcommand(
      "show", "Show a version's validation reports (registration, and per endpoint deployed to)");
  va_show->add_option("model", va_model, "Model name")->required();
  va_show->add_option("version", va_ref, "Version number or alias")->required();
  va_show->add_option("--endpoint", va_endpoint, "Only the report checked against this endpoint");
  va_show->callback([&] {
    std::string path = "/api/v1/models/" + UrlEncode(va_model) + "/versions/" + UrlEncode(va_ref) +
                       "/validation";
    if (!va_endpoint.empty()) path += "?endpoint=" + UrlEncode(va_endpoint);
    auto r = Client().Call("GET", path);
    if (!r.ok()) { rc = Fail(r.status()); return; }
    json j = r->Json();
    rc = PrintJsonOr(j, [&] {
      if (!va_endpoint.empty()) {
        PrintReport(j["report"]);
        return;
      }
      if (j["reports"].empty()) out_ << "no validation report yet\n";
      for (const auto& rep : j["reports"]) {
        if (rep.value("state", "") == "running") {
          out_ << rep.value("context", "") << ": running\n";
          continue;
        }
        PrintReport(rep["report"]);
      }
    });
  });
  auto* va_run = validation->add_subcommand("run", "Run the gates now and store the report");
  va_run->add_option("model", va_model, "Model name")->required();
  va_run->add_option("version", va_ref, "Version number or alias")->required();
  va_run->add_option("--endpoint", va_endpoint, "Check against what this endpoint serves");
  va_run->callback([&] {
    json body = json::object();
    if (!va_endpoint.empty()) body["endpoint"] = va_endpoint;
    auto r = Client().Call("POST", "/api/v1/models/" + UrlEncode(va_model) + "/versions/" +
                                       UrlEncode(va_ref) + "/validation",
                           &body);
    if (!r.ok()) { rc = Fail(r.status()); return; }
    json j = r->Json();
    rc = PrintJsonOr(j, [&] { PrintReport(j); });
    if (!j.value("passed", false)) rc = kExitRefused;
  });

  // token
  auto* token = app.add_subcommand("token", "Manage API tokens (admin)");
  token->require_subcommand(1);
  std::string t_name, t_role;
  auto* t_create = token->add_subcommand("create", "Create a token; its secret is printed once");
  t_create->add_option("--name", t_name, "Token name")->required();
  t_create->add_option("--role", t_role, "viewer|editor|deployer|approver|admin")->required();
  t_create->callback([&] {
    json body{{"name", t_name}, {"role", t_role}};
    auto r = Client().Call("POST", "/api/v1/tokens", &body);
    if (!r.ok()) { rc = Fail(r.status()); return; }
    json j = r->Json();
    rc = PrintJsonOr(j, [&] {
      out_ << "created token '" << t_name << "' (" << t_role << "); store it now, it is not shown again:\n"
           << j.value("token", "") << "\n";
    });
  });
  auto* t_list = token->add_subcommand("list", "List tokens (never their secrets)");
  t_list->callback([&] {
    auto r = Client().Call("GET", "/api/v1/tokens");
    if (!r.ok()) { rc = Fail(r.status()); return; }
    json j = r->Json();
    rc = PrintJsonOr(j, [&] {
      std::vector<std::vector<std::string>> rows;
      for (const auto& t : j["tokens"])
        rows.push_back({t.value("name", ""), t.value("role", ""), t.value("created_at", ""),
                        t.value("revoked", false) ? "revoked" : "active"});
      PrintTable(out_, {"NAME", "ROLE", "CREATED", "STATE"}, rows);
    });
  });
  auto* t_revoke = token->add_subcommand("revoke", "Revoke a token by name");
  t_revoke->add_option("name", t_name, "Token name")->required();
  t_revoke->callback([&] {
    auto r = Client().Call("DELETE", "/api/v1/tokens/" + UrlEncode(t_name));
    if (!r.ok()) { rc = Fail(r.status()); return; }
    rc = PrintJsonOr(json{{"revoked", t_name}}, [&] { out_ << "revoked token '" << t_name << "'\n"; });
  });

  // profile, drift: offline monitoring commands (src/cli/drift_commands.cpp)
  AddDriftCommands(app, out_, err_, g_.json, rc);

  // audit
  auto* audit = app.add_subcommand(
      "audit",
      "Read and verify the tamper-evident audit log (admin). `audit verify` exits with 4 when the "
      "log was tampered with");
  audit->require_subcommand(1);
  struct AuditFilters {
    std::string actor, target, action, since, until;
  } af;
  int au_limit = 100;
  int64_t au_after = 0;
  std::string au_out;
  auto add_filters = [&](CLI::App* sub) {
    sub->add_option("--actor", af.actor, "Only entries by this token name (or 'system')");
    sub->add_option("--target", af.target,
                    "Only this target and what is below it, e.g. model/iris, endpoint/iris");
    sub->add_option("--action", af.action, "Only this action or family, e.g. model.create, deployment");
    sub->add_option("--since", af.since, "From this time on (RFC 3339, or epoch milliseconds)");
    sub->add_option("--until", af.until, "Before this time (RFC 3339, or epoch milliseconds)");
  };
  auto filter_query = [&]() {
    std::vector<std::string> parts;
    for (auto [key, value] : {std::pair{"actor", &af.actor}, std::pair{"target", &af.target},
                              std::pair{"action", &af.action}, std::pair{"since", &af.since},
                              std::pair{"until", &af.until}}) {
      if (!value->empty()) parts.push_back(std::string(key) + "=" + UrlEncode(*value));
    }
    return parts;
  };
  auto* au_list = audit->add_subcommand("list", "List audit entries, oldest first");
  add_filters(au_list);
  au_list->add_option("--limit", au_limit, "At most this many entries (1-1000)")->capture_default_str();
  au_list->add_option("--after-seq", au_after, "Only entries after this seq (paging)");
  au_list->callback([&] {
    std::vector<std::string> parts = filter_query();
    parts.push_back("limit=" + std::to_string(au_limit));
    if (au_after > 0) parts.push_back("after_seq=" + std::to_string(au_after));
    auto r = Client().Call("GET", "/api/v1/audit?" + absl::StrJoin(parts, "&"));
    if (!r.ok()) { rc = Fail(r.status()); return; }
    json j = r->Json();
    rc = PrintJsonOr(j, [&] {
      std::vector<std::vector<std::string>> rows;
      for (const auto& e : j["entries"])
        rows.push_back({std::to_string(e.value("seq", 0)), e.value("time", ""),
                        e.value("actor", "") + " (" + e.value("role", "") + ")",
                        e.value("action", ""), e.value("target", ""), e.value("request_id", "")});
      PrintTable(out_, {"SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "REQUEST"}, rows);
      if (!j["next_after_seq"].is_null())
        out_ << "more: --after-seq " << j["next_after_seq"].dump() << "\n";
    });
  });
  auto* au_export = audit->add_subcommand("export", "Export audit entries as JSON Lines");
  add_filters(au_export);
  au_export->add_option("-o,--output", au_out, "Write to this file (default: standard output)");
  au_export->callback([&] {
    std::vector<std::string> parts = filter_query();
    std::string path = "/api/v1/audit/export" + (parts.empty() ? "" : "?" + absl::StrJoin(parts, "&"));
    if (!au_out.empty()) {
      auto r = Client().Download(path, au_out, nullptr);
      if (!r.ok()) { rc = Fail(r.status()); return; }
      rc = PrintJsonOr(json{{"exported", au_out}}, [&] { out_ << "exported to " << au_out << "\n"; });
      return;
    }
    auto r = Client().Call("GET", path);
    if (!r.ok()) { rc = Fail(r.status()); return; }
    out_ << r->body;
    rc = 0;
  });
  auto* au_verify = audit->add_subcommand(
      "verify", "Recompute the hash chain and check the signed checkpoints; exit 4 when broken");
  au_verify->callback([&] {
    auto r = Client().Call("GET", "/api/v1/audit/verify");
    if (!r.ok()) { rc = Fail(r.status()); return; }
    json j = r->Json();
    bool ok = j.value("ok", false);
    PrintJsonOr(j, [&] {
      if (ok) {
        out_ << "audit log verified: " << j.value("entries", 0) << " entries, head seq "
             << j.value("head_seq", 0) << ", last signed checkpoint at seq "
             << j.value("last_checkpoint_seq", 0) << " (" << j.value("unprotected_entries", 0)
             << " entries after it are not covered by a checkpoint yet)\n";
        return;
      }
      out_ << "audit log BROKEN: first bad entry is seq " << j["first_bad_seq"].dump() << "\n";
      for (const auto& p : j["problems"])
        out_ << "  " << p.value("kind", "") << ": " << p.value("message", "") << "\n";
    });
    rc = ok ? 0 : kExitAuditBroken;
  });
  auto* au_checkpoint = audit->add_subcommand(
      "checkpoint", "Sign a checkpoint of the log's current head now");
  au_checkpoint->callback([&] {
    auto r = Client().Call("POST", "/api/v1/audit/checkpoints");
    if (!r.ok()) { rc = Fail(r.status()); return; }
    json j = r->Json();
    rc = PrintJsonOr(j, [&] {
      out_ << "checkpoint signed at seq " << j.value("seq", 0) << " (hash " << j.value("hash", "")
           << ", key " << j.value("key_id", "") << ")\n";
    });
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    out_ << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp& e) {
    out_ << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::ParseError& e) {
    // Show the help of the (sub)command that failed to parse.
    err_ << "error: " << e.what() << "\n";
    err_ << "run '" << absl::StrJoin(std::vector<std::string>(argv, argv + std::min(argc, 3)), " ")
         << " --help' for usage\n";
    return kExitUsage;
  }
  return rc;
}

}  // namespace

int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  Cli cli(out, err);
  return cli.Run(argc, argv);
}

}  // namespace hotswap::cli
