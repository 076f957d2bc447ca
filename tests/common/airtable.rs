//! An Airtable world for tests: the simulator serving a generated catalog base over real HTTP,
//! a config pointing at it, and the check that the store holds exactly what Airtable holds.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use catsync::catalog::{CatalogLink, CellValue, ColumnType, StoredCatalogRecord};
use catsync::config::Config;
use catsync::dev::airtable_sim::{AirtableSim, SimConfig, SimServer};
use catsync::source::airtable::cells::convert_record;
use catsync::source::airtable::client::RawRecord;
use catsync::source::airtable::sync::remembered_fields;
use catsync::source::airtable::{sync_tables, AirtableClient, RetryPolicy, SyncOptions, TableMapping, TableReport};
use catsync::store::Store;
use serde_json::{json, Value};

pub const BASE: &str = "appTESTCATALOG001";
pub const TOKEN: &str = "patTESTTOKEN00001.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// Short, so that tests that meet a 429 wait one second, not thirty.
pub const PENALTY: Duration = Duration::from_secs(1);

/// A 17-character Airtable id: prefix and tag padded with zeros.
pub fn airtable_id(prefix: &str, tag: &str) -> String {
    format!("{prefix}{tag:0<14}")
}

pub fn record_id(i: usize) -> String {
    format!("rec{i:0>14}")
}

pub fn brand_id(i: usize) -> String {
    format!("recBRAND{i:0>9}")
}

/// Warehouses: a table of plain fields, whose reconcile is an id sweep.
pub const WAREHOUSES: usize = 10;

pub fn warehouse_id(i: usize) -> String {
    format!("recWAREHOUSE{i:0>5}")
}

pub fn field(tag: &str) -> String {
    airtable_id("fld", tag)
}

/// A catalog base: `brands` brands and `products` products, each product linked to one brand.
pub fn catalog_base(products: usize, brands: usize) -> Value {
    let brand_records: Vec<Value> = (0..brands)
        .map(|b| {
            let linked: Vec<String> = (0..products).filter(|p| p % brands == b).map(record_id).collect();
            json!({"id": brand_id(b), "createdTime": "2025-01-01T00:00:00.000Z",
                   "fields": {"Name": format!("Brand {b}"), "Products": linked}})
        })
        .collect();
    let product_records: Vec<Value> = (0..products).map(|p| product_record(p, brands)).collect();
    let warehouse_records: Vec<Value> = (0..WAREHOUSES)
        .map(|w| {
            json!({"id": warehouse_id(w), "createdTime": "2025-01-01T00:00:00.000Z",
                   "fields": {"Name": format!("Warehouse {w}"), "City": format!("City {w}")}})
        })
        .collect();
    json!({
        "id": BASE, "name": "Test catalog",
        "tables": [
            {"id": airtable_id("tbl", "BRANDS"), "name": "Brands", "primaryFieldId": field("BNAME"),
             "fields": [
                {"id": field("BNAME"), "name": "Name", "type": "singleLineText"},
                {"id": field("BPRODUCTS"), "name": "Products", "type": "multipleRecordLinks",
                 "options": {"linkedTableId": airtable_id("tbl", "PRODUCTS"), "inverseLinkFieldId": field("BRAND"),
                             "isReversed": false, "prefersSingleRecordLink": false}}],
             "views": [{"id": airtable_id("viw", "BRANDS"), "name": "Grid view", "type": "grid"}],
             "records": brand_records},
            {"id": airtable_id("tbl", "PRODUCTS"), "name": "Products", "primaryFieldId": field("NAME"),
             "fields": [
                {"id": field("NAME"), "name": "Name", "type": "singleLineText"},
                {"id": field("SKU"), "name": "SKU", "type": "singleLineText"},
                {"id": field("UPC"), "name": "UPC", "type": "singleLineText"},
                {"id": field("PRICE"), "name": "Price", "type": "currency", "options": {"precision": 2, "symbol": "€"}},
                {"id": field("QTY"), "name": "Qty", "type": "number", "options": {"precision": 0}},
                {"id": field("STOCK"), "name": "In stock", "type": "checkbox", "options": {"icon": "check", "color": "greenBright"}},
                {"id": field("BRAND"), "name": "Brand", "type": "multipleRecordLinks",
                 "options": {"linkedTableId": airtable_id("tbl", "BRANDS"), "inverseLinkFieldId": field("BPRODUCTS"),
                             "isReversed": false, "prefersSingleRecordLink": true}},
                {"id": field("BRANDNAME"), "name": "Brand name", "type": "multipleLookupValues",
                 "options": {"isValid": true, "recordLinkFieldId": field("BRAND"), "fieldIdInLinkedTable": field("BNAME"),
                             "result": {"type": "singleLineText"}}},
                {"id": field("TAGS"), "name": "Tags", "type": "multipleSelects",
                 "options": {"choices": [{"id": airtable_id("sel", "A"), "name": "Power tools"},
                                         {"id": airtable_id("sel", "B"), "name": "Cordless"}]}},
                {"id": field("LAUNCH"), "name": "Launch date", "type": "date",
                 "options": {"dateFormat": {"name": "iso", "format": "YYYY-MM-DD"}}}],
             "views": [{"id": airtable_id("viw", "PRODUCTS"), "name": "Grid view", "type": "grid"}],
             "records": product_records},
            {"id": airtable_id("tbl", "WAREHOUSES"), "name": "Warehouses", "primaryFieldId": field("WNAME"),
             "fields": [
                {"id": field("WNAME"), "name": "Name", "type": "singleLineText"},
                {"id": field("WCITY"), "name": "City", "type": "singleLineText"}],
             "views": [],
             "records": warehouse_records}
        ]
    })
}

