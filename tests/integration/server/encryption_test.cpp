// Encryption at rest through the real server (docs/encryption.md): an
// unencrypted store with three recordings is encrypted in place (the first
// run stopped half way, then rerun), the server then plays and downloads
// every recording from ciphertext, the master key is rotated and the server
// restarted with the new key only, and a flipped byte in a stored segment
// makes its download fail instead of yielding a broken video.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <map>

#include "common/crypto.hpp"
#include "interrupted_store.hpp"
#include "plaintext_runs.hpp"
#include "s3_test_servers.hpp"
#include "sample_media.hpp"
#include "server_process.hpp"
#include "storage/encrypted_store.hpp"

using namespace deskaudit;
using namespace deskaudit::testing;

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_key_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
  ::chmod(p.c_str(), 0600);
}

std::unique_ptr<storage::ObjectStore> raw_store(const std::filesystem::path& data) {
  auto s = storage::make_object_store("file://" + (data / "objects").string());
  if (!s) throw std::runtime_error(s.error().message);
  return std::move(*s);
}

std::shared_ptr<const storage::MasterKeyProvider> keys_from(const std::filesystem::path& file) {
  auto k = storage::LocalMasterKeys::load_file(file);
  if (!k) throw std::runtime_error(k.error().message);
  return std::shared_ptr<const storage::MasterKeyProvider>(std::move(*k));
}

// Recording id -> its one-file download.
using Downloads = std::map<std::string, std::string>;

std::string record(Api& admin, Api& agent, const std::string& user, int seconds) {
  auto rec = agent.post("/api/v1/agent/recordings", {{"username", user}, {"start_time", "2026-11-27T09:00:00Z"}});
  EXPECT_EQ(rec.status, 201) << rec.body;
  const auto id = rec.json["id"].get<std::string>();
  const auto segments = make_segments(2, seconds);
  for (int i = 0; i < 2; ++i) {
    const auto& bytes = segments[static_cast<std::size_t>(i)];
    auto r = agent.raw("PUT", "/api/v1/agent/recordings/" + id + "/segments/" + std::to_string(i), bytes,
                       {{"Content-Type", "video/mp4"}, {"X-Content-SHA256", sha256_of(bytes)}});
    EXPECT_EQ(r.status, 201) << r.body;
  }
  EXPECT_EQ(agent.post("/api/v1/agent/recordings/" + id + "/finish", {{"end_time", "2026-11-27T09:10:00Z"}}).status,
            200);
  (void)admin;
  return id;
}

// Every recording plays (playlist, init segment) and downloads with the same bytes as before.
void expect_playable(Api& admin, const Downloads& before) {
  for (const auto& [id, body] : before) {
    auto dl = admin.get("/api/v1/recordings/" + id + "/download");
    ASSERT_EQ(dl.status, 200) << id << ": " << dl.body.substr(0, 200);
    EXPECT_TRUE(dl.body == body) << id << " downloads other bytes";
    auto part = admin.raw("GET", "/api/v1/recordings/" + id + "/download", "", {{"Range", "bytes=65530-65545"}});
    ASSERT_EQ(part.status, 206);
    EXPECT_EQ(part.body, body.substr(65530, 16));
    auto playlist = admin.get("/api/v1/recordings/" + id + "/playlist.m3u8");
    EXPECT_EQ(playlist.status, 200);
    auto seg = admin.get("/api/v1/recordings/" + id + "/segments/1");
    EXPECT_EQ(seg.status, 200);
  }
}

