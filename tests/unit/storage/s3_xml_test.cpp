#include "storage/s3_xml.hpp"

#include <gtest/gtest.h>

namespace deskaudit::storage::s3xml {
namespace {

TEST(S3Xml, ParsesAListPage) {
  const std::string xml = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix>
<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
<Contents><Key>p/a&amp;b</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>&quot;x&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>p/c&#x2F;d&#47;e</Key><Size>18446744073709551615</Size></Contents>
<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&amp;</NextContinuationToken></ListBucketResult>)";
  auto page = parse_list_objects_v2(xml);
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "p/a&b");
  EXPECT_EQ(page->objects[0].size_bytes, 12u);
  EXPECT_EQ(page->objects[1].key, "p/c/d/e");
  EXPECT_EQ(page->objects[1].size_bytes, 18446744073709551615ull);
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&");
}

TEST(S3Xml, EmptyAndLastPages) {
  auto empty = parse_list_objects_v2(
      "<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>");
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_TRUE(empty->objects.empty());
  EXPECT_FALSE(empty->truncated);
}

TEST(S3Xml, AKeyCannotFakeTheTruncationFlag) {
  // Escaped markup inside a key stays data.
  auto page = parse_list_objects_v2(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>&lt;IsTruncated&gt;true&lt;/IsTruncated&gt;</"
      "Key>"
      "<Size>1</Size></Contents></ListBucketResult>");
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_FALSE(page->truncated);
  EXPECT_EQ(page->objects.at(0).key, "<IsTruncated>true</IsTruncated>");
}

TEST(S3Xml, RejectsMalformedDocuments) {
  EXPECT_FALSE(parse_list_objects_v2("<Error><Code>x</Code></Error>"));
  EXPECT_FALSE(parse_list_objects_v2("<ListBucketResult><Contents><Key>a</Key><Size>1</Size></Contents>"));
  EXPECT_FALSE(parse_list_objects_v2("<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>"));
  EXPECT_FALSE(
      parse_list_objects_v2("<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>"));
  EXPECT_FALSE(parse_list_objects_v2(
      "<ListBucketResult><Contents><Key>a</Key><Size>18446744073709551616</Size></Contents></ListBucketResult>"));
  EXPECT_FALSE(parse_list_objects_v2(
      "<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size></Contents></ListBucketResult>"));
  EXPECT_FALSE(parse_list_objects_v2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"))
      << "truncated without a token would loop forever";
}

TEST(S3Xml, Unescape) {
  EXPECT_EQ(unescape("a&lt;b&gt;c&amp;d&quot;e&apos;f").value(), "a<b>c&d\"e'f");
  EXPECT_EQ(unescape("&#233;&#xE9;").value(), "\xc3\xa9\xc3\xa9");
  EXPECT_EQ(unescape("&#x1F600;").value(), "\xf0\x9f\x98\x80");
  EXPECT_FALSE(unescape("&#0;"));
  EXPECT_FALSE(unescape("&#xD800;"));
  EXPECT_FALSE(unescape("&amp"));
  EXPECT_FALSE(unescape("&nbsp;"));
}

TEST(S3Xml, ErrorBodies) {
  const auto e = parse_error(R"(<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a&amp;b</Key></Error>)");
  EXPECT_EQ(e.code, "NoSuchKey");
  EXPECT_EQ(e.message, "The specified key does not exist.");
  const auto none = parse_error("<html>bad gateway</html>");
  EXPECT_TRUE(none.code.empty());
  EXPECT_TRUE(none.message.empty());
}

}  // namespace
}  // namespace deskaudit::storage::s3xml
