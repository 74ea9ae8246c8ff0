// RecordingService over the in-memory fakes: scope, details, legal hold, and
// the one delete procedure shared by DELETE and the retention sweep (objects,
// then rows, then what an upload stored meanwhile; legal hold re-checked).
#include "recordings_fixture.hpp"

namespace deskaudit::service::test {
namespace {

using catalog::Page;

const std::string kSha = sha256_hex("late segment");

std::vector<std::string> ids_of(const RecordingList& list) {
  std::vector<std::string> out;
  for (const auto& r : list.items) out.push_back(r.id);
  return out;
}

TEST_F(RecordingsTest, ListShowsOnlyTheCallersScope) {
  add_recording("rec-a", "cc-a", 1);
  add_recording("rec-b", "cc-b", 1);
  auto all = recordings.list(admin, {}, Page{}, CountTotal::yes);
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->items.size(), 2u);
  EXPECT_EQ(all->total, 2);
  auto scoped = recordings.list(auditor_a, {}, Page{}, CountTotal::yes);
  ASSERT_TRUE(scoped) << scoped.error().message;
  EXPECT_EQ(ids_of(*scoped), std::vector<std::string>{"rec-a"});
  EXPECT_EQ(scoped->total, 1);
  // Asking for the other pool by filter does not widen the scope.
  RecordingQuery q;
  q.pool_id = "pool-b";
  EXPECT_TRUE(recordings.list(auditor_a, q, Page{})->items.empty());
  EXPECT_FALSE(recordings.list(auditor_a, {}, Page{})->total);  // counted only when asked
}

TEST_F(RecordingsTest, ListRefusesAnEndBeforeTheStart) {
  RecordingQuery q;
  q.start_time = kT0;
  q.end_time = kT0 - 1;
  auto r = recordings.list(admin, q, Page{});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(r.error().field, "end_time");
}

TEST_F(RecordingsTest, ARecordingOutsideTheScopeIsNotFoundAsAnAbsentOne) {
  add_recording("rec-b", "cc-b", 1);
  auto hidden = recordings.details(auditor_a, "rec-b");
  ASSERT_FALSE(hidden);
  EXPECT_EQ(hidden.error().code, Errc::not_found);
  auto absent = recordings.details(auditor_a, "rec-none");
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code, Errc::not_found);
  EXPECT_EQ(recordings.remove(admin_a, "rec-b").error().code, Errc::not_found);
  EXPECT_EQ(recordings.set_legal_hold(admin_a, "rec-b", LegalHold::hold).error().code, Errc::not_found);
  EXPECT_EQ(objects_of("cc-b", "rec-b").size(), 1u);
  EXPECT_FALSE(catalog.get_recording("rec-b")->legal_hold);
}

TEST_F(RecordingsTest, FindNeedsThePermissionAskedFor) {
  add_recording("rec-a", "cc-a", 1);
  EXPECT_TRUE(recordings.find(auditor_a, "rec-a", auth::perm::recording_play));
  EXPECT_EQ(recordings.find(auditor_a, "rec-a", auth::perm::recording_download).error().code, Errc::not_found);
}

TEST_F(RecordingsTest, DetailsCarryTheSegmentsInOrder) {
  add_recording("rec-a", "cc-a", 3);
  auto d = recordings.details(auditor_a, "rec-a");
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->recording.id, "rec-a");
  ASSERT_EQ(d->segments.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(d->segments[i].seq, static_cast<std::int64_t>(i));
}

TEST_F(RecordingsTest, LegalHoldIsSetReleasedAndAudited) {
  add_recording("rec-a", "cc-a", 1);
  auto held = recordings.set_legal_hold(admin_a, "rec-a", LegalHold::hold);
  ASSERT_TRUE(held) << held.error().message;
  EXPECT_TRUE(held->legal_hold);
  EXPECT_TRUE(catalog.get_recording("rec-a")->legal_hold);
  auto released = recordings.set_legal_hold(admin_a, "rec-a", LegalHold::release);
  ASSERT_TRUE(released);
  EXPECT_FALSE(released->legal_hold);
  ASSERT_EQ(audit_entries("recording.hold").size(), 1u);
  EXPECT_EQ(audit_entries("recording.hold")[0].actor, "abe");
  EXPECT_EQ(audit_entries("recording.release").size(), 1u);
}

TEST_F(RecordingsTest, RemoveDeletesTheObjectsAndRowsOfThatRecordingOnly) {
  add_recording("rec-1", "cc-a", 3);
  add_recording("rec-10", "cc-a", 2);  // its prefix starts with rec-1's name
  ASSERT_TRUE(recordings.remove(admin_a, "rec-1"));
  EXPECT_EQ(catalog.get_recording("rec-1").error().code, Errc::not_found);
  EXPECT_TRUE(catalog.list_segments("rec-1")->empty());
  EXPECT_TRUE(objects_of("cc-a", "rec-1").empty());
  EXPECT_EQ(objects_of("cc-a", "rec-10").size(), 2u);
  EXPECT_EQ(catalog.list_segments("rec-10")->size(), 2u);
  const auto entries = audit_entries("recording.delete");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].actor, "abe");
  EXPECT_EQ(entries[0].target, "rec-1");
  EXPECT_EQ(nlohmann::json::parse(entries[0].details_json)["objects"], 3);
}

