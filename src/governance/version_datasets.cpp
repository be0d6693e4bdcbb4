#include "governance/version_datasets.h"

#include "absl/strings/str_cat.h"
#include "common/csv.h"
#include "common/log.h"
#include "common/status.h"

namespace hotswap::governance {

VersionDatasets::VersionDatasets(Options options, registry::ModelRegistry* registry,
                                 registry::DatasetStore* datasets, storage::ArtifactStore* store,
                                 Clock* clock)
    : options_(options), registry_(registry), datasets_(datasets), store_(store), clock_(clock) {}

absl::StatusOr<PutDatasetResult> VersionDatasets::Put(const domain::ModelVersion& version,
                                                      const std::string& kind, std::string_view csv,
                                                      const std::string& principal) {
  HS_RETURN_IF_ERROR(registry::CheckDatasetKind(kind));
  if (static_cast<int64_t>(csv.size()) > options_.max_dataset_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("the dataset has ", csv.size(),
                                                     " bytes; the limit is ",
                                                     options_.max_dataset_bytes));
  }
  HS_ASSIGN_OR_RETURN(CsvTable table, common::ParseCsvRows(csv));
  HS_RETURN_IF_ERROR(CheckAgainstSchema(table, version.schema));

  HS_ASSIGN_OR_RETURN(auto writer, store_->NewWriter());
  if (absl::Status s = writer->Write(csv); !s.ok()) {
    writer->Abort();
    return s;
  }
  HS_ASSIGN_OR_RETURN(storage::ArtifactInfo info, writer->Commit());

  registry::VersionDataset d;
  d.model_name = version.model_name;
  d.version = version.version;
  d.kind = kind;
  d.sha256 = info.sha256;
  d.size_bytes = info.size_bytes;
  d.rows = static_cast<int64_t>(table.rows.size());
  d.columns = table.header;
  d.created_by = principal;
  d.created_at_ms = clock_->NowMillis();
  absl::StatusOr<std::optional<registry::VersionDataset>> previous = datasets_->Put(d);
  if (!previous.ok()) {
    if (info.newly_created) DropIfUnused(info.sha256);
    return previous.status();
  }
  if (*previous && (*previous)->sha256 != d.sha256) DropIfUnused((*previous)->sha256);
  return PutDatasetResult{std::move(d), previous->has_value()};
}

absl::StatusOr<registry::VersionDataset> VersionDatasets::Get(const std::string& model,
                                                              int64_t version,
                                                              const std::string& kind) {
  return datasets_->Get(model, version, kind);
}

absl::StatusOr<std::vector<registry::VersionDataset>> VersionDatasets::List(const std::string& model,
                                                                            int64_t version) {
  return datasets_->List(model, version);
}

absl::StatusOr<std::string> VersionDatasets::ReadBytes(const registry::VersionDataset& dataset) {
  HS_ASSIGN_OR_RETURN(auto reader, store_->Open(dataset.sha256));
  std::string out;
  out.reserve(static_cast<size_t>(std::max<int64_t>(0, reader->size_bytes())));
  char buf[64 * 1024];
  while (true) {
    HS_ASSIGN_OR_RETURN(size_t n, reader->Read(buf, sizeof(buf)));  // digest checked at the end
    if (n == 0) break;
    out.append(buf, n);
  }
  return out;
}

absl::StatusOr<LoadedDataset> VersionDatasets::Load(const std::string& model, int64_t version,
                                                    const std::string& kind) {
  LoadedDataset loaded;
  HS_ASSIGN_OR_RETURN(loaded.dataset, datasets_->Get(model, version, kind));
  HS_ASSIGN_OR_RETURN(std::string bytes, ReadBytes(loaded.dataset));
  HS_ASSIGN_OR_RETURN(loaded.table, common::ParseCsvRows(bytes));
  return loaded;
}

void VersionDatasets::DropIfUnused(const std::string& sha256) {
  auto by_dataset = datasets_->IsReferenced(sha256);
  auto by_version = registry_->IsArtifactReferenced(sha256);
  if (by_dataset.ok() && !*by_dataset && by_version.ok() && !*by_version) {
    if (absl::Status s = store_->Delete(sha256); !s.ok()) {
      log::Warn("could not remove an unused dataset blob",
                {{"sha256", sha256}, {"error", std::string(s.message())}});
    }
  }
}

}  // namespace hotswap::governance
