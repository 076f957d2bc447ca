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

/// The words of a title as titles are compared: a plural and its singular are one term
/// ("Speakers" / "Speaker", "Cartridges" / "Cartridge").
pub fn terms(s: &str) -> Vec<String> {
    let mut words = words(s);
    for w in &mut words {
        if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") && !w.bytes().any(|b| b.is_ascii_digit()) {
            w.pop();
        }
    }
    words
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

/// The part numbers of a title and an MPN field: whole codes, and the parts of dashed ones
/// (`IPAD2-SUM-BLU` → `ipad2`), which match exactly but are no stem of another code
/// (`IPAD2SUMBLK`, the black case, is no variant of the blue one through `ipad2`).
#[derive(Debug, Default)]
pub struct Codes {
    pub whole: HashSet<String>,
    pub parts: HashSet<String>,
}

impl Codes {
    pub fn contains(&self, code: &str) -> bool {
        self.whole.contains(code) || self.parts.contains(code)
    }

    pub fn is_empty(&self) -> bool {
        self.whole.is_empty() && self.parts.is_empty()
    }

    /// Whole codes and parts together.
    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.whole.iter().chain(&self.parts)
    }
}

/// Candidate part numbers in free text and an MPN field: tokens of 4+ characters with a digit
/// and a letter, all-digit tokens of 5+ digits, a short letter run joined to the digits after it
/// (`XRS 9645` → `xrs9645`), and the parts of dashed codes. Unit expressions and codes that follow
/// "for"/"compatible with" are skipped.
pub fn codes(title: &str, mpn: &str) -> Codes {
    let mut out = Codes::default();
    if let Some(key) = mpn_key(mpn) {
        out.whole.insert(key);
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
            out.whole.insert(joined);
        }
    }
    out.parts.retain(|part| !out.whole.contains(part));
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

