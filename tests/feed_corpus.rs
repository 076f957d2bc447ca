//! The nasty-feed corpus: every way a real feed goes wrong, one named test each. For every file:
//! no panic, a message naming the file, line and column, and every data row either imported or
//! kept in `sync_errors` — nothing silently dropped.

mod common;

use std::path::PathBuf;

use catsync::control::{ErrorType, RunStatus};
use catsync::source::feed::import::FileReport;
use catsync::source::feed::FeedMode;
use common::TestStore;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/feeds").join(name)
}

/// What a file must come to.
struct Expect {
    data_rows: u64,
    rejected: u64,
    warnings: u64,
    status: RunStatus,
    /// Text that the first problem (or the run's error) must contain.
    message: &'static str,
}

async fn import(t: &TestStore, path: &std::path::Path) -> FileReport {
    t.import("acme", path, FeedMode::Full).await
}

/// Imports a corpus file into a fresh store and checks it against `e`; returns both for more checks.
async fn check_fixture(name: &str, e: Expect) -> (TestStore, FileReport) {
    let t = TestStore::sqlite().await;
    let r = import(&t, &fixture(name)).await;
    check(&t, &r, e).await;
    (t, r)
}

/// Checks the report and the store against `e`, including the no-row-lost rule.
async fn check(t: &TestStore, r: &FileReport, e: Expect) {
    let file_name = r.file.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(r.status, e.status, "{r:#?}");
    assert_eq!((r.counts.read, r.counts.rejected, r.counts.warnings), (e.data_rows, e.rejected, e.warnings), "{r:#?}");
    let errors: Vec<_> =
        t.store.sync_errors(10_000).await.unwrap().into_iter().filter(|x| x.run_id == r.run_id).collect();
    let rejected_kept = errors.iter().filter(|x| x.error_type == ErrorType::Rejected).count() as u64;
    let imported = r.counts.read - r.counts.rejected;
    assert_eq!(imported + rejected_kept, e.data_rows, "a row was lost: {r:#?}");
    let message = r.problems.first().or(r.error.as_ref()).cloned().unwrap_or_default();
    assert!(message.contains(&file_name), "message does not name the file: {message}");
    assert!(message.contains(e.message), "expected {:?} in {message}", e.message);
    for x in errors.iter().filter(|x| x.error_type != ErrorType::File) {
        assert!(x.error_message.contains(" line "), "no line in {}", x.error_message);
        assert!(x.record_data["fields"].is_object(), "raw record missing: {:?}", x.record_data);
    }
}

#[tokio::test]
async fn empty_file() {
    check_fixture(
        "empty.csv",
        Expect { data_rows: 0, rejected: 0, warnings: 0, status: RunStatus::Failed, message: "the file is empty" },
    )
    .await;
}

#[tokio::test]
async fn header_only() {
    let t = TestStore::sqlite().await;
    let r = import(&t, &fixture("header_only.csv")).await;
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!((r.counts.read, r.counts.inserted), (0, 0));
}

#[tokio::test]
async fn no_header_match_rejects_each_row_with_its_data() {
    let (t, r) = check_fixture(
        "no_header_match.csv",
        Expect {
            data_rows: 2,
            rejected: 2,
            warnings: 0,
            status: RunStatus::Failed,
            message: "no column holds the SKU",
        },
    )
    .await;
    assert!(
        r.problems[0].contains("line 2") && r.problems[0].contains("\"foo\", \"bar\", \"baz\""),
        "{:?}",
        r.problems
    );
    let status = t.store.sources().await.unwrap().remove(0);
    assert_eq!((status.last_sync_time, status.error_count), (None, 2));
}

#[tokio::test]
async fn utf8_bom_before_a_quoted_header() {
    let t = TestStore::sqlite().await;
    let r = import(&t, &fixture("utf8_bom_quoted_header.csv")).await;
    assert_eq!((r.status, r.counts.inserted), (RunStatus::Succeeded, 2), "{r:#?}");
    assert!(r.detected.as_deref().unwrap().starts_with("UTF-8 with BOM"));
    let titles: Vec<_> = t.products("acme").await.into_iter().map(|p| p.product.title.unwrap()).collect();
    assert_eq!(titles, ["Café", "Thé"]);
}

#[tokio::test]
async fn crlf_with_a_newline_inside_quotes() {
    let t = TestStore::sqlite().await;
    let r = import(&t, &fixture("crlf_quoted_newline.csv")).await;
    assert_eq!((r.status, r.counts.inserted), (RunStatus::Succeeded, 2), "{r:#?}");
    let rows = t.products("acme").await;
    assert_eq!(rows[0].product.title.as_deref(), Some("two\r\nlines"));
    assert_eq!(rows[1].product.price, Some("2".parse().unwrap()));
}

#[tokio::test]
async fn latin1_names_with_semicolons_and_decimal_commas() {
    let t = TestStore::sqlite().await;
    let r = import(&t, &fixture("latin1_semicolon_names.csv")).await;
    assert_eq!((r.status, r.counts.inserted), (RunStatus::Succeeded, 2), "{r:#?}");
    assert!(r.detected.as_deref().unwrap().starts_with("Windows-1252"), "{:?}", r.detected);
    let rows = t.products("acme").await;
    assert_eq!(rows[0].product.title.as_deref(), Some("Zubehör für Gerät"));
    assert_eq!(rows[0].product.brand.as_deref(), Some("Müller"));
    assert_eq!(rows[0].product.price, Some("12.90".parse().unwrap()));
    assert_eq!(rows[1].product.price, Some("1234.50".parse().unwrap()));
}

