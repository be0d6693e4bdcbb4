// `hotswap profile` and `hotswap drift` in-process: no server involved. Real files in a temp
// directory; the committed datasets of tests/monitoring/data. The numbers themselves are
// checked against scipy by monitoring_drift_test and the drift_scipy_check ctest.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "cli/cli.h"
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

class DriftCliTest : public ::testing::Test {
 protected:
  CliResult Run(std::vector<std::string> args) {
    std::vector<std::string> full = {"hotswap"};
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
  static std::string Data(const std::string& name) {
    return std::string(HOTSWAP_SOURCE_DIR) + "/tests/monitoring/data/" + name;
  }
  testing_util::TempDir dir_;
};

TEST_F(DriftCliTest, ProfileWritesAProfileThatDriftReadsWithTheSameResults) {
  std::string profile = dir_.path() + "/ref.profile.json";
  CliResult p = Run({"profile", Data("ref.csv"), "--schema", Data("schema.json"), "-o", profile, "--sample-size", "0"});
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("wrote " + profile + ": 8 columns from 2000 rows"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("prediction: numeric (output)"), std::string::npos) << p.out;
  std::ifstream in(profile);
  json j = json::parse(in);
  EXPECT_EQ(j["format"], "hotswap.reference_profile/v1");
  EXPECT_EQ(j["features"].size(), 8u);

  CliResult from_csv = Run({"drift", "--reference", Data("ref.csv"), "--schema", Data("schema.json"), "--current",
                            Data("cur_shift.csv"), "--json"});
  CliResult from_profile = Run({"drift", "--reference", profile, "--current", Data("cur_shift.csv"), "--json"});
  ASSERT_EQ(from_csv.code, 0) << from_csv.err;
  ASSERT_EQ(from_profile.code, 0) << from_profile.err;
  EXPECT_EQ(from_csv.Json(), from_profile.Json());
  EXPECT_TRUE(from_csv.Json()["dataset_drift"].get<bool>());
  EXPECT_TRUE(from_csv.Json()["features"]["age"]["drift"].get<bool>());
  EXPECT_FALSE(from_csv.Json()["features"]["income"]["drift"].get<bool>());
}

TEST_F(DriftCliTest, ProfileWithoutOutputPrintsTheJson) {
  CliResult p = Run({"profile", Data("cur_small.csv"), "--bins", "5", "--top-k", "3"});
  ASSERT_EQ(p.code, 0) << p.err;
  json j = p.Json();
  ASSERT_FALSE(j.is_discarded()) << p.out;
  EXPECT_EQ(j["options"]["bins"], 5);
  EXPECT_EQ(j["features"][3]["categories"].size(), 3u);  // country: top 3
}

TEST_F(DriftCliTest, DriftPrintsATableByDefaultAndJsonWithTheGlobalFlagToo) {
  CliResult t = Run({"drift", "--reference", Data("ref.csv"), "--current", Data("cur_same.csv")});
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_EQ(t.out.rfind("FEATURE", 0), 0u) << t.out;
  EXPECT_NE(t.out.find("KS_P"), std::string::npos);
  EXPECT_NE(t.out.find("dataset drift: no (0 of 8 features drifted)"), std::string::npos) << t.out;
  CliResult g = Run({"--json", "drift", "--reference", Data("ref.csv"), "--current", Data("cur_same.csv")});
  ASSERT_EQ(g.code, 0);
  EXPECT_FALSE(g.Json()["dataset_drift"].get<bool>());
}

TEST_F(DriftCliTest, MissingFilesFailWithAClearError) {
  CliResult r = Run({"drift", "--reference", dir_.path() + "/nope.csv", "--current", Data("cur_same.csv")});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "error: cannot read reference file '" + dir_.path() + "/nope.csv'\n");
  EXPECT_TRUE(r.out.empty());
  CliResult c = Run({"drift", "--reference", Data("ref.csv"), "--current", dir_.path() + "/gone.csv"});
  EXPECT_EQ(c.code, 2);
  EXPECT_EQ(c.err, "error: cannot read CSV file '" + dir_.path() + "/gone.csv'\n");
  CliResult p = Run({"profile", dir_.path() + "/none.csv"});
  EXPECT_EQ(p.code, 2);
  EXPECT_NE(p.err.find("cannot read CSV file"), std::string::npos);
}

