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
  // Split without allocating: at most 16 segments are matched (no route has more).
  constexpr size_t kMaxSegments = 16;
  std::string_view segs[kMaxSegments];
  size_t n = 0;
  std::string_view rest = path;
  if (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  bool any = !rest.empty();
  while (any) {
    if (n == kMaxSegments) return Match{};  // longer than any route: not found
    size_t slash = rest.find('/');
    segs[n++] = rest.substr(0, slash);
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);  // "a//b" and "a//" keep their empty segments
  }
  Match m;
  for (const Route& r : routes_) {
    if (r.segments.size() != n) continue;
    bool ok = true;
    for (size_t i = 0; i < n && ok; ++i) {
      const std::string& p = r.segments[i];
      bool capture = p.size() >= 2 && p.front() == '{' && p.back() == '}';
      ok = capture ? !segs[i].empty() : p == segs[i];
    }
    if (!ok) continue;
    if (r.method == method) {
      m.outcome = Outcome::kFound;
      m.route = &r;
      for (size_t i = 0; i < n; ++i) {
        const std::string& p = r.segments[i];
        if (p.size() >= 2 && p.front() == '{' && p.back() == '}') {
          m.params.emplace(p.substr(1, p.size() - 2), std::string(segs[i]));
        }
      }
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
