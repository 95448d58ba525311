//! Exact rates and medians: integers, half-even, and the API's number with
//! one decimal for tenths of a day.

use crate::money::div_half_even;

const MS_PER_MINUTE: i128 = 60_000;
const MS_PER_TENTH_DAY: i128 = 8_640_000;

/// `hits × 10000 / (hits + misses)`, half-even; `None` when both are 0.
pub fn rate_bps(hits: u64, misses: u64) -> Option<u32> {
    let total = i128::from(hits) + i128::from(misses);
    (total > 0).then(|| u32::try_from(div_half_even(i128::from(hits) * 10_000, total)).unwrap_or(u32::MAX))
}

/// The median of `values` divided by `unit`, half-even: the middle value, or
/// the mean of the two middle ones, each exact before the one rounding.
fn median_in(values: &[i64], unit: i128) -> Option<i128> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(div_half_even(i128::from(sorted[n / 2]), unit)),
        _ => Some(div_half_even(i128::from(sorted[n / 2 - 1]) + i128::from(sorted[n / 2]), 2 * unit)),
    }
}

/// Median of durations in milliseconds, in whole minutes.
pub fn median_minutes(durations_ms: &[i64]) -> Option<i64> {
    median_in(durations_ms, MS_PER_MINUTE).and_then(|m| i64::try_from(m).ok())
}

/// Median of durations in milliseconds, in tenths of a day.
pub fn median_tenth_days(durations_ms: &[i64]) -> Option<i64> {
    median_in(durations_ms, MS_PER_TENTH_DAY).and_then(|m| i64::try_from(m).ok())
}

/// Tenths of a day as the API writes them: a number with one decimal.
pub fn tenth_days_json(tenths: Option<i64>) -> serde_json::Value {
    match tenths {
        None => serde_json::Value::Null,
        Some(t) => serde_json::from_str(&tenth_days_text(t)).unwrap_or(serde_json::Value::Null),
    }
}

pub(crate) fn tenth_days_text(tenths: i64) -> String {
    let sign = if tenths < 0 { "-" } else { "" };
    format!("{sign}{}.{}", tenths.unsigned_abs() / 10, tenths.unsigned_abs() % 10)
}

pub(crate) fn optional<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}
