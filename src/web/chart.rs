//! Bar charts as inline SVG, so the report and the pages draw without scripts or requests.

use maud::{html, Markup};

use super::format::thousands;
use crate::matching::record::SCORE_BUCKETS;

const WIDTH: f64 = 520.0;
const HEIGHT: f64 = 140.0;
const AXIS: f64 = 18.0;
/// Few runs make few bars; wider ones would read as a block.
const MAX_BAR: f64 = 36.0;

/// One bar: its hover label and its value.
pub struct Bar {
    pub label: String,
    pub value: f64,
}

/// A bar chart with a title and the largest value on the axis.
pub fn bars(title: &str, bars: &[Bar], colour: &str) -> Markup {
    let max = bars.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    let step = if bars.is_empty() { WIDTH } else { WIDTH / bars.len() as f64 };
    let plot = HEIGHT - AXIS;
    html! {
        svg width=(WIDTH) height=(HEIGHT + AXIS)
            viewBox=(format!("0 0 {WIDTH} {}", HEIGHT + AXIS)) role="img" {
            title { (title) }
            text x="0" y="12" font-size="12" { (title) " (max " (figure(max)) ")" }
            line x1="0" y1=(HEIGHT) x2=(WIDTH) y2=(HEIGHT) stroke="#99a" {}
            @for (i, b) in bars.iter().enumerate() {
                @let h = if max > 0.0 { b.value / max * plot } else { 0.0 };
                rect x=(format!("{:.1}", i as f64 * step + step * 0.1)) y=(format!("{:.1}", HEIGHT - h))
                    width=(format!("{:.1}", (step * 0.8).clamp(1.0, MAX_BAR))) height=(format!("{h:.1}")) fill=(colour) {
                    title { (b.label) ": " (figure(b.value)) }
                }
            }
        }
    }
}

/// The match score histogram: one bar per tenth of the 0–1 range.
pub fn histogram(title: &str, counts: &[u64; SCORE_BUCKETS]) -> Markup {
    let bars: Vec<Bar> = counts
        .iter()
        .enumerate()
        .map(|(i, n)| Bar {
            label: format!("{:.1}–{:.1}", i as f64 / SCORE_BUCKETS as f64, (i + 1) as f64 / SCORE_BUCKETS as f64),
            value: *n as f64,
        })
        .collect();
    html! {
        (self::bars(title, &bars, "#2d6cdf"))
        div.hint { "scores 0 … 1, in tenths" }
    }
}

fn figure(v: f64) -> String {
    if v >= 100.0 || v.fract() == 0.0 {
        thousands(v.round() as u64)
    } else {
        format!("{v:.2}")
    }
}
