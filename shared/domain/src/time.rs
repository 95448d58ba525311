//! UTC instants with one wire and storage format.
//!
//! Every stored timestamp uses fixed millisecond precision and a `Z` suffix,
//! so lexicographic order of the strings is chronological order; the SLA
//! due-time index sorts on that.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub const fn from_datetime(value: DateTime<Utc>) -> Self {
        Self(value)
    }

    /// Parses RFC 3339 with any offset and normalises to UTC. An instant whose
    /// UTC year leaves 0000–9999 (`9999-12-31T23:59:59-01:00`) is refused: its
    /// RFC 3339 form would need a five-digit or signed year, which no reader
    /// of the stored string accepts and which breaks the string order.
    pub fn parse(value: &str) -> Result<Self, TimestampError> {
        use chrono::Datelike as _;
        let utc = DateTime::parse_from_rfc3339(value).map_err(|_| TimestampError)?.with_timezone(&Utc);
        if (0..=9999).contains(&utc.year()) { Ok(Self(utc)) } else { Err(TimestampError) }
    }

    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        DateTime::from_timestamp_millis(millis).map(Self)
    }

    pub fn unix_millis(self) -> i64 {
        self.0.timestamp_millis()
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.timestamp()
    }

    pub fn as_datetime(self) -> DateTime<Utc> {
        self.0
    }

    /// Saturates instead of overflowing: far-future arithmetic stays total.
    pub fn plus(self, duration: Duration) -> Self {
        Self(self.0.checked_add_signed(duration).unwrap_or(DateTime::<Utc>::MAX_UTC))
    }

    pub fn minus(self, duration: Duration) -> Self {
        Self(self.0.checked_sub_signed(duration).unwrap_or(DateTime::<Utc>::MIN_UTC))
    }

    pub fn since(self, earlier: Timestamp) -> Duration {
        self.0.signed_duration_since(earlier.0)
    }

    pub fn to_rfc3339(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be an RFC 3339 timestamp")]
pub struct TimestampError;

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Timestamp::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_outside_four_digit_utc_years_are_refused() {
        assert!(Timestamp::parse("9999-12-31T23:59:59-01:00").is_err());
        assert!(Timestamp::parse("0000-01-01T00:00:00+01:00").is_err());
        let last = Timestamp::parse("9999-12-31T23:59:59+00:00").unwrap();
        assert_eq!(Timestamp::parse(&last.to_rfc3339()), Ok(last));
        let first = Timestamp::parse("0000-01-01T00:00:00Z").unwrap();
        assert_eq!(Timestamp::parse(&first.to_rfc3339()), Ok(first));
    }

    #[test]
    fn formats_with_millis_and_z() {
        let t = Timestamp::parse("2026-11-22T10:00:00+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-22T09:00:00.000Z");
    }

    #[test]
    fn string_order_is_time_order() {
        let a = Timestamp::parse("2026-11-22T09:59:59.999Z").unwrap();
        let b = Timestamp::parse("2026-11-22T10:00:00Z").unwrap();
        assert!(a < b);
        assert!(a.to_rfc3339() < b.to_rfc3339());
    }

    #[test]
    fn saturates_at_the_edges() {
        let t = Timestamp::parse("2026-11-22T10:00:00Z").unwrap();
        assert!(t.plus(Duration::MAX) >= t);
    }
}
