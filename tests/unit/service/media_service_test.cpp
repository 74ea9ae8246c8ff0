// MediaService over the in-memory fakes: the audit entry is written before
// any media is served (and nothing is served without it), looks are logged
// once per action, viewer and recording in the window, scope hides
// recordings, and the segment and download readers serve exact ranges.
#include "recordings_fixture.hpp"

namespace deskaudit::service::test {
namespace {

constexpr EpochMs kMinuteMs = 60'000;

std::string read_all(const RangeReader& read, std::uint64_t offset, std::uint64_t length) {
  std::string out;
  const bool ok = read(offset, length, [&](std::span<const std::byte> b) {
    out.append(reinterpret_cast<const char*>(b.data()), b.size());
    return true;
  });
  EXPECT_TRUE(ok);
  return out;
}

TEST_F(RecordingsTest, ThePlaylistIsAuditedAndListsEverySegment) {
  add_recording("rec-a", "cc-a", 3);
  auto p = media.playlist(auditor_a, "rec-a");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_FALSE(p->ended);
  EXPECT_EQ(p->text.find("#EXT-X-ENDLIST"), std::string::npos);
  for (const char* uri : {"segments/0", "segments/1", "segments/2"}) EXPECT_NE(p->text.find(uri), std::string::npos);
  const auto entries = audit_entries("recording.play");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].actor, "ann");
  EXPECT_EQ(entries[0].target, "rec-a");
  EXPECT_EQ(nlohmann::json::parse(entries[0].details_json)["computer_id"], "cc-a");
  // The master playlist names the media playlist; the same play, logged once.
  auto master = media.master_playlist(auditor_a, "rec-a");
  ASSERT_TRUE(master) << master.error().message;
  EXPECT_NE(master->text.find("\nplaylist.m3u8"), std::string::npos) << master->text;
  EXPECT_FALSE(master->ended);
  EXPECT_EQ(audit_entries("recording.play").size(), 1u);

  ASSERT_TRUE(catalog.finish_recording("rec-a", kT0 + 6000, catalog::RecordingStatus::complete));
  auto ended = media.playlist(auditor_a, "rec-a");
  ASSERT_TRUE(ended);
  EXPECT_TRUE(ended->ended);
  EXPECT_NE(ended->text.find("#EXT-X-ENDLIST"), std::string::npos);
}

TEST_F(RecordingsTest, NothingIsServedWhenTheLookCannotBeAudited) {
  add_recording("rec-a", "cc-a", 2);
  const auto failure = Error{Errc::unavailable, "database gone"};
  const int reads = memory_store.calls("read");
  catalog.fail_next("append_audit", failure);
  auto p = media.playlist(admin, "rec-a");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::unavailable);
  catalog.fail_next("append_audit", failure);
  auto m = media.master_playlist(admin, "rec-a");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, Errc::unavailable);
  catalog.fail_next("append_audit", failure);
  auto s = media.segment(admin, "rec-a", 0);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::unavailable);
  EXPECT_EQ(memory_store.calls("read"), reads);  // not a byte of the segment read
  catalog.fail_next("append_audit", failure);
  auto d = media.download(admin, "rec-a", ReadExtent::whole);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, Errc::unavailable);
  EXPECT_TRUE(audit_entries("recording.play").empty());
  EXPECT_TRUE(audit_entries("recording.download").empty());
  // Not remembered as logged: the next look writes its entry.
  ASSERT_TRUE(media.playlist(admin, "rec-a"));
  EXPECT_EQ(audit_entries("recording.play").size(), 1u);
}

TEST_F(RecordingsTest, AStoredSegmentThatChangedIsReportedNotServed) {
  add_recording("rec-a", "cc-a", 2);
  const auto seg = catalog.get_segment("rec-a", 1).value();
  std::string bytes;
  ASSERT_TRUE(memory_store.read(seg.object_key, {}, [&](std::span<const std::byte> b) {
    bytes.append(reinterpret_cast<const char*>(b.data()), b.size());
    return true;
  }));
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
  ASSERT_TRUE(memory_store.put_bytes(seg.object_key, std::as_bytes(std::span(bytes.data(), bytes.size()))));

  auto played = media.segment(admin, "rec-a", 1);
  ASSERT_FALSE(played);
  EXPECT_EQ(played.error().code, Errc::corrupt);
  EXPECT_NE(played.error().message.find("segment 1 of recording rec-a changed in the object store"), std::string::npos)
      << played.error().message;
  EXPECT_TRUE(media.segment(admin, "rec-a", 0)) << "the intact segment still plays";

  // The download sends segment 0, then stops before a byte of segment 1.
  auto file = media.download(admin, "rec-a", ReadExtent::whole);
  ASSERT_TRUE(file) << file.error().message;
  std::uint64_t sent = 0;
  EXPECT_FALSE(file->read(0, file->size_bytes, [&](std::span<const std::byte> b) {
    sent += b.size();
    return true;
  }));
  EXPECT_GT(sent, 0u);
  EXPECT_LT(sent, file->size_bytes);
}

