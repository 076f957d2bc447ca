//! What search documents are built from, in SQLite: distributor products with their standing link.

use rusqlite::{Connection, Row, ToSql};

use super::db_err;
use crate::store::{DocumentOffer, OfferRows, StoreError};

const SELECT: &str = "SELECT d.id, d.distributor, d.sku, d.gtin, d.mpn, d.brand, d.title, d.description,
        CAST(d.price AS REAL), d.quantity, d.active, l.product_id
   FROM distributor_products d
   LEFT JOIN product_matches l ON l.distributor_product_id = d.id AND l.status IN ('auto', 'confirmed')";

pub fn offers(conn: &Connection, rows: &OfferRows) -> Result<Vec<DocumentOffer>, StoreError> {
    let read = |sql: &str, values: &[&dyn ToSql]| -> Result<Vec<DocumentOffer>, StoreError> {
        let mut stmt = conn.prepare_cached(sql).map_err(db_err("reading distributor products for search"))?;
        let found = stmt
            .query_map(values, offer_from_row)
            .and_then(Iterator::collect)
            .map_err(db_err("reading distributor products for search"))?;
        Ok(found)
    };
    let each = |sql: &str, ids: &[uuid::Uuid]| -> Result<Vec<DocumentOffer>, StoreError> {
        let mut found = Vec::new();
        for id in ids {
            found.extend(read(sql, &[id])?);
        }
        Ok(found)
    };
    match rows {
        OfferRows::Ids(ids) => each(&format!("{SELECT} WHERE d.id = ?1"), ids),
        OfferRows::LinkedTo(products) => {
            each(&format!("{SELECT} WHERE l.product_id = ?1 AND d.active = 1 ORDER BY d.distributor, d.sku"), products)
        }
        OfferRows::UnlinkedAfter { after, limit } => read(
            &format!(
                "{SELECT} WHERE d.active = 1 AND (?1 IS NULL OR d.id > ?1) AND NOT EXISTS (
                     SELECT 1 FROM product_matches m
                      WHERE m.distributor_product_id = d.id AND m.status IN ('auto', 'confirmed'))
                 ORDER BY d.id LIMIT ?2"
            ),
            &[after, limit],
        ),
    }
}

fn offer_from_row(r: &Row) -> rusqlite::Result<DocumentOffer> {
    Ok(DocumentOffer {
        id: r.get(0)?,
        distributor: r.get(1)?,
        sku: r.get(2)?,
        gtin: r.get(3)?,
        mpn: r.get(4)?,
        brand: r.get(5)?,
        title: r.get(6)?,
        description: r.get(7)?,
        price: r.get(8)?,
        quantity: r.get(9)?,
        active: r.get(10)?,
        linked_product: r.get(11)?,
    })
}
