// SigV4 against the published examples: AWS's signature test suite ("get-vanilla" and friends,
// AKIDEXAMPLE, 20150830T123600Z) and the S3 documentation's GET Object example
// (examplebucket/test.txt with a Range header, 20130524T000000Z).
#include "storage/s3/sigv4.h"

#include <gtest/gtest.h>

namespace hotswap::storage::s3 {
namespace {

const SigV4Credentials kSuiteCreds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};

TEST(SigV4Test, AwsTestSuiteGetVanilla) {
  SigV4Request r;
  r.method = "GET";
  r.canonical_uri = "/";
  r.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
  r.payload_sha256 = std::string(kEmptyPayloadSha256);
  SigV4Signature s = SignV4(r, kSuiteCreds, "us-east-1", "service", "20150830T123600Z");
  EXPECT_EQ(s.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4Test, ChangingAnySignedPartChangesTheSignature) {
  SigV4Request r;
  r.method = "GET";
  r.canonical_uri = "/";
  r.headers = {{"host", "example.amazonaws.com"}, {"x-amz-date", "20150830T123600Z"}};
  r.payload_sha256 = std::string(kEmptyPayloadSha256);
  const std::string base = SignV4(r, kSuiteCreds, "us-east-1", "service", "20150830T123600Z").signature;
  SigV4Request m = r;
  m.method = "PUT";
  EXPECT_NE(SignV4(m, kSuiteCreds, "us-east-1", "service", "20150830T123600Z").signature, base);
  m = r;
  m.canonical_uri = "/other";
  EXPECT_NE(SignV4(m, kSuiteCreds, "us-east-1", "service", "20150830T123600Z").signature, base);
  m = r;
  m.payload_sha256 = std::string(kUnsignedPayload);
  EXPECT_NE(SignV4(m, kSuiteCreds, "us-east-1", "service", "20150830T123600Z").signature, base);
  EXPECT_NE(SignV4(r, kSuiteCreds, "eu-west-1", "service", "20150830T123600Z").signature, base);
  SigV4Credentials other = kSuiteCreds;
  other.secret_access_key += "x";
  EXPECT_NE(SignV4(r, other, "us-east-1", "service", "20150830T123600Z").signature, base);
}

TEST(SigV4Test, S3DocumentationGetObjectWithRange) {
  SigV4Request r;
  r.method = "GET";
  r.canonical_uri = "/test.txt";
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
               {"Range", "bytes=0-9"},
               {"x-amz-content-sha256", std::string(kEmptyPayloadSha256)},
               {"x-amz-date", "20130524T000000Z"}};
  r.payload_sha256 = std::string(kEmptyPayloadSha256);
  SigV4Credentials creds{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  SigV4Signature s = SignV4(r, creds, "us-east-1", "s3", "20130524T000000Z");
  EXPECT_EQ(s.signed_headers, "host;range;x-amz-content-sha256;x-amz-date");
  EXPECT_EQ(s.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Test, QueryIsEncodedAndSortedAndHeadersAreCanonicalised) {
  SigV4Request r;
  r.method = "GET";
  r.canonical_uri = "/bucket";
  r.query = {{"prefix", "a b/c"}, {"list-type", "2"}, {"continuation-token", "x=y"}};
  r.headers = {{"X-Amz-Date", "20150830T123600Z"}, {"Host", "h"}, {"My-Header", "  a   b  "},
               {"my-header", "c"}};
  r.payload_sha256 = std::string(kUnsignedPayload);
  SigV4Signature s = SignV4(r, kSuiteCreds, "us-east-1", "s3", "20150830T123600Z");
  EXPECT_EQ(s.canonical_request,
            "GET\n/bucket\ncontinuation-token=x%3Dy&list-type=2&prefix=a%20b%2Fc\n"
            "host:h\nmy-header:a b,c\nx-amz-date:20150830T123600Z\n\n"
            "host;my-header;x-amz-date\nUNSIGNED-PAYLOAD");
}

TEST(SigV4Test, UriEncodeFollowsRfc3986) {
  EXPECT_EQ(UriEncode("a-b_c.d~e", false), "a-b_c.d~e");
  EXPECT_EQ(UriEncode("a b+c/d", false), "a%20b%2Bc%2Fd");
  EXPECT_EQ(UriEncode("dir/file name", true), "dir/file%20name");
  EXPECT_EQ(UriEncode("\xE1\x88\xB4", false), "%E1%88%B4");
  EXPECT_EQ(HexEncode(std::string("\x00\xff", 2)), "00ff");
}

}  // namespace
}  // namespace hotswap::storage::s3
