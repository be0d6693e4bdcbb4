// The offline monitoring commands, which need no server:
//   hotswap profile DATA.csv [--schema schema.json] [--bins 20] [--top-k 20] [-o profile.json]
//   hotswap drift --reference ref.csv|profile.json --current cur.csv [--schema ...] [--json]
// Definitions and the JSON formats are in docs/monitoring.md ("Drift and feature
// distributions"). Registered on the top-level CLI11 app by cli.cpp; the callbacks write only
// to the given streams and set `rc` (0 ok, 2 bad input: missing or malformed file, bad schema).
#pragma once

#include <CLI/CLI.hpp>
#include <ostream>

namespace hotswap::cli {

// Adds `profile` and `drift` to `app`. `global_json` is the top-level --json flag (each command
// also takes its own --json). The referenced objects must outlive app.parse().
void AddDriftCommands(CLI::App& app, std::ostream& out, std::ostream& err, const bool& global_json, int& rc);

}  // namespace hotswap::cli