// Where the store authenticates every read (encryption at rest), a small
// Range costs the range, not a hash of the whole object first.
TEST_F(RecordingsTest, ASegmentFromAStoreThatAuthenticatesReadsIsNotHashedFirst) {
  add_recording("rec-a", "cc-a", 2);
  store.authenticated_reads = true;
  const int reads = memory_store.calls("read");
  auto file = media.segment(admin, "rec-a", 1);
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ(memory_store.calls("read"), reads) << "the object was read before a byte was asked for";
  // The range to be served is read (authenticated) once, before the response
  // starts, and served from what was read.
  ASSERT_TRUE(file->check);
  ASSERT_TRUE(file->check(10, 100));
  EXPECT_EQ(memory_store.calls("read"), reads + 1);
  const auto seg = catalog.get_segment("rec-a", 1).value();
  std::string stored;
  ASSERT_TRUE(memory_store.read(seg.object_key, {10, 100}, [&](std::span<const std::byte> b) {
    stored.append(reinterpret_cast<const char*>(b.data()), b.size());
    return true;
  }));
  EXPECT_EQ(read_all(file->read, 10, 100), stored);
  EXPECT_EQ(read_all(file->read, 30, 20), stored.substr(20, 20));
  EXPECT_EQ(memory_store.calls("read"), reads + 2) << "a range inside the checked one is not read again";
  // Outside the checked range, the store is read.
  EXPECT_EQ(read_all(file->read, 0, 5).size(), 5u);
  EXPECT_EQ(memory_store.calls("read"), reads + 3);
}

// A sealed chunk that fails authentication while the range is checked is a
// corrupt segment (422), named, before any byte is served.
TEST_F(RecordingsTest, ASealedSegmentThatFailsAuthenticationIsReportedBeforeServing) {
  add_recording("rec-a", "cc-a", 2);
  store.authenticated_reads = true;
  auto file = media.segment(admin, "rec-a", 1);
  ASSERT_TRUE(file) << file.error().message;
  ASSERT_TRUE(file->check);
  memory_store.fail_next("read", Error{Errc::corrupt, "chunk 0 fails authentication"});
  auto st = file->check(0, file->size_bytes);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::corrupt);
  EXPECT_NE(st.error().message.find("segment 1 of recording rec-a changed in the object store: chunk 0 fails"),
            std::string::npos)
      << st.error().message;
  // Another failure (the store unreachable) keeps its own kind.
  memory_store.fail_next("read", Error{Errc::unavailable, "bucket gone"});
  auto gone = file->check(0, 10);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Errc::unavailable);
  // A plain store's segment was hashed whole already: no check to run.
  store.authenticated_reads = false;
  auto plain = media.segment(admin, "rec-a", 0);
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->check);
}

TEST_F(RecordingsTest, LooksAreLoggedOncePerActionViewerAndRecordingInTheWindow) {
  add_recording("rec-a", "cc-a", 2);
  add_recording("rec-b", "cc-a", 1);
  ASSERT_TRUE(media.playlist(auditor_a, "rec-a"));
  ASSERT_TRUE(media.segment(auditor_a, "rec-a", 0));
  ASSERT_TRUE(media.segment(auditor_a, "rec-a", 1));
  clock->advance(9 * kMinuteMs);
  ASSERT_TRUE(media.playlist(auditor_a, "rec-a"));
  EXPECT_EQ(audit_entries("recording.play").size(), 1u);

  ASSERT_TRUE(media.playlist(admin, "rec-a"));                     // another viewer
  ASSERT_TRUE(media.playlist(auditor_a, "rec-b"));                 // another recording
  ASSERT_TRUE(media.download(admin, "rec-a", ReadExtent::whole));  // another action
  EXPECT_EQ(audit_entries("recording.play").size(), 3u);
  EXPECT_EQ(audit_entries("recording.download").size(), 1u);

  clock->advance(2 * kMinuteMs);  // 11 minutes after ann's first look
  ASSERT_TRUE(media.segment(auditor_a, "rec-a", 0));
  EXPECT_EQ(audit_entries("recording.play").size(), 4u);
}

