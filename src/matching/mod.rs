//! Product matching: links each distributor offer to at most one catalog product, with a score,
//! the method that decided (GTIN, part number or fuzzy title) and the evidence.
//!
//! No IO here: callers hand in the texts of both sides. `text` normalizes codes, brands and pack
//! counts; `index` finds candidates without the cross product (title TF-IDF top-k and exact
//! codes); `score` weighs each candidate's evidence; `assign` keeps one offer per catalog product
//! within a feed and sends near-ties to review; `eval` measures all of it against a labelled truth.

pub mod aliases;
pub mod em;
pub mod eval;
pub mod index;
pub mod record;
pub mod run;
pub mod score;
pub mod text;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use index::CatalogIndex;
use score::{Agreement, CodeLevel, Evidence, Weights};

/// The text of a catalog product or an offer, as matching reads it.
#[derive(Debug, Clone, Default)]
pub struct ProductText {
    pub id: String,
    pub title: String,
    pub brand: String,
    pub mpn: String,
    pub gtin: String,
    pub price: Option<f64>,
}

impl ProductText {
    /// Brand and title together: many titles omit the brand the other side's title has.
    fn full_title(&self) -> String {
        format!("{} {}", self.brand, self.title)
    }
}

/// Thresholds, from `[matching]` in the config.
#[derive(Debug, Clone, Copy)]
pub struct MatchOptions {
    /// Score from which a link is made without review.
    pub auto_accept: f64,
    /// Score from which a candidate is queued for review.
    pub review: f64,
    /// A runner-up whose match weight is within this many log-odds of the best makes the best a
    /// review case (scores near 1 all look alike; weights keep their distance).
    pub ambiguity_margin: f64,
    /// Title candidates per offer.
    pub candidates: usize,
    /// Estimate the feature weights from the feed itself (EM, the hand weights as prior) instead
    /// of using the hand weights. Off by default: on Walmart-Amazon it costs F1 (0.851 → 0.800),
    /// because EM takes look-alike pairs for matches.
    pub estimate_weights: bool,
}

impl Default for MatchOptions {
    fn default() -> MatchOptions {
        MatchOptions { auto_accept: 0.9, review: 0.5, ambiguity_margin: 1.0, candidates: 20, estimate_weights: false }
    }
}

/// What decided a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Gtin,
    Mpn,
    Fuzzy,
    /// A person linked the two.
    Manual,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Gtin => "gtin",
            Method::Mpn => "mpn",
            Method::Fuzzy => "fuzzy",
            Method::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        [Method::Gtin, Method::Mpn, Method::Fuzzy, Method::Manual].into_iter().find(|m| m.as_str() == s)
    }
}

/// Whether a link stands on its own, waits for a person, or a person decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Auto,
    Review,
    /// A person confirmed it (or linked the pair by hand).
    Confirmed,
    /// A person rejected it.
    Rejected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Auto => "auto",
            Status::Review => "review",
            Status::Confirmed => "confirmed",
            Status::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [Status::Auto, Status::Review, Status::Confirmed, Status::Rejected].into_iter().find(|m| m.as_str() == s)
    }

    /// Confirmed and rejected rows are a person's decisions: a rematch never changes them.
    pub fn is_decided(self) -> bool {
        matches!(self, Status::Confirmed | Status::Rejected)
    }

    /// Whether the link stands (is in `id_mappings` and shown to customers).
    pub fn is_link(self) -> bool {
        matches!(self, Status::Auto | Status::Confirmed)
    }
}

/// A proposed link of `offers[offer]` to `catalog[product]`.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub offer: usize,
    pub product: usize,
    pub score: f64,
    pub method: Method,
    pub status: Status,
    pub evidence: Evidence,
}

/// The best candidates of one offer, best first, with their match weights.
struct Scored {
    offer: usize,
    candidates: Vec<(usize, f64, Evidence)>,
}

/// What the store knows beyond the texts: decisions and links that constrain a run.
#[derive(Debug, Default)]
pub struct MatchHints<'a> {
    /// (offer, product) pairs a person rejected: never proposed again.
    pub rejected: HashSet<(usize, usize)>,
    /// Products already linked to another offer of the feed that this run does not rematch.
    pub taken: HashSet<usize>,
    /// Counts offers as they are scored, for a progress bar.
    pub progress: Option<&'a AtomicUsize>,
}

