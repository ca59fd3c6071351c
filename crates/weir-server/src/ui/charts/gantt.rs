//! A run's Gantt chart: one bar per task instance from its start to its end (to now while
//! it runs), on a shared time axis starting at the run's first start.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::esc;

const ROW: f64 = 22.0;
const LABEL_W: f64 = 190.0;
const CHART_W: f64 = 640.0;
const TOP: f64 = 20.0;

/// One bar: a task instance.
pub struct Bar {
    pub label: String,
    pub task_id: String,
    pub state: String,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub href: String,
}

/// The chart's SVG; instances that never started get an empty row.
pub fn svg(bars: &[Bar], now: DateTime<Utc>) -> String {
    let first = bars.iter().filter_map(|b| b.start).min();
    let last = bars
        .iter()
        .filter_map(|b| b.start.map(|_| b.end.unwrap_or(now)))
        .max();
    let span = match (first, last) {
        (Some(f), Some(l)) => ((l - f).num_milliseconds() as f64 / 1000.0).max(1.0),
        _ => 1.0,
    };
    let height = TOP + ROW * bars.len() as f64 + 6.0;
    let width = LABEL_W + CHART_W + 10.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg id="gantt" role="img" aria-label="Gantt chart of the run" viewBox="0 0 {width:.0} {height:.0}" width="100%" preserveAspectRatio="xMinYMin meet">"#
    );
    let _ = write!(
        out,
        r##"<text x="{LABEL_W:.0}" y="13" font-size="11" fill="#5b6475">0s</text><text x="{:.0}" y="13" font-size="11" fill="#5b6475" text-anchor="end">{}</text>"##,
        LABEL_W + CHART_W,
        esc(&crate::ui::layout::duration(Some(span)))
    );
    for (row, bar) in bars.iter().enumerate() {
        let y = TOP + row as f64 * ROW;
        let _ = write!(
            out,
            r#"<a href="{}"><text x="4" y="{:.1}" font-size="12">{}</text></a>"#,
            esc(&bar.href),
            y + 14.0,
            esc(&bar.label.chars().take(28).collect::<String>())
        );
        let (Some(start), Some(first)) = (bar.start, first) else {
            continue;
        };
        let end = bar.end.unwrap_or(now);
        let x = LABEL_W + (start - first).num_milliseconds() as f64 / 1000.0 / span * CHART_W;
        let w = ((end - start).num_milliseconds() as f64 / 1000.0 / span * CHART_W).max(2.0);
        let seconds = (end - start).num_milliseconds() as f64 / 1000.0;
        let _ = write!(
            out,
            r#"<g data-task-id="{id}" data-state="{state}"><title>{id}: {state}, {d}</title><rect class="st-{state}" x="{x:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" rx="3"/></g>"#,
            y + 3.0,
            ROW - 6.0,
            id = esc(&bar.task_id),
            state = esc(&bar.state),
            d = esc(&crate::ui::layout::duration(Some(seconds))),
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_placed_on_the_runs_time_axis() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-04T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let bar = |id: &str, s: i64, e: i64| Bar {
            label: id.into(),
            task_id: id.into(),
            state: "success".into(),
            start: Some(t0 + chrono::TimeDelta::seconds(s)),
            end: Some(t0 + chrono::TimeDelta::seconds(e)),
            href: "#".into(),
        };
        let svg = svg(&[bar("a", 0, 5), bar("b", 5, 10)], t0);
        // b starts halfway along the 10 s axis.
        assert!(
            svg.contains(&format!(r#"x="{:.1}""#, LABEL_W + CHART_W / 2.0)),
            "{svg}"
        );
        assert!(svg.contains("10.0s"));
    }
}
