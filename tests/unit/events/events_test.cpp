// The events document's two versions (src/events): version 2 reads back to
// the same events as version 1, both are accepted, a malformed version 2 is
// refused naming the field.
#include "events/events.hpp"

#include <gtest/gtest.h>

#include <string>

namespace deskaudit::events {
namespace {

using Json = nlohmann::json;

Event ev(std::int64_t t, std::string type) { return Event{t, std::move(type), {}, {}, {}, {}, {}, {}}; }

Document every_kind() {
  Document d{"rec-abc", 3, {}};
  auto w = ev(1200, "window");
  w.title = "payroll.xlsx - LibreOffice Calc";
  w.app = "libreoffice-calc";
  w.process = "soffice.bin";
  w.pid = 4242;
  d.events.push_back(w);
  auto s = ev(1500, "app.start");
  s.process = "xterm";
  s.pid = 77;
  d.events.push_back(s);
  auto partial = ev(1500, "window");  // only a pid: the fields before it are null
  partial.pid = 77;
  d.events.push_back(partial);
  for (const char* t : {"idle", "active", "lock", "unlock", "session.connect", "session.disconnect", "recording.pause",
                        "recording.resume"}) {
    d.events.push_back(ev(2000, t));
  }
  auto r = ev(2100, "resolution");
  r.width = 1280;
  r.height = 720;
  d.events.push_back(r);
  auto trig = ev(2100, "trigger");
  trig.title = "process \"gimp-2.10\" matches \"gimp*\"";
  d.events.push_back(trig);
  auto x = ev(9000, "app.exit");  // the start above: refers to it
  x.process = "xterm";
  x.pid = 77;
  d.events.push_back(x);
  auto lone = ev(9100, "app.exit");  // its start was in an earlier segment
  lone.process = "vim";
  lone.pid = 88;
  d.events.push_back(lone);
  auto bare = ev(9200, "app.exit");  // no process known
  bare.pid = 99;
  d.events.push_back(bare);
  auto s2 = ev(9300, "app.start");  // pid reused by another program
  s2.process = "less";
  s2.pid = 77;
  d.events.push_back(s2);
  auto x2 = ev(9400, "app.exit");
  x2.process = "other";  // not what the latest start of 77 says: written in full
  x2.pid = 77;
  d.events.push_back(x2);
  return d;
}

TEST(EventsDocumentV2, ReadsBackToTheSameEventsAsVersion1) {
  const auto d = every_kind();
  const std::string v2 = to_json_v2(d).dump();
  const std::string v1 = to_json(d).dump();
  auto a = parse_document(v2, "rec-abc", 3);
  ASSERT_TRUE(a) << a.error().message;
  auto b = parse_document(v1, "rec-abc", 3);
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(a->events, d.events);
  EXPECT_EQ(b->events, d.events);
  EXPECT_LT(v2.size() * 2, v1.size()) << v2 << "\n" << v1;

  const auto j = Json::parse(v2);
  EXPECT_EQ(j["format"], "deskaudit-events/2");
  const auto& list = j["events"];
  EXPECT_EQ(list[0],
            Json::parse(R"([1200,"w","payroll.xlsx - LibreOffice Calc","libreoffice-calc","soffice.bin",4242])"));
  EXPECT_EQ(list[1], Json::parse(R"([300,"s","xterm",77])"));       // times are deltas
  EXPECT_EQ(list[2], Json::parse(R"([0,"w",null,null,null,77])"));  // absent fields before a present one
  EXPECT_EQ(list[3], Json::parse(R"([500,"i"])"));
  EXPECT_EQ(list[11], Json::parse(R"([100,"z",1280,720])"));
  EXPECT_EQ(list[13], Json::parse(R"([6900,"x",77])"));  // refers to its start
  EXPECT_EQ(list[14], Json::parse(R"([100,"x","vim",88])"));
  EXPECT_EQ(list[15], Json::parse(R"([100,"x",null,99])"));
  EXPECT_EQ(list[17], Json::parse(R"([100,"x","other",77])"));
}

TEST(EventsDocumentV2, Version1FromOlderAgentsIsStillAccepted) {
  const std::string v1 = R"({"format":"deskaudit-events/1","recording_id":"rec-abc","seq":3,"events":[
      {"t_ms":10,"type":"app.start","process":"xterm","pid":5},
      {"t_ms":20,"type":"app.exit","process":"xterm","pid":5}]})";
  auto d = parse_document(v1, "rec-abc", 3);
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_EQ(d->events.size(), 2u);
  EXPECT_EQ(d->events[1].process, "xterm");
  EXPECT_EQ(d->events[1].t_ms, 20);
}

// The field the refusal names and a part of its message.
void expect_refused(const std::string& events, const std::string& field, const std::string& says) {
  const std::string doc = R"({"format":"deskaudit-events/2","recording_id":"rec-abc","seq":3,"events":)" + events + "}";
  auto d = parse_document(doc, "rec-abc", 3);
  ASSERT_FALSE(d) << events;
  EXPECT_EQ(d.error().code, Errc::unprocessable);
  EXPECT_EQ(d.error().field, field) << events << ": " << d.error().message;
  EXPECT_NE(d.error().message.find(says), std::string::npos) << d.error().message;
}

TEST(EventsDocumentV2, MalformedIsRefusedNamingTheField) {
  expect_refused(R"([[5,"x",77]])", "events[0][2]", "refers to no earlier app.start of pid 77");
  expect_refused(R"([[5,"x",77],[1,"s","xterm",77]])", "events[0][2]", "refers to no earlier app.start");
  expect_refused(R"([[5,"q"]])", "events[0][1]", "must be a type code");
  expect_refused(R"([[5,"window"]])", "events[0][1]", "must be a type code");
  expect_refused(R"([[-1,"i"]])", "events[0][0]", "whole number");
  expect_refused(R"([[1.5,"i"]])", "events[0][0]", "whole number");
  expect_refused(R"([[999999999999,"i"],[2,"a"]])", "events[1][0]", "after");
  expect_refused(R"([[5,"i",1]])", "events[0]", "at most 0");
  expect_refused(R"([[5,"s","xterm",77,1]])", "events[0]", "at most 2");
  expect_refused(R"([[5,"s",77,"xterm"]])", "events[0][2]", "must be a string");
  expect_refused(R"([[5,"s","xterm",0]])", "events[0][3]", "whole number from 1");
  expect_refused(R"([[5,"z",1280,70000]])", "events[0][3]", "32768");
  expect_refused(R"([[5,"w","a\u0007b"]])", "events[0][2]", "control characters");
  expect_refused(R"([[5,"w",")" + std::string(513, 't') + R"("]])", "events[0][2]", "at most 512 bytes");
  expect_refused(R"([{"t_ms":5,"type":"idle"}])", "events[0]", "must be an array");
  expect_refused(R"([[5]])", "events[0]", "must be an array");
  // A version 1 event is not a version 2 one, nor the other way round.
  auto v1_with_arrays = parse_document(
      R"({"format":"deskaudit-events/1","recording_id":"rec-abc","seq":3,"events":[[5,"i"]]})", "rec-abc", 3);
  ASSERT_FALSE(v1_with_arrays);
  EXPECT_EQ(v1_with_arrays.error().field, "events[0]");
  auto unknown =
      parse_document(R"({"format":"deskaudit-events/3","recording_id":"rec-abc","seq":3,"events":[]})", "rec-abc", 3);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().field, "format");
  EXPECT_NE(unknown.error().message.find("deskaudit-events/2"), std::string::npos);
}

}  // namespace
}  // namespace deskaudit::events
