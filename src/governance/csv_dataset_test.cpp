// CSV parsing and schema checks of version datasets.
#include "governance/csv_dataset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace hotswap::governance {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

domain::TensorSchema OneInput(int64_t features) {
  domain::TensorSchema s;
  s.inputs.push_back({"input", domain::DataType::kFp32, {-1, features}});
  s.outputs.push_back({"y", domain::DataType::kFp32, {-1}});
  return s;
}

TEST(CsvDatasetTest, ParsesHeaderQuotedFieldsAndBothLineEnds) {
  auto t = common::ParseCsvRows("a,\"b, quoted\",c\r\n1,\"x \"\"y\"\"\",3\n4,5,6");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->header, ElementsAre("a", "b, quoted", "c"));
  ASSERT_EQ(t->rows.size(), 2u);
  EXPECT_THAT(t->rows[0], ElementsAre("1", "x \"y\"", "3"));
  EXPECT_THAT(t->rows[1], ElementsAre("4", "5", "6"));
  auto trailing = common::ParseCsvRows("a,b\n1,2\n\n\n");
  ASSERT_TRUE(trailing.ok());
  EXPECT_EQ(trailing->rows.size(), 1u);
}

TEST(CsvDatasetTest, MissingHeaderRaggedRowsAndBrokenQuotesAreRefusedWithTheLine) {
  EXPECT_THAT(common::ParseCsvRows("").status().message(), HasSubstr("empty"));
  EXPECT_THAT(common::ParseCsvRows("1,2,3\n4,5,6\n").status().message(), HasSubstr("must be a header"));
  EXPECT_THAT(common::ParseCsvRows("a,b\n1,2\n3\n").status().message(), HasSubstr("line 3: expected 2 fields, found 1"));
  EXPECT_THAT(common::ParseCsvRows("a,b\n1,2,3\n").status().message(), HasSubstr("line 2: expected 2 fields, found 3"));
  EXPECT_THAT(common::ParseCsvRows("a,a\n1,2\n").status().message(), HasSubstr("appears twice"));
  EXPECT_THAT(common::ParseCsvRows("a,,c\n1,2,3\n").status().message(), HasSubstr("column 2 has no name"));
  EXPECT_THAT(common::ParseCsvRows("a,b\n\"1,2\n").status().message(), HasSubstr("line 2: unterminated quoted field"));
}

TEST(CsvDatasetTest, SchemaMakesTheSingleInputsFeatureColumnsNumeric) {
  auto t = common::ParseCsvRows("f0,f1,label\n1.5,2e3,setosa\n-1,0.25,virginica\n");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(CheckAgainstSchema(*t, OneInput(2)).ok());  // the label may be text
  EXPECT_TRUE(CheckAgainstSchema(*t, std::nullopt).ok());
  absl::Status s = CheckAgainstSchema(*t, OneInput(3));
  EXPECT_THAT(s.message(), HasSubstr("line 2, column 'label': 'setosa' is not a finite number"));
  EXPECT_THAT(CheckAgainstSchema(*t, OneInput(4)).message(), HasSubstr("takes 4 features"));
  // The line is the file's, past a skipped blank line and a quoted field over two lines.
  auto later = common::ParseCsvRows("f0,f1,label\n1,2,\"two\nlines\"\n\n3,x,y\n");
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_THAT(CheckAgainstSchema(*later, OneInput(2)).message(), HasSubstr("line 5, column 'f1': 'x'"));
  auto nan = common::ParseCsvRows("f0,f1\nnan,1\n");
  EXPECT_FALSE(CheckAgainstSchema(*nan, OneInput(2)).ok());
}

TEST(CsvDatasetTest, ColumnsNamedLikeNumericInputsMustBeNumeric) {
  domain::TensorSchema s;
  s.inputs.push_back({"age", domain::DataType::kInt64, {-1}});
  s.inputs.push_back({"colour", domain::DataType::kBytes, {-1}});
  s.outputs.push_back({"y", domain::DataType::kFp32, {-1}});
  auto ok = common::ParseCsvRows("colour,age\nred,31\nblue,40\n");
  EXPECT_TRUE(CheckAgainstSchema(*ok, s).ok());
  auto bad = common::ParseCsvRows("colour,age\nred,31\nblue,forty\n");
  EXPECT_THAT(CheckAgainstSchema(*bad, s).message(), HasSubstr("line 3, column 'age': 'forty'"));
}

TEST(CsvDatasetTest, FeatureMatrixTakesTheFirstColumnsAsNumbers) {
  auto t = common::ParseCsvRows("a,b,c\n1,2,x\n3,4,y\n");
  auto m = FeatureMatrix(*t, 2);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT(*m, ElementsAre(1, 2, 3, 4));
  EXPECT_FALSE(FeatureMatrix(*t, 3).ok());
  EXPECT_FALSE(FeatureMatrix(*t, 4).ok());
}

}  // namespace
}  // namespace hotswap::governance
