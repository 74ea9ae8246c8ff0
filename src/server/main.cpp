// deskaudit-server: REST API, web console, segment ingest, retention sweeper.
#include <sys/resource.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <thread>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/fs.hpp"
#include "server/app.hpp"

extern char** environ;

namespace {

std::map<std::string, std::string> environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace deskaudit;
  CLI::App cli{"deskaudit-server: screen-recording audit server (REST API, console, ingest, retention)"};
  std::string config_file, listen, data_dir, catalog_url, store_url, web_root, log_level, log_format, tls_cert, tls_key,
      metrics_listen;
  cli.add_option("--config", config_file, "TOML config file (flags and DESKAUDIT_* variables override it)");
  cli.add_option("--listen", listen, "HOST:PORT to listen on (default 127.0.0.1:8080; port 0 picks one)");
  cli.add_option("--data-dir", data_dir, "data directory: SQLite catalog, local objects, upload temp files");
  cli.add_option("--catalog", catalog_url, "catalog URL: sqlite:///path.db or postgresql://user@host/db");
  cli.add_option("--store", store_url, "object store URL: file:///dir or s3://bucket/prefix");
  cli.add_option("--web-root", web_root, "directory of the built web console");
  cli.add_option("--tls-cert", tls_cert, "PEM certificate chain: serve HTTPS (with --tls-key)");
  cli.add_option("--tls-key", tls_key, "PEM private key of --tls-cert");
  cli.add_option("--metrics-listen", metrics_listen, "HOST:PORT serving GET /metrics (Prometheus text), apart from the API");
  cli.add_option("--log-level", log_level, "trace, debug, info, warn or error");
  cli.add_option("--log-format", log_format, "text or json");
  cli.footer(
      "Environment: DESKAUDIT_ADMIN_PASSWORD sets the first administrator's password when the catalog is new\n"
      "and needs no change at the first sign-in (otherwise one is generated into DATA_DIR/first-admin-password,\n"
      "mode 0600, and must be changed at the first sign-in). DESKAUDIT_LISTEN, DESKAUDIT_DATA_DIR, DESKAUDIT_CATALOG,\n"
      "DESKAUDIT_STORE, DESKAUDIT_WEB_ROOT, DESKAUDIT_LOG_LEVEL, DESKAUDIT_LOG_FORMAT, DESKAUDIT_TLS_CERT,\n"
      "DESKAUDIT_TLS_KEY, DESKAUDIT_METRICS_LISTEN, DESKAUDIT_S3_ENDPOINT, DESKAUDIT_S3_REGION, DESKAUDIT_S3_PATH_STYLE and\n"
      "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY configure the rest.\n"
      "Audit log signing (docs/keys.md): DESKAUDIT_SIGNING_KEY (base64 Ed25519 seed, instead of the 0600 key file\n"
      "<data_dir>/signing.key made at first start), DESKAUDIT_SIGNING_KEY_FILE, DESKAUDIT_TRUSTED_KEYS_FILE,\n"
      "DESKAUDIT_AUDIT_SIGN_EVERY (entries between signed checkpoints, default 16).\n"
      "Encryption at rest (docs/encryption.md): DESKAUDIT_ENCRYPTION_KEY_FILE (0600 file of base64 32-byte master\n"
      "keys, current first; toml encryption_key_file) or DESKAUDIT_ENCRYPTION_KEY (the same text) switches it on.");
  CLI11_PARSE(cli, argc, argv);

  server::ServerConfig config;
  const auto env = environment();
  auto die = [](const Error& e) {
    std::cerr << "deskaudit-server: " << e.message << "\n";
    return 2;
  };
  if (!config_file.empty()) {
    auto text = read_file(config_file);
    if (!text) return die(text.error());
    if (auto st = server::apply_toml(config, *text); !st) return die(with_context(st.error(), config_file));
  }
  if (auto st = server::apply_env(config, env); !st) return die(st.error());
  if (!listen.empty()) config.listen = listen;
  if (!data_dir.empty()) config.data_dir = data_dir;
  if (!catalog_url.empty()) config.catalog = catalog_url;
  if (!store_url.empty()) config.store = store_url;
  if (!web_root.empty()) config.web_root = web_root;
  if (!log_level.empty()) config.log_level = log_level;
  if (!tls_cert.empty()) config.tls_cert = tls_cert;
  if (!tls_key.empty()) config.tls_key = tls_key;
  if (!metrics_listen.empty()) config.metrics_listen = metrics_listen;
  if (!log_format.empty()) {
    if (log_format != "text" && log_format != "json") return die(Error{Errc::invalid_argument, "--log-format must be text or json"});
    config.log_format = log_format == "json" ? LogFormat::json : LogFormat::text;
  }
  try {
    init_logging("server", config.log_level, config.log_format);
  } catch (const std::exception& e) {
    std::cerr << "deskaudit-server: " << e.what() << "\n";
    return 2;
  }

  // Every keep-alive agent holds a socket: use the whole allowance of file descriptors.
  if (rlimit lim{}; ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &lim);
  }

  // Signals are taken by a thread of ours, so the HTTP threads never see them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const auto admin_password = env.contains("DESKAUDIT_ADMIN_PASSWORD") ? env.at("DESKAUDIT_ADMIN_PASSWORD") : "";
  auto app = server::App::create(config, std::make_shared<SystemClock>(), admin_password);
  if (!app) return die(app.error());
  auto& services = (*app)->services();
  std::thread signal_thread([&app, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("signal {}: finishing requests in flight and stopping", sig);
    (*app)->stop();
  });
  auto st = (*app)->run([&](int port) {
    const auto host = server::split_listen(services.config.listen)->first;
    const auto url = services.config.public_url.empty()
                         ? (services.config.tls_cert.empty() ? "http://" : "https://") + (host == "0.0.0.0" ? std::string("127.0.0.1") : host) + ":" + std::to_string(port) + "/"
                         : services.config.public_url;
    spdlog::info("listening on {}:{} catalog={} store={}", host, port, services.catalog->backend(), services.store->describe());
    if (!(*app)->first_admin_password_file().empty()) {
      std::cout << "first administrator: user 'admin', password in " << (*app)->first_admin_password_file().string()
                << " (readable by this user only; the console asks for a new one at the first sign-in)\n";
    }
    std::cout << "deskaudit console: " << url << "\n";
    std::cout.flush();
  });
  if (!st) {
    (*app)->stop();
    pthread_kill(signal_thread.native_handle(), SIGTERM);
    signal_thread.join();
    return die(st.error());
  }
  signal_thread.join();
  spdlog::info("stopped");
  return 0;
}
