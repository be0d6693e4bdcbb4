#include "registry/migrations.h"

namespace hotswap::registry {
namespace {

// Timestamps are INTEGER milliseconds since the Unix epoch. JSON columns hold the domain's
// ToJson form (NULL = not set).
constexpr std::string_view kCreateRegistryTables = R"sql(
CREATE TABLE models (
  id          INTEGER PRIMARY KEY,
  name        TEXT    NOT NULL UNIQUE,
  description TEXT    NOT NULL DEFAULT '',
  tags_json   TEXT    NOT NULL DEFAULT '{}',
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);

-- The tags of models.tags_json, one row per tag, for filtering by key=value.
CREATE TABLE model_tags (
  model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  key      TEXT    NOT NULL,
  value    TEXT    NOT NULL,
  PRIMARY KEY (model_id, key)
);
CREATE INDEX model_tags_by_key_value ON model_tags(key, value);

CREATE TABLE model_versions (
  id                 INTEGER PRIMARY KEY,
  model_id           INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  version            INTEGER NOT NULL CHECK (version >= 1),
  framework          TEXT    NOT NULL,
  sha256             TEXT    NOT NULL,
  size_bytes         INTEGER NOT NULL CHECK (size_bytes >= 0),
  status             TEXT    NOT NULL,
  schema_json        TEXT,
  training_json      TEXT,
  baseline_json      TEXT,
  preprocessing_json TEXT,
  tags_json          TEXT    NOT NULL DEFAULT '{}',
  parent_version     INTEGER,
  created_by         TEXT    NOT NULL DEFAULT '',
  created_at         INTEGER NOT NULL,
  UNIQUE (model_id, version),
  FOREIGN KEY (model_id, parent_version) REFERENCES model_versions(model_id, version)
);
CREATE INDEX model_versions_by_sha256 ON model_versions(sha256);
CREATE INDEX model_versions_by_framework ON model_versions(framework, model_id);
CREATE INDEX model_versions_by_parent ON model_versions(model_id, parent_version);

CREATE TABLE aliases (
  model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
  alias    TEXT    NOT NULL,
  version  INTEGER NOT NULL,
  PRIMARY KEY (model_id, alias),
  FOREIGN KEY (model_id, version) REFERENCES model_versions(model_id, version)
      ON DELETE CASCADE
);
CREATE INDEX aliases_by_version ON aliases(model_id, version);
)sql";

constexpr std::string_view kCreateTokenTable = R"sql(
CREATE TABLE api_tokens (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  name       TEXT    NOT NULL,
  role       TEXT    NOT NULL,
  hash_hex   TEXT    NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  revoked    INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);
-- A name identifies one active token; revoked tokens keep their name for the audit trail.
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens(name) WHERE revoked = 0;
)sql";

// Deployments: what was deployed where and how it ended. `seq` orders rows by insertion;
// `undeployed` rows record an unload so a restart does not bring the endpoint back.
constexpr std::string_view kCreateDeploymentTable = R"sql(
CREATE TABLE deployments (
  seq              INTEGER PRIMARY KEY AUTOINCREMENT,
  id               TEXT    NOT NULL UNIQUE,
  endpoint         TEXT    NOT NULL,
  model_name       TEXT    NOT NULL,
  version          INTEGER NOT NULL,
  strategy         TEXT    NOT NULL,
  state            TEXT    NOT NULL,
  message          TEXT    NOT NULL DEFAULT '',
  previous_version INTEGER,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);
CREATE INDEX deployments_by_endpoint ON deployments(endpoint, seq);
)sql";

// Datasets attached to a version (holdout, reference, background): the blob's digest in the
// artifact store and the CSV's shape. Rows go with their version.
constexpr std::string_view kCreateVersionDatasetTable = R"sql(
CREATE TABLE version_datasets (
  model_id     INTEGER NOT NULL,
  version      INTEGER NOT NULL,
  kind         TEXT    NOT NULL CHECK (kind IN ('holdout', 'reference', 'background')),
  sha256       TEXT    NOT NULL,
  size_bytes   INTEGER NOT NULL CHECK (size_bytes >= 0),
  row_count    INTEGER NOT NULL CHECK (row_count >= 0),
  columns_json TEXT    NOT NULL,
  created_by   TEXT    NOT NULL DEFAULT '',
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (model_id, version, kind),
  FOREIGN KEY (model_id, version) REFERENCES model_versions(model_id, version) ON DELETE CASCADE
);
CREATE INDEX version_datasets_by_sha256 ON version_datasets(sha256);
)sql";

