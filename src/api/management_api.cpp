#include "api/management_api.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/audit_api.h"
#include "api/http/multipart.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/names.h"
#include "common/status.h"
#include "runtime/artifact_format.h"

namespace hotswap::api {

using domain::Json;
using http::HttpRequest;
using http::HttpResponse;

namespace {

absl::StatusOr<Json> ParseJsonObject(std::string_view text, absl::string_view what) {
  if (text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is empty; expected a JSON object"));
  }
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Json::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed JSON in ", what, " at byte ", e.byte, ": ", std::string(e.what())));
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be a JSON object"));
  }
  return j;
}

absl::Status RejectUnknownFields(const Json& j, const std::set<std::string>& allowed,
                                 absl::string_view what) {
  for (const auto& [k, v] : j.items()) {
    if (!allowed.count(k)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown field '", k, "' in ", what,
                                                     "; allowed: ", absl::StrJoin(allowed, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, std::string>> ParseTags(const Json& j, absl::string_view path) {
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(path, ": expected an object"));
  std::map<std::string, std::string> tags;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ".", k, ": expected a string"));
    }
    tags[k] = v.get<std::string>();
  }
  return tags;
}

absl::StatusOr<int> ParseLimit(const HttpRequest& req) {
  std::string text = req.QueryOr("limit", "50");
  int limit = 0;
  if (!absl::SimpleAtoi(text, &limit) || limit < 1 || limit > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: '", text, "' is not an integer from 1 to 1000"));
  }
  return limit;
}

absl::StatusOr<bool> ParseBool(const HttpRequest& req, const std::string& key) {
  std::string text = absl::AsciiStrToLower(req.QueryOr(key, "false"));
  if (text == "true" || text == "1" || text == "yes") return true;
  if (text == "false" || text == "0" || text == "no" || text.empty()) return false;
  return absl::InvalidArgumentError(absl::StrCat(key, ": '", text, "' is not true or false"));
}

Json ModelWithAliases(const domain::Model& m, const std::map<std::string, int64_t>& aliases) {
  Json j = domain::ToJson(m);
  j["aliases"] = Json::object();
  for (const auto& [a, v] : aliases) j["aliases"][a] = v;
  return j;
}

Json TokenJson(const auth::ApiToken& t) {
  return Json{{"id", t.id},
              {"name", t.name},
              {"role", std::string(auth::RoleName(t.role))},
              {"created_at", FormatTimestamp(t.created_at_ms)},
              {"revoked", t.revoked}};
}

std::string ModelTarget(const std::string& name) { return "model/" + name; }

std::string VersionTarget(const std::string& name, int64_t version) {
  return absl::StrCat("model/", name, "/version/", version);
}

// What an audit entry keeps of a version: enough to identify it, not its schema.
Json VersionSummary(const domain::ModelVersion& v) {
  return Json{{"version", v.version},
              {"framework", v.framework},
              {"sha256", v.sha256},
              {"size_bytes", v.size_bytes},
              {"status", std::string(domain::VersionStatusName(v.status))},
              {"tags", v.tags}};
}

std::string FrameworkList() {
  std::string out;
  for (std::string_view f : domain::kFrameworks) out += (out.empty() ? "" : ", ") + std::string(f);
  return out;
}

std::optional<auth::Permission> ParsePermission(const std::string& p) {
  if (p == "read") return auth::Permission::kRead;
  if (p == "write") return auth::Permission::kWrite;
  if (p == "deploy") return auth::Permission::kDeploy;
  if (p == "approve") return auth::Permission::kApprove;
  if (p == "admin") return auth::Permission::kAdmin;
  return std::nullopt;
}

std::string RolesAllowing(auth::Permission p) {
  std::vector<std::string> names;
  for (auth::Role r : {auth::Role::kViewer, auth::Role::kEditor, auth::Role::kDeployer,
                       auth::Role::kApprover, auth::Role::kAdmin}) {
    if (auth::RoleAllows(r, p)) names.emplace_back(auth::RoleName(r));
  }
  return absl::StrJoin(names, ", ");
}

}  // namespace

// Streams one multipart upload into the artifact store; registers the version at the end.
class UploadConsumer final : public http::BodyConsumer {
 public:
  UploadConsumer(ManagementApi* api, std::string model, std::string boundary,
                 std::optional<std::string> expected_sha256, std::string principal,
                 std::unique_ptr<storage::ArtifactWriter> writer, HttpRequest who)
      : api_(api),
        who_(std::move(who)),
        model_(std::move(model)),
        expected_sha256_(std::move(expected_sha256)),
        principal_(std::move(principal)),
        writer_(std::move(writer)),
        parser_(std::move(boundary),
                http::MultipartParser::Callbacks{
                    [this](const http::MultipartParser::PartHeaders& h) { return BeginPart(h); },
                    [this](std::string_view d) { return PartData(d); },
                    [this]() { return EndPart(); }}) {}