fn product_record(p: usize, brands: usize) -> Value {
    let mut fields = json!({
        "Name": format!("Cordless drill model {p}"),
        "SKU": format!("DR-{p:05}"),
        "UPC": upc(p),
        "Price": 49.9 + p as f64,
        "Qty": (p % 40) as i64,
        "Brand": [brand_id(p % brands)],
        "Tags": if p.is_multiple_of(2) { json!(["Power tools", "Cordless"]) } else { json!(["Power tools"]) },
        "Launch date": format!("2024-{:02}-{:02}", p % 12 + 1, p % 28 + 1),
    });
    if p.is_multiple_of(3) {
        fields["In stock"] = json!(true);
    }
    json!({"id": record_id(p), "createdTime": format!("2025-01-02T00:{:02}:{:02}.000Z", (p / 60) % 60, p % 60), "fields": fields})
}

/// A valid UPC-A for product `p`.
pub fn upc(p: usize) -> String {
    let body = format!("{:011}", 40_000_000_000u64 + p as u64);
    let digits: Vec<u32> = body.chars().map(|c| c.to_digit(10).unwrap()).collect();
    let sum: u32 = digits.iter().enumerate().map(|(i, d)| if i % 2 == 0 { d * 3 } else { *d }).sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// The config the tests sync with; `price` is pinned by id so that a rename keeps syncing.
pub fn config_text(api_url: &str, store_url: &str, reconcile_every: u32) -> String {
    format!(
        r#"
[store]
url = "{store_url}"

[airtable]
token = "{TOKEN}"
api_url = "{api_url}"
penalty_seconds = {penalty}

[[airtable.tables]]
base = "{BASE}"
table = "Products"
into = "products"
reconcile_every = {reconcile_every}
  [airtable.tables.columns]
  name = "Name"
  sku = "SKU"
  gtin = {{ field = "UPC", type = "gtin" }}
  price = {{ field = "Price", id = "{price}" }}
  qty = "Qty"
  in_stock = "In stock"
  brand_ids = "Brand"
  brand_name = "Brand name"
  tags = "Tags"
  launch = "Launch date"

[[airtable.tables]]
base = "{BASE}"
table = "Brands"
into = "brands"
reconcile_every = {reconcile_every}
  [airtable.tables.columns]
  name = "Name"
  product_ids = "Products"

[[airtable.tables]]
base = "{BASE}"
table = "Warehouses"
into = "warehouses"
reconcile_every = {reconcile_every}
  [airtable.tables.columns]
  name = "Name"
  city = "City"

[catalog]
table = "products"
title = "name"
gtin = "gtin"
brand = "brand_name"
price = "price"
"#,
        penalty = PENALTY.as_secs_f64(),
        price = field("PRICE"),
    )
}

/// The simulator serving the catalog base, and the config that reads it.
pub struct AirtableWorld {
    pub sim: AirtableSim,
    pub server: SimServer,
    pub config: Config,
}

impl AirtableWorld {
    pub async fn new(products: usize, brands: usize) -> AirtableWorld {
        AirtableWorld::with(products, brands, SimConfig { penalty: PENALTY, ..SimConfig::default() }).await
    }

    pub async fn with(products: usize, brands: usize, sim_config: SimConfig) -> AirtableWorld {
        let sim = AirtableSim::new(sim_config);
        sim.load_base(&catalog_base(products, brands)).unwrap();
        sim.add_token(TOKEN, &["data.records:read", "schema.bases:read"], None);
        let server = sim.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let text = config_text(&server.url(), "sqlite://unused.db", 3);
        let config = Config::parse(&text, Path::new("catsync.toml")).unwrap();
        AirtableWorld { sim, server, config }
    }

    pub fn client(&self) -> AirtableClient {
        let airtable = self.config.airtable.as_ref().unwrap();
        let policy =
            RetryPolicy { penalty: PENALTY, first_backoff: Duration::from_millis(50), ..RetryPolicy::default() };
        AirtableClient::new(&airtable.api_url, airtable.token.clone(), policy)
    }

    pub async fn sync(&self, store: &dyn Store, options: SyncOptions) -> Vec<TableReport> {
        let tables: Vec<_> = self.config.airtable.as_ref().unwrap().tables.iter().collect();
        sync_tables(store, &self.client(), &tables, options).await.unwrap()
    }

    /// The mapping of the `into` table, resolved as a sync would resolve it now.
    pub async fn mapping(&self, store: &dyn Store, into: &str) -> TableMapping {
        let section = self.config.airtable.as_ref().unwrap().tables.iter().find(|t| t.into.get_ref() == into).unwrap();
        let schema = self.client().base_schema(BASE).await.unwrap();
        let remembered = remembered_fields(store, into).await.unwrap();
        TableMapping::resolve(section, &schema, &remembered).unwrap()
    }

    /// Every live Airtable record has a row equal to its conversion; every other row is deleted.
    pub async fn assert_store_matches(&self, store: &dyn Store, into: &str) {
        let mapping = self.mapping(store, into).await;
        let rows = store.catalog_records(&mapping.catalog).await.unwrap();
        let rows: BTreeMap<&str, &StoredCatalogRecord> =
            rows.iter().map(|r| (r.record.airtable_id.as_str(), r)).collect();
        let mut live = self.sim.record_ids(BASE, &mapping.table_name);
        live.sort();
        let mut expected_links: BTreeMap<&str, Vec<CatalogLink>> = BTreeMap::new();
        for id in &live {
            let row = rows.get(id.as_str()).unwrap_or_else(|| panic!("{into}: record {id} is missing from the store"));
            let expected = convert_record(&mapping, &self.raw_record(&mapping, id, row)).0;
            assert_eq!(row.deleted_at, None, "{into}: live record {id} is marked deleted");
            assert_eq!(row.record, expected, "{into}: record {id} differs from Airtable");
            for (column, value) in mapping.catalog.columns.iter().zip(&expected.values) {
                if let CellValue::Links(targets) = value {
                    let links = targets.iter().enumerate().map(|(position, linked_id)| CatalogLink {
                        record_id: expected.id,
                        position: position as i32,
                        linked_id: *linked_id,
                    });
                    expected_links.entry(column.name.as_str()).or_default().extend(links);
                }
            }
        }
        for (id, row) in &rows {
            if !live.contains(&id.to_string()) {
                assert!(row.deleted_at.is_some(), "{into}: record {id} was deleted in Airtable but not in the store");
            }
        }
        let live_ids: Vec<_> = live.iter().map(|id| catsync::catalog::catalog_record_id(id)).collect();
        for column in mapping.catalog.columns.iter().filter(|c| c.ty == ColumnType::Links) {
            let mut stored = store.catalog_links(&mapping.catalog, &column.name).await.unwrap();
            stored.retain(|l| live_ids.contains(&l.record_id));
            let mut expected = expected_links.remove(column.name.as_str()).unwrap_or_default();
            expected.sort_by_key(|l| (l.record_id, l.position));
            assert_eq!(stored, expected, "{into}: link table of {} differs from Airtable", column.name);
        }
    }

    /// The record as a listing with `returnFieldsByFieldId` returns it. The simulator does not
    /// expose creation times, so the stored one is used (first sync tests check it separately).
    fn raw_record(&self, mapping: &TableMapping, id: &str, row: &StoredCatalogRecord) -> RawRecord {
        let record = self.sim.record(BASE, &mapping.table_name, id).unwrap();
        let by_name = record.as_object().cloned().unwrap_or_default();
        let fields = mapping
            .fields
            .iter()
            .filter_map(|f| by_name.get(&f.field_name).map(|v| (f.field_id.clone(), v.clone())))
            .collect();
        let created_time = row.record.created_time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        RawRecord { id: id.to_string(), created_time, fields }
    }
}

/// The report of one table.
pub fn report<'a>(reports: &'a [TableReport], into: &str) -> &'a TableReport {
    reports.iter().find(|r| r.table == into).unwrap_or_else(|| panic!("no report for {into}"))
}
