// Extraction of a SavedModel tar (plain or gzip; ustar, GNU long names, pax paths) into a
// directory, for the TensorFlow backend. Regular files and directories only: absolute paths,
// `..` components, links, devices and FIFOs are refused. Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace hotswap::runtime {

// Extracts `archive` into the existing directory `dir`; adds the bytes written to *bytes.
// InvalidArgument when the archive is not a readable tar or holds an entry it refuses.
absl::Status ExtractTar(const std::string& archive, const std::string& dir, int64_t* bytes);

}  // namespace hotswap::runtime
