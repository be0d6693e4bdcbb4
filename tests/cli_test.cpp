// The `hotswap` CLI against a real server (in-process, port 0): people-facing tables, --json for
// scripts, helpful errors and exit codes.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "cli/cli.h"
#include "common/sha256.h"
#include "tests/test_util.h"

namespace hotswap {
namespace {

using nlohmann::json;

struct CliResult {
  int code;
  std::string out;
  std::string err;
  json Json() const { return json::parse(out, nullptr, false); }
};

class CliTest : public ::testing::Test {
 protected:
  CliResult Run(std::vector<std::string> args, const std::string& token = "@admin") {
    std::vector<std::string> full = {"hotswap", "--url", s_.Url("")};
    if (!token.empty()) {
      full.push_back("--token");
      full.push_back(token == "@admin" ? s_.admin() : token);
    }
    full.insert(full.end(), args.begin(), args.end());
    std::vector<const char*> argv;
    for (const auto& a : full) argv.push_back(a.c_str());
    std::ostringstream out, err;
    int code = cli::RunCli(static_cast<int>(argv.size()), argv.data(), out, err);
    return {code, out.str(), err.str()};
  }
  std::string WriteFile(const std::string& name, const std::string& content) {
    std::string path = dir_.path() + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  testing_util::TempDir dir_;
  testing_util::TestServer s_;
};

TEST_F(CliTest, RegisterListShowAndDeleteModel) {
  CliResult r = Run({"model", "register", "iris", "--description", "flowers", "--tag", "team=ml"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("registered model 'iris'"), std::string::npos);
  CliResult list = Run({"model", "list"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("NAME"), std::string::npos);
  EXPECT_NE(list.out.find("iris"), std::string::npos);
  EXPECT_NE(list.out.find("team=ml"), std::string::npos);
  CliResult show = Run({"--json", "model", "show", "iris"});
  ASSERT_EQ(show.code, 0);
  EXPECT_EQ(show.Json()["description"], "flowers");
  CliResult human = Run({"model", "show", "iris"});
  EXPECT_NE(human.out.find("description: flowers"), std::string::npos);
  ASSERT_EQ(Run({"model", "delete", "iris"}).code, 0);
  EXPECT_EQ(Run({"model", "show", "iris"}).code, 1);
}

TEST_F(CliTest, DatasetPutAndListShowTheStoredCsvAndABadCsvIsRefused) {
  ASSERT_EQ(Run({"model", "register", "iris"}).code, 0);
  std::string schema = WriteFile(
      "schema.json",
      R"({"inputs":[{"name":"x","datatype":"FP32","shape":[-1,2]}],"outputs":[{"name":"y","datatype":"FP32","shape":[-1]}]})");
  ASSERT_EQ(Run({"version", "upload", "iris", WriteFile("m.onnx", std::string(1000, 'k')), "--framework",
                 "onnx", "--schema", schema}).code, 0);
  const std::string csv = "a,b,label\n1,2,x\n3,4,y\n";
  CliResult put = Run({"dataset", "put", "iris", "1", "holdout", WriteFile("h.csv", csv)});
  ASSERT_EQ(put.code, 0) << put.err;
  EXPECT_NE(put.out.find("stored holdout dataset of iris version 1: 2 rows, 3 columns"), std::string::npos)
      << put.out;
  CliResult list = Run({"dataset", "list", "iris", "1"});
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_NE(list.out.find("KIND"), std::string::npos);
  EXPECT_NE(list.out.find("holdout"), std::string::npos);
  CliResult j = Run({"--json", "dataset", "list", "iris", "1"});
  ASSERT_EQ(j.Json()["datasets"].size(), 1u);
  EXPECT_EQ(j.Json()["datasets"][0]["sha256"], Sha256Hex(csv));
  CliResult bad = Run({"dataset", "put", "iris", "1", "reference", WriteFile("bad.csv", "a,b\nx,2\n")});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("not a finite number"), std::string::npos) << bad.err;
  EXPECT_EQ(Run({"dataset", "put", "iris", "1", "training", WriteFile("t.csv", csv)}).code, 2);
  EXPECT_EQ(Run({"--json", "dataset", "list", "iris", "1"}).Json()["datasets"].size(), 1u);
  CliResult help = Run({"dataset", "put", "--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("holdout, reference or background"), std::string::npos);
}

TEST_F(CliTest, ListFollowsPagesAndFilters) {
  for (int i = 0; i < 5; ++i) ASSERT_EQ(Run({"model", "register", "m" + std::to_string(i)}).code, 0);
  ASSERT_EQ(Run({"model", "register", "other"}).code, 0);
  CliResult r = Run({"--json", "model", "list", "--limit", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.Json()["models"].size(), 6u);
  CliResult f = Run({"--json", "model", "list", "--prefix", "m"});
  EXPECT_EQ(f.Json()["models"].size(), 5u);
}

TEST_F(CliTest, UploadShowListAndDownloadVerifiesTheBytes) {
  ASSERT_EQ(Run({"model", "register", "iris"}).code, 0);
  std::string content(200000, 'k');
  content[100] = '\0';
  std::string file = WriteFile("model.onnx", content);
  std::string schema = WriteFile(
      "schema.json",
      R"({"inputs":[{"name":"x","datatype":"FP32","shape":[-1,4]}],"outputs":[{"name":"y","datatype":"FP32","shape":[-1,3]}]})");
  CliResult up = Run({"--json", "version", "upload", "iris", file, "--framework", "onnx", "--schema",
                      schema, "--tag", "stage=exp"});
  ASSERT_EQ(up.code, 0) << up.err;
  EXPECT_EQ(up.Json()["version"], 1);
  EXPECT_EQ(up.Json()["sha256"], Sha256Hex(content));
  EXPECT_EQ(up.Json()["schema"]["inputs"][0]["name"], "x");
  CliResult up2 = Run({"version", "upload", "iris", file, "--parent", "1"});
  ASSERT_EQ(up2.code, 0) << up2.err;
  EXPECT_NE(up2.out.find("uploaded iris version 2"), std::string::npos);
  CliResult list = Run({"version", "list", "iris"});
  ASSERT_EQ(list.code, 0);
  EXPECT_NE(list.out.find("VERSION"), std::string::npos);
  EXPECT_NE(list.out.find("onnx"), std::string::npos);
  CliResult show = Run({"version", "show", "iris", "2"});
  EXPECT_NE(show.out.find("parent:    1"), std::string::npos);
  std::string dest = dir_.path() + "/out.onnx";
  CliResult dl = Run({"version", "download", "iris", "1", "-o", dest});
  ASSERT_EQ(dl.code, 0) << dl.err;
  std::ifstream in(dest, std::ios::binary);
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(got == content);
}

TEST_F(CliTest, UploadWithMetadataFileAndExplicitVersion) {
  ASSERT_EQ(Run({"model", "register", "iris"}).code, 0);
  std::string file = WriteFile("m.onnx", "bytes");
  std::string meta = WriteFile("meta.json", R"({"framework":"onnx","training":{"run_id":"r1"}})");
  CliResult up = Run({"--json", "version", "upload", "iris", file, "--metadata", meta, "--version", "7"});
  ASSERT_EQ(up.code, 0) << up.err;
  EXPECT_EQ(up.Json()["version"], 7);
  EXPECT_EQ(up.Json()["training"]["run_id"], "r1");
  CliResult dup = Run({"version", "upload", "iris", file, "--version", "7"});
  EXPECT_EQ(dup.code, 1);
  EXPECT_NE(dup.err.find("already exists"), std::string::npos);
}

TEST_F(CliTest, AliasSetListAndDelete) {
  ASSERT_EQ(Run({"model", "register", "iris"}).code, 0);
  std::string file = WriteFile("m.onnx", "bytes");
  ASSERT_EQ(Run({"version", "upload", "iris", file}).code, 0);
  CliResult set = Run({"alias", "set", "iris", "production", "1"});
  ASSERT_EQ(set.code, 0) << set.err;
  EXPECT_NE(set.out.find("iris@production -> version 1"), std::string::npos);
  CliResult list = Run({"--json", "alias", "list", "iris"});
  EXPECT_EQ(list.Json()["aliases"]["production"], 1);
  CliResult human = Run({"alias", "list", "iris"});
  EXPECT_NE(human.out.find("production"), std::string::npos);
  EXPECT_EQ(Run({"alias", "delete", "iris", "production"}).code, 0);
  EXPECT_EQ(Run({"alias", "delete", "iris", "production"}).code, 1);
}

TEST_F(CliTest, DeployWaitsForTheOutcomeAndEndpointsShowWhatServes) {
  ASSERT_EQ(Run({"model", "register", "iris"}).code, 0);
  std::string model = std::string(HOTSWAP_DEMO_MODELS_DIR) + "/iris.onnx";
  ASSERT_EQ(Run({"version", "upload", "iris", model}).code, 0);
  CliResult d = Run({"deploy", "iris", "--version", "1"});
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_NE(d.out.find("succeeded"), std::string::npos) << d.out;
  CliResult eps = Run({"endpoint", "list"});
  EXPECT_NE(eps.out.find("ENDPOINT"), std::string::npos);
  EXPECT_NE(eps.out.find("iris"), std::string::npos);
  CliResult json_eps = Run({"--json", "endpoint", "list"});
  EXPECT_EQ(json_eps.Json()["endpoints"][0]["version"], 1);
  CliResult deps = Run({"--json", "deployment", "list", "--endpoint", "iris"});
  ASSERT_EQ(deps.Json()["deployments"].size(), 1u);
  std::string id = deps.Json()["deployments"][0]["id"];
  EXPECT_NE(Run({"deployment", "show", id}).out.find("succeeded"), std::string::npos);
  EXPECT_NE(Run({"deployment", "list"}).out.find(id), std::string::npos);
  // A version the engine refuses: the deploy fails with exit code 1 and says why.
  std::string bad = WriteFile("bad.onnx", "not a model");
  ASSERT_EQ(Run({"version", "upload", "iris", bad}).code, 0);
  CliResult failed = Run({"deploy", "iris", "--version", "2"});
  EXPECT_EQ(failed.code, 1);
  EXPECT_NE(failed.out.find("failed"), std::string::npos);
  CliResult nowait = Run({"--json", "deploy", "iris", "--version", "1", "--no-wait"});
  EXPECT_EQ(nowait.code, 0);
  EXPECT_EQ(nowait.Json()["state"], "pending");
  ASSERT_TRUE(testing_util::WaitFor([&] {
    return Run({"--json", "deployment", "show", nowait.Json()["id"]}).Json()["state"] != "pending";
  }));
  EXPECT_EQ(Run({"endpoint", "undeploy", "iris"}).code, 0);
  EXPECT_EQ(Run({"--json", "endpoint", "list"}).Json()["endpoints"].size(), 0u);
  EXPECT_EQ(Run({"endpoint", "undeploy", "iris"}).code, 1);
}

TEST_F(CliTest, FeedbackFromAFileAndMonitorShowsTheAccuracy) {
  ASSERT_EQ(Run({"model", "register", "iris"}).code, 0);
  ASSERT_EQ(Run({"version", "upload", "iris", std::string(HOTSWAP_DEMO_MODELS_DIR) + "/iris.onnx"}).code, 0);
  ASSERT_EQ(Run({"deploy", "iris", "--version", "1"}).code, 0);
  // Two predictions of class 0 (setosa-like rows).
  for (const char* id : {"p1", "p2"}) {
    std::string body = std::string(R"({"id":")") + id +
                       R"(","inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]})";
    ASSERT_EQ(testing_util::Http("POST", s_.Url("/v2/models/iris/infer"), body,
                                 {"Authorization: Bearer " + s_.admin()}).status, 200);
  }
  std::string file = WriteFile("fb.jsonl", "{\"request_id\": \"p1\", \"label\": 0}\n\n"
                                           "{\"request_id\": \"p2\", \"label\": 1}\n"
                                           "{\"request_id\": \"zz\", \"label\": 1}\n");
  CliResult fb = Run({"feedback", "--file", file});
  ASSERT_EQ(fb.code, 0) << fb.err;
  EXPECT_NE(fb.out.find("3 items: 2 matched, 1 unknown"), std::string::npos) << fb.out;
  CliResult one = Run({"--json", "feedback", "--request-id", "p1", "--label", "0"});
  ASSERT_EQ(one.code, 0) << one.err;
  EXPECT_EQ(one.Json()["duplicate"], 1);
  CliResult mon = Run({"--json", "monitor", "iris", "--window", "1m"});
  ASSERT_EQ(mon.code, 0) << mon.err;
  EXPECT_DOUBLE_EQ(mon.Json()["series"][0]["accuracy"]["classification"]["accuracy"].get<double>(), 0.5);
  CliResult human = Run({"monitor", "iris"});
  ASSERT_EQ(human.code, 0) << human.err;
  EXPECT_NE(human.out.find("acc 0.5 (n=2)"), std::string::npos) << human.out;
  // Bad input: a malformed line, a missing request id, an unknown endpoint.
  std::string bad = WriteFile("bad.jsonl", "{\"request_id\": \"p1\", \"label\": 0}\nnot json\n");
  CliResult b = Run({"feedback", "--file", bad});
  EXPECT_EQ(b.code, 2);
  EXPECT_NE(b.err.find("bad.jsonl:2: not a JSON object"), std::string::npos) << b.err;
  EXPECT_EQ(Run({"feedback", "--label", "1"}).code, 2);
  CliResult unknown = Run({"monitor", "nope"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.err.find("nope"), std::string::npos) << unknown.err;
}

TEST_F(CliTest, CanaryFromTheCommandLineWithStatusPromoteAndAbort) {
  ASSERT_EQ(Run({"model", "register", "iris"}).code, 0);
  std::string model = std::string(HOTSWAP_DEMO_MODELS_DIR) + "/iris.onnx";
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Run({"version", "upload", "iris", model}).code, 0);
  ASSERT_EQ(Run({"deploy", "iris", "--version", "1"}).code, 0);
  EXPECT_EQ(Run({"deploy", "iris", "--version", "2", "--strategy", "canary", "--steps", "ten"}).code,
            2);
  EXPECT_EQ(Run({"deploy", "iris", "--version", "2", "--strategy", "canary", "--analysis", "[1]"})
                .code,
            2);
  CliResult d = Run({"deploy", "iris", "--version", "2", "--strategy", "canary", "--steps",
                     "10:1h,40:1h", "--analysis", R"({"min_requests": 5})"});
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_NE(d.out.find("progressing"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("hotswap rollout status iris --watch"), std::string::npos) << d.out;
  CliResult js = Run({"--json", "rollout", "status", "iris"});
  ASSERT_EQ(js.code, 0) << js.err;
  EXPECT_EQ(js.Json()["state"], "progressing");
  EXPECT_EQ(js.Json()["step"], 1);
  EXPECT_EQ(js.Json()["weights"]["candidate"], 10.0);
  EXPECT_TRUE(js.Json()["decisions"].is_array());
  EXPECT_EQ(js.Json()["rollout"]["spec"]["steps"][1]["duration_s"], 3600.0);
  CliResult human = Run({"rollout", "status", "iris"});
  EXPECT_NE(human.out.find("step 1/2, weights: stable 90%, candidate 10%"), std::string::npos)
      << human.out;
  CliResult next = Run({"rollout", "promote", "iris"});
  ASSERT_EQ(next.code, 0) << next.err;
  EXPECT_NE(next.out.find("step 2/2"), std::string::npos) << next.out;
  CliResult full = Run({"--json", "rollout", "promote", "iris", "--full"});
  ASSERT_EQ(full.code, 0) << full.err;
  EXPECT_EQ(full.Json()["state"], "succeeded");
  CliResult ended = Run({"rollout", "abort", "iris"});
  EXPECT_EQ(ended.code, 1);
  EXPECT_NE(ended.err.find("has ended"), std::string::npos) << ended.err;
  // A second rollout, aborted by id.
  CliResult second = Run({"--json", "deploy", "iris", "--version", "3", "--strategy", "canary"});
  ASSERT_EQ(second.code, 0) << second.err;
  std::string id = second.Json()["id"];
  CliResult aborted = Run({"rollout", "abort", id});
  ASSERT_EQ(aborted.code, 0) << aborted.err;
  EXPECT_NE(aborted.out.find("aborted"), std::string::npos);
  CliResult status = Run({"rollout", "status", id, "--watch"});  // ended: returns at once
  EXPECT_NE(status.out.find("stable 100%, candidate 0%"), std::string::npos) << status.out;
  EXPECT_EQ(Run({"rollout", "status", "nothing-here"}).code, 1);
}

TEST_F(CliTest, TokenCreateListRevoke) {
  CliResult c = Run({"--json", "token", "create", "--name", "ci", "--role", "viewer"});
  ASSERT_EQ(c.code, 0) << c.err;
  std::string secret = c.Json()["token"];
  EXPECT_EQ(Run({"model", "list"}, secret).code, 0);
  EXPECT_EQ(Run({"model", "register", "x"}, secret).code, 1);
  CliResult list = Run({"token", "list"});
  EXPECT_NE(list.out.find("ci"), std::string::npos);
  EXPECT_NE(list.out.find("viewer"), std::string::npos);
  CliResult human = Run({"token", "create", "--name", "ops", "--role", "admin"});
  EXPECT_NE(human.out.find("not shown again"), std::string::npos);
  ASSERT_EQ(Run({"token", "revoke", "ci"}).code, 0);
  EXPECT_EQ(Run({"model", "list"}, secret).code, 1);
}

TEST_F(CliTest, UnreachableServerGivesAHelpfulMessageAndExitCode3) {
  const char* argv[] = {"hotswap", "--url", "http://127.0.0.1:1", "model", "list"};
  std::ostringstream out, err;
  int code = cli::RunCli(5, argv, out, err);
  EXPECT_EQ(code, 3);
  EXPECT_NE(err.str().find("cannot reach http://127.0.0.1:1: connection refused — is 'hotswap serve' running?"),
            std::string::npos)
      << err.str();
}

TEST_F(CliTest, MissingTokenExplainsWhereToFindOne) {
  CliResult r = Run({"model", "list"}, "");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing API token"), std::string::npos);
  EXPECT_NE(r.err.find("HOTSWAP_TOKEN"), std::string::npos);
}

TEST_F(CliTest, UsageErrorsExitWith2AndHelpWorks) {
  EXPECT_EQ(Run({"model", "frobnicate"}).code, 2);
  EXPECT_EQ(Run({"version", "upload", "iris", "/no/such/file"}).code, 2);
  EXPECT_EQ(Run({"model", "register", "iris", "--tag", "novalue"}).code, 2);
  CliResult help = Run({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("serve"), std::string::npos);
  EXPECT_NE(help.out.find("version"), std::string::npos);
  CliResult sub = Run({"version", "upload", "--help"});
  EXPECT_NE(sub.out.find("--framework"), std::string::npos);
}

TEST_F(CliTest, ServeRejectsBadFlagsAndConfigFiles) {
  EXPECT_EQ(Run({"serve", "--http", "nonsense"}).code, 2);
  std::string bad = WriteFile("bad.json", R"({"http_address": 5})");
  CliResult r = Run({"serve", "--config", bad});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("http_address"), std::string::npos);
  std::string unknown = WriteFile("unknown.json", R"({"colour": "blue"})");
  EXPECT_NE(Run({"serve", "--config", unknown}).err.find("unknown key 'colour'"), std::string::npos);
  EXPECT_EQ(Run({"serve", "--config", dir_.path() + "/missing.json"}).code, 2);
  std::string notjson = WriteFile("notjson.json", "{");
  EXPECT_EQ(Run({"serve", "--config", notjson}).code, 2);
  EXPECT_EQ(Run({"serve", "--log-level", "loud"}).code, 2);
  // A wrong registry URL is refused without echoing its password.
  CliResult url = Run({"serve", "--registry-url", "mysql://app:s3cretpw@db:3306/reg"});
  EXPECT_EQ(url.code, 2);
  EXPECT_NE(url.err.find("postgresql://"), std::string::npos) << url.err;
  EXPECT_EQ(url.err.find("s3cretpw"), std::string::npos) << url.err;
}

TEST_F(CliTest, ServeExplainsTheS3OptionsAndRefusesBadOnes) {
  CliResult help = Run({"serve", "--help"});
  for (const char* flag : {"--artifacts-url", "--s3-endpoint", "--s3-region", "--s3-addressing",
                           "--artifact-cache-dir", "--artifact-cache-max-bytes",
                           "AWS_ACCESS_KEY_ID"}) {
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
  }
  CliResult r = Run({"serve", "--artifacts-url", "gs://models"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("s3://bucket[/prefix]"), std::string::npos) << r.err;
  EXPECT_EQ(Run({"serve", "--artifacts-url", "s3://models", "--s3-addressing", "diagonal"}).code, 2);
  r = Run({"serve", "--artifacts-url", "s3://models", "--s3-endpoint", "127.0.0.1:9000"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("http://"), std::string::npos) << r.err;
  std::string typed = WriteFile("s3types.json", R"({"s3_max_attempts": "three"})");
  EXPECT_NE(Run({"serve", "--config", typed}).err.find("s3_max_attempts"), std::string::npos);
  // The config file's S3 keys are read: here they point at a port where nothing listens, and
  // start-up stops with an error naming the endpoint (the secret is not in it).
  std::string cfg = WriteFile("s3.json", R"({"artifacts_url": "s3://models/prod",
      "s3_endpoint": "http://127.0.0.1:1", "s3_access_key_id": "k",
      "s3_secret_access_key": "do-not-print-me", "s3_max_attempts": 1,
      "data_dir": ")" + dir_.path() + R"(/data", "http_address": "127.0.0.1:0"})");
  r = Run({"serve", "--config", cfg});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("cannot reach S3 bucket 'models' at http://127.0.0.1:1"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("do-not-print-me"), std::string::npos);
}

}  // namespace
}  // namespace hotswap
