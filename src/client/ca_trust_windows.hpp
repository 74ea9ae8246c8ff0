#pragma once
// A private CA on Windows (HttpClientOptions::ca_file): WinHTTP cannot take a
// PEM file, so http_winhttp.cpp lets SChannel finish the handshake without
// its own CA check and verifies the server's certificate here, against the
// CA file's certificates only, before the request goes out (docs/windows.md,
// "A private CA"). The same rule as curl's CAINFO on Linux: the chain must
// reach a certificate of the file; a public CA in the Windows store does not
// count.
#include <windows.h>
//
#include <wincrypt.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace deskaudit::client {

struct CertStoreCloser {
  void operator()(HCERTSTORE store) const noexcept { CertCloseStore(store, 0); }
};
using CertStorePtr = std::unique_ptr<void, CertStoreCloser>;

// The certificates of a PEM file ("-----BEGIN CERTIFICATE-----" blocks; other
// blocks and text between them are skipped) in a memory store. Errors name the
// file: not_found (missing), io (unreadable), invalid_argument (larger than
// 1 MiB, no certificate in it, a block that is not base64 DER of a
// certificate). `text`, when given, receives the file's bytes.
Result<CertStorePtr> load_ca_file(const std::filesystem::path& pem, std::string* text = nullptr);

// Whether `cert` (the server's, with the intermediates it sent in its store)
// may be trusted for `host` (a DNS name or an IPv4/IPv6 literal, brackets
// allowed): its chain, built for server authentication, reaches a certificate
// of `ca` byte for byte; no element is expired, not yet valid, revoked, badly
// signed or not for server authentication; and the host is one the certificate
// names (a DNS name against its DNS entries, or its common name when it has
// none, by dns_name_matches in http.hpp; an IP literal against its IP address
// entries, compared as bytes).
// The error (Errc::unavailable) says which, in words for an administrator.
Status verify_server_certificate(PCCERT_CONTEXT cert, HCERTSTORE ca, std::wstring_view host);

}  // namespace deskaudit::client