/// Links the offers of one feed to the catalog: at most one product per offer and, within the
/// feed, one offer per product (the best; the others go to review).
pub fn match_feed(catalog: &[ProductText], offers: &[ProductText], options: &MatchOptions) -> Vec<Link> {
    match_offers(catalog, offers, options, &MatchHints::default())
}

/// `match_feed` under the store's constraints (`hints`).
pub fn match_offers(
    catalog: &[ProductText],
    offers: &[ProductText],
    options: &MatchOptions,
    hints: &MatchHints,
) -> Vec<Link> {
    let index = CatalogIndex::build(catalog, offers);
    let hand = Weights::hand();
    let weights = if options.estimate_weights {
        let patterns = in_parallel(offers, |_, offer| {
            let mut patterns = em::Patterns::default();
            candidates(&index, offer, options).for_each(|(_, evidence)| patterns.add(&evidence, &hand));
            patterns
        });
        em::estimate(&patterns.into_iter().fold(em::Patterns::default(), em::Patterns::merge), &hand)
    } else {
        hand
    };
    let scored = in_parallel(offers, |i, offer| {
        let scored = score_offer(&index, i, offer, options, &weights, &hints.rejected);
        if let Some(progress) = hints.progress {
            progress.fetch_add(1, Ordering::Relaxed);
        }
        scored
    });
    assign(scored.into_iter().flatten().collect(), catalog.len(), options, &hints.taken)
}

/// Offers (by position) that would have one of the `changed` catalog products among their
/// candidates at a score worth reviewing: after a catalog change, only they need a rematch.
pub fn offers_near(
    catalog: &[ProductText],
    changed: &HashSet<usize>,
    offers: &[ProductText],
    options: &MatchOptions,
) -> Vec<usize> {
    if changed.is_empty() {
        return Vec::new();
    }
    let index = CatalogIndex::build(catalog, offers);
    let weights = Weights::hand();
    let near = in_parallel(offers, |_, offer| {
        candidates(&index, offer, options)
            .any(|(row, evidence)| changed.contains(&row) && score::score(evidence.weight(&weights)) >= options.review)
    });
    near.into_iter().enumerate().filter_map(|(i, near)| near.then_some(i)).collect()
}

/// `f(number, item)` for every item, one chunk per core: offers (and products being tokenized) are
/// independent of each other given read-only state.
fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let f = &f;
        let workers: Vec<_> = items
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                scope.spawn(move || part.iter().enumerate().map(|(i, o)| f(c * chunk + i, o)).collect::<Vec<_>>())
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("scoring does not panic")).collect()
    })
}

/// The catalog rows worth comparing with an offer, with the evidence of each comparison.
fn candidates<'a>(
    index: &'a CatalogIndex<'a>,
    text: &ProductText,
    options: &MatchOptions,
) -> impl Iterator<Item = (usize, Evidence)> + 'a {
    let prepared = index.prepare(text);
    let rows = index.candidates(&prepared, options.candidates);
    rows.into_iter().map(move |row| (row as usize, Evidence::compare(index, index.row(row as usize), &prepared)))
}

fn score_offer(
    index: &CatalogIndex,
    offer: usize,
    text: &ProductText,
    options: &MatchOptions,
    weights: &Weights,
    rejected: &HashSet<(usize, usize)>,
) -> Option<Scored> {
    let mut candidates: Vec<(usize, f64, Evidence)> = candidates(index, text, options)
        .filter(|(row, _)| !rejected.contains(&(offer, *row)))
        .map(|(row, evidence)| (row, evidence.weight(weights), evidence))
        .collect();
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    candidates.truncate(2);
    // Most offers of a big feed have no product worth a look: nothing of them is kept.
    let reviewable = candidates.first().is_some_and(|c| score::score(c.1) >= options.review);
    reviewable.then_some(Scored { offer, candidates })
}

