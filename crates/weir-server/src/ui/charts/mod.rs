//! Charts drawn on the server: the grid's cells ([`grid`]), the graph's layered layout
//! ([`graph`]), a run's Gantt chart ([`gantt`]) and the cost chart ([`bars`]). Layout is
//! pure (inputs in, positions out) and unit-tested; the SVG text is escaped here, since
//! it does not go through a template.

pub mod bars;
pub mod gantt;
pub mod graph;
pub mod grid;

/// Escapes text for SVG/HTML content and attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
