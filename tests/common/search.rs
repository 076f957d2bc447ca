//! Search indexes for the conformance suite: one constructor per backend, each returning the
//! index with whatever keeps it alive, the macro that runs the suite against every backend, and
//! product documents to index.

use std::sync::Arc;

use catsync::search::{self, DocumentKind, Offer, ProductDocument, SearchIndex, SearchSettings, DEFAULT_INDEX};
use uuid::Uuid;

/// Runs each named `async fn(&TestIndex)` against every search backend.
#[allow(unused_macros)]
macro_rules! search_backend_tests {
    ($($name:ident),* $(,)?) => {
        mod tantivy {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = super::common::search::TestIndex::tantivy().await;
                    super::$name(&t).await;
                }
            )*
        }
        mod elasticsearch {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let t = super::common::search::TestIndex::elasticsearch().await;
                    super::$name(&t).await;
                }
            )*
        }
    };
}

/// An index for one test, and what it lives in.
pub struct TestIndex {
    pub index: Arc<dyn SearchIndex>,
    pub settings: SearchSettings,
    _dir: Option<tempfile::TempDir>,
    /// The simulator serving an Elasticsearch index, kept running for the test.
    _cluster: Option<super::search_es::EsTarget>,
}

impl TestIndex {
    /// An embedded index in its own temporary directory.
    pub async fn tantivy() -> TestIndex {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("tantivy://{}", dir.path().join("index").display());
        let settings = SearchSettings {
            url,
            index: DEFAULT_INDEX.into(),
            username: None,
            password: None,
            api_key: None,
            ca_file: None,
        };
        let index = search::open(&settings).await.unwrap();
        TestIndex { index, settings, _dir: Some(dir), _cluster: None }
    }

    /// An Elasticsearch 8 index on a fresh simulator, over HTTP.
    pub async fn elasticsearch() -> TestIndex {
        let cluster = super::search_es::EsTarget::simulated(catsync::dev::es_sim::Flavour::Elasticsearch).await;
        TestIndex {
            index: cluster.dyn_index(),
            settings: cluster.settings.clone(),
            _dir: None,
            _cluster: Some(cluster),
        }
    }

    /// A second handle on the same index, as another process would open it.
    pub async fn reopen(&self) -> Arc<dyn SearchIndex> {
        search::open(&self.settings).await.unwrap()
    }
}

/// A catalog product with one offer per `(distributor, sku, price, quantity)`, its derived
/// figures computed as the store computes them.
pub fn product(n: u128, title: &str, offers: &[(&str, &str, f64, i64)]) -> ProductDocument {
    let offers: Vec<Offer> = offers
        .iter()
        .map(|&(distributor, sku, price, quantity)| Offer {
            distributor: distributor.into(),
            sku: sku.into(),
            price: Some(price),
            quantity: Some(quantity),
        })
        .collect();
    ProductDocument {
        id: Uuid::from_u128(n),
        version: 1,
        kind: DocumentKind::Catalog,
        title: title.into(),
        brand: None,
        gtin: None,
        mpn: None,
        description: None,
        price: None,
        fields: serde_json::Map::new(),
        lowest_price: offers.iter().filter_map(|o| o.price).reduce(f64::min),
        total_stock: offers.iter().filter_map(|o| o.quantity).sum(),
        offer_count: offers.len() as u32,
        offers,
    }
}
