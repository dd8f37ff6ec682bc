//! Command-line plumbing shared by the `reactor` binary and the examples (loadgen,
//! experiment, tutorial_client): durations spelled like `500ms`, and a bad command
//! line reported as one line with exit code 2.
//!
//! Rule: nothing here knows about serving; it only turns arguments into values.

use std::process::ExitCode;
use std::time::Duration;

/// Like [`parse_duration`], but `0` (bare or with a unit: `0s`, `0ms`) means "off".
pub fn parse_duration_or_zero(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let number = trimmed.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if number.parse::<f64>().is_ok_and(|n| n == 0.0) {
        // Still refuse an unknown unit, as for any other value.
        let unit = &trimmed[number.len()..];
        return parse_duration(&format!("1{unit}")).map(|_| Duration::ZERO);
    }
    parse_duration(text)
}

/// `10s`, `500ms`, `250us`, `2m`, `1h`, `1.5s`; a bare number is seconds. Must be
/// above zero and at most a year.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (try 10s or 500ms)"))?;
    let seconds = match unit {
        "" | "s" => value,
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "'{text}': unknown unit '{unit}' (use us, ms, s, m or h)"
            ))
        }
    };
    match Duration::try_from_secs_f64(seconds) {
        Ok(d) if !d.is_zero() && d <= Duration::from_secs(365 * 86_400) => Ok(d),
        _ => Err(format!("'{text}' must be above zero and at most a year")),
    }
}

/// Parses the command line with clap. `--help` and `--version` print and succeed;
/// any other error is one line on stderr, `PROGRAM: what was wrong (see --help)`,
/// and exit code 2 (clap's own report spans several lines).
pub fn parse_args<P: clap::Parser>(program: &str) -> Result<P, ExitCode> {
    match P::try_parse() {
        Ok(args) => Ok(args),
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            Err(ExitCode::SUCCESS)
        }
        Err(e) => {
            let rendered = e.to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!(
                "{program}: {} (see --help)",
                first.trim_start_matches("error: ")
            );
            Err(ExitCode::from(2))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_off_where_allowed() {
        for zero in ["0", "0s", "0ms", "0.0"] {
            assert_eq!(parse_duration_or_zero(zero), Ok(Duration::ZERO), "{zero}");
        }
        assert_eq!(parse_duration_or_zero("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_duration_or_zero("0parsecs").is_err());
        assert!(parse_duration_or_zero("-1").is_err());
        assert!(parse_duration("0").is_err());
    }

    #[test]
    fn durations_take_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        for bad in ["", "0", "0ms", "ten", "5 parsecs", "-1s", "1y", "1e9h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