  absl::Status OnData(std::string_view chunk) override { return parser_.Feed(chunk); }

  HttpResponse OnComplete() override {
    absl::StatusOr<domain::ModelVersion> v = Finish();
    if (!v.ok()) {
      writer_->Abort();
      log::Info("upload refused", {{"model", model_}, {"reason", std::string(v.status().message())}});
      return HttpResponse::Error(v.status());
    }
    log::Info("version registered", {{"model", model_},
                                     {"version", static_cast<long long>(v->version)},
                                     {"sha256", v->sha256},
                                     {"size_bytes", static_cast<long long>(v->size_bytes)}});
    RecordChange(api_->options_.audit, who_, "version.register",
                 VersionTarget(model_, v->version), nullptr, VersionSummary(*v));
    if (api_->options_.on_version_registered) api_->options_.on_version_registered(*v);
    HttpResponse r = HttpResponse::Json(201, domain::ToJson(*v));
    r.headers.emplace_back("Location",
                           absl::StrCat("/api/v1/models/", model_, "/versions/", v->version));
    return r;
  }

  void OnAbort() override {
    writer_->Abort();
    log::Warn("upload aborted; nothing registered",
              {{"model", model_}, {"bytes_received", static_cast<long long>(writer_->bytes_written())}});
  }

 private:
  enum class Part { kNone, kMetadata, kArtifact };

  absl::Status BeginPart(const http::MultipartParser::PartHeaders& h) {
    if (h.name == "metadata") {
      if (saw_metadata_) return absl::InvalidArgumentError("the 'metadata' part appears twice");
      saw_metadata_ = true;
      current_ = Part::kMetadata;
    } else if (h.name == "artifact") {
      if (saw_artifact_) return absl::InvalidArgumentError("the 'artifact' part appears twice");
      saw_artifact_ = true;
      current_ = Part::kArtifact;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unexpected form field '", h.name, "'; expected 'metadata' (JSON) and 'artifact' (file)"));
    }
    return absl::OkStatus();
  }

