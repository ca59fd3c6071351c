//! How server commands print: tables (comfy-table) with colored states on a terminal, plain
//! tables when piped, pretty JSON for `--output json`; times in UTC, durations short.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use comfy_table::presets::{ASCII_BORDERS_ONLY_CONDENSED, UTF8_FULL_CONDENSED};
use comfy_table::{Cell, Color, ContentArrangement, Table};
use serde::Serialize;

/// Whether to color: stdout is a terminal and `NO_COLOR` is not set.
pub fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// A table with these column headers, styled for where stdout goes.
pub fn table<const N: usize>(headers: [&str; N]) -> Table {
    let mut t = Table::new();
    if color() {
        t.load_style(UTF8_FULL_CONDENSED);
        // Wrap to the terminal's width, unless it reports none worth wrapping to.
        if t.width().is_some_and(|w| w >= 60) {
            t.set_content_arrangement(ContentArrangement::Dynamic);
        }
    } else {
        t.load_style(ASCII_BORDERS_ONLY_CONDENSED).force_no_tty();
    }
    t.set_header(headers.to_vec());
    t
}

/// The color of a task or run state.
fn state_color(state: &str) -> Option<Color> {
    match state {
        "success" => Some(Color::Green),
        "failed" | "upstream_failed" => Some(Color::Red),
        "running" => Some(Color::Cyan),
        "queued" | "scheduled" => Some(Color::Grey),
        "up_for_retry" | "up_for_reschedule" => Some(Color::Yellow),
        "skipped" => Some(Color::Magenta),
        _ => None,
    }
}

/// A table cell holding a state, colored on a terminal.
pub fn state_cell(state: &str) -> Cell {
    let cell = Cell::new(state);
    match state_color(state) {
        Some(c) if color() => cell.fg(c),
        _ => cell,
    }
}

/// A state for a line of text, colored on a terminal (ANSI).
pub fn state_text(state: &str) -> String {
    let code = match state_color(state) {
        Some(Color::Green) => "32",
        Some(Color::Red) => "31",
        Some(Color::Cyan) => "36",
        Some(Color::Yellow) => "33",
        Some(Color::Magenta) => "35",
        _ => return state.to_string(),
    };
    if color() {
        format!("\x1b[{code}m{state}\x1b[0m")
    } else {
        state.to_string()
    }
}

/// `2026-01-01 03:00:00Z`, or `-`.
pub fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".into(),
        |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
    )
}

/// `850ms`, `12.3s`, `4m05s`, `2h03m`, or `-`.
pub fn duration(secs: Option<f64>) -> String {
    let Some(s) = secs else { return "-".into() };
    if s < 1.0 {
        format!("{}ms", (s * 1000.0).round())
    } else if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        let s = s.round() as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = (s / 60.0).round() as u64;
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

/// A byte count in binary units: `512B`, `1.5Ki`, `2.0Gi`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["Ki", "Mi", "Gi", "Ti", "Pi"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1}{}", UNITS[unit])
}

/// Seconds between two times, if both are known.
pub fn between(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Option<f64> {
    let (s, e) = (start?, end?);
    Some((e - s).num_milliseconds() as f64 / 1000.0)
}

/// Writes a line to stdout. A closed pipe (`weir … | head`) ends the process quietly
/// with success, as it would a shell tool, instead of a panic.
pub fn emit(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out
        .write_all(line.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(e.into()),
    }
}

/// `println!` through [`emit`]: `outln!("{x}")?`.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::commands::output::emit(&format!($($arg)*))
    };
}
pub(crate) use outln;

/// Prints `value` as pretty JSON.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    emit(&serde_json::to_string_pretty(value)?)
}

/// Prints a usage problem (a bad flag value) and returns exit code 2.
pub fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short() {
        assert_eq!(duration(None), "-");
        assert_eq!(duration(Some(0.25)), "250ms");
        assert_eq!(duration(Some(12.34)), "12.3s");
        assert_eq!(duration(Some(245.0)), "4m05s");
        assert_eq!(duration(Some(7380.0)), "2h03m");
    }

    #[test]
    fn bytes_are_binary() {
        assert_eq!(bytes(0), "0B");
        assert_eq!(bytes(1536), "1.5Ki");
        assert_eq!(bytes(2 << 30), "2.0Gi");
        assert_eq!(bytes(u64::MAX), "16384.0Pi");
    }

    #[test]
    fn times_are_utc() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T03:00:00+01:00")
            .unwrap()
            .to_utc();
        assert_eq!(time(Some(t)), "2026-01-01 02:00:00Z");
        assert_eq!(time(None), "-");
    }
}
