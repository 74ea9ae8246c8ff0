#include "storage/s3_xml.hpp"

#include <charconv>
#include <optional>

namespace deskaudit::storage::s3xml {
namespace {

// The text between <tag> and </tag> of the first such element in xml, and
// where it ends; nullopt when absent. "<tag/>" counts as empty text.
struct Element {
  std::string_view text;
  std::size_t end = 0;  // index just past the closing tag
};

std::optional<Element> find_element(std::string_view xml, std::string_view tag, std::size_t from = 0) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string empty = "<" + std::string(tag) + "/>";
  const std::string close = "</" + std::string(tag) + ">";
  const std::size_t a = xml.find(open, from);
  const std::size_t e = xml.find(empty, from);
  if (e != std::string_view::npos && (a == std::string_view::npos || e < a)) return Element{{}, e + empty.size()};
  if (a == std::string_view::npos) return std::nullopt;
  const std::size_t start = a + open.size();
  const std::size_t b = xml.find(close, start);
  if (b == std::string_view::npos) return std::nullopt;
  return Element{xml.substr(start, b - start), b + close.size()};
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace

Result<std::string> unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out.push_back(text[i]);
      continue;
    }
    const std::size_t semi = text.find(';', i);
    if (semi == std::string_view::npos || semi - i > 12) return fail(Errc::corrupt, "unterminated XML entity");
    const std::string_view name = text.substr(i + 1, semi - i - 1);
    if (name == "amp") {
      out.push_back('&');
    } else if (name == "lt") {
      out.push_back('<');
    } else if (name == "gt") {
      out.push_back('>');
    } else if (name == "quot") {
      out.push_back('"');
    } else if (name == "apos") {
      out.push_back('\'');
    } else if (name.size() >= 2 && name[0] == '#') {
      const bool hex = name[1] == 'x' || name[1] == 'X';
      const std::string_view digits = name.substr(hex ? 2 : 1);
      std::uint32_t cp = 0;
      const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
      if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() || cp == 0 || cp > 0x10FFFF ||
          (cp >= 0xD800 && cp <= 0xDFFF)) {
        return fail(Errc::corrupt, "bad XML character reference '&" + std::string(name) + ";'");
      }
      append_utf8(out, cp);
    } else {
      return fail(Errc::corrupt, "unknown XML entity '&" + std::string(name) + ";'");
    }
    i = semi;
  }
  return out;
}

Result<ListPage> parse_list_objects_v2(std::string_view xml) {
  const std::size_t root = xml.find("<ListBucketResult");
  if (root == std::string_view::npos) return fail(Errc::corrupt, "S3 list response is not a ListBucketResult");
  if (xml.find("</ListBucketResult>", root) == std::string_view::npos) {
    return fail(Errc::corrupt, "S3 list response is truncated");
  }
  ListPage page;
  // The document without its <Contents> entries: IsTruncated and
  // NextContinuationToken are looked up there, so no key can fake them.
  std::string skeleton(xml.substr(0, xml.find("<Contents>", root)));
  std::size_t pos = root;
  while (auto contents = find_element(xml, "Contents", pos)) {
    const std::size_t next = xml.find("<Contents>", contents->end);
    skeleton +=
        xml.substr(contents->end, next == std::string_view::npos ? std::string_view::npos : next - contents->end);
    pos = contents->end;
    const auto key = find_element(contents->text, "Key");
    const auto size = find_element(contents->text, "Size");
    if (!key || !size) return fail(Errc::corrupt, "S3 list entry without Key or Size");
    auto name = unescape(key->text);
    if (!name) return std::unexpected(name.error());
    std::uint64_t bytes = 0;
    const auto [p, ec] = std::from_chars(size->text.data(), size->text.data() + size->text.size(), bytes);
    if (size->text.empty() || ec != std::errc() || p != size->text.data() + size->text.size()) {
      return fail(Errc::corrupt, "S3 list entry '" + *name + "' has a bad Size '" + std::string(size->text) + "'");
    }
    page.objects.push_back(ObjectInfo{std::move(*name), bytes});
  }
  auto outside = [&](std::string_view tag) { return find_element(skeleton, tag); };
  const auto truncated = outside("IsTruncated");
  page.truncated = truncated && truncated->text == "true";
  if (page.truncated) {
    const auto token = outside("NextContinuationToken");
    if (!token || token->text.empty())
      return fail(Errc::corrupt, "S3 list is truncated but has no NextContinuationToken");
    auto t = unescape(token->text);
    if (!t) return std::unexpected(t.error());
    page.next_continuation_token = std::move(*t);
  }
  return page;
}

ErrorBody parse_error(std::string_view xml) {
  ErrorBody out;
  const std::size_t root = xml.find("<Error>");
  if (root == std::string_view::npos) return out;
  const std::string_view body = xml.substr(root);
  if (auto code = find_element(body, "Code")) out.code = unescape(code->text).value_or(std::string(code->text));
  if (auto message = find_element(body, "Message")) {
    out.message = unescape(message->text).value_or(std::string(message->text));
  }
  return out;
}

}  // namespace deskaudit::storage::s3xml
