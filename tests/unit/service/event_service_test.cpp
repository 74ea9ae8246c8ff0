// EventService against the in-memory fakes: accepting documents (object
// then rows, idempotent, never replaced), reading within the caller's
// scope, the recording.events and event.search audit entries, and
// deletion of events with their recording.
#include "recordings_fixture.hpp"
#include "service/event_service.hpp"

namespace deskaudit::service::test {
namespace {

using Json = nlohmann::json;

class EventsTest : public RecordingsTest {
 protected:
  static Caller agent_of(const std::string& computer) { return Caller{"agent:" + computer, "", computer, {}}; }

  static std::string document(const std::string& rec, int seq, Json events) {
    return Json{{"format", "deskaudit-events/1"}, {"recording_id", rec}, {"seq", seq}, {"events", std::move(events)}}
        .dump();
  }
  static ReceivedEvents received(int seq, const std::string& body) { return ReceivedEvents{seq, sha256_hex(body), body}; }

  // The document, then a segment row naming it (as AgentService stores it).
  void add_events(const catalog::Recording& rec, int seq, Json events) {
    const auto body = document(rec.id, seq, std::move(events));
    auto accepted = this->events.accept_document(agent_of(rec.computer_id), rec, received(seq, body));
    ASSERT_TRUE(accepted) << accepted.error().message;
    catalog::Segment seg;
    seg.recording_id = rec.id;
    seg.seq = seq;
    seg.sha256 = sha256_hex("segment " + std::to_string(seq));
    seg.object_key = "k" + std::to_string(seq);
    seg.index_json = "{}";
    seg.events_sha256 = sha256_hex(body);
    ASSERT_TRUE(catalog.add_segment(seg));
  }

  catalog::Recording open_recording(const std::string& id, const std::string& computer) {
    return add_recording(id, computer, 0);
  }

  EventService events{catalog, store, audit, clock, recordings};
};

const Json kWindows = Json::array(
    {{{"t_ms", 10}, {"type", "window"}, {"title", "payroll.xlsx - Calc"}, {"app", "libreoffice-calc"}, {"process", "soffice.bin"}},
     {{"t_ms", 20}, {"type", "app.start"}, {"process", "xterm"}, {"pid", 7}},
     {{"t_ms", 30}, {"type", "idle"}}});

TEST_F(EventsTest, DocumentsAreStoredBesideTheSegmentOnceAndNeverReplaced) {
  const auto rec = open_recording("rec-1", "cc-a");
  const auto body = document("rec-1", 0, kWindows);
  auto first = events.accept_document(agent_of("cc-a"), rec, received(0, body));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(first->inserted);
  EXPECT_EQ(first->document.event_count, 3);
  EXPECT_EQ(first->document.object_key, storage::events_key("cc-a", "rec-1", 0, sha256_hex(body)).value());
  ASSERT_EQ(objects_of("cc-a", "rec-1").size(), 1u);
  auto again = events.accept_document(agent_of("cc-a"), rec, received(0, body));
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->inserted);
  const auto other = document("rec-1", 0, Json::array());
  EXPECT_EQ(events.accept_document(agent_of("cc-a"), rec, received(0, other)).error().code, Errc::conflict);
  EXPECT_EQ(objects_of("cc-a", "rec-1").size(), 1u);  // nothing of the refused one stays