/// Greedy one-to-one assignment of the reviewable offers by descending score (JedAI's unique
/// mapping clustering): a link is made only while its product is free. A near-tie is a review
/// case, never a coin toss: an offer whose runner-up product is nearly as good, a product that two
/// offers of the feed want about equally (duplicate listings), a product another offer already
/// took, or another pack size.
fn assign(mut best: Vec<Scored>, products: usize, options: &MatchOptions, taken: &HashSet<usize>) -> Vec<Link> {
    best.sort_by(|a, b| b.candidates[0].1.total_cmp(&a.candidates[0].1).then(a.offer.cmp(&b.offer)));
    // The two best scores of the offers that want each product most.
    let mut wanted = vec![(f64::NEG_INFINITY, f64::NEG_INFINITY); products];
    for s in &best {
        let (product, weight, _) = s.candidates[0];
        let w = &mut wanted[product];
        *w = if weight > w.0 { (weight, w.0) } else { (w.0, w.1.max(weight)) };
    }
    let near = |a: f64, b: f64| b >= a - options.ambiguity_margin;
    let mut taken: Vec<bool> = (0..products).map(|p| taken.contains(&p)).collect();
    best.into_iter()
        .map(|mut s| {
            let runner_up = s.candidates.get(1).map(|c| c.1);
            let (product, weight, evidence) = s.candidates.swap_remove(0);
            let score = score::score(weight);
            let decisive = evidence.gtin == Agreement::Agree;
            let rival_offer = near(wanted[product].0, wanted[product].1);
            // Another pack size is another product at another price: never linked unseen.
            let ambiguous = evidence.pack == Agreement::Conflict
                || !decisive && (rival_offer || runner_up.is_some_and(|r| near(weight, r)));
            // Only an automatic link takes its product: a review case must not block a clean one.
            let auto = !taken[product] && !ambiguous && score >= options.auto_accept;
            taken[product] |= auto;
            let status = if auto { Status::Auto } else { Status::Review };
            Link { offer: s.offer, product, score, method: method(&evidence), status, evidence }
        })
        .collect()
}

