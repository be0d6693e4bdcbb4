#include "api/audit_api.h"

#include <cstring>
#include <memory>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/status.h"

namespace hotswap::api {

using http::HttpRequest;
using http::HttpResponse;
using nlohmann::json;

namespace {

constexpr int kExportPage = 1000;

json ParsedOrText(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json(text) : j;
}

json CheckpointJson(const registry::AuditCheckpoint& c) {
  return {{"seq", c.seq},       {"hash", c.hash},     {"ts_ms", c.ts_ms},
          {"time", FormatTimestamp(c.ts_ms)}, {"key_id", c.key_id}, {"hmac", c.hmac}};
}

absl::StatusOr<int64_t> ParseTime(const std::string& key, const std::string& text) {
  int64_t ms = 0;
  if (absl::SimpleAtoi(text, &ms) && ms >= 0) return ms;
  if (ParseTimestamp(text, &ms)) return ms;
  return absl::InvalidArgumentError(absl::StrCat(
      key, ": '", text,
      "' is not an RFC 3339 time (2026-11-24T06:00:00Z) or milliseconds since the epoch"));
}

// The filters of a list or export request; `paged` allows limit and after_seq.
absl::StatusOr<registry::AuditQuery> ParseQuery(const HttpRequest& req, bool paged) {
  std::set<std::string> allowed = {"actor", "target", "action", "since", "until"};
  if (paged) allowed.insert({"limit", "after_seq"});
  for (const auto& [k, v] : req.query) {
    if (!allowed.count(k)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown query parameter '", k,
                                                     "'; allowed: ", absl::StrJoin(allowed, ", ")));
    }
  }
  registry::AuditQuery q;
  q.actor = req.QueryOr("actor", "");
  q.target = req.QueryOr("target", "");
  q.action = req.QueryOr("action", "");
  for (const auto* key : {"actor", "target", "action"}) {
    if (req.QueryOr(key, "").size() > 256) {
      return absl::InvalidArgumentError(absl::StrCat(key, ": longer than 256 bytes"));
    }
  }
  if (std::string s = req.QueryOr("since", ""); !s.empty()) {
    HS_ASSIGN_OR_RETURN(q.since_ms, ParseTime("since", s));
  }
  if (std::string s = req.QueryOr("until", ""); !s.empty()) {
    HS_ASSIGN_OR_RETURN(q.until_ms, ParseTime("until", s));
  }
  if (q.since_ms && q.until_ms && *q.since_ms > *q.until_ms) {
    return absl::InvalidArgumentError("since: must not be after until");
  }
  if (paged) {
    std::string limit = req.QueryOr("limit", "100");
    if (!absl::SimpleAtoi(limit, &q.limit) || q.limit < 1 || q.limit > 1000) {
      return absl::InvalidArgumentError(
          absl::StrCat("limit: '", limit, "' is not an integer from 1 to 1000"));
    }
    std::string after = req.QueryOr("after_seq", "0");
    if (!absl::SimpleAtoi(after, &q.after_seq) || q.after_seq < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("after_seq: '", after, "' is not an integer >= 0"));
    }
  }
  return q;
}

}  // namespace

json AuditEntryJson(const registry::AuditEntry& e) {
  return {{"seq", e.seq},
          {"ts_ms", e.ts_ms},
          {"time", FormatTimestamp(e.ts_ms)},
          {"actor", e.actor},
          {"role", e.role},
          {"action", e.action},
          {"target", e.target},
          {"before", ParsedOrText(e.before_json)},
          {"after", ParsedOrText(e.after_json)},
          {"source", e.source},
          {"request_id", e.request_id},
          {"prev_hash", e.prev_hash},
          {"hash", e.hash}};
}

void RecordChange(governance::AuditLog* log, const HttpRequest& req, std::string action,
                  std::string target, const json& before, const json& after) {
  if (log == nullptr) return;
  registry::AuditEntry e;
  e.actor = req.principal;
  e.role = req.principal_role;
  e.action = std::move(action);
  e.target = std::move(target);
  e.source = req.remote_addr;
  e.request_id = req.request_id;
  (void)log->Append(std::move(e), before, after);  // failures are logged and counted there
}

void RecordSystemChange(governance::AuditLog* log, std::string action, std::string target,
                        std::string request_id, const json& before, const json& after) {
  if (log == nullptr) return;
  registry::AuditEntry e;
  e.actor = "system";
  e.role = "system";
  e.action = std::move(action);
  e.target = std::move(target);
  e.request_id = std::move(request_id);
  (void)log->Append(std::move(e), before, after);
}

