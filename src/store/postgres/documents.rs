//! What search documents are built from, in PostgreSQL/CockroachDB: distributor products with
//! their standing link.

use tokio_postgres::{Client, Row};
use uuid::Uuid;

use super::db_err;
use crate::store::{DocumentOffer, OfferRows, StoreError};

const SELECT: &str = "SELECT d.id, d.distributor, d.sku, d.gtin, d.mpn, d.brand, d.title, d.description,
        d.price::FLOAT8, d.quantity, d.active, l.product_id
   FROM distributor_products d
   LEFT JOIN product_matches l ON l.distributor_product_id = d.id AND l.status IN ('auto', 'confirmed')";

pub async fn offers(c: &Client, rows: &OfferRows) -> Result<Vec<DocumentOffer>, StoreError> {
    let found = match rows {
        OfferRows::Ids(ids) => c.query(&format!("{SELECT} WHERE d.id = ANY($1)"), &[ids]).await,
        OfferRows::LinkedTo(products) => {
            c.query(&format!("{SELECT} WHERE l.product_id = ANY($1) AND d.active ORDER BY d.id"), &[products]).await
        }
        OfferRows::UnlinkedAfter { after, limit } => {
            // An anti-join lets the server walk the primary key in order and stop at the limit,
            // instead of joining every row before it sorts.
            let sql = format!(
                "{SELECT} WHERE d.active AND ($1::UUID IS NULL OR d.id > $1) AND NOT EXISTS (
                     SELECT 1 FROM product_matches m
                      WHERE m.distributor_product_id = d.id AND m.status IN ('auto', 'confirmed'))
                 ORDER BY d.id LIMIT $2"
            );
            c.query(&sql, &[after, &i64::from(*limit)]).await
        }
    }
    .map_err(db_err("reading distributor products for search"))?;
    Ok(found.iter().map(offer_from_row).collect())
}

fn offer_from_row(r: &Row) -> DocumentOffer {
    DocumentOffer {
        id: r.get(0),
        distributor: r.get(1),
        sku: r.get(2),
        gtin: r.get(3),
        mpn: r.get(4),
        brand: r.get(5),
        title: r.get(6),
        description: r.get(7),
        price: r.get(8),
        quantity: r.get(9),
        active: r.get(10),
        linked_product: r.get::<_, Option<Uuid>>(11),
    }
}
