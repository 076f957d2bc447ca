//! The catalog's records as every stage sees them, independent of where they came from.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

/// Namespace of catsync's deterministic ids: the same input always yields the same UUID, so a
/// rerun or a second machine never creates a duplicate.
const CATSYNC_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_3c2e_9b4d_5e70_8c21_4f0a_d3b6_e95c);

/// Deterministic id of a distributor's SKU.
pub fn distributor_product_id(distributor: &str, sku: &str) -> Uuid {
    let mut name = Vec::with_capacity(distributor.len() + sku.len() + 13);
    name.extend_from_slice(b"distributor\x1f");
    name.extend_from_slice(distributor.as_bytes());
    name.push(0x1f);
    name.extend_from_slice(sku.as_bytes());
    Uuid::new_v5(&CATSYNC_NAMESPACE, &name)
}

/// The `sync_control`/`sync_runs` source name of a distributor, and its `id_mappings` system.
pub fn distributor_source(distributor: &str) -> String {
    format!("distributor:{distributor}")
}

/// A map keyed by catsync ids. The ids are SHA-1 based and already uniformly spread, so a cheap
/// multiplicative mix replaces SipHash in maps that hold millions of them.
pub type IdMap<V> = HashMap<Uuid, V, BuildHasherDefault<IdHasher>>;

/// The hasher of `IdMap`.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(word)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One row of a distributor's feed, typed and validated, ready to upsert.
#[derive(Debug, Clone, PartialEq)]
pub struct DistributorProduct {
    pub id: Uuid,
    pub sku: String,
    /// Normalized GTIN-14.
    pub gtin: Option<String>,
    pub mpn: Option<String>,
    pub brand: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub price: Option<Decimal>,
    pub cost: Option<Decimal>,
    pub quantity: Option<i64>,
    pub category: Option<String>,
    pub source_updated_at: Option<DateTime<Utc>>,
    /// Every feed column not mapped to a canonical field, as a JSON object in feed order.
    pub attributes_json: String,
    pub active: bool,
    /// Hash of everything above but the id; an unchanged hash means an unchanged row.
    pub content_hash: String,
    /// Line in the feed file where the record starts.
    pub line: u64,
    /// An earlier line of the same file had the same SKU; this one wins.
    pub supersedes_earlier_line: bool,
}

impl DistributorProduct {
    /// Computes `content_hash` from the typed fields; called once the fields are final.
    pub fn seal(mut self) -> DistributorProduct {
        self.content_hash = self.compute_hash();
        self
    }

    fn compute_hash(&self) -> String {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        // Each field is length- or tag-prefixed so that values cannot run into each other.
        let mut text = |v: Option<&str>| match v {
            Some(s) => {
                h.update(&(s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
            None => h.update(&[0xff]),
        };
        text(Some(&self.sku));
        text(self.gtin.as_deref());
        text(self.mpn.as_deref());
        text(self.brand.as_deref());
        text(self.title.as_deref());
        text(self.description.as_deref());
        text(self.category.as_deref());
        text(Some(&self.attributes_json));
        let mut number = |tag: u8, bytes: Option<[u8; 16]>| match bytes {
            Some(b) => {
                h.update(&[tag]);
                h.update(&b);
            }
            None => h.update(&[0xff]),
        };
        // Normalized, so that 12.5 and 12.50 (as a store returns it) hash alike.
        number(1, self.price.map(|d| d.normalize().serialize()));
        number(2, self.cost.map(|d| d.normalize().serialize()));
        number(3, self.quantity.map(|q| i128::from(q).to_le_bytes()));
        number(4, self.source_updated_at.map(|t| i128::from(t.timestamp_micros()).to_le_bytes()));
        h.update(&[u8::from(self.active)]);
        format!("{:032x}", h.digest128())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct_per_distributor() {
        let a = distributor_product_id("acme", "X-1");
        assert_eq!(a, distributor_product_id("acme", "X-1"));
        assert_ne!(a, distributor_product_id("globex", "X-1"));
        // The separator keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(distributor_product_id("ab", "c"), distributor_product_id("a", "bc"));
        assert_eq!(a.get_version_num(), 5);
    }
}
