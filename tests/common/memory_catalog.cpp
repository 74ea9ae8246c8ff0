#include "memory_catalog.hpp"

#include <algorithm>
#include <chrono>
#include <limits>

#include "catalog/migrations.hpp"
#include "catalog/page_token.hpp"
#include "common/crypto.hpp"

namespace deskaudit::testing {

using namespace catalog;

// Every public method starts here: takes the lock, counts the call and
// returns an injected failure instead of touching the data.
#define MEMORY_CATALOG_ENTER()               \
  std::lock_guard memory_catalog_lock_(mu_); \
  if (auto gate_ = gate(__func__); !gate_) return std::unexpected(gate_.error())

namespace {

constexpr std::int64_t kDayMs = 86'400'000;

std::string quote(std::string_view id) { return "'" + std::string(id) + "'"; }

Status require_id(std::string_view value, std::string_view field) {
  if (value.empty()) return fail(Errc::invalid_argument, std::string(field) + " must not be empty", std::string(field));
  return {};
}

// SQLite's LOWER folds ASCII only; names in tests are ASCII either way.
std::string lower_ascii(std::string_view text) {
  std::string out(text);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool contains_ci(std::string_view haystack, std::string_view needle) {
  return lower_ascii(haystack).find(lower_ascii(needle)) != std::string::npos;
}

bool in(const std::vector<std::string>& values, std::string_view v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// A list ordered by (name, id) ascending, continued after the page token's row.
template <class T>
Result<PageOf<T>> name_page(std::vector<T> items, const Page& page, std::string_view kind) {
  const int limit = clamp_limit(page.limit);
  std::optional<std::pair<std::string, std::string>> after;
  if (!page.next_token.empty()) {
    auto fields = decode_page_token(page.next_token, kind, 2);
    if (!fields) return std::unexpected(fields.error());
    after.emplace((*fields)[0], (*fields)[1]);
  }
  std::sort(items.begin(), items.end(),
            [](const T& a, const T& b) { return std::tie(a.name, a.id) < std::tie(b.name, b.id); });
  if (after) {
    std::erase_if(items, [&](const T& t) { return std::tie(t.name, t.id) <= std::tie(after->first, after->second); });
  }
  return make_page(std::move(items), limit, [&](const T& t) { return encode_page_token(kind, {t.name, t.id}); });
}

std::string_view token_kind_text(TokenKind k) { return k == TokenKind::session ? "session" : "api"; }

Status check_grant_scope(const RoleGrant& g) {
  if (g.scope_type.has_value() != g.scope_id.has_value() || (g.scope_id && g.scope_id->empty())) {
    return fail(Errc::invalid_argument, "a grant's scope needs both a type and a non-empty id, or neither", "scope");
  }
  return {};
}

EpochMs wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// --- failure injection ----------------------------------------------------------

void MemoryCatalog::fail_next(std::string method, Error error) {
  std::lock_guard lock(mu_);
  injected_[std::move(method)].push_back(std::move(error));
}

void MemoryCatalog::set_unavailable(bool unavailable) {
  std::lock_guard lock(mu_);
  unavailable_ = unavailable;
}

int MemoryCatalog::calls(std::string_view method) const {
  std::lock_guard lock(mu_);
  const auto it = calls_.find(method);
  return it == calls_.end() ? 0 : it->second;
}

Status MemoryCatalog::gate(std::string_view method) {
  auto counted = calls_.find(method);
  if (counted == calls_.end()) counted = calls_.emplace(std::string(method), 0).first;
  ++counted->second;
  if (unavailable_) {
    return fail(Errc::unavailable,
                "catalog database unreachable (MemoryCatalog set unavailable) in " + std::string(method));
  }
  if (auto it = injected_.find(method); it != injected_.end() && !it->second.empty()) {
    Error e = std::move(it->second.front());
    it->second.pop_front();
    return std::unexpected(std::move(e));
  }
  return {};
}

// --- schema ------------------------------------------------------------------------

Status MemoryCatalog::migrate() {
  MEMORY_CATALOG_ENTER();
  for (const auto& m : migrations()) schema_version_ = std::max(schema_version_, m.version);
  return {};
}

Result<int> MemoryCatalog::schema_version() {
  MEMORY_CATALOG_ENTER();
  return schema_version_;
}

std::string MemoryCatalog::backend() const { return "memory"; }

// --- pools ---------------------------------------------------------------------------

Status MemoryCatalog::create_pool(const Pool& pool) {
  MEMORY_CATALOG_ENTER();
  if (auto st = require_id(pool.id, "id"); !st) return st;
  if (auto st = require_id(pool.name, "name"); !st) return st;
  const bool name_taken =
      std::any_of(pools_.begin(), pools_.end(), [&](const auto& p) { return p.second.name == pool.name; });
  if (pools_.contains(pool.id) || name_taken) {
    return fail(Errc::conflict, "a pool with this id or the name " + quote(pool.name) + " already exists");
  }
  pools_.emplace(pool.id, pool);
  return {};
}

Result<Pool> MemoryCatalog::get_pool(std::string_view id) {
  MEMORY_CATALOG_ENTER();
  const auto it = pools_.find(id);
  if (it == pools_.end()) return fail(Errc::not_found, "pool " + quote(id) + " not found");
  return it->second;
}

Result<PageOf<Pool>> MemoryCatalog::list_pools(std::string_view q, const std::optional<Scope>& scope,
                                               const Page& page) {
  MEMORY_CATALOG_ENTER();
  std::vector<Pool> items;
  for (const auto& [id, pool] : pools_) {
    if (!q.empty() && !contains_ci(pool.name, q) && !contains_ci(pool.id, q)) continue;
    if (scope) {
      // The pools named in the scope and the pools of the computers named in it.
      bool visible = in(scope->pool_ids, pool.id);
      for (const auto& cid : scope->computer_ids) {
        const auto c = computers_.find(cid);
        if (c != computers_.end() && c->second.computer.pool_id == pool.id) visible = true;
      }
      if (!visible) continue;
    }
    items.push_back(pool);
  }
  return name_page(std::move(items), page, "p");
}

Status MemoryCatalog::update_pool(const Pool& pool) {
  MEMORY_CATALOG_ENTER();
  if (auto st = require_id(pool.name, "name"); !st) return st;
  const auto it = pools_.find(pool.id);
  if (it == pools_.end()) return fail(Errc::not_found, "pool " + quote(pool.id) + " not found");
  for (const auto& [id, other] : pools_) {
    if (id != pool.id && other.name == pool.name) {
      return fail(Errc::conflict, "a pool named " + quote(pool.name) + " already exists");
    }
  }
  it->second.name = pool.name;
  it->second.description = pool.description;
  return {};
}

Status MemoryCatalog::delete_pool(std::string_view id) {
  MEMORY_CATALOG_ENTER();
  const auto members = std::count_if(computers_.begin(), computers_.end(),
                                     [&](const auto& c) { return c.second.computer.pool_id == id; });
  if (members > 0) {
    return fail(Errc::conflict,
                "pool " + quote(id) + " still has " + std::to_string(members) + " computer(s); move them out first");
  }
  const auto it = pools_.find(id);
  if (it == pools_.end()) return fail(Errc::not_found, "pool " + quote(id) + " not found");
  assignments_.erase(AssignmentKey{"pool", std::string(id)});
  pools_.erase(it);
  return {};
}

// --- computers ---------------------------------------------------------------------

Computer MemoryCatalog::computer_view(const ComputerRow& row) const {
  Computer c = row.computer;
  c.enrolled =
      std::any_of(credentials_.begin(), credentials_.end(), [&](const auto& cred) { return cred.second == c.id; });
  return c;
}

Status MemoryCatalog::create_computer(const Computer& c) {
  MEMORY_CATALOG_ENTER();
  if (auto st = require_id(c.id, "id"); !st) return st;
  if (c.pool_id && !pools_.contains(*c.pool_id)) {
    return fail(Errc::not_found, "pool " + quote(*c.pool_id) + " not found", "pool_id");
  }
  if (computers_.contains(c.id)) return fail(Errc::conflict, "a computer with id " + quote(c.id) + " already exists");
  ComputerRow row;
  row.computer = c;
  row.computer.enrolled = false;
  row.computer.agent.set_aside_json = "null";  // not among the columns create_computer writes
  computers_.emplace(c.id, std::move(row));
  return {};
}

Result<Computer> MemoryCatalog::get_computer(std::string_view id) {
  MEMORY_CATALOG_ENTER();
  const auto it = computers_.find(id);
  if (it == computers_.end()) return fail(Errc::not_found, "computer " + quote(id) + " not found");
  return computer_view(it->second);
}

Result<PageOf<Computer>> MemoryCatalog::list_computers(const ComputerFilter& filter, const Page& page) {
  MEMORY_CATALOG_ENTER();
  std::vector<Computer> items;
  for (const auto& [id, row] : computers_) {
    const Computer& c = row.computer;
    if (!filter.pool_id.empty() && c.pool_id != filter.pool_id) continue;
    if (!filter.q.empty() && !contains_ci(c.name, filter.q) && !contains_ci(c.id, filter.q)) continue;
    if (filter.scope && !in(filter.scope->computer_ids, c.id) &&
        !(c.pool_id && in(filter.scope->pool_ids, *c.pool_id))) {
      continue;
    }
    items.push_back(computer_view(row));
  }
  return name_page(std::move(items), page, "c");
}

Status MemoryCatalog::update_computer(const Computer& c) {
  MEMORY_CATALOG_ENTER();
  const auto it = computers_.find(c.id);
  if (it == computers_.end()) return fail(Errc::not_found, "computer " + quote(c.id) + " not found");
  it->second.computer.name = c.name;
  it->second.computer.hostname = c.hostname;
  it->second.computer.os = c.os;
  return {};
}

Status MemoryCatalog::delete_computer(std::string_view id) {
  MEMORY_CATALOG_ENTER();
  const auto it = computers_.find(id);
  if (it == computers_.end()) return fail(Errc::not_found, "computer " + quote(id) + " not found");
  // Freeze the current name into the recordings that outlive the computer.
  for (auto& [rid, row] : recordings_) {
    if (row.recording.computer_id == id) row.recording.computer_name = it->second.computer.name;
  }
  assignments_.erase(AssignmentKey{"computer", std::string(id)});
  std::erase_if(credentials_, [&](const auto& cred) { return cred.second == id; });
  computers_.erase(it);
  return {};
}

Status MemoryCatalog::set_computer_pool(std::string_view computer_id, const std::optional<std::string>& pool_id) {
  MEMORY_CATALOG_ENTER();
  if (pool_id && !pools_.contains(*pool_id)) {
    return fail(Errc::not_found, "pool " + quote(*pool_id) + " not found", "pool_id");
  }
  const auto it = computers_.find(computer_id);
  if (it == computers_.end()) return fail(Errc::not_found, "computer " + quote(computer_id) + " not found");
  it->second.computer.pool_id = pool_id;
  return {};
}

Status MemoryCatalog::update_agent_heartbeat(std::string_view computer_id, const AgentState& a) {
  MEMORY_CATALOG_ENTER();
  const auto it = computers_.find(computer_id);
  if (it == computers_.end()) return fail(Errc::not_found, "computer " + quote(computer_id) + " not found");
  AgentState& s = it->second.computer.agent;
  s.agent_version = a.agent_version;
  s.capture_json = a.capture_json;
  s.spool_bytes = a.spool_bytes;
  s.last_error = a.last_error;
  s.session_json = a.session_json;
  s.set_aside_json = a.set_aside_json;
  s.last_seen_at = a.last_seen_at;
  return {};
}

Status MemoryCatalog::note_upload(std::string_view computer_id, EpochMs at, std::string_view error) {
  MEMORY_CATALOG_ENTER();
  const auto it = computers_.find(computer_id);
  if (it == computers_.end()) return fail(Errc::not_found, "computer " + quote(computer_id) + " not found");
  AgentState& s = it->second.computer.agent;
  if (error.empty()) {
    s.last_upload_at = at;
    s.last_upload_error.clear();
  } else {
    s.last_upload_error = std::string(error);
  }
  return {};
}

Status MemoryCatalog::note_session_start(std::string_view computer_id, EpochMs at) {
  MEMORY_CATALOG_ENTER();
  const auto it = computers_.find(computer_id);
  if (it == computers_.end()) return fail(Errc::not_found, "computer " + quote(computer_id) + " not found");
  it->second.computer.agent.last_session_at = at;
  return {};
}

Result<std::vector<SilentComputer>> MemoryCatalog::list_newly_silent(EpochMs seen_before, int limit) {
  MEMORY_CATALOG_ENTER();
  std::vector<SilentComputer> out;
  for (const auto& [id, row] : computers_) {
    const EpochMs seen = row.computer.agent.last_seen_at;
    if (seen > 0 && seen < seen_before && seen != row.silence_noted_at) out.push_back({id, seen});
  }
  std::sort(out.begin(), out.end(), [](const SilentComputer& a, const SilentComputer& b) {
    return std::tie(a.last_seen_at, a.computer_id) < std::tie(b.last_seen_at, b.computer_id);
  });
  if (out.size() > static_cast<std::size_t>(std::max(1, limit)))
    out.resize(static_cast<std::size_t>(std::max(1, limit)));
  return out;
}

Result<bool> MemoryCatalog::note_silence(std::string_view computer_id, EpochMs last_seen_at) {
  MEMORY_CATALOG_ENTER();
  const auto it = computers_.find(computer_id);
  if (it == computers_.end() || it->second.computer.agent.last_seen_at != last_seen_at) return false;
  it->second.silence_noted_at = last_seen_at;
  return true;
}

// --- policies ---------------------------------------------------------------------

Status MemoryCatalog::create_policy(const Policy& p) {
  MEMORY_CATALOG_ENTER();
  if (auto st = require_id(p.id, "id"); !st) return st;
  if (auto st = require_id(p.name, "name"); !st) return st;
  const bool name_taken =
      std::any_of(policies_.begin(), policies_.end(), [&](const auto& other) { return other.second.name == p.name; });
  if (policies_.contains(p.id) || name_taken) {
    return fail(Errc::conflict, "a policy with this id or the name " + quote(p.name) + " already exists");
  }
  Policy stored = p;
  if (stored.updated_at == 0) stored.updated_at = stored.created_at;
  policies_.emplace(p.id, std::move(stored));
  return {};
}

Result<Policy> MemoryCatalog::get_policy(std::string_view id) {
  MEMORY_CATALOG_ENTER();
  const auto it = policies_.find(id);
  if (it == policies_.end()) return fail(Errc::not_found, "policy " + quote(id) + " not found");
  return it->second;
}

Result<PageOf<Policy>> MemoryCatalog::list_policies(const Page& page) {
  MEMORY_CATALOG_ENTER();
  std::vector<Policy> items;
  for (const auto& [id, p] : policies_) items.push_back(p);
  return name_page(std::move(items), page, "y");
}

Result<Policy> MemoryCatalog::update_policy(const Policy& p) {
  MEMORY_CATALOG_ENTER();
  if (auto st = require_id(p.name, "name"); !st) return std::unexpected(st.error());
  const auto it = policies_.find(p.id);
  if (it == policies_.end()) return fail(Errc::not_found, "policy " + quote(p.id) + " not found");
  for (const auto& [id, other] : policies_) {
    if (id != p.id && other.name == p.name) {
      return fail(Errc::conflict, "a policy named " + quote(p.name) + " already exists");
    }
  }
  Policy& stored = it->second;
  stored.name = p.name;
  stored.recording = p.recording;
  stored.version += 1;
  stored.updated_at = p.updated_at != 0 ? p.updated_at : wall_now_ms();
  return stored;
}

Status MemoryCatalog::delete_policy(std::string_view id) {
  MEMORY_CATALOG_ENTER();
  const auto it = policies_.find(id);
  if (it == policies_.end()) return fail(Errc::not_found, "policy " + quote(id) + " not found");
  std::erase_if(assignments_, [&](const auto& a) { return a.second == id; });
  policies_.erase(it);
  return {};
}

Status MemoryCatalog::assign_policy(const Assignment& a) {
  MEMORY_CATALOG_ENTER();
  if (!policies_.contains(a.policy_id)) {
    return fail(Errc::not_found, "policy " + quote(a.policy_id) + " not found", "policy_id");
  }
  const bool target_exists =
      a.target_type == TargetType::computer ? computers_.contains(a.target_id) : pools_.contains(a.target_id);
  if (!target_exists) {
    return fail(Errc::not_found, std::string(to_string(a.target_type)) + " " + quote(a.target_id) + " not found",
                "target_id");
  }
  assignments_[AssignmentKey{std::string(to_string(a.target_type)), a.target_id}] = a.policy_id;
  return {};
}

Status MemoryCatalog::unassign_policy(const Assignment& a) {
  MEMORY_CATALOG_ENTER();
  const auto it = assignments_.find(AssignmentKey{std::string(to_string(a.target_type)), a.target_id});
  if (it == assignments_.end() || it->second != a.policy_id) {
    return fail(Errc::not_found, "policy " + quote(a.policy_id) + " is not assigned to " +
                                     std::string(to_string(a.target_type)) + " " + quote(a.target_id));
  }
  assignments_.erase(it);
  return {};
}

Result<std::vector<Assignment>> MemoryCatalog::list_assignments(std::string_view policy_id) {
  MEMORY_CATALOG_ENTER();
  std::vector<Assignment> out;
  for (const auto& [key, pid] : assignments_) {
    if (pid != policy_id) continue;
    out.push_back(Assignment{pid, key.first == "pool" ? TargetType::pool : TargetType::computer, key.second});
  }
  return out;
}

std::optional<Policy> MemoryCatalog::assigned_policy(std::string_view type, std::string_view target) const {
  const auto a = assignments_.find(AssignmentKey{std::string(type), std::string(target)});
  if (a == assignments_.end()) return std::nullopt;
  const auto p = policies_.find(a->second);
  if (p == policies_.end()) return std::nullopt;
  return p->second;
}

Result<EffectivePolicy> MemoryCatalog::effective_policy(std::string_view computer_id) {
  MEMORY_CATALOG_ENTER();
  const auto it = computers_.find(computer_id);
  if (it == computers_.end()) return fail(Errc::not_found, "computer " + quote(computer_id) + " not found");
  if (auto own = assigned_policy("computer", computer_id)) return EffectivePolicy{PolicySource::computer, own};
  if (const auto& pool = it->second.computer.pool_id) {
    if (auto pooled = assigned_policy("pool", *pool)) return EffectivePolicy{PolicySource::pool, pooled};
  }
  return EffectivePolicy{};
}

// --- enrollment ----------------------------------------------------------------------

Status MemoryCatalog::create_enrollment_token(const EnrollmentToken& t) {
  MEMORY_CATALOG_ENTER();
  if (auto st = require_id(t.id, "id"); !st) return st;
  if (!is_sha256_hex(t.token_sha256)) {
    return fail(Errc::invalid_argument, "token_sha256 must be 64 lowercase hex characters", "token_sha256");
  }
  if (t.pool_id && !pools_.contains(*t.pool_id)) {
    return fail(Errc::not_found, "pool " + quote(*t.pool_id) + " not found", "pool_id");
  }
  const bool secret_taken = std::any_of(enrollment_tokens_.begin(), enrollment_tokens_.end(),
                                        [&](const auto& e) { return e.second.token_sha256 == t.token_sha256; });
  if (enrollment_tokens_.contains(t.id) || secret_taken) {
    return fail(Errc::conflict, "an enrollment token with this id or secret already exists");
  }
  enrollment_tokens_.emplace(t.id, t);
  return {};
}

Result<PageOf<EnrollmentToken>> MemoryCatalog::list_enrollment_tokens(const Page& page) {
  MEMORY_CATALOG_ENTER();
  const int limit = clamp_limit(page.limit);
  std::optional<std::pair<std::int64_t, std::string>> before;
  if (!page.next_token.empty()) {
    auto fields = decode_page_token(page.next_token, "e", 2);
    if (!fields) return std::unexpected(fields.error());
    auto created = page_token_int((*fields)[0]);
    if (!created) return std::unexpected(created.error());
    before.emplace(*created, (*fields)[1]);
  }
  std::vector<EnrollmentToken> items;
  for (const auto& [id, t] : enrollment_tokens_) {
    if (before && std::tie(t.created_at, t.id) >= std::tie(before->first, before->second)) continue;
    items.push_back(t);
  }
  std::sort(items.begin(), items.end(), [](const EnrollmentToken& a, const EnrollmentToken& b) {
    return std::tie(a.created_at, a.id) > std::tie(b.created_at, b.id);
  });
  return make_page(std::move(items), limit, [](const EnrollmentToken& t) {
    return encode_page_token("e", {std::to_string(t.created_at), t.id});
  });
}

Result<EnrollmentToken> MemoryCatalog::get_enrollment_token(std::string_view id) {
  MEMORY_CATALOG_ENTER();
  const auto it = enrollment_tokens_.find(id);
  if (it == enrollment_tokens_.end()) return fail(Errc::not_found, "enrollment token " + quote(id) + " not found");
  return it->second;
}

Status MemoryCatalog::revoke_enrollment_token(std::string_view id) {
  MEMORY_CATALOG_ENTER();
  const auto it = enrollment_tokens_.find(id);
  if (it == enrollment_tokens_.end()) return fail(Errc::not_found, "enrollment token " + quote(id) + " not found");
  it->second.revoked = true;
  return {};
}

Result<Computer> MemoryCatalog::enroll(std::string_view enrollment_token_sha256, Computer computer,
                                       std::string_view agent_token_sha256, EpochMs now) {
  MEMORY_CATALOG_ENTER();
  if (auto st = require_id(computer.id, "id"); !st) return std::unexpected(st.error());
  if (!is_sha256_hex(agent_token_sha256)) {
    return fail(Errc::invalid_argument, "agent token hash must be 64 lowercase hex characters");
  }
  const auto token = std::find_if(enrollment_tokens_.begin(), enrollment_tokens_.end(),
                                  [&](const auto& e) { return e.second.token_sha256 == enrollment_token_sha256; });
  if (token == enrollment_tokens_.end()) return fail(Errc::unauthenticated, "unknown enrollment token");
  EnrollmentToken& t = token->second;
  if (t.revoked) return fail(Errc::unauthenticated, "enrollment token has been revoked");
  if (t.expires_at && *t.expires_at <= now) return fail(Errc::unauthenticated, "enrollment token has expired");
  if (t.max_uses && t.uses >= *t.max_uses) return fail(Errc::unauthenticated, "enrollment token has been used up");
  // Every check before any change: a refused enrollment leaves the token's
  // uses as they were (the SQL transaction rolls back).
  if (t.pool_id) computer.pool_id = t.pool_id;
  if (computer.pool_id && !pools_.contains(*computer.pool_id)) {
    return fail(Errc::conflict, "the enrollment token's pool " + quote(*computer.pool_id) + " no longer exists");
  }
  if (computers_.contains(computer.id)) {
    return fail(Errc::conflict, "a computer with id " + quote(computer.id) + " already exists");
  }
  if (credentials_.contains(agent_token_sha256)) {
    return fail(Errc::conflict, "the computer id or agent credential is already in use");
  }
  t.uses += 1;
  ComputerRow row;
  row.computer.id = computer.id;
  row.computer.name = computer.name;
  row.computer.hostname = computer.hostname;
  row.computer.os = computer.os;
  row.computer.pool_id = computer.pool_id;
  row.computer.created_at = computer.created_at != 0 ? computer.created_at : now;
  row.computer.agent.agent_version = computer.agent.agent_version;
  credentials_.emplace(std::string(agent_token_sha256), computer.id);
  const auto stored = computers_.emplace(computer.id, std::move(row)).first;
  return computer_view(stored->second);
}

Result<std::string> MemoryCatalog::computer_for_agent_token(std::string_view agent_token_sha256) {
  MEMORY_CATALOG_ENTER();
  const auto it = credentials_.find(agent_token_sha256);
  if (it == credentials_.end()) return fail(Errc::unauthenticated, "unknown agent credential");
  return it->second;
}

// --- agent signing keys -------------------------------------------------------------------

Result<bool> MemoryCatalog::add_agent_key(const AgentKey& k) {
  MEMORY_CATALOG_ENTER();
  if (k.key_id.empty() || k.computer_id.empty() || k.public_key.empty()) {
    return fail(Errc::invalid_argument, "agent key id, computer id and public key must not be empty");
  }
  if (const auto it = agent_keys_.find(k.key_id); it != agent_keys_.end()) {
    if (it->second.computer_id != k.computer_id) {
      return fail(Errc::conflict, "this public key is registered for another computer");
    }
    if (it->second.retired_at) return fail(Errc::conflict, "this public key was retired; make a new key pair");
    return false;
  }
  for (auto& [id, key] : agent_keys_) {
    if (key.computer_id == k.computer_id && !key.retired_at) key.retired_at = k.created_at;
  }
  AgentKey stored = k;
  stored.retired_at.reset();
  agent_keys_.emplace(k.key_id, std::move(stored));
  return true;
}

Result<AgentKey> MemoryCatalog::get_agent_key(std::string_view key_id) {
  MEMORY_CATALOG_ENTER();
  const auto it = agent_keys_.find(key_id);
  if (it == agent_keys_.end()) return fail(Errc::not_found, "agent key " + quote(key_id) + " not found");
  return it->second;
}

Result<std::vector<AgentKey>> MemoryCatalog::list_agent_keys(std::string_view computer_id) {
  MEMORY_CATALOG_ENTER();
  std::vector<AgentKey> out;
  for (const auto& [id, key] : agent_keys_) {
    if (key.computer_id == computer_id) out.push_back(key);
  }
  std::sort(out.begin(), out.end(), [](const AgentKey& a, const AgentKey& b) {
    return std::tie(a.created_at, a.key_id) < std::tie(b.created_at, b.key_id);
  });
  return out;
}

// --- recordings and segments -----------------------------------------------------------

Recording MemoryCatalog::recording_view(const Recording& stored) const {
  Recording r = stored;
  // The computer's current name; the snapshot once the computer is gone.
  if (const auto c = computers_.find(r.computer_id); c != computers_.end()) r.computer_name = c->second.computer.name;
  return r;
}

namespace {
bool event_matches(const events::Event& e, std::string_view app, std::string_view window_title) {
  if (!app.empty() && !(e.app && contains_ci(*e.app, app)) && !(e.process && contains_ci(*e.process, app))) {
    return false;
  }
  if (!window_title.empty() && !(e.type == "window" && e.title && contains_ci(*e.title, window_title))) return false;
  return true;
}
}  // namespace

std::vector<RecordingEvent> MemoryCatalog::stored_events(const std::string& recording_id) const {
  std::vector<RecordingEvent> out;
  for (auto it = events_.lower_bound({recording_id, std::numeric_limits<std::int64_t>::min(), 0});
       it != events_.end() && std::get<0>(it->first) == recording_id; ++it) {
    const auto seg = segments_.find({recording_id, it->second.seq});
    if (seg != segments_.end() && seg->second.events_sha256) out.push_back(it->second);
  }
  std::stable_sort(out.begin(), out.end(), [](const RecordingEvent& a, const RecordingEvent& b) {
    return std::tie(a.event.t_ms, a.seq, a.idx) < std::tie(b.event.t_ms, b.seq, b.idx);
  });
  return out;
}

std::optional<std::int64_t> MemoryCatalog::first_match(const std::string& recording_id, std::string_view app,
                                                       std::string_view window_title) const {
  for (const auto& e : stored_events(recording_id)) {
    if (event_matches(e.event, app, window_title)) return e.event.t_ms;
  }
  return std::nullopt;
}

bool MemoryCatalog::recording_matches(const Recording& r, const RecordingFilter& f) const {
  if (f.has_event_filter() && !first_match(r.id, f.app, f.window_title)) return false;
  if (!f.computer_id.empty() && r.computer_id != f.computer_id) return false;
  if (!f.pool_id.empty() && r.pool_id != f.pool_id) return false;
  if (!f.policy_id.empty() && r.policy_id != f.policy_id) return false;
  if (!f.username.empty() && r.username != f.username) return false;
  // Overlap: an open recording extends to "now".
  if (f.start_time && r.end_time && *r.end_time < *f.start_time) return false;
  if (f.end_time && r.start_time > *f.end_time) return false;
  if (f.status && r.status != *f.status) return false;
  if (f.scope && !in(f.scope->computer_ids, r.computer_id) && !(r.pool_id && in(f.scope->pool_ids, *r.pool_id))) {
    return false;
  }
  return true;
}

Status MemoryCatalog::create_recording(const Recording& r) {
  MEMORY_CATALOG_ENTER();
  if (r.id.empty()) return fail(Errc::invalid_argument, "id must not be empty", "id");
  if (r.computer_id.empty()) return fail(Errc::invalid_argument, "computer_id must not be empty", "computer_id");
  if (r.retention_days < 1) return fail(Errc::invalid_argument, "retention_days must be at least 1", "retention_days");
  if (r.end_time && *r.end_time < r.start_time) {
    return fail(Errc::invalid_argument, "end_time is before start_time", "end_time");
  }
  if (recordings_.contains(r.id)) return fail(Errc::conflict, "a recording with id " + quote(r.id) + " already exists");
  RecordingRow row{r};
  const auto c = computers_.find(r.computer_id);
  // Snapshots: the caller's name and pool, else the computer's at this moment.
  if (r.computer_name.empty()) row.recording.computer_name = c != computers_.end() ? c->second.computer.name : "";
  if (!r.pool_id) row.recording.pool_id = c != computers_.end() ? c->second.computer.pool_id : std::nullopt;
  recordings_.emplace(r.id, std::move(row));
  return {};
}

Result<Recording> MemoryCatalog::get_recording(std::string_view id) {
  MEMORY_CATALOG_ENTER();
  const auto it = recordings_.find(id);
  if (it == recordings_.end()) return fail(Errc::not_found, "recording " + quote(id) + " not found");
  return recording_view(it->second.recording);
}

Result<PageOf<Recording>> MemoryCatalog::list_recordings(const RecordingFilter& filter, const Page& page) {
  MEMORY_CATALOG_ENTER();
  const int limit = clamp_limit(page.limit);
  std::optional<std::pair<std::int64_t, std::string>> before;
  if (!page.next_token.empty()) {
    auto fields = decode_page_token(page.next_token, "r", 2);
    if (!fields) return std::unexpected(fields.error());
    auto start = page_token_int((*fields)[0]);
    if (!start) return std::unexpected(start.error());
    before.emplace(*start, (*fields)[1]);
  }
  std::vector<Recording> items;
  for (const auto& [id, row] : recordings_) {
    const Recording r = recording_view(row.recording);
    if (!recording_matches(r, filter)) continue;
    if (before && std::tie(r.start_time, r.id) >= std::tie(before->first, before->second)) continue;
    items.push_back(r);
    if (filter.has_event_filter()) items.back().first_match_ms = first_match(r.id, filter.app, filter.window_title);
  }
  std::sort(items.begin(), items.end(), [](const Recording& a, const Recording& b) {
    return std::tie(a.start_time, a.id) > std::tie(b.start_time, b.id);
  });
  return make_page(std::move(items), limit, [](const Recording& r) {
    return encode_page_token("r", {std::to_string(r.start_time), r.id});
  });
}

Result<std::int64_t> MemoryCatalog::count_recordings(const RecordingFilter& filter) {
  MEMORY_CATALOG_ENTER();
  return static_cast<std::int64_t>(std::count_if(recordings_.begin(), recordings_.end(), [&](const auto& row) {
    return recording_matches(recording_view(row.second.recording), filter);
  }));
}

Result<Recording> MemoryCatalog::finish_recording(std::string_view id, EpochMs end_time, RecordingStatus status) {
  MEMORY_CATALOG_ENTER();
  if (status == RecordingStatus::recording) {
    return fail(Errc::invalid_argument, "a finished recording's status must be complete or interrupted", "status");
  }
  const auto it = recordings_.find(id);
  if (it == recordings_.end()) return fail(Errc::not_found, "recording " + quote(id) + " not found");
  Recording& r = it->second.recording;
  if (r.end_time) {
    // A retried finish (same end) succeeds; a different end is a clash.
    if (*r.end_time == end_time) return recording_view(r);
    return fail(Errc::conflict, "recording " + quote(id) + " already finished at " + format_rfc3339(*r.end_time));
  }
  if (end_time < r.start_time) return fail(Errc::invalid_argument, "end_time is before the recording's start");
  std::int64_t retention_ms = 0;
  std::int64_t expires = 0;
  if (__builtin_mul_overflow(static_cast<std::int64_t>(r.retention_days), kDayMs, &retention_ms) ||
      __builtin_add_overflow(end_time, retention_ms, &expires)) {
    return fail(Errc::invalid_argument, "end_time plus retention overflows");
  }
  r.end_time = end_time;
  r.status = status;
  r.expires_at = expires;
  return recording_view(r);
}

Status MemoryCatalog::set_legal_hold(std::string_view id, bool hold) {
  MEMORY_CATALOG_ENTER();
  const auto it = recordings_.find(id);
  if (it == recordings_.end()) return fail(Errc::not_found, "recording " + quote(id) + " not found");
  it->second.recording.legal_hold = hold;
  return {};
}

Result<std::vector<Recording>> MemoryCatalog::list_expired_recordings(EpochMs now, int limit) {
  MEMORY_CATALOG_ENTER();
  std::vector<Recording> out;
  for (const auto& [id, row] : recordings_) {
    const Recording& r = row.recording;
    if (r.expires_at && *r.expires_at <= now && !r.legal_hold) out.push_back(recording_view(r));
  }
  std::sort(out.begin(), out.end(), [](const Recording& a, const Recording& b) {
    return std::tie(*a.expires_at, a.id) < std::tie(*b.expires_at, b.id);
  });
  const auto n = static_cast<std::size_t>(std::clamp(limit, 1, 1000));
  if (out.size() > n) out.resize(n);
  return out;
}

Status MemoryCatalog::delete_recording(std::string_view id) {
  MEMORY_CATALOG_ENTER();
  const std::string key(id);
  segments_.erase(segments_.lower_bound({key, std::numeric_limits<std::int64_t>::min()}),
                  segments_.upper_bound({key, std::numeric_limits<std::int64_t>::max()}));
  event_documents_.erase(event_documents_.lower_bound({key, std::numeric_limits<std::int64_t>::min()}),
                         event_documents_.upper_bound({key, std::numeric_limits<std::int64_t>::max()}));
  std::erase_if(events_, [&](const auto& kv) { return std::get<0>(kv.first) == key; });
  recordings_.erase(key);
  return {};
}

Result<SegmentOutcome> MemoryCatalog::add_segment(const Segment& g) {
  MEMORY_CATALOG_ENTER();
  if (g.seq < 0) return fail(Errc::invalid_argument, "segment seq must be >= 0", "seq");
  if (g.size_bytes < 0) return fail(Errc::invalid_argument, "segment size_bytes must be >= 0", "size_bytes");
  if (g.duration_ms < 0 || g.start_offset_ms < 0) {
    return fail(Errc::invalid_argument, "segment duration and offset must be >= 0", "duration_ms");
  }
  if (!is_sha256_hex(g.sha256)) {
    return fail(Errc::invalid_argument, "segment sha256 must be 64 lowercase hex characters", "sha256");
  }
  if (g.events_sha256 && !is_sha256_hex(*g.events_sha256)) {
    return fail(Errc::invalid_argument, "segment events_sha256 must be 64 lowercase hex characters", "events_sha256");
  }
  const auto rec = recordings_.find(g.recording_id);
  if (rec == recordings_.end()) return fail(Errc::not_found, "recording " + quote(g.recording_id) + " not found");
  const auto [it, inserted] = segments_.emplace(std::pair{g.recording_id, g.seq}, g);
  if (!inserted) {
    if (it->second.sha256 == g.sha256 && it->second.events_sha256 == g.events_sha256) {
      return SegmentOutcome::already_present;
    }
    if (it->second.sha256 == g.sha256) {
      return fail(Errc::conflict, "segment " + std::to_string(g.seq) + " of recording " + quote(g.recording_id) +
                                      " is already stored with " +
                                      (it->second.events_sha256 ? "another events document" : "no events document"));
    }
    return fail(Errc::conflict, "segment " + std::to_string(g.seq) + " of recording " + quote(g.recording_id) +
                                    " already exists with different content");
  }
  Recording& r = rec->second.recording;
  r.size_bytes += g.size_bytes;
  r.segment_count += 1;
  r.duration_ms += g.duration_ms;
  return SegmentOutcome::inserted;
}

Result<Segment> MemoryCatalog::get_segment(std::string_view recording_id, std::int64_t seq) {
  MEMORY_CATALOG_ENTER();
  const auto it = segments_.find({std::string(recording_id), seq});
  if (it == segments_.end()) {
    return fail(Errc::not_found,
                "segment " + std::to_string(seq) + " of recording " + quote(recording_id) + " not found");
  }
  return it->second;
}

Result<std::vector<Segment>> MemoryCatalog::list_segments(std::string_view recording_id) {
  MEMORY_CATALOG_ENTER();
  std::vector<Segment> out;
  const std::string key(recording_id);
  for (auto it = segments_.lower_bound({key, std::numeric_limits<std::int64_t>::min()});
       it != segments_.end() && it->first.first == key; ++it) {
    out.push_back(it->second);
  }
  return out;
}

// --- activity events -----------------------------------------------------------------------

Result<SegmentOutcome> MemoryCatalog::add_event_document(const EventDocument& d,
                                                         const std::vector<events::Event>& events) {
  MEMORY_CATALOG_ENTER();
  if (d.seq < 0) return fail(Errc::invalid_argument, "seq must be >= 0", "seq");
  if (!is_sha256_hex(d.sha256)) {
    return fail(Errc::invalid_argument, "events sha256 must be 64 lowercase hex characters", "sha256");
  }
  if (d.event_count != static_cast<std::int64_t>(events.size())) {
    return fail(Errc::invalid_argument, "event_count does not match the events", "event_count");
  }
  if (!recordings_.contains(d.recording_id)) {
    return fail(Errc::not_found, "recording " + quote(d.recording_id) + " not found");
  }
  const std::string segment = "segment " + std::to_string(d.seq) + " of recording " + quote(d.recording_id);
  if (const auto seg = segments_.find({d.recording_id, d.seq});
      seg != segments_.end() && seg->second.events_sha256 != d.sha256) {
    return fail(Errc::conflict, segment + " is already stored " +
                                    (seg->second.events_sha256 ? "with another events document" : "without events"));
  }
  const auto [it, inserted] = event_documents_.emplace(std::pair{d.recording_id, d.seq}, d);
  if (!inserted) {
    if (it->second.sha256 == d.sha256) return SegmentOutcome::already_present;
    return fail(Errc::conflict, "the events document of " + segment + " is already stored with other bytes");
  }
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto idx = static_cast<std::int64_t>(i);
    events_.emplace(std::tuple{d.recording_id, d.seq, idx}, RecordingEvent{d.recording_id, d.seq, idx, events[i]});
  }
  return SegmentOutcome::inserted;
}

Result<EventDocument> MemoryCatalog::get_event_document(std::string_view recording_id, std::int64_t seq) {
  MEMORY_CATALOG_ENTER();
  const auto it = event_documents_.find({std::string(recording_id), seq});
  if (it == event_documents_.end()) {
    return fail(Errc::not_found,
                "no events document of segment " + std::to_string(seq) + " of recording " + quote(recording_id));
  }
  return it->second;
}

Result<PageOf<RecordingEvent>> MemoryCatalog::list_recording_events(std::string_view recording_id,
                                                                    const EventFilter& f, const Page& page) {
  MEMORY_CATALOG_ENTER();
  const int limit = std::clamp(page.limit, 1, 1000);
  std::optional<std::tuple<std::int64_t, std::int64_t, std::int64_t>> after;
  if (!page.next_token.empty()) {
    auto fields = decode_page_token(page.next_token, "ev", 3);
    if (!fields) return std::unexpected(fields.error());
    auto t = page_token_int((*fields)[0]);
    auto seq = page_token_int((*fields)[1]);
    auto idx = page_token_int((*fields)[2]);
    if (!t) return std::unexpected(t.error());
    if (!seq) return std::unexpected(seq.error());
    if (!idx) return std::unexpected(idx.error());
    after.emplace(*t, *seq, *idx);
  }
  std::vector<RecordingEvent> items;
  for (auto& e : stored_events(std::string(recording_id))) {
    if (!f.types.empty() && !in(f.types, e.event.type)) continue;
    if (f.from_ms && e.event.t_ms < *f.from_ms) continue;
    if (f.to_ms && e.event.t_ms > *f.to_ms) continue;
    if (after && std::tuple{e.event.t_ms, e.seq, e.idx} <= *after) continue;
    items.push_back(std::move(e));
  }
  return make_page(std::move(items), limit, [](const RecordingEvent& e) {
    return encode_page_token("ev", {std::to_string(e.event.t_ms), std::to_string(e.seq), std::to_string(e.idx)});
  });
}

Result<PageOf<EventHit>> MemoryCatalog::search_events(const EventSearch& f, const Page& page) {
  MEMORY_CATALOG_ENTER();
  const int limit = std::clamp(page.limit, 1, 1000);
  using Key = std::tuple<std::int64_t, std::string, std::int64_t, std::int64_t>;
  std::optional<Key> before;
  if (!page.next_token.empty()) {
    auto fields = decode_page_token(page.next_token, "es", 4);
    if (!fields) return std::unexpected(fields.error());
    auto t = page_token_int((*fields)[0]);
    auto seq = page_token_int((*fields)[2]);
    auto idx = page_token_int((*fields)[3]);
    if (!t) return std::unexpected(t.error());
    if (!seq) return std::unexpected(seq.error());
    if (!idx) return std::unexpected(idx.error());
    before.emplace(*t, (*fields)[1], *seq, *idx);
  }
  const auto key_of = [](const EventHit& h) {
    return Key{h.recording_start + h.event.event.t_ms, h.event.recording_id, h.event.seq, h.event.idx};
  };
  std::vector<EventHit> items;
  for (const auto& [id, row] : recordings_) {
    const Recording r = recording_view(row.recording);
    if (!f.computer_id.empty() && r.computer_id != f.computer_id) continue;
    if (!f.pool_id.empty() && r.pool_id != f.pool_id) continue;
    if (!f.username.empty() && r.username != f.username) continue;
    if (f.scope && !in(f.scope->computer_ids, r.computer_id) && !(r.pool_id && in(f.scope->pool_ids, *r.pool_id))) {
      continue;
    }
    for (auto& e : stored_events(r.id)) {
      if (!event_matches(e.event, f.app, f.window_title)) continue;
      if (!f.types.empty() && !in(f.types, e.event.type)) continue;
      const EpochMs at = r.start_time + e.event.t_ms;
      if (f.start_time && at < *f.start_time) continue;
      if (f.end_time && at > *f.end_time) continue;
      EventHit hit{std::move(e), r.computer_id, r.computer_name, r.pool_id, r.username, r.start_time};
      if (before && key_of(hit) >= *before) continue;
      items.push_back(std::move(hit));
    }
  }
  std::sort(items.begin(), items.end(), [&](const EventHit& a, const EventHit& b) { return key_of(a) > key_of(b); });
  return make_page(std::move(items), limit, [&](const EventHit& h) {
    const auto [t, rec, seq, idx] = key_of(h);
    return encode_page_token("es", {std::to_string(t), rec, std::to_string(seq), std::to_string(idx)});
  });
}

// --- users ---------------------------------------------------------------------------------

Status MemoryCatalog::create_user(const User& u) {
  MEMORY_CATALOG_ENTER();
  if (u.id.empty()) return fail(Errc::invalid_argument, "id must not be empty", "id");
  if (u.username.empty()) return fail(Errc::invalid_argument, "username must not be empty", "username");
  const bool taken =
      std::any_of(users_.begin(), users_.end(), [&](const auto& other) { return other.second.username == u.username; });
  if (users_.contains(u.id) || taken) return fail(Errc::conflict, "the username " + quote(u.username) + " is taken");
  users_.emplace(u.id, u);
  return {};
}

Result<User> MemoryCatalog::get_user(std::string_view id) {
  MEMORY_CATALOG_ENTER();
  const auto it = users_.find(id);
  if (it == users_.end()) return fail(Errc::not_found, "user " + quote(id) + " not found");
  return it->second;
}

Result<User> MemoryCatalog::find_user(std::string_view username) {
  MEMORY_CATALOG_ENTER();
  for (const auto& [id, u] : users_) {
    if (u.username == username) return u;
  }
  return fail(Errc::not_found, "user " + quote(username) + " not found");
}

Result<std::vector<User>> MemoryCatalog::list_users() {
  MEMORY_CATALOG_ENTER();
  std::vector<User> out;
  for (const auto& [id, u] : users_) out.push_back(u);
  std::sort(out.begin(), out.end(),
            [](const User& a, const User& b) { return std::tie(a.username, a.id) < std::tie(b.username, b.id); });
  return out;
}

Status MemoryCatalog::update_user(const User& u) {
  MEMORY_CATALOG_ENTER();
  const auto it = users_.find(u.id);
  if (it == users_.end()) return fail(Errc::not_found, "user " + quote(u.id) + " not found");
  User& s = it->second;
  s.password_hash = u.password_hash;
  s.password_changed_at = u.password_changed_at;
  s.disabled = u.disabled;
  s.must_change_password = u.must_change_password;
  s.failed_logins = u.failed_logins;
  s.locked_until = u.locked_until;
  return {};
}

Result<LoginFailures> MemoryCatalog::note_failed_login(std::string_view user_id, EpochMs now, const LockoutRule& rule) {
  MEMORY_CATALOG_ENTER();
  if (rule.max_failures < 1 || rule.base_ms < 1 || rule.max_ms < rule.base_ms) {
    return fail(Errc::invalid_argument, "lockout rule: max_failures and base_ms must be positive, max_ms >= base_ms");
  }
  // The smallest shift at which the lock reaches max_ms (as the SQL backend).
  std::int64_t full_shift = 0;
  while (full_shift < 62 && (rule.base_ms << full_shift) < rule.max_ms) ++full_shift;
  const auto it = users_.find(user_id);
  if (it == users_.end()) return fail(Errc::not_found, "user " + quote(user_id) + " not found");
  User& u = it->second;
  const std::int64_t failures = u.failed_logins + 1;
  if (failures >= rule.max_failures) {
    const std::int64_t beyond = failures - rule.max_failures;
    u.locked_until = beyond >= full_shift ? now + rule.max_ms : now + (rule.base_ms << beyond);
  }
  u.failed_logins = failures;
  return LoginFailures{u.failed_logins, u.locked_until};
}

Status MemoryCatalog::clear_failed_logins(std::string_view user_id) {
  MEMORY_CATALOG_ENTER();
  const auto it = users_.find(user_id);
  if (it == users_.end()) return fail(Errc::not_found, "user " + quote(user_id) + " not found");
  it->second.failed_logins = 0;
  it->second.locked_until = 0;
  return {};
}

Status MemoryCatalog::set_password(std::string_view user_id, std::string_view password_hash, EpochMs changed_at,
                                   bool must_change) {
  MEMORY_CATALOG_ENTER();
  const auto it = users_.find(user_id);
  if (it == users_.end()) return fail(Errc::not_found, "user " + quote(user_id) + " not found");
  it->second.password_hash = std::string(password_hash);
  it->second.password_changed_at = changed_at;
  it->second.must_change_password = must_change;
  return {};
}

Status MemoryCatalog::delete_user(std::string_view id) {
  MEMORY_CATALOG_ENTER();
  const auto it = users_.find(id);
  if (it == users_.end()) return fail(Errc::not_found, "user " + quote(id) + " not found");
  std::erase_if(grants_, [&](const GrantKey& g) { return std::get<0>(g) == id; });
  std::erase_if(tokens_, [&](const auto& t) { return t.second.user_id == id; });
  users_.erase(it);
  return {};
}

Result<std::int64_t> MemoryCatalog::count_users() {
  MEMORY_CATALOG_ENTER();
  return static_cast<std::int64_t>(users_.size());
}

// --- roles ---------------------------------------------------------------------------------

Status MemoryCatalog::upsert_role(const Role& role) {
  MEMORY_CATALOG_ENTER();
  if (role.id.empty()) return fail(Errc::invalid_argument, "role id must not be empty", "id");
  Role stored = role;
  const std::set<std::string> unique(role.permissions.begin(), role.permissions.end());
  stored.permissions.assign(unique.begin(), unique.end());
  roles_[role.id] = std::move(stored);
  return {};
}

Result<Role> MemoryCatalog::get_role(std::string_view id) {
  MEMORY_CATALOG_ENTER();
  const auto it = roles_.find(id);
  if (it == roles_.end()) return fail(Errc::not_found, "role " + quote(id) + " not found");
  return it->second;
}

Result<std::vector<Role>> MemoryCatalog::list_roles() {
  MEMORY_CATALOG_ENTER();
  std::vector<Role> out;
  for (const auto& [id, r] : roles_) out.push_back(r);
  return out;
}

Status MemoryCatalog::delete_role(std::string_view id) {
  MEMORY_CATALOG_ENTER();
  const auto it = roles_.find(id);
  if (it == roles_.end()) return fail(Errc::not_found, "role " + quote(id) + " not found");
  if (it->second.builtin) return fail(Errc::conflict, "role " + quote(id) + " is built in and cannot be deleted");
  const auto n = std::count_if(grants_.begin(), grants_.end(), [&](const GrantKey& g) { return std::get<1>(g) == id; });
  if (n > 0) {
    return fail(Errc::conflict, "role " + quote(id) + " is still granted to " + std::to_string(n) + " user(s)");
  }
  roles_.erase(it);
  return {};
}

namespace {

std::tuple<std::string, std::string, std::string, std::string> grant_key(const RoleGrant& g) {
  return {g.user_id, g.role_id, g.scope_type ? std::string(to_string(*g.scope_type)) : std::string(),
          g.scope_id.value_or("")};
}

}  // namespace

Status MemoryCatalog::grant_role(const RoleGrant& g) {
  MEMORY_CATALOG_ENTER();
  if (auto st = check_grant_scope(g); !st) return st;
  if (!users_.contains(g.user_id)) return fail(Errc::not_found, "user " + quote(g.user_id) + " not found", "user_id");
  if (!roles_.contains(g.role_id)) return fail(Errc::not_found, "role " + quote(g.role_id) + " not found", "role_id");
  grants_.insert(grant_key(g));
  return {};
}

Status MemoryCatalog::revoke_role(const RoleGrant& g) {
  MEMORY_CATALOG_ENTER();
  if (auto st = check_grant_scope(g); !st) return st;
  if (grants_.erase(grant_key(g)) == 0) {
    return fail(Errc::not_found,
                "role " + quote(g.role_id) + " is not granted to user " + quote(g.user_id) + " with that scope");
  }
  return {};
}

Result<std::vector<RoleGrant>> MemoryCatalog::list_grants(std::string_view user_id) {
  MEMORY_CATALOG_ENTER();
  std::vector<RoleGrant> out;
  for (const auto& [uid, rid, type, sid] : grants_) {
    if (uid != user_id) continue;
    RoleGrant g{uid, rid, std::nullopt, std::nullopt};
    if (!type.empty()) {
      g.scope_type = type == "pool" ? TargetType::pool : TargetType::computer;
      g.scope_id = sid;
    }
    out.push_back(std::move(g));
  }
  return out;
}

// --- tokens --------------------------------------------------------------------------------

Status MemoryCatalog::create_token(const ApiToken& t) {
  MEMORY_CATALOG_ENTER();
  if (t.id.empty()) return fail(Errc::invalid_argument, "id must not be empty", "id");
  if (!is_sha256_hex(t.token_sha256)) {
    return fail(Errc::invalid_argument, "token_sha256 must be 64 lowercase hex characters", "token_sha256");
  }
  if (!users_.contains(t.user_id)) return fail(Errc::not_found, "user " + quote(t.user_id) + " not found", "user_id");
  const bool secret_taken = std::any_of(tokens_.begin(), tokens_.end(),
                                        [&](const auto& other) { return other.second.token_sha256 == t.token_sha256; });
  if (tokens_.contains(t.id) || secret_taken) {
    return fail(Errc::conflict, "a token with this id or secret already exists");
  }
  tokens_.emplace(t.id, t);
  return {};
}

Result<ApiToken> MemoryCatalog::find_token(std::string_view token_sha256) {
  MEMORY_CATALOG_ENTER();
  for (const auto& [id, t] : tokens_) {
    if (t.token_sha256 == token_sha256) return t;
  }
  return fail(Errc::not_found, "token not found");
}

Result<ApiToken> MemoryCatalog::get_token(std::string_view id) {
  MEMORY_CATALOG_ENTER();
  const auto it = tokens_.find(id);
  if (it == tokens_.end()) return fail(Errc::not_found, "token " + quote(id) + " not found");
  return it->second;
}

Result<std::vector<ApiToken>> MemoryCatalog::list_tokens(std::string_view user_id) {
  MEMORY_CATALOG_ENTER();
  std::vector<ApiToken> out;
  for (const auto& [id, t] : tokens_) {
    if (user_id.empty() || t.user_id == user_id) out.push_back(t);
  }
  std::sort(out.begin(), out.end(), [](const ApiToken& a, const ApiToken& b) {
    return std::tie(a.created_at, a.id) < std::tie(b.created_at, b.id);
  });
  return out;
}

Status MemoryCatalog::revoke_token(std::string_view id) {
  MEMORY_CATALOG_ENTER();
  const auto it = tokens_.find(id);
  if (it == tokens_.end()) return fail(Errc::not_found, "token " + quote(id) + " not found");
  it->second.revoked = true;
  return {};
}

Result<std::int64_t> MemoryCatalog::revoke_user_tokens(std::string_view user_id, std::optional<TokenKind> kind,
                                                       std::string_view keep_id) {
  MEMORY_CATALOG_ENTER();
  std::int64_t revoked = 0;
  for (auto& [id, t] : tokens_) {
    if (t.revoked || t.user_id != user_id) continue;
    if (kind && token_kind_text(t.kind) != token_kind_text(*kind)) continue;
    if (!keep_id.empty() && id == keep_id) continue;
    t.revoked = true;
    ++revoked;
  }
  return revoked;
}

Status MemoryCatalog::touch_token(std::string_view id, EpochMs at) {
  MEMORY_CATALOG_ENTER();
  const auto it = tokens_.find(id);
  if (it == tokens_.end()) return fail(Errc::not_found, "token " + quote(id) + " not found");
  it->second.last_used_at = at;
  return {};
}

// --- audit log ---------------------------------------------------------------------------

Result<AuditEntry> MemoryCatalog::append_audit(AuditEntry entry) {
  MEMORY_CATALOG_ENTER();
  if (entry.action.empty()) return fail(Errc::invalid_argument, "audit action must not be empty", "action");
  entry.seq = audit_.empty() ? 1 : audit_.back().seq + 1;
  entry.prev_hash = audit_.empty() ? std::string() : audit_.back().hash;
  entry.hash = audit_entry_hash(entry);
  audit_.push_back(entry);
  return entry;
}

Result<PageOf<AuditEntry>> MemoryCatalog::list_audit(const AuditFilter& f, const Page& page) {
  MEMORY_CATALOG_ENTER();
  const int limit = clamp_limit(page.limit);
  std::optional<std::int64_t> before;
  if (!page.next_token.empty()) {
    auto fields = decode_page_token(page.next_token, "a", 1);
    if (!fields) return std::unexpected(fields.error());
    auto seq = page_token_int((*fields)[0]);
    if (!seq) return std::unexpected(seq.error());
    before = *seq;
  }
  std::vector<AuditEntry> items;
  for (auto it = audit_.rbegin(); it != audit_.rend(); ++it) {
    const AuditEntry& e = *it;
    if (before && e.seq >= *before) continue;
    if (!f.actor.empty() && e.actor != f.actor) continue;
    if (!f.action.empty() && (f.action.ends_with('.') ? !e.action.starts_with(f.action) : e.action != f.action)) {
      continue;
    }
    if (!f.target.empty() && e.target != f.target) continue;
    if (f.start_time && e.time < *f.start_time) continue;
    if (f.end_time && e.time > *f.end_time) continue;
    items.push_back(e);
    // One past the limit says a next page exists; no need to read further.
    if (items.size() > static_cast<std::size_t>(limit)) break;
  }
  return make_page(std::move(items), limit,
                   [](const AuditEntry& e) { return encode_page_token("a", {std::to_string(e.seq)}); });
}

Result<std::vector<AuditEntry>> MemoryCatalog::audit_after(std::int64_t after_seq, int limit) {
  MEMORY_CATALOG_ENTER();
  const auto n = static_cast<std::size_t>(std::clamp(limit, 1, 5000));
  std::vector<AuditEntry> out;
  for (const auto& e : audit_) {
    if (e.seq <= after_seq) continue;
    out.push_back(e);
    if (out.size() == n) break;
  }
  return out;
}

Result<AuditCheckpoint> MemoryCatalog::sign_audit_head(std::string_view key_id, const CheckpointSigner& sign,
                                                       std::string_view kind, std::string_view replica, EpochMs now) {
  MEMORY_CATALOG_ENTER();
  if (key_id.empty() || kind.empty()) {
    return fail(Errc::invalid_argument, "checkpoint key id and kind must not be empty");
  }
  if (audit_.empty()) return fail(Errc::not_found, "the audit log is empty: nothing to sign");
  const AuditEntry& head = audit_.back();
  const AuditCheckpoint* last = checkpoints_.empty() ? nullptr : &checkpoints_.back();
  if (last != nullptr) {
    // Never sign over a log that no longer holds what was signed before.
    const auto at = std::find_if(audit_.begin(), audit_.end(), [&](const AuditEntry& e) { return e.seq == last->seq; });
    if (at == audit_.end() || at->hash != last->entry_hash) {
      return fail(Errc::conflict, "the audit log no longer matches checkpoint n=" + std::to_string(last->n) + " (seq " +
                                      std::to_string(last->seq) + "): not signing over it; run deskaudit audit verify");
    }
    if (last->seq == head.seq) return *last;
  }
  AuditCheckpoint cp;
  cp.n = last != nullptr ? last->n + 1 : 1;
  cp.seq = head.seq;
  cp.entry_hash = head.hash;
  cp.prev_signature = last != nullptr ? last->signature : "";
  cp.signed_at = now;
  cp.kind = std::string(kind);
  cp.replica = std::string(replica);
  cp.key_id = std::string(key_id);
  cp.signature = sign(audit::signed_message(cp));
  checkpoints_.push_back(cp);
  return cp;
}

Result<std::vector<AuditCheckpoint>> MemoryCatalog::audit_checkpoints_after(std::int64_t after_n, int limit) {
  MEMORY_CATALOG_ENTER();
  const auto n = static_cast<std::size_t>(std::clamp(limit, 1, 5000));
  std::vector<AuditCheckpoint> out;
  for (const auto& cp : checkpoints_) {
    if (cp.n <= after_n) continue;
    out.push_back(cp);
    if (out.size() == n) break;
  }
  return out;
}

Status MemoryCatalog::publish_key(const PublishedKey& key) {
  MEMORY_CATALOG_ENTER();
  if (key.key_id.empty() || key.public_key.empty()) {
    return fail(Errc::invalid_argument, "key id and public key must not be empty");
  }
  published_keys_.try_emplace(key.key_id, key);
  return {};
}

Result<std::vector<PublishedKey>> MemoryCatalog::list_published_keys() {
  MEMORY_CATALOG_ENTER();
  std::vector<PublishedKey> out;
  for (const auto& [id, k] : published_keys_) out.push_back(k);
  std::sort(out.begin(), out.end(), [](const PublishedKey& a, const PublishedKey& b) {
    return std::tie(a.first_seen_at, a.key_id) < std::tie(b.first_seen_at, b.key_id);
  });
  return out;
}

Status MemoryCatalog::overwrite_audit_entry(const AuditEntry& entry) {
  std::lock_guard lock(mu_);
  for (auto& e : audit_) {
    if (e.seq == entry.seq) {
      e = entry;
      return {};
    }
  }
  return fail(Errc::not_found, "audit entry " + std::to_string(entry.seq) + " not found");
}

// --- leases --------------------------------------------------------------------------------

Result<bool> MemoryCatalog::acquire_lease(std::string_view name, std::string_view holder, EpochMs now,
                                          std::int64_t ttl_ms) {
  MEMORY_CATALOG_ENTER();
  if (name.empty() || holder.empty()) return fail(Errc::invalid_argument, "lease name and holder must not be empty");
  if (ttl_ms <= 0) return fail(Errc::invalid_argument, "lease ttl must be positive", "ttl_ms");
  std::int64_t until = 0;
  if (__builtin_add_overflow(now, ttl_ms, &until)) return fail(Errc::invalid_argument, "lease expiry overflows");
  const auto it = leases_.find(name);
  if (it == leases_.end()) {
    leases_.emplace(std::string(name), Lease{std::string(holder), until});
    return true;
  }
  if (it->second.holder != holder && it->second.expires_at > now) return false;
  it->second = Lease{std::string(holder), until};
  return true;
}

#undef MEMORY_CATALOG_ENTER

}  // namespace deskaudit::testing