fn method(e: &Evidence) -> Method {
    match (e.gtin, e.code) {
        (Agreement::Agree, _) => Method::Gtin,
        (_, CodeLevel::RareExact | CodeLevel::CommonExact) => Method::Mpn,
        _ => Method::Fuzzy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: &str, title: &str, brand: &str, mpn: &str, gtin: &str) -> ProductText {
        ProductText {
            id: id.into(),
            title: title.into(),
            brand: brand.into(),
            mpn: mpn.into(),
            gtin: gtin.into(),
            price: None,
        }
    }

    fn catalog() -> Vec<ProductText> {
        vec![
            product("c1", "Wintec FileMate 4GB CompactFlash Card", "Wintec", "3FMCF4GB-R", ""),
            product("c2", "Kodak Black Ink Cartridge 10B", "Kodak", "1163641", "041771163648"),
            product("c3", "Belkin Pro Series USB 2.0 Cable 6 ft 3-Pack", "Belkin", "F3U138B06", ""),
        ]
    }

    #[test]
    fn a_upc_and_its_ean_form_are_one_gtin_even_without_a_shared_word() {
        let offers = [product("o1", "Tintenpatrone schwarz", "", "", "0041771163648")];
        let links = match_feed(&catalog(), &offers, &MatchOptions::default());
        assert_eq!((links[0].product, links[0].method, links[0].status), (1, Method::Gtin, Status::Auto));
    }

    #[test]
    fn two_offers_that_want_one_product_equally_go_to_review() {
        let offers = [
            product("o1", "Wintec Filemate 4 GB CompactFlash Card", "Wintec", "3FMCF4GB-R", ""),
            product("o2", "Wintec Filemate 4 GB CompactFlash Card", "Wintec", "3FMCF4GB-R", ""),
        ];
        let links = match_feed(&catalog(), &offers, &MatchOptions::default());
        assert_eq!(links.len(), 2);
        assert!(links.iter().all(|l| l.product == 0 && l.status == Status::Review), "{links:?}");
        let single = match_feed(&catalog(), &offers[..1], &MatchOptions::default());
        assert_eq!((single[0].status, single[0].method), (Status::Auto, Method::Mpn));
    }

    /// The evidence of an offer against one catalog row, and whether the offer was linked unseen.
    fn judged(catalog: &[ProductText], offer: &ProductText, row: usize) -> (Evidence, f64, bool) {
        let index = CatalogIndex::build(catalog, std::slice::from_ref(offer));
        let evidence = Evidence::compare(&index, index.row(row), &index.prepare(offer));
        let links = match_feed(catalog, std::slice::from_ref(offer), &MatchOptions::default());
        let weight = evidence.weight(&Weights::hand());
        (evidence, weight, links.iter().any(|l| l.status == Status::Auto))
    }

    #[test]
    fn another_colour_or_a_sibling_model_is_not_linked_unseen() {
        let catalog = [
            product("c1", "Vantec NexStar 3 Enclosure Onyx Black", "Vantec", "NST-360U2-BK", ""),
            product("c2", "StarTech 8 Port USB to RS232 Serial Adapter Hub", "StarTech", "ICUSB2328", ""),
        ];
        let offers = [
            product("o1", "Vantec NexStar 3 Enclosure Brilliant Red", "Vantec", "NST-360U2-RD", ""),
            product("o2", "StarTech USB to RS232 Serial Adapter Hub", "StarTech", "ICUSB2324", ""),
        ];
        let [colour, sibling] = [0, 1].map(|i| judged(&catalog, &offers[i], i));
        assert_eq!(colour.0.colour, Agreement::Conflict);
        assert_eq!(sibling.0.code, CodeLevel::Sibling);
        for (evidence, _, auto) in [colour, sibling] {
            assert!(!auto, "{evidence:?}");
        }
    }

    /// Weighs against, not a veto: titles state capacities of parts and bundles too.
    #[test]
    fn another_capacity_weighs_against() {
        let catalog = [product("c1", "Transcend StoreJet 25D2 500GB External Hard Drive", "Transcend", "", "")];
        let other = product("o1", "Transcend StoreJet 25D2 1TB External Hard Drive", "Transcend", "", "");
        let (evidence, other_weight, _) = judged(&catalog, &other, 0);
        assert_eq!(evidence.measures, Agreement::Conflict);
        let same = product("o1", "Transcend StoreJet 25D2 500 GB External Hard Drive", "Transcend", "", "");
        let (evidence, same_weight, _) = judged(&catalog, &same, 0);
        assert_eq!(evidence.measures, Agreement::Agree);
        assert!(same_weight > other_weight + 2.5, "{same_weight} {other_weight}");
    }

    #[test]
    fn a_kit_weighs_less_against_the_item_alone() {
        let camera = product("c1", "Olympus VG-110 Silver 12MP Digital Camera", "Olympus", "", "");
        let bundle = product("c1", "Olympus VG-110 Silver 12MP Digital Camera Bundle", "Olympus", "", "");
        let offer = product("o1", "Olympus VG-110 Silver 12MP Digital Camera", "Olympus", "", "");
        let (evidence, kit_weight, _) = judged(std::slice::from_ref(&bundle), &offer, 0);
        assert_eq!(evidence.kit, Agreement::Conflict);
        let (_, single_weight, _) = judged(&[camera], &offer, 0);
        assert!(single_weight > kit_weight + 1.0, "{single_weight} {kit_weight}");
    }

    #[test]
    fn one_part_number_under_another_brand_is_not_linked_unseen() {
        let catalog = [product("c1", "Ape Case AC165 Digital Camera Case", "Ape Case", "AC165", "")];
        let offer = product("o1", "Ape Case AC165 Digital Camera Bag", "Norazza", "AC165", "");
        let (evidence, weight, _) = judged(&catalog, &offer, 0);
        assert_eq!((evidence.code, evidence.brand), (CodeLevel::RareExact, Agreement::Conflict));
        let (_, same_brand, _) = judged(&catalog, &ProductText { brand: "Ape Case".into(), ..offer }, 0);
        assert!(same_brand > weight + 3.0);
    }

    #[test]
    fn a_pack_of_two_is_a_twin_pack_and_not_a_four_pack() {
        let catalog = [product("c1", "Fujifilm Instax Mini Film Pack of 2", "Fujifilm", "", "")];
        let twin = product("o1", "Fujifilm Instax Mini Film Twin Pack", "Fujifilm", "", "");
        assert_eq!(judged(&catalog, &twin, 0).0.pack, Agreement::Agree);
        let four = product("o1", "Fujifilm Instax Mini Film 4pk", "Fujifilm", "", "");
        let (evidence, _, auto) = judged(&catalog, &four, 0);
        assert_eq!(evidence.pack, Agreement::Conflict);
        assert!(!auto);
        let unstated = product("o1", "Fujifilm Instax Mini Film", "Fujifilm", "", "");
        assert_eq!(judged(&catalog, &unstated, 0).0.pack, Agreement::Unknown, "only stated counts compare");
    }

    #[test]
    fn a_different_brand_or_pack_size_is_evidence_against() {
        let offers = [
            product("o1", "Memory 4GB CompactFlash Card 3FMCF4GB-R", "Transcend", "", ""),
            product("o2", "Belkin Pro Series USB 2.0 Cable 6 ft 2-Pack", "Belkin", "F3U138B06", ""),
        ];
        let links = match_feed(&catalog(), &offers, &MatchOptions::default());
        for link in &links {
            assert_ne!(link.status, Status::Auto, "{link:?}");
        }
        let belkin = links.iter().find(|l| l.offer == 1).unwrap();
        assert_eq!(belkin.evidence.pack, Agreement::Conflict);
        let transcend = links.iter().find(|l| l.offer == 0).unwrap();
        assert_eq!(transcend.evidence.brand, Agreement::Conflict);
    }

    #[test]
    fn part_numbers_in_two_numbering_schemes_are_no_evidence_against() {
        let catalog = [product("c1", "Case Logic 72 Capacity Heavy Duty CD Wallet", "Case Logic", "59253", "")];
        let offer =
            product("o1", "Case Logic CDE-72 72 Capacity Heavy Duty CD Wallet Blue", "Case Logic", "CDE-72BLUE", "");
        let (evidence, schemes, _) = judged(&catalog, &offer, 0);
        assert_eq!(evidence.code, CodeLevel::Unknown);
        let catalog = [ProductText { mpn: "CDW-72".into(), ..catalog[0].clone() }];
        let (evidence, conflict, _) = judged(&catalog, &offer, 0);
        assert_eq!(evidence.code, CodeLevel::Conflict, "one scheme: a real conflict");
        assert!(schemes > conflict + 1.5, "{schemes} {conflict}");
    }

    #[test]
    fn a_shared_title_code_that_is_neither_part_number_is_a_common_code() {
        let catalog =
            [product("c1", "StarTech LFH 59 Male to Dual Female VGA DMS 59 Cable", "StarTech", "DMSVGAVGA1", "")];
        let offer = product("o1", "StarTech LFH 59 Male to Dual Female DVI DMS 59 Cable", "StarTech", "DMSDVIDVI1", "");
        let (evidence, _, auto) = judged(&catalog, &offer, 0);
        assert_eq!(evidence.code, CodeLevel::CommonExact, "{evidence:?}");
        assert!(!auto);
        let same = ProductText { mpn: "DMSVGAVGA1".into(), ..offer };
        assert_eq!(judged(&catalog, &same, 0).0.code, CodeLevel::RareExact);
    }

    #[test]
    fn a_close_price_weighs_for_and_a_far_one_against() {
        let catalog = [ProductText {
            price: Some(100.0),
            ..product("c1", "Da-Lite Deluxe Screen Joining Clamp", "Da-Lite", "", "")
        }];
        let at = |price: f64| {
            let offer =
                ProductText { price: Some(price), ..product("o1", "Da-Lite Deluxe Joining Clamp", "Da-Lite", "", "") };
            judged(&catalog, &offer, 0).1
        };
        let (equal, close, usual, far, extreme) = (at(100.0), at(93.0), at(70.0), at(40.0), at(20.0));
        assert!(
            equal > close && close > usual && usual > far && far > extreme,
            "{equal} {close} {usual} {far} {extreme}"
        );
        let unpriced = judged(&catalog, &product("o1", "Da-Lite Deluxe Joining Clamp", "Da-Lite", "", ""), 0).1;
        assert_eq!(unpriced, usual, "a usual ratio says nothing");
    }

    #[test]
    fn a_part_of_a_dashed_code_is_no_stem_of_a_variant() {
        let catalog = [product("c1", "iFrogz Summit Case for iPad 2 Black", "iFrogz", "IPAD2SUMBLK", "")];
        let blue = "iFrogz Summit Case for iPad 2 - Black with Blue Shell IPAD2-SUM-BLU";
        let offer = product("o1", blue, "iFrogz", "IPAD2-SUM-BLU", "");
        let (evidence, _, auto) = judged(&catalog, &offer, 0);
        assert_eq!(evidence.code, CodeLevel::Conflict, "`ipad2` is a part: {evidence:?}");
        assert!(!auto);
        let case = product("o1", "iFrogz Summit Case IPAD2-SUM-BLK", "iFrogz", "", "");
        assert_eq!(judged(&catalog, &case, 0).0.code, CodeLevel::RareExact, "the whole code still matches");
    }

    #[test]
    fn a_series_name_in_both_titles_is_not_the_part_number_one_side_has() {
        let catalog = [product(
            "c1",
            "Elite Screens MaxWhite VMAX2 Plus2 Series Motorized Screen - 135 Diagonal",
            "Elite Screens",
            "VMAX135XWH2",
            "",
        )];
        let offer = product("o1", "MaxWhite VMAX2 Plus2 Series Motorized Screen - 92 Diagonal", "Elite", "", "");
        let (evidence, _, auto) = judged(&catalog, &offer, 0);
        assert_eq!((evidence.code, evidence.measures), (CodeLevel::CommonExact, Agreement::Conflict), "{evidence:?}");
        assert!(!auto);
    }

    #[test]
    fn a_case_for_another_device_is_not_linked_unseen() {
        let catalog = [product("c1", "San Diego Chargers Camera Case", "Tribeca", "FVA2845", "")];
        let offer = product("o1", "San Diego Chargers iPod Touch 4G Hard Case", "Tribeca", "", "");
        let (evidence, _, auto) = judged(&catalog, &offer, 0);
        assert_eq!(evidence.device, Agreement::Conflict);
        assert!(!auto, "{evidence:?}");
    }

    /// Weighs against, not a veto (as a kit does): retailers list a refurbished unit under the
    /// model it is, and the evidence tells a reviewer.
    #[test]
    fn a_remanufactured_item_weighs_against_the_makers_new_one() {
        // Beside other products, so that the titles' words weigh something.
        let mut catalog = vec![product("c1", "HP CE250A Black Toner Cartridge", "HP", "CE250A", "")];
        catalog.extend(self::catalog());
        let remade = product("o1", "HP CE250A Black Toner Cartridge -Remanufactured", "HP", "", "");
        let genuine = product("o1", "HP CE250A Black Toner Cartridge Genuine", "HP", "", "");
        let (evidence, remade_weight, _) = judged(&catalog, &remade, 0);
        assert_eq!(evidence.condition, Agreement::Conflict);
        let (evidence, genuine_weight, auto) = judged(&catalog, &genuine, 0);
        assert_eq!(evidence.condition, Agreement::Unknown);
        assert!(auto, "the maker's own item links: {evidence:?}");
        assert!(genuine_weight > remade_weight + 2.5, "{genuine_weight} {remade_weight}");
    }

    #[test]
    fn part_numbers_that_differ_only_in_zeros_are_variants() {
        let catalog = [product("c1", "Razer Pro Click Mobile Notebook Mouse Pink", "Razer", "RP01-050106R1M1", "")];
        let offer =
            product("o1", "Razer Pro Click Mobile Notebook Mouse Sugar Pink", "Razer", "RP01-00050106-R1M1", "");
        assert_eq!(judged(&catalog, &offer, 0).0.code, CodeLevel::Variant);
        let other = product("o1", "Razer Pro Click Mobile Notebook Mouse Pink", "Razer", "RP01-050107R1M1", "");
        assert_ne!(judged(&catalog, &other, 0).0.code, CodeLevel::Variant);
    }
}
