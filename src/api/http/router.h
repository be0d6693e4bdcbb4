// Router: maps (method, path) to a route. Patterns are literal segments and `{name}` captures,
// e.g. "/api/v1/models/{name}/versions/{version}". Built once at start-up, then read-only:
// Find() is thread-safe once no more routes are added.
#pragma once

#include <string>
#include <vector>

#include "api/http/http_types.h"

namespace hotswap::http {

struct Route {
  std::string method;
  std::string pattern;
  std::string permission;  // what the middleware must check, e.g. "none", "read", "admin"
  Handler handler;                   // buffered body
  StreamingHandler streaming;        // streamed body (uploads); exactly one of the two is set
  bool access_log = true;            // write an access-log line per request
  int64_t max_body_bytes = -1;       // buffered body limit; -1 = the server's default
  // A quick handler (e.g. V2 infer): it runs on the worker thread, and its answer may wait until
  // the end of the epoll batch (at most ~1 ms) to be sent with the others. Every other handler
  // runs on the server's handler pool, so a slow one never holds back answers that are ready.
  bool batch_answers = false;
  std::vector<std::string> segments; // parsed pattern
};

class Router {
 public:
  Route& Add(std::string method, std::string pattern, std::string permission, Handler handler);
  Route& AddStreaming(std::string method, std::string pattern, std::string permission,
                      StreamingHandler handler);

  enum class Outcome { kFound, kNotFound, kMethodNotAllowed };
  struct Match {
    Outcome outcome = Outcome::kNotFound;
    const Route* route = nullptr;
    std::map<std::string, std::string> params;
    std::vector<std::string> allowed_methods;  // for kMethodNotAllowed
  };
  Match Find(std::string_view method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  Route& AddRoute(Route r);
  std::vector<Route> routes_;
};

// Splits "/a/b/" into {"a","b"}; empty segments are kept except a trailing one.
std::vector<std::string> SplitPath(std::string_view path);

}  // namespace hotswap::http
