//! The console's plots as inline SVG written with maud (so every label is escaped): jobs
//! per day as bars, budget spent over time as one line per authorization. No `style`
//! attribute anywhere (the CSP forbids inline styles): presentation attributes and classes.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use maud::{html, Markup};

const W: f64 = 560.0;
const H: f64 = 180.0;
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 10.0;

/// Counts per day over the `days` days ending today (oldest first).
pub fn per_day(times: impl IntoIterator<Item = DateTime<Utc>>, today: NaiveDate, days: u32) -> Vec<(NaiveDate, u64)> {
    let first = today - Duration::days(i64::from(days.max(1)) - 1);
    let mut counts: Vec<(NaiveDate, u64)> = (0..days.max(1)).map(|i| (first + Duration::days(i64::from(i)), 0)).collect();
    for t in times {
        let d = t.date_naive();
        if d >= first && d <= today {
            let i = (d - first).num_days() as usize;
            counts[i].1 += 1;
        }
    }
    counts
}

/// `svg#jobs-per-day`: one bar per day.
pub fn jobs_per_day(counts: &[(NaiveDate, u64)]) -> Markup {
    let max = counts.iter().map(|c| c.1).max().unwrap_or(0).max(1) as f64;
    let n = counts.len().max(1) as f64;
    let slot = (W - LEFT) / n;
    let plot_h = H - TOP - BOTTOM;
    let total: u64 = counts.iter().map(|c| c.1).sum();
    html! {
        svg id="jobs-per-day" class="plot" xmlns="http://www.w3.org/2000/svg" width=(W) height=(H)
            viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(format!("Jobs per day: {total} in {} days", counts.len())) {
            title { "Jobs per day" }
            line class="axis" x1=(LEFT) y1=(H - BOTTOM) x2=(W) y2=(H - BOTTOM) stroke="#666" {}
            text x=(LEFT - 4.0) y=(TOP + 8.0) text-anchor="end" font-size="10" { (max as u64) }
            text x=(LEFT - 4.0) y=(H - BOTTOM) text-anchor="end" font-size="10" { "0" }
            @for (i, (day, count)) in counts.iter().enumerate() {
                @let h = plot_h * (*count as f64) / max;
                @let x = LEFT + slot * i as f64 + slot * 0.15;
                rect class="bar" x=(x) y=(H - BOTTOM - h) width=(slot * 0.7) height=(h) fill="#3b6ea5" {
                    title { (day.format("%Y-%m-%d")) ": " (count) " jobs" }
                }
            }
            @if let (Some(first), Some(last)) = (counts.first(), counts.last()) {
                text x=(LEFT) y=(H - 6.0) font-size="10" { (first.0.format("%m-%d")) }
                text x=(W) y=(H - 6.0) font-size="10" text-anchor="end" { (last.0.format("%m-%d")) }
            }
        }
    }
}

/// One authorization's spending: its label and (time, fraction of its total spent so far).
#[derive(Debug, Clone)]
pub struct SpentSeries {
    /// Shown in the legend (`authorization 3: ageing`).
    pub label: String,
    /// Points in time order, the first at the period's start; fractions in `[0, 1]`.
    pub points: Vec<(DateTime<Utc>, f64)>,
}

const COLOURS: [&str; 6] = ["#3b6ea5", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085"];

/// `svg#budget-spent`: the share of each authorization's budget spent over time.
pub fn budget_spent(series: &[SpentSeries], from: DateTime<Utc>, to: DateTime<Utc>) -> Markup {
    let span = (to - from).num_seconds().max(1) as f64;
    let plot_h = H - TOP - BOTTOM;
    let x_of = |t: DateTime<Utc>| LEFT + (W - LEFT - 10.0) * ((t - from).num_seconds().max(0) as f64 / span).min(1.0);
    let y_of = |f: f64| H - BOTTOM - plot_h * f.clamp(0.0, 1.0);
    let legend_h = 14.0 * series.len() as f64;
    html! {
        svg id="budget-spent" class="plot" xmlns="http://www.w3.org/2000/svg" width=(W) height=(H + legend_h)
            viewBox=(format!("0 0 {W} {}", H + legend_h)) role="img" aria-label="Budget spent over time, as a share of each authorization's total" {
            title { "Budget spent over time" }
            line class="axis" x1=(LEFT) y1=(H - BOTTOM) x2=(W) y2=(H - BOTTOM) stroke="#666" {}
            line class="axis" x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(H - BOTTOM) stroke="#666" {}
            text x=(LEFT - 4.0) y=(TOP + 8.0) text-anchor="end" font-size="10" { "100%" }
            text x=(LEFT - 4.0) y=(H - BOTTOM) text-anchor="end" font-size="10" { "0%" }
            text x=(LEFT) y=(H - 6.0) font-size="10" { (from.format("%Y-%m-%d")) }
            text x=(W) y=(H - 6.0) font-size="10" text-anchor="end" { (to.format("%Y-%m-%d")) }
            @for (i, s) in series.iter().enumerate() {
                @let colour = COLOURS[i % COLOURS.len()];
                @let last = s.points.last().map(|p| p.1).unwrap_or(0.0);
                @let pts = s.points.iter().copied().chain(std::iter::once((to, last)));
                polyline class="series" fill="none" stroke=(colour) stroke-width="2"
                    points=(pts.map(|(t, f)| format!("{:.1},{:.1}", x_of(t), y_of(f))).collect::<Vec<_>>().join(" ")) {
                    title { (s.label) }
                }
                rect x=(LEFT) y=(H + 14.0 * i as f64 - 2.0) width="10" height="10" fill=(colour) {}
                text x=(LEFT + 14.0) y=(H + 14.0 * i as f64 + 7.0) font-size="10" {
                    (s.label) ": " (format!("{:.1}%", last * 100.0)) " spent"
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn jobs_are_counted_on_their_day_and_labels_are_escaped() {
        let today = NaiveDate::from_ymd_opt(2030, 1, 10).expect("date");
        let t = |d: u32| Utc.with_ymd_and_hms(2030, 1, d, 12, 0, 0).single().expect("time");
        let counts = per_day([t(10), t(10), t(8), t(1)], today, 3);
        assert_eq!(counts.iter().map(|c| c.1).collect::<Vec<_>>(), vec![1, 0, 2]);
        let svg = jobs_per_day(&counts).into_string();
        assert_eq!(svg.matches("<rect").count(), 3);
        let s = SpentSeries { label: "<script>".into(), points: vec![(t(8), 0.5)] };
        let svg = budget_spent(&[s], t(1), t(10)).into_string();
        assert!(svg.contains("id=\"budget-spent\""));
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
    }
}