// The hash-chained audit log (registry/audit_store.h, docs/audit.md). `seq` is assigned by the
// store (head + 1) inside the write transaction, never reused while the rows exist; nothing in
// the server updates or deletes these rows.
constexpr std::string_view kCreateAuditTables = R"sql(
CREATE TABLE audit_log (
  seq         INTEGER PRIMARY KEY,
  ts_ms       INTEGER NOT NULL,
  actor       TEXT    NOT NULL,
  role        TEXT    NOT NULL,
  action      TEXT    NOT NULL,
  target      TEXT    NOT NULL,
  before_json TEXT    NOT NULL,
  after_json  TEXT    NOT NULL,
  source      TEXT    NOT NULL,
  request_id  TEXT    NOT NULL,
  prev_hash   TEXT    NOT NULL,
  hash        TEXT    NOT NULL
);
CREATE INDEX audit_log_by_actor ON audit_log(actor, seq);
CREATE INDEX audit_log_by_target ON audit_log(target, seq);
CREATE INDEX audit_log_by_ts ON audit_log(ts_ms);

CREATE TABLE audit_checkpoints (
  seq    INTEGER PRIMARY KEY,
  hash   TEXT    NOT NULL,
  ts_ms  INTEGER NOT NULL,
  key_id TEXT    NOT NULL,
  hmac   TEXT    NOT NULL
);
)sql";

// Approvals and validation (registry/governance_store.h, docs/governance.md): policies per
// endpoint, approval requests (the whole record as JSON, the columns the listings filter on
// beside it; `revision` for compare-and-set updates), and validation reports per version.
constexpr std::string_view kCreateGovernanceTables = R"sql(
CREATE TABLE approval_policies (
  endpoint    TEXT    PRIMARY KEY,
  environment TEXT    NOT NULL DEFAULT '',
  policy_json TEXT    NOT NULL,
  updated_at  INTEGER NOT NULL
);
CREATE TABLE approval_requests (
  id           TEXT    PRIMARY KEY,
  endpoint     TEXT    NOT NULL,
  model_name   TEXT    NOT NULL,
  state        TEXT    NOT NULL,
  requested_by TEXT    NOT NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  revision     INTEGER NOT NULL,
  record_json  TEXT    NOT NULL
);
CREATE INDEX approval_requests_by_state ON approval_requests(state, created_at);
CREATE INDEX approval_requests_by_endpoint ON approval_requests(endpoint, created_at);
CREATE TABLE validation_reports (
  model_id    INTEGER NOT NULL,
  version     INTEGER NOT NULL,
  context     TEXT    NOT NULL,
  state       TEXT    NOT NULL,
  report_json TEXT    NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (model_id, version, context),
  FOREIGN KEY (model_id, version) REFERENCES model_versions(model_id, version) ON DELETE CASCADE
);
)sql";

constexpr Migration kMigrations[] = {
    {.version = 1, .description = "models, versions, aliases", .sql = kCreateRegistryTables},
    {.version = 2, .description = "api tokens", .sql = kCreateTokenTable},
    {.version = 3, .description = "deployments", .sql = kCreateDeploymentTable},
    {.version = 4, .description = "rollout state of deployments",
     .sql = "ALTER TABLE deployments ADD COLUMN rollout TEXT NOT NULL DEFAULT '{}';"},
    {.version = 5, .description = "audit log", .sql = kCreateAuditTables},
    {.version = 6, .description = "version datasets", .sql = kCreateVersionDatasetTable},
    {.version = 7, .description = "approvals and validation reports",
     .sql = kCreateGovernanceTables},
};

}  // namespace

std::span<const Migration> RegistryMigrations() { return kMigrations; }

}  // namespace hotswap::registry
