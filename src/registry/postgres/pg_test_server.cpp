#include "registry/postgres/pg_test_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace hotswap::registry::testing {
namespace {

namespace fs = std::filesystem;

// The bin directory holding initdb and pg_ctl, or "" when there is none.
std::string FindBinDir() {
  if (const char* env = std::getenv("HOTSWAP_PG_BIN"); env != nullptr && *env != '\0') {
    return fs::exists(fs::path(env) / "initdb") ? env : "";
  }
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    if (fs::exists(entry.path() / "bin" / "initdb") &&
        fs::exists(entry.path() / "bin" / "pg_ctl")) {
      found.push_back(entry.path() / "bin");
    }
  }
  if (found.empty()) return "";
  // Highest major version; names are numbers ("15"), compare them as such.
  std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
    return std::atoi(a.parent_path().filename().c_str()) <
           std::atoi(b.parent_path().filename().c_str());
  });
  return found.back().string();
}

// A port that was free a moment ago (the kernel's pick for port 0).
absl::StatusOr<int> FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return absl::InternalError("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string ReadTail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
}

std::mutex shared_mu;
std::unique_ptr<PgTestServer>* shared_server = nullptr;  // guarded by shared_mu
absl::Status* shared_error = nullptr;                    // guarded by shared_mu

}  // namespace

std::string PgTestServer::StateFile(const std::string& prefix, pid_t ctest_pid) {
  return absl::StrCat(prefix, ".", ctest_pid);
}

void PgTestServer::StopAbandoned(const std::string& prefix) {
  const fs::path p(prefix);
  const std::string stem = p.filename().string() + ".";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(p.parent_path(), ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(stem)) continue;
    const pid_t pid = std::atoi(name.c_str() + stem.size());
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) {
      StopDetached(entry.path().string()).IgnoreError();
    }
  }
}

absl::StatusOr<std::unique_ptr<PgTestServer>> PgTestServer::Start() {
  std::unique_ptr<PgTestServer> server(new PgTestServer());
  server->owned_ = true;
  server->bin_dir_ = FindBinDir();
  if (server->bin_dir_.empty()) {
    return absl::FailedPreconditionError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or "
        "$HOTSWAP_PG_BIN: install the Debian package 'postgresql' (scripts/install-deps.sh)");
  }
  std::string tmpl = "/tmp/hotswap_pg_XXXXXX";  // short: the socket path must fit 107 bytes
  if (mkdtemp(tmpl.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  server->dir_ = tmpl;
  if (::geteuid() == 0) {
    // initdb refuses to run as root: hand the directory to an unprivileged user.
    const passwd* nobody = ::getpwnam("nobody");
    if (nobody == nullptr)
      return absl::FailedPreconditionError("running as root and no user nobody");
    if (::chown(server->dir_.c_str(), nobody->pw_uid, nobody->pw_gid) != 0) {
      return absl::InternalError(absl::StrCat("chown ", server->dir_, " failed"));
    }
    server->run_as_ = "runuser -u nobody -- ";
  }
  HS_RETURN_IF_ERROR(
      server->Run(absl::StrCat(server->run_as_, server->bin_dir_, "/initdb -D ", server->dir_,
                               "/data -U hotswap --auth=trust -N -E UTF8 --locale=C >",
                               server->dir_, "/initdb.log 2>&1"),
                  "initdb"));
  absl::Status started;
  for (int attempt = 0; attempt < 3; ++attempt) {  // the free port may be taken meanwhile
    HS_ASSIGN_OR_RETURN(server->port_, FreePort());
    started = server->StartServer();
    if (started.ok()) break;
  }
  HS_RETURN_IF_ERROR(started);
  return server;
}

absl::StatusOr<PgTestServer*> PgTestServer::Shared() {
  std::lock_guard<std::mutex> lock(shared_mu);
  if (shared_error != nullptr) return *shared_error;
  if (shared_server == nullptr) {
    // Under ctest the fixture's server is described in a file named after ctest's pid (our
    // parent); run by hand, the binary starts its own.
    const char* prefix = std::getenv("HOTSWAP_PG_TEST_SERVER");
    const std::string state =
        prefix != nullptr && *prefix != '\0' ? StateFile(prefix, ::getppid()) : "";
    absl::StatusOr<std::unique_ptr<PgTestServer>> started =
        !state.empty() && fs::exists(state) ? Attach(state) : Start();
    if (!started.ok()) {
      shared_error = new absl::Status(started.status());
      return *shared_error;
    }
    shared_server = new std::unique_ptr<PgTestServer>(*std::move(started));
  }
  return shared_server->get();
}

void PgTestServer::StopShared() {
  std::lock_guard<std::mutex> lock(shared_mu);
  delete shared_server;
  shared_server = nullptr;
}

absl::Status PgTestServer::Detach(const std::string& state_file) {
  std::ofstream out(state_file, std::ios::trunc);
  out << bin_dir_ << "\n" << dir_ << "\n" << port_ << "\n" << run_as_ << "\n";
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", state_file));
  owned_ = false;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PgTestServer>> PgTestServer::Attach(const std::string& state_file) {
  std::ifstream in(state_file);
  std::unique_ptr<PgTestServer> server(new PgTestServer());
  std::string port;
  if (!std::getline(in, server->bin_dir_) || !std::getline(in, server->dir_) ||
      !std::getline(in, port) || !std::getline(in, server->run_as_) ||
      (server->port_ = std::atoi(port.c_str())) <= 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no test PostgreSQL server described in ", state_file,
        " ($HOTSWAP_PG_TEST_SERVER); did the ctest fixture 'pg_test_server start' fail?"));
  }
  return server;
}

