// The shared CSV reader: RFC 4180, header rules, blank lines, and errors that name the line.
#include "common/csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hotswap::common {
namespace {

using ::testing::ElementsAre;

TEST(CsvRowsTest, QuotedFieldsHoldCommasQuotesAndLineEndsAndRowsRememberTheirLine) {
  auto t = ParseCsvRows("\xEF\xBB\xBFname,note\r\n\"Korea, Republic of\",\"say \"\"hi\"\"\"\n"
                        "plain,\"two\nlines\"\nlast,x");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->header, ElementsAre("name", "note"));  // the byte-order mark is skipped
  ASSERT_EQ(t->rows.size(), 3u);
  EXPECT_THAT(t->rows[0], ElementsAre("Korea, Republic of", "say \"hi\""));
  EXPECT_THAT(t->rows[1], ElementsAre("plain", "two\nlines"));
  EXPECT_THAT(t->rows[2], ElementsAre("last", "x"));  // no final line end
  EXPECT_THAT(t->row_lines, ElementsAre(2, 3, 5));
}

TEST(CsvRowsTest, AQuoteInsideAnUnquotedFieldIsAnOrdinaryCharacter) {
  auto t = ParseCsvRows("size,name\n12\",5\" disk\n");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->rows[0], ElementsAre("12\"", "5\" disk"));
}

TEST(CsvRowsTest, BlankLinesAreSkippedWithSeveralColumnsAndAreMissingValuesWithOne) {
  auto several = ParseCsvRows("a,b\n1,2\n\n3,4\n\n\n");
  ASSERT_TRUE(several.ok()) << several.status();
  EXPECT_EQ(several->rows.size(), 2u);
  EXPECT_THAT(several->row_lines, ElementsAre(2, 4));
  auto one = ParseCsvRows("a\n1\n\n2\n\n\n");
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_EQ(one->rows.size(), 3u);  // the empty line between values is a value; the end is not
  EXPECT_THAT(one->rows[1], ElementsAre(""));
}

TEST(CsvRowsTest, ErrorsNameTheLine) {
  EXPECT_EQ(ParseCsvRows("").status().message(), "empty file: no header row");
  EXPECT_EQ(ParseCsvRows("a,b\n1,2\n\"x\ny\",2\n3\n").status().message(),
            "line 5: expected 2 fields, found 1");
  EXPECT_EQ(ParseCsvRows("a,b\n1,\"oops\n").status().message(), "line 2: unterminated quoted field");
  EXPECT_EQ(ParseCsvRows("a\n\"x\"y\n").status().message(),
            "line 2: unexpected text after a closing quote");
  EXPECT_EQ(ParseCsvRows("a,b,a\n").status().message(), "line 1: column name 'a' appears twice");
  EXPECT_EQ(ParseCsvRows("a,,c\n").status().message(),
            "line 1: column 2 has no name; the first row must be a header");
  EXPECT_EQ(ParseCsvRows("1,2.5,-3\n4,5,6\n").status().message(),
            "line 1: the first row holds only numbers; the first row must be a header of column names");
  for (const char* bad : {"a,b\n1,2\n3\n", "a,b\n1,\"2\n", "x,x\n"}) {
    EXPECT_EQ(ParseCsvRows(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ParseNumberCellTest, FiniteDecimalNumbersOnly) {
  EXPECT_EQ(ParseNumberCell("1.5"), 1.5);
  EXPECT_EQ(ParseNumberCell(" -2e3\t"), -2000);
  EXPECT_EQ(ParseNumberCell("+7"), 7);
  for (const char* bad : {"", " ", "inf", "-inf", "nan", "NaN", "1e999", "0x10", "1.5x", "+-5",
                          "--1", "1,5", "one"}) {
    EXPECT_FALSE(ParseNumberCell(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace hotswap::common