TEST_F(RecordingsTest, TheWindowIsASetting) {
  MediaService every_time(catalog, store, audit, clock, recordings, MediaSettings{0});
  add_recording("rec-a", "cc-a", 1);
  ASSERT_TRUE(every_time.playlist(admin, "rec-a"));
  clock->advance(1);
  ASSERT_TRUE(every_time.playlist(admin, "rec-a"));
  EXPECT_EQ(audit_entries("recording.play").size(), 2u);
}

TEST_F(RecordingsTest, MediaOutsideTheScopeIsNotFoundAndNotAudited) {
  add_recording("rec-b", "cc-b", 1);
  EXPECT_EQ(media.playlist(auditor_a, "rec-b").error().code, Errc::not_found);
  EXPECT_EQ(media.segment(auditor_a, "rec-b", 0).error().code, Errc::not_found);
  EXPECT_EQ(media.download(admin_a, "rec-b", ReadExtent::whole).error().code, Errc::not_found);
  // Playing does not imply downloading.
  add_recording("rec-a", "cc-a", 1);
  EXPECT_EQ(media.download(auditor_a, "rec-a", ReadExtent::whole).error().code, Errc::not_found);
  EXPECT_EQ(media.segment(auditor_a, "rec-a", 7).error().code, Errc::not_found);
  EXPECT_TRUE(audit_entries("recording.play").empty());
  EXPECT_TRUE(audit_entries("recording.download").empty());
}

TEST_F(RecordingsTest, ASegmentIsServedAsStoredInAnyRange) {
  add_recording("rec-a", "cc-a", 2);
  const auto& bytes = sample_segments()[1];
  auto file = media.segment(auditor_a, "rec-a", 1);
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ(file->size_bytes, bytes.size());
  EXPECT_EQ(read_all(file->read, 0, bytes.size()), bytes);
  EXPECT_EQ(read_all(file->read, 10, 100), bytes.substr(10, 100));
  EXPECT_EQ(read_all(file->read, bytes.size() - 1, 1), bytes.substr(bytes.size() - 1));
}

TEST_F(RecordingsTest, TheDownloadIsOneFileServedInAnyRange) {
  add_recording("rec-a", "cc-a", 3);
  auto file = media.download(admin_a, "rec-a", ReadExtent::range);
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ(file->file_name, "desk-a_alice_20260921T141320Z.mp4");  // kT0
  const auto whole = read_all(file->read, 0, file->size_bytes);
  ASSERT_EQ(whole.size(), file->size_bytes);
  EXPECT_EQ(whole.substr(4, 4), "ftyp");
  // Ranges across piece boundaries match the whole.
  const std::uint64_t size = file->size_bytes;
  for (const std::uint64_t at : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{700}, size / 2, size - 5}) {
    const auto n = std::min<std::uint64_t>(4096, file->size_bytes - at);
    EXPECT_EQ(read_all(file->read, at, n), whole.substr(at, n)) << at;
  }
  const auto entries = audit_entries("recording.download");
  ASSERT_EQ(entries.size(), 1u);
  const auto details = nlohmann::json::parse(entries[0].details_json);
  EXPECT_EQ(details["ranged"], true);
  EXPECT_EQ(details["bytes"], file->size_bytes);
}

TEST_F(RecordingsTest, ARecordingWithoutSegmentsHasNoDownload) {
  add_recording("rec-a", "cc-a", 0);
  auto d = media.download(admin, "rec-a", ReadExtent::whole);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, Errc::not_found);
  EXPECT_TRUE(audit_entries("recording.download").empty());
}

TEST_F(RecordingsTest, AnUnusableStoredIndexIsCorruptNotServed) {
  add_recording("rec-a", "cc-a", 1);
  catalog::Segment bad = catalog.get_segment("rec-a", 0).value();
  bad.seq = 1;
  bad.index_json = R"({"init_size":"many"})";
  ASSERT_TRUE(catalog.add_segment(bad));
  auto p = media.playlist(admin, "rec-a");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, Errc::corrupt);
  EXPECT_TRUE(audit_entries("recording.play").empty());
}

}  // namespace
}  // namespace deskaudit::service::test