TEST(EncryptionAtRest, MigrateEncryptRotateAndTamperThroughTheServer) {
  TempDir dir("encryption");
  const auto data = dir.path() / "data";
  Downloads downloads;
  {
    ServerProcess server(ServerOptions{data});
    Api admin(server.url(), admin_token(server.url()));
    auto pol =
        admin.post("/api/v1/policies", {{"name", "all"}, {"recording", {{"mode", "session"}, {"retention_days", 30}}}});
    ASSERT_EQ(pol.status, 201) << pol.body;
    auto creds = enroll_agent(admin, "desk-enc");
    ASSERT_EQ(admin
                  .put("/api/v1/policies/" + pol.json["id"].get<std::string>() + "/assignments/computers/" +
                       creds.computer_id)
                  .status,
              204);
    Api agent(server.url(), creds.agent_token);
    for (const char* user : {"ann", "bob", "cyd"}) {
      const auto id = record(admin, agent, user, 4);
      downloads[id] = admin.get("/api/v1/recordings/" + id + "/download").body;
      ASSERT_GT(downloads[id].size(), 70000u);
    }
  }

  // encrypt-in-place, stopped half way, then run again.
  write_key_file(dir.path() / "key-a", storage::LocalMasterKeys::generate_line());
  auto raw = raw_store(data);
  {
    auto cut = storage::EncryptedObjectStore::open(std::make_unique<InterruptedStore>(*raw, 4),
                                                   keys_from(dir.path() / "key-a"), {});
    ASSERT_TRUE(cut);
    ASSERT_FALSE(storage::encrypt_in_place(**cut));
  }
  {
    auto store = storage::EncryptedObjectStore::open(raw_store(data), keys_from(dir.path() / "key-a"), {});
    ASSERT_TRUE(store);
    auto report = storage::encrypt_in_place(**store);
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_GT(report->already_encrypted, 0);
    EXPECT_GT(report->encrypted, 0);
  }
  const auto stored = raw->list_stored("").value();
  for (const auto& o : stored) {
    const auto bytes = slurp(data / "objects" / o.key);
    // The downloads are the segments' bytes back to back: no run of them
    // is stored (docs/encryption.md).
    for (const auto& [id, body] : downloads) {
      const auto at = plaintext_run_in(bytes, body);
      EXPECT_FALSE(at) << o.key << " holds bytes of " << id << " from byte " << at.value_or(0);
    }
  }

  {
    ServerOptions o{data};
    o.env["DESKAUDIT_ENCRYPTION_KEY_FILE"] = (dir.path() / "key-a").string();
    ServerProcess server(o);
    Api admin(server.url(), admin_token(server.url()));
    expect_playable(admin, downloads);
  }

  // Rotation: the new key first, the old one to unwrap; then the new one alone.
  const auto key_b = storage::LocalMasterKeys::generate_line();
  write_key_file(dir.path() / "key-ba", key_b + slurp(dir.path() / "key-a"));
  write_key_file(dir.path() / "key-b", key_b);
  auto rotated = storage::rotate_data_keys(*raw, *keys_from(dir.path() / "key-ba"));
  ASSERT_TRUE(rotated) << rotated.error().message;
  // One data key per recording and run that wrote to it (the stopped run and the rerun may both have).
  const auto keys_now = raw->list_stored("").value();
  EXPECT_EQ(rotated->rewrapped, std::count_if(keys_now.begin(), keys_now.end(),
                                              [](const auto& o) { return storage::is_data_key_object(o.key); }));
  EXPECT_GE(rotated->rewrapped, 3);
  {
    ServerOptions o{data};
    o.env["DESKAUDIT_ENCRYPTION_KEY_FILE"] = (dir.path() / "key-b").string();
    ServerProcess server(o);
    Api admin(server.url(), admin_token(server.url()));
    expect_playable(admin, downloads);

    // A flipped byte in the middle of a stored segment: play and download fail loudly.
    const auto& [victim, body] = *downloads.begin();
    const auto whole = admin.get("/api/v1/recordings/" + victim + "/segments/1");
    ASSERT_EQ(whole.status, 200);
    std::filesystem::path segment;
    const auto objects = raw->list_stored("").value();
    for (const auto& o : objects) {
      if (o.key.find("/" + victim + "/000001-") != std::string::npos && o.key.ends_with(".mp4")) {
        segment = data / "objects" / o.key;
      }
    }
    ASSERT_FALSE(segment.empty());
    auto bytes = slurp(segment);
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x20);
    std::ofstream(segment, std::ios::binary | std::ios::trunc) << bytes;
    // Served whole = silently broken; an error status or a cut-off transfer is what must happen.
    const auto served_whole = [&](const std::string& path, std::size_t size) {
      try {
        auto r = admin.get(path);
        return r.status == 200 && r.body.size() == size;
      } catch (const std::exception&) {
        return false;
      }
    };
    EXPECT_FALSE(served_whole("/api/v1/recordings/" + victim + "/segments/1", whole.body.size()));
    // A segment is read through before its response starts: the player gets
    // an error naming the segment, not a body cut short.
    const auto refused = admin.get("/api/v1/recordings/" + victim + "/segments/1");
    EXPECT_EQ(refused.status, 422) << refused.body;
    EXPECT_NE(refused.body.find("segment 1 of recording " + victim + " changed in the object store"), std::string::npos)
        << refused.body;
    // A range of it (the segment is one sealed chunk) is refused as well.
    const auto part = admin.raw("GET", "/api/v1/recordings/" + victim + "/segments/1", "", {{"Range", "bytes=0-99"}});
    EXPECT_EQ(part.status, 422) << part.body;
    // The recording's other segments still authenticate, and are served.
    const auto other = admin.raw("GET", "/api/v1/recordings/" + victim + "/segments/0", "", {{"Range", "bytes=0-99"}});
    EXPECT_EQ(other.status, 206);
    EXPECT_EQ(other.body.size(), 100u);
    EXPECT_FALSE(served_whole("/api/v1/recordings/" + victim + "/download", body.size()));
    // The other recordings are untouched.
    Downloads others(std::next(downloads.begin()), downloads.end());
    expect_playable(admin, others);
  }

  // A missing key file stops the server at start with a message naming it.
  auto bad =
      run_command("DESKAUDIT_ENCRYPTION_KEY_FILE='" + (dir.path() / "no-such-key").string() + "' " +
                  DESKAUDIT_SERVER_BIN + " --listen 127.0.0.1:0 --data-dir '" + data.string() + "' 2>&1 </dev/null");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.out.find("no-such-key"), std::string::npos) << bad.out;
}

