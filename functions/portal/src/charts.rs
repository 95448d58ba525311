//! Line and bar charts as SVG drawn on the server: exact values in their
//! labels, text escaped, legible at a phone's width.

use partnerops_domain::money::{Currency, format_minor_units};
use std::fmt::Write as _;

/// Distinguishable for the common colour-vision deficiencies (Okabe-Ito).
pub(crate) const PALETTE: [&str; 6] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];

// A phone's width at 1:1, so the 13 px text stays 13 px at 375 px wide.
const WIDTH: i64 = 340;

const HEIGHT: i64 = 220;

const LEFT: i64 = 46;

const RIGHT: i64 = 22;

const TOP: i64 = 12;

const BOTTOM: i64 = 36;

fn escape(text: &str) -> String {
    html_escape::encode_text(text).into_owned()
}

fn svg_open(out: &mut String, legend_rows: usize) {
    let height = HEIGHT + 18 * i64::try_from(legend_rows).unwrap_or(0);
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" font-family="system-ui, sans-serif" font-size="13">"#
    );
}

fn plot_width() -> i64 {
    WIDTH - LEFT - RIGHT
}

fn plot_height() -> i64 {
    HEIGHT - TOP - BOTTOM
}

/// Every `step`-th label, so they never overlap at the chart's width.
fn x_axis(out: &mut String, labels: &[String], x_of: impl Fn(usize) -> i64) {
    let step = labels.len().div_ceil(5).max(1);
    for (i, label) in labels.iter().enumerate().step_by(step) {
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#333">{}</text>"##,
            x_of(i),
            TOP + plot_height() + 18,
            escape(label)
        );
    }
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{y}" x2="{x2}" y2="{y}" stroke="#666"/>"##,
        y = TOP + plot_height(),
        x2 = LEFT + plot_width()
    );
}

fn legend(out: &mut String, names: &[String]) {
    for (i, name) in names.iter().enumerate() {
        let y = HEIGHT + 18 * i64::try_from(i).unwrap_or(0) - 8;
        let colour = PALETTE[i % PALETTE.len()];
        let _ = write!(
            out,
            r##"<rect x="{LEFT}" y="{}" width="12" height="12" fill="{colour}"/><text x="{}" y="{}" fill="#222">{}</text>"##,
            y - 10,
            LEFT + 18,
            y,
            escape(name)
        );
    }
}

