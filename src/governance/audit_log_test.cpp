// The audit log on both registry backends: the store (append, chain, filters, concurrent
// appenders), the checkpoints, and verification against rows tampered with directly in the
// database (sqlite3 API on the registry file / libpq on the PostgreSQL database), the way an
// operator with database access would. Each test runs on SQLite and on a fresh database of a real
// PostgreSQL server (registry/postgres/pg_test_server.h; under ctest the postgres_server fixture).
#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <barrier>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "governance/audit_log.h"
#include "gtest/gtest.h"
#include "registry/audit_chain.h"
#include "registry/postgres/pg_database.h"
#include "registry/postgres/pg_test_server.h"
#include "registry/postgres/postgres_audit_store.h"
#include "registry/registry_test_util.h"
#include "registry/sqlite_audit_store.h"
#include "registry/sqlite_database.h"

namespace hotswap::governance {
namespace {

using ::testing::HasSubstr;
using registry::AuditCheckpoint;
using registry::AuditEntry;
using registry::AuditQuery;
using registry::AuditStore;
using registry::AuditVerifyReport;
using registry::testing::IsOk;
using registry::testing::ScratchDir;
using registry::testing::StatusIs;
using registry::testing::StatusOf;

const std::string kKey(32, 'k');

// One opened registry database with an audit store, plus raw SQL on the same database from
// outside the store (the tamperer).
struct Backend {
  std::shared_ptr<void> db;
  std::unique_ptr<AuditStore> store;
};

class AuditLogTest : public ::testing::TestWithParam<std::string> {
 protected:
  bool OnPostgres() const { return GetParam() == "postgresql"; }

  void SetUp() override {
    if (OnPostgres()) {
      HS_ASSERT_OK_AND_ASSIGN(registry::testing::PgTestServer * server,
                              registry::testing::PgTestServer::Shared());
      const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
      const std::string name =
          "au_" + Sha256Hex(absl::StrCat(info->name(), ".", ::getpid())).substr(0, 20);
      HS_ASSERT_OK(server->CreateDatabase(name));
      conninfo_ = server->ConnInfo(name);
    }
    backend_ = Open();
    ASSERT_NE(backend_.store, nullptr);
    log_ = std::make_unique<AuditLog>(AuditLog::Options{.checkpoint_every = 4},
                                      backend_.store.get(), kKey, &clock_);
  }

  // A new connection (SQLite) or pool (PostgreSQL) to the test's database: another server.
  Backend Open() {
    Backend b;
    if (OnPostgres()) {
      auto db = registry::PgDatabase::Open({.conninfo = conninfo_});
      EXPECT_THAT(StatusOf(db), IsOk());
      if (!db.ok()) return b;
      auto store = registry::PostgresAuditStore::Create(*db, &clock_);
      EXPECT_THAT(StatusOf(store), IsOk());
      b.store = *std::move(store);
      b.db = *db;
    } else {
      auto db = registry::SqliteDatabase::Open(dir_.File("registry.db"));
      EXPECT_THAT(StatusOf(db), IsOk());
      if (!db.ok()) return b;
      auto store = registry::SqliteAuditStore::Create(*db, &clock_);
      EXPECT_THAT(StatusOf(store), IsOk());
      b.store = *std::move(store);
      b.db = *db;
    }
    return b;
  }