  absl::Status PartData(std::string_view d) {
    if (current_ == Part::kArtifact) {
      sniffer_.Feed(d);
      return writer_->Write(d);
    }
    if (current_ == Part::kMetadata) {
      if (static_cast<int64_t>(metadata_.size() + d.size()) > api_->options_.max_metadata_bytes) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "the 'metadata' part exceeds ", api_->options_.max_metadata_bytes, " bytes"));
      }
      metadata_.append(d);
    }
    return absl::OkStatus();
  }

  absl::Status EndPart() {
    current_ = Part::kNone;
    return absl::OkStatus();
  }

  absl::StatusOr<registry::NewVersion> ParseMetadata() {
    HS_ASSIGN_OR_RETURN(Json j, ParseJsonObject(metadata_, "the 'metadata' part"));
    HS_RETURN_IF_ERROR(RejectUnknownFields(
        j,
        {"framework", "version", "schema", "training", "baseline", "preprocessing", "tags",
         "parent_version"},
        "metadata"));
    registry::NewVersion nv;
    nv.model_name = model_;
    nv.created_by = principal_;
    if (!j.contains("framework") || !j["framework"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metadata.framework: required string, one of: ", FrameworkList()));
    }
    nv.framework = j["framework"].get<std::string>();
    if (j.contains("version")) {
      if (!j["version"].is_number_integer() || j["version"].get<int64_t>() < 1) {
        return absl::InvalidArgumentError("metadata.version: expected an integer >= 1");
      }
      nv.version = j["version"].get<int64_t>();
    }
    if (j.contains("parent_version")) {
      if (!j["parent_version"].is_number_integer()) {
        return absl::InvalidArgumentError("metadata.parent_version: expected an integer");
      }
      nv.parent_version = j["parent_version"].get<int64_t>();
    }
    if (j.contains("schema")) {
      auto s = domain::TensorSchemaFromJson(j["schema"]);
      if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("metadata.schema: ", s.status().message()));
      nv.schema = *std::move(s);
    }
    if (j.contains("training")) {
      auto t = domain::TrainingMetadataFromJson(j["training"]);
      if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat("metadata.training: ", t.status().message()));
      nv.training = *std::move(t);
    }
    if (j.contains("baseline")) {
      auto b = domain::PerformanceBaselineFromJson(j["baseline"]);
      if (!b.ok()) return absl::InvalidArgumentError(absl::StrCat("metadata.baseline: ", b.status().message()));
      nv.baseline = *std::move(b);
    }
    if (j.contains("preprocessing")) nv.preprocessing = j["preprocessing"];
    if (j.contains("tags")) {
      HS_ASSIGN_OR_RETURN(nv.tags, ParseTags(j["tags"], "metadata.tags"));
    }
    // Validate everything before the artifact is committed.
    domain::ModelVersion probe;
    probe.model_name = nv.model_name;
    probe.version = nv.version > 0 ? nv.version : (int64_t{1} << 62);
    probe.framework = nv.framework;
    probe.sha256 = std::string(64, '0');
    probe.size_bytes = writer_->bytes_written();
    probe.schema = nv.schema;
    probe.training = nv.training;
    probe.baseline = nv.baseline;
    probe.preprocessing = nv.preprocessing;
    probe.tags = nv.tags;
    probe.parent_version = nv.parent_version;
    HS_RETURN_IF_ERROR(domain::FieldErrorsToStatus("invalid metadata", domain::Validate(probe)));
    return nv;
  }

  absl::StatusOr<domain::ModelVersion> Finish() {
    HS_RETURN_IF_ERROR(parser_.Finish());
    if (!saw_artifact_) {
      return absl::InvalidArgumentError("missing the 'artifact' file part");
    }
    if (!saw_metadata_) {
      return absl::InvalidArgumentError(
          "missing the 'metadata' part (JSON with at least \"framework\")");
    }
    HS_ASSIGN_OR_RETURN(registry::NewVersion nv, ParseMetadata());
    // A declared framework the artifact plainly is not: refused now, not at deploy.
    HS_RETURN_IF_ERROR(runtime::CheckDeclaredFramework(nv.framework, sniffer_.Finish()));
    if (nv.version > 0) {
      auto existing = api_->registry_->GetVersion(model_, nv.version);
      if (existing.ok()) {
        return absl::AlreadyExistsError(
            absl::StrCat("version ", nv.version, " of model '", model_, "' already exists"));
      }
      if (!absl::IsNotFound(existing.status())) return existing.status();
    }
    if (nv.parent_version) {
      auto parent = api_->registry_->GetVersion(model_, *nv.parent_version);
      if (absl::IsNotFound(parent.status())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "metadata.parent_version: version ", *nv.parent_version, " of model '", model_,
            "' does not exist"));
      }
      if (!parent.ok()) return parent.status();
    }
    absl::StatusOr<storage::ArtifactInfo> committed = writer_->Commit(expected_sha256_);
    if (!committed.ok()) {
      const absl::Status& s = committed.status();
      // The store's own trouble (a remote store refusing our credentials, a missing bucket) is
      // not the client's fault: 503, not 403/404/409.
      if (absl::IsPermissionDenied(s) || absl::IsNotFound(s) || absl::IsFailedPrecondition(s)) {
        return absl::UnavailableError(absl::StrCat("artifact store: ", std::string(s.message())));
      }
      return s;
    }
    storage::ArtifactInfo info = *std::move(committed);
    nv.sha256 = info.sha256;
    nv.size_bytes = info.size_bytes;
    auto v = api_->registry_->CreateVersion(nv);
    if (!v.ok() && info.newly_created) {
      auto referenced = api_->registry_->IsArtifactReferenced(info.sha256);
      if (referenced.ok() && !*referenced) (void)api_->store_->Delete(info.sha256);
    }
    return v;
  }

  ManagementApi* api_;
  HttpRequest who_;  // actor, role, source and request id for the audit entry
  std::string model_;
  std::optional<std::string> expected_sha256_;
  std::string principal_;
  std::unique_ptr<storage::ArtifactWriter> writer_;
  runtime::ArtifactSniffer sniffer_;  // which framework the artifact is (bounded memory)
  http::MultipartParser parser_;
  Part current_ = Part::kNone;
  std::string metadata_;
  bool saw_metadata_ = false;
  bool saw_artifact_ = false;
};

ManagementApi::ManagementApi(Options options, registry::ModelRegistry* registry,
                             storage::ArtifactStore* store, auth::Authenticator* authenticator,
                             ReadinessProbe readiness)
    : options_(options),
      registry_(registry),
      store_(store),
      authenticator_(authenticator),
      readiness_(std::move(readiness)) {}

