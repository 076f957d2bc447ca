//! Typing of feed values: numbers in every decimal style, dates, booleans. Each parser returns
//! the reason a value was refused, written for the person who has to fix the file.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::str::FromStr;

/// Parses a money amount: currency symbols and codes, thousands separators, both decimal marks,
/// zero-packed distributor formats (`0000149.99`). `decimal_comma` settles `1,234`.
pub fn parse_decimal(raw: &str, decimal_comma: bool) -> Result<Decimal, String> {
    // Most feeds write plain `123.45`: parse it without the general clean-up.
    if is_plain_decimal(raw) {
        return Decimal::from_str(raw).map_err(|_| format!("{raw:?} is too large"));
    }
    let cleaned: String = raw
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '$' | '€' | '£' | '¥' | '\'' | '\u{a0}'))
        .collect();
    let cleaned = strip_currency_code(&cleaned);
    let (negative, body) = match cleaned.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, cleaned.strip_prefix('+').unwrap_or(cleaned)),
    };
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || b == b',' || b == b'.') {
        return Err(format!("{raw:?} is not a number"));
    }
    let canonical = canonical_decimal(body, decimal_comma).ok_or_else(|| format!("{raw:?} is not a number"))?;
    let value = Decimal::from_str(&canonical).map_err(|_| format!("{raw:?} is too large"))?;
    Ok(if negative { -value } else { value })
}

/// Digits with at most one `.` inside: nothing to strip, no mark to interpret.
fn is_plain_decimal(s: &str) -> bool {
    let b = s.as_bytes();
    let dots = b.iter().filter(|&&c| c == b'.').count();
    !b.is_empty()
        && b.iter().all(|c| c.is_ascii_digit() || *c == b'.')
        && dots <= 1
        && b[0] != b'.'
        && b[b.len() - 1] != b'.'
}

/// Removes an ISO 4217 code before or after the amount (`15.00 USD`, `EUR12`). Works on bytes:
/// three ASCII letters always end and start on character boundaries, whatever surrounds them.
fn strip_currency_code(s: &str) -> &str {
    let b = s.as_bytes();
    let code = |part: &[u8]| part.iter().all(u8::is_ascii_uppercase);
    if b.len() >= 3 && code(&b[b.len() - 3..]) {
        &s[..s.len() - 3]
    } else if b.len() >= 3 && code(&b[..3]) {
        &s[3..]
    } else {
        s
    }
}

/// Rewrites digits with `,` and `.` into `1234.56` form, or `None` when the marks contradict.
fn canonical_decimal(body: &str, decimal_comma: bool) -> Option<String> {
    let commas = body.matches(',').count();
    let dots = body.matches('.').count();
    let decimal_mark = match (commas, dots) {
        (0, 0) => None,
        (0, 1) => Some('.'),
        (1, 0) => {
            let after = body.len() - body.find(',')? - 1;
            // `1,234` is a thousands separator unless the file writes decimal commas.
            if after == 3 && !decimal_comma {
                None
            } else {
                Some(',')
            }
        }
        (_, 0) | (0, _) => None, // 1,234,567 or 1.234.567
        _ => {
            // Both marks: the last one is the decimal mark and must appear once.
            let last = if body.rfind(',')? > body.rfind('.')? { ',' } else { '.' };
            if body.matches(last).count() != 1 {
                return None;
            }
            Some(last)
        }
    };
    let mut out = String::with_capacity(body.len());
    for c in body.chars() {
        match c {
            '0'..='9' => out.push(c),
            c if Some(c) == decimal_mark => out.push('.'),
            _ => {}
        }
    }
    if out.starts_with('.') || out.ends_with('.') && out.len() == 1 {
        return None;
    }
    Some(out)
}

/// Parses a whole quantity; `12.0` and `1,234` are accepted, `12.5` is not.
pub fn parse_integer(raw: &str, decimal_comma: bool) -> Result<i64, String> {
    let d = parse_decimal(raw, decimal_comma)?;
    if !d.fract().is_zero() {
        return Err(format!("{raw:?} is not a whole number"));
    }
    d.to_i64().ok_or_else(|| format!("{raw:?} is out of range"))
}

/// Parses a date or timestamp in the formats feeds use; zone-less values are taken as UTC.
/// `day_first` settles slash dates such as `03/04/2024`.
pub fn parse_timestamp(raw: &str, day_first: bool) -> Result<DateTime<Utc>, String> {
    let s = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    const DATETIMES: [&str; 4] =
        ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M:%S"];
    for fmt in DATETIMES {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(Utc.from_utc_datetime(&t));
        }
    }
    let slash = if day_first { ["%d/%m/%Y", "%d/%m/%y"] } else { ["%m/%d/%Y", "%m/%d/%y"] };
    for fmt in ["%Y-%m-%d", "%Y%m%d", "%d.%m.%Y", "%Y/%m/%d", slash[0], slash[1]] {
        if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
            return Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists")));
        }
    }
    Err(format!(
        "{raw:?} is not a date or time (expected e.g. 2024-03-31, 2024-03-31T12:00:00Z, 31.03.2024 or 03/31/2024)"
    ))
}

