// policy-schema-ts: prints, writes or checks the console's policy constants.
//   policy-schema-ts                 print the TypeScript module
//   policy-schema-ts --write FILE    (re)write FILE
//   policy-schema-ts --check FILE    exit 1 when FILE differs (the ctest)
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string_view>

#include "policy/schema_ts.hpp"

int main(int argc, char** argv) {
  const std::string text = deskaudit::policy::schema_ts();
  if (argc == 1) {
    std::cout << text;
    return 0;
  }
  const std::string_view mode = argv[1];
  if (argc != 3 || (mode != "--write" && mode != "--check")) {
    std::cerr << "usage: policy-schema-ts [--write FILE | --check FILE]\n";
    return 2;
  }
  if (mode == "--write") {
    std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
      std::cerr << "policy-schema-ts: cannot write " << argv[2] << "\n";
      return 1;
    }
    return 0;
  }
  std::ifstream in(argv[2], std::ios::binary);
  std::ostringstream committed;
  committed << in.rdbuf();
  if (!in || committed.str() != text) {
    std::cerr << argv[2] << " differs from the C++ policy definition (src/policy/policy.hpp).\n"
              << "Regenerate it: build/bin/policy-schema-ts --write " << argv[2] << "\nExpected:\n"
              << text;
    return 1;
  }
  std::cout << argv[2] << " matches src/policy/policy.hpp\n";
  return 0;
}
