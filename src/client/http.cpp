#include "client/http.hpp"

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#endif

#include <algorithm>

#include <nlohmann/json.hpp>

#include "client/http_internal.hpp"
#include "common/http_status.hpp"
#include "common/text.hpp"

namespace deskaudit::client {

using detail::ascii_lower;

std::string url_host(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  std::string_view rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    return close == std::string_view::npos ? std::string() : std::string(rest.substr(1, close - 1));
  }
  return std::string(rest.substr(0, rest.find(':')));
}

Error api_error(const HttpResponse& response) {
  std::string code, message, field;
  const auto doc = nlohmann::json::parse(response.body, nullptr, false);
  if (doc.is_object()) {
    if (auto e = doc.find("error"); e != doc.end() && e->is_object()) {
      const auto text = [&](const char* key) {
        auto it = e->find(key);
        return it != e->end() && it->is_string() ? it->get<std::string>() : std::string();
      };
      code = text("code");
      message = text("message");
      field = text("field");
    }
  }
  return Error{errc_for_status(response.status, code), std::move(message), std::move(field)};
}

Status check_transport(std::string_view url, bool allow_insecure_http, std::string_view insecure_flag) {
  std::string scheme(url.substr(0, url.find("://")));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), ascii_lower);
  if (scheme == "https") return {};
  if (scheme != "http" || url.find("://") == std::string_view::npos) {
    return fail(Errc::invalid_argument, "server URL '" + std::string(url) + "' must start with https:// or http://");
  }
  if (allow_insecure_http) return {};
  std::string host = url_host(url);
  std::transform(host.begin(), host.end(), host.begin(), ascii_lower);
  // Literal addresses only: a name that resolves to 127.0.0.1 today may not
  // tomorrow, and DNS answers are not ours to trust.
  in_addr v4{};
  in6_addr v6{};
  const bool loopback = host == "localhost" ||
                        (::inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127) ||
                        (::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6));
  if (loopback) return {};
  return fail(Errc::invalid_argument,
              "refusing plain http:// to " + (host.empty() ? std::string("an unnamed host") : host) +
                  ": tokens, passwords and recordings would cross the network unencrypted. Use https:// (with " +
                  "--ca-file for a private CA), or pass " + std::string(insecure_flag) +
                  " to allow http:// anyway (http:// is always allowed to 127.0.0.1, ::1 and localhost)");
}

std::string url_encode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '_' || c == '.' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

bool dns_name_matches(std::string_view pattern, std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (!pattern.empty() && pattern.back() == '.') pattern.remove_suffix(1);
  if (pattern.empty() || host.empty()) return false;
  if (!pattern.starts_with("*.")) return pattern.find('*') == std::string_view::npos && ascii_iequals(pattern, host);
  // "*.example.com": exactly one label, the host's leftmost, and a pattern of
  // at least two labels after it (no "*.com").
  const std::string_view suffix = pattern.substr(1);  // ".example.com"
  if (suffix.find('.', 1) == std::string_view::npos || suffix.find('*') != std::string_view::npos) return false;
  const auto dot = host.find('.');
  if (dot == 0 || dot == std::string_view::npos) return false;
  return ascii_iequals(host.substr(dot), suffix);
}

}  // namespace deskaudit::client
