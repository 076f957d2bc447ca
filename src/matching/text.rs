//! What product text becomes before it is compared: words, model-number codes, brand keys and
//! pack counts. Pure functions over strings; no IO.

use std::collections::HashSet;

/// Lowercase ASCII letters and digits only: `HLE08500-01K` → `hle0850001k`.
pub fn squash(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).filter(char::is_ascii_alphanumeric).collect()
}

/// Lowercase word tokens of a title: runs of letters and digits.
pub fn words(s: &str) -> Vec<String> {
    s.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// What an MPN field holds when there is none.
const NO_MPN: &[&str] = &["none", "na", "nan", "null", "unknown", "doesnotapply", "notapplicable", "nomodel"];

/// A normalized manufacturer part number: squashed, with an HP-style region suffix after `#`
/// dropped (`CD994FN#140` → `cd994fn`) and leading zeros of an all-digit code removed.
/// Several words without a digit ("Phantom Black", "Bluetooth Keyboard") are a name in the
/// wrong field, not a part number.
pub fn mpn_key(mpn: &str) -> Option<String> {
    let key = code_key(mpn);
    let prose = mpn.split_whitespace().count() > 1 && !key.bytes().any(|b| b.is_ascii_digit());
    (key.len() >= 3 && !prose && !NO_MPN.contains(&key.as_str())).then_some(key)
}

/// One spelling of a code wherever it comes from (MPN field or title).
fn code_key(raw: &str) -> String {
    let key = squash(raw.split('#').next().unwrap_or(raw));
    if key.bytes().all(|b| b.is_ascii_digit()) {
        key.trim_start_matches('0').to_string()
    } else {
        key
    }
}

/// Words that name a unit, so that `500gb`, `1080p` or `7200rpm` are not taken for part numbers.
const UNITS: &[&str] = &[
    "gb", "tb", "mb", "kb", "ghz", "mhz", "hz", "mm", "cm", "in", "inch", "ft", "m", "p", "i", "rpm", "w", "v", "mah",
    "ah", "pk", "pack", "pc", "pcs", "ct", "x", "way", "pin", "oz", "lb", "lbs", "kg", "g", "mp", "dpi", "ppm", "lm",
    "k", "th", "st", "nd", "rd", "bit", "mbps", "gbps", "ms", "ns", "db", "ml", "l", "yd", "port", "ports", "hr",
    "sheet", "sheets", "tab", "tabs", "outlet", "outlets", "channel", "ch", "watt", "watts", "volt", "volts", "feet",
    "foot", "inches", "page", "pages", "box", "carton", "disc", "discs", "bay", "button", "amp", "dbi", "meter",
    "piece", "pieces", "set", "sets", "base", "gen", "mw",
];

/// Words that are never the letter half of a split code ("with 2", "of 25", "to RS232").
const NOT_CODE_LETTERS: &[&str] = &["with", "and", "of", "to", "for", "the", "in", "on", "set", "pack", "by", "per"];

/// Words after which codes name the device an item fits, not the item ("for BD-C5500").
const HOST_MARKERS: &[&str] = &["for", "fits", "compatible", "replaces", "replacement"];
/// Words inside such a phrase ("compatible with Canon LP-E6") that do not end it.
const HOST_FILLERS: &[&str] = &["with", "use", "the", "a", "an", "and", "or", "models", "model", "series"];

/// Candidate part numbers in free text and an MPN field: tokens of 4+ characters with a digit
/// and a letter, all-digit tokens of 5+ digits, a short letter run joined to the digits after it
/// (`XRS 9645` → `xrs9645`), and the parts of dashed codes. Unit expressions and codes that follow
/// "for"/"compatible with" are skipped.
pub fn codes(title: &str, mpn: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    if let Some(key) = mpn_key(mpn) {
        out.insert(key);
    }
    let raw: Vec<&str> =
        title.split(|c: char| c.is_whitespace() || ",;()[]{}/\"'".contains(c)).filter(|t| !t.is_empty()).collect();
    // In a host phrase: skipping until a code was seen and a plain word follows it.
    let mut host: Option<bool> = None;
    for (i, token) in raw.iter().enumerate() {
        let lower = token.to_lowercase();
        if HOST_MARKERS.contains(&lower.as_str()) {
            host = Some(false);
            continue;
        }
        if matches!(lower.as_str(), "-" | "–" | "—" | "|") {
            // "… for iPad 2 - MW123X": a trailing " - CODE" is the item's own.
            host = None;
            continue;
        }
        if let Some(seen_code) = host {
            let code = is_code(&squash(token));
            if code || !seen_code || HOST_FILLERS.contains(&lower.as_str()) {
                host = Some(seen_code || code);
                continue;
            }
            host = None;
        }
        add_code(&mut out, token);
        if let Some(joined) = raw.get(i + 1).and_then(|next| split_code(token, next)) {
            out.insert(joined);
        }
    }
    out
}

/// `XRS 9645` → `xrs9645`: a short capitalized letter run and the number after it. A capitalized
/// word ("Duo 1", "Rail 96"), a decimal ("USB 2.0") or a size ("Head 2.4GHz") is not a split code.
fn split_code(letters: &str, next: &str) -> Option<String> {
    let key = squash(letters);
    let short_caps = (2..=4).contains(&letters.len()) && letters.bytes().all(|b| b.is_ascii_uppercase());
    let number = squash(next);
    let digits = number.bytes().filter(u8::is_ascii_digit).count();
    let plausible = short_caps
        && !NOT_CODE_LETTERS.contains(&key.as_str())
        && digits >= 2
        && !next.contains('.')
        && !is_unit_expression(&number);
    let joined = format!("{key}{number}");
    (plausible && is_code(&joined)).then_some(joined)
}

fn add_code(out: &mut HashSet<String>, token: &str) {
    let head = token.split('#').next().unwrap_or(token);
    if is_code(&squash(head)) {
        out.insert(code_key(head));
    }
    if head.contains('-') {
        for part in head.split('-').map(squash).filter(|p| is_code(p)) {
            out.insert(part);
        }
    }
}

/// Whether a squashed token looks like a part number rather than a word, a size or a year.
pub fn is_code(key: &str) -> bool {
    let digits = key.bytes().filter(u8::is_ascii_digit).count();
    if digits == key.len() {
        return key.len() >= 5;
    }
    key.len() >= 4 && digits > 0 && !is_unit_expression(key)
}

/// `500gb`, `1080p`, `2way`, `15pk`, `3x`: a number followed by a unit.
fn is_unit_expression(key: &str) -> bool {
    let split = key.find(|c: char| !c.is_ascii_digit()).unwrap_or(key.len());
    split > 0 && UNITS.contains(&&key[split..])
}

/// Corporate and generic words dropped from brand names before comparing them.
const BRAND_NOISE: &[&str] = &[
    "inc",
    "corp",
    "corporation",
    "co",
    "company",
    "ltd",
    "llc",
    "gmbh",
    "tech",
    "technology",
    "technologies",
    "products",
    "international",
    "electronics",
    "labs",
    "data",
    "multimedia",
    "com",
    "the",
    "usa",
    "america",
];

/// Brand aliases every catalog meets; config and confirmed matches add more.
const BRAND_ALIASES: &[(&str, &str)] =
    &[("hewlettpackard", "hp"), ("westerndigital", "wd"), ("3mcompany", "3m"), ("lgelectronics", "lg")];

/// A comparable brand key: lowercase, corporate words dropped, squashed, aliases applied
/// ("Hewlett-Packard Company" → `hp`).
pub fn brand_key(brand: &str) -> Option<String> {
    let kept: Vec<String> = words(brand).into_iter().filter(|w| !BRAND_NOISE.contains(&w.as_str())).collect();
    let key: String = kept.concat().chars().filter(char::is_ascii_alphanumeric).collect();
    if key.is_empty() {
        return None;
    }
    Some(BRAND_ALIASES.iter().find(|(from, _)| *from == key).map_or(key, |(_, to)| to.to_string()))
}

/// Whether two brand keys name the same maker: equal, or one a prefix of the other
/// (`startech` / `startechcom`).
pub fn brands_agree(a: &str, b: &str) -> bool {
    a == b || (a.len() >= 3 && b.len() >= 3 && (a.starts_with(b) || b.starts_with(a)))
}

/// A kind of measured quantity: two products that state different values of one kind differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Measure {
    /// Storage in kilobytes (`500GB`, `1 TB`).
    Bytes,
    Watts,
    Ports,
    Megapixels,
    Outlets,
    Channels,
    Sheets,
    MilliampHours,
    /// Clock or refresh rate in kHz.
    Hertz,
}