TEST_F(DriftCliTest, MalformedCsvNamesTheFileAndLine) {
  std::string bad = WriteFile("bad.csv", "a,b\n1,2\n3,4,5\n");
  CliResult r = Run({"profile", bad});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "error: " + bad + ": line 3: expected 2 fields, found 3\n");
  std::string quote = WriteFile("quote.csv", "a,b\n1,\"2\n");
  CliResult q = Run({"drift", "--reference", Data("ref.csv"), "--current", quote});
  EXPECT_EQ(q.code, 2);
  EXPECT_EQ(q.err, "error: " + quote + ": line 2: unterminated quoted field\n");
}

TEST_F(DriftCliTest, SchemaProblemsAreReported) {
  std::string unknown = WriteFile("unknown.json", R"({"columns": {"agee": {"type": "numeric"}}})");
  CliResult u = Run({"profile", Data("ref.csv"), "--schema", unknown});
  EXPECT_EQ(u.code, 2);
  EXPECT_EQ(u.err, "error: " + Data("ref.csv") + ": schema names column 'agee', which is not in the data\n");
  std::string bad_type = WriteFile("type.json", R"({"columns": {"age": {"type": "float"}}})");
  CliResult t = Run({"profile", Data("ref.csv"), "--schema", bad_type});
  EXPECT_EQ(t.code, 2);
  EXPECT_NE(t.err.find("unknown column type 'float'"), std::string::npos) << t.err;
  std::string not_json = WriteFile("nojson.json", "{columns");
  CliResult n = Run({"profile", Data("ref.csv"), "--schema", not_json});
  EXPECT_EQ(n.err, "error: schema file '" + not_json + "' is not valid JSON\n");
  std::string numeric = WriteFile("numeric.json", R"({"columns": {"country": {"type": "numeric"}}})");
  CliResult c = Run({"profile", Data("ref.csv"), "--schema", numeric});
  EXPECT_EQ(c.code, 2);
  EXPECT_NE(c.err.find("column 'country', data row 1: 'FR' is not a number"), std::string::npos) << c.err;
}

TEST_F(DriftCliTest, CurrentDataMustHaveTheReferenceColumnsAndTypes) {
  std::string fewer = WriteFile("fewer.csv", "age,income\n40,1000\n");
  CliResult f = Run({"drift", "--reference", Data("ref.csv"), "--current", fewer});
  EXPECT_EQ(f.code, 2);
  EXPECT_EQ(f.err, "error: " + fewer + ": no column 'score' (the reference has it)\n");
  std::string ref = WriteFile("r.csv", "x\n1\n2\n");
  std::string text = WriteFile("t.csv", "x\n1\nabc\n");
  CliResult t = Run({"drift", "--reference", ref, "--current", text});
  EXPECT_EQ(t.code, 2);
  EXPECT_EQ(t.err, "error: " + text + ", data row 2: column 'x' is numeric in the reference, but 'abc' is not a number\n");
}

TEST_F(DriftCliTest, BadProfileJsonIsRejected) {
  std::string wrong = WriteFile("wrong.json", R"({"format": "something-else"})");
  CliResult r = Run({"drift", "--reference", wrong, "--current", Data("cur_same.csv")});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("not a reference profile"), std::string::npos) << r.err;
  CliResult s = Run({"drift", "--reference", wrong, "--schema", Data("schema.json"), "--current", Data("cur_same.csv")});
  EXPECT_EQ(s.code, 2);
  EXPECT_NE(s.err.find("--schema applies to a CSV reference"), std::string::npos) << s.err;
}

TEST_F(DriftCliTest, HelpDescribesTheCommands) {
  CliResult d = Run({"drift", "--help"});
  EXPECT_EQ(d.code, 0);
  for (const char* s : {"--reference", "--current", "--schema", "--json", "no server needed"})
    EXPECT_NE(d.out.find(s), std::string::npos) << s << "\n" << d.out;
  CliResult p = Run({"profile", "--help"});
  for (const char* s : {"--bins", "--top-k", "--sample-size", "--output"})
    EXPECT_NE(p.out.find(s), std::string::npos) << s << "\n" << p.out;
  CliResult missing = Run({"drift", "--current", Data("cur_same.csv")});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("--reference is required"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace hotswap
