#include "api/http/router.h"

#include <algorithm>

namespace hotswap::http {

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return out;
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.emplace_back(path.substr(start));
      break;
    }
    out.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

Route& Router::AddRoute(Route r) {
  r.segments = SplitPath(r.pattern);
  routes_.push_back(std::move(r));
  return routes_.back();
}

Route& Router::Add(std::string method, std::string pattern, std::string permission,
                   Handler handler) {
  Route r;
  r.method = std::move(method);
  r.pattern = std::move(pattern);
  r.permission = std::move(permission);
  r.handler = std::move(handler);
  return AddRoute(std::move(r));
}

Route& Router::AddStreaming(std::string method, std::string pattern, std::string permission,
                            StreamingHandler handler) {
  Route r;
  r.method = std::move(method);
  r.pattern = std::move(pattern);
  r.permission = std::move(permission);
  r.streaming = std::move(handler);
  return AddRoute(std::move(r));
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match m;
  std::vector<std::string> segs = SplitPath(path);
  for (const Route& r : routes_) {
    if (r.segments.size() != segs.size()) continue;
    std::map<std::string, std::string> params;
    bool ok = true;
    for (size_t i = 0; i < segs.size() && ok; ++i) {
      const std::string& p = r.segments[i];
      if (p.size() >= 2 && p.front() == '{' && p.back() == '}') {
        if (segs[i].empty()) ok = false;
        else params[p.substr(1, p.size() - 2)] = segs[i];
      } else if (p != segs[i]) {
        ok = false;
      }
    }
    if (!ok) continue;
    if (r.method == method) {
      m.outcome = Outcome::kFound;
      m.route = &r;
      m.params = std::move(params);
      return m;
    }
    if (std::find(m.allowed_methods.begin(), m.allowed_methods.end(), r.method) ==
        m.allowed_methods.end()) {
      m.allowed_methods.push_back(r.method);
    }
  }
  m.outcome = m.allowed_methods.empty() ? Outcome::kNotFound : Outcome::kMethodNotAllowed;
  return m;
}

}  // namespace hotswap::http
