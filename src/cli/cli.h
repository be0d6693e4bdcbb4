// The `hotswap` command line: `serve` runs the server; every other subcommand is a client of a
// running server (`--url`/HOTSWAP_URL, `--token`/HOTSWAP_TOKEN; `--json` for scripts), except
// the offline monitoring commands `profile` and `drift` (drift_commands.h).
// RunCli is re-entrant (tests call it in-process); it writes only to the given streams.
#pragma once

#include <ostream>

namespace hotswap::cli {

// Exit codes: 0 success; 1 the server refused the request; 2 usage error; 3 server unreachable.
int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace hotswap::cli