fn add_code(out: &mut Codes, token: &str) {
    let head = token.split('#').next().unwrap_or(token);
    if is_code(&squash(head)) {
        out.whole.insert(code_key(head));
    }
    if head.contains('-') {
        out.parts.extend(head.split('-').map(squash).filter(|p| is_code(p)));
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
    /// Connector pins and keyboard keys (`25-Pin`, `107-Key`).
    Pins,
    /// Two sides of a flat item (`36 x 60`), in either order.
    Dimensions,
    /// USB version (`USB 2.0`), memory generation (`DDR3`, `PC2-6400`), cable category
    /// (`Cat5e`), and the iPhone or iPad an accessory fits: generations, in tenths.
    Usb,
    Ddr,
    CableCategory,
    IPhone,
    IPad,
    /// Screen diagonals and cable lengths, in tenths of an inch (`23-Inch`, `92 Diagonal`, `6 ft`).
    Length,
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
    ("pin", Measure::Pins, 1.0),
    ("key", Measure::Pins, 1.0),
    ("inch", Measure::Length, 10.0),
    ("inches", Measure::Length, 10.0),
    ("diagonal", Measure::Length, 10.0),
    ("ft", Measure::Length, 120.0),
    ("feet", Measure::Length, 120.0),
    ("foot", Measure::Length, 120.0),
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
    out.extend(dimensions(&tokens).map(|d| (Measure::Dimensions, d)));
    out.extend(generations(&tokens));
    out.sort_unstable();
    out.dedup();
    out
}

/// Standards and models numbered by generation, with the highest plausible number (so that
/// "USB 5-Pin" or "USB 802.11g" is no USB version).
const GENERATIONS: &[(&str, Measure, f64)] = &[
    ("usb", Measure::Usb, 4.0),
    ("ddr", Measure::Ddr, 6.0),
    ("pc", Measure::Ddr, 6.0),
    ("cat", Measure::CableCategory, 8.0),
    ("iphone", Measure::IPhone, 20.0),
    ("ipad", Measure::IPad, 10.0),
];

/// `USB 2.0`, `DDR3`, `PC2-6400`, `Cat5e`, `iPhone 4`: the generation of a standard or a device
/// (in tenths), joined to its name or the next token.
fn generations<'a>(tokens: &'a [&'a str]) -> impl Iterator<Item = (Measure, u64)> + 'a {
    let leading = |t: &str| {
        let end = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        t[..end].trim_end_matches('.').parse::<f64>().ok()
    };
    tokens.iter().enumerate().filter_map(move |(i, token)| {
        GENERATIONS.iter().find_map(|&(stem, measure, max)| {
            let rest = token.strip_prefix(stem)?;
            let value = if rest.is_empty() { leading(tokens.get(i + 1)?)? } else { leading(rest)? };
            (value > 0.0 && value <= max).then_some((measure, (value * 10.0).round() as u64))
        })
    })
}

/// `36 x 60`, `24x19`: two sizes of a mat, a screen or a pad, in either order, as one number
/// (tenths of the smaller side, then of the larger).
fn dimensions<'a>(tokens: &'a [&'a str]) -> impl Iterator<Item = u64> + 'a {
    let number = |t: &str| t.parse::<f64>().ok().filter(|v| *v > 0.0);
    let pair = |a: f64, b: f64| {
        let (small, large) = if a <= b { (a, b) } else { (b, a) };
        (small * 10.0).round() as u64 * 1_000_000 + (large * 10.0).round() as u64
    };
    tokens.iter().enumerate().filter_map(move |(i, token)| match token.split_once('x') {
        Some(("", "")) if i > 0 => Some(pair(number(tokens[i - 1])?, number(tokens.get(i + 1)?)?)),
        Some((a, b)) => Some(pair(number(a)?, number(b)?)),
        None => None,
    })
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

/// Whether a title (its `words`) sells a kit or bundle ("Camera Bundle w 4GB Card", "Starter Kit").
pub fn is_kit(title: &[String]) -> bool {
    title.iter().any(|w| KIT_WORDS.contains(&w.as_str()))
}

/// Words that sell something other than the maker's new item.
const NOT_NEW_WORDS: &[&str] =
    &["refurbished", "refurb", "remanufactured", "reconditioned", "recertified", "renewed", "generic"];

/// Whether a title (its `words`) sells a refurbished, remanufactured or generic item ("Toner
/// Cartridge -Remanufactured"). "Compatible" is not such a word: "PFC Compatible", "compatible
/// with Canon" say what an item works with.
pub fn is_not_new(title: &[String]) -> bool {
    title.iter().any(|w| NOT_NEW_WORDS.contains(&w.as_str()))
}

/// Colour names, then the abbreviations part numbers end with (`-BLK`, `-RD`).
const COLOURS: &[(&[&str], &[&str])] = &[
    (&["black", "onyx", "ebony"], &["blk", "bk"]),
    (&["white", "ivory"], &["wht", "wh", "w"]),
    (&["red", "crimson", "burgundy"], &["rd"]),
    (&["blue", "navy", "cobalt"], &["blu", "bl"]),
    (&["green", "lime"], &["grn"]),
    (&["pink", "rose"], &["pnk"]),
    (&["purple"], &[]),
    (&["violet"], &[]),
    (&["orange"], &[]),
    (&["yellow"], &[]),
    (&["silver"], &["slv"]),
    (&["gray", "grey", "gunmetal", "charcoal", "graphite"], &["gry"]),
    (&["gold"], &["gld"]),
    (&["brown"], &[]),
    (&["clear", "transparent"], &["clr"]),
    (&["cyan"], &[]),
    (&["magenta"], &[]),
];

/// The colours a title names, and the one a part number's last dashed part abbreviates
/// (`NST-360U2-BK`), one bit per colour.
pub fn colours(title: &[String], mpn: &str) -> u32 {
    let suffix = mpn.rsplit_once(['-', '/']).map(|(_, s)| s.to_lowercase()).unwrap_or_default();
    let named = |(names, short): &(&[&str], &[&str])| {
        title.iter().any(|w| names.contains(&w.as_str())) || names.contains(&&*suffix) || short.contains(&&*suffix)
    };
    COLOURS.iter().enumerate().filter(|(_, c)| named(c)).fold(0, |bits, (i, _)| bits | 1 << i)
}

/// Devices accessories are made for, each with the words that name it.
const DEVICES: &[&[&str]] = &[
    &["iphone"],
    &["ipod"],
    &["ipad"],
    &["camera", "camcorder"],
    &["blackberry"],
    &["kindle"],
    &["galaxy"],
    &["nook"],
    &["playbook"],
    &["xoom"],
    &["droid"],
    &["macbook"],
    &["laptop", "notebook", "netbook"],
];

/// The devices a title (its `words`) names, one bit each: an iPhone case is not an iPod case.
pub fn devices(title: &[String]) -> u32 {
    DEVICES
        .iter()
        .enumerate()
        .filter(|(_, names)| title.iter().any(|w| names.contains(&w.as_str())))
        .fold(0, |bits, (i, _)| bits | 1 << i)
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
    fn plurals_are_one_term_with_their_singular() {
        assert_eq!(terms("Black Ink Cartridges, 2 Speakers"), terms("black ink cartridge 2 speaker"));
        assert_eq!(terms("Glass Case"), ["glass", "case"], "a double s is no plural");
        assert_eq!(terms("Bus 10s"), ["bus", "10s"], "nor a short word or a number");
    }

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
    fn sizes_lengths_pins_and_generations_are_measures_too() {
        let conflict = |a: &str, b: &str| measures_conflict(&measures(a), &measures(b));
        assert!(conflict("Motorized Screen - 135 Diagonal", "Motorized Screen - 92 Diagonal"));
        assert!(!conflict("Monitor 23-Inch", "Monitor 23 inch Black"));
        assert_eq!(measures("Cable 6 ft"), measures("Cable 72 inches"));
        assert!(conflict("Mat 36 X 144 Black", "Mat 36 x 60 Black"));
        assert!(!conflict("Desk Pad 24 x 19", "Desk Pad 19x24"), "either order");
        assert!(measures("Memory 2 x 1GB").iter().all(|(m, _)| *m != Measure::Dimensions));
        assert!(conflict("25-Pin Male Connector", "9-Pin Male Connector"));
        assert!(conflict("Keyboard 107-Key", "Keyboard 104 Key"));
        assert!(conflict("Portable Drive USB 3.0", "Portable Drive USB 2.0"));
        assert!(!conflict("Hub USB2.0", "Hub USB 2.0"));
        assert!(conflict("DDR3 1333 Desktop Memory", "PC2-6400 Desktop Memory"));
        assert!(conflict("Patch Cable Cat5e", "Patch Cable CAT 6"));
        assert!(conflict("Case for iPhone 4", "Case for iPhone 3GS"));
        let usb = |t: &str| measures(t).into_iter().filter(|(m, _)| *m == Measure::Usb).count();
        assert_eq!(usb("USB 5-Pin Mini-B Cable"), 0, "no USB 5");
        assert_eq!(usb("Wireless USB 802.11g Adapter"), 0);
    }

    #[test]
    fn devices_and_refurbished_items_are_recognized() {
        assert_ne!(devices(&words("Vikings iPhone 4 Case")), devices(&words("Vikings iPod Touch 4G Case")));
        assert_eq!(devices(&words("17-Inch Laptop Sleeve")), devices(&words("Notebook Sleeve")));
        assert_eq!(devices(&words("Stereo Headphones")), 0);
        assert!(is_not_new(&words("HP CE250A Toner Cartridge -Remanufactured")));
        assert!(is_not_new(&words("TomTom XXL 550 GPS Factory Refurbished")));
        assert!(!is_not_new(&words("UPS 1350VA PFC Compatible Pure Sine Wave")), "what it works with");
        assert!(!is_not_new(&words("HP CE250A Toner Cartridge")));
    }

    #[test]
    fn dashed_codes_keep_their_parts_apart() {
        let c = codes("TP-Link Antenna TL-ANT2405CL", "");
        assert!(c.whole.contains("tlant2405cl") && c.parts.contains("ant2405cl"), "{c:?}");
        assert!(!c.whole.contains("ant2405cl"));
        let mpn = codes("Microsoft Keyboard APB-00001", "");
        assert!(mpn.whole.contains("apb00001") && mpn.parts.contains("00001"), "{mpn:?}");
    }

    #[test]
    fn colours_come_from_titles_and_part_number_suffixes() {
        assert_eq!(colours(&words("Mouse Black"), ""), colours(&words("Mouse"), "MP2800-BK"));
        assert_ne!(colours(&words("Enclosure Onyx Black"), ""), colours(&words("Enclosure"), "NST-360U2-RD"));
        assert_eq!(colours(&words("Screen Protector Grey"), ""), colours(&words("Gray case"), ""));
        assert_eq!(colours(&words("Alarm Clock Gunmetal"), ""), colours(&words("Speaker Gray"), ""));
        assert_ne!(colours(&words("Case Black"), ""), colours(&words("Case"), "IPAD2-BAK-CLR"));
        assert_eq!(colours(&words("Cable 6 ft"), "F3U138B06"), 0);
    }

    #[test]
    fn kits_and_bundles_are_recognized() {
        assert!(is_kit(&words("Olympus VG-110 Digital Camera Bundle w 4GB card")));
        assert!(is_kit(&words("Memory Kit 2 x 1GB")));
        assert!(!is_kit(&words("Olympus VG-110 Digital Camera")));
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
