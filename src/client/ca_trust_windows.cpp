#include <winsock2.h>
#include <ws2tcpip.h>
//
#include "client/ca_trust_windows.hpp"

#include <cstring>
#include <vector>

#include "client/http.hpp"
#include "common/fs.hpp"
#include "common/utf16.hpp"
#include "common/win_handle.hpp"

namespace deskaudit::client {
namespace {

constexpr std::size_t kMaxCaFileBytes = 1u << 20;

struct ChainFree {
  void operator()(PCCERT_CHAIN_CONTEXT chain) const noexcept { CertFreeCertificateChain(chain); }
};
using ChainPtr = std::unique_ptr<const CERT_CHAIN_CONTEXT, ChainFree>;

std::string hex(DWORD value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08lx", static_cast<unsigned long>(value));
  return text;
}

// The first error bit of a chain's status, in words.
std::string chain_error_words(DWORD status) {
  if (status & CERT_TRUST_IS_NOT_TIME_VALID) return "a certificate of its chain has expired or is not valid yet";
  if (status & CERT_TRUST_IS_REVOKED) return "a certificate of its chain is revoked";
  if (status & CERT_TRUST_IS_NOT_SIGNATURE_VALID) return "a signature in its chain does not verify";
  if (status & CERT_TRUST_IS_NOT_VALID_FOR_USAGE) return "its chain is not for server authentication";
  if (status & CERT_TRUST_IS_CYCLIC) return "its chain is cyclic";
  if (status & (CERT_TRUST_INVALID_BASIC_CONSTRAINTS | CERT_TRUST_INVALID_NAME_CONSTRAINTS |
                CERT_TRUST_HAS_NOT_SUPPORTED_NAME_CONSTRAINT | CERT_TRUST_HAS_NOT_DEFINED_NAME_CONSTRAINT |
                CERT_TRUST_HAS_NOT_PERMITTED_NAME_CONSTRAINT | CERT_TRUST_HAS_EXCLUDED_NAME_CONSTRAINT))
    return "a certificate of its chain breaks its issuer's constraints";
  return "its chain has errors (" + hex(status) + ")";
}

bool same_certificate(PCCERT_CONTEXT a, PCCERT_CONTEXT b) {
  return a->cbCertEncoded == b->cbCertEncoded && std::memcmp(a->pbCertEncoded, b->pbCertEncoded, a->cbCertEncoded) == 0;
}

bool in_store(PCCERT_CONTEXT cert, HCERTSTORE store) {
  for (PCCERT_CONTEXT c = CertEnumCertificatesInStore(store, nullptr); c != nullptr;
       c = CertEnumCertificatesInStore(store, c)) {
    if (same_certificate(c, cert)) {
      CertFreeCertificateContext(c);
      return true;
    }
  }
  return false;
}

// The bytes of an IPv4 or IPv6 literal (brackets allowed); empty for a name.
std::vector<BYTE> ip_bytes(std::wstring_view host) {
  if (host.size() > 2 && host.front() == L'[' && host.back() == L']') host = host.substr(1, host.size() - 2);
  const std::string text = narrow(host);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    const auto* p = reinterpret_cast<const BYTE*>(&v4);
    return {p, p + sizeof v4};
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    const auto* p = reinterpret_cast<const BYTE*>(&v6);
    return {p, p + sizeof v6};
  }
  return {};
}

// The certificate's subject alternative names (decoded, or null when it has
// none; LocalFree'd).
LocalPtr<CERT_ALT_NAME_INFO> alt_names(PCCERT_CONTEXT cert) {
  const CERT_EXTENSION* ext =
      CertFindExtension(szOID_SUBJECT_ALT_NAME2, cert->pCertInfo->cExtension, cert->pCertInfo->rgExtension);
  if (ext == nullptr) return nullptr;
  CERT_ALT_NAME_INFO* info = nullptr;
  DWORD size = 0;
  if (!CryptDecodeObjectEx(X509_ASN_ENCODING, X509_ALTERNATE_NAME, ext->Value.pbData, ext->Value.cbData,
                           CRYPT_DECODE_ALLOC_FLAG, nullptr, &info, &size))
    return nullptr;
  return LocalPtr<CERT_ALT_NAME_INFO>(info);
}

// Whether the certificate's subject alternative names hold this IP address.
bool names_ip(const CERT_ALT_NAME_INFO* names, const std::vector<BYTE>& ip) {
  if (names == nullptr) return false;
  for (DWORD i = 0; i < names->cAltEntry; ++i) {
    const CERT_ALT_NAME_ENTRY& e = names->rgAltEntry[i];
    if (e.dwAltNameChoice == CERT_ALT_NAME_IP_ADDRESS && e.IPAddress.cbData == ip.size() &&
        std::memcmp(e.IPAddress.pbData, ip.data(), ip.size()) == 0)
      return true;
  }
  return false;
}

// Whether the certificate is for this DNS name: its DNS entries, or, when it
// has none, its subject's common name (as SChannel and curl fall back).
bool names_host(PCCERT_CONTEXT cert, const CERT_ALT_NAME_INFO* names, std::string_view host) {
  bool any_dns = false;
  if (names != nullptr) {
    for (DWORD i = 0; i < names->cAltEntry; ++i) {
      const CERT_ALT_NAME_ENTRY& e = names->rgAltEntry[i];
      if (e.dwAltNameChoice != CERT_ALT_NAME_DNS_NAME || e.pwszDNSName == nullptr) continue;
      any_dns = true;
      if (dns_name_matches(narrow(e.pwszDNSName), host)) return true;
    }
  }
  if (any_dns) return false;
  wchar_t cn[256];
  const DWORD n = CertGetNameStringW(cert, CERT_NAME_ATTR_TYPE, 0, const_cast<char*>(szOID_COMMON_NAME), cn,
                                     static_cast<DWORD>(std::size(cn)));
  return n > 1 && dns_name_matches(narrow(std::wstring_view(cn, n - 1)), host);
}

}  // namespace

