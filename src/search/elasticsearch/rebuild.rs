//! The zero-downtime rebuild (elasticsearch-bulk.md §10): a new concrete index with no replicas
//! and no refresh takes the documents; `finish` restores the live index's replica count and
//! refresh interval, refreshes, moves the alias in one atomic `_aliases` request (remove the old,
//! add the new as write index) and deletes the old index.
//!
//! Writes through `SearchIndex::apply` during a rebuild go to the old index, which the swap then
//! drops: the caller re-sends whatever changed since the rebuild began (the outbox keeps those
//! entries unacknowledged until `finish` returns), and external versions make the overlap with the
//! load harmless. A rebuild dropped unfinished leaves the alias where it was; its index is deleted
//! in the background, or else by the next rebuild, which deletes every index of catsync's naming
//! that no alias points at — so rebuilds of one alias must not run at the same time.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{json, Value};

use super::client::Body;
use super::{mapping, Cluster};
use crate::search::{ApplyReport, DocumentChange, IndexRebuild, ProductDocument, SearchError};

/// A fresh concrete index name: `<alias>-<yyyymmddhhmmssSSS>-<4 hex digits>`, unique even for two
/// rebuilds in one millisecond, and sorting by age.
pub(crate) fn new_index_name(alias: &str) -> String {
    format!("{alias}-{}-{:04x}", chrono::Utc::now().format("%Y%m%d%H%M%S%3f"), fastrand::u16(..))
}

/// Whether `name` is one of the concrete indices catsync made for `alias`.
fn is_ours(alias: &str, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(alias).and_then(|r| r.strip_prefix('-')) else { return false };
    let (time, tag) = rest.split_once('-').unwrap_or_default();
    time.len() == 17
        && time.bytes().all(|b| b.is_ascii_digit())
        && tag.len() == 4
        && tag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A rebuild in progress.
struct EsRebuild {
    cluster: Arc<Cluster>,
    index: String,
    /// The live index's `number_of_replicas` and `refresh_interval` (`null`: the default).
    restore: Value,
    finished: bool,
}

pub(crate) async fn begin(cluster: Arc<Cluster>) -> Result<Box<dyn IndexRebuild>, SearchError> {
    delete_abandoned(&cluster).await?;
    let restore = match cluster.live_indices().await?.first() {
        Some(live) => live_settings(&cluster, live).await?,
        None => json!({"number_of_replicas": null, "refresh_interval": null}),
    };
    let index = cluster.create_index(&mapping::index_body(None, true)).await?;
    tracing::info!(%index, alias = %cluster.alias, "rebuilding into a new index");
    Ok(Box::new(EsRebuild { cluster, index, restore, finished: false }))
}

/// The settings a bulk load turns off, as the live index has them.
async fn live_settings(cluster: &Cluster, live: &str) -> Result<Value, SearchError> {
    let path = format!("/{live}/_settings?flat_settings=true");
    let answer = cluster.client.json(Method::GET, &path, &Body::Empty).await?;
    let settings = &answer[live]["settings"];
    Ok(json!({
        "number_of_replicas": settings["index.number_of_replicas"],
        "refresh_interval": settings["index.refresh_interval"],
    }))
}

/// Deletes the indices earlier rebuilds left behind: catsync's names, under no alias.
async fn delete_abandoned(cluster: &Cluster) -> Result<(), SearchError> {
    let path = format!("/{}-*/_alias", cluster.alias);
    let answer = cluster.client.json(Method::GET, &path, &Body::Empty).await?;
    let abandoned: Vec<&String> = answer
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, entry)| {
            is_ours(&cluster.alias, name) && entry["aliases"].as_object().is_none_or(|a| a.is_empty())
        })
        .map(|(name, _)| name)
        .collect();
    for name in abandoned {
        tracing::info!(index = %name, "deleting an index an unfinished rebuild left behind");
        delete_index(cluster, name).await?;
    }
    Ok(())
}

async fn delete_index(cluster: &Cluster, name: &str) -> Result<(), SearchError> {
    cluster.client.json(Method::DELETE, &format!("/{name}"), &Body::Empty).await.map(drop)
}

#[async_trait::async_trait]
impl IndexRebuild for EsRebuild {
    async fn write(&mut self, documents: Vec<ProductDocument>) -> Result<ApplyReport, SearchError> {
        let changes = documents.into_iter().map(DocumentChange::Upsert).collect();
        self.cluster.bulk(&self.index).write(changes).await
    }

    async fn finish(mut self: Box<Self>) -> Result<(), SearchError> {
        let client = &self.cluster.client;
        let index = &self.index;
        client.json(Method::PUT, &format!("/{index}/_settings"), &Body::Json(json!({"index": self.restore}))).await?;
        client.json(Method::POST, &format!("/{index}/_refresh"), &Body::Empty).await?;
        let old = self.cluster.live_indices().await?;
        let alias = &self.cluster.alias;
        let mut actions = vec![json!({"add": {"index": index, "alias": alias, "is_write_index": true}})];
        if !old.is_empty() {
            actions.insert(0, json!({"remove": {"indices": old, "alias": alias}}));
        }
        client.json(Method::POST, "/_aliases", &Body::Json(json!({"actions": actions}))).await?;
        self.finished = true;
        for name in &old {
            // The swap is done; an old index that will not go is removed by the next rebuild.
            if let Err(e) = delete_index(&self.cluster, name).await {
                tracing::warn!(index = %name, "could not delete the replaced index: {e}");
            }
        }
        Ok(())
    }
}

impl Drop for EsRebuild {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (cluster, index) = (self.cluster.clone(), self.index.clone());
        runtime.spawn(async move {
            if let Err(e) = delete_index(&cluster, &index).await {
                tracing::warn!(%index, "could not delete the index of an abandoned rebuild: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_catsyncs_own_names_count_as_its_indices() {
        let name = new_index_name("products");
        assert!(is_ours("products", &name), "{name}");
        assert!(!is_ours("products", "products-archive"));
        assert!(!is_ours("products", "products"));
        assert!(!is_ours("prod", &name));
    }
}