void ManagementApi::RegisterRoutes(http::Router* router) {
  auto bind = [this](HttpResponse (ManagementApi::*fn)(HttpRequest&)) {
    return [this, fn](HttpRequest& req) { return (this->*fn)(req); };
  };
  router->Add("GET", "/healthz", "none", [](HttpRequest&) {
    return HttpResponse::Json(200, Json{{"status", "ok"}});
  }).access_log = false;
  router->Add("GET", "/readyz", "none", [this](HttpRequest&) {
    absl::Status s = readiness_ ? readiness_() : absl::OkStatus();
    if (!s.ok()) {
      return HttpResponse::Json(503, Json{{"status", "not_ready"}, {"reason", std::string(s.message())}});
    }
    return HttpResponse::Json(200, Json{{"status", "ready"}});
  }).access_log = false;
  router->Add("POST", "/api/v1/models", "write", bind(&ManagementApi::CreateModel));
  router->Add("GET", "/api/v1/models", "read", bind(&ManagementApi::ListModels));
  router->Add("GET", "/api/v1/models/{name}", "read", bind(&ManagementApi::GetModel));
  router->Add("PATCH", "/api/v1/models/{name}", "write", bind(&ManagementApi::UpdateModel));
  router->Add("DELETE", "/api/v1/models/{name}", "admin", bind(&ManagementApi::DeleteModel));
  router->AddStreaming("POST", "/api/v1/models/{name}/versions", "write",
                       [this](HttpRequest& req) { return StartUpload(req); });
  router->Add("GET", "/api/v1/models/{name}/versions", "read", bind(&ManagementApi::ListVersions));
  router->Add("GET", "/api/v1/models/{name}/versions/{version}", "read",
              bind(&ManagementApi::GetVersion));
  router->Add("PATCH", "/api/v1/models/{name}/versions/{version}", "write",
              bind(&ManagementApi::UpdateVersion));
  router->Add("GET", "/api/v1/models/{name}/versions/{version}/artifact", "read",
              bind(&ManagementApi::DownloadArtifact));
  router->Add("GET", "/api/v1/models/{name}/aliases", "read", bind(&ManagementApi::ListAliases));
  router->Add("PUT", "/api/v1/models/{name}/aliases/{alias}", "write",
              bind(&ManagementApi::SetAlias));
  router->Add("DELETE", "/api/v1/models/{name}/aliases/{alias}", "write",
              bind(&ManagementApi::DeleteAlias));
  router->Add("POST", "/api/v1/tokens", "admin", bind(&ManagementApi::CreateToken));
  router->Add("GET", "/api/v1/tokens", "admin", bind(&ManagementApi::ListTokens));
  router->Add("DELETE", "/api/v1/tokens/{name}", "admin", bind(&ManagementApi::RevokeToken));
}

http::HttpServer::Middleware ManagementApi::AuthMiddleware() {
  return [this](HttpRequest& req, const http::Route& route) -> std::optional<HttpResponse> {
    if (route.permission == "none") return std::nullopt;
    const std::string* header = req.Header("authorization");
    auto token = authenticator_->Authenticate(header ? *header : "");
    if (!token.ok()) {
      HttpResponse r = ErrorFor(req, token.status());
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return r;
    }
    req.principal = token->name;
    req.principal_role = std::string(auth::RoleName(token->role));
    std::optional<auth::Permission> p = ParsePermission(route.permission);
    if (!p || !auth::RoleAllows(token->role, *p)) {
      return ErrorFor(req, absl::PermissionDeniedError(absl::StrCat(
                               "token '", token->name, "' has role '", std::string(auth::RoleName(token->role)),
                               "', which may not ", route.permission,
                               " here; roles allowed: ",
                               p ? RolesAllowing(*p) : std::string("none"))));
    }
    return std::nullopt;
  };
}

HttpResponse ManagementApi::ErrorFor(const HttpRequest& req, const absl::Status& status) {
  if (req.path == "/v2" || req.path.rfind("/v2/", 0) == 0) {
    return HttpResponse::V2Error(HttpStatusFor(status.code()), ToStd(status.message()));
  }
  return HttpResponse::Error(status);
}