absl::Status PgTestServer::StopDetached(const std::string& state_file) {
  HS_ASSIGN_OR_RETURN(std::unique_ptr<PgTestServer> server, Attach(state_file));
  server->owned_ = true;  // the destructor removes its directory
  server->running_ = true;
  absl::Status stopped = server->Stop();
  server.reset();
  std::error_code ignored;
  fs::remove(state_file, ignored);
  return stopped;
}

PgTestServer::~PgTestServer() {
  if (!owned_) return;  // attached or detached: not ours to stop
  if (running_) Stop().IgnoreError();
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

absl::Status PgTestServer::Run(const std::string& command, const std::string& what) const {
  const int rc = std::system(command.c_str());
  if (rc != 0) {
    return absl::InternalError(absl::StrCat(what, " failed (exit status ", rc, "): ", command, "\n",
                                            ReadTail(dir_ + "/initdb.log"),
                                            ReadTail(dir_ + "/server.log")));
  }
  return absl::OkStatus();
}

absl::Status PgTestServer::StartServer() {
  HS_RETURN_IF_ERROR(
      Run(absl::StrCat(run_as_, bin_dir_, "/pg_ctl -D ", dir_, "/data -l ", dir_,
                       "/server.log -w -t 30 -o \"-p ", port_, " -k ", dir_,
                       " -c listen_addresses=127.0.0.1 -c fsync=off"
                       " -c full_page_writes=off -c max_connections=200\" start >/dev/null 2>&1"),
          "pg_ctl start"));
  running_ = true;
  return absl::OkStatus();
}

absl::Status PgTestServer::Stop() {
  HS_RETURN_IF_ERROR(Run(absl::StrCat(run_as_, bin_dir_, "/pg_ctl -D ", dir_,
                                      "/data -m immediate -w stop >/dev/null 2>&1"),
                         "pg_ctl stop"));
  running_ = false;
  return absl::OkStatus();
}

absl::Status PgTestServer::Restart() { return StartServer(); }

std::string PgTestServer::ConnInfo(const std::string& name) const {
  return absl::StrCat("host=127.0.0.1 port=", port_, " user=hotswap dbname=", name);
}

absl::Status PgTestServer::CreateDatabase(const std::string& name) {
  PGconn* conn = PQconnectdb(ConnInfo("postgres").c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat("test server: ", message));
  }
  PGresult* result = PQexec(conn, absl::StrCat("CREATE DATABASE \"", name, "\"").c_str());
  absl::Status status = absl::OkStatus();
  if (PQresultStatus(result) != PGRES_COMMAND_OK) {
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    if (state == nullptr || std::string_view(state) != "42P04") {  // 42P04: already exists
      status = absl::InternalError(
          absl::StrCat("CREATE DATABASE ", name, ": ", PQresultErrorMessage(result)));
    }
  }
  PQclear(result);
  PQfinish(conn);
  return status;
}

}  // namespace hotswap::registry::testing
