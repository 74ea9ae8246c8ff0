#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "server/config.hpp"

using namespace deskaudit;
using namespace deskaudit::server;

TEST(Config, TomlThenEnvThenDefaults) {
  ServerConfig c;
  ASSERT_TRUE(apply_toml(c, R"(
listen = "0.0.0.0:9000"
data_dir = "/var/lib/deskaudit"
session_ttl_seconds = 3600
[s3]
endpoint = "http://127.0.0.1:4568"
path_style = true
)"));
  EXPECT_EQ(c.listen, "0.0.0.0:9000");
  EXPECT_EQ(c.session_ttl_ms, 3600 * 1000);
  EXPECT_EQ(c.s3.endpoint, "http://127.0.0.1:4568");
  ASSERT_TRUE(apply_env(c, {{"DESKAUDIT_LISTEN", "127.0.0.1:8181"}, {"DESKAUDIT_STORE", "s3://bucket/rec"}}));
  EXPECT_EQ(c.listen, "127.0.0.1:8181");
  ASSERT_TRUE(finalize(c));
  EXPECT_EQ(c.catalog, "sqlite:///var/lib/deskaudit/catalog.db");
  EXPECT_EQ(c.store, "s3://bucket/rec");
  EXPECT_FALSE(c.replica_id.empty());
}

TEST(Config, ErrorsNameTheKey) {
  ServerConfig c;
  auto bad = apply_toml(c, "listen = 8080\n");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "listen");
  auto unknown = apply_toml(c, "colour = \"red\"\n");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("colour"), std::string::npos);
  EXPECT_FALSE(apply_toml(c, "this is not toml"));
  EXPECT_FALSE(apply_env(c, {{"DESKAUDIT_LOG_FORMAT", "xml"}}));
}

TEST(Config, ListenAddressIsChecked) {
  EXPECT_EQ(split_listen("127.0.0.1:8080").value(), (std::pair<std::string, int>{"127.0.0.1", 8080}));
  EXPECT_EQ(split_listen("[::1]:80").value().first, "::1");
  EXPECT_FALSE(split_listen("localhost"));
  EXPECT_FALSE(split_listen("host:99999"));
  EXPECT_FALSE(split_listen("host:http"));
}

TEST(Config, SigningKeySettings) {
  ServerConfig c;
  ASSERT_TRUE(apply_toml(c, R"(
data_dir = "/var/lib/deskaudit"
audit_sign_every = 4
signing_key_file = "/etc/deskaudit/signing.key"
)"));
  ASSERT_TRUE(finalize(c));
  EXPECT_EQ(c.audit_sign_every, 4);
  EXPECT_EQ(c.signing_key_file, "/etc/deskaudit/signing.key");
  EXPECT_EQ(c.trusted_keys_file, "/etc/deskaudit/trusted-keys");  // next to the key

  ServerConfig d;
  d.data_dir = "/srv/da";
  ASSERT_TRUE(apply_env(d, {{"DESKAUDIT_SIGNING_KEY", "c2VlZA=="}, {"DESKAUDIT_AUDIT_SIGN_EVERY", "1"},
                            {"DESKAUDIT_TRUSTED_KEYS_FILE", "/etc/da/keys"}}));
  ASSERT_TRUE(finalize(d));
  EXPECT_EQ(d.signing_key_seed, "c2VlZA==");
  EXPECT_EQ(d.audit_sign_every, 1);
  EXPECT_EQ(d.signing_key_file, "/srv/da/signing.key");
  EXPECT_EQ(d.trusted_keys_file, "/etc/da/keys");

  ServerConfig e;
  EXPECT_FALSE(apply_env(e, {{"DESKAUDIT_AUDIT_SIGN_EVERY", "ten"}}));
  e.audit_sign_every = 0;
  auto zero = finalize(e);
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().field, "audit_sign_every");
  EXPECT_EQ(apply_toml(e, "audit_sign_every = \"4\"\n").error().field, "audit_sign_every");
}

TEST(Config, TlsMetricsAndConnectionKeys) {
  const auto dir = std::filesystem::temp_directory_path() / ("deskaudit-config-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "cert.pem") << "x";
  std::ofstream(dir / "key.pem") << "x";
  ServerConfig c;
  c.data_dir = dir;
  ASSERT_TRUE(apply_toml(c, "tls_cert = \"" + (dir / "cert.pem").string() + "\"\nmax_connections = 5000\n"
                            "metrics_listen = \"127.0.0.1:9100\"\n"));
  EXPECT_EQ(c.max_connections, 5000);
  EXPECT_EQ(c.metrics_listen, "127.0.0.1:9100");
  auto half = finalize(c);  // a certificate without its key
  ASSERT_FALSE(half);
  EXPECT_EQ(half.error().field, "tls_cert");
  ASSERT_TRUE(apply_env(c, {{"DESKAUDIT_TLS_KEY", (dir / "key.pem").string()}}));
  EXPECT_TRUE(finalize(c));
  c.tls_key = dir / "missing.pem";
  EXPECT_FALSE(finalize(c));
  c.tls_key = dir / "key.pem";
  c.metrics_listen = "nonsense";
  EXPECT_FALSE(finalize(c));
  c.metrics_listen = c.listen;
  EXPECT_FALSE(finalize(c));
  c.metrics_listen.clear();
  c.max_connections = 1;
  EXPECT_FALSE(finalize(c));
  std::filesystem::remove_all(dir);
}

// Encryption at rest is off unless a master key is given (docs/encryption.md).
TEST(Config, EncryptionKeySettings) {
  ServerConfig c;
  ASSERT_TRUE(finalize(c));
  EXPECT_TRUE(c.encryption_key_file.empty() && c.encryption_key.empty());
  ASSERT_TRUE(apply_toml(c, "encryption_key_file = \"/etc/deskaudit/master.key\"\n"));
  EXPECT_EQ(c.encryption_key_file, "/etc/deskaudit/master.key");
  EXPECT_FALSE(apply_toml(c, "encryption_key_file = 3\n"));
  ServerConfig d;
  ASSERT_TRUE(apply_env(d, {{"DESKAUDIT_ENCRYPTION_KEY", "a2V5"}, {"DESKAUDIT_ENCRYPTION_KEY_FILE", "/k"}}));
  EXPECT_EQ(d.encryption_key, "a2V5");
  EXPECT_EQ(d.encryption_key_file, "/k");
}