TEST_F(RecordingsTest, RemoveRefusesAHeldRecording) {
  add_recording("rec-a", "cc-a", 2);
  ASSERT_TRUE(catalog.set_legal_hold("rec-a", true));
  auto st = recordings.remove(admin, "rec-a");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::conflict);
  EXPECT_EQ(objects_of("cc-a", "rec-a").size(), 2u);
  EXPECT_TRUE(catalog.get_recording("rec-a"));
  EXPECT_TRUE(audit_entries("recording.delete").empty());
}

// A failure between removing objects and deleting rows (a crash) leaves the
// rows, so the recording is found again and the same procedure finishes it.
TEST_F(RecordingsTest, AnInterruptedRemoveLeavesRowsThatARetryFinishes) {
  add_recording("rec-a", "cc-a", 3);
  memory_store.fail_next("remove", Error{Errc::unavailable, "bucket gone"});
  auto st = recordings.remove(admin, "rec-a");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::unavailable);
  EXPECT_TRUE(catalog.get_recording("rec-a"));

  catalog.fail_next("delete_recording", Error{Errc::unavailable, "database gone"});
  st = recordings.remove(admin, "rec-a");
  ASSERT_FALSE(st);
  EXPECT_TRUE(objects_of("cc-a", "rec-a").empty());  // objects went first
  EXPECT_TRUE(catalog.get_recording("rec-a"));       // rows still point the way

  ASSERT_TRUE(recordings.remove(admin, "rec-a"));
  EXPECT_EQ(catalog.get_recording("rec-a").error().code, Errc::not_found);
  EXPECT_EQ(audit_entries("recording.delete").size(), 1u);
}

TEST_F(RecordingsTest, RemoveAlsoDeletesASegmentStoredWhileItRan) {
  add_recording("rec-a", "cc-a", 2);
  const auto late = storage::segment_key("cc-a", "rec-a", 2, kSha).value();
  store.after_next_list = [&] { ASSERT_TRUE(put_text(memory_store, late, "late bytes")); };
  ASSERT_TRUE(recordings.remove(admin, "rec-a"));
  EXPECT_TRUE(objects_of("cc-a", "rec-a").empty());
  EXPECT_FALSE(memory_store.head(late).value());
}

TEST_F(RecordingsTest, SweepDeletesExpiredRecordingsOnlyAndNotHeldOnes) {
  add_recording("rec-old", "cc-a", 2, kT0 + 1000, 1);
  add_recording("rec-held", "cc-a", 1, kT0 + 1000, 1);
  add_recording("rec-new", "cc-b", 1, kT0 + 1000, 30);
  add_recording("rec-open", "cc-b", 1);
  ASSERT_TRUE(catalog.set_legal_hold("rec-held", true));
  clock->set(kT0 + 2 * kDayMs);
  auto n = recordings.sweep_expired();
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(catalog.get_recording("rec-old").error().code, Errc::not_found);
  EXPECT_TRUE(objects_of("cc-a", "rec-old").empty());
  for (const char* kept : {"rec-held", "rec-new", "rec-open"}) EXPECT_TRUE(catalog.get_recording(kept)) << kept;
  EXPECT_EQ(objects_of("cc-a", "rec-held").size(), 1u);
  const auto entries = audit_entries("recording.expire");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].actor, "system");
  EXPECT_EQ(entries[0].target, "rec-old");
  EXPECT_EQ(recordings.sweep_expired().value(), 0);
}

TEST_F(RecordingsTest, SweepKeepsARecordingHeldAfterItListedItsBatch) {
  add_recording("rec-1", "cc-a", 1, kT0 + 1000, 1);
  add_recording("rec-2", "cc-a", 1, kT0 + 2000, 1);
  clock->set(kT0 + 2 * kDayMs);
  // While rec-1's objects are deleted, an administrator holds rec-2, which
  // the sweeper has already listed as expired.
  store.after_next_list = [&] { ASSERT_TRUE(recordings.set_legal_hold(admin, "rec-2", LegalHold::hold)); };
  auto n = recordings.sweep_expired();
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(catalog.get_recording("rec-1").error().code, Errc::not_found);
  EXPECT_TRUE(catalog.get_recording("rec-2")->legal_hold);
  EXPECT_EQ(objects_of("cc-a", "rec-2").size(), 1u);
}

TEST_F(RecordingsTest, AFailedSweepIsFinishedByTheNextOne) {
  add_recording("rec-1", "cc-a", 2, kT0 + 1000, 1);
  clock->set(kT0 + 2 * kDayMs);
  memory_store.fail_next("list", Error{Errc::unavailable, "bucket gone"});
  auto n = recordings.sweep_expired();
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code, Errc::unavailable);
  EXPECT_TRUE(catalog.get_recording("rec-1"));
  EXPECT_EQ(recordings.sweep_expired().value(), 1);
  EXPECT_TRUE(objects_of("cc-a", "rec-1").empty());
}

}  // namespace
}  // namespace deskaudit::service::test
