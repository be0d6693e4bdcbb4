#include "storage/s3/minio_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"

namespace hotswap::storage::s3::testing {
namespace {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MinioTestServer>> MinioTestServer::Start() {
  const char* bin = HOTSWAP_MINIO_BIN;
  if (access(bin, X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "MinIO is not built at ", bin, ": run scripts/install-deps.sh (it builds MinIO with go install)"));
  }
  std::unique_ptr<MinioTestServer> s(new MinioTestServer());
  char tmpl[] = "/tmp/hotswap-minio-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  s->dir_ = tmpl;
  s->port_ = FreePort();
  s->console_port_ = FreePort();
  if (absl::Status st = s->Launch(); !st.ok()) return st;
  return s;
}

absl::Status MinioTestServer::Launch() {
  const char* bin = HOTSWAP_MINIO_BIN;
  pid_ = fork();
  if (pid_ < 0) return absl::InternalError("fork failed");
  if (pid_ == 0) {
    setenv("MINIO_ROOT_USER", kAccessKey, 1);
    setenv("MINIO_ROOT_PASSWORD", kSecretKey, 1);
    setenv("MINIO_BROWSER", "off", 1);
    setenv("MINIO_UPDATE", "off", 1);
    setenv("MINIO_DOMAIN", "localhost", 1);  // virtual-host style: BUCKET.localhost:PORT
    std::string address = "127.0.0.1:" + std::to_string(port_);
    std::string console = "127.0.0.1:" + std::to_string(console_port_);
    if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(126);
    execl(bin, bin, "server", dir_.c_str(), "--address", address.c_str(), "--console-address",
          console.c_str(), "--quiet", static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 600; ++i) {
    S3Client c(Options());
    auto r = c.Request("GET", "", "");  // ListBuckets: answers once the server is up
    if (r.ok() && r->status == 200) return absl::OkStatus();
    int wstatus = 0;
    if (waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(absl::StrCat("MinIO exited during start-up (status ", wstatus,
                                              ") on port ", port_));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(absl::StrCat("MinIO did not start on port ", port_));
}

absl::Status MinioTestServer::Stop() {
  if (pid_ <= 0) return absl::OkStatus();
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return absl::OkStatus();
}

absl::Status MinioTestServer::Restart() {
  if (absl::Status s = Stop(); !s.ok()) return s;
  return Launch();
}

MinioTestServer::~MinioTestServer() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string MinioTestServer::endpoint() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

S3Options MinioTestServer::Options() const {
  S3Options o;
  o.endpoint = endpoint();
  o.credentials = {kAccessKey, kSecretKey, ""};
  return o;
}

absl::Status MinioTestServer::CreateBucket(const std::string& bucket) {
  S3Client c(Options());
  auto r = c.Request("PUT", bucket, "");
  if (!r.ok()) return r.status();
  absl::Status s = StatusOf(*r);
  return absl::IsAlreadyExists(s) ? absl::OkStatus() : s;
}

}  // namespace hotswap::storage::s3::testing