// An upload to an encrypting server is sealed as its body arrives, chunk by
// chunk straight into the temp file's write blocks (O_DIRECT on a local
// store, buffered for S3): several MiB of an odd size put chunk edges inside
// the body's pieces and inside those blocks, and it reads back byte for byte,
// whole and by ranges across chunk edges, from ciphertext of the right size.
enum class SealedStore { local, s3rver };

class SealedUpload : public ::testing::TestWithParam<SealedStore> {};

TEST_P(SealedUpload, ASegmentOfSeveralMegabytesIsSealedAsItArrivesAndReadsBackByteForByte) {
  if (GetParam() == SealedStore::s3rver) {
    DESKAUDIT_REQUIRE_S3_TARGET(target, S3Server::s3rver);
  }
  TempDir dir("sealed-upload");
  write_key_file(dir.path() / "key", storage::LocalMasterKeys::generate_line());
  ServerOptions o(dir.path() / "data");
  o.env["DESKAUDIT_ENCRYPTION_KEY_FILE"] = (dir.path() / "key").string();
  std::unique_ptr<storage::ObjectStore> raw;
  if (GetParam() == SealedStore::local) {
    raw = raw_store(dir.path() / "data");
  } else {
    auto target = s3_test_target(S3Server::s3rver);
    const std::string url = "s3://" + target->bucket + "/" + random_id("sealed-");
    o.args = {"--store", url};
    o.env["DESKAUDIT_S3_ENDPOINT"] = target->endpoint;
    o.env["DESKAUDIT_S3_PATH_STYLE"] = "true";
    o.env["AWS_ACCESS_KEY_ID"] = target->access_key;
    o.env["AWS_SECRET_ACCESS_KEY"] = target->secret_key;
    storage::S3Options s3;
    s3.endpoint = target->endpoint;
    s3.access_key_id = target->access_key;
    s3.secret_access_key = target->secret_key;
    raw = storage::make_object_store(url, s3).value();
  }
  ServerProcess server(std::move(o));
  Api admin(server.url(), admin_token(server.url()));
  auto creds = enroll_agent(admin, "desk-sealed");
  Api agent(server.url(), creds.agent_token);
  auto rec = agent.post("/api/v1/agent/recordings", {{"username", "erin"}, {"start_time", "2026-11-27T13:00:00Z"}});
  ASSERT_EQ(rec.status, 201) << rec.body;
  const auto id = rec.json["id"].get<std::string>();
  const auto segment = pad_segment(make_segments(1, 2)[0], (3u << 20) + 12345, 42);
  auto put = agent.raw("PUT", "/api/v1/agent/recordings/" + id + "/segments/0", segment,
                       {{"Content-Type", "video/mp4"}, {"X-Content-SHA256", sha256_of(segment)}});
  ASSERT_EQ(put.status, 201) << put.body;

  auto back = admin.get("/api/v1/recordings/" + id + "/segments/0");
  ASSERT_EQ(back.status, 200);
  EXPECT_EQ(back.body.size(), segment.size());
  EXPECT_TRUE(back.body == segment);
  // Chunk 15 ends 16 bytes before the first 1 MiB write block does; chunk 16 straddles it.
  for (std::size_t at : {std::size_t{65530}, std::size_t{16 * 65536 - 8}, segment.size() - 70000}) {
    auto part = admin.raw("GET", "/api/v1/recordings/" + id + "/segments/0", "",
                          {{"Range", "bytes=" + std::to_string(at) + "-" + std::to_string(at + 65599)}});
    ASSERT_EQ(part.status, 206) << at;
    EXPECT_TRUE(part.body == segment.substr(at, 65600)) << at;
  }
  // What the store holds: ciphertext of the sealed size, no plaintext.
  std::size_t objects = 0;
  const auto listed = raw->list_stored("").value();
  for (const auto& obj : listed) {
    if (storage::is_data_key_object(obj.key) || obj.key.find("/" + id + "/000000-") == std::string::npos) continue;
    ++objects;
    EXPECT_EQ(obj.size_bytes, storage::encrypted_size(segment.size()));
    std::string stored;
    ASSERT_TRUE(raw->read(obj.key, {}, [&](std::span<const std::byte> d) {
      stored.append(reinterpret_cast<const char*>(d.data()), d.size());
      return true;
    }));
    EXPECT_TRUE(storage::is_encrypted_object(std::as_bytes(std::span(stored.data(), stored.size()))));
    const auto at = plaintext_run_in(stored, segment);
    EXPECT_FALSE(at) << "the stored object holds the segment's bytes from byte " << at.value_or(0);
  }
  EXPECT_EQ(objects, 1u);
}

INSTANTIATE_TEST_SUITE_P(Stores, SealedUpload, ::testing::Values(SealedStore::local, SealedStore::s3rver),
                         [](const auto& info) { return info.param == SealedStore::local ? "Local" : "S3rver"; });

}  // namespace
