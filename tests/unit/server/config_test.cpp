#include <gtest/gtest.h>

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