/// Parses yes/no flags as spreadsheets and shops write them.
pub fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_lowercase().as_str() {
        "yes" | "y" | "1" | "true" | "t" | "x" | "ja" | "j" | "on" => Ok(true),
        "no" | "n" | "0" | "false" | "f" | "nein" | "off" | "-1" => Ok(false),
        _ => Err(format!("{raw:?} is not yes/no (expected yes, no, y, n, 1, 0, true or false)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn decimal_styles() {
        assert_eq!(parse_decimal("12.90", false), Ok(dec("12.90")));
        assert_eq!(parse_decimal("12,90", true), Ok(dec("12.90")));
        assert_eq!(parse_decimal("12,9", false), Ok(dec("12.9")));
        assert_eq!(parse_decimal("1.234,56", false), Ok(dec("1234.56")));
        assert_eq!(parse_decimal("1,234.56", true), Ok(dec("1234.56")));
        assert_eq!(parse_decimal("1,234", false), Ok(dec("1234")));
        assert_eq!(parse_decimal("1,234", true), Ok(dec("1.234")));
        assert_eq!(parse_decimal("1.234.567", false), Ok(dec("1234567")));
        assert_eq!(parse_decimal("-21.419,06", true), Ok(dec("-21419.06")));
    }

    #[test]
    fn currency_marks_and_padding() {
        assert_eq!(parse_decimal("€ 270.49", false), Ok(dec("270.49")));
        assert_eq!(parse_decimal(" 360.00 € ", false), Ok(dec("360.00")));
        assert_eq!(parse_decimal("15.00 USD", false), Ok(dec("15.00")));
        assert_eq!(parse_decimal("$1,299.00", false), Ok(dec("1299.00")));
        assert_eq!(parse_decimal("0000149.99", false), Ok(dec("149.99")));
    }

    #[test]
    fn non_ascii_around_a_number_is_refused_without_a_panic() {
        assert!(parse_decimal("2024ÿþ", false).is_err());
        assert!(parse_decimal("ÿþ12", false).is_err());
        assert_eq!(parse_decimal("EUR12", false), Ok(dec("12")));
    }

    #[test]
    fn refuses_what_is_not_a_number() {
        assert!(parse_decimal("12,5O", true).unwrap_err().contains("\"12,5O\" is not a number"));
        assert!(parse_decimal("CALL", false).is_err());
        assert!(parse_decimal("", false).is_err());
        assert!(parse_decimal("1.2.3,4,5", false).is_err());
        assert!(parse_decimal(".", false).is_err());
    }

    #[test]
    fn integers() {
        assert_eq!(parse_integer("12", false), Ok(12));
        assert_eq!(parse_integer("12.0", false), Ok(12));
        assert_eq!(parse_integer("1,234", false), Ok(1234));
        assert_eq!(parse_integer("-3", false), Ok(-3));
        assert!(parse_integer("2.5", false).is_err());
    }

    #[test]
    fn timestamps() {
        let t = |s: &str, day_first| parse_timestamp(s, day_first).map(|t| t.to_rfc3339());
        assert_eq!(t("2024-03-31", false).unwrap(), "2024-03-31T00:00:00+00:00");
        assert_eq!(t("2024-03-31T12:30:00+02:00", false).unwrap(), "2024-03-31T10:30:00+00:00");
        assert_eq!(t("2024-03-31 12:30:00", false).unwrap(), "2024-03-31T12:30:00+00:00");
        assert_eq!(t("20240331", false).unwrap(), "2024-03-31T00:00:00+00:00");
        assert_eq!(t("31.03.2024", false).unwrap(), "2024-03-31T00:00:00+00:00");
        assert_eq!(t("03/04/2024", false).unwrap(), "2024-03-04T00:00:00+00:00");
        assert_eq!(t("03/04/2024", true).unwrap(), "2024-04-03T00:00:00+00:00");
        assert!(t("next tuesday", false).is_err());
    }

    #[test]
    fn booleans() {
        for s in ["yes", "Y", "1", "TRUE"] {
            assert_eq!(parse_bool(s), Ok(true));
        }
        for s in ["no", "n", "0", "false"] {
            assert_eq!(parse_bool(s), Ok(false));
        }
        assert!(parse_bool("maybe").is_err());
    }
}
