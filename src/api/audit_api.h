// AuditApi: the read side of the audit log under /api/v1/audit (admin only), and RecordChange(),
// which the other APIs call after every successful change to append who did what.
//
//   GET  /api/v1/audit?actor=&target=&action=&since=&until=&limit=&after_seq=
//        {"entries": [...], "next_after_seq": N | null}; ascending by seq. since/until are RFC 3339
//        times or epoch milliseconds (since inclusive, until exclusive); target matches itself
//        and everything below it ("model/iris" also finds "model/iris/version/3"); action
//        matches itself or a family ("deployment" finds "deployment.create"). limit 1..1000
//        (default 100). Unknown parameters are refused (400), so a typo cannot widen a query.
//   GET  /api/v1/audit/export        the same filters, every match as JSON Lines
//                                    (application/x-ndjson), streamed page by page
//   GET  /api/v1/audit/verify        recomputes the chain and checks the checkpoints' HMACs
//   GET  /api/v1/audit/checkpoints   the signed checkpoints
//   POST /api/v1/audit/checkpoints   signs the current head now (201; 409 if already signed)
// There are no routes that change or remove entries.
//
// Thread-safe once registered (the AuditLog is).
#pragma once

#include <string>

#include "api/http/router.h"
#include "governance/audit_log.h"
#include "nlohmann/json.hpp"

namespace hotswap::api {

class AuditApi {
 public:
  explicit AuditApi(governance::AuditLog* log) : log_(log) {}
  void RegisterRoutes(http::Router* router);

 private:
  http::HttpResponse List(http::HttpRequest& req);
  http::HttpResponse Export(http::HttpRequest& req);
  http::HttpResponse Verify(http::HttpRequest& req);
  http::HttpResponse ListCheckpoints(http::HttpRequest& req);
  http::HttpResponse CreateCheckpoint(http::HttpRequest& req);

  governance::AuditLog* log_;
};

// Appends an entry for a change `req` made: actor and role from the authenticated token, source
// from the client address, request id from X-Request-Id (or the generated one). Call it only
// after the change succeeded. Does nothing when `log` is nullptr; a failed append is logged and
// counted by the AuditLog and never changes the response.
void RecordChange(governance::AuditLog* log, const http::HttpRequest& req, std::string action,
                  std::string target, const nlohmann::json& before, const nlohmann::json& after);

// The same for the server's own actions (actor and role "system"; no source).
void RecordSystemChange(governance::AuditLog* log, std::string action, std::string target,
                        std::string request_id, const nlohmann::json& before,
                        const nlohmann::json& after);

// An entry as the API shows it.
nlohmann::json AuditEntryJson(const registry::AuditEntry& e);

}  // namespace hotswap::api
