// deskaudit: the administrator's command line over the REST API.
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <iomanip>
#include <iostream>

#include <CLI/CLI.hpp>

#include "audit/json.hpp"
#include "cli/api_client.hpp"
#include "common/crypto.hpp"
#include "common/fs.hpp"
#include "common/http_status.hpp"
#include "evidence/tar.hpp"
#include "evidence/verify.hpp"
#include "keys/key_service.hpp"
#include "policy/policy.hpp"

using namespace deskaudit;
using namespace deskaudit::cli;

namespace {

struct Globals {
  std::string server;
  std::string token;
  std::string ca_file;
  bool insecure_http = false;
  bool json = false;
};

std::string str(const Json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// Prints items as aligned columns (or JSON with --json).
void print_table(const Globals& g, const Json& items, const std::vector<std::pair<std::string, std::string>>& cols) {
  if (g.json) {
    std::cout << items.dump(2) << "\n";
    return;
  }
  std::vector<std::size_t> width;
  for (const auto& [title, _] : cols) width.push_back(title.size());
  std::vector<std::vector<std::string>> rows;
  for (const auto& item : items) {
    std::vector<std::string> row;
    for (std::size_t i = 0; i < cols.size(); ++i) {
      const auto ptr = Json::json_pointer("/" + cols[i].second);
      row.push_back(item.contains(ptr) ? str(item.at(ptr)) : "-");
      width[i] = std::max(width[i], row.back().size());
    }
    rows.push_back(std::move(row));
  }
  auto line = [&](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      std::cout << std::left << std::setw(static_cast<int>(width[i]) + (i + 1 < cells.size() ? 2 : 0)) << cells[i];
    }
    std::cout << "\n";
  };
  std::vector<std::string> titles;
  for (const auto& [title, _] : cols) titles.push_back(title);
  line(titles);
  for (const auto& r : rows) line(r);
}

void print_object(const Globals&, const Json& j) { std::cout << j.dump(2) << "\n"; }

std::string read_password(const std::string& prompt) {
  std::cerr << prompt;
  termios old{};
  const bool tty = ::tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string pw;
  std::getline(std::cin, pw);
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << "\n";
  }
  return pw;
}

int fail_with(const Error& e) {
  std::cerr << "deskaudit: " << e.message << "\n";
  if (e.code == Errc::unauthenticated) std::cerr << "  (sign in with: deskaudit login)\n";
  if (e.field == client::kTlsVerifyField) {
    std::cerr
        << "  (if the server's certificate comes from a private CA, pass --ca-file FILE or set DESKAUDIT_CA_FILE; "
           "login saves it for later commands)\n";
  }
  switch (e.code) {
    case Errc::unauthenticated: return 3;
    case Errc::permission_denied:
    case Errc::password_change_required: return 4;  // both are 403 refusals
    case Errc::not_found: return 5;
    default: return is_transient(e.code) ? 6 : 1;
  }
}

// Verifies the audit log here, trusting only the public keys in `key_file`:
// the server only supplies the raw entries and checkpoints.
Result<Json> verify_locally(ApiClient& api, const std::string& key_file) {
  auto text = read_file(key_file, 1u << 20);
  if (!text) return std::unexpected(text.error());
  auto ring = keys::Keyring::parse(*text, key_file);
  if (!ring) return std::unexpected(ring.error());
  if (ring->keys().empty()) return fail(Errc::invalid_argument, key_file + " holds no public key");
  auto items = [&](const std::string& path) -> Result<Json> {
    auto page = api.get(path);
    if (!page) return std::unexpected(page.error());
    if (!page->is_object() || !page->contains("items") || !(*page)["items"].is_array()) {
      return fail(Errc::corrupt, "the server's answer to " + path + " has no items list");
    }
    return (*page)["items"];
  };
  auto entries = [&](std::int64_t after) -> Result<std::vector<audit::Entry>> {
    auto list = items("/api/v1/audit-log/chain?limit=1000&after_seq=" + std::to_string(after));
    if (!list) return std::unexpected(list.error());
    std::vector<audit::Entry> out;
    for (const auto& j : *list) {
      auto e = audit::entry_from_json(j);
      if (!e) return std::unexpected(e.error());
      out.push_back(std::move(*e));
    }
    return out;
  };
  auto checkpoints = [&](std::int64_t after) -> Result<std::vector<audit::Checkpoint>> {
    auto list = items("/api/v1/audit-log/checkpoints?limit=1000&after_n=" + std::to_string(after));
    if (!list) return std::unexpected(list.error());
    std::vector<audit::Checkpoint> out;
    for (const auto& j : *list) {
      auto cp = audit::checkpoint_from_json(j);
      if (!cp) return std::unexpected(cp.error());
      out.push_back(std::move(*cp));
    }
    return out;
  };
  auto report = audit::verify(entries, checkpoints, *ring);
  if (!report) return std::unexpected(report.error());
  return audit::to_json(*report);
}