Result<CertStorePtr> load_ca_file(const std::filesystem::path& pem, std::string* text_out) {
  const std::string name = pem.string();
  auto read = read_file(pem, kMaxCaFileBytes);
  if (!read) {
    const Errc code = read.error().code == Errc::too_large ? Errc::invalid_argument : read.error().code;
    return fail(code, "cannot use the CA file " + name + " (" + read.error().message + ")");
  }
  const std::string& text = *read;
  CertStorePtr store(CertOpenStore(CERT_STORE_PROV_MEMORY, 0, 0, CERT_STORE_CREATE_NEW_FLAG, nullptr));
  if (!store) return fail(Errc::internal, "CertOpenStore failed (" + hex(GetLastError()) + ")");
  static constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  static constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  int count = 0;
  for (std::size_t at = text.find(kBegin); at != std::string::npos; at = text.find(kBegin, at)) {
    const std::size_t end = text.find(kEnd, at);
    if (end == std::string::npos) {
      return fail(Errc::invalid_argument, "cannot use the CA file " + name + " (certificate " +
                                              std::to_string(count + 1) + " has no END line)");
    }
    const std::string_view block(text.data() + at, end + kEnd.size() - at);
    DWORD der_size = 0;
    std::vector<BYTE> der;
    bool ok = CryptStringToBinaryA(block.data(), static_cast<DWORD>(block.size()), CRYPT_STRING_BASE64HEADER, nullptr,
                                   &der_size, nullptr, nullptr) != 0;
    if (ok) {
      der.resize(der_size);
      ok = CryptStringToBinaryA(block.data(), static_cast<DWORD>(block.size()), CRYPT_STRING_BASE64HEADER, der.data(),
                                &der_size, nullptr, nullptr) != 0 &&
           CertAddEncodedCertificateToStore(store.get(), X509_ASN_ENCODING, der.data(), der_size,
                                            CERT_STORE_ADD_USE_EXISTING, nullptr) != 0;
    }
    if (!ok) {
      return fail(Errc::invalid_argument, "cannot use the CA file " + name + " (certificate " +
                                              std::to_string(count + 1) + " is not a valid certificate)");
    }
    ++count;
    at = end + kEnd.size();
  }
  if (count == 0) {
    return fail(Errc::invalid_argument,
                "cannot use the CA file " + name + " (no \"" + std::string(kBegin) + "\" block in it)");
  }
  if (text_out != nullptr) *text_out = std::move(*read);
  return store;
}

