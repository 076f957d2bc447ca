//! Maps a feed's header row to catsync's canonical product fields.

use std::collections::BTreeMap;
use std::fmt;

/// A canonical field of a distributor product that a feed column can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Sku,
    Gtin,
    Mpn,
    Brand,
    Title,
    Description,
    Price,
    Cost,
    Quantity,
    Category,
    UpdatedAt,
    Active,
}

impl Role {
    pub const ALL: [Role; 12] = [
        Role::Sku,
        Role::Gtin,
        Role::Mpn,
        Role::Brand,
        Role::Title,
        Role::Description,
        Role::Price,
        Role::Cost,
        Role::Quantity,
        Role::Category,
        Role::UpdatedAt,
        Role::Active,
    ];

    /// The name used in `[distributors.columns]` and in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Role::Sku => "sku",
            Role::Gtin => "gtin",
            Role::Mpn => "mpn",
            Role::Brand => "brand",
            Role::Title => "title",
            Role::Description => "description",
            Role::Price => "price",
            Role::Cost => "cost",
            Role::Quantity => "quantity",
            Role::Category => "category",
            Role::UpdatedAt => "updated_at",
            Role::Active => "active",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Header names seen in real feeds, in normalized form (see `normalize_header`).
    fn synonyms(self) -> &'static [&'static str] {
        match self {
            Role::Sku => &[
                "sku",
                "item",
                "item number",
                "item no",
                "item num",
                "item id",
                "item sku",
                "article",
                "article number",
                "article no",
                "artnr",
                "art nr",
                "part number",
                "part no",
                "seller sku",
                "product id",
                "productid",
                "id",
                "stock code",
                "stockcode",
                "supplier part number",
                "supplier aid",
                "supplier pid",
                "matnr",
                "part num",
                "variant sku",
                "ingram part number",
                "synnex sku",
                "d h item number",
                "p id",
                "acm",
                "your sku",
                "sku number",
                "artikelnummer",
            ],
            Role::Gtin => &[
                "gtin",
                "upc",
                "ean",
                "barcode",
                "bar code",
                "upc code",
                "ean code",
                "eancode",
                "eanupc code",
                "upc ean",
                "ean upc",
                "variant barcode",
                "gtin13",
                "gtin 13",
                "gtin14",
                "gtin 14",
                "ean13",
                "ean 13",
                "upc a",
                "isbn",
            ],
            Role::Mpn => &[
                "mpn",
                "mfr part",
                "mfr part number",
                "mfr part no",
                "mfg part number",
                "mfg part no",
                "manufacturer part number",
                "manufacturer part",
                "manufacturer part no",
                "vendor part number",
                "vend part",
                "vendorpartnumber",
                "manu part",
                "manuf part no",
                "manufpartno",
                "manufacturer sku",
                "man code sku",
                "manufacturer aid",
                "manufacturer pid",
                "herstnr",
                "model",
                "model number",
                "modelno",
                "model no",
                "vpn",
                "herstellernummer",
            ],
            Role::Brand => &[
                "brand",
                "brand name",
                "manufacturer",
                "manufacturer name",
                "mfr",
                "mfg",
                "vendor",
                "vendor name",
                "hersteller",
                "make",
                "marke",
            ],
            Role::Title => &[
                "title",
                "name",
                "product name",
                "item name",
                "product title",
                "short description",
                "shortdescription",
                "artname",
                "descr",
                "part description",
                "item description",
                "bezeichnung",
            ],
            Role::Description => &[
                "description",
                "long description",
                "longdescription",
                "extended description",
                "body html",
                "product description",
                "desc",
                "beschreibung",
            ],
            Role::Price => &[
                "price",
                "unit price",
                "dealer price",
                "list price",
                "retail price",
                "msrp",
                "rrp",
                "sale price",
                "regular price",
                "variant price",
                "selling price",
                "vk",
                "vkbrutto",
                "preis",
                "sell price",
            ],
            Role::Cost => &[
                "cost",
                "unit cost",
                "cost price",
                "customer price",
                "dealer cost",
                "buy price",
                "hek",
                "ek",
                "net price",
                "cost per item",
                "purchase price",
            ],
            Role::Quantity => &[
                "qty",
                "quantity",
                "stock",
                "on hand",
                "qty on hand",
                "quantity on hand",
                "available quantity",
                "qty available",
                "available qty",
                "inventory",
                "stock qty",
                "stock quantity",
                "bestand",
                "menge",
                "available",
                "inventory quantity",
                "variant inventory qty",
                "stock level",
                "qty avail",
                "lagerbestand",
            ],
            Role::Category => &[
                "category",
                "categories",
                "product type",
                "product category",
                "kategorie",
                "category path",
                "product group",
                "warengruppe",
            ],
            Role::UpdatedAt => &[
                "updated",
                "updated at",
                "last modified",
                "last updated",
                "modified",
                "modified at",
                "date modified",
                "last change",
                "last changed",
                "updated on",
                "timestamp",
                "geändert",
                "geaendert",
                "aenderungsdatum",
            ],
            Role::Active => &["active", "enabled", "is active", "published", "aktiv"],
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Lower-cases a header and reduces punctuation to single spaces: `"Item #"` → `"item"`,
/// `"D&H Item Number"` → `"d h item number"`.
pub fn normalize_header(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    for word in header.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// Where each canonical field is in a feed's rows, and which columns go to `attributes`.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    /// Header names after de-duplication, in file order.
    pub headers: Vec<String>,
    roles: BTreeMap<Role, usize>,
    /// Column indexes kept as attributes, in file order.
    pub attributes: Vec<usize>,
}

/// Why a header row cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("column mapping {role} = {header:?} names a header that is not in the file (headers: {headers})")]
    ConfiguredHeaderMissing { role: Role, header: String, headers: String },
    #[error("no column holds the SKU: none of the headers ({headers}) is a known SKU header; map one in the config with [distributors.columns] sku = \"<header>\"")]
    NoSkuColumn { headers: String },
}

impl ColumnMap {
    /// Builds the map: configured columns first, then known header names for the other fields.
    pub fn build(raw_headers: &[String], configured: &BTreeMap<Role, String>) -> Result<ColumnMap, MappingError> {
        let headers = dedup_headers(raw_headers);
        let mut roles = BTreeMap::new();
        for (&role, wanted) in configured {
            let wanted_norm = wanted.trim().to_lowercase();
            let found = headers.iter().position(|h| h.trim().to_lowercase() == wanted_norm).ok_or_else(|| {
                MappingError::ConfiguredHeaderMissing { role, header: wanted.clone(), headers: quoted_list(&headers) }
            })?;
            roles.insert(role, found);
        }
        let normalized: Vec<String> = headers.iter().map(|h| normalize_header(h)).collect();
        for role in Role::ALL {
            if roles.contains_key(&role) {
                continue;
            }
            // Synonyms are ordered from most to least specific, so the first synonym present wins.
            let taken: Vec<usize> = roles.values().copied().collect();
            let found = role
                .synonyms()
                .iter()
                .find_map(|syn| normalized.iter().enumerate().position(|(i, h)| h == syn && !taken.contains(&i)));
            if let Some(i) = found {
                roles.insert(role, i);
            }
        }
        if !roles.contains_key(&Role::Sku) {
            return Err(MappingError::NoSkuColumn { headers: quoted_list(&headers) });
        }
        let mapped: Vec<usize> = roles.values().copied().collect();
        let attributes = (0..headers.len()).filter(|i| !mapped.contains(i)).collect();
        Ok(ColumnMap { headers, roles, attributes })
    }

    /// A map of a header row that could not be mapped: every column an attribute.
    pub fn unmapped(raw_headers: &[String]) -> ColumnMap {
        let headers = dedup_headers(raw_headers);
        let attributes = (0..headers.len()).collect();
        ColumnMap { headers, roles: BTreeMap::new(), attributes }
    }

    pub fn column(&self, role: Role) -> Option<usize> {
        self.roles.get(&role).copied()
    }

    /// The role and header of each mapped column, for summaries.
    pub fn mapped(&self) -> impl Iterator<Item = (Role, &str)> {
        self.roles.iter().map(|(&r, &i)| (r, self.headers[i].as_str()))
    }

    /// The header of column `index`, or a name for a value beyond the header row.
    pub fn header(&self, index: usize) -> String {
        self.headers.get(index).cloned().unwrap_or_else(|| format!("column {}", index + 1))
    }
}

/// Names blank headers after their position and suffixes repeated ones (`Qty`, `Qty_2`, …).
fn dedup_headers(raw: &[String]) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    raw.iter()
        .enumerate()
        .map(|(i, h)| {
            let base = match h.trim() {
                "" => format!("column {}", i + 1),
                t => t.to_string(),
            };
            let n = seen.entry(base.to_lowercase()).or_insert(0);
            *n += 1;
            if *n == 1 {
                base
            } else {
                format!("{base}_{n}")
            }
        })
        .collect()
}