/// The unit words of each measure and what one unit is in the measure's base.
const MEASURE_UNITS: &[(&str, Measure, f64)] = &[
    ("kb", Measure::Bytes, 1.0),
    ("mb", Measure::Bytes, 1e3),
    ("gb", Measure::Bytes, 1e6),
    ("tb", Measure::Bytes, 1e9),
    ("w", Measure::Watts, 1.0),
    ("watt", Measure::Watts, 1.0),
    ("watts", Measure::Watts, 1.0),
    ("port", Measure::Ports, 1.0),
    ("ports", Measure::Ports, 1.0),
    ("mp", Measure::Megapixels, 1.0),
    ("megapixel", Measure::Megapixels, 1.0),
    ("outlet", Measure::Outlets, 1.0),
    ("outlets", Measure::Outlets, 1.0),
    ("channel", Measure::Channels, 1.0),
    ("ch", Measure::Channels, 1.0),
    ("sheet", Measure::Sheets, 1.0),
    ("sheets", Measure::Sheets, 1.0),
    ("mah", Measure::MilliampHours, 1.0),
    ("khz", Measure::Hertz, 1.0),
    ("mhz", Measure::Hertz, 1e3),
    ("ghz", Measure::Hertz, 1e6),
];

/// The capacities, wattages, port counts… a title states (`500GB`, `430-Watt`, `8 Port`), as
/// sorted (measure, value in the measure's base unit) pairs.
pub fn measures(title: &str) -> Vec<(Measure, u64)> {
    let lower = title.to_lowercase();
    let tokens: Vec<&str> =
        lower.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.')).filter(|t| !t.is_empty()).collect();
    let mut out = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let split = token.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(token.len());
        let (number, unit) = token.split_at(split);
        let Ok(value) = number.trim_end_matches('.').parse::<f64>() else { continue };
        let unit = if unit.is_empty() { tokens.get(i + 1).copied().unwrap_or_default() } else { unit };
        if let Some((_, measure, scale)) = MEASURE_UNITS.iter().find(|(u, _, _)| *u == unit) {
            out.push((*measure, (value * scale).round() as u64));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether two titles state different values of a measure both give ("500GB" against "1TB") and
/// none in common.
pub fn measures_conflict(a: &[(Measure, u64)], b: &[(Measure, u64)]) -> bool {
    a.iter().any(|(m, _)| {
        let values = |side: &[(Measure, u64)]| side.iter().filter(|(n, _)| n == m).map(|(_, v)| *v).collect::<Vec<_>>();
        let (va, vb) = (values(a), values(b));
        !vb.is_empty() && !va.iter().any(|v| vb.contains(v))
    })
}

/// Words that make a listing a set of several items rather than the item alone.
const KIT_WORDS: &[&str] = &["kit", "bundle", "combo"];

/// Whether a title sells a kit or bundle ("Camera Bundle w 4GB Card", "Starter Kit").
pub fn is_kit(title: &str) -> bool {
    words(title).iter().any(|w| KIT_WORDS.contains(&w.as_str()))
}

/// Colour names, then the abbreviations part numbers end with (`-BLK`, `-RD`).
const COLOURS: &[(&[&str], &[&str])] = &[
    (&["black"], &["blk", "bk"]),
    (&["white"], &["wht", "wh", "w"]),
    (&["red"], &["rd"]),
    (&["blue"], &["blu", "bl"]),
    (&["green"], &["grn"]),
    (&["pink"], &["pnk"]),
    (&["purple"], &[]),
    (&["violet"], &[]),
    (&["orange"], &[]),
    (&["yellow"], &[]),
    (&["silver"], &["slv"]),
    (&["gray", "grey"], &["gry"]),
    (&["gold"], &["gld"]),
    (&["brown"], &[]),
    (&["cyan"], &[]),
    (&["magenta"], &[]),
];

/// The colours a title names, and the one a part number's last dashed part abbreviates
/// (`NST-360U2-BK`), one bit per colour.
pub fn colours(title: &str, mpn: &str) -> u32 {
    let title = words(title);
    let suffix = mpn.rsplit_once(['-', '/']).map(|(_, s)| s.to_lowercase()).unwrap_or_default();
    let named = |(names, short): &(&[&str], &[&str])| {
        title.iter().any(|w| names.contains(&w.as_str())) || names.contains(&&*suffix) || short.contains(&&*suffix)
    };
    COLOURS.iter().enumerate().filter(|(_, c)| named(c)).fold(0, |bits, (i, _)| bits | 1 << i)
}

/// A pack count stated in a title ("2-Pack", "pack of 4", "4pk", "Twin-Pack"), if any.
pub fn pack_count(title: &str) -> Option<u32> {
    let w = words(title);
    for (i, word) in w.iter().enumerate() {
        let number = |s: &str| s.parse::<u32>().ok().filter(|n| (2..=500).contains(n));
        match word.as_str() {
            "twin" if w.get(i + 1).is_some_and(|n| n == "pack") => return Some(2),
            "pack" | "pk" | "count" | "ct" if i > 0 => {
                if let Some(n) = number(&w[i - 1]) {
                    return Some(n);
                }
            }
            "of" if i > 0 && matches!(w[i - 1].as_str(), "pack" | "set" | "box") => {
                if let Some(n) = w.get(i + 1).and_then(|n| number(n)) {
                    return Some(n);
                }
            }
            _ => {
                for unit in ["pk", "pack", "ct"] {
                    if let Some(n) = word.strip_suffix(unit).and_then(number) {
                        return Some(n);
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_numbers_normalize_across_spellings() {
        assert_eq!(mpn_key("HLE08500-01K").as_deref(), Some("hle0850001k"));
        assert_eq!(mpn_key("CD994FN#140").as_deref(), Some("cd994fn"));
        assert_eq!(mpn_key("00540"), Some("540".into()));
        assert_eq!(mpn_key("LS-WX1.0TL/R1").as_deref(), Some("lswx10tlr1"));
        assert_eq!(mpn_key("  "), None);
    }

    #[test]
    fn codes_come_from_titles_without_units_or_host_devices() {
        let c = codes("Bosch GSR12V-300 Drill 12V 2.0Ah 500GB 1080p", "");
        assert!(c.contains("gsr12v300") && c.contains("gsr12v"), "{c:?}");
        assert!(!c.contains("500gb") && !c.contains("1080p") && !c.contains("12v"), "{c:?}");
        let remote = codes("Universal remote for BD-C5500 BD-C6500 players RMT-100", "");
        assert!(!c.is_empty() && !remote.contains("bdc5500") && !remote.contains("bdc6500"), "{remote:?}");
        assert!(remote.contains("rmt100"), "{remote:?}");
        let samsung = codes("Remote control for Samsung BD-C5500, black", "");
        assert!(!samsung.contains("bdc5500") && !samsung.contains("c5500"), "{samsung:?}");
        assert!(codes("Battery compatible with Canon LP-E6", "").is_empty());
        assert!(codes("Case for iPad 2 Black - MW123X", "").contains("mw123x"), "a trailing code is the item's");
        assert!(codes("Ink cartridge 012345", "").contains("12345"), "zeros dropped as in MPN fields");
        assert_eq!(mpn_key("Does not apply"), None);
        assert!(codes("Netgear XRS 9645 router", "").contains("xrs9645"));
        assert!(codes("Switch", "DGS-1008P").contains("dgs1008p"));
        assert!(!codes("Year 2011 edition", "").contains("2011"), "four digits are too weak");
    }

    #[test]
    fn words_and_sizes_next_to_numbers_are_not_split_codes() {
        for title in
            ["LinkStation Duo 1 TB", "Charger with 2 AA", "Hub USB 2.0", "Gear Head 2.4GHz Mouse", "Rail 96 High"]
        {
            let c = codes(title, "");
            assert!(c.is_empty(), "{title}: {c:?}");
        }
        assert!(codes("Sennheiser SH 350 Headset", "").contains("sh350"));
        assert!(codes("Dividers 12-Tab 50-Sheet Pads 10-Outlet", "").is_empty());
    }

    #[test]
    fn a_name_in_the_mpn_field_is_not_a_part_number() {
        assert_eq!(mpn_key("Phantom Black"), None);
        assert_eq!(mpn_key("LYCOSA").as_deref(), Some("lycosa"), "one word may be a model name");
        assert_eq!(mpn_key("D3000 Kit").as_deref(), Some("d3000kit"));
    }

    #[test]
    fn capacities_and_counts_of_one_kind_must_agree() {
        let m = |t: &str| measures(t);
        assert!(measures_conflict(&m("Drive 500GB"), &m("Drive 1 TB")));
        assert!(!measures_conflict(&m("Duo 1 TB 2 x 500 GB"), &m("LinkStation 1TB")));
        assert!(measures_conflict(&m("PSU 500W"), &m("PSU 430-Watt")));
        assert!(measures_conflict(&m("8 Port Hub"), &m("4-Port Hub")));
        assert!(
            !measures_conflict(&m("Router 2.4 GHz"), &m("Router 2.4GHz 8 Port")),
            "a kind one side lacks says nothing"
        );
        assert_eq!(m("1TB")[0], m("1000 GB")[0]);
    }

    #[test]
    fn colours_come_from_titles_and_part_number_suffixes() {
        assert_eq!(colours("Mouse Black", ""), colours("Mouse", "MP2800-BK"));
        assert_ne!(colours("Enclosure Onyx Black", ""), colours("Enclosure", "NST-360U2-RD"));
        assert_eq!(colours("Screen Protector Grey", ""), colours("Gray case", ""));
        assert_eq!(colours("Cable 6 ft", "F3U138B06"), 0);
    }

    #[test]
    fn kits_and_bundles_are_recognized() {
        assert!(is_kit("Olympus VG-110 Digital Camera Bundle w 4GB card"));
        assert!(is_kit("Memory Kit 2 x 1GB"));
        assert!(!is_kit("Olympus VG-110 Digital Camera"));
    }

    #[test]
    fn brands_compare_by_key_and_alias() {
        assert_eq!(brand_key("Hewlett-Packard Company").as_deref(), Some("hp"));
        assert_eq!(brand_key("HP").as_deref(), Some("hp"));
        assert_eq!(brand_key("Inc."), None);
        assert!(brands_agree("startech", "startechcom"));
        assert!(!brands_agree("hp", "hpe"), "two-letter keys must be equal");
        assert!(!brands_agree("bosch", "makita"));
    }

    #[test]
    fn pack_counts_are_read_in_their_usual_spellings() {
        assert_eq!(pack_count("AA Batteries 4-Pack"), Some(4));
        assert_eq!(pack_count("Sponge 4pk"), Some(4));
        assert_eq!(pack_count("Pack of 12 pens"), Some(12));
        assert_eq!(pack_count("Twin Pack cartridges"), Some(2));
        assert_eq!(pack_count("USB cable 6 ft"), None);
    }
}
