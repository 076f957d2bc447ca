//! GTIN (UPC/EAN) validation and normalization to the 14-digit form GS1 prescribes.
//!
//! A US feed sends `012345678905` (GTIN-12), a European one `0012345678905` (GTIN-13) and BMEcat
//! `00012345678905` (GTIN-14): all are one product once right-justified to 14 digits. GTINs stay
//! text, never numbers, so that leading zeros survive.

use std::fmt;

/// A GTIN whose digits and length are valid, kept as 14 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gtin14(String);

/// Why a value is not a usable GTIN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GtinError {
    #[error("{0:?} is not a GTIN: only digits, spaces and dashes are allowed")]
    NotDigits(String),
    #[error("{0:?} looks like scientific notation (a spreadsheet turned the code into a number and lost digits); export the column as text")]
    ScientificNotation(String),
    #[error("{value:?} has {len} digits; a GTIN has 8, 12, 13 or 14")]
    BadLength { value: String, len: usize },
    #[error("{value:?} has check digit {found}, expected {expected}")]
    BadCheckDigit { value: String, found: u8, expected: u8 },
}

impl Gtin14 {
    /// Parses a GTIN as feeds write it: spaces and dashes ignored, Excel's `="…"` text wrapper
    /// removed, 8 to 14 digits right-justified to 14. A wrong check digit is reported as
    /// `BadCheckDigit` together with the normalized value, so callers can keep it with a warning.
    pub fn parse(raw: &str) -> Result<Gtin14, (GtinError, Option<Gtin14>)> {
        let trimmed = raw.trim();
        let unwrapped = trimmed.strip_prefix("=\"").and_then(|s| s.strip_suffix('"')).unwrap_or(trimmed);
        if unwrapped.contains(['e', 'E']) && unwrapped.contains('.') {
            return Err((GtinError::ScientificNotation(raw.to_string()), None));
        }
        let mut digits = String::with_capacity(14);
        for c in unwrapped.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' => {}
                _ => return Err((GtinError::NotDigits(raw.to_string()), None)),
            }
        }
        let len = digits.len();
        if !(8..=14).contains(&len) || (9..=10).contains(&len) {
            return Err((GtinError::BadLength { value: raw.to_string(), len }, None));
        }
        let padded = format!("{digits:0>14}");
        let expected = check_digit(&padded[..13]);
        let found = padded.as_bytes()[13] - b'0';
        let gtin = Gtin14(padded);
        if found == expected {
            Ok(gtin)
        } else {
            Err((GtinError::BadCheckDigit { value: raw.to_string(), found, expected }, Some(gtin)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Gtin14 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// GS1 check digit of the data digits: weights 3,1,3,… from the rightmost data digit.
pub fn check_digit(data: &str) -> u8 {
    let sum: u32 =
        data.bytes().rev().enumerate().map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 }).sum();
    ((10 - sum % 10) % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upc_a_ean_13_and_gtin_14_normalize_to_the_same_key() {
        let a = Gtin14::parse("012345678905").unwrap();
        let b = Gtin14::parse("0012345678905").unwrap();
        let c = Gtin14::parse("00012345678905").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(a.as_str(), "00012345678905");
    }

    #[test]
    fn spaces_dashes_and_excel_text_wrapper_are_ignored() {
        assert_eq!(Gtin14::parse(" 0-12345 67890-5 ").unwrap().as_str(), "00012345678905");
        assert_eq!(Gtin14::parse("=\"012345678905\"").unwrap().as_str(), "00012345678905");
    }

    #[test]
    fn gtin_8_is_padded() {
        // EAN-8 96385074: check digit 4.
        assert_eq!(Gtin14::parse("96385074").unwrap().as_str(), "00000096385074");
    }

    #[test]
    fn wrong_check_digit_is_reported_with_the_normalized_value() {
        let (err, kept) = Gtin14::parse("012345678900").unwrap_err();
        assert_eq!(err, GtinError::BadCheckDigit { value: "012345678900".into(), found: 0, expected: 5 });
        assert_eq!(kept.unwrap().as_str(), "00012345678900");
    }

    #[test]
    fn scientific_notation_letters_and_bad_lengths_are_refused() {
        assert!(matches!(Gtin14::parse("3.6E+11"), Err((GtinError::ScientificNotation(_), None))));
        assert!(matches!(Gtin14::parse("12AB5"), Err((GtinError::NotDigits(_), None))));
        assert!(matches!(Gtin14::parse("1234567890"), Err((GtinError::BadLength { len: 10, .. }, None))));
    }

    #[test]
    fn check_digit_matches_known_codes() {
        assert_eq!(check_digit("400638133393"), 1); // EAN-13 4006381333931
        assert_eq!(check_digit("03600029145"), 2); // UPC-A 036000291452
    }

    /// Property checks over many random codes (seeded, so a failure reproduces).
    fn random_digits(rng: &mut fastrand::Rng, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + rng.u8(0..10))).collect()
    }

    #[test]
    fn every_form_of_one_code_normalizes_to_one_gtin_14() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..10_000 {
            let body = random_digits(&mut rng, 11);
            let upc = format!("{body}{}", check_digit(&body));
            let forms = [upc.clone(), format!("0{upc}"), format!("00{upc}"), format!("{}-{}", &upc[..6], &upc[6..])];
            let parsed: Vec<Gtin14> = forms.iter().map(|f| Gtin14::parse(f).unwrap()).collect();
            assert!(parsed.iter().all(|g| g == &parsed[0]), "{forms:?}");
            assert_eq!(parsed[0].as_str().len(), 14);
            assert!(parsed[0].as_str().ends_with(&upc));
        }
    }

    #[test]
    fn every_single_digit_error_and_most_adjacent_swaps_are_caught() {
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..5_000 {
            let body = random_digits(&mut rng, 12);
            let ean = format!("{body}{}", check_digit(&body));
            let at = rng.usize(0..13);
            let mut wrong = ean.clone().into_bytes();
            wrong[at] = b'0' + (wrong[at] - b'0' + rng.u8(1..10)) % 10;
            let wrong = String::from_utf8(wrong).unwrap();
            assert!(matches!(Gtin14::parse(&wrong), Err((GtinError::BadCheckDigit { .. }, _))), "{ean} → {wrong}");
            let (a, b) = (ean.as_bytes()[at.min(11)], ean.as_bytes()[at.min(11) + 1]);
            // The 3-1 weights miss exactly the swaps of digits that differ by 5.
            if a != b && a.abs_diff(b) != 5 {
                let mut swapped = ean.clone().into_bytes();
                swapped.swap(at.min(11), at.min(11) + 1);
                assert!(Gtin14::parse(std::str::from_utf8(&swapped).unwrap()).is_err(), "{ean}");
            }
        }
    }
}