HttpResponse ManagementApi::CreateModel(HttpRequest& req) {
  auto j = ParseJsonObject(req.body, "request body");
  if (!j.ok()) return HttpResponse::Error(j.status());
  if (auto s = RejectUnknownFields(*j, {"name", "description", "tags"}, "request body"); !s.ok()) {
    return HttpResponse::Error(s);
  }
  if (!j->contains("name")) {
    return HttpResponse::Error(absl::InvalidArgumentError("name: required"));
  }
  auto model = domain::ModelFromJson(*j);
  if (!model.ok()) return HttpResponse::Error(model.status());
  if (auto s = domain::FieldErrorsToStatus("invalid model", domain::Validate(*model)); !s.ok()) {
    return HttpResponse::Error(s);
  }
  auto created = registry_->CreateModel(*model);
  if (!created.ok()) return HttpResponse::Error(created.status());
  log::Info("model created", {{"model", created->name}, {"by", req.principal}});
  RecordChange(options_.audit, req, "model.create", ModelTarget(created->name), nullptr,
               domain::ToJson(*created));
  HttpResponse r = HttpResponse::Json(201, ModelWithAliases(*created, {}));
  r.headers.emplace_back("Location", absl::StrCat("/api/v1/models/", created->name));
  return r;
}

HttpResponse ManagementApi::ListModels(HttpRequest& req) {
  registry::ListModelsQuery q;
  auto limit = ParseLimit(req);
  if (!limit.ok()) return HttpResponse::Error(limit.status());
  q.limit = *limit;
  q.name_prefix = req.QueryOr("name_prefix", "");
  q.framework = req.QueryOr("framework", "");
  q.page_token = req.QueryOr("page_token", "");
  std::string tag = req.QueryOr("tag", "");
  if (!tag.empty()) {
    size_t eq = tag.find('=');
    if (eq == std::string::npos || eq == 0) {
      return HttpResponse::Error(
          absl::InvalidArgumentError(absl::StrCat("tag: '", tag, "' must be key=value")));
    }
    q.tag = std::make_pair(tag.substr(0, eq), tag.substr(eq + 1));
  }
  if (!q.framework.empty() && !domain::IsKnownFramework(q.framework)) {
    return HttpResponse::Error(absl::InvalidArgumentError(absl::StrCat(
        "framework: '", q.framework, "' is not one of ", FrameworkList())));
  }
  auto page = registry_->ListModels(q);
  if (!page.ok()) return HttpResponse::Error(page.status());
  Json out{{"models", Json::array()}, {"next_page_token", page->next_page_token}};
  for (const auto& m : page->models) out["models"].push_back(domain::ToJson(m));
  return HttpResponse::Json(200, out);
}

HttpResponse ManagementApi::GetModel(HttpRequest& req) {
  const std::string& name = req.Param("name");
  auto m = registry_->GetModel(name);
  if (!m.ok()) return HttpResponse::Error(m.status());
  auto aliases = registry_->ListAliases(name);
  if (!aliases.ok()) return HttpResponse::Error(aliases.status());
  return HttpResponse::Json(200, ModelWithAliases(*m, *aliases));
}

HttpResponse ManagementApi::UpdateModel(HttpRequest& req) {
  auto j = ParseJsonObject(req.body, "request body");
  if (!j.ok()) return HttpResponse::Error(j.status());
  if (auto s = RejectUnknownFields(*j, {"description", "tags"}, "request body"); !s.ok()) {
    return HttpResponse::Error(s);
  }
  registry::ModelUpdate u;
  if (j->contains("description")) {
    if (!(*j)["description"].is_string()) {
      return HttpResponse::Error(absl::InvalidArgumentError("description: expected a string"));
    }
    u.description = (*j)["description"].get<std::string>();
  }
  if (j->contains("tags")) {
    auto tags = ParseTags((*j)["tags"], "tags");
    if (!tags.ok()) return HttpResponse::Error(tags.status());
    u.tags = *std::move(tags);
  }
  Json before = nullptr;
  if (options_.audit != nullptr) {
    auto old = registry_->GetModel(req.Param("name"));
    if (old.ok()) before = domain::ToJson(*old);
  }
  auto m = registry_->UpdateModel(req.Param("name"), u);
  if (!m.ok()) return HttpResponse::Error(m.status());
  RecordChange(options_.audit, req, "model.update", ModelTarget(m->name), before,
               domain::ToJson(*m));
  auto aliases = registry_->ListAliases(m->name);
  if (!aliases.ok()) return HttpResponse::Error(aliases.status());
  return HttpResponse::Json(200, ModelWithAliases(*m, *aliases));
}