Status verify_server_certificate(PCCERT_CONTEXT cert, HCERTSTORE ca, std::wstring_view host) {
  if (cert == nullptr) return fail(Errc::unavailable, "the server sent no certificate");
  CERT_CHAIN_PARA para{};
  para.cbSize = sizeof para;
  LPSTR server_auth[] = {const_cast<LPSTR>(szOID_PKIX_KP_SERVER_AUTH)};
  para.RequestedUsage.dwType = USAGE_MATCH_TYPE_AND;
  para.RequestedUsage.Usage.cUsageIdentifier = 1;
  para.RequestedUsage.Usage.rgpszUsageIdentifier = server_auth;
  // The CA file's certificates join the search (with the ones the server
  // sent, in its certificate's store); the Windows store's roots may end a
  // chain too, but only a certificate of the file makes it trusted (below).
  PCCERT_CHAIN_CONTEXT raw = nullptr;
  // No fetching of missing issuers from the network while the request waits
  // (a private CA's chain is in the file and what the server sends).
  if (!CertGetCertificateChain(nullptr, cert, nullptr, ca, &para, CERT_CHAIN_CACHE_ONLY_URL_RETRIEVAL, nullptr, &raw)) {
    return fail(Errc::unavailable, "its chain could not be built (" + hex(GetLastError()) + ")");
  }
  ChainPtr chain(raw);
  if (chain->cChain == 0 || chain->rgpChain[0]->cElement == 0) return fail(Errc::unavailable, "it has no chain");
  const CERT_SIMPLE_CHAIN* simple = chain->rgpChain[0];
  // The first element (from the server's own) that the CA file holds.
  DWORD anchor = simple->cElement;
  for (DWORD i = 0; i < simple->cElement && anchor == simple->cElement; ++i) {
    if (in_store(simple->rgpElement[i]->pCertContext, ca)) anchor = i;
  }
  if (anchor == simple->cElement) return fail(Errc::unavailable, "it is not signed by a CA of the CA file");
  // Up to the anchor every element must be sound; a root the Windows store
  // does not trust, or a chain that stops at the anchor, is what a private
  // CA looks like. Revocation is not asked for (a private CA rarely publishes
  // a list), so its "unknown" bits are not errors either.
  constexpr DWORD kAccepted = CERT_TRUST_IS_UNTRUSTED_ROOT | CERT_TRUST_IS_PARTIAL_CHAIN |
                              CERT_TRUST_REVOCATION_STATUS_UNKNOWN | CERT_TRUST_IS_OFFLINE_REVOCATION;
  for (DWORD i = 0; i <= anchor; ++i) {
    const DWORD errors = simple->rgpElement[i]->TrustStatus.dwErrorStatus & ~kAccepted;
    if (errors != 0) return fail(Errc::unavailable, chain_error_words(errors));
  }
  // Usage is the chain's as a whole (the intersection of its elements').
  if (simple->TrustStatus.dwErrorStatus & CERT_TRUST_IS_NOT_VALID_FOR_USAGE) {
    return fail(Errc::unavailable, chain_error_words(CERT_TRUST_IS_NOT_VALID_FOR_USAGE));
  }
  // The host, checked here rather than by the SSL policy
  // (CertVerifyCertificateChainPolicy), which may stop at the chain it was
  // told to ignore before it looks at the name, and which Wine's does not
  // match against IP addresses.
  const auto names = alt_names(cert);
  const std::vector<BYTE> ip = ip_bytes(host);
  if (!ip.empty()) {
    if (!names_ip(names.get(), ip)) return fail(Errc::unavailable, "it is not for the address " + narrow(host));
    return {};
  }
  if (!names_host(cert, names.get(), narrow(host))) {
    return fail(Errc::unavailable, "it is not for the host name " + narrow(host));
  }
  return {};
}

}  // namespace deskaudit::client