fn quoted_list(headers: &[String]) -> String {
    headers.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn normalizes_punctuation_and_case() {
        assert_eq!(normalize_header("Item #"), "item");
        assert_eq!(normalize_header("D&H Item Number"), "d h item number");
        assert_eq!(normalize_header("  Qty On-Hand "), "qty on hand");
    }

    #[test]
    fn detects_common_headers() {
        let map = ColumnMap::build(
            &strings(&[
                "Item #",
                "UPC",
                "Mfr Part Number",
                "Manufacturer",
                "Product Name",
                "Dealer Price",
                "Qty",
                "Color",
            ]),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(map.column(Role::Sku), Some(0));
        assert_eq!(map.column(Role::Gtin), Some(1));
        assert_eq!(map.column(Role::Mpn), Some(2));
        assert_eq!(map.column(Role::Brand), Some(3));
        assert_eq!(map.column(Role::Title), Some(4));
        assert_eq!(map.column(Role::Price), Some(5));
        assert_eq!(map.column(Role::Quantity), Some(6));
        assert_eq!(map.attributes, vec![7]);
    }

    #[test]
    fn configured_columns_win_and_missing_ones_are_named() {
        let mut cfg = BTreeMap::new();
        cfg.insert(Role::Sku, "Code".to_string());
        let map = ColumnMap::build(&strings(&["sku", "Code"]), &cfg).unwrap();
        assert_eq!(map.column(Role::Sku), Some(1));
        assert_eq!(map.attributes, vec![0]);
        cfg.insert(Role::Price, "Net".to_string());
        let err = ColumnMap::build(&strings(&["sku", "Code"]), &cfg).unwrap_err();
        assert!(err.to_string().contains("price = \"Net\""), "{err}");
    }

    #[test]
    fn duplicated_and_blank_headers_get_unique_names() {
        let map = ColumnMap::build(&strings(&["sku", "Qty on Hand", "", "Qty on Hand"]), &BTreeMap::new()).unwrap();
        assert_eq!(map.headers, strings(&["sku", "Qty on Hand", "column 3", "Qty on Hand_2"]));
        assert_eq!(map.column(Role::Quantity), Some(1));
    }

    #[test]
    fn no_sku_header_is_an_error_listing_the_headers() {
        let err = ColumnMap::build(&strings(&["foo", "bar"]), &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("\"foo\", \"bar\""), "{err}");
    }
}
