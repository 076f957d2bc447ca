//! The dashboard in real headless Chromium: load it, open the review queue, confirm a match with
//! the keyboard and see the store change, search for a product, and look at the report — with a
//! screenshot of each page in `target/tmp/browser-screenshots/`.

#[macro_use]
mod common;

use std::path::PathBuf;
use std::time::Duration;

use catsync::matching::record::MatchFilter;
use catsync::matching::Status;
use catsync::web::{report, view};
use common::web::{offer, seed, TestServer};
use common::{browser, TestStore};

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots")
}

async fn status_of(t: &TestStore, sku: &str) -> Status {
    let filter = MatchFilter { ids: Some(vec![offer(sku)]), ..MatchFilter::default() };
    t.store.product_matches(&filter).await.unwrap()[0].product_match.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_reviews_a_match_with_the_keyboard_and_searches_in_chromium() {
    let Some(b) = browser::open().await else { return };
    let t = TestStore::sqlite().await;
    let seeded = seed(&t).await;
    let s = TestServer::start(&t, &seeded, None).await;
    let shots = screenshots();

    b.goto(&format!("{}/", s.url)).await;
    assert!(b.text("table#status").await.contains("distributor:acme"));
    b.screenshot(&shots.join("dashboard.png")).await;

    b.goto(&format!("{}/matches?status=review", s.url)).await;
    let first = b.text(".match_item.selected").await;
    assert!(first.contains("A1") && first.contains("Bosch GSR12V-300 drill driver"), "{first}");
    let second = b.text("#m1").await;
    assert!(second.contains("<img src=x onerror=alert(1)>"), "the hostile title is text on the page: {second}");
    assert!(!b.alert_open().await, "no script ran from data");
    b.screenshot(&shots.join("review-queue.png")).await;

    // j selects the second match (A2), c confirms it.
    b.press("j").await;
    assert!(b.text(".match_item.selected").await.contains("A2"));
    b.press("c").await;
    let mut confirmed = false;
    for _ in 0..150 {
        if status_of(&t, "A2").await == Status::Confirmed {
            confirmed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(confirmed, "the keyboard confirmation reached the store");
    assert_eq!(status_of(&t, "A1").await, Status::Review, "only the selected match was decided");
    assert!(b.text(".match_item.selected").await.contains("A1"), "back on the queue, without the decided one");

    b.goto(&format!("{}/search", s.url)).await;
    b.type_into("input[name=q]", "makita impact\u{E007}").await;
    let hits = b.text("table#hits").await;
    assert!(hits.contains("Makita impact driver 18V"), "{hits}");
    b.screenshot(&shots.join("search.png")).await;

    let report_path = shots.join("report.html");
    std::fs::write(&report_path, report::render(&view::report(&*t.store).await.unwrap())).unwrap();
    b.goto(&format!("file://{}", report_path.display())).await;
    assert!(b.text("table#quality").await.contains("confirmed"));
    assert!(!b.alert_open().await);
    b.screenshot(&shots.join("report.png")).await;
    b.close().await;
}
