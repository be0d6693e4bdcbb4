// ManagementApi: the REST routes under /api/v1 (models, versions, artifacts, aliases, tokens)
// and the health routes. Registers its handlers on a Router; the handlers translate HTTP to
// registry/store/authenticator calls and back. Every error is
// `{"error": {"code": "...", "message": "..."}}` with the mapped status code, and a refused
// request changes nothing.
//
// Every successful change (model create/update/delete, version register/update, alias set/delete,
// token create/revoke) is recorded in the audit log after it is made; a refused request records
// nothing.
//
// Thread-safe once registered (handlers only call thread-safe components).
//
// Upload (`POST /api/v1/models/{name}/versions`, multipart/form-data with a `metadata` JSON part
// and an `artifact` file part, in any order): the artifact streams into an ArtifactWriter as it
// arrives; at the end the metadata is validated, the digest checked against `X-Content-SHA256`
// when sent, the blob committed and only then the version registered. A client that goes away,
// a malformed body or a rejected metadata leaves no version (and no new blob) behind.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "api/http/http_server.h"
#include "api/http/router.h"
#include "auth/authenticator.h"
#include "governance/audit_log.h"
#include "registry/model_registry.h"
#include "storage/artifact_store.h"

namespace hotswap::api {

class ManagementApi {
 public:
  struct Options {
    int64_t max_artifact_bytes = 8LL << 30;   // per uploaded artifact
    int64_t max_metadata_bytes = 1 << 20;     // the `metadata` part
    // Every successful change appends an entry here (api/audit_api.h); nullptr = no audit log.
    governance::AuditLog* audit = nullptr;
    // Called when a version was registered, before its 201 is sent: it must only queue work
    // (the server queues the version's validation gates, docs/governance.md).
    std::function<void(const domain::ModelVersion&)> on_version_registered;
  };
  // Readiness: returns OK when the server can serve (set by the wiring code).
  using ReadinessProbe = std::function<absl::Status()>;

  ManagementApi(Options options, registry::ModelRegistry* registry, storage::ArtifactStore* store,
                auth::Authenticator* authenticator, ReadinessProbe readiness);

  void RegisterRoutes(http::Router* router);

  // Middleware that enforces each route's permission ("none", "read", "write", "deploy",
  // "approve", "admin") with the Authenticator: 401 without a valid token, 403 for a role that
  // lacks the permission.
  http::HttpServer::Middleware AuthMiddleware();
  // Error bodies for errors the HTTP layer produces: V2 style under /v2, management style
  // elsewhere.
  static http::HttpResponse ErrorFor(const http::HttpRequest& req, const absl::Status& status);

 private:
  http::HttpResponse CreateModel(http::HttpRequest& req);
  http::HttpResponse ListModels(http::HttpRequest& req);
  http::HttpResponse GetModel(http::HttpRequest& req);
  http::HttpResponse UpdateModel(http::HttpRequest& req);
  http::HttpResponse DeleteModel(http::HttpRequest& req);
  absl::StatusOr<std::unique_ptr<http::BodyConsumer>> StartUpload(http::HttpRequest& req);
  http::HttpResponse ListVersions(http::HttpRequest& req);
  http::HttpResponse GetVersion(http::HttpRequest& req);
  http::HttpResponse UpdateVersion(http::HttpRequest& req);
  http::HttpResponse DownloadArtifact(http::HttpRequest& req);
  http::HttpResponse ListAliases(http::HttpRequest& req);
  http::HttpResponse SetAlias(http::HttpRequest& req);
  http::HttpResponse DeleteAlias(http::HttpRequest& req);
  http::HttpResponse CreateToken(http::HttpRequest& req);
  http::HttpResponse ListTokens(http::HttpRequest& req);
  http::HttpResponse RevokeToken(http::HttpRequest& req);

  // {"version": N} for the alias, or null (also when there is no audit log: only it needs this).
  domain::Json AliasVersion(const std::string& model, const std::string& alias);
  // Resolves "{version}" (a number or an alias name) of model "{name}".
  absl::StatusOr<domain::ModelVersion> ResolveVersion(const http::HttpRequest& req);

  friend class UploadConsumer;
  Options options_;
  registry::ModelRegistry* registry_;
  storage::ArtifactStore* store_;
  auth::Authenticator* authenticator_;
  ReadinessProbe readiness_;
};

}  // namespace hotswap::api
