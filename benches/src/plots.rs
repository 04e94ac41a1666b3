//! SVG line charts (plotters, SVG backend only): latency against dataset size and error
//! against epsilon, one line per system, both axes logarithmic.

use plotters::prelude::*;

/// One line: its label and its (x, y) points.
pub type Series = (String, Vec<(f64, f64)>);

/// A log-log line chart of `series` as an SVG document. Points with a non-positive or
/// non-finite coordinate cannot sit on a log axis and are left out; a series left empty
/// is dropped; with no point at all the chart says so.
pub fn log_log(title: &str, x_desc: &str, y_desc: &str, series: &[Series]) -> Result<String, String> {
    let keep = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite() && p.0 > 0.0 && p.1 > 0.0;
    let series: Vec<(&String, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(n, pts)| {
            let mut p: Vec<(f64, f64)> = pts.iter().copied().filter(keep).collect();
            p.sort_by(|a, b| a.0.total_cmp(&b.0));
            (n, p)
        })
        .filter(|(_, p)| !p.is_empty())
        .collect();
    let all: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        if all.is_empty() {
            root.draw(&Text::new(format!("{title}: no data"), (20, 30), ("sans-serif", 16))).map_err(|e| e.to_string())?;
            root.present().map_err(|e| e.to_string())?;
            drop(root);
            return Ok(svg);
        }
        let (x0, x1) = span(all.iter().map(|p| p.0));
        let (y0, y1) = span(all.iter().map(|p| p.1));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(70)
            .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&|v| short(*v))
            .y_label_formatter(&|v| short(*v))
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled()))).map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Log-axis range around values: a little room on both sides, never empty.
fn span(v: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = v.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    if lo == hi {
        (lo / 2.0, hi * 2.0)
    } else {
        (lo / 1.3, hi * 1.3)
    }
}

/// A compact axis label: 1e-5, 0.01, 3, 1.5k, 10M.
fn short(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else if a >= 0.01 {
        trim(v)
    } else {
        format!("{v:.0e}")
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_has_one_path_per_series_and_drops_unplottable_points() {
        let s = vec![
            ("shuyu".to_string(), vec![(1e5, 2.0), (1e6, 20.0), (1e7, 0.0)]),
            ("peer".to_string(), vec![(1e5, 50.0), (1e6, f64::NAN)]),
            ("nothing".to_string(), vec![(0.0, 1.0)]),
        ];
        let svg = log_log("latency", "rows", "ms", &s).expect("svg");
        assert!(svg.starts_with("<svg"), "an SVG document");
        assert!(svg.contains(">shuyu<") && svg.contains(">peer<"), "legend names the plotted series");
        assert!(!svg.contains(">nothing<"), "a series without plottable points is dropped");
    }

    #[test]
    fn empty_chart_says_so() {
        let svg = log_log("error", "epsilon", "relative error", &[]).expect("svg");
        assert!(svg.contains("no data"));
    }

    #[test]
    fn labels_are_short() {
        assert_eq!(short(10_000_000.0), "10M");
        assert_eq!(short(1500.0), "1.5k");
        assert_eq!(short(0.5), "0.5");
        assert_eq!(short(0.0001), "1e-4");
    }
}
