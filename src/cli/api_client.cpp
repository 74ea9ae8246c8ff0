#include "cli/api_client.hpp"

#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

#include "common/fs.hpp"

namespace deskaudit::cli {
namespace {

Error error_from(const client::HttpResponse& r) {
  Error e = client::api_error(r);
  if (e.message.empty()) e.message = "HTTP " + std::to_string(r.status);
  if (!e.field.empty()) e.message += " (field " + e.field + ")";
  return e;
}

}  // namespace

ApiClient::ApiClient(std::string server_url, std::string token, client::HttpClientOptions http)
    : server_(std::move(server_url)), token_(std::move(token)), http_(std::move(http)) {
  while (!server_.empty() && server_.back() == '/') server_.pop_back();
}

Result<Json> ApiClient::call(const std::string& method, const std::string& path, const std::string* body) {
  client::HttpRequest req;
  req.method = method;
  req.url = server_ + path;
  req.headers.emplace_back("Accept", "application/json");
  if (!token_.empty()) req.headers.emplace_back("Authorization", "Bearer " + token_);
  if (body) {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = *body;
  }
  auto res = http_.send(req);
  if (!res) return std::unexpected(with_context(res.error(), "cannot reach " + server_));
  if (res->status < 200 || res->status >= 300) return std::unexpected(error_from(*res));
  if (res->body.empty()) return Json(nullptr);
  Json j = Json::parse(res->body, nullptr, false);
  if (j.is_discarded()) return fail(Errc::corrupt, "the server answered with something other than JSON");
  return j;
}

Result<Json> ApiClient::get(const std::string& path) { return call("GET", path, nullptr); }
Result<Json> ApiClient::del(const std::string& path) { return call("DELETE", path, nullptr); }
Result<Json> ApiClient::post(const std::string& path, const Json& body) {
  const auto text = body.dump();
  return call("POST", path, &text);
}
Result<Json> ApiClient::patch(const std::string& path, const Json& body) {
  const auto text = body.dump();
  return call("PATCH", path, &text);
}
Result<Json> ApiClient::put(const std::string& path, const Json& body) {
  const auto text = body.dump();
  return call("PUT", path, &text);
}

Result<Json> ApiClient::get_all(const std::string& path, int max_items) {
  Json all = Json::array();
  std::string token;
  const char sep = path.find('?') == std::string::npos ? '?' : '&';
  for (;;) {
    auto page = get(path + sep + "limit=500" + (token.empty() ? "" : "&next_token=" + client::url_encode(token)));
    if (!page) return page;
    for (auto& item : (*page)["items"]) all.push_back(item);
    token = page->value("next_token", std::string());
    if (token.empty() || static_cast<int>(all.size()) >= max_items) break;
  }
  return all;
}

Result<std::uint64_t> ApiClient::download(const std::string& path, const std::filesystem::path& out) {
  const auto tmp = out.string() + ".part";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return fail(Errc::io, errno_message("create " + tmp, errno));
  client::HttpRequest req;
  req.url = server_ + path;
  req.timeout_ms = 24L * 3600 * 1000;
  if (!token_.empty()) req.headers.emplace_back("Authorization", "Bearer " + token_);
  std::uint64_t written = 0;
  Status write_status;
  auto res = http_.send(req, [&](std::span<const std::byte> data) {
    write_status = write_all(fd.get(), data.data(), data.size(), tmp);
    written += data.size();
    return write_status.has_value();
  });
  if (!res) {
    ::unlink(tmp.c_str());
    return std::unexpected(res.error());
  }
  if (!write_status) {
    ::unlink(tmp.c_str());
    return std::unexpected(write_status.error());
  }
  if (res->status != 200) {
    ::unlink(tmp.c_str());
    return std::unexpected(error_from(*res));
  }
  if (::fsync(fd.get()) != 0) return fail(Errc::io, errno_message("fsync " + tmp, errno));
  fd.reset();
  if (::rename(tmp.c_str(), out.c_str()) != 0) return fail(Errc::io, errno_message("rename to " + out.string(), errno));
  return written;
}

std::string query_string(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string q;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    q += (q.empty() ? "?" : "&") + k + "=" + client::url_encode(v);
  }
  return q;
}

std::filesystem::path credentials_path() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  std::filesystem::path base = xdg && *xdg ? std::filesystem::path(xdg) : std::filesystem::path(home ? home : ".") / ".config";
  return base / "deskaudit" / "credentials.json";
}

Status save_credentials(const SavedLogin& login) {
  const auto path = credentials_path();
  if (auto st = ensure_private_dir(path.parent_path()); !st) return st;
  const Json doc = {{"server", login.server},
                    {"token", login.token},
                    {"ca_file", login.ca_file},
                    {"insecure_http", login.insecure_http}};
  return write_file_atomic(path, doc.dump() + "\n", 0600);
}

Result<SavedLogin> load_credentials() {
  auto text = read_file(credentials_path(), 1 << 16);
  if (!text) return std::unexpected(text.error());
  Json j = Json::parse(*text, nullptr, false);
  const auto bad = [] {
    return fail(Errc::corrupt, credentials_path().string() + " is not valid; run deskaudit login again");
  };
  if (!j.is_object()) return bad();
  SavedLogin s;
  try {
    s.server = j.value("server", std::string());
    s.token = j.value("token", std::string());
    s.ca_file = j.value("ca_file", std::string());
    s.insecure_http = j.value("insecure_http", false);
  } catch (const Json::exception&) {
    return bad();
  }
  return s;
}

}  // namespace deskaudit::cli