/// Rates in basis points, 0–10000, one line per series; a week without a
/// rate leaves a gap rather than a fake zero.
pub fn line_chart(labels: &[String], series: &[(String, Vec<Option<u32>>)]) -> String {
    let mut out = String::new();
    svg_open(&mut out, series.len());
    let n = i64::try_from(labels.len().max(2) - 1).unwrap_or(1);
    let x_of = |i: usize| LEFT + plot_width() * i64::try_from(i).unwrap_or(0) / n;
    let y_of = |bps: u32| TOP + plot_height() - plot_height() * i64::from(bps.min(10_000)) / 10_000;
    for pct in [0u32, 25, 50, 75, 100] {
        let y = y_of(pct * 100);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end" fill="#333">{pct}%</text>"##,
            LEFT + plot_width(),
            LEFT - 6,
            y + 4
        );
    }
    x_axis(&mut out, labels, x_of);
    for (s, (_, values)) in series.iter().enumerate() {
        let colour = PALETTE[s % PALETTE.len()];
        let mut path = String::new();
        let mut pen_down = false;
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(bps) => {
                    let _ = write!(path, "{}{},{} ", if pen_down { "L" } else { "M" }, x_of(i), y_of(*bps));
                    let _ = write!(out, r#"<circle cx="{}" cy="{}" r="3" fill="{colour}"/>"#, x_of(i), y_of(*bps));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        if !path.is_empty() {
            let _ = write!(out, r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#, path.trim_end());
        }
    }
    legend(&mut out, &series.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>());
    out.push_str("</svg>");
    out
}

/// Amounts in minor units of one currency, grouped bars per label.
pub fn bar_chart(labels: &[String], series: &[(String, Vec<i64>)], currency: Currency) -> String {
    let mut out = String::new();
    svg_open(&mut out, series.len());
    let max = series.iter().flat_map(|(_, v)| v.iter().copied()).max().unwrap_or(0).max(1);
    let y_of = |minor: i64| {
        TOP + plot_height()
            - i64::try_from(i128::from(plot_height()) * i128::from(minor.max(0)) / i128::from(max)).unwrap_or(0)
    };
    let slots = i64::try_from(labels.len().max(1)).unwrap_or(1);
    let slot = plot_width() / slots;
    let x_of = |i: usize| LEFT + slot * i64::try_from(i).unwrap_or(0) + slot / 2;
    for (y, value) in [(y_of(max), max), (y_of(max / 2), max / 2), (y_of(0), 0)] {
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end" fill="#333">{}</text>"##,
            LEFT + plot_width(),
            LEFT - 4,
            y + 4,
            escape(&short_amount(value, currency))
        );
    }
    x_axis(&mut out, labels, x_of);
    let bars = i64::try_from(series.len().max(1)).unwrap_or(1);
    let bar = ((slot - 8) / bars).max(1);
    for (s, (name, values)) in series.iter().enumerate() {
        let colour = PALETTE[s % PALETTE.len()];
        for (i, v) in values.iter().enumerate() {
            if *v <= 0 {
                continue;
            }
            let x = LEFT + slot * i64::try_from(i).unwrap_or(0) + 4 + bar * i64::try_from(s).unwrap_or(0);
            let y = y_of(*v);
            let _ = write!(
                out,
                r#"<rect x="{x}" y="{y}" width="{bar}" height="{}" fill="{colour}"><title>{}: {} {}</title></rect>"#,
                TOP + plot_height() - y,
                escape(&format!("{} {name}", labels.get(i).map_or("", String::as_str))),
                format_minor_units(*v, currency.minor_digits()),
                currency.code()
            );
        }
    }
    legend(&mut out, &series.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>());
    out.push_str("</svg>");
    out
}

/// An axis label: whole units, with k or M past a thousand.
fn short_amount(minor: i64, currency: Currency) -> String {
    let units = minor / 10_i64.pow(u32::from(currency.minor_digits()));
    match units.unsigned_abs() {
        u if u >= 1_000_000 => format!("{}M", units / 1_000_000),
        u if u >= 10_000 => format!("{}k", units / 1_000),
        _ => units.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(svg: &str) -> &str {
        svg.split(" d=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or_default()
    }

    #[test]
    fn a_week_without_a_rate_breaks_the_line() {
        let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let gap = line_chart(&labels, &[("notes update".into(), vec![Some(10_000), None, Some(5_000)])]);
        assert!(gap.starts_with("<svg") && gap.ends_with("</svg>"));
        assert_eq!(gap.matches("<circle").count(), 2);
        assert_eq!((path(&gap).matches('M').count(), path(&gap).matches('L').count()), (2, 0));
        let whole = line_chart(&labels, &[("notes update".into(), vec![Some(10_000), Some(0), Some(5_000)])]);
        assert_eq!((path(&whole).matches('M').count(), path(&whole).matches('L').count()), (1, 2));
        // 100% at the top of the plot, 0% at its bottom.
        assert!(path(&whole).starts_with(&format!(
            "M{LEFT},{TOP} L{},{}",
            LEFT + plot_width() / 2,
            TOP + plot_height()
        )));
    }

    #[test]
    fn bars_are_exact_amounts_and_text_is_escaped() {
        let usd = Currency::parse("USD").unwrap();
        let labels = vec!["2026-11".to_owned()];
        let svg = bar_chart(&labels, &[("<referral> sourced".into(), vec![3_500_001])], usd);
        assert!(svg.contains("35000.01 USD"));
        assert!(svg.contains("&lt;referral&gt; sourced"));
        assert!(!svg.contains("<referral>"));
        assert_eq!(short_amount(3_500_001, usd), "35k");
    }
}
