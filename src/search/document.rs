//! Search documents from store rows: a catalog product with the offers linked to it, or a
//! distributor product no catalog product has yet.

use serde_json::{Map, Value};

use super::{DocumentKind, Offer, ProductDocument};
use crate::catalog::{CatalogRoles, CatalogTable, CellValue, StoredCatalogRecord};
use crate::store::DocumentOffer;

/// A catalog product's document: its columns, its roles, and `offers` (its active linked offers).
pub fn catalog_document(
    table: &CatalogTable,
    roles: &CatalogRoles,
    record: &StoredCatalogRecord,
    offers: &[&DocumentOffer],
    version: i64,
) -> ProductDocument {
    let text = roles.product_text(record);
    let fields: Map<String, Value> = table
        .columns
        .iter()
        .zip(&record.record.values)
        .map(|(column, value)| (column.name.clone(), cell_json(value)))
        .collect();
    let some = |s: String| Some(s).filter(|s| !s.is_empty());
    let mut offers: Vec<Offer> = offers.iter().map(|o| offer(o)).collect();
    offers.sort_by(|a, b| (&a.distributor, &a.sku).cmp(&(&b.distributor, &b.sku)));
    with_offer_figures(ProductDocument {
        id: record.record.id,
        version,
        kind: DocumentKind::Catalog,
        title: text.title,
        brand: some(text.brand),
        gtin: some(text.gtin),
        mpn: some(text.mpn),
        description: roles.description(record),
        price: text.price,
        fields,
        offers,
        lowest_price: None,
        total_stock: 0,
        offer_count: 0,
    })
}

/// The document of a distributor product without a catalog product: found by search, marked so.
pub fn unmatched_document(o: &DocumentOffer, version: i64) -> ProductDocument {
    let mut fields = Map::new();
    fields.insert("distributor".into(), Value::from(o.distributor.clone()));
    fields.insert("sku".into(), Value::from(o.sku.clone()));
    with_offer_figures(ProductDocument {
        id: o.id,
        version,
        kind: DocumentKind::Unmatched,
        title: o.title.clone().unwrap_or_else(|| o.sku.clone()),
        brand: o.brand.clone(),
        gtin: o.gtin.clone(),
        mpn: o.mpn.clone(),
        description: o.description.clone(),
        price: None,
        fields,
        offers: vec![offer(o)],
        lowest_price: None,
        total_stock: 0,
        offer_count: 0,
    })
}

fn offer(o: &DocumentOffer) -> Offer {
    Offer { distributor: o.distributor.clone(), sku: o.sku.clone(), price: o.price, quantity: o.quantity }
}

/// Lowest price (an offer's, else the catalog's), total stock and offer count.
fn with_offer_figures(mut d: ProductDocument) -> ProductDocument {
    d.lowest_price = d.offers.iter().filter_map(|o| o.price).reduce(f64::min).or(d.price);
    d.total_stock = d.offers.iter().filter_map(|o| o.quantity).filter(|q| *q > 0).sum();
    d.offer_count = d.offers.len() as u32;
    d
}

/// A cell as the JSON a document carries: numbers as numbers (search engines range over them),
/// dates and times as ISO text, links as the linked rows' ids.
fn cell_json(value: &CellValue) -> Value {
    match value {
        CellValue::Null => Value::Null,
        CellValue::Text(s) => Value::from(s.clone()),
        CellValue::Integer(i) => Value::from(*i),
        CellValue::Numeric(d) => rust_decimal::prelude::ToPrimitive::to_f64(d).map_or(Value::Null, Value::from),
        CellValue::Boolean(b) => Value::Bool(*b),
        CellValue::Date(d) => Value::from(d.to_string()),
        CellValue::Timestamp(t) => Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        CellValue::Json(j) => j.clone(),
        CellValue::Links(ids) => Value::Array(ids.iter().map(|id| Value::from(id.to_string())).collect()),
        CellValue::Array(items) => Value::Array(items.iter().map(cell_json).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer_row(distributor: &str, sku: &str, price: Option<f64>, quantity: Option<i64>) -> DocumentOffer {
        DocumentOffer {
            id: crate::product::distributor_product_id(distributor, sku),
            distributor: distributor.into(),
            sku: sku.into(),
            gtin: None,
            mpn: None,
            brand: Some("Bosch".into()),
            title: None,
            description: None,
            price,
            quantity,
            active: true,
            linked_product: None,
        }
    }

    #[test]
    fn offer_figures_take_the_lowest_price_and_count_only_positive_stock() {
        let rows = [offer_row("b", "2", Some(12.5), Some(-3)), offer_row("a", "1", Some(10.0), Some(4))];
        let doc = unmatched_document(&rows[0], 7);
        assert_eq!((doc.title.as_str(), doc.lowest_price, doc.total_stock), ("2", Some(12.5), 0));
        let mut two = doc.clone();
        two.offers = rows.iter().map(offer).collect();
        let two = with_offer_figures(two);
        assert_eq!((two.lowest_price, two.total_stock, two.offer_count), (Some(10.0), 4, 2));
    }
}
