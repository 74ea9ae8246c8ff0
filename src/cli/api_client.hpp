#pragma once
// A JSON client of the deskaudit REST API for the CLI: base URL + bearer
// token; errors from the server ({"error":{"code","message"}}) become Error
// values with the server's message. One thread at a time.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "client/http.hpp"
#include "common/error.hpp"

namespace deskaudit::cli {

using Json = nlohmann::json;

class ApiClient {
 public:
  ApiClient(std::string server_url, std::string token, client::HttpClientOptions http = {});

  Result<Json> get(const std::string& path);
  Result<Json> post(const std::string& path, const Json& body);
  Result<Json> patch(const std::string& path, const Json& body);
  Result<Json> put(const std::string& path, const Json& body = Json::object());
  Result<Json> del(const std::string& path);
  // Streams a GET response body to a file (written to a temp name, renamed
  // when complete). Returns bytes written.
  Result<std::uint64_t> download(const std::string& path, const std::filesystem::path& out);
  // All pages of a list endpoint (path may hold a query already).
  Result<Json> get_all(const std::string& path, int max_items = 100000);

  const std::string& server() const { return server_; }

 private:
  Result<Json> call(const std::string& method, const std::string& path, const std::string* body);
  std::string server_;
  std::string token_;
  client::HttpClient http_;
};

// Builds "?a=b&c=d" from the non-empty pairs.
std::string query_string(const std::vector<std::pair<std::string, std::string>>& params);

// Saved sign-in: ~/.config/deskaudit/credentials.json (0600)
// {"server","token","ca_file","insecure_http"}: the transport settings used
// at login apply again whenever the saved server is the one in use.
struct SavedLogin {
  std::string server;
  std::string token;    // secret
  std::string ca_file;  // absolute path, or empty
  bool insecure_http = false;
};
std::filesystem::path credentials_path();
Status save_credentials(const SavedLogin& login);
Result<SavedLogin> load_credentials();

}  // namespace deskaudit::cli
