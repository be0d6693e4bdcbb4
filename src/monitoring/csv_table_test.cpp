// The CSV reader: RFC 4180 quoting, missing cells, and errors that name the line.
#include "monitoring/csv_table.h"

#include "gtest/gtest.h"

namespace hotswap::monitoring {
namespace {

TEST(CsvTableTest, ParsesQuotedFieldsWithCommasQuotesAndNewlines) {
  auto t = ParseCsv("name,note\r\n\"Korea, Republic of\",\"say \"\"hi\"\"\"\nplain,\"two\nlines\"\n");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->row_count(), 2u);
  EXPECT_EQ(t->columns[0][0], "Korea, Republic of");
  EXPECT_EQ(t->columns[1][0], "say \"hi\"");
  EXPECT_EQ(t->columns[1][1], "two\nlines");
  EXPECT_EQ(t->ColumnIndex("note"), 1);
  EXPECT_EQ(t->ColumnIndex("absent"), -1);
}

TEST(CsvTableTest, MissingCellsAreEmptyNaNaNAndNull) {
  for (const char* cell : {"", "NA", "NaN", "null"}) EXPECT_TRUE(IsMissingCell(cell)) << cell;
  for (const char* cell : {"0", "na", "None", " ", "nullable"}) EXPECT_FALSE(IsMissingCell(cell)) << cell;
  auto t = ParseCsv("a,b\n,\"\"\n1,2\n");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(IsMissingCell(t->columns[0][0]));
  EXPECT_TRUE(IsMissingCell(t->columns[1][0]));
}

TEST(CsvTableTest, SkipsBlankLinesAndAcceptsAMissingFinalNewline) {
  auto t = ParseCsv("a,b\n1,2\n\n3,4");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->row_count(), 2u);
  EXPECT_EQ(t->columns[1][1], "4");
}

TEST(CsvTableTest, RecordWithTheWrongFieldCountNamesItsLine) {
  auto t = ParseCsv("a,b\n1,2\n\"x\ny\",2\n3\n");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.status().message(), "line 5: expected 2 fields, found 1");
}

TEST(CsvTableTest, UnterminatedQuoteAndStrayQuotesAreErrors) {
  auto open = ParseCsv("a,b\n1,\"oops\n");
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.status().message(), "line 2: unterminated quoted field");
  auto after = ParseCsv("a\n\"x\"y\n");
  ASSERT_FALSE(after.ok());
  EXPECT_NE(after.status().message().find("line 2"), std::string_view::npos);
}

TEST(CsvTableTest, HeaderMustHaveUniqueNonEmptyNames) {
  EXPECT_EQ(ParseCsv("a,b,a\n1,2,3\n").status().message(), "line 1: column name 'a' appears twice");
  EXPECT_EQ(ParseCsv("a,,c\n").status().message(), "line 1: column 2 has no name; the first row must be a header");
  EXPECT_EQ(ParseCsv("").status().message(), "empty file: no header row");
}

TEST(CsvTableTest, ReadingAMissingFileIsNotFound) {
  auto t = ReadCsvFile("/nonexistent/data.csv");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(t.status().message(), "cannot read CSV file '/nonexistent/data.csv'");
}

}  // namespace
}  // namespace hotswap::monitoring
