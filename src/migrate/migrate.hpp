#pragma once
// deskaudit-migrate: moves an installation from one catalog + object store to
// another (typically the embedded SQLite + local directory to PostgreSQL +
// an S3 bucket). The catalog is copied first (catalog::copy_catalog), then
// every object under its own key.
//
// Restartable: objects already in the target with the same size are
// skipped, so a run that failed half way through the objects is finished by
// running again with skip_catalog (the catalog copy refuses a non-empty
// target; its error says so). Nothing may write to the source meanwhile:
// stop the server first. Blocking; not thread-safe against itself.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "storage/object_store.hpp"

namespace deskaudit::migrate {

struct MigrateOptions {
  std::string from_catalog;  // catalog URL (make_catalog)
  std::string from_store;    // object store URL (make_object_store)
  std::string to_catalog;
  std::string to_store;
  storage::S3Options s3;      // for whichever side is s3:// (credentials from the environment when empty)
  bool skip_catalog = false;  // objects only (finishing an interrupted run)
  int batch_rows = 200;
  // Progress lines for a human; may be empty.
  std::function<void(std::string_view)> progress;
};

struct ObjectCopyReport {
  std::int64_t copied = 0;
  std::int64_t skipped = 0;  // already present with the same size
  std::uint64_t bytes_copied = 0;
};

struct MigrateReport {
  std::int64_t catalog_rows = 0;
  int catalog_tables = 0;
  ObjectCopyReport objects;
};

// Copies every object of `from` to `to` under the same key, streaming each
// through a private temporary file, and checks the copy's size with head().
// Errors name the key.
Result<ObjectCopyReport> copy_objects(storage::ObjectStore& from, storage::ObjectStore& to,
                                      const std::function<void(std::string_view)>& progress = {});

// The whole migration. Errors say which step failed and what to fix.
Result<MigrateReport> run_migration(const MigrateOptions& options);

// Parses the command line (argv[0] included). --from-data-dir DIR stands for
// --from-catalog sqlite://DIR/catalog.db --from-store file://DIR/objects.
// invalid_argument with the usage problem; `help` set when --help was asked
// (then the returned text is the usage).
// What a run does: the copy above, or maintenance of one store's encryption
// at rest (docs/encryption.md) in place: encrypt its plaintext objects
// (storage::encrypt_in_place), or rewrap its data keys under the current
// master key (storage::rotate_data_keys). Both are restartable.
enum class Mode { copy, encrypt_in_place, rotate_master_key };

struct ParsedArgs {
  Mode mode = Mode::copy;
  std::string store;                            // --store, for the maintenance modes
  std::filesystem::path encryption_key_file;    // else DESKAUDIT_ENCRYPTION_KEY
  // --catalog: the servers' catalog URL, required with --rotate-master-key:
  // the rotation is written to their audit log (action
  // encryption.master_key_rotate, actor deskaudit-migrate).
  std::string catalog;
  MigrateOptions options;
  // The source server's data_dir (--from-data-dir) and where the new
  // servers keep theirs (--to-data-dir): the audit log's signing key,
  // trusted keys and witness live outside the catalog and move with it.
  std::filesystem::path from_data_dir;
  std::filesystem::path to_data_dir;
  bool help = false;
  std::string help_text;
};
Result<ParsedArgs> parse_args(const std::vector<std::string>& args);

// The files of a server's data_dir that its audit log needs besides the
// catalog (signing.key 0600, trusted-keys, audit-witness.json 0600).
inline constexpr const char* kKeyFiles[] = {"signing.key", "trusted-keys", "audit-witness.json"};
// Copies those of kKeyFiles that exist in `from` into `to` (created 0700),
// keeping their modes. conflict when `to` already holds a different file of
// that name (never overwritten); the same bytes are skipped. Returns how
// many files were copied.
Result<int> copy_key_files(const std::filesystem::path& from, const std::filesystem::path& to);

// The maintenance modes. env_key: DESKAUDIT_ENCRYPTION_KEY's value, or "".
// Returns the summary line. A master-key rotation opens args.catalog before
// touching the store and, once every data key is under the new key, appends
// the audit entry (old_key_ids, new_key_id, counts) through service::AuditLog;
// the servers' signer covers it with their next checkpoint. A failed or
// interrupted rotation writes no entry: its rerun does.
Result<std::string> run_encryption_maintenance(const ParsedArgs& args, std::string_view env_key);

// main(): parses, runs, prints progress and a summary; returns the exit code
// (0 ok, 2 usage, 1 failure).
int run_cli(const std::vector<std::string>& args);

}  // namespace deskaudit::migrate