HttpResponse ManagementApi::DeleteModel(HttpRequest& req) {
  auto force = ParseBool(req, "force");
  if (!force.ok()) return HttpResponse::Error(force.status());
  const std::string& name = req.Param("name");
  Json before = nullptr;
  if (options_.audit != nullptr) {
    auto old = registry_->GetModel(name);
    if (old.ok()) before = domain::ToJson(*old);
  }
  auto orphans = registry_->DeleteModel(name, *force);
  if (!orphans.ok()) {
    if (absl::IsFailedPrecondition(orphans.status())) {
      return HttpResponse::Error(409, "failed_precondition",
                                 absl::StrCat(orphans.status().message(),
                                              " (add ?force=true to delete anyway)"));
    }
    return HttpResponse::Error(orphans.status());
  }
  int removed = 0;
  for (const std::string& digest : *orphans) {
    if (store_->Delete(digest).ok()) ++removed;
  }
  log::Info("model deleted", {{"model", name}, {"by", req.principal}, {"artifacts_removed", removed}});
  RecordChange(options_.audit, req, "model.delete", ModelTarget(name), before,
               Json{{"deleted", true}, {"force", *force}, {"artifacts_removed", removed}});
  return HttpResponse::Json(200, Json{{"deleted", name}, {"artifacts_removed", removed}});
}

absl::StatusOr<std::unique_ptr<http::BodyConsumer>> ManagementApi::StartUpload(HttpRequest& req) {
  const std::string& name = req.Param("name");
  auto model = registry_->GetModel(name);
  if (!model.ok()) return model.status();
  const std::string* ct = req.Header("content-type");
  if (ct == nullptr) {
    return absl::InvalidArgumentError(
        "expected Content-Type multipart/form-data with parts 'metadata' and 'artifact'");
  }
  auto boundary = http::MultipartBoundary(*ct);
  if (!boundary.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected Content-Type multipart/form-data with parts 'metadata' and 'artifact': ",
        boundary.status().message()));
  }
  const std::string* cl = req.Header("content-length");
  int64_t length = 0;
  if (cl != nullptr && absl::SimpleAtoi(*cl, &length) &&
      length > options_.max_artifact_bytes + options_.max_metadata_bytes + 64 * 1024) {
    return absl::ResourceExhaustedError(absl::StrCat("upload of ", length,
                                                     " bytes exceeds the artifact limit of ",
                                                     options_.max_artifact_bytes, " bytes"));
  }
  std::optional<std::string> expected;
  if (const std::string* sha = req.Header("x-content-sha256")) {
    std::string lower = absl::AsciiStrToLower(*sha);
    if (!IsSha256Hex(lower)) {
      return absl::InvalidArgumentError(
          "X-Content-SHA256: expected 64 hexadecimal characters (the artifact's SHA-256)");
    }
    expected = lower;
  }
  auto writer = store_->NewWriter();
  if (!writer.ok()) return writer.status();
  HttpRequest who;
  who.principal = req.principal;
  who.principal_role = req.principal_role;
  who.remote_addr = req.remote_addr;
  who.request_id = req.request_id;
  return std::unique_ptr<http::BodyConsumer>(std::make_unique<UploadConsumer>(
      this, name, *std::move(boundary), std::move(expected), req.principal, *std::move(writer),
      std::move(who)));
}

HttpResponse ManagementApi::ListVersions(HttpRequest& req) {
  registry::ListVersionsQuery q;
  auto limit = ParseLimit(req);
  if (!limit.ok()) return HttpResponse::Error(limit.status());
  q.limit = *limit;
  q.page_token = req.QueryOr("page_token", "");
  auto page = registry_->ListVersions(req.Param("name"), q);
  if (!page.ok()) return HttpResponse::Error(page.status());
  Json out{{"versions", Json::array()}, {"next_page_token", page->next_page_token}};
  for (const auto& v : page->versions) out["versions"].push_back(domain::ToJson(v));
  return HttpResponse::Json(200, out);
}

Json ManagementApi::AliasVersion(const std::string& model, const std::string& alias) {
  if (options_.audit == nullptr) return nullptr;
  auto aliases = registry_->ListAliases(model);
  if (!aliases.ok()) return nullptr;
  auto it = aliases->find(alias);
  return it == aliases->end() ? Json(nullptr) : Json{{"version", it->second}};
}

absl::StatusOr<domain::ModelVersion> ManagementApi::ResolveVersion(const HttpRequest& req) {
  const std::string& name = req.Param("name");
  const std::string& v = req.Param("version");
  int64_t number = 0;
  if (absl::SimpleAtoi(v, &number)) {
    if (number < 1) {
      return absl::InvalidArgumentError(absl::StrCat("version: '", v, "' must be >= 1"));
    }
    return registry_->GetVersion(name, number);
  }
  HS_RETURN_IF_ERROR(ValidateName(v, "version (number or alias)"));
  return registry_->GetVersionByAlias(name, v);
}

