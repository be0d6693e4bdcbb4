// pg_test_server start|stop PREFIX: starts a throwaway PostgreSQL server for a test binary's
// ctest run and describes it in PREFIX.<ctest pid>, or stops it. Used as a ctest fixture
// (src/registry/postgres/CMakeLists.txt); the tests read $HOTSWAP_PG_TEST_SERVER=PREFIX.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "registry/postgres/pg_test_server.h"

int main(int argc, char** argv) {
  using hotswap::registry::testing::PgTestServer;
  if (argc != 3 || (std::strcmp(argv[1], "start") != 0 && std::strcmp(argv[1], "stop") != 0)) {
    std::fprintf(stderr, "usage: %s start|stop PREFIX\n", argv[0]);
    return 2;
  }
  const std::string state_file = PgTestServer::StateFile(argv[2], ::getppid());
  if (std::strcmp(argv[1], "stop") == 0) {
    absl::Status stopped = PgTestServer::StopDetached(state_file);
    if (!stopped.ok()) {
      std::fprintf(stderr, "pg_test_server stop: %s\n", stopped.ToString().c_str());
      return 1;
    }
    return 0;
  }
  // Servers left by ctest runs that died are stopped first.
  PgTestServer::StopAbandoned(argv[2]);
  auto server = PgTestServer::Start();
  if (!server.ok()) {
    std::fprintf(stderr, "pg_test_server start: %s\n", server.status().ToString().c_str());
    return 1;
  }
  absl::Status detached = (*server)->Detach(state_file);
  if (!detached.ok()) {
    std::fprintf(stderr, "pg_test_server start: %s\n", detached.ToString().c_str());
    return 1;
  }
  std::printf("PostgreSQL test server on 127.0.0.1:%d\n", (*server)->port());
  return 0;
}
