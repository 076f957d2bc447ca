//! The Tantivy schema of a product document, and the conversions both ways.
//!
//! Words are tokenized with Tantivy's `en_stem` analyzer (lowercased, English stems) for ranking,
//! and the title once more unstemmed (`default`) for typo tolerance: a misspelled word has no
//! reliable stem. Identifiers are single normalized terms (GTIN-14, MPN and SKU keys, brand key),
//! so that every spelling a feed or a person uses finds the same document. The whole
//! `ProductDocument` is stored as JSON, so a hit returns exactly what was written.

use std::sync::LazyLock;

use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value, FAST, STORED, STRING,
};
use tantivy::TantivyDocument;
use uuid::Uuid;

use crate::gtin::Gtin14;
use crate::matching::text::{brand_key, mpn_key, squash};
use crate::search::{DocumentChange, ProductDocument};

/// Names of the fast fields the facets read.
pub(super) const BRAND_KEY: &str = "brand_key";
pub(super) const DISTRIBUTOR: &str = "distributor";
pub(super) const VERSION: &str = "version";

/// `kind` of a tombstone: the version of a delete, kept so that a late older upsert cannot bring
/// the document back. Never searchable.
pub(super) const TOMBSTONE: &str = "deleted";

/// The fields of the schema, resolved once.
pub(super) struct Fields {
    pub schema: Schema,
    pub id: Field,
    pub kind: Field,
    pub title: Field,
    /// The title unstemmed, for fuzzy matching.
    pub title_words: Field,
    pub brand: Field,
    pub brand_key: Field,
    pub description: Field,
    pub gtin: Field,
    pub mpn: Field,
    pub mpn_key: Field,
    pub sku: Field,
    pub distributor: Field,
    pub lowest_price: Field,
    pub total_stock: Field,
    pub version: Field,
    pub source: Field,
}

pub(super) fn fields() -> &'static Fields {
    static FIELDS: LazyLock<Fields> = LazyLock::new(Fields::build);
    &FIELDS
}

impl Fields {
    fn build() -> Fields {
        let mut builder = Schema::builder();
        let words = |analyzer: &str, record: IndexRecordOption| {
            TextOptions::default()
                .set_indexing_options(TextFieldIndexing::default().set_tokenizer(analyzer).set_index_option(record))
        };
        let ranked = words("en_stem", IndexRecordOption::WithFreqsAndPositions);
        let numeric = || NumericOptions::default().set_fast();
        Fields {
            id: builder.add_text_field("id", STRING | STORED | FAST),
            kind: builder.add_text_field("kind", STRING),
            title: builder.add_text_field("title", ranked.clone()),
            title_words: builder.add_text_field("title_words", words("default", IndexRecordOption::Basic)),
            brand: builder.add_text_field("brand", ranked.clone()),
            brand_key: builder.add_text_field(BRAND_KEY, STRING | FAST),
            description: builder.add_text_field("description", ranked.clone()),
            gtin: builder.add_text_field("gtin", STRING),
            mpn: builder.add_text_field("mpn", ranked),
            mpn_key: builder.add_text_field("mpn_key", STRING),
            sku: builder.add_text_field("sku", STRING),
            distributor: builder.add_text_field(DISTRIBUTOR, STRING | FAST),
            lowest_price: builder.add_f64_field("lowest_price", numeric()),
            total_stock: builder.add_i64_field("total_stock", numeric()),
            version: builder.add_i64_field(VERSION, numeric() | STORED),
            source: builder.add_text_field("source", STORED),
            schema: builder.build(),
        }
    }

    /// What the index holds for a change: the searchable document, or a tombstone.
    pub fn document(&self, change: &DocumentChange) -> TantivyDocument {
        match change {
            DocumentChange::Upsert(product) => self.product(product),
            DocumentChange::Delete { id, version } => {
                let mut doc = TantivyDocument::new();
                doc.add_text(self.id, id.to_string());
                doc.add_text(self.kind, TOMBSTONE);
                doc.add_i64(self.version, *version);
                doc
            }
        }
    }

    fn product(&self, product: &ProductDocument) -> TantivyDocument {
        let mut doc = TantivyDocument::new();
        doc.add_text(self.id, product.id.to_string());
        doc.add_text(self.kind, product.kind.as_str());
        doc.add_text(self.title, &product.title);
        doc.add_text(self.title_words, &product.title);
        if let Some(brand) = &product.brand {
            doc.add_text(self.brand, brand);
            add_some(&mut doc, self.brand_key, brand_key(brand));
        }
        if let Some(description) = &product.description {
            doc.add_text(self.description, description);
        }
        add_some(&mut doc, self.gtin, product.gtin.as_deref().and_then(gtin_key));
        if let Some(mpn) = &product.mpn {
            doc.add_text(self.mpn, mpn);
            add_some(&mut doc, self.mpn_key, mpn_key(mpn));
        }
        for offer in &product.offers {
            add_some(&mut doc, self.sku, sku_key(&offer.sku));
        }
        // Once per distributor, so that facets count products rather than offers.
        let mut distributors: Vec<&str> = product.offers.iter().map(|o| o.distributor.as_str()).collect();
        distributors.sort_unstable();
        distributors.dedup();
        for distributor in distributors {
            doc.add_text(self.distributor, distributor);
        }
        if let Some(price) = product.lowest_price {
            doc.add_f64(self.lowest_price, price);
        }
        doc.add_i64(self.total_stock, product.total_stock);
        doc.add_i64(self.version, product.version);
        doc.add_text(self.source, serde_json::to_string(product).expect("a ProductDocument always serializes"));
        doc
    }

    /// The product stored with a document; `None` for a tombstone.
    pub fn stored_product(&self, doc: &TantivyDocument) -> Result<Option<ProductDocument>, serde_json::Error> {
        doc.get_first(self.source).and_then(|v| v.as_str()).map(serde_json::from_str).transpose()
    }

    pub fn id_term(&self, id: Uuid) -> tantivy::Term {
        tantivy::Term::from_field_text(self.id, &id.to_string())
    }
}

fn add_some(doc: &mut TantivyDocument, field: Field, value: Option<String>) {
    if let Some(value) = value {
        doc.add_text(field, value);
    }
}

/// A GTIN as 14 digits, kept even with a wrong check digit: the same wrong digits typed into a
/// search must still find the product that carries them.
pub(super) fn gtin_key(raw: &str) -> Option<String> {
    match Gtin14::parse(raw) {
        Ok(gtin) | Err((_, Some(gtin))) => Some(gtin.into_string()),
        Err((_, None)) => None,
    }
}

/// A SKU as distributors and people write it in different cases and separators: `NW-555/01` and
/// `nw55501` are one SKU. Too short a key would match unrelated words of a query.
pub(super) fn sku_key(raw: &str) -> Option<String> {
    let key = squash(raw);
    (key.len() >= 3).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upc_a_and_ean_13_give_one_gtin_key_and_words_give_none() {
        assert_eq!(gtin_key("012345678905"), gtin_key("0012345678905"));
        assert_eq!(gtin_key("012345678900").as_deref(), Some("00012345678900"));
        assert_eq!(gtin_key("drill"), None);
    }

    #[test]
    fn sku_keys_ignore_case_and_separators() {
        assert_eq!(sku_key("NW-555/01"), sku_key("nw55501"));
        assert_eq!(sku_key("a-1"), None);
    }
}