HttpResponse ManagementApi::GetVersion(HttpRequest& req) {
  auto v = ResolveVersion(req);
  if (!v.ok()) return HttpResponse::Error(v.status());
  return HttpResponse::Json(200, domain::ToJson(*v));
}

HttpResponse ManagementApi::UpdateVersion(HttpRequest& req) {
  auto j = ParseJsonObject(req.body, "request body");
  if (!j.ok()) return HttpResponse::Error(j.status());
  if (auto s = RejectUnknownFields(*j, {"status", "tags"}, "request body"); !s.ok()) {
    return HttpResponse::Error(s);
  }
  std::optional<domain::VersionStatus> status;
  if (j->contains("status")) {
    const Json& s = (*j)["status"];
    if (s.is_string()) status = domain::ParseVersionStatus(s.get<std::string>());
    if (!status) {
      return HttpResponse::Error(absl::InvalidArgumentError(
          "status: expected one of registered, validated, approved, deployed, archived"));
    }
  }
  std::optional<std::map<std::string, std::string>> tags;
  if (j->contains("tags")) {
    auto t = ParseTags((*j)["tags"], "tags");
    if (!t.ok()) return HttpResponse::Error(t.status());
    tags = *std::move(t);
  }
  auto v = ResolveVersion(req);
  if (!v.ok()) return HttpResponse::Error(v.status());
  auto summary = [](const domain::ModelVersion& mv) {
    return Json{{"status", std::string(domain::VersionStatusName(mv.status))}, {"tags", mv.tags}};
  };
  const Json before = summary(*v);
  const std::string target = VersionTarget(v->model_name, v->version);
  if (status) {
    v = registry_->SetVersionStatus(v->model_name, v->version, *status);
    if (!v.ok()) return HttpResponse::Error(v.status());
  }
  if (tags) {
    auto tagged = registry_->SetVersionTags(v->model_name, v->version, *tags);
    if (!tagged.ok()) {
      // The status (two registry calls) did change: that much is recorded.
      if (status) RecordChange(options_.audit, req, "version.update", target, before, summary(*v));
      return HttpResponse::Error(tagged.status());
    }
    v = std::move(tagged);
  }
  RecordChange(options_.audit, req, "version.update", target, before, summary(*v));
  return HttpResponse::Json(200, domain::ToJson(*v));
}

HttpResponse ManagementApi::DownloadArtifact(HttpRequest& req) {
  auto v = ResolveVersion(req);
  if (!v.ok()) return HttpResponse::Error(v.status());
  // Verify before the first byte goes out: a corrupt artifact is refused, never served.
  if (absl::Status s = store_->Verify(v->sha256); !s.ok()) {
    log::Error("artifact failed verification; refusing to serve it",
               {{"model", v->model_name}, {"version", static_cast<long long>(v->version)},
                {"sha256", v->sha256}, {"error", std::string(s.message())}});
    int code = absl::IsDataLoss(s) || absl::IsNotFound(s) ? 500 : HttpStatusFor(s.code());
    return HttpResponse::Error(code, StatusCodeName(s.code()),
                               absl::StrCat("artifact of ", v->model_name, " version ", v->version,
                                            " failed verification: ", s.message()));
  }
  auto reader = store_->Open(v->sha256);
  if (!reader.ok()) return HttpResponse::Error(reader.status());
  std::shared_ptr<storage::ArtifactReader> shared(std::move(*reader));
  HttpResponse r;
  r.content_type = "application/octet-stream";
  r.stream_size = shared->size_bytes();
  r.stream = [shared](uint64_t, char* buf, size_t max) -> ssize_t {
    auto n = shared->Read(buf, max);
    if (!n.ok()) {
      log::Error("artifact changed while streaming; connection closed",
                 {{"error", std::string(n.status().message())}});
      return -2;
    }
    return *n == 0 ? -1 : static_cast<ssize_t>(*n);
  };
  r.headers.emplace_back("X-Content-SHA256", v->sha256);
  r.headers.emplace_back("Content-Disposition",
                         absl::StrCat("attachment; filename=\"", v->model_name, "-", v->version,
                                      ".", v->framework == "onnx" ? "onnx" : "bin", "\""));
  return r;
}

HttpResponse ManagementApi::ListAliases(HttpRequest& req) {
  const std::string& name = req.Param("name");
  auto aliases = registry_->ListAliases(name);
  if (!aliases.ok()) return HttpResponse::Error(aliases.status());
  Json out{{"aliases", Json::object()}};
  for (const auto& [a, v] : *aliases) out["aliases"][a] = v;
  return HttpResponse::Json(200, out);
}

