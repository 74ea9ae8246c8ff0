#pragma once
// A throw-away PKI for TLS tests, made with the openssl command at run time:
// a CA and a server certificate for localhost / 127.0.0.1 signed by it.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace deskaudit::testing {

struct TestPki {
  std::filesystem::path ca_cert;      // PEM: what a client trusts (--ca-file)
  std::filesystem::path server_cert;  // PEM: CN=localhost, SAN DNS:localhost, IP:127.0.0.1
  std::filesystem::path server_key;   // PEM, unencrypted
  bool ok = false;                    // every openssl command succeeded
};

// Writes the files into dir (which must exist). P-256 keys: fast to make.
inline TestPki make_test_pki(const std::filesystem::path& dir) {
  TestPki p{dir / "ca.pem", dir / "server.pem", dir / "server.key"};
  const std::string d = "'" + dir.string() + "'";
  std::ofstream(dir / "san.ext")
      << "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
      << "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n";
  const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
  const std::string cmds[] = {
      "openssl req -x509" + key + "-keyout " + d + "/ca.key -out " + d +
          "/ca.pem -days 2 -subj /CN=deskaudit-test-ca 2>/dev/null",
      "openssl req" + key + "-keyout " + d + "/server.key -out " + d + "/server.csr -subj /CN=localhost 2>/dev/null",
      "openssl x509 -req -in " + d + "/server.csr -CA " + d + "/ca.pem -CAkey " + d + "/ca.key -CAcreateserial -out " +
          d + "/server.pem -days 2 -extfile " + d + "/san.ext 2>/dev/null",
  };
  for (const auto& cmd : cmds) {
    if (std::system(cmd.c_str()) != 0) return p;
  }
  p.ok = true;
  return p;
}

}  // namespace deskaudit::testing
