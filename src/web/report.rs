//! `catsync report --html`: one self-contained HTML file (inline CSS and SVG, no scripts, no
//! requests) rendered from a `ReportView`.

use std::collections::BTreeMap;

use maud::{html, Markup};

use super::chart::{self, Bar};
use super::pages;
use super::view::ReportView;
use crate::control::RunRecord;

pub fn render(v: &ReportView) -> String {
    let body = html! {
        h1 { "catsync report" }
        (pages::status(&v.status))
        h2 { "Runs over time" }
        (history(&v.history))
        (pages::errors(&v.errors, |_| html! {}))
        h2 { "Slowest runs" }
        (pages::runs(&v.slowest))
        h2 { "Match quality" }
        (pages::quality(&v.quality))
    };
    pages::document("catsync report", false, body).into_string()
}

/// Per source: records per second and errors of each run, oldest first.
fn history(runs: &[RunRecord]) -> Markup {
    let mut by_source: BTreeMap<&str, Vec<&RunRecord>> = BTreeMap::new();
    for r in runs {
        by_source.entry(&r.source).or_default().push(r);
    }
    let label = |r: &RunRecord| r.started_at.format("%Y-%m-%d %H:%M:%S").to_string();
    html! {
        @if by_source.is_empty() { p { "No runs recorded yet." } }
        @for (source, runs) in &by_source {
            h3 { (source) }
            div.charts {
                div.chart {
                    (chart::bars("records/s per run",
                        &runs.iter().map(|r| Bar { label: label(r), value: r.rows_per_second }).collect::<Vec<_>>(),
                        "#2d6cdf"))
                }
                div.chart {
                    (chart::bars("errors per run",
                        &runs.iter().map(|r| Bar { label: label(r), value: r.counts.rejected as f64 }).collect::<Vec<_>>(),
                        "#c0392b"))
                }
            }
        }
    }
}