HttpResponse ManagementApi::SetAlias(HttpRequest& req) {
  auto j = ParseJsonObject(req.body, "request body");
  if (!j.ok()) return HttpResponse::Error(j.status());
  if (auto s = RejectUnknownFields(*j, {"version"}, "request body"); !s.ok()) {
    return HttpResponse::Error(s);
  }
  if (!j->contains("version") || !(*j)["version"].is_number_integer() ||
      (*j)["version"].get<int64_t>() < 1) {
    return HttpResponse::Error(absl::InvalidArgumentError("version: required integer >= 1"));
  }
  const std::string& name = req.Param("name");
  const std::string& alias = req.Param("alias");
  if (auto s = ValidateName(alias, "alias"); !s.ok()) return HttpResponse::Error(s);
  int64_t version = (*j)["version"].get<int64_t>();
  Json before = AliasVersion(name, alias);
  if (auto s = registry_->SetAlias(name, alias, version); !s.ok()) return HttpResponse::Error(s);
  RecordChange(options_.audit, req, "alias.set", absl::StrCat(ModelTarget(name), "/alias/", alias),
               before, Json{{"version", version}});
  log::Info("alias set", {{"model", name}, {"alias", alias},
                          {"version", static_cast<long long>(version)}, {"by", req.principal}});
  return HttpResponse::Json(200, Json{{"model", name}, {"alias", alias}, {"version", version}});
}

HttpResponse ManagementApi::DeleteAlias(HttpRequest& req) {
  const std::string& name = req.Param("name");
  const std::string& alias = req.Param("alias");
  if (auto s = ValidateName(alias, "alias"); !s.ok()) return HttpResponse::Error(s);
  Json before = AliasVersion(name, alias);
  if (auto s = registry_->DeleteAlias(name, alias); !s.ok()) return HttpResponse::Error(s);
  RecordChange(options_.audit, req, "alias.delete",
               absl::StrCat(ModelTarget(name), "/alias/", alias), before, nullptr);
  log::Info("alias deleted", {{"model", name}, {"alias", alias}, {"by", req.principal}});
  return HttpResponse::NoContent();
}

HttpResponse ManagementApi::CreateToken(HttpRequest& req) {
  auto j = ParseJsonObject(req.body, "request body");
  if (!j.ok()) return HttpResponse::Error(j.status());
  if (auto s = RejectUnknownFields(*j, {"name", "role"}, "request body"); !s.ok()) {
    return HttpResponse::Error(s);
  }
  if (!j->contains("name") || !(*j)["name"].is_string()) {
    return HttpResponse::Error(absl::InvalidArgumentError("name: required string"));
  }
  std::optional<auth::Role> role;
  if (j->contains("role") && (*j)["role"].is_string()) {
    role = auth::ParseRole((*j)["role"].get<std::string>());
  }
  if (!role) {
    return HttpResponse::Error(absl::InvalidArgumentError(
        "role: required, one of viewer, editor, deployer, approver, admin"));
  }
  auto created = authenticator_->CreateToken((*j)["name"].get<std::string>(), *role);
  if (!created.ok()) return HttpResponse::Error(created.status());
  log::Info("token created", {{"token_name", created->first.name},
                              {"role", std::string(auth::RoleName(*role))}, {"by", req.principal}});
  Json out = TokenJson(created->first);
  // Never the secret (nor its hash) in the audit log.
  RecordChange(options_.audit, req, "token.create", "token/" + created->first.name, nullptr, out);
  out["token"] = created->second;
  return HttpResponse::Json(201, out);
}

HttpResponse ManagementApi::ListTokens(HttpRequest&) {
  auto tokens = authenticator_->ListTokens();
  if (!tokens.ok()) return HttpResponse::Error(tokens.status());
  Json out{{"tokens", Json::array()}};
  for (const auto& t : *tokens) out["tokens"].push_back(TokenJson(t));
  return HttpResponse::Json(200, out);
}

HttpResponse ManagementApi::RevokeToken(HttpRequest& req) {
  const std::string& name = req.Param("name");
  if (auto s = authenticator_->RevokeToken(name); !s.ok()) return HttpResponse::Error(s);
  RecordChange(options_.audit, req, "token.revoke", "token/" + name, Json{{"revoked", false}},
               Json{{"revoked", true}});
  log::Info("token revoked", {{"token_name", name}, {"by", req.principal}});
  return HttpResponse::NoContent();
}

}  // namespace hotswap::api
