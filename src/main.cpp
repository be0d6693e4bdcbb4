// The single `hotswap` binary: `hotswap serve` runs the server, every other subcommand is the
// CLI client. See `hotswap --help`.
#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) {
  return hotswap::cli::RunCli(argc, argv, std::cout, std::cerr);
}