  ReceivedEvents damaged{1, sha256_hex("x"), document("rec-1", 1, kWindows)};
  auto bad_hash = events.accept_document(agent_of("cc-a"), rec, damaged);
  EXPECT_EQ(bad_hash.error().code, Errc::unprocessable);
  EXPECT_EQ(bad_hash.error().field, "X-Content-SHA256");
  auto invalid = events.accept_document(agent_of("cc-a"), rec,
                                        received(1, document("rec-1", 1, Json::array({{{"t_ms", 1}, {"type", "typing"}}}))));
  EXPECT_EQ(invalid.error().code, Errc::unprocessable);
  EXPECT_EQ(invalid.error().field, "events[0].type");
  EXPECT_EQ(events.accept_document(agent_of("cc-b"), rec, received(1, document("rec-1", 1, kWindows))).error().code,
            Errc::not_found);
  // A race lost in the catalog after the object went in: the object goes.
  catalog.fail_next("add_event_document", Error{Errc::conflict, "raced"});
  EXPECT_EQ(events.accept_document(agent_of("cc-a"), rec, received(2, document("rec-1", 2, kWindows))).error().code,
            Errc::conflict);
  EXPECT_EQ(objects_of("cc-a", "rec-1").size(), 1u);
}

TEST_F(EventsTest, ReadingIsScopedAndAuditedOncePerWindow) {
  const auto a = open_recording("rec-a", "cc-a");
  const auto b = open_recording("rec-b", "cc-b");
  add_events(a, 0, kWindows);
  add_events(b, 0, kWindows);
  catalog::EventFilter all;
  auto mine = events.list(auditor_a, "rec-a", all, catalog::Page{200, ""});
  ASSERT_TRUE(mine) << mine.error().message;
  EXPECT_EQ(mine->items.size(), 3u);
  EXPECT_EQ(mine->recording.start_time, kT0);
  EXPECT_EQ(events.list(auditor_a, "rec-b", all, catalog::Page{200, ""}).error().code, Errc::not_found);
  EXPECT_EQ(events.list(auditor_a, "rec-none", all, catalog::Page{200, ""}).error().code, Errc::not_found);
  ASSERT_EQ(audit_entries("recording.events").size(), 1u);
  EXPECT_EQ(audit_entries("recording.events")[0].target, "rec-a");
  EXPECT_EQ(audit_entries("recording.events")[0].actor, "ann");
  ASSERT_TRUE(events.list(auditor_a, "rec-a", all, catalog::Page{1, ""}));
  EXPECT_EQ(audit_entries("recording.events").size(), 1u);
  clock->advance(10 * 60'000 + 1);
  ASSERT_TRUE(events.list(auditor_a, "rec-a", all, catalog::Page{1, ""}));
  EXPECT_EQ(audit_entries("recording.events").size(), 2u);
  // Nothing is returned when the look cannot be written down.
  catalog.fail_next("append_audit", Error{Errc::unavailable, "down"});
  EXPECT_EQ(events.list(admin, "rec-b", all, catalog::Page{1, ""}).error().code, Errc::unavailable);

  catalog::EventFilter bad;
  bad.types = {"keystroke"};
  EXPECT_EQ(events.list(admin, "rec-a", bad, catalog::Page{1, ""}).error().field, "type");
  catalog::EventFilter backwards;
  backwards.from_ms = 5;
  backwards.to_ms = 4;
  EXPECT_EQ(events.list(admin, "rec-a", backwards, catalog::Page{1, ""}).error().code, Errc::invalid_argument);
}

TEST_F(EventsTest, SearchSeesOnlyTheCallersScopeAndIsAuditedEachTime) {
  add_events(open_recording("rec-a", "cc-a"), 0, kWindows);
  add_events(open_recording("rec-b", "cc-b"), 0, kWindows);
  catalog::EventSearch s;
  s.window_title = "payroll";
  s.scope = catalog::Scope{{"cc-b"}, {"pool-b"}};  // ignored: the caller's scope applies
  auto found = events.search(auditor_a, s, catalog::Page{100, ""});
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_EQ(found->items.size(), 1u);
  EXPECT_EQ(found->items[0].event.recording_id, "rec-a");
  EXPECT_EQ(events.search(admin, s, catalog::Page{100, ""})->items.size(), 2u);
  const auto entries = audit_entries("event.search");
  ASSERT_EQ(entries.size(), 2u);
  const auto details = Json::parse(entries[0].details_json);
  EXPECT_EQ(details["window_title"], "payroll");
  EXPECT_EQ(details["results"], 1);
  catalog.fail_next("append_audit", Error{Errc::unavailable, "down"});
  EXPECT_EQ(events.search(admin, s, catalog::Page{100, ""}).error().code, Errc::unavailable);
  catalog::EventSearch bad;
  bad.types = {"nope"};
  EXPECT_EQ(events.search(admin, bad, catalog::Page{100, ""}).error().code, Errc::invalid_argument);

  // The recordings list's event filters are a search too.
  RecordingQuery q;
  q.app = "calc";
  auto listed = recordings.list(auditor_a, q, catalog::Page{50, ""});
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->items.size(), 1u);
  EXPECT_EQ(listed->items[0].first_match_ms, 10);
  EXPECT_EQ(audit_entries("event.search").size(), 3u);
  ASSERT_TRUE(recordings.list(auditor_a, RecordingQuery{}, catalog::Page{50, ""}));
  EXPECT_EQ(audit_entries("event.search").size(), 3u);
}

TEST_F(EventsTest, DeletingARecordingRemovesItsEventsAndTheirObjects) {
  const auto rec = open_recording("rec-a", "cc-a");
  add_events(rec, 0, kWindows);
  ASSERT_EQ(objects_of("cc-a", "rec-a").size(), 1u);
  ASSERT_TRUE(recordings.remove(admin, "rec-a"));
  EXPECT_TRUE(objects_of("cc-a", "rec-a").empty());
  EXPECT_TRUE(events.search(admin, catalog::EventSearch{}, catalog::Page{100, ""})->items.empty());
  EXPECT_EQ(catalog.get_event_document("rec-a", 0).error().code, Errc::not_found);
}

}  // namespace
}  // namespace deskaudit::service::test
