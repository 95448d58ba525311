//! An export period: a UTC calendar month, and the cutoff its lines are
//! earned before.

use crate::Timestamp;
use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc};
use std::fmt;

/// A payout period: one UTC calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    first: NaiveDate,
}

impl Period {
    /// `YYYY-MM`, years 2000–9998.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        const MESSAGE: &str = "must be a month as YYYY-MM";
        let (y, m) = raw.split_once('-').ok_or(MESSAGE)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(MESSAGE);
        }
        let year: i32 = y.parse().map_err(|_| MESSAGE)?;
        let month: u32 = m.parse().map_err(|_| MESSAGE)?;
        if !(2000..=9998).contains(&year) {
            return Err(MESSAGE);
        }
        NaiveDate::from_ymd_opt(year, month, 1).map(|first| Self { first }).ok_or(MESSAGE)
    }

    /// The month before the one `at` falls in (what the schedule exports).
    pub fn previous(at: Timestamp) -> Option<Self> {
        let date = at.as_datetime().date_naive();
        let first = NaiveDate::from_ymd_opt(date.year(), date.month(), 1)?;
        let previous = first.pred_opt()?;
        NaiveDate::from_ymd_opt(previous.year(), previous.month(), 1).map(|first| Self { first })
    }

    pub fn start(self) -> Timestamp {
        Timestamp::from_datetime(Utc.from_utc_datetime(&self.first.and_time(chrono::NaiveTime::MIN)))
    }

    /// The first instant after the period.
    pub fn end(self) -> Timestamp {
        let next = self.first.checked_add_months(chrono::Months::new(1)).unwrap_or(self.first);
        Timestamp::from_datetime(Utc.from_utc_datetime(&next.and_time(chrono::NaiveTime::MIN)))
    }

    /// Lines earned before this instant are due in the period's export.
    pub fn cutoff(self, hold_days: u32) -> Timestamp {
        self.end().minus(Duration::days(i64::from(hold_days)))
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.first.year(), self.first.month())
    }
}
