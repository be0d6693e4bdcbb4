// Online feature windows: exact merging across threads and windows, and recording without
// allocation.
#include "monitoring/feature_window.h"

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <thread>

#include "gtest/gtest.h"

// Counts every heap allocation in this test binary, so a test can show a code path makes none.
// (GCC 12 reports the replaced global new/delete pair, malloc/free, as mismatched when it
// inlines them; it is the standard way to replace them.)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<int64_t> g_allocations{0};
}
void* operator new(size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace hotswap::monitoring {
namespace {

std::shared_ptr<const ReferenceProfile> Profile() {
  CsvTable t;
  t.header = {"x", "color"};
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal(10, 2);
  const char* colors[] = {"red", "green", "blue", "teal"};
  t.columns.resize(2);
  for (int i = 0; i < 5000; ++i) {
    t.columns[0].push_back(std::to_string(normal(rng)));
    t.columns[1].push_back(colors[i % 4]);
  }
  auto p = ReferenceProfile::FromTable(t, {.bins = 20, .top_k = 3});
  EXPECT_TRUE(p.ok());
  return std::make_shared<const ReferenceProfile>(std::move(*p));
}

TEST(FeatureWindowTest, WindowsMergeExactlyAcrossThreadsAndTime) {
  auto profile = Profile();
  std::vector<double> values;
  std::mt19937_64 rng(4);
  std::normal_distribution<double> normal(11, 3);
  for (int i = 0; i < 60000; ++i) values.push_back(normal(rng));

  FeatureWindow all(profile);
  for (double v : values) all.RecordNumber(0, v);

  // 4 threads each record their share into per-minute windows; an hour is the sum of minutes.
  constexpr int kThreads = 4, kMinutes = 60;
  std::vector<std::vector<FeatureWindow>> minutes(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    for (int m = 0; m < kMinutes; ++m) minutes[t].emplace_back(profile);
    threads.emplace_back([&, t] {
      for (size_t i = static_cast<size_t>(t); i < values.size(); i += kThreads)
        minutes[t][i % kMinutes].RecordNumber(0, values[i]);
    });
  }
  for (auto& th : threads) th.join();
  FeatureWindow hour(profile);
  for (auto& per_thread : minutes)
    for (auto& m : per_thread) ASSERT_TRUE(hour.Merge(m).ok());

  EXPECT_EQ(hour.feature(0).bins, all.feature(0).bins);
  EXPECT_EQ(hour.feature(0).count, all.feature(0).count);
  EXPECT_EQ(hour.feature(0).sketch->Buckets(), all.feature(0).sketch->Buckets());
  EXPECT_EQ(hour.feature(0).sketch->Quantile(0.99), all.feature(0).sketch->Quantile(0.99));
}

TEST(FeatureWindowTest, RecordingAllocatesNothing) {
  auto profile = Profile();
  FeatureWindow w(profile);
  std::vector<double> values(10000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i % 97) * 0.3;
  int64_t before = g_allocations.load();
  for (double v : values) {
    w.RecordNumber(0, v);
    w.RecordCategory(1, "green");
    w.RecordCategory(1, "a colour nobody has seen before, long enough to defeat any small-string buffer");
    w.RecordNumber(1, 3.0);
  }
  w.RecordMissing(0);
  w.RecordNumber(0, std::nan(""));
  EXPECT_EQ(g_allocations.load() - before, 0);
  EXPECT_EQ(w.feature(0).count, values.size());
  EXPECT_EQ(w.feature(0).missing, 2u);
  EXPECT_EQ(w.feature(1).bins[profile->features()[1].categorical.unseen_bin()], 2 * values.size());
}

TEST(FeatureWindowTest, NumbersOnACategoricalFeatureMatchTheirShortestText) {
  CsvTable t;
  t.header = {"cls"};
  t.columns = {{"0", "1", "2", "0.5"}};
  // Declared categorical through a schema: numbers recorded as doubles find their categories.
  auto schema = ProfileSchema::FromJson(nlohmann::json::parse(R"({"columns": {"cls": {"type": "categorical"}}})"));
  auto cp = ReferenceProfile::FromTable(t, {}, &*schema);
  ASSERT_TRUE(cp.ok());
  auto cprofile = std::make_shared<const ReferenceProfile>(std::move(*cp));
  FeatureWindow w(cprofile);
  w.RecordNumber(0, 2.0);
  w.RecordNumber(0, 0.5);
  w.RecordNumber(0, 7.0);
  const auto& cats = cprofile->features()[0].categorical;
  EXPECT_EQ(w.feature(0).bins[cats.BinOf("2")], 1u);
  EXPECT_EQ(w.feature(0).bins[cats.BinOf("0.5")], 1u);
  EXPECT_EQ(w.feature(0).bins[cats.unseen_bin()], 1u);
}

TEST(FeatureWindowTest, MergeNeedsTheSameProfileAndOptions) {
  auto a = Profile(), b = Profile();
  FeatureWindow wa(a), wb(b), keep(a, {.keep_values = true});
  EXPECT_EQ(wa.Merge(wb).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(wa.Merge(keep).code(), absl::StatusCode::kFailedPrecondition);
  FeatureWindow copy(wa);
  EXPECT_TRUE(wa.Merge(copy).ok());
}

TEST(FeatureWindowTest, CsvCellsAreParsedByTheReferenceType) {
  auto profile = Profile();
  FeatureWindow w(profile);
  EXPECT_TRUE(w.RecordCell(0, "12.5").ok());
  EXPECT_TRUE(w.RecordCell(0, "NA").ok());
  absl::Status bad = w.RecordCell(0, "twelve");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(), "column 'x' is numeric in the reference, but 'twelve' is not a number");
  EXPECT_EQ(w.feature(0).count, 1u);
  EXPECT_EQ(w.feature(0).missing, 1u);
  w.Clear();
  EXPECT_EQ(w.feature(0).count, 0u);
}

}  // namespace
}  // namespace hotswap::monitoring
