// PgTestServer: a throwaway PostgreSQL server for tests. Start() runs initdb into a fresh
// temporary directory and starts the server on a free localhost port (socket in the same
// directory; fsync off: the data is scratch). CreateDatabase() makes one database per test, so
// tests share the server but not data. The destructor stops the server (immediate mode) and
// removes the directory. Stop()/Restart() let a test take the server away and bring it back on
// the same port with the same data.
//
// As root, initdb refuses to run: the server binaries then run as the unprivileged user
// "nobody" (through runuser), which owns the directory.
//
// The binaries are looked for in $HOTSWAP_PG_BIN, then /usr/lib/postgresql/<major>/bin (the
// Debian package "postgresql", listed in scripts/install-deps.sh). Missing binaries are an
// error (FailedPrecondition naming the package), never a silent skip.
//
// Shared() is the one server of a test binary, started on first use and stopped by
// StopShared() (a gtest Environment's TearDown calls it). Under ctest, where every test is its
// own process, one server serves the whole binary: a fixture runs `pg_test_server start PREFIX`
// before the tests and `pg_test_server stop PREFIX` after them; the state file is
// StateFile(PREFIX, ctest's pid), so concurrent ctest runs in one build tree keep apart. The
// tests get $HOTSWAP_PG_TEST_SERVER=PREFIX and find the file through their parent pid (then
// Shared() attaches to that server and never stops it; without the file it starts its own).
// Thread-safe: Shared() and CreateDatabase(); Stop()/Restart() belong to one test at a time.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hotswap::registry::testing {

class PgTestServer {
 public:
  static absl::StatusOr<std::unique_ptr<PgTestServer>> Start();
  // The binary's shared server; the error of the first start is returned on every call.
  static absl::StatusOr<PgTestServer*> Shared();
  static void StopShared();

  // Saves what another process needs to use and stop this server, and gives the server up
  // (the destructor then leaves it running).
  absl::Status Detach(const std::string& state_file);
  // A server saved by Detach(); it is not stopped by the destructor.
  static absl::StatusOr<std::unique_ptr<PgTestServer>> Attach(const std::string& state_file);
  // Stops the server saved in `state_file` and removes its data and the file.
  static absl::Status StopDetached(const std::string& state_file);
  // The state file of the ctest run `ctest_pid`, and the clean-up of runs that died.
  static std::string StateFile(const std::string& prefix, pid_t ctest_pid);
  static void StopAbandoned(const std::string& prefix);

  ~PgTestServer();
  PgTestServer(const PgTestServer&) = delete;
  PgTestServer& operator=(const PgTestServer&) = delete;

  // Creates database `name` (lower-case letters, digits, '_') unless it exists.
  absl::Status CreateDatabase(const std::string& name);
  // libpq connection string for database `name`.
  std::string ConnInfo(const std::string& name) const;
  int port() const { return port_; }

  absl::Status Stop();     // immediate shutdown; clients see dropped connections
  absl::Status Restart();  // starts again on the same port and data

 private:
  PgTestServer() = default;
  absl::Status Run(const std::string& command, const std::string& what) const;
  absl::Status StartServer();

  std::string bin_dir_;
  std::string dir_;
  std::string run_as_;  // "runuser -u nobody -- " when root, else ""
  int port_ = 0;
  bool owned_ = false;  // stopped and removed by the destructor
  bool running_ = false;
};

}  // namespace hotswap::registry::testing