#[tokio::test]
async fn ragged_rows_keep_what_they_have() {
    let (t, r) = check_fixture(
        "ragged_rows.csv",
        Expect { data_rows: 3, rejected: 0, warnings: 1, status: RunStatus::Succeeded, message: "line 4" },
    )
    .await;
    assert!(r.problems[0].contains("6 fields but the header has 4"), "{:?}", r.problems);
    let rows = t.products("acme").await;
    assert_eq!((rows[1].product.price, rows[1].product.quantity), (None, None));
    let extra: serde_json::Value = serde_json::from_str(&rows[2].product.attributes_json).unwrap();
    assert_eq!(extra, serde_json::json!({"column 5": "extra", "column 6": "more"}));
}

#[tokio::test]
async fn unterminated_quote_at_eof() {
    check_fixture(
        "unterminated_quote_at_eof.csv",
        Expect {
            data_rows: 2,
            rejected: 1,
            warnings: 0,
            status: RunStatus::Succeeded,
            message: "line 3, column \"title\": a quoted field is never closed",
        },
    )
    .await;
}

#[tokio::test]
async fn field_of_one_megabyte() {
    let t = TestStore::sqlite().await;
    let big = "x".repeat(1 << 20);
    let path = t.feed("one_megabyte_field.csv", format!("sku,title,description\nB1,ok,{big}\nB2,ok,short\n"));
    let r = import(&t, &path).await;
    check(
        &t,
        &r,
        Expect {
            data_rows: 2,
            rejected: 1,
            warnings: 0,
            status: RunStatus::Succeeded,
            message: "line 2, column \"description\": value is 1048576 characters long; the limit is 65536",
        },
    )
    .await;
}

#[tokio::test]
async fn nul_bytes() {
    check_fixture(
        "nul_bytes.csv",
        Expect {
            data_rows: 3,
            rejected: 1,
            warnings: 0,
            status: RunStatus::Succeeded,
            message: "line 3, column \"title\": contains a NUL byte",
        },
    )
    .await;
}

#[tokio::test]
async fn non_numeric_price() {
    let (_, r) = check_fixture(
        "non_numeric_price.csv",
        Expect {
            data_rows: 4,
            rejected: 2,
            warnings: 0,
            status: RunStatus::Succeeded,
            message: "line 3, column \"price\": \"N/A\" is not a number",
        },
    )
    .await;
    assert!(r.problems[1].contains("line 4, column \"price\": \"12,5O\" is not a number"), "{:?}", r.problems);
}

#[tokio::test]
async fn negative_quantity() {
    check_fixture(
        "negative_quantity.csv",
        Expect {
            data_rows: 2,
            rejected: 0,
            warnings: 1,
            status: RunStatus::Succeeded,
            message: "line 3, column \"qty\": quantity -3 is negative; stored as 0",
        },
    )
    .await;
}

#[tokio::test]
async fn bad_gtin_check_digit() {
    let (t, _) = check_fixture(
        "bad_gtin_check_digit.csv",
        Expect {
            data_rows: 3,
            rejected: 0,
            warnings: 2,
            status: RunStatus::Succeeded,
            message: "line 3, column \"upc\": \"012345678900\" has check digit 0, expected 5",
        },
    )
    .await;
    let gtins: Vec<_> = t.products("acme").await.into_iter().map(|p| p.product.gtin).collect();
    assert_eq!(gtins, [Some("00012345678905".into()), Some("00012345678900".into()), None]);
}

#[tokio::test]
async fn duplicate_skus() {
    let (t, _) = check_fixture(
        "duplicate_skus.csv",
        Expect {
            data_rows: 3,
            rejected: 0,
            warnings: 1,
            status: RunStatus::Succeeded,
            message: "line 4, column \"sku\": SKU \"D1\" also appears on line 2",
        },
    )
    .await;
    assert_eq!(t.products("acme").await[0].product.price, Some("3".parse().unwrap()));
}

#[tokio::test]
async fn sql_injection_in_a_header_is_just_an_attribute_name() {
    let t = TestStore::sqlite().await;
    let r = import(&t, &fixture("sql_injection_header.csv")).await;
    assert_eq!((r.status, r.counts.inserted), (RunStatus::Succeeded, 2), "{r:#?}");
    let rows = t.products("acme").await;
    let attrs: serde_json::Value = serde_json::from_str(&rows[0].product.attributes_json).unwrap();
    assert_eq!(attrs, serde_json::json!({"sku\"; DROP TABLE distributor_products; --": "x"}));
    // The table is still there and still takes imports.
    assert_eq!(import(&t, &fixture("sql_injection_header.csv")).await.counts.unchanged, 2);
}

#[tokio::test]
async fn binary_file() {
    check_fixture(
        "binary_blob.csv",
        Expect {
            data_rows: 0,
            rejected: 0,
            warnings: 0,
            status: RunStatus::Failed,
            message: "is binary data, not a CSV",
        },
    )
    .await;
}

#[tokio::test]
async fn truncated_gzip_fails_without_importing_part_of_it() {
    let t = TestStore::sqlite().await;
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
        enc.write_all(common::feed_csv(5000, 1).as_bytes()).unwrap();
        enc.finish().unwrap();
    }
    gz.truncate(gz.len() / 2);
    let r = import(&t, &t.feed("cut.csv.gz", gz)).await;
    assert_eq!(r.status, RunStatus::Failed, "{r:#?}");
    assert!(r.error.as_deref().unwrap().contains("cut.csv.gz"), "{:?}", r.error);
    assert!(t.products("acme").await.is_empty());
}