// deskaudit verify DIR: exit 0 verified, 1 failed, 2 could not run.
int verify_evidence(const Globals& g, const std::string& dir, const std::string& server_key) {
  evidence::VerifyOptions opt;
  opt.dir = dir;
  if (!server_key.empty()) opt.server_key_file = server_key;
  auto report = evidence::verify_package(opt);
  if (!report) {
    std::cerr << "deskaudit: " << report.error().message << "\n";
    return 2;
  }
  if (g.json) {
    std::cout << evidence::to_json(*report).dump(2) << "\n";
    return report->ok ? 0 : 1;
  }
  for (const auto& w : report->warnings) std::cerr << "warning: " << w << "\n";
  for (const auto& f : report->failures) {
    std::cout << "FAIL " << f.code << (f.file.empty() ? "" : " [" + f.file + "]") << ": " << f.message << "\n";
  }
  if (report->ok) {
    std::cout << "evidence verified: recording " << report->recording_id << ", manifest signed by server key "
              << report->server_key_id << (report->trusted_on_package ? " (trusted from the package's keys.json)" : "")
              << ", " << report->segments << " segment(s) ("
              << report->segments - report->unsigned_segments << " signed by the agent), recording.mp4 ("
              << report->mp4_bytes << " bytes) is exactly those segments\n";
    return 0;
  }
  std::cout << "evidence NOT verified: " << report->failures.size() << " failure(s)\n";
  return 1;
}

