//! Durations (`30s`, `5m`, `1h30m`, `2d`) and sizes (`512Mi`, `2Gi`, `1G`) as users write
//! them in DAG files.

use std::time::Duration;

/// Parses `1h30m`, `30s`, `250ms`, `2d`: one or more `<number><unit>` parts, units `ms`,
/// `s`, `m`, `h`, `d`. A bare number is refused: the unit is always explicit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("a duration may not be empty; write e.g. `30s`, `5m` or `1h30m`".into());
    }
    let mut total_ms: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(format!(
                "`{text}` is not a duration: expected a number at `{rest}`; write e.g. `30s`, `5m` or `1h30m`"
            ));
        }
        let number: u128 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}` is not a duration: the number is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.chars().take_while(|c| c.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let factor: u128 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(format!(
                    "`{text}` is not a duration: a number needs a unit (`ms`, `s`, `m`, `h` or `d`), e.g. `{number}s`"
                ));
            }
            other => {
                return Err(format!(
                    "`{text}` is not a duration: unknown unit `{other}`; use `ms`, `s`, `m`, `h` or `d`"
                ));
            }
        };
        total_ms = total_ms
            .checked_add(number.saturating_mul(factor))
            .filter(|ms| *ms <= u128::from(u64::MAX))
            .ok_or_else(|| format!("`{text}` is too long a duration"))?;
    }
    let ms = u64::try_from(total_ms).map_err(|_| format!("`{text}` is too long a duration"))?;
    Ok(Duration::from_millis(ms))
}

/// Formats a duration the way users write one (`1h30m`, `45s`, `250ms`).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// Parses a memory size: `512Mi`, `2Gi`, `1Ti`, `500M`, `1G`, `1024Ki`, or plain bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let digits = s
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .count();
    if digits == 0 {
        return Err(format!(
            "`{text}` is not a size: write e.g. `512Mi` or `2Gi`"
        ));
    }
    let number: f64 = s[..digits]
        .parse()
        .map_err(|_| format!("`{text}` is not a size: write e.g. `512Mi` or `2Gi`"))?;
    let factor: f64 = match &s[digits..] {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "K" | "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        other => {
            return Err(format!(
                "`{text}` is not a size: unknown unit `{other}`; use `Ki`, `Mi`, `Gi`, `Ti` (or `K`, `M`, `G`, `T`)"
            ));
        }
    };
    let bytes = number * factor;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(format!("`{text}` is too large a size"));
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("30").unwrap_err().contains("needs a unit"));
        assert!(
            parse_duration("5x")
                .unwrap_err()
                .contains("unknown unit `x`")
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("99999999999999999999999999999999999999999d").is_err());
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512Mi"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_size("2Gi"), Ok(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_size("1G"), Ok(1_000_000_000));
        assert_eq!(parse_size("1.5Gi"), Ok(1_610_612_736));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("2GB").unwrap_err().contains("unknown unit `GB`"));
        assert!(parse_size("lots").is_err());
    }
}
