//! The cost chart: cost per day, one stacked bar per day with a segment per team.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::esc;

const H: f64 = 220.0;
const BAR_W: f64 = 22.0;
const GAP: f64 = 8.0;
const LEFT: f64 = 60.0;
const BOTTOM: f64 = 40.0;
const PALETTE: [&str; 8] = [
    "#0b5cad", "#e6801a", "#2e9b3e", "#9b59b6", "#d32f2f", "#17a2b8", "#8c6d31", "#e754b0",
];

/// The SVG of `days` (day → team → cost), with a legend of the teams.
pub fn svg(days: &BTreeMap<String, BTreeMap<String, f64>>, currency: &str) -> String {
    let teams: Vec<&String> = {
        let mut t: Vec<&String> = days.values().flat_map(|m| m.keys()).collect();
        t.sort();
        t.dedup();
        t
    };
    let colour = |team: &str| {
        let i = teams.iter().position(|t| t.as_str() == team).unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    };
    let top = days
        .values()
        .map(|m| m.values().sum::<f64>())
        .fold(0.0, f64::max)
        .max(0.01);
    let width = LEFT + days.len() as f64 * (BAR_W + GAP) + 20.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg id="cost-chart" role="img" aria-label="Cost per day and team" viewBox="0 0 {w:.0} {h:.0}" width="{w:.0}" height="{h:.0}">"#,
        w = width.max(300.0),
        h = H + BOTTOM + 20.0 * (teams.len() as f64 / 4.0).ceil() + 10.0,
    );
    let _ = write!(
        out,
        r##"<text x="4" y="14" font-size="11" fill="#5b6475">{}</text><text x="4" y="{:.0}" font-size="11" fill="#5b6475">0</text>"##,
        esc(&format!("{top:.2} {currency}")),
        H
    );
    for (i, (day, per_team)) in days.iter().enumerate() {
        let x = LEFT + i as f64 * (BAR_W + GAP);
        let mut y = H;
        for (team, cost) in per_team {
            let h = cost / top * (H - 10.0);
            y -= h;
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{BAR_W}" height="{h:.1}" fill="{}"><title>{} · {}: {cost:.2} {}</title></rect>"#,
                colour(team),
                esc(day),
                esc(team),
                esc(currency)
            );
        }
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.0}" font-size="10" text-anchor="end" transform="rotate(-45 {:.1} {:.0})">{}</text>"#,
            x + BAR_W,
            H + 14.0,
            x + BAR_W,
            H + 14.0,
            esc(day.get(5..).unwrap_or(day))
        );
    }
    for (i, team) in teams.iter().enumerate() {
        let x = 4.0 + (i % 4) as f64 * 140.0;
        let y = H + BOTTOM + (i / 4) as f64 * 20.0;
        let _ = write!(
            out,
            r#"<rect x="{x:.0}" y="{:.0}" width="12" height="12" fill="{}"/><text x="{:.0}" y="{y:.0}" font-size="12">{}</text>"#,
            y - 10.0,
            colour(team),
            x + 16.0,
            esc(team)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tallest_day_fills_the_chart_and_teams_get_a_legend() {
        let mut days = BTreeMap::new();
        days.insert(
            "2026-12-01".to_string(),
            BTreeMap::from([
                ("data-eng".to_string(), 2.0),
                ("marketing".to_string(), 2.0),
            ]),
        );
        days.insert(
            "2026-12-02".to_string(),
            BTreeMap::from([("data-eng".to_string(), 1.0)]),
        );
        let svg = svg(&days, "USD");
        assert!(svg.contains("4.00 USD"));
        assert!(svg.contains(">marketing</text>"));
        assert_eq!(svg.matches("<rect").count(), 3 + 2);
    }
}