// Runs an API call and prints its result.
using Action = std::function<Result<Json>(ApiClient&)>;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"deskaudit: manage screen-recording policies, computers and recordings"};
  app.require_subcommand(1);
  Globals g;
  app.add_option("--server", g.server,
                 "server URL (default: $DESKAUDIT_SERVER, then the one saved by login, then http://127.0.0.1:8080); "
                 "http:// only to 127.0.0.0/8, ::1 or localhost unless --insecure-http");
  app.add_flag("--insecure-http", g.insecure_http,
               "allow http:// to another host: password and token then cross the network unencrypted (login saves it "
               "for that server)");
  app.add_option("--ca-file", g.ca_file,
                 "PEM file of the CA that signed the server's certificate (private CA; default: $DESKAUDIT_CA_FILE, "
                 "then the one saved by login, then the system's CA bundle)")
      ->envname("DESKAUDIT_CA_FILE")
      ->check(CLI::ExistingFile);
  app.add_option("--token", g.token, "bearer token (default: $DESKAUDIT_TOKEN, then the one saved by login)");
  app.add_flag("--json", g.json, "print raw JSON");

  Action action;
  std::function<void(const Json&)> printer;

  // login
  auto login = app.add_subcommand("login", "sign in and save the token in ~/.config/deskaudit/credentials.json");
  std::string username = "admin", password;
  login->add_option("-u,--username", username, "administrator user name");
  login->add_option("-p,--password", password, "password (default: $DESKAUDIT_PASSWORD, else asked)");
  app.add_subcommand("logout", "revoke the saved token and forget it");
  app.add_subcommand("password",
                     "change your password (required after signing in with the generated first password); the "
                     "current one from $DESKAUDIT_PASSWORD and the new one from $DESKAUDIT_NEW_PASSWORD, else asked");
  app.add_subcommand("whoami", "the signed-in administrator and permissions");

  // computers
  auto computers = app.add_subcommand("computers", "cloud computers")->require_subcommand(1);
  std::string pool_id, q, name, id, os, hostname;
  auto c_list = computers->add_subcommand("list", "list computers");
  c_list->add_option("--pool", pool_id, "only this pool");
  c_list->add_option("-q,--search", q, "id or name contains");
  computers->add_subcommand("show", "one computer")->add_option("id", id)->required();
  computers->add_subcommand("status", "why are this computer's recordings missing? (checklist)")->add_option("id", id)->required();
  auto c_create = computers->add_subcommand("create", "register a computer");
  c_create->add_option("--name", name)->required();
  c_create->add_option("--pool", pool_id);
  c_create->add_option("--os", os);
  computers->add_subcommand("delete", "remove a computer (recordings stay until expiry)")->add_option("id", id)->required();

  // pools
  auto pools = app.add_subcommand("pools", "computer pools")->require_subcommand(1);
  std::string description, computer_id;
  pools->add_subcommand("list", "list pools");
  pools->add_subcommand("show", "a pool and its computers")->add_option("id", id)->required();
  auto p_create = pools->add_subcommand("create", "create a pool");
  p_create->add_option("--name", name)->required();
  p_create->add_option("--description", description);
  pools->add_subcommand("delete", "delete an empty pool")->add_option("id", id)->required();
  auto p_add = pools->add_subcommand("add-computer", "put a computer into a pool");
  p_add->add_option("pool", id)->required();
  p_add->add_option("computer", computer_id)->required();
  auto p_remove = pools->add_subcommand("remove-computer", "take a computer out of a pool");
  p_remove->add_option("pool", id)->required();
  p_remove->add_option("computer", computer_id)->required();

  // policies
  auto policies = app.add_subcommand("policies", "recording policies")->require_subcommand(1);
  std::string mode, period_start, period_end, notice;
  int fps = 0, segment_minutes = 0, retention_days = 0, idle_seconds = 0;
  int post_event_minutes = -1, pre_event_seconds = -1;
  std::vector<std::string> triggers;
  double segment_mib = 0;
  bool audio = false, no_audio = false, no_notice = false, no_triggers = false;
  std::vector<std::string> mode_names;
  for (auto m : policy::kModes) mode_names.emplace_back(policy::to_string(m));
  std::string trigger_kinds;
  for (auto k : policy::kTriggerKinds) trigger_kinds += (trigger_kinds.empty() ? "" : ", ") + std::string(policy::to_string(k));
  auto add_rule_options = [&](CLI::App* cmd) {
    cmd->add_option("--mode", mode, "off, session, period or events (record while a trigger runs)")
        ->check(CLI::IsMember(mode_names));
    cmd->add_option("--period-start", period_start, "HH:MM (mode period)");
    cmd->add_option("--period-end", period_end, "HH:MM (mode period)");
    cmd->add_option("--fps", fps, policy::choices_text(policy::kFpsChoices));
    cmd->add_flag("--audio", audio, "record audio");
    cmd->add_flag("--no-audio", no_audio, "do not record audio");
    cmd->add_option("--segment-max-mib", segment_mib,
                    "segment file size cap in MiB (at most " + std::to_string(policy::kSegmentMaxBytes >> 20) + ")");
    cmd->add_option("--segment-max-minutes", segment_minutes, policy::choices_text(policy::kSegmentMinutesChoices));
    cmd->add_option("--retention-days", retention_days,
                    std::to_string(policy::kRetentionMinDays) + " to " + std::to_string(policy::kRetentionMaxDays));
    cmd->add_option("--idle-seconds", idle_seconds,
                    "activity events: idle after this many seconds without input or screen change (" +
                        std::to_string(policy::kIdleMinSeconds) + " to " + std::to_string(policy::kIdleMaxSeconds) +
                        ")");
    cmd->add_option("--trigger", triggers,
                    "mode events: KIND=PATTERN, KIND one of " + trigger_kinds +
                        "; PATTERN a glob (* any run, ? one character, \\ escapes; case-insensitive; whole "
                        "value). Repeat for several; replaces the policy's list")
        ->check([&](const std::string& v) -> std::string {
          const auto eq = v.find('=');
          if (eq == std::string::npos) return "--trigger takes KIND=PATTERN (KIND: " + trigger_kinds + ")";
          return {};
        });
    cmd->add_flag("--no-triggers", no_triggers, "remove every trigger");
    cmd->add_option("--post-event-minutes", post_event_minutes,
                    "mode events: keep recording this long after the last trigger ends (" +
                        std::to_string(policy::kPostEventMinMinutes) + " to " +
                        std::to_string(policy::kPostEventMaxMinutes) + ")");
    cmd->add_option("--pre-event-seconds", pre_event_seconds,
                    "mode events: seconds of video kept in memory and written ahead of the trigger (" +
                        std::to_string(policy::kPreEventMinSeconds) + " to " +
                        std::to_string(policy::kPreEventMaxSeconds) + ")");
    cmd->add_option("--notice", notice, "show this message to the user when recording starts");
    cmd->add_flag("--no-notice", no_notice, "no user notice");
  };
  policies->add_subcommand("list", "list policies");
  policies->add_subcommand("show", "one policy")->add_option("id", id)->required();
  auto pol_create = policies->add_subcommand("create", "create a policy");
  pol_create->add_option("--name", name)->required();
  add_rule_options(pol_create);
  auto pol_update = policies->add_subcommand("update", "change a policy");
  pol_update->add_option("id", id)->required();
  pol_update->add_option("--name", name);
  add_rule_options(pol_update);
  policies->add_subcommand("delete", "delete a policy (its recordings stay until expiry)")->add_option("id", id)->required();
  std::string target_computer, target_pool;
  for (auto verb : {"assign", "unassign"}) {
    auto cmd = policies->add_subcommand(verb, std::string(verb) + " a policy to a computer or pool");
    cmd->add_option("id", id)->required();
    auto oc = cmd->add_option("--computer", target_computer);
    auto op = cmd->add_option("--pool", target_pool);
    oc->excludes(op);
  }

  // enrollment tokens
  auto enroll = app.add_subcommand("enrollment-tokens", "tokens that agents enroll with")->require_subcommand(1);
  std::string expires_at;
  int max_uses = 0;
  auto e_create = enroll->add_subcommand("create", "create a token (printed once)");
  e_create->add_option("--pool", pool_id, "enrolled computers join this pool");
  e_create->add_option("--max-uses", max_uses);
  e_create->add_option("--expires-at", expires_at, "RFC 3339 time");
  enroll->add_subcommand("list", "list tokens");
  enroll->add_subcommand("revoke", "revoke a token")->add_option("id", id)->required();

  // recordings
  auto recs = app.add_subcommand("recordings", "screen recordings")->require_subcommand(1);
  std::string policy_id, user, from, to, status, out;
  int limit = 50;
  bool all = false;
  auto r_list = recs->add_subcommand("list", "find recordings, newest first");
  r_list->add_option("--computer", computer_id);
  r_list->add_option("--pool", pool_id);
  r_list->add_option("--policy", policy_id);
  r_list->add_option("--user", user);
  r_list->add_option("--from", from, "RFC 3339: recordings overlapping [from, to]");
  r_list->add_option("--to", to, "RFC 3339");
  r_list->add_option("--status", status)->check(CLI::IsMember({"recording", "complete", "interrupted"}));
  r_list->add_option("--limit", limit, "rows (1..500)");
  r_list->add_flag("--all", all, "every page");
  std::string app_filter, window_title, event_types;
  std::int64_t from_ms = -1, to_ms = -1;  // -1: not given
  r_list->add_option("--app", app_filter,
                     "only recordings with an activity event whose application class or process name contains this "
                     "(case-insensitive); FIRST_MATCH_MS is the media time of the first such event");
  r_list->add_option("--window-title", window_title,
                     "only recordings with a window whose title contains this (case-insensitive); with --app, the "
                     "same event must match both");
  recs->add_subcommand("show", "one recording with its segments")->add_option("id", id)->required();
  auto r_events = recs->add_subcommand("events", "a recording's activity events (windows, applications, idle, lock, "
                                                 "session), by media time");
  r_events->add_option("id", id)->required();
  r_events->add_option("--type", event_types,
                       "only these types, comma-separated: window, app.start, app.exit, idle, active, lock, unlock, "
                       "session.connect, session.disconnect, recording.pause, recording.resume, resolution");
  r_events->add_option("--from-ms", from_ms, "from this media time (ms from the recording's start)")
      ->check(CLI::NonNegativeNumber);
  r_events->add_option("--to-ms", to_ms, "up to this media time (ms)")->check(CLI::NonNegativeNumber);
  r_events->add_option("--limit", limit, "rows (1..1000)");
  r_events->add_flag("--all", all, "every page");
  auto r_dl = recs->add_subcommand("download", "download as one MP4 file");
  r_dl->add_option("id", id)->required();
  r_dl->add_option("-o,--output", out, "file (default: the server's file name in the current directory)");
  auto r_verify = recs->add_subcommand("verify", "download every segment and check its SHA-256 against the catalog");
  r_verify->add_option("id", id)->required();
  auto r_export = recs->add_subcommand(
      "export", "download the evidence package (MP4, segments, signed manifest, public keys) and unpack it into a "
                "directory; check it with 'deskaudit verify DIR' (docs/evidence.md)");
  r_export->add_option("id", id)->required();
  r_export->add_option("-o,--output", out, "a new or empty directory to unpack into (default: the recording id)");
  recs->add_subcommand("delete", "delete a recording now")->add_option("id", id)->required();
  recs->add_subcommand("hold", "put a legal hold on a recording")->add_option("id", id)->required();
  recs->add_subcommand("release", "release a legal hold")->add_option("id", id)->required();

  // activity events across recordings
  auto evs = app.add_subcommand("events", "activity events across recordings")->require_subcommand(1);
  auto ev_search = evs->add_subcommand("search", "find activity events in the recordings you may list, newest first");
  ev_search->add_option("--computer", computer_id);
  ev_search->add_option("--pool", pool_id, "the pool the recording was made in");
  ev_search->add_option("--user", user, "the session's user name (exact)");
  ev_search->add_option("--app", app_filter, "application class or process name contains this (case-insensitive)");
  ev_search->add_option("--window-title", window_title, "window title contains this (case-insensitive)");
  ev_search->add_option("--type", event_types, "only these types, comma-separated (see recordings events --help)");
  ev_search->add_option("--from", from, "RFC 3339: events at or after this wall time");
  ev_search->add_option("--to", to, "RFC 3339: events at or before this wall time");
  ev_search->add_option("--limit", limit, "rows (1..1000)");
  ev_search->add_flag("--all", all, "every page");

  // users, roles, tokens, audit
  auto users = app.add_subcommand("users", "administrators")->require_subcommand(1);
  std::vector<std::string> roles;
  users->add_subcommand("list", "list administrators");
  auto u_create = users->add_subcommand("create", "create an administrator");
  u_create->add_option("--username", name)->required();
  u_create->add_option("--password", password, "(default: asked)");
  u_create->add_option("--role", roles, "ROLE, ROLE@pool:ID or ROLE@computer:ID; repeatable");
  auto u_roles = users->add_subcommand("set-roles", "replace an administrator's roles");
  u_roles->add_option("id", id)->required();
  u_roles->add_option("--role", roles)->required();
  users->add_subcommand("disable", "disable an account")->add_option("id", id)->required();
  users->add_subcommand("enable", "enable an account")->add_option("id", id)->required();
  users->add_subcommand("delete", "delete an administrator")->add_option("id", id)->required();
  app.add_subcommand("roles", "list roles and permissions");
  auto tokens = app.add_subcommand("api-tokens", "API tokens for automation")->require_subcommand(1);
  tokens->add_subcommand("list", "your API tokens");
  auto t_create = tokens->add_subcommand("create", "create an API token (printed once)");
  t_create->add_option("--name", name)->required();
  t_create->add_option("--expires-at", expires_at);
  tokens->add_subcommand("revoke", "revoke an API token")->add_option("id", id)->required();
  auto audit = app.add_subcommand("audit", "the audit log")->require_subcommand(1);
  std::string actor, action_name, target;
  auto a_list = audit->add_subcommand("list", "entries, newest first");
  a_list->add_option("--actor", actor);
  a_list->add_option("--action", action_name, "e.g. recording.download, or a prefix like policy.");
  a_list->add_option("--target", target);
  a_list->add_option("--from", from);
  a_list->add_option("--to", to);
  a_list->add_option("--limit", limit);
  std::string public_key_file, keys_out;
  auto a_verify = audit->add_subcommand(
      "verify", "check the hash chain and the signed checkpoints of the whole log (exit 1 when tampered with)");
  a_verify->add_option("--public-key", public_key_file,
                       "verify here, against these trusted public keys (a file from 'audit keys -o'), instead of "
                       "asking the server; needs audit:read without a scope");
  auto a_keys = audit->add_subcommand("keys", "the server's signing key id and trusted public keys (keyring text)");
  a_keys->add_option("-o,--output", keys_out, "write the keyring to this file (for verify --public-key)");
  audit->add_subcommand("rotate-key", "make a new signing key current; old public keys stay trusted");
  std::string verify_dir, server_key_file;
  auto verify_cmd = app.add_subcommand(
      "verify",
      "verify an unpacked evidence package offline (no server, no credentials): the manifest's signature, every "
      "segment's hash and agent signature, and that recording.mp4 is exactly those segments. Exit 0 verified, 1 "
      "failed (each failure named), 2 could not check");
  verify_cmd->add_option("dir", verify_dir, "the directory 'deskaudit recordings export' wrote")->required();
  verify_cmd->add_option("--server-key", server_key_file,
                         "the server's public keys (a file from 'deskaudit audit keys -o', obtained separately); "
                         "without it the keys in the package's keys.json are trusted, which is weaker");

  CLI11_PARSE(app, argc, argv);
  if (app.get_subcommands().front()->get_name() == "verify") return verify_evidence(g, verify_dir, server_key_file);

  // Server and token: flags, then environment, then saved credentials.
  auto saved = load_credentials();
  if (g.server.empty() && std::getenv("DESKAUDIT_SERVER")) g.server = std::getenv("DESKAUDIT_SERVER");
  if (g.server.empty() && saved) g.server = saved->server;
  if (g.server.empty()) g.server = "http://127.0.0.1:8080";
  if (g.token.empty() && std::getenv("DESKAUDIT_TOKEN")) g.token = std::getenv("DESKAUDIT_TOKEN");
  // The saved login's transport settings belong to its server only.
  const bool saved_server = saved && (saved->server == g.server || saved->server.empty());
  if (g.token.empty() && saved_server) g.token = saved->token;
  if (g.ca_file.empty() && saved_server) g.ca_file = saved->ca_file;
  if (saved_server && saved->insecure_http) g.insecure_http = true;
  if (!g.ca_file.empty()) g.ca_file = std::filesystem::absolute(g.ca_file).string();
  if (auto st = client::check_transport(g.server, g.insecure_http, "--insecure-http"); !st) {
    std::cerr << "deskaudit: " << st.error().message << "\n";
    return 2;
  }
  const client::HttpClientOptions http{g.ca_file};
  ApiClient api(g.server, g.token, http);

  auto rule = [&]() {
    Json r = Json::object();
    if (!mode.empty()) r["mode"] = mode;
    if (!period_start.empty()) r["period_start"] = period_start;
    if (!period_end.empty()) r["period_end"] = period_end;
    if (fps) r["fps"] = fps;
    if (audio) r["audio"] = true;
    if (no_audio) r["audio"] = false;
    if (segment_mib > 0) r["segment_max_bytes"] = static_cast<std::int64_t>(segment_mib * 1024 * 1024);
    if (segment_minutes) r["segment_max_minutes"] = segment_minutes;
    if (retention_days) r["retention_days"] = retention_days;
    if (idle_seconds) r["idle_seconds"] = idle_seconds;
    if (post_event_minutes >= 0) r["post_event_minutes"] = post_event_minutes;
    if (pre_event_seconds >= 0) r["pre_event_seconds"] = pre_event_seconds;
    if (no_triggers) r["triggers"] = Json::array();
    if (!triggers.empty()) {
      Json list = Json::array();
      for (const auto& t : triggers) {
        const auto eq = t.find('=');  // checked by the option
        list.push_back({{t.substr(0, eq), t.substr(eq + 1)}});
      }
      r["triggers"] = std::move(list);
    }
    if (!notice.empty()) {
      r["user_notice"] = true;
      r["user_notice_message"] = notice;
    }
    if (no_notice) r["user_notice"] = false;
    return r;
  };
  auto role_grants = [&]() {
    Json a = Json::array();
    for (const auto& r : roles) {
      auto at = r.find('@');
      if (at == std::string::npos) {
        a.push_back({{"role_id", r}});
        continue;
      }
      auto scope = r.substr(at + 1);
      auto colon = scope.find(':');
      a.push_back({{"role_id", r.substr(0, at)}, {"scope_type", scope.substr(0, colon)},
                   {"scope_id", colon == std::string::npos ? "" : scope.substr(colon + 1)}});
    }
    return a;
  };
  const auto enc = [](const std::string& s) { return client::url_encode(s); };
  const std::vector<std::pair<std::string, std::string>> computer_cols = {
      {"ID", "id"}, {"NAME", "name"}, {"POOL", "pool_id"}, {"OS", "os"}, {"AGENT", "agent/version"},
      {"ONLINE", "agent/online"}, {"POLICY", "effective_policy/policy_name"}, {"RECORDING", "recording_now"}};
  const std::vector<std::pair<std::string, std::string>> recording_cols = {
      {"ID", "id"}, {"COMPUTER", "computer_id"}, {"USER", "username"}, {"START", "start_time"}, {"END", "end_time"},
      {"STATUS", "status"}, {"BYTES", "size_bytes"}, {"SEGMENTS", "segment_count"}, {"EXPIRES", "expires_at"}};

  Result<Json> result = Json(nullptr);
  auto table = [&](std::vector<std::pair<std::string, std::string>> cols) {
    printer = [&g, cols](const Json& j) { print_table(g, j.is_array() ? j : j["items"], cols); };
  };
  auto sub = app.get_subcommands().front();
  auto leaf = sub->get_subcommands().empty() ? nullptr : sub->get_subcommands().front();
  const std::string cmd = sub->get_name(), verb = leaf ? leaf->get_name() : "";

  if (cmd == "login") {
    if (password.empty() && std::getenv("DESKAUDIT_PASSWORD")) password = std::getenv("DESKAUDIT_PASSWORD");
    if (password.empty()) password = read_password("Password for " + username + ": ");
    ApiClient anon(g.server, "", http);
    auto r = anon.post("/api/v1/auth/login", {{"username", username}, {"password", password}});
    if (!r) return fail_with(r.error());
    if (auto st = save_credentials(SavedLogin{g.server, (*r)["token"].get<std::string>(), g.ca_file, g.insecure_http});
        !st) {
      return fail_with(st.error());
    }
    std::cout << "signed in to " << g.server << " as " << username << " until " << str((*r)["expires_at"]) << "\n";
    if (r->value("must_change_password", false)) {
      std::cout << "this password was generated: change it with 'deskaudit password' before anything else\n";
    }
    return 0;
  }
  if (cmd == "password") {
    auto from_env = [](const char* name) { return std::getenv(name) ? std::string(std::getenv(name)) : std::string(); };
    auto current = from_env("DESKAUDIT_PASSWORD");
    if (current.empty()) current = read_password("Current password: ");
    auto next = from_env("DESKAUDIT_NEW_PASSWORD");
    if (next.empty()) {
      next = read_password("New password: ");
      if (read_password("Repeat the new password: ") != next) {
        return fail_with(Error{Errc::invalid_argument, "the two new passwords differ"});
      }
    }
    auto r = api.post("/api/v1/auth/password", {{"current_password", current}, {"new_password", next}});
    if (!r) return fail_with(r.error());
    std::cout << "password changed; your other sessions were signed out\n";
    return 0;
  }
  if (cmd == "logout") {
    auto r = api.post("/api/v1/auth/logout", Json::object());
    std::error_code ec;
    std::filesystem::remove(credentials_path(), ec);
    if (!r) return fail_with(r.error());
    std::cout << "signed out\n";
    return 0;
  }
  if (cmd == "whoami") result = api.get("/api/v1/auth/me");
  else if (cmd == "computers") {
    if (verb == "list") { result = api.get("/api/v1/computers" + query_string({{"pool_id", pool_id}, {"q", q}, {"limit", "500"}})); table(computer_cols); }
    else if (verb == "show") result = api.get("/api/v1/computers/" + enc(id));
    else if (verb == "status") {
      result = api.get("/api/v1/computers/" + enc(id) + "/recording-status");
      printer = [&g](const Json& j) {
        if (g.json) return print_object(g, j);
        for (const auto& c : j["checks"]) {
          std::cout << (c["ok"].get<bool>() ? "[ok]   " : "[FAIL] ") << c["label"].get<std::string>() << ": "
                    << c["detail"].get<std::string>() << "\n";
        }
      };
    } else if (verb == "create") {
      Json b = {{"name", name}};
      if (!pool_id.empty()) b["pool_id"] = pool_id;
      if (!os.empty()) b["os"] = os;
      result = api.post("/api/v1/computers", b);
    } else if (verb == "delete") result = api.del("/api/v1/computers/" + enc(id));
  } else if (cmd == "pools") {
    if (verb == "list") { result = api.get_all("/api/v1/pools"); table({{"ID", "id"}, {"NAME", "name"}, {"DESCRIPTION", "description"}}); }
    else if (verb == "show") {
      auto p = api.get("/api/v1/pools/" + enc(id));
      if (!p) return fail_with(p.error());
      auto members = api.get_all("/api/v1/pools/" + enc(id) + "/computers");
      if (!members) return fail_with(members.error());
      (*p)["computers"] = *members;
      result = *p;
    } else if (verb == "create") result = api.post("/api/v1/pools", {{"name", name}, {"description", description}});
    else if (verb == "delete") result = api.del("/api/v1/pools/" + enc(id));
    else if (verb == "add-computer") result = api.put("/api/v1/pools/" + enc(id) + "/computers/" + enc(computer_id));
    else if (verb == "remove-computer") result = api.del("/api/v1/pools/" + enc(id) + "/computers/" + enc(computer_id));
  } else if (cmd == "policies") {
    if (verb == "list") {
      result = api.get_all("/api/v1/policies");
      table({{"ID", "id"}, {"NAME", "name"}, {"MODE", "recording/mode"}, {"FPS", "recording/fps"},
             {"RETENTION_DAYS", "recording/retention_days"}, {"VERSION", "version"}});
    } else if (verb == "show") result = api.get("/api/v1/policies/" + enc(id));
    else if (verb == "create") {
      const Json b = {{"name", name}, {"recording", rule()}};
      // The server's own rules (src/policy): a bad value is named before
      // anything is sent. (An update is checked by the server alone: it
      // merges onto the stored rule, which only the server has.)
      if (auto fields = policy::body_from_json(b, policy::BodyKind::create, {}); !fields) {
        result = std::unexpected(fields.error());
      } else {
        result = api.post("/api/v1/policies", b);
      }
    } else if (verb == "update") {
      Json b = {{"recording", rule()}};
      if (!name.empty()) b["name"] = name;
      result = api.patch("/api/v1/policies/" + enc(id), b);
    } else if (verb == "delete") result = api.del("/api/v1/policies/" + enc(id));
    else if (verb == "assign" || verb == "unassign") {
      if (target_computer.empty() == target_pool.empty()) {
        std::cerr << "deskaudit: name exactly one of --computer or --pool\n";
        return 2;
      }
      const auto path = "/api/v1/policies/" + enc(id) + "/assignments/" +
                        (target_pool.empty() ? "computers/" + enc(target_computer) : "pools/" + enc(target_pool));
      result = verb == "assign" ? api.put(path) : api.del(path);
    }
  } else if (cmd == "enrollment-tokens") {
    if (verb == "create") {
      Json b = Json::object();
      if (!pool_id.empty()) b["pool_id"] = pool_id;
      if (max_uses) b["max_uses"] = max_uses;
      if (!expires_at.empty()) b["expires_at"] = expires_at;
      result = api.post("/api/v1/enrollment-tokens", b);
    } else if (verb == "list") {
      result = api.get_all("/api/v1/enrollment-tokens");
      table({{"ID", "id"}, {"POOL", "pool_id"}, {"USES", "uses"}, {"MAX_USES", "max_uses"}, {"EXPIRES", "expires_at"}, {"REVOKED", "revoked"}});
    } else if (verb == "revoke") result = api.del("/api/v1/enrollment-tokens/" + enc(id));
  } else if (cmd == "recordings") {
    if (verb == "list") {
      const auto path = "/api/v1/recordings" + query_string({{"computer_id", computer_id}, {"pool_id", pool_id},
                                                             {"policy_id", policy_id}, {"username", user},
                                                             {"start_time", from}, {"end_time", to}, {"status", status},
                                                             {"app", app_filter}, {"window_title", window_title},
                                                             {"limit", all ? "" : std::to_string(limit)}});
      result = all ? api.get_all(path) : api.get(path);
      auto cols = recording_cols;
      if (!app_filter.empty() || !window_title.empty()) cols.emplace_back("FIRST_MATCH_MS", "first_match_ms");
      table(cols);
    } else if (verb == "show") result = api.get("/api/v1/recordings/" + enc(id));
    else if (verb == "events") {
      const auto ms = [](std::int64_t v) { return v >= 0 ? std::to_string(v) : std::string(); };
      const auto path = "/api/v1/recordings/" + enc(id) + "/events" +
                        query_string({{"type", event_types}, {"from_ms", ms(from_ms)}, {"to_ms", ms(to_ms)},
                                      {"limit", all ? "" : std::to_string(limit)}});
      result = all ? api.get_all(path, 1'000'000) : api.get(path);
      table({{"T_MS", "t_ms"}, {"TIME", "time"}, {"TYPE", "type"}, {"APP", "app"}, {"PROCESS", "process"},
             {"PID", "pid"}, {"TITLE", "title"}});
    }
    else if (verb == "download") {
      if (out.empty()) {
        auto rec = api.get("/api/v1/recordings/" + enc(id));
        if (!rec) return fail_with(rec.error());
        out = id + ".mp4";
      }
      auto n = api.download("/api/v1/recordings/" + enc(id) + "/download", out);
      if (!n) return fail_with(n.error());
      std::cout << "wrote " << out << " (" << *n << " bytes)\n";
      return 0;
    } else if (verb == "export") {
      const std::filesystem::path dir = out.empty() ? id : out;
      std::error_code ec;
      // Files left from something else would fail verify (segment_extra).
      if (std::filesystem::exists(dir, ec) && !std::filesystem::is_empty(dir, ec)) {
        return fail_with(Error{Errc::invalid_argument, dir.string() + " is not empty: export into a new directory"});
      }
      std::filesystem::create_directories(dir, ec);
      if (ec) return fail_with(Error{Errc::io, "create " + dir.string() + ": " + ec.message()});
      const auto tar = dir / ".evidence.tar";
      auto n = api.download("/api/v1/recordings/" + enc(id) + "/evidence", tar);
      if (!n) return fail_with(n.error());
      auto files = evidence::untar(tar, dir);
      std::filesystem::remove(tar, ec);
      if (!files) return fail_with(files.error());
      std::cout << "wrote " << files->size() << " files (" << *n << " bytes) to " << dir.string()
                << "; check them with: deskaudit verify " << dir.string() << " --server-key FILE\n";
      return 0;
    } else if (verb == "verify") {
      auto rec = api.get("/api/v1/recordings/" + enc(id));
      if (!rec) return fail_with(rec.error());
      int bad = 0;
      for (const auto& seg : (*rec)["segments"]) {
        const auto seq = seg["seq"].get<std::int64_t>();
        const auto tmp = std::filesystem::temp_directory_path() / ("deskaudit-verify-" + random_id(""));
        auto n = api.download("/api/v1/recordings/" + enc(id) + "/segments/" + std::to_string(seq), tmp);
        if (!n && n.error().code == Errc::corrupt) {
          // The server checked the stored object and found it changed.
          std::error_code ec;
          std::filesystem::remove(tmp, ec);
          ++bad;
          std::cout << "segment " << seq << ": CHANGED IN STORE (" << n.error().message << ")\n";
          continue;
        }
        if (!n) return fail_with(n.error());
        auto sha = sha256_file_hex(tmp);
        std::filesystem::remove(tmp);
        if (!sha) return fail_with(sha.error());
        const bool ok = *sha == seg["sha256"].get<std::string>() && static_cast<std::int64_t>(*n) == seg["size_bytes"].get<std::int64_t>();
        bad += ok ? 0 : 1;
        std::cout << "segment " << seq << ": " << (ok ? "ok" : "MISMATCH") << " " << *n << " bytes sha256 " << *sha << "\n";
      }
      std::cout << (bad ? "FAILED: " + std::to_string(bad) + " segment(s) differ\n" : "all segments match the catalog\n");
      return bad ? 1 : 0;
    } else if (verb == "delete") result = api.del("/api/v1/recordings/" + enc(id));
    else if (verb == "hold") result = api.put("/api/v1/recordings/" + enc(id) + "/legal-hold");
    else if (verb == "release") result = api.del("/api/v1/recordings/" + enc(id) + "/legal-hold");
  } else if (cmd == "events") {
    const auto path = "/api/v1/events" + query_string({{"computer_id", computer_id}, {"pool_id", pool_id},
                                                       {"username", user}, {"app", app_filter},
                                                       {"window_title", window_title}, {"type", event_types},
                                                       {"from", from}, {"to", to},
                                                       {"limit", all ? "" : std::to_string(limit)}});
    result = all ? api.get_all(path, 1'000'000) : api.get(path);
    table({{"TIME", "time"}, {"RECORDING", "recording_id"}, {"T_MS", "t_ms"}, {"COMPUTER", "computer_name"},
           {"USER", "username"}, {"TYPE", "type"}, {"APP", "app"}, {"TITLE", "title"}});
  } else if (cmd == "users") {
    if (verb == "list") { result = api.get("/api/v1/users"); table({{"ID", "id"}, {"USERNAME", "username"}, {"DISABLED", "disabled"}, {"ROLES", "roles"}}); }
    else if (verb == "create") {
      if (password.empty()) password = read_password("Password for " + name + ": ");
      result = api.post("/api/v1/users", {{"username", name}, {"password", password}, {"roles", role_grants()}});
    } else if (verb == "set-roles") result = api.patch("/api/v1/users/" + enc(id), {{"roles", role_grants()}});
    else if (verb == "disable" || verb == "enable") result = api.patch("/api/v1/users/" + enc(id), {{"disabled", verb == "disable"}});
    else if (verb == "delete") result = api.del("/api/v1/users/" + enc(id));
  } else if (cmd == "roles") {
    result = api.get("/api/v1/roles");
    table({{"ID", "id"}, {"NAME", "name"}, {"BUILTIN", "builtin"}, {"PERMISSIONS", "permissions"}});
  } else if (cmd == "api-tokens") {
    if (verb == "list") { result = api.get("/api/v1/api-tokens"); table({{"ID", "id"}, {"NAME", "name"}, {"EXPIRES", "expires_at"}, {"REVOKED", "revoked"}}); }
    else if (verb == "create") {
      Json b = {{"name", name}};
      if (!expires_at.empty()) b["expires_at"] = expires_at;
      result = api.post("/api/v1/api-tokens", b);
    } else if (verb == "revoke") result = api.del("/api/v1/api-tokens/" + enc(id));
  } else if (cmd == "audit") {
    if (verb == "list") {
      result = api.get("/api/v1/audit-log" + query_string({{"actor", actor}, {"action", action_name}, {"target", target},
                                                           {"start_time", from}, {"end_time", to}, {"limit", std::to_string(limit)}}));
      table({{"SEQ", "seq"}, {"TIME", "time"}, {"ACTOR", "actor"}, {"ACTION", "action"}, {"TARGET", "target"}});
    } else if (verb == "verify") {
      result = public_key_file.empty() ? api.get("/api/v1/audit-log/verify") : verify_locally(api, public_key_file);
      printer = [&g, &public_key_file](const Json& j) {
        if (g.json) return print_object(g, j);
        const std::string by = public_key_file.empty() ? "by the server's trusted keys" : "here, by the keys in " + public_key_file;
        if (j["ok"].get<bool>()) {
          std::cout << "audit log intact: " << j["entries"] << " entries, chain verified; " << j["checkpoints"]
                    << " signed checkpoints verified " << by << ", signed through seq " << j["signed_through_seq"];
          if (j["unsigned_entries"].get<std::int64_t>() > 0) {
            std::cout << "; " << j["unsigned_entries"] << " newest entries not signed yet";
          }
          std::cout << "\n";
        } else {
          std::cout << "audit log BROKEN: first bad seq " << j["first_bad_seq"] << " (entries " << j["first_bad_seq"]
                    << ".." << j["untrusted_through_seq"] << " cannot be trusted): " << str(j["reason"]) << "\n";
        }
      };
    } else if (verb == "keys") {
      result = api.get("/api/v1/signing-keys");
      if (result && !keys_out.empty()) {
        if (auto st = write_file_atomic(keys_out, (*result)["keyring"].get<std::string>(), 0644); !st) return fail_with(st.error());
      }
      printer = [&g, &keys_out](const Json& j) {
        if (g.json) return print_object(g, j);
        std::cout << "current signing key: " << str(j["current_key_id"]) << "\n";
        if (keys_out.empty()) std::cout << j["keyring"].get<std::string>();
        else std::cout << "trusted public keys written to " << keys_out << "\n";
      };
    } else if (verb == "rotate-key") {
      result = api.post("/api/v1/signing-keys/rotate", Json::object());
      printer = [&g](const Json& j) {
        if (g.json) return print_object(g, j);
        std::cout << "signing key rotated: " << str(j["old_key_id"]) << " -> " << str(j["current_key_id"])
                  << " (export the keyring again: deskaudit audit keys -o FILE)\n";
      };
    }
  }
  if (!result) return fail_with(result.error());
  if (printer) printer(*result);
  else if (!result->is_null()) print_object(g, *result);
  else std::cout << "ok\n";
  if (cmd == "audit" && verb == "verify" && !(*result)["ok"].get<bool>()) return 1;
  return 0;
}