void AuditApi::RegisterRoutes(http::Router* router) {
  auto bind = [this](HttpResponse (AuditApi::*fn)(HttpRequest&)) {
    return [this, fn](HttpRequest& req) { return (this->*fn)(req); };
  };
  router->Add("GET", "/api/v1/audit", "admin", bind(&AuditApi::List));
  router->Add("GET", "/api/v1/audit/export", "admin", bind(&AuditApi::Export));
  router->Add("GET", "/api/v1/audit/verify", "admin", bind(&AuditApi::Verify));
  router->Add("GET", "/api/v1/audit/checkpoints", "admin", bind(&AuditApi::ListCheckpoints));
  router->Add("POST", "/api/v1/audit/checkpoints", "admin", bind(&AuditApi::CreateCheckpoint));
}

HttpResponse AuditApi::List(HttpRequest& req) {
  auto q = ParseQuery(req, /*paged=*/true);
  if (!q.ok()) return HttpResponse::Error(q.status());
  auto entries = log_->store().List(*q);
  if (!entries.ok()) return HttpResponse::Error(entries.status());
  json out{{"entries", json::array()}, {"next_after_seq", nullptr}};
  for (const auto& e : *entries) out["entries"].push_back(AuditEntryJson(e));
  if (static_cast<int>(entries->size()) == q->limit) out["next_after_seq"] = entries->back().seq;
  return HttpResponse::Json(200, out);
}

HttpResponse AuditApi::Export(HttpRequest& req) {
  auto q = ParseQuery(req, /*paged=*/false);
  if (!q.ok()) return HttpResponse::Error(q.status());
  q->limit = kExportPage;
  // The first page is read now, so a database error is a proper error response.
  auto first = log_->store().List(*q);
  if (!first.ok()) return HttpResponse::Error(first.status());
  struct State {
    registry::AuditQuery query;
    std::string buffer;
    size_t offset = 0;
    bool done = false;
  };
  auto state = std::make_shared<State>();
  state->query = *q;
  auto fill = [state](const std::vector<registry::AuditEntry>& page) {
    state->buffer.clear();
    state->offset = 0;
    for (const auto& e : page) {
      json line = AuditEntryJson(e);
      // The stored text of before/after, byte for byte, for recomputing the hash elsewhere.
      line["before_json"] = e.before_json;
      line["after_json"] = e.after_json;
      state->buffer += line.dump(-1, ' ', false, json::error_handler_t::replace);
      state->buffer += '\n';
    }
    if (!page.empty()) state->query.after_seq = page.back().seq;
    state->done = static_cast<int>(page.size()) < kExportPage;
  };
  fill(*first);
  governance::AuditLog* log = log_;
  HttpResponse r;
  r.content_type = "application/x-ndjson";
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"audit.jsonl\"");
  r.stream = [state, fill, log](uint64_t, char* buf, size_t max) -> ssize_t {
    while (state->offset == state->buffer.size()) {
      if (state->done) return -1;
      auto page = log->store().List(state->query);
      if (!page.ok()) return -2;  // the connection is closed: the client sees a cut export
      fill(*page);
    }
    size_t n = std::min(max, state->buffer.size() - state->offset);
    std::memcpy(buf, state->buffer.data() + state->offset, n);
    state->offset += n;
    return static_cast<ssize_t>(n);
  };
  return r;
}

HttpResponse AuditApi::Verify(HttpRequest& req) {
  if (!req.query.empty()) {
    return HttpResponse::Error(
        absl::InvalidArgumentError("GET /api/v1/audit/verify takes no query parameters"));
  }
  auto report = log_->Verify();
  if (!report.ok()) return HttpResponse::Error(report.status());
  json problems = json::array();
  for (const auto& p : report->problems) {
    problems.push_back({{"seq", p.seq}, {"kind", p.kind}, {"message", p.message}});
  }
  json out{{"ok", report->ok},
           {"entries", report->entries},
           {"head_seq", report->head_seq},
           {"head_hash", report->head_hash},
           {"checkpoints", report->checkpoints},
           {"last_checkpoint_seq", report->last_checkpoint_seq},
           {"unprotected_entries", report->unprotected_entries},
           {"key_id", log_->key_id()},
           {"first_bad_seq", nullptr},
           {"problems", problems}};
  if (report->first_bad_seq) out["first_bad_seq"] = *report->first_bad_seq;
  return HttpResponse::Json(200, out);
}

HttpResponse AuditApi::ListCheckpoints(HttpRequest&) {
  auto cps = log_->store().ListCheckpoints();
  if (!cps.ok()) return HttpResponse::Error(cps.status());
  json out{{"checkpoints", json::array()}};
  for (const auto& c : *cps) out["checkpoints"].push_back(CheckpointJson(c));
  return HttpResponse::Json(200, out);
}

HttpResponse AuditApi::CreateCheckpoint(HttpRequest& req) {
  if (!req.body.empty() && req.body != "{}") {
    return HttpResponse::Error(
        absl::InvalidArgumentError("POST /api/v1/audit/checkpoints takes no request body"));
  }
  auto cp = log_->Checkpoint();
  if (!cp.ok()) return HttpResponse::Error(cp.status());
  return HttpResponse::Json(201, CheckpointJson(*cp));
}

}  // namespace hotswap::api
