#include "migrate/migrate.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <map>
#include <system_error>

#include "catalog/catalog.hpp"
#include "catalog/copy.hpp"
#include "common/fs.hpp"
#include "service/audit_log.hpp"
#include "storage/encrypted_store.hpp"

namespace deskaudit::migrate {

namespace {

// A private (0700) scratch directory, removed with its contents.
class ScratchDir {
 public:
  static Result<ScratchDir> create() {
    std::error_code ec;
    auto base = std::filesystem::temp_directory_path(ec);
    if (ec) base = "/tmp";
    std::string pattern = (base / "deskaudit-migrate-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) return fail(Errc::io, errno_message("mkdtemp " + pattern, errno));
    return ScratchDir(pattern);
  }
  ScratchDir(ScratchDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  ScratchDir& operator=(ScratchDir&&) = delete;
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  explicit ScratchDir(std::filesystem::path p) : path_(std::move(p)) {}
  std::filesystem::path path_;
};

void say(const std::function<void(std::string_view)>& progress, const std::string& line) {
  if (progress) progress(line);
}

// Source object -> scratch file -> target, then the target's size is checked.
Status copy_one(storage::ObjectStore& from, storage::ObjectStore& to, const storage::ObjectInfo& object,
                const std::filesystem::path& scratch) {
  const auto file = scratch / "object";
  {
    UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) return fail(Errc::io, errno_message("open " + file.string(), errno));
    Status written;
    auto read = from.read(object.key, {}, [&](std::span<const std::byte> bytes) {
      written = write_all(fd.get(), bytes.data(), bytes.size(), "write " + file.string());
      return written.has_value();
    });
    if (!written) return std::unexpected(written.error());
    if (!read) return std::unexpected(with_context(read.error(), "reading " + object.key + " from the source"));
    if (*read != object.size_bytes) {
      return fail(Errc::corrupt, "object " + object.key + ": read " + std::to_string(*read) + " bytes, listed as " +
                                     std::to_string(object.size_bytes) + " (is something writing to the source?)");
    }
  }
  if (auto st = to.put_file(object.key, file); !st) {
    return std::unexpected(with_context(st.error(), "writing " + object.key + " to the target"));
  }
  auto head = to.head(object.key);
  if (!head) return std::unexpected(with_context(head.error(), "checking " + object.key + " in the target"));
  if (!*head || (*head)->size_bytes != object.size_bytes) {
    return fail(Errc::corrupt, "object " + object.key + " in the target has size " +
                                   (*head ? std::to_string((*head)->size_bytes) : std::string("(absent)")) +
                                   ", expected " + std::to_string(object.size_bytes));
  }
  return {};
}

}  // namespace

Result<ObjectCopyReport> copy_objects(storage::ObjectStore& from, storage::ObjectStore& to,
                                      const std::function<void(std::string_view)>& progress) {
  auto source = from.list("");
  if (!source) return std::unexpected(with_context(source.error(), "listing the source store " + from.describe()));
  auto existing = to.list("");
  if (!existing) return std::unexpected(with_context(existing.error(), "listing the target store " + to.describe()));
  std::map<std::string, std::uint64_t, std::less<>> present;
  for (const auto& o : *existing) present.emplace(o.key, o.size_bytes);
  auto scratch = ScratchDir::create();
  if (!scratch) return std::unexpected(scratch.error());

  ObjectCopyReport report;
  const auto total = source->size();
  std::size_t done = 0;
  for (const auto& object : *source) {
    ++done;
    if (auto it = present.find(object.key); it != present.end() && it->second == object.size_bytes) {
      ++report.skipped;
    } else {
      if (auto st = copy_one(from, to, object, scratch->path()); !st) return std::unexpected(st.error());
      ++report.copied;
      report.bytes_copied += object.size_bytes;
    }
    if (done % 100 == 0 || done == total) {
      say(progress, "objects: " + std::to_string(done) + "/" + std::to_string(total) + " (" +
                        std::to_string(report.copied) + " copied, " + std::to_string(report.skipped) +
                        " already present)");
    }
  }
  return report;
}

Result<MigrateReport> run_migration(const MigrateOptions& o) {
  for (auto [value, flag] : {std::pair{&o.from_catalog, "--from-catalog (or --from-data-dir)"},
                             std::pair{&o.from_store, "--from-store (or --from-data-dir)"},
                             std::pair{&o.to_catalog, "--to-catalog"}, std::pair{&o.to_store, "--to-store"}}) {
    if (value->empty()) return fail(Errc::invalid_argument, std::string("missing ") + flag);
  }
  // Both stores are opened before the catalog is touched, so a wrong store
  // URL fails before anything is written.
  auto from_store = storage::make_object_store(o.from_store, o.s3);
  if (!from_store) return std::unexpected(with_context(from_store.error(), "source store"));
  auto to_store = storage::make_object_store(o.to_store, o.s3);
  if (!to_store) return std::unexpected(with_context(to_store.error(), "target store"));
  if ((*from_store)->describe() == (*to_store)->describe()) {
    return fail(Errc::invalid_argument, "source and target store are the same: " + (*to_store)->describe());
  }

  MigrateReport report;
  if (o.skip_catalog) {
    say(o.progress, "catalog: skipped (--objects-only)");
  } else {
    say(o.progress, "catalog: copying tables");
    catalog::CopyOptions copy;
    copy.batch_rows = o.batch_rows;
    copy.on_table = [&](const catalog::TableCopied& t) {
      say(o.progress, "catalog: " + t.table + ": " + std::to_string(t.rows) + " rows");
    };
    auto copied = catalog::copy_catalog(o.from_catalog, o.to_catalog, copy);
    if (!copied) {
      Error e = with_context(copied.error(), "copying the catalog");
      if (e.code == Errc::conflict && e.message.find("not empty") != std::string::npos) {
        e.message +=
            " (if an earlier run copied the catalog and stopped during the objects, rerun with --objects-only)";
      }
      return std::unexpected(std::move(e));
    }
    report.catalog_rows = copied->total_rows;
    report.catalog_tables = static_cast<int>(copied->tables.size());
  }
  say(o.progress, "objects: " + (*from_store)->describe() + " -> " + (*to_store)->describe());
  auto objects = copy_objects(**from_store, **to_store, o.progress);
  if (!objects) return std::unexpected(with_context(objects.error(), "copying objects"));
  report.objects = *objects;
  return report;
}

Result<ParsedArgs> parse_args(const std::vector<std::string>& args) {
  ParsedArgs out;
  auto& o = out.options;
  std::string data_dir, to_data_dir;
  bool virtual_host = false;
  CLI::App app{
      "deskaudit-migrate: copy a deskaudit catalog and its objects to another catalog and store\n"
      "(stop the server first; S3 credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)\n"
      "or, with --encrypt-in-place / --rotate-master-key, maintain one store's encryption at rest"};
  bool encrypt = false, rotate = false;
  app.add_flag("--encrypt-in-place", encrypt,
               "encrypt every plaintext object of --store in place with the master key (restartable)");
  app.add_flag("--rotate-master-key", rotate,
               "rewrap the data keys of --store under the first key of the key file; the file's other keys "
               "unwrap the old ones (restartable; recordings are not rewritten)");
  app.add_option("--catalog", out.catalog,
                 "with --rotate-master-key: the servers' catalog URL (sqlite:///... or postgresql://...), "
                 "whose audit log records the rotation");
  app.add_option("--store", out.store, "the store to maintain (file:///... or s3://bucket/prefix)");
  app.add_option("--encryption-key-file", out.encryption_key_file,
                 "master keys, one base64 32-byte key per line, current first, mode 0600 "
                 "(default: DESKAUDIT_ENCRYPTION_KEY)");
  app.add_option("--from-data-dir", data_dir, "source data directory (its catalog.db and objects/)");
  app.add_option("--from-catalog", o.from_catalog, "source catalog URL (sqlite:///... or postgresql://...)");
  app.add_option("--from-store", o.from_store, "source object store URL (file:///... or s3://bucket/prefix)");
  app.add_option("--to-data-dir", to_data_dir,
                 "the new servers' data_dir: receives the audit log's signing key, trusted keys and witness "
                 "(with --from-data-dir)");
  app.add_option("--to-catalog", o.to_catalog, "target catalog URL (an empty database)");
  app.add_option("--to-store", o.to_store, "target object store URL");
  app.add_option("--s3-endpoint", o.s3.endpoint, "S3 endpoint, e.g. http://127.0.0.1:4568 (default AWS)");
  app.add_option("--s3-region", o.s3.region, "S3 region")->capture_default_str();
  app.add_flag("--s3-virtual-host", virtual_host, "virtual-host-style bucket addressing (default path style)");
  app.add_flag("--objects-only", o.skip_catalog, "skip the catalog copy (finish an interrupted object copy)");
  app.add_option("--batch-rows", o.batch_rows, "rows per INSERT")->check(CLI::Range(1, 10000));
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    out.help = true;
    out.help_text = app.help();
    return out;
  } catch (const CLI::ParseError& e) {
    return fail(Errc::invalid_argument, e.what());
  }
  if (virtual_host) o.s3.path_style = false;
  if (encrypt || rotate) {
    if (encrypt && rotate) return fail(Errc::invalid_argument, "give --encrypt-in-place or --rotate-master-key, not both");
    out.mode = encrypt ? Mode::encrypt_in_place : Mode::rotate_master_key;
    if (out.store.empty()) return fail(Errc::invalid_argument, "--store is required with --encrypt-in-place and --rotate-master-key");
    if (!data_dir.empty() || !o.from_catalog.empty() || !o.from_store.empty() || !o.to_catalog.empty() ||
        !o.to_store.empty()) {
      return fail(Errc::invalid_argument, "--encrypt-in-place and --rotate-master-key work on --store alone");
    }
    if (rotate && out.catalog.empty()) {
      return fail(Errc::invalid_argument,
                  "--catalog is required with --rotate-master-key (the rotation is written to its audit log)");
    }
    if (!rotate && !out.catalog.empty()) return fail(Errc::invalid_argument, "--catalog goes with --rotate-master-key");
    return out;
  }
  if (!out.catalog.empty()) return fail(Errc::invalid_argument, "--catalog goes with --rotate-master-key");
  if (!out.store.empty() || !out.encryption_key_file.empty()) {
    return fail(Errc::invalid_argument, "--store and --encryption-key-file go with --encrypt-in-place or --rotate-master-key");
  }
  if (o.to_catalog.empty()) return fail(Errc::invalid_argument, "--to-catalog is required");
  if (o.to_store.empty()) return fail(Errc::invalid_argument, "--to-store is required");
  if (!data_dir.empty()) {
    if (!o.from_catalog.empty() || !o.from_store.empty()) {
      return fail(Errc::invalid_argument,
                  "--from-data-dir replaces --from-catalog and --from-store: give one or the other");
    }
    std::error_code ec;
    const auto dir = std::filesystem::absolute(data_dir, ec);
    if (ec || !std::filesystem::is_directory(dir, ec)) {
      return fail(Errc::invalid_argument, "--from-data-dir " + data_dir + " is not a directory");
    }
    if (!std::filesystem::exists(dir / "catalog.db", ec)) {
      return fail(Errc::invalid_argument,
                  "--from-data-dir " + data_dir + " holds no catalog.db (is it the server's data_dir?)");
    }
    out.from_data_dir = dir;
    o.from_catalog = "sqlite://" + (dir / "catalog.db").string();
    o.from_store = "file://" + (dir / "objects").string();
  }
  if (!to_data_dir.empty()) {
    if (data_dir.empty()) return fail(Errc::invalid_argument, "--to-data-dir goes with --from-data-dir");
    out.to_data_dir = std::filesystem::absolute(to_data_dir);
  }
  if (o.from_catalog.empty() && !o.skip_catalog)
    return fail(Errc::invalid_argument, "give --from-data-dir or --from-catalog");
  if (o.from_store.empty()) return fail(Errc::invalid_argument, "give --from-data-dir or --from-store");
  return out;
}

Result<int> copy_key_files(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (auto st = ensure_private_dir(to); !st) return std::unexpected(st.error());
  int copied = 0;
  for (const char* name : kKeyFiles) {
    std::error_code ec;
    const auto src = from / name;
    if (!std::filesystem::exists(src, ec)) continue;
    auto bytes = read_file(src, 1u << 20);
    if (!bytes) return std::unexpected(bytes.error());
    const auto dst = to / name;
    if (std::filesystem::exists(dst, ec)) {
      auto have = read_file(dst, 1u << 20);
      if (have && *have == *bytes) continue;
      return fail(Errc::conflict, dst.string() + " already exists with other contents; move it away first");
    }
    const auto mode = static_cast<unsigned>(std::filesystem::status(src, ec).permissions() & std::filesystem::perms::mask);
    if (auto st = write_file_atomic(dst, *bytes, mode); !st) return std::unexpected(st.error());
    ++copied;
  }
  return copied;
}

Result<std::string> run_encryption_maintenance(const ParsedArgs& args, std::string_view env_key) {
  auto keys = storage::load_master_keys(args.encryption_key_file, args.encryption_key_file.empty() ? env_key : "");
  if (!keys) return std::unexpected(keys.error());
  auto store = storage::make_object_store(args.store, args.options.s3);
  if (!store) return std::unexpected(with_context(store.error(), "--store"));
  const auto& progress = args.options.progress;
  if (args.mode == Mode::rotate_master_key) {
    auto catalog = catalog::make_catalog(args.catalog, 1);
    if (!catalog) return std::unexpected(with_context(catalog.error(), "--catalog"));
    auto report = storage::rotate_data_keys(**store, **keys, progress);
    if (!report) return std::unexpected(with_context(report.error(), "rotating the master key"));
    service::AuditLog audit(**catalog, std::make_shared<SystemClock>());
    const auto new_key = (*keys)->current_key_id();
    service::Caller tool;
    tool.actor = "deskaudit-migrate";
    if (auto st = audit.record_required(tool, "encryption.master_key_rotate", new_key,
                                        {{"old_key_ids", report->old_key_ids},
                                         {"new_key_id", new_key},
                                         {"rewrapped", report->rewrapped},
                                         {"already_current", report->already_current},
                                         {"store", (*store)->describe()}});
        !st) {
      return std::unexpected(with_context(st.error(),
                                          "the data keys are rewrapped, but writing the audit entry "
                                          "failed (rerun to write it)"));
    }
    return "done: " + std::to_string(report->rewrapped) + " data keys rewrapped under master key " +
           (*keys)->current_key_id() + ", " + std::to_string(report->already_current) +
           " already were; the older keys may now leave the key file";
  }
  auto encrypted = storage::EncryptedObjectStore::open(std::move(*store), *keys, {});
  if (!encrypted) return std::unexpected(encrypted.error());
  auto report = storage::encrypt_in_place(**encrypted, progress);
  if (!report) return std::unexpected(with_context(report.error(), "encrypting in place (rerun to continue)"));
  return "done: " + std::to_string(report->encrypted) + " objects encrypted (" +
         std::to_string(report->bytes_encrypted) + " bytes), " + std::to_string(report->already_encrypted) +
         " already were";
}

int run_cli(const std::vector<std::string>& args) {
  auto parsed = parse_args(args);
  if (!parsed) {
    std::fprintf(stderr, "deskaudit-migrate: %s\n(run with --help for usage)\n", parsed.error().message.c_str());
    return 2;
  }
  if (parsed->help) {
    std::fputs(parsed->help_text.c_str(), stdout);
    return 0;
  }
  auto options = parsed->options;
  options.progress = [](std::string_view line) {
    std::fprintf(stdout, "%.*s\n", static_cast<int>(line.size()), line.data());
    std::fflush(stdout);
  };
  if (parsed->mode != Mode::copy) {
    parsed->options.progress = options.progress;
    const char* env_key = std::getenv("DESKAUDIT_ENCRYPTION_KEY");
    auto done = run_encryption_maintenance(*parsed, env_key ? env_key : "");
    if (!done) {
      std::fprintf(stderr, "deskaudit-migrate: failed: %s\n", done.error().message.c_str());
      return 1;
    }
    std::fprintf(stdout, "%s\n", done->c_str());
    return 0;
  }
  auto report = run_migration(options);
  if (!report) {
    std::fprintf(stderr, "deskaudit-migrate: failed: %s\n", report.error().message.c_str());
    return 1;
  }
  if (!parsed->to_data_dir.empty()) {
    auto keys = copy_key_files(parsed->from_data_dir, parsed->to_data_dir);
    if (!keys) {
      std::fprintf(stderr, "deskaudit-migrate: copying the audit log's keys failed: %s\n", keys.error().message.c_str());
      return 1;
    }
    std::fprintf(stdout, "audit log keys: %d files copied to %s\n", *keys, parsed->to_data_dir.string().c_str());
  } else if (!parsed->from_data_dir.empty()) {
    std::fprintf(stdout,
                 "note: the audit log's signing key, trusted keys and witness stay in %s: copy signing.key, "
                 "trusted-keys and audit-witness.json to the new servers' data_dir (or rerun with --to-data-dir), "
                 "or their audit-log verify reports the signatures as made by an untrusted key\n",
                 parsed->from_data_dir.string().c_str());
  }
  std::fprintf(stdout, "done: %lld catalog rows in %d tables; %lld objects copied (%llu bytes), %lld already present\n",
               static_cast<long long>(report->catalog_rows), report->catalog_tables,
               static_cast<long long>(report->objects.copied),
               static_cast<unsigned long long>(report->objects.bytes_copied),
               static_cast<long long>(report->objects.skipped));
  return 0;
}

}  // namespace deskaudit::migrate
