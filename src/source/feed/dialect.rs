//! Sniffs a feed's delimiter and decimal style from its first lines.

/// How a feed separates fields and writes decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub delimiter: u8,
    /// `12,90` means twelve point nine (European exports).
    pub decimal_comma: bool,
}

const CANDIDATES: [u8; 5] = [b',', b';', b'\t', b'|', b'~'];
const LINES_SAMPLED: usize = 50;

/// Chooses the delimiter whose per-line count is most consistent across the sample: a ragged row
/// or a stray quote in one line does not outvote the rest of the file.
pub fn sniff(sample: &str) -> Dialect {
    let lines = logical_lines(sample);
    let mut best = (b',', 0usize, 0usize); // delimiter, lines agreeing, fields per line
    for &delim in &CANDIDATES {
        let counts: Vec<usize> = lines.iter().map(|l| count_outside_quotes(l, delim)).collect();
        let Some((mode, agreeing)) = mode_of_nonzero(&counts) else {
            continue;
        };
        if agreeing > best.1 || (agreeing == best.1 && mode > best.2) {
            best = (delim, agreeing, mode);
        }
    }
    let delimiter = best.0;
    Dialect { delimiter, decimal_comma: prefers_decimal_comma(sample, delimiter) }
}

/// Lines of the sample, joining lines inside quoted fields; the last, possibly cut, line is dropped
/// when there are others.
fn logical_lines(sample: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    for (i, b) in sample.bytes().enumerate() {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' if !in_quotes => {
                let line = sample[start..i].trim_end_matches('\r');
                if !line.trim().is_empty() {
                    lines.push(line);
                }
                start = i + 1;
                if lines.len() == LINES_SAMPLED {
                    return lines;
                }
            }
            _ => {}
        }
    }
    if lines.is_empty() && !sample[start..].trim().is_empty() {
        lines.push(&sample[start..]);
    }
    lines
}

fn count_outside_quotes(line: &str, delim: u8) -> usize {
    let mut in_quotes = false;
    line.bytes()
        .filter(|&b| {
            if b == b'"' {
                in_quotes = !in_quotes;
            }
            b == delim && !in_quotes
        })
        .count()
}

/// The most frequent non-zero count and how many lines have it.
fn mode_of_nonzero(counts: &[usize]) -> Option<(usize, usize)> {
    let mut freq = std::collections::BTreeMap::new();
    for &c in counts.iter().filter(|&&c| c > 0) {
        *freq.entry(c).or_insert(0usize) += 1;
    }
    freq.into_iter().max_by_key(|&(count, lines)| (lines, count))
}

/// Counts numbers written `12,90` against `12.90` outside the delimiter.
fn prefers_decimal_comma(sample: &str, delimiter: u8) -> bool {
    if delimiter == b',' {
        return false;
    }
    let (mut comma, mut dot) = (0, 0);
    for field in sample.split([delimiter as char, '\n']) {
        let f = field.trim().trim_matches('"');
        let Some(pos) = f.rfind([',', '.']) else {
            continue;
        };
        let (int, frac) = (&f[..pos], &f[pos + 1..]);
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b',');
        if digits(int) && (1..=2).contains(&frac.len()) && frac.bytes().all(|b| b.is_ascii_digit()) {
            if f.as_bytes()[pos] == b',' {
                comma += 1;
            } else {
                dot += 1;
            }
        }
    }
    comma > dot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_each_delimiter() {
        assert_eq!(sniff("sku,price\nA,1.50\nB,2\n").delimiter, b',');
        assert_eq!(sniff("sku;price\nA;1,50\nB;2\n").delimiter, b';');
        assert_eq!(sniff("sku\tprice\nA\t1\n").delimiter, b'\t');
        assert_eq!(sniff("sku|price|qty\nA|1|2\n").delimiter, b'|');
    }

    #[test]
    fn commas_inside_quotes_do_not_count() {
        let d = sniff("sku;title;price\nA;\"Kabel, 2,5m\";12,90\nB;\"Stecker, rot\";1,00\n");
        assert_eq!(d.delimiter, b';');
        assert!(d.decimal_comma);
    }

    #[test]
    fn a_ragged_row_does_not_outvote_the_file() {
        let d = sniff("a;b;c\n1;2;3\n4;5\n6;7;8\n9;10;11\n");
        assert_eq!(d.delimiter, b';');
    }

    #[test]
    fn comma_files_never_use_decimal_commas() {
        assert!(!sniff("sku,price\nA,\"1,50\"\n").decimal_comma);
    }
}
