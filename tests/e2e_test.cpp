// End-to-end tests of the real `hotswap` binary: default start-up, restart durability through the
// CLI, and a SIGKILL in the middle of an upload.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/test_util.h"

namespace hotswap {
namespace {

using nlohmann::json;
using testing_util::Http;
using testing_util::TempDir;

struct Child {
  pid_t pid = -1;
  int port = 0;
  std::string output;  // what the server printed on stdout
};

// Starts `hotswap serve ARGS` in `cwd` and waits until it prints where it listens.
Child StartServer(const std::vector<std::string>& args, const std::string& cwd) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], STDOUT_FILENO);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, STDERR_FILENO);
    close(pipefd[0]);
    if (chdir(cwd.c_str()) != 0) _exit(127);
    std::vector<std::string> full = {HOTSWAP_BINARY, "serve"};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : full) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(HOTSWAP_BINARY, argv.data());
    _exit(127);
  }
  close(pipefd[1]);
  Child c;
  c.pid = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  char buf[4096];
  fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  while (std::chrono::steady_clock::now() < deadline) {
    ssize_t n = read(pipefd[0], buf, sizeof buf);
    if (n > 0) c.output.append(buf, static_cast<size_t>(n));
    if (n == 0) break;  // the child exited
    size_t at = c.output.find("serving on http://127.0.0.1:");
    if (at != std::string::npos && c.output.find("Try:", at) != std::string::npos) {
      c.port = std::atoi(c.output.c_str() + at + std::string("serving on http://127.0.0.1:").size());
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  close(pipefd[0]);
  return c;
}

int StopServer(Child& c, int sig = SIGTERM) {
  if (c.pid <= 0) return -1;
  kill(c.pid, sig);
  int status = 0;
  waitpid(c.pid, &status, 0);
  c.pid = -1;
  return status;
}

// Runs the CLI binary; returns exit code and stdout.
std::pair<int, std::string> RunCliBinary(const std::vector<std::string>& args) {
  std::string cmd = HOTSWAP_BINARY;
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return {WEXITSTATUS(status), out};
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

bool PortFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

TEST(EndToEnd, ServeWithNoFlagsUsesTheEmbeddedDefaults) {
  if (!PortFree(8080)) {
    GTEST_SKIP() << "port 8080 is in use on this machine; this test checks the default address";
  }
  TempDir dir;
  Child c = StartServer({}, dir.path());
  ASSERT_EQ(c.port, 8080) << c.output;
  std::string token_path = dir.path() + "/hotswap-data/admin.token";
  struct stat st{};
  ASSERT_EQ(stat(token_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string token = ReadFile(token_path);
  EXPECT_EQ(token.rfind("hs_", 0), 0u);
  EXPECT_NE(c.output.find(token), std::string::npos) << "the token is printed once on first start";
  EXPECT_TRUE(std::ifstream(dir.path() + "/hotswap-data/registry.db").good());
  EXPECT_EQ(Http("GET", "http://127.0.0.1:8080/healthz").status, 200);
  EXPECT_EQ(Http("GET", "http://127.0.0.1:8080/api/v1/models", "", {"Authorization: Bearer " + token}).status, 200);
  int status = StopServer(c);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "graceful shutdown exits 0";

  Child again = StartServer({}, dir.path());
  ASSERT_EQ(again.port, 8080);
  EXPECT_EQ(again.output.find(token), std::string::npos) << "the token is printed only once";
  EXPECT_EQ(ReadFile(token_path), token);
  StopServer(again);
}

TEST(EndToEnd, ModelRegisteredWithTheCliSurvivesARestart) {
  TempDir dir;
  std::string data = dir.path() + "/data";
  Child c = StartServer({"--data-dir", data, "--http", "127.0.0.1:0"}, dir.path());
  ASSERT_GT(c.port, 0) << c.output;
  std::string url = absl::StrCat("http://127.0.0.1:", c.port);
  std::string token = ReadFile(data + "/admin.token");
  std::string artifact = dir.path() + "/m.onnx";
  std::ofstream(artifact) << "model bytes";
  ASSERT_EQ(RunCliBinary({"--url", url, "--token", token, "model", "register", "iris"}).first, 0);
  ASSERT_EQ(RunCliBinary({"--url", url, "--token", token, "version", "upload", "iris", artifact}).first, 0);
  ASSERT_EQ(RunCliBinary({"--url", url, "--token", token, "alias", "set", "iris", "production", "1"}).first, 0);
  StopServer(c);

  Child again = StartServer({"--data-dir", data, "--http", "127.0.0.1:0"}, dir.path());
  ASSERT_GT(again.port, 0);
  url = absl::StrCat("http://127.0.0.1:", again.port);
  auto [code, out] = RunCliBinary({"--url", url, "--token", token, "--json", "version", "show", "iris", "production"});
  ASSERT_EQ(code, 0) << out;
  json v = json::parse(out);
  EXPECT_EQ(v["version"], 1);
  std::string dest = dir.path() + "/back.onnx";
  EXPECT_EQ(RunCliBinary({"--url", url, "--token", token, "version", "download", "iris", "1", "-o", dest}).first, 0);
  EXPECT_EQ(ReadFile(dest), "model bytes");
  StopServer(again);
}

TEST(EndToEnd, SigkillDuringAnUploadLeavesNoHalfRegisteredVersion) {
  TempDir dir;
  std::string data = dir.path() + "/data";
  Child c = StartServer({"--data-dir", data, "--http", "127.0.0.1:0"}, dir.path());
  ASSERT_GT(c.port, 0) << c.output;
  std::string url = absl::StrCat("http://127.0.0.1:", c.port);
  std::string token = ReadFile(data + "/admin.token");
  std::string auth = "Authorization: Bearer " + token;
  ASSERT_EQ(Http("POST", url + "/api/v1/models", R"({"name":"iris"})", {auth, "Content-Type: application/json"}).status, 201);

  // Send the headers and half of an 8 MiB upload, keep the connection open, then SIGKILL.
  testing_util::Multipart mp;
  mp.Field("metadata", R"({"framework":"onnx"})").File("artifact", "m.onnx", std::string(8 << 20, 'x'));
  std::string body = mp.Finish();
  std::string head = "POST /api/v1/models/iris/versions HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n" +
                     mp.ContentType() + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  testing_util::RawConnection conn(c.port);
  ASSERT_TRUE(conn.Send(head + body.substr(0, body.size() / 2)));
  // Wait until the server is writing the temp file, so the kill lands mid-upload.
  EXPECT_TRUE(testing_util::WaitFor([&] { return !testing_util::ListFiles(data + "/artifacts/tmp").empty(); }));
  int status = StopServer(c, SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(status));
  conn.Close();

  Child again = StartServer({"--data-dir", data, "--http", "127.0.0.1:0"}, dir.path());
  ASSERT_GT(again.port, 0);
  url = absl::StrCat("http://127.0.0.1:", again.port);
  auto versions = Http("GET", url + "/api/v1/models/iris/versions", "", {auth});
  ASSERT_EQ(versions.status, 200);
  EXPECT_EQ(versions.json()["versions"].size(), 0u);
  EXPECT_TRUE(testing_util::ListFiles(data + "/artifacts/tmp").empty()) << "leftover temp files are removed at start-up";
  EXPECT_TRUE(testing_util::ListFiles(data + "/artifacts/sha256").empty());
  // And the next upload works.
  testing_util::Multipart ok;
  ok.Field("metadata", R"({"framework":"onnx"})").File("artifact", "m.onnx", "small");
  auto r = Http("POST", url + "/api/v1/models/iris/versions", ok.Finish(), {auth, ok.ContentType()});
  EXPECT_EQ(r.status, 201) << r.body;
  StopServer(again);
}

}  // namespace
}  // namespace hotswap
