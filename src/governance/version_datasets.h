// VersionDatasets: a model version's datasets (holdout, reference, background) — the CSV
// validated, its bytes in the ArtifactStore (content-addressed, SHA-256 verified on write and
// on every read, like artifacts), its record in the registry's DatasetStore. The management API
// (api/dataset_api.h) stores them; the validation gates read the holdout set, drift profiles the
// reference set and explanations the background (else the reference) set through Load().
//
//   VersionDatasets datasets({}, &registry, &dataset_store, &artifacts, clock);
//   HS_ASSIGN_OR_RETURN(auto put, datasets.Put(version, "holdout", csv_text, "ci-bot"));
//   HS_ASSIGN_OR_RETURN(LoadedDataset holdout, datasets.Load("fraud", 3, "holdout"));
//   // holdout.table.columns, holdout.table.rows (strings); governance::FeatureMatrix(...)
//
// Put: the CSV is parsed and checked (csv_dataset.h: header, no ragged rows, numeric where the
// version's schema says so) before a byte is stored; then the blob is committed (fsync +
// rename, digest recorded) and only then recorded. A refused CSV stores nothing; a failed
// record removes a blob it had just created. Replacing a dataset removes the old blob when no
// version artifact or dataset still uses it.
//
// Thread-safe (the stores are).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "domain/model.h"
#include "governance/csv_dataset.h"
#include "registry/dataset_store.h"
#include "registry/model_registry.h"
#include "storage/artifact_store.h"

namespace hotswap::governance {

struct PutDatasetResult {
  registry::VersionDataset dataset;
  bool replaced = false;  // the version had a dataset of this kind before
};

struct LoadedDataset {
  registry::VersionDataset dataset;
  CsvTable table;
};

class VersionDatasets {
 public:
  struct Options {
    int64_t max_dataset_bytes = 64LL << 20;  // per CSV
  };

  VersionDatasets(Options options, registry::ModelRegistry* registry,
                  registry::DatasetStore* datasets, storage::ArtifactStore* store,
                  Clock* clock = SystemClock::Get());

  const Options& options() const { return options_; }

  // Validates and stores `csv` as `version`'s dataset of `kind`. InvalidArgument (bad kind or
  // CSV, nothing stored), ResourceExhausted (over max_dataset_bytes), NotFound (the version went
  // away), Unavailable (stores).
  absl::StatusOr<PutDatasetResult> Put(const domain::ModelVersion& version, const std::string& kind,
                                       std::string_view csv, const std::string& principal);
  absl::StatusOr<registry::VersionDataset> Get(const std::string& model, int64_t version,
                                               const std::string& kind);
  absl::StatusOr<std::vector<registry::VersionDataset>> List(const std::string& model,
                                                             int64_t version);
  // The stored bytes, verified against the recorded digest (DataLoss when they do not match).
  absl::StatusOr<std::string> ReadBytes(const registry::VersionDataset& dataset);
  // Get + ReadBytes + common::ParseCsvRows.
  absl::StatusOr<LoadedDataset> Load(const std::string& model, int64_t version,
                                     const std::string& kind);

 private:
  // Deletes `sha256` from the artifact store unless a version artifact or a dataset uses it.
  void DropIfUnused(const std::string& sha256);

  const Options options_;
  registry::ModelRegistry* registry_;
  registry::DatasetStore* datasets_;
  storage::ArtifactStore* store_;
  Clock* clock_;
};

}  // namespace hotswap::governance
