// DatasetStore: the registry's record of the datasets attached to a model version — a `holdout`
// set (the validation gates' quality check), a `reference` set (drift profiles) and a
// `background` set (explanations). The bytes live in the ArtifactStore, content-addressed and
// SHA-256 verified like artifacts; this store keeps which blob is which version's dataset of a
// kind, with its shape. governance/version_datasets.h puts the two together (validates the CSV,
// writes the blob, records it; reads it back verified and parsed) — use that, not this, to read
// a dataset's content.
//
// One dataset per (model, version, kind); Put replaces the previous one of that kind. Rows go
// with their version: deleting a model deletes its datasets' rows (ON DELETE CASCADE).
//
// Thread-safe. Errors: NotFound (model, version or dataset missing, with the registry's
// messages), InvalidArgument (unknown kind), Unavailable (database).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hotswap::registry {

// The kinds a version's dataset may be.
inline constexpr std::string_view kDatasetKinds[] = {"holdout", "reference", "background"};
bool IsDatasetKind(std::string_view kind);
// InvalidArgument naming the allowed kinds unless `kind` is one of kDatasetKinds.
absl::Status CheckDatasetKind(std::string_view kind);

struct VersionDataset {
  std::string model_name;
  int64_t version = 0;
  std::string kind;                  // one of kDatasetKinds
  std::string sha256;                // the blob in the artifact store, lower-case hex
  int64_t size_bytes = 0;
  int64_t rows = 0;                  // data rows (the header not counted)
  std::vector<std::string> columns;  // the header, in file order
  std::string created_by;            // token name
  int64_t created_at_ms = 0;
  bool operator==(const VersionDataset&) const = default;
};

class DatasetStore {
 public:
  virtual ~DatasetStore() = default;
  // Records `d` as its version's dataset of d.kind, replacing any previous one. Returns the
  // dataset it replaced (std::nullopt when there was none) so the caller can drop its blob.
  virtual absl::StatusOr<std::optional<VersionDataset>> Put(const VersionDataset& d) = 0;
  virtual absl::StatusOr<VersionDataset> Get(const std::string& model, int64_t version,
                                             const std::string& kind) = 0;
  // The version's datasets, ordered by kind; empty when it has none (NotFound when the version
  // does not exist).
  virtual absl::StatusOr<std::vector<VersionDataset>> List(const std::string& model,
                                                           int64_t version) = 0;
  // Whether any version's dataset uses the blob `sha256`.
  virtual absl::StatusOr<bool> IsReferenced(const std::string& sha256) = 0;
};

}  // namespace hotswap::registry
