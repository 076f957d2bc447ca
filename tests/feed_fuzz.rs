//! Random feeds, generated deterministically from CSV-shaped pieces and raw bytes: reading them
//! never panics, and every record comes out as a product or a rejection.

use catsync::source::feed::{FeedProfile, FeedReader, FeedRecord};

/// xorshift64*: deterministic, so a failing case can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PIECES: &[&[u8]] = &[
    b"sku",
    b"price",
    b"qty",
    b"UPC",
    b"Item #",
    b",",
    b";",
    b"\t",
    b"|",
    b"\"",
    b"\"\"",
    b"\n",
    b"\r\n",
    b"12,50",
    b"1.234,56",
    b"-3",
    b"\xc3\xa9",
    b"\xe9",
    b"\x00",
    b"012345678905",
    b"3.6E+11",
    b"=\"0123\"",
    b"2024-03-31",
    b"31/12/2024",
    b"yes",
    b" ",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"A-1",
    b"\x1f\x8b",
];

fn random_feed(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    let header: &[u8] = match rng.below(3) {
        0 => b"sku,price,qty,gtin\n",
        1 => b"Item #;Dealer Price;Qty\r\n",
        _ => b"",
    };
    out.extend_from_slice(header);
    for _ in 0..rng.below(400) {
        if rng.below(10) == 0 {
            out.push(rng.next() as u8);
        } else {
            out.extend_from_slice(PIECES[rng.below(PIECES.len())]);
        }
    }
    out
}

#[test]
fn random_feeds_never_panic_and_every_record_is_judged() {
    let dir = tempfile::tempdir().unwrap();
    let profile = FeedProfile { distributor: "fuzz".into(), ..FeedProfile::default() };
    let mut rng = Rng(0x5eed_cafe_f00d_1234);
    let mut records = 0;
    for case in 0..500 {
        let path = dir.path().join(format!("case-{case}.csv"));
        std::fs::write(&path, random_feed(&mut rng)).unwrap();
        let Ok(reader) = FeedReader::open(&path, &profile) else { continue };
        for record in reader {
            match record {
                Ok(FeedRecord::Product(p, _)) => {
                    assert!(!p.sku.is_empty(), "case {case}: a product without SKU");
                    assert_eq!(p.content_hash.len(), 32, "case {case}");
                }
                Ok(FeedRecord::Rejected(problem)) => {
                    assert!(problem.line > 0 && !problem.message.is_empty(), "case {case}: {problem:?}");
                }
                Err(_) => break,
            }
            records += 1;
        }
    }
    assert!(records > 1000, "the generator should produce plenty of records, got {records}");
}