  // Runs SQL on the database directly, bypassing HotSwap.
  void Tamper(const std::string& sql) {
    if (OnPostgres()) {
      PGconn* conn = PQconnectdb(conninfo_.c_str());
      ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
      PGresult* r = PQexec(conn, sql.c_str());
      EXPECT_TRUE(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
          << sql << ": " << PQerrorMessage(conn);
      PQclear(r);
      PQfinish(conn);
    } else {
      sqlite3* conn = nullptr;
      ASSERT_EQ(sqlite3_open(dir_.File("registry.db").c_str(), &conn), SQLITE_OK);
      sqlite3_busy_timeout(conn, 5000);
      char* error = nullptr;
      EXPECT_EQ(sqlite3_exec(conn, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
          << sql << ": " << (error ? error : "");
      sqlite3_free(error);
      sqlite3_close(conn);
    }
  }

  // Appends `n` entries from alternating actors; every 4th is checkpointed by the log.
  void AppendEntries(int n) {
    for (int i = 0; i < n; ++i) {
      AuditEntry e;
      e.actor = i % 2 == 0 ? "alice" : "bob";
      e.role = i % 2 == 0 ? "admin" : "editor";
      e.action = i % 3 == 0 ? "model.create" : "version.register";
      e.target = absl::StrCat("model/m", i % 3);
      e.source = "127.0.0.1";
      e.request_id = absl::StrCat("req-", i);
      e.after_json = absl::StrCat(R"({"i":)", i, "}");
      clock_.Advance(1000);
      HS_ASSERT_OK(log_->Append(e).status());
    }
  }

  AuditVerifyReport VerifyOrDie() {
    auto report = log_->Verify();
    EXPECT_THAT(StatusOf(report), IsOk());
    return report.ok() ? *report : AuditVerifyReport{};
  }

  std::vector<AuditEntry> ListOrDie(AuditQuery q) {
    auto list = backend_.store->List(q);
    EXPECT_THAT(StatusOf(list), IsOk());
    return list.ok() ? *list : std::vector<AuditEntry>{};
  }

  std::string Kinds(const AuditVerifyReport& r) {
    std::string out;
    for (const auto& p : r.problems) absl::StrAppend(&out, p.seq, ":", p.kind, " ");
    return out;
  }

  ScratchDir dir_;
  std::string conninfo_;
  FakeClock clock_;
  Backend backend_;
  std::unique_ptr<AuditLog> log_;
};

INSTANTIATE_TEST_SUITE_P(Backends, AuditLogTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

TEST_P(AuditLogTest, AppendAssignsSeqTimeAndLinksEachEntryToThePrevious) {
  AppendEntries(3);
  std::vector<AuditEntry> all = ListOrDie({});
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].seq, 1);
  EXPECT_EQ(all[0].prev_hash, registry::kAuditGenesisHash);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].seq, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(all[i].hash, registry::AuditEntryHash(all[i]));
    if (i > 0) {
      EXPECT_EQ(all[i].prev_hash, all[i - 1].hash);
    }
  }
  EXPECT_EQ(all[2].ts_ms, clock_.NowMillis());
  EXPECT_EQ(all[1].actor, "bob");
  EXPECT_EQ(all[1].request_id, "req-1");
  EXPECT_EQ(all[1].after_json, R"({"i":1})");
  EXPECT_EQ(all[1].before_json, "null");
  HS_ASSERT_OK_AND_ASSIGN(auto head, backend_.store->Head());
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(*head, all[2]);
}

TEST_P(AuditLogTest, CanonicalFormIsLengthPrefixedSoFieldsCannotBleedIntoEachOther) {
  AuditEntry a{.seq = 1, .ts_ms = 5, .actor = "ab", .role = "c", .action = "x", .target = "t"};
  AuditEntry b = a;
  b.actor = "a";
  b.role = "bc";
  EXPECT_NE(registry::AuditCanonical(a), registry::AuditCanonical(b));
  EXPECT_EQ(registry::AuditCanonical(a),
            "16:hotswap-audit-v1,1:1,1:5,2:ab,1:c,1:x,1:t,4:null,4:null,0:,0:,0:,");
}

TEST_P(AuditLogTest, ListFiltersByActorTargetActionAndTimeAndPaginates) {
  AppendEntries(9);  // ts = start + 1000 * (i + 1)
  const int64_t start = clock_.NowMillis() - 9000;
  auto seqs = [](const std::vector<AuditEntry>& v) {
    std::vector<int64_t> out;
    for (const auto& e : v) out.push_back(e.seq);
    return out;
  };
  EXPECT_THAT(seqs(ListOrDie({.actor = "bob"})), ::testing::ElementsAre(2, 4, 6, 8));
  EXPECT_THAT(seqs(ListOrDie({.target = "model/m1"})), ::testing::ElementsAre(2, 5, 8));
  EXPECT_THAT(seqs(ListOrDie({.target = "model"})), ::testing::SizeIs(9));  // below "model/"
  EXPECT_THAT(seqs(ListOrDie({.target = "model/m"})), ::testing::IsEmpty());  // not a prefix
  EXPECT_THAT(seqs(ListOrDie({.action = "model.create"})), ::testing::ElementsAre(1, 4, 7));
  EXPECT_THAT(seqs(ListOrDie({.action = "version"})), ::testing::ElementsAre(2, 3, 5, 6, 8, 9));
  EXPECT_THAT(seqs(ListOrDie({.since_ms = start + 3000, .until_ms = start + 5000})),
              ::testing::ElementsAre(3, 4));
  EXPECT_THAT(seqs(ListOrDie({.actor = "alice", .action = "model", .after_seq = 1, .limit = 1})),
              ::testing::ElementsAre(7));
  std::vector<int64_t> paged;
  AuditQuery q{.limit = 4};
  while (true) {
    auto page = ListOrDie(q);
    if (page.empty()) break;
    for (const auto& e : page) paged.push_back(e.seq);
    q.after_seq = page.back().seq;
  }
  EXPECT_THAT(paged, ::testing::ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 9));
  EXPECT_THAT(StatusOf(backend_.store->List({.limit = 0})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
}

TEST_P(AuditLogTest, UntouchedLogVerifiesCleanWithCheckpointsEveryN) {
  AppendEntries(10);
  AuditVerifyReport r = VerifyOrDie();
  EXPECT_TRUE(r.ok) << Kinds(r);
  EXPECT_FALSE(r.first_bad_seq.has_value());
  EXPECT_EQ(r.entries, 10);
  EXPECT_EQ(r.head_seq, 10);
  EXPECT_EQ(r.checkpoints, 2);  // at 4 and 8
  EXPECT_EQ(r.last_checkpoint_seq, 8);
  EXPECT_EQ(r.unprotected_entries, 2);
  HS_ASSERT_OK_AND_ASSIGN(auto cps, backend_.store->ListCheckpoints());
  ASSERT_EQ(cps.size(), 2u);
  EXPECT_EQ(cps[0].seq, 4);
  EXPECT_EQ(cps[0].key_id, registry::AuditKeyId(kKey));
}

TEST_P(AuditLogTest, EditedFieldIsNamedByItsSeq) {
  AppendEntries(10);
  Tamper("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3");
  AuditVerifyReport r = VerifyOrDie();
  EXPECT_FALSE(r.ok);
  ASSERT_EQ(r.first_bad_seq, 3) << Kinds(r);
  EXPECT_EQ(r.problems[0].kind, "edited");
  EXPECT_THAT(r.problems[0].message, HasSubstr("seq 3"));
  EXPECT_EQ(r.problems.size(), 1u) << Kinds(r);
}

TEST_P(AuditLogTest, EditedSummaryIsDetectedToo) {
  AppendEntries(6);
  Tamper(R"(UPDATE audit_log SET after_json = '{"i":99}' WHERE seq = 6)");
  AuditVerifyReport r = VerifyOrDie();
  EXPECT_EQ(r.first_bad_seq, 6) << Kinds(r);
  EXPECT_EQ(r.problems.at(0).kind, "edited");
}

TEST_P(AuditLogTest, DeletedMiddleEntryIsNamedByItsSeq) {
  AppendEntries(10);
  Tamper("DELETE FROM audit_log WHERE seq = 5");
  AuditVerifyReport r = VerifyOrDie();
  EXPECT_FALSE(r.ok);
  ASSERT_EQ(r.first_bad_seq, 5) << Kinds(r);
  EXPECT_EQ(r.problems[0].kind, "deleted");
  EXPECT_THAT(r.problems[0].message, HasSubstr("seq 5 is missing"));
}

TEST_P(AuditLogTest, DeletedEntryWithTheRestRenumberedIsNamedAsReordered) {
  AppendEntries(7);
  Tamper("DELETE FROM audit_log WHERE seq = 2");
  for (int seq = 3; seq <= 7; ++seq) {
    Tamper(absl::StrCat("UPDATE audit_log SET seq = ", seq - 1, " WHERE seq = ", seq));
  }
  AuditVerifyReport r = VerifyOrDie();
  ASSERT_EQ(r.first_bad_seq, 2) << Kinds(r);
  EXPECT_EQ(r.problems[0].kind, "reordered");
  EXPECT_THAT(r.problems[0].message, HasSubstr("written as seq 3"));
}

TEST_P(AuditLogTest, SwappedEntriesAreNamedAsReordered) {
  AppendEntries(10);
  Tamper("UPDATE audit_log SET seq = -6 WHERE seq = 6");
  Tamper("UPDATE audit_log SET seq = 6 WHERE seq = 7");
  Tamper("UPDATE audit_log SET seq = 7 WHERE seq = -6");
  AuditVerifyReport r = VerifyOrDie();
  EXPECT_FALSE(r.ok);
  ASSERT_EQ(r.first_bad_seq, 6) << Kinds(r);
  EXPECT_EQ(r.problems[0].kind, "reordered");
  EXPECT_THAT(r.problems[0].message, HasSubstr("seq 6 holds the entry written as seq 7"));
}

TEST_P(AuditLogTest, TruncatedTailPastACheckpointIsNamed) {
  AppendEntries(10);  // checkpoints at 4 and 8
  Tamper("DELETE FROM audit_log WHERE seq > 6");
  AuditVerifyReport r = VerifyOrDie();
  EXPECT_FALSE(r.ok);
  ASSERT_EQ(r.first_bad_seq, 7) << Kinds(r);
  EXPECT_EQ(r.problems[0].kind, "truncated");
  EXPECT_THAT(r.problems[0].message, HasSubstr("ends at seq 6"));
  EXPECT_THAT(r.problems[0].message, HasSubstr("covers seq 8"));
}

TEST_P(AuditLogTest, TruncationAfterTheLastCheckpointIsNotDetectable) {
  // The documented limit: entries after the last checkpoint have nothing signed after them.
  AppendEntries(10);
  Tamper("DELETE FROM audit_log WHERE seq > 8");
  AuditVerifyReport r = VerifyOrDie();
  EXPECT_TRUE(r.ok) << Kinds(r);
  EXPECT_EQ(r.head_seq, 8);
  EXPECT_EQ(r.unprotected_entries, 0);
  // A checkpoint on demand narrows the window to nothing: now removing seq 8 is detected.
  HS_ASSERT_OK(log_->Append(AuditEntry{.actor = "a", .action = "x.y", .target = "t"}).status());
  HS_ASSERT_OK(log_->Checkpoint().status());
  Tamper("DELETE FROM audit_log WHERE seq = 9");
  r = VerifyOrDie();
  EXPECT_EQ(r.first_bad_seq, 9) << Kinds(r);
}

TEST_P(AuditLogTest, ForgedCheckpointWithoutTheKeyIsNamed) {
  AppendEntries(10);
  HS_ASSERT_OK_AND_ASSIGN(auto head, backend_.store->Head());
  // A checkpoint at the head, signed with a guessed key but claiming the server's key id.
  AuditCheckpoint forged = registry::SignAuditCheckpoint(std::string(32, 'g'), *head, 1);
  forged.key_id = registry::AuditKeyId(kKey);
  Tamper(absl::StrCat("INSERT INTO audit_checkpoints (seq, hash, ts_ms, key_id, hmac) VALUES (",
                      forged.seq, ", '", forged.hash, "', 1, '", forged.key_id, "', '",
                      forged.hmac, "')"));
  AuditVerifyReport r = VerifyOrDie();
  EXPECT_FALSE(r.ok);
  ASSERT_EQ(r.first_bad_seq, 10) << Kinds(r);
  EXPECT_EQ(r.problems[0].kind, "checkpoint_forged");
  EXPECT_THAT(r.problems[0].message, HasSubstr("does not verify"));
}

TEST_P(AuditLogTest, CheckpointMovedToAnotherEntryIsNamed) {
  AppendEntries(10);
  Tamper("UPDATE audit_checkpoints SET seq = 3 WHERE seq = 4");
  AuditVerifyReport r = VerifyOrDie();
  ASSERT_EQ(r.first_bad_seq, 3) << Kinds(r);
  EXPECT_EQ(r.problems[0].kind, "checkpoint_forged");
}

TEST_P(AuditLogTest, RewriteWithRecomputedHashesIsCaughtByTheNextCheckpoint) {
  AppendEntries(10);
  // The tamperer edits seq 6 and recomputes every hash after it, so the chain is consistent.
  std::vector<AuditEntry> all = ListOrDie({});
  all[5].actor = "mallory";
  for (size_t i = 5; i < all.size(); ++i) {
    if (i > 5) all[i].prev_hash = all[i - 1].hash;
    all[i].hash = registry::AuditEntryHash(all[i]);
    Tamper(absl::StrCat("UPDATE audit_log SET actor = '", all[i].actor, "', prev_hash = '",
                        all[i].prev_hash, "', hash = '", all[i].hash, "' WHERE seq = ", all[i].seq));
  }
  AuditVerifyReport r = VerifyOrDie();
  EXPECT_FALSE(r.ok);
  ASSERT_EQ(r.problems.size(), 1u) << Kinds(r);
  EXPECT_EQ(r.problems[0].kind, "checkpoint_mismatch");
  EXPECT_EQ(r.first_bad_seq, 5);  // somewhere after the last good checkpoint (4), up to 8
  EXPECT_THAT(r.problems[0].message, HasSubstr("entries 5 to 8 were rewritten"));
  EXPECT_EQ(r.last_checkpoint_seq, 4);
}

TEST_P(AuditLogTest, VerifyWithAnotherServersKeyRejectsItsCheckpoints) {
  AppendEntries(4);
  AuditLog other({}, backend_.store.get(), std::string(32, 'o'), &clock_);
  HS_ASSERT_OK_AND_ASSIGN(AuditVerifyReport r, other.Verify());
  EXPECT_FALSE(r.ok);
  ASSERT_EQ(r.first_bad_seq, 4);
  EXPECT_THAT(r.problems[0].message, HasSubstr("not this server's key"));
}

TEST_P(AuditLogTest, CheckpointOnDemandSignsTheHeadOnce) {
  EXPECT_THAT(StatusOf(log_->Checkpoint()), StatusIs(absl::StatusCode::kFailedPrecondition));
  AppendEntries(2);
  HS_ASSERT_OK_AND_ASSIGN(AuditCheckpoint cp, log_->Checkpoint());
  EXPECT_EQ(cp.seq, 2);
  EXPECT_EQ(cp.hmac, registry::AuditCheckpointHmac(kKey, 2, cp.hash, cp.ts_ms));
  EXPECT_THAT(StatusOf(log_->Checkpoint()),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("seq 2")));
  EXPECT_EQ(VerifyOrDie().last_checkpoint_seq, 2);
}

TEST_P(AuditLogTest, ConcurrentAppendsFromTwoServersFormOneChain) {
  Backend other = Open();
  ASSERT_NE(other.store, nullptr);
  AuditLog other_log({.checkpoint_every = 4}, other.store.get(), kKey, &clock_);
  constexpr int kPerServer = 40;
  std::barrier start(2);
  std::vector<std::thread> threads;
  std::vector<absl::Status> failures[2];
  for (int side = 0; side < 2; ++side) {
    threads.emplace_back([&, side] {
      AuditLog* log = side == 0 ? log_.get() : &other_log;
      start.arrive_and_wait();
      for (int i = 0; i < kPerServer; ++i) {
        auto s = log->Append(AuditEntry{.actor = absl::StrCat("server", side),
                                        .action = "test.append",
                                        .target = absl::StrCat("n/", i)});
        if (!s.ok()) failures[side].push_back(s.status());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(failures[0].empty() && failures[1].empty())
      << (failures[0].empty() ? failures[1] : failures[0]).front();
  AuditVerifyReport r = VerifyOrDie();
  EXPECT_TRUE(r.ok) << Kinds(r);
  EXPECT_EQ(r.entries, 2 * kPerServer);
  EXPECT_EQ(r.head_seq, 2 * kPerServer);
  EXPECT_EQ(r.checkpoints, 2 * kPerServer / 4);  // each seq % 4 == 0 exactly once
}

TEST_P(AuditLogTest, AppendRefusesAnEntryWithoutActionOrTarget) {
  EXPECT_THAT(StatusOf(backend_.store->Append(AuditEntry{.actor = "a", .target = "t"})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("action")));
  EXPECT_THAT(StatusOf(backend_.store->Append(AuditEntry{.actor = "a", .action = "x.y"})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("target")));
  EXPECT_TRUE(ListOrDie({}).empty());
  EXPECT_EQ(log_->append_failures(), 0);
}

TEST_P(AuditLogTest, HostileFieldsAreSanitisedAndStillChain) {
  AuditEntry e{.actor = "eve", .action = "model.create", .target = "model/x"};
  e.request_id = std::string("id\xff\n\x01", 5) + std::string(1000, 'r');
  e.after_json = std::string(100 * 1024, ' ') + "{}";
  HS_ASSERT_OK_AND_ASSIGN(AuditEntry stored, log_->Append(e));
  EXPECT_EQ(stored.request_id.size(), 256u);
  EXPECT_EQ(stored.request_id.substr(0, 5), "id???");
  EXPECT_THAT(stored.after_json, HasSubstr("omitted_bytes"));
  EXPECT_TRUE(VerifyOrDie().ok);
}

// ---- without a database ------------------------------------------------------------------------

class FailingStore final : public AuditStore {
 public:
  absl::StatusOr<AuditEntry> Append(AuditEntry) override {
    return absl::UnavailableError("registry database unavailable: test");
  }
  absl::StatusOr<std::vector<AuditEntry>> List(const AuditQuery&) override {
    return std::vector<AuditEntry>{};
  }
  absl::StatusOr<std::optional<AuditEntry>> Head() override { return std::nullopt; }
  absl::Status InsertCheckpoint(const AuditCheckpoint&) override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<AuditCheckpoint>> ListCheckpoints() override {
    return std::vector<AuditCheckpoint>{};
  }
};

TEST(AuditLogMetricsTest, AppendFailureIsReturnedAndCounted) {
  FailingStore store;
  FakeClock clock;
  AuditLog log({}, &store, kKey, &clock);
  EXPECT_THAT(StatusOf(log.Append(AuditEntry{.actor = "a", .action = "x.y", .target = "t"})),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(log.append_failures(), 1);
  EXPECT_THAT(log.RenderMetrics(), HasSubstr("hotswap_audit_append_failures_total 1\n"));
  EXPECT_THAT(log.RenderMetrics(), HasSubstr("hotswap_audit_entries_appended_total 0\n"));
}

TEST(AuditKeyTest, GeneratedOnFirstUseWithMode0600AndReusedAfter) {
  ScratchDir dir;
  bool generated = false;
  HS_ASSERT_OK_AND_ASSIGN(std::string key,
                          LoadOrCreateAuditKey("", "", dir.File("audit.key"), &generated));
  EXPECT_TRUE(generated);
  EXPECT_EQ(key.size(), 32u);
  struct stat st {};
  ASSERT_EQ(::stat(dir.File("audit.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  HS_ASSERT_OK_AND_ASSIGN(std::string again,
                          LoadOrCreateAuditKey("", "", dir.File("audit.key"), &generated));
  EXPECT_FALSE(generated);
  EXPECT_EQ(again, key);
}

TEST(AuditKeyTest, ConfiguredKeyWinsAndBadKeysAreRefused) {
  ScratchDir dir;
  const std::string hex(64, 'a');
  HS_ASSERT_OK_AND_ASSIGN(std::string key, LoadOrCreateAuditKey(hex, "", dir.File("audit.key")));
  EXPECT_EQ(key, std::string(32, '\xaa'));
  EXPECT_FALSE(std::ifstream(dir.File("audit.key")).good());  // nothing generated
  EXPECT_THAT(StatusOf(LoadOrCreateAuditKey("abcd", "", dir.File("k"))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("64 hexadecimal digits")));
  EXPECT_THAT(StatusOf(LoadOrCreateAuditKey(std::string(64, 'z'), "", dir.File("k"))),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(StatusOf(LoadOrCreateAuditKey("", dir.File("missing.key"), dir.File("k"))),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.key")));
  std::ofstream(dir.File("ops.key")) << "  " << std::string(64, 'B') << "\n";
  HS_ASSERT_OK_AND_ASSIGN(key, LoadOrCreateAuditKey("", dir.File("ops.key"), dir.File("k")));
  EXPECT_EQ(key, std::string(32, '\xbb'));
}

// Stops the PostgreSQL server this binary started itself (none under ctest's fixture).
class PgEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { registry::testing::PgTestServer::StopShared(); }
};
const auto* const kPgEnvironment = ::testing::AddGlobalTestEnvironment(new PgEnvironment);

}  // namespace
}  // namespace hotswap::governance
