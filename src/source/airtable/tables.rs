//! Syncing the configured tables together: each base's schema is read once, every table is
//! resolved against it, and the tables sync concurrently — the shared rate limiter keeps each base
//! at its 5 requests per second, so several bases progress side by side.

use std::collections::BTreeMap;

use futures_util::future::join_all;

use super::client::AirtableClient;
use super::mapping::TableMapping;
use super::schema::BaseSchema;
use super::sync::{remembered_fields, sync_table, SyncOptions, TableReport};
use crate::catalog::catalog_source;
use crate::config::AirtableTableSection;
use crate::control::{ErrorType, RunRecord, RunStatus, SyncErrorRecord};
use crate::store::{Store, StoreError};

/// Every base's schema, fetched concurrently.
pub async fn base_schemas<'a>(
    client: &AirtableClient,
    bases: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<String, Result<BaseSchema, String>> {
    let mut bases: Vec<&str> = bases.into_iter().collect();
    bases.sort_unstable();
    bases.dedup();
    let schemas = join_all(bases.iter().map(|b| client.base_schema(b))).await;
    bases.into_iter().map(str::to_string).zip(schemas.into_iter().map(|s| s.map_err(|e| e.to_string()))).collect()
}

/// Syncs `tables` (all configured tables, or the ones picked by `--table`). A table whose base or
/// fields cannot be resolved gets a failed run saying why; the others go ahead.
pub async fn sync_tables(
    store: &dyn Store,
    client: &AirtableClient,
    tables: &[&AirtableTableSection],
    options: SyncOptions,
) -> Result<Vec<TableReport>, StoreError> {
    let schemas = base_schemas(client, tables.iter().map(|t| t.base.get_ref().as_str())).await;
    let runs = tables.iter().map(|section| async {
        let remembered = remembered_fields(store, section.into.get_ref()).await?;
        let mapping = schemas[section.base.get_ref()]
            .as_ref()
            .map_err(String::clone)
            .and_then(|s| TableMapping::resolve(section, s, &remembered).map_err(|e| e.to_string()));
        match mapping {
            Ok(mapping) => sync_table(store, client, &mapping, options).await,
            Err(reason) => unresolved(store, section, reason).await,
        }
    });
    join_all(runs).await.into_iter().collect()
}

/// Records a run that could not start, so that `status` and `errors` show it.
async fn unresolved(
    store: &dyn Store,
    section: &AirtableTableSection,
    reason: String,
) -> Result<TableReport, StoreError> {
    let mut run = RunRecord::start(&catalog_source(section.into.get_ref()));
    store.start_run(&run).await?;
    run.finish(RunStatus::Failed, Some(reason.clone()));
    let data = serde_json::json!({"base": section.base.get_ref(), "table": section.table});
    let error = SyncErrorRecord::new(&run, ErrorType::File, None, reason.clone(), data);
    store.fail_run(&run, vec![error]).await?;
    Ok(TableReport::failed(section, &run, reason))
}
