//! What the store already holds for a distributor, loaded when an import starts: each product's
//! content hash and active flag. It lets an import recognize unchanged rows without a database
//! round trip, stage only rows that need writing, and find the SKUs a full snapshot no longer
//! lists — so an unchanged re-import costs little more than reading the file.

use uuid::Uuid;

use crate::control::{ErrorType, SyncErrorRecord};
use crate::product::{distributor_product_id, DistributorProduct, IdMap};
use crate::store::StoreError;

/// Above this share of a distributor's active products, a full import refuses to deactivate.
const MASS_DEACTIVATION_RATIO: f64 = 0.20;

struct Known {
    hash: u128,
    active: bool,
    /// Delivered by the import in progress.
    seen: bool,
}

/// The stored state of one distributor's products, keyed by id.
#[derive(Default)]
pub(crate) struct KnownProducts {
    rows: IdMap<Known>,
}

impl KnownProducts {
    /// Records a stored product; `content_hash` is the hex text the stores keep.
    pub fn insert(&mut self, id: Uuid, content_hash: &str, active: bool) {
        let hash = u128::from_str_radix(content_hash, 16).unwrap_or(0);
        self.rows.insert(id, Known { hash, active, seen: false });
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn active_count(&self) -> u64 {
        self.rows.values().filter(|k| k.active).count() as u64
    }

    /// Marks the product as delivered and tells whether it must be written: it is new, differs
    /// from the stored row, or repeats an earlier line of the file (and must win over it).
    fn needs_write(&mut self, p: &DistributorProduct) -> bool {
        let hash = u128::from_str_radix(&p.content_hash, 16).unwrap_or(0);
        match self.rows.get_mut(&p.id) {
            Some(k) => {
                k.seen = true;
                p.supersedes_earlier_line || k.hash != hash || k.active != p.active
            }
            None => true,
        }
    }

    /// Takes a batch of an import: returns the rows that must be written and how many distinct SKUs
    /// the batch delivered. SKUs whose rows were rejected count as delivered.
    pub fn take_batch(
        &mut self,
        distributor: &str,
        products: Vec<DistributorProduct>,
        problems: &[SyncErrorRecord],
    ) -> (Vec<DistributorProduct>, u64) {
        for id in rejected_ids(distributor, problems) {
            self.mark_seen(id);
        }
        let distinct = products.iter().filter(|p| !p.supersedes_earlier_line).count() as u64;
        (products.into_iter().filter(|p| self.needs_write(p)).collect(), distinct)
    }

    /// The active SKUs a full import must deactivate; refused when that is more than 20% of them.
    pub fn to_deactivate(&self, distributor: &str, full: bool, allow_mass: bool) -> Result<Vec<Uuid>, StoreError> {
        if !full {
            return Ok(Vec::new());
        }
        let missing = self.missing_active();
        check_mass_deactivation(distributor, missing.len() as u64, self.active_count(), allow_mass)?;
        Ok(missing)
    }

    /// Marks a product as delivered without writing it: its row in the file was rejected, so the
    /// stored row stays as it is rather than being deactivated.
    fn mark_seen(&mut self, id: Uuid) {
        if let Some(k) = self.rows.get_mut(&id) {
            k.seen = true;
        }
    }

    /// Stored active products that the import did not deliver.
    fn missing_active(&self) -> Vec<Uuid> {
        self.rows.iter().filter(|(_, k)| k.active && !k.seen).map(|(id, _)| *id).collect()
    }
}

/// Ids of the SKUs whose rows were rejected: still listed by the distributor, so never deactivated.
fn rejected_ids<'a>(distributor: &'a str, problems: &'a [SyncErrorRecord]) -> impl Iterator<Item = Uuid> + 'a {
    problems
        .iter()
        .filter(|p| p.error_type == ErrorType::Rejected)
        .filter_map(|p| p.record_id.as_deref())
        .map(|sku| distributor_product_id(distributor, sku))
}

/// Refuses a deactivation of more than 20% of a distributor's active products.
fn check_mass_deactivation(distributor: &str, would: u64, active: u64, allow: bool) -> Result<(), StoreError> {
    let ratio = if active == 0 { 0.0 } else { would as f64 / active as f64 };
    if ratio > MASS_DEACTIVATION_RATIO && !allow {
        return Err(StoreError::MassDeactivation {
            distributor: distributor.to_string(),
            would,
            active,
            percent: ratio * 100.0,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product::distributor_product_id;

    fn product(sku: &str, title: &str) -> DistributorProduct {
        DistributorProduct {
            id: distributor_product_id("acme", sku),
            sku: sku.into(),
            gtin: None,
            mpn: None,
            brand: None,
            title: Some(title.into()),
            description: None,
            price: None,
            cost: None,
            quantity: None,
            category: None,
            source_updated_at: None,
            attributes_json: "{}".into(),
            active: true,
            content_hash: String::new(),
            line: 2,
            supersedes_earlier_line: false,
        }
        .seal()
    }

    #[test]
    fn only_new_changed_and_repeated_rows_need_writing() {
        let same = product("A", "a");
        let mut known = KnownProducts::default();
        known.insert(same.id, &same.content_hash, true);
        known.insert(product("B", "b").id, &product("B", "b").content_hash, true);
        known.insert(product("C", "c").id, &product("C", "c").content_hash, false);
        assert!(!known.needs_write(&same));
        assert!(known.needs_write(&product("B", "changed")));
        assert!(known.needs_write(&product("N", "new")));
        let repeat = DistributorProduct { supersedes_earlier_line: true, ..same };
        assert!(known.needs_write(&repeat));
        // C is inactive and B was seen: nothing is missing.
        assert!(known.missing_active().is_empty());
        assert_eq!(known.active_count(), 2);
    }

    #[test]
    fn unseen_active_rows_are_missing() {
        let mut known = KnownProducts::default();
        let a = product("A", "a");
        known.insert(a.id, &a.content_hash, true);
        assert_eq!(known.missing_active(), vec![a.id]);
    }
}
