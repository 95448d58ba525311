//! UTC days: a report's range (both days included, at most a year apart),
//! the day an instant falls on, and where a record's counts land.

use crate::Timestamp;
use std::collections::BTreeMap;

pub const MAX_RANGE_DAYS: i64 = 366;
/// A UTC calendar day, `YYYY-MM-DD`.
pub fn day_of(at: Timestamp) -> String {
    at.as_datetime().format("%Y-%m-%d").to_string()
}

/// Where one record's counts land: (grouping, key, day).
pub type Slot = (String, String, String);

/// The change to the aggregates when a record's contribution goes from
/// `before` to `after`: per slot, what to add and what to take away.
pub fn delta<C: Clone>(
    before: &BTreeMap<Slot, C>,
    after: &BTreeMap<Slot, C>,
) -> BTreeMap<Slot, (Option<C>, Option<C>)> {
    let mut out: BTreeMap<Slot, (Option<C>, Option<C>)> = BTreeMap::new();
    for (slot, c) in before {
        out.entry(slot.clone()).or_default().0 = Some(c.clone());
    }
    for (slot, c) in after {
        out.entry(slot.clone()).or_default().1 = Some(c.clone());
    }
    out
}

/// A report's range: both days included, `from` ≤ `to`, at most 366 days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayRange {
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
}

impl DayRange {
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self, crate::FieldErrors> {
        let mut errors = crate::FieldErrors::default();
        let mut day = |field: &str, raw: Option<&str>| match raw {
            None => {
                errors.push(field, "is required: a UTC day YYYY-MM-DD");
                None
            }
            Some(raw) => match chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
                Ok(d) if raw.len() == 10 => Some(d),
                _ => {
                    errors.push(field, "must be a UTC day YYYY-MM-DD");
                    None
                }
            },
        };
        let (from, to) = (day("from", from), day("to", to));
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                errors.push("to", "must not be before from");
            } else if (t - f).num_days() > MAX_RANGE_DAYS {
                errors.push("to", "must be at most 366 days after from");
            }
        }
        match (from, to) {
            (Some(from), Some(to)) if errors.is_empty() => Ok(Self { from, to }),
            _ => Err(errors),
        }
    }
}
