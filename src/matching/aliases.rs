//! Brand aliases beyond the built-in ones: from `[matching] brand_aliases` and learned from
//! confirmed matches ("Hewlett Packard Enterprise" on a feed is "HPE" in the catalog).

use std::collections::HashMap;

use super::text;

/// Brand key → the brand name every alias is rewritten to before matching.
#[derive(Debug, Clone, Default)]
pub struct BrandAliases {
    canonical: HashMap<String, String>,
}

impl BrandAliases {
    /// Each group lists names of one brand; the first is the one the others become.
    pub fn from_groups(groups: &[Vec<String>]) -> BrandAliases {
        let mut aliases = BrandAliases::default();
        for group in groups {
            if let Some((first, rest)) = group.split_first() {
                for key in rest.iter().filter_map(|alias| text::brand_key(alias)) {
                    aliases.canonical.insert(key, first.clone());
                }
            }
        }
        aliases
    }

    /// A person confirmed that `offer_brand` names `catalog_brand`: from now on it does, unless
    /// the two already agree or the alias is already known.
    pub fn learn(&mut self, offer_brand: &str, catalog_brand: &str) {
        let (Some(key), Some(catalog_key)) = (text::brand_key(offer_brand), text::brand_key(catalog_brand)) else {
            return;
        };
        if text::brands_agree(&key, &catalog_key) {
            return;
        }
        self.canonical.entry(key).or_insert_with(|| catalog_brand.to_string());
    }

    /// The brand name to match with: the canonical one when `brand` is a known alias.
    pub fn apply<'a>(&'a self, brand: &'a str) -> &'a str {
        text::brand_key(brand).and_then(|key| self.canonical.get(&key)).map_or(brand, String::as_str)
    }

    pub fn len(&self) -> usize {
        self.canonical.len()
    }

    pub fn is_empty(&self) -> bool {
        self.canonical.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_groups_rewrite_every_alias_to_the_first_name() {
        let aliases =
            BrandAliases::from_groups(&[vec!["Bosch".into(), "Robert Bosch Tool Corp".into(), "BOSCH PT".into()]]);
        assert_eq!(aliases.apply("BOSCH PT"), "Bosch");
        assert_eq!(aliases.apply("Makita"), "Makita");
        assert_eq!(aliases.apply("Robert Bosch Tool Corp"), "Bosch");
    }

    #[test]
    fn a_confirmed_pair_teaches_an_alias_only_when_the_brands_disagree() {
        let mut aliases = BrandAliases::default();
        aliases.learn("HP Inc.", "HP");
        assert!(aliases.is_empty(), "the two already agree");
        aliases.learn("Hewlett Packard Enterprise", "HPE");
        assert_eq!(aliases.apply("HEWLETT PACKARD ENTERPRISE"), "HPE");
        aliases.learn("", "HPE");
        assert_eq!(aliases.len(), 1);
    }
}
