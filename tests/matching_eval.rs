//! The matcher on hand-made labelled files through `catsync match eval`, where every answer is
//! known: a GTIN written as EAN-13 and as GTIN-14, a part number with an HP region suffix and a
//! brand alias, a part number found in a title, and offers that must not link (another pack size,
//! a host device named after "for", an unrelated product).

use std::path::Path;
use std::process::Command;

const CATALOG: &str = "\
id,title,brand,mpn,gtin,price
c1,Bosch 12V Max Drill/Driver GSR12V-300B22,Bosch,GSR12V-300B22,4006381333931,99.00
c2,HP 564 Tri-color Ink Cartridge,HP,CD994FN,,29.99
c3,Makita 18V LXT Brushless Impact Driver XDT13Z,Makita,XDT13Z,,129.00
c4,Logitech Wireless Mouse M310 Silver,Logitech,910-001675,,19.99
c5,Energizer Max AA Batteries 4-Pack,Energizer,E91BP-4,,5.99
c6,Sony Cyber-shot DSC-W570 Camera Pink,Sony,DSC-W570/P,,149.00
";

const OFFERS: &str = "\
id,title,brand,mpn,gtin,price
o1,BOSCH GSR12V-300 DRILL 12V,BOSCH,,04006381333931,89.00
o2,\"HP 564 Combo Pack Ink Cartridge, tri-color\",Hewlett-Packard,CD994FN#140,,27.50
o3,Makita XDT13Z 18-Volt LXT Lithium-Ion Brushless Cordless Impact Driver,Makita,,,119.00
o4,Logitech M310 Wireless Mouse,Logitech,910-001675,,17.99
o5,Energizer Max AA Batteries 8-Pack,Energizer,E91BP-8,,10.99
o6,Stanley 25 ft Tape Measure,Stanley,33-425,,12.99
o7,Canon Battery Pack for XDT13Z-style drivers,Canon,,,15.00
o8,Double A cells four count,,,,6.10
";

/// Four pairs the matcher can see, and one (c5, o8) with no shared evidence at all.
const TRUTH: &str = "catalog,offer\nc1,o1\nc2,o2\nc3,o3\nc4,o4\nc5,o8\n";

fn eval(dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_catsync"))
        .args(["match", "eval", "--catalog", "catalog.csv", "--offers", "offers.csv", "--truth", "truth.csv"])
        .args(extra)
        .current_dir(dir)
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("catalog.csv", CATALOG), ("offers.csv", OFFERS), ("truth.csv", TRUTH)] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[test]
fn eval_reports_exact_precision_recall_and_f1() {
    let dir = fixture();
    let (code, out) = eval(dir.path(), &["--json"]);
    assert_eq!(code, Some(0), "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["links"], 4, "{report}");
    assert_eq!(report["true_positives"], 4, "{report}");
    assert_eq!(report["precision"], 1.0);
    assert_eq!(report["recall"], 0.8);
    assert!((report["f1"].as_f64().unwrap() - 8.0 / 9.0).abs() < 1e-12);
    assert_eq!((report["links_by_gtin"].as_u64(), report["links_by_mpn"].as_u64()), (Some(1), Some(3)));
}

#[test]
fn other_column_names_and_separators_are_mapped_and_unknown_ones_named() {
    let dir = fixture();
    let renamed = CATALOG.replace("mpn", "modelno").replace(',', "|");
    std::fs::write(dir.path().join("catalog.csv"), renamed).unwrap();
    std::fs::write(dir.path().join("offers.csv"), OFFERS.replace("mpn", "modelno")).unwrap();
    let (code, out) = eval(dir.path(), &["--columns", "mpn=modelno", "--json"]);
    assert_eq!(code, Some(0), "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["true_positives"], 4, "{report}");
    let (code, out) = eval(dir.path(), &["--columns", "mpn=model_number"]);
    assert_eq!(code, Some(2));
    assert!(out.contains("catalog.csv") && out.contains("no column \"model_number\" for mpn"), "{out}");
}

fn evidence(dir: &Path, pairs: &str) -> (Option<i32>, String) {
    std::fs::write(dir.join("pairs.csv"), pairs).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_catsync"))
        .args(["match", "evidence", "--catalog", "catalog.csv", "--offers", "offers.csv", "--pairs", "pairs.csv"])
        .current_dir(dir)
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn labelled_pairs_count_their_matches_only_and_each_pair_is_explained() {
    let dir = fixture();
    let labelled = "catalog,offer,label\nc1,o1,1\nc2,o2,1\nc3,o3,true\nc4,o4,1\nc5,o8,1\nc5,o5,0\n";
    std::fs::write(dir.path().join("truth.csv"), labelled).unwrap();
    let (code, out) = eval(dir.path(), &["--json"]);
    assert_eq!(code, Some(0), "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((report["true_pairs"].as_u64(), report["recall"].as_f64()), (Some(5), Some(0.8)), "{report}");

    let (code, out) = evidence(dir.path(), labelled);
    assert_eq!(code, Some(0), "{out}");
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 6, "one line per pair, in order: {out}");
    let drill = &lines[0];
    assert_eq!((drill["catalog_id"].as_str(), drill["offer_id"].as_str()), (Some("c1"), Some("o1")));
    assert_eq!((drill["label"].as_bool(), drill["candidate"].as_bool()), (Some(true), Some(true)));
    assert_eq!(drill["evidence"]["gtin"], "agree");
    assert!(drill["score"].as_f64().unwrap() > 0.9, "{drill}");
    let other_pack = &lines[5];
    assert_eq!(
        (other_pack["label"].as_bool(), other_pack["evidence"]["pack"].as_str()),
        (Some(false), Some("conflict"))
    );
    assert!(other_pack["weight"].as_f64().unwrap() < drill["weight"].as_f64().unwrap());
    assert_eq!(other_pack["levels"].as_array().map(Vec::len), Some(10), "one level per discrete feature");
}

#[test]
fn a_pair_naming_an_unknown_product_or_a_bad_label_is_named_with_its_line() {
    let dir = fixture();
    let (code, out) = evidence(dir.path(), "catalog,offer,label\nc1,o1,1\nc1,o99,0\n");
    assert_ne!(code, Some(0));
    assert!(out.contains("pairs.csv: line 3") && out.contains("\"o99\" in the offers file"), "{out}");
    let (code, out) = evidence(dir.path(), "catalog,offer,label\nc1,o1,maybe\n");
    assert_ne!(code, Some(0));
    assert!(out.contains("pairs.csv: line 2") && out.contains("\"maybe\""), "{out}");
}
