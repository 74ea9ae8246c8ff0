#pragma once
// Recordings as evidence (docs/evidence.md): the server's signed manifest of
// a recording and the portable evidence package.
//
// The manifest is written once, when the recording finishes (and, for a
// recording finished before this existed or whose write failed, at its
// first export), as one object (storage::manifest_key) holding the canonical
// manifest text and the server's signature over it, so replicas racing to
// write it never leave a manifest and a signature that do not belong
// together. It is signed with the server's key service (keys::KeyService,
// the audit log's signer). A stored manifest is never rewritten: one that
// cannot be read back is corrupt, not silently replaced. A recording still
// in progress gets a fresh, signed but unstored manifest at each export.
//
// Export: scope and permission as a download (recording:download; outside
// the scope not_found), written to the audit log as recording.export before
// a byte leaves (unavailable when the entry cannot be written), every time.
// Thread safety: every method may be called from many threads at once; the
// returned reader may be called from any thread while the service lives.
#include <memory>
#include <string>
#include <string_view>

#include "catalog/catalog.hpp"
#include "common/error.hpp"
#include "common/time.hpp"
#include "evidence/manifest.hpp"
#include "keys/key_service.hpp"
#include "service/audit_log.hpp"
#include "service/caller.hpp"
#include "service/media_service.hpp"
#include "service/recording_service.hpp"
#include "storage/object_store.hpp"

namespace deskaudit::service {

struct SignedManifest {
  std::string manifest_json;  // the exact signed bytes
  keys::Signature signature;
  std::vector<evidence::AgentKeyInfo> agent_keys;
  bool stored = false;  // kept in the object store (finished recordings)
};

class EvidenceService {
 public:
  EvidenceService(catalog::Catalog& catalog, storage::ObjectStore& store, AuditLog& audit,
                  std::shared_ptr<const Clock> clock, const keys::KeyService& keys, RecordingService& recordings,
                  MediaService& media);

  // The manifest of a recording (no scope check: the finish path and
  // export). Finished: the stored one, written now when absent. In progress:
  // a fresh one, not stored.
  Result<SignedManifest> manifest(const catalog::Recording& recording);

  // The evidence package as one ustar file (see evidence/tar.hpp):
  // recording.mp4, segments/NNNNNN.m4s, events/NNNNNN.json (each stored
  // events document), manifest.json, manifest.sig, keys.json. not_found
  // before the first segment; too_large when a member exceeds 8 GiB - 1.
  Result<MediaFile> export_package(const Caller& who, std::string_view recording_id);

 private:
  Result<SignedManifest> build(const catalog::Recording& recording);

  catalog::Catalog& catalog_;
  storage::ObjectStore& store_;
  AuditLog& audit_;
  std::shared_ptr<const Clock> clock_;
  const keys::KeyService& keys_;
  RecordingService& recordings_;
  MediaService& media_;
};

}  // namespace deskaudit::service
