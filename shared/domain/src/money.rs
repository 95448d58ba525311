//! Money as an integer count of minor units in an ISO 4217 currency.
//!
//! Parsing reads the decimal string digit by digit; no float ever holds an
//! amount.

use crate::field::FieldErrors;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Upper bound (exclusive) on an amount in major units: 10^12.
const MAX_MAJOR_DIGITS: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    minor_digits: u8,
}

impl Currency {
    /// An ISO 4217 currency that has minor units defined (USD 2, JPY 0, BHD 3).
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let iso = iso_currency::Currency::from_code(code).ok_or(MoneyError::UnknownCurrency)?;
        let minor_digits = iso.exponent().ok_or(MoneyError::UnknownCurrency)?;
        let bytes = code.as_bytes();
        let (Some(a), Some(b), Some(c)) = (bytes.first(), bytes.get(1), bytes.get(2)) else {
            return Err(MoneyError::UnknownCurrency);
        };
        let minor_digits = u8::try_from(minor_digits).map_err(|_| MoneyError::UnknownCurrency)?;
        Ok(Self { code: [*a, *b, *c], minor_digits })
    }

    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    pub fn minor_digits(&self) -> u8 {
        self.minor_digits
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Currency::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be an ISO 4217 currency code with minor units (USD, EUR, JPY, …)")]
    UnknownCurrency,
    #[error("must be a decimal string such as \"1234.50\"")]
    NotDecimal,
    #[error("has more decimal places than the currency allows ({0})")]
    TooManyDecimals(u8),
    #[error("must be greater than 0")]
    NotPositive,
    #[error("must be less than 1000000000000")]
    TooLarge,
}

/// A strictly positive amount below 10^12 major units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// Parses `"1234.50"` in `currency`: digits, at most one point, at most the
    /// currency's minor digits after it, no sign, no exponent.
    pub fn parse(amount: &str, currency: Currency) -> Result<Self, MoneyError> {
        let minor = parse_minor_units(amount, currency.minor_digits)?;
        if minor <= 0 {
            return Err(MoneyError::NotPositive);
        }
        Ok(Self { minor, currency })
    }

    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    pub fn minor_units(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The decimal string with exactly the currency's minor digits.
    pub fn amount_string(&self) -> String {
        format_minor_units(self.minor, self.currency.minor_digits)
    }
}

/// Non-negative decimal string to minor units, rejecting anything ambiguous.
pub fn parse_minor_units(amount: &str, minor_digits: u8) -> Result<i64, MoneyError> {
    let (whole, fraction) = match amount.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (amount, None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MoneyError::NotDecimal);
    }
    let fraction = fraction.unwrap_or("");
    if amount.contains('.') && fraction.is_empty() {
        return Err(MoneyError::NotDecimal);
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MoneyError::NotDecimal);
    }
    if fraction.len() > usize::from(minor_digits) {
        return Err(MoneyError::TooManyDecimals(minor_digits));
    }
    let whole = whole.trim_start_matches('0');
    if whole.len() > MAX_MAJOR_DIGITS {
        return Err(MoneyError::TooLarge);
    }
    let mut minor: i64 = 0;
    let padded = fraction.bytes().chain(std::iter::repeat(b'0')).take(usize::from(minor_digits));
    for digit in whole.bytes().chain(padded) {
        minor =
            minor.checked_mul(10).and_then(|m| m.checked_add(i64::from(digit - b'0'))).ok_or(MoneyError::TooLarge)?;
    }
    Ok(minor)
}

/// Minor units to a decimal string with exactly `minor_digits` places (`-12.50`).
pub fn format_minor_units(minor: i64, minor_digits: u8) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if minor_digits == 0 {
        return format!("{sign}{abs}");
    }
    let scale = 10u64.pow(u32::from(minor_digits));
    let width = usize::from(minor_digits);
    format!("{sign}{}.{:0width$}", abs / scale, abs % scale)
}

impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        MoneyBody::from(*self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let body = MoneyBody::deserialize(deserializer)?;
        let currency = Currency::parse(&body.currency).map_err(serde::de::Error::custom)?;
        Money::parse(&body.amount, currency).map_err(serde::de::Error::custom)
    }
}

/// The wire form of money: `{ "amount": "1234.50", "currency": "USD" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoneyBody {
    pub amount: String,
    pub currency: String,
}

impl From<Money> for MoneyBody {
    fn from(money: Money) -> Self {
        Self { amount: money.amount_string(), currency: money.currency.code().to_owned() }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct MoneyDraft {
    pub amount: Option<String>,
    pub currency: Option<String>,
}

/// Parses `{ amount, currency }` under `field`, reporting on its members.
pub fn parse_money(field: &str, draft: Option<MoneyDraft>, errors: &mut FieldErrors) -> Option<Money> {
    let draft = errors.required(field, draft)?;
    let currency = errors.required(&format!("{field}.currency"), draft.currency);
    let currency = currency.and_then(|c| errors.check(&format!("{field}.currency"), Currency::parse(&c)));
    let amount = errors.required(&format!("{field}.amount"), draft.amount)?;
    errors.check(&format!("{field}.amount"), Money::parse(&amount, currency?))
}

/// `numerator / denominator` rounded half to even (0 for a `denominator`
/// that is not positive): the one rounding of money and of every report
/// rate and median.
pub fn div_half_even(numerator: i128, denominator: i128) -> i128 {
    if denominator <= 0 {
        return 0;
    }
    let (q, r) = (numerator.div_euclid(denominator), numerator.rem_euclid(denominator));
    match (2 * r).cmp(&denominator) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn minor_digits_follow_iso_4217() {
        assert_eq!(Currency::parse("USD").unwrap().minor_digits(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().minor_digits(), 0);
        assert_eq!(Currency::parse("BHD").unwrap().minor_digits(), 3);
        assert!(Currency::parse("usd").is_err());
        assert!(Currency::parse("XXX").is_err());
    }

    #[test]
    fn parses_exact_minor_units() {
        assert_eq!(Money::parse("1234.50", usd()).unwrap().minor_units(), 123_450);
        assert_eq!(Money::parse("1234", usd()).unwrap().minor_units(), 123_400);
        assert_eq!(Money::parse("0.01", usd()).unwrap().minor_units(), 1);
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(Money::parse("500", jpy).unwrap().minor_units(), 500);
        assert_eq!(Money::parse("5.0", jpy), Err(MoneyError::TooManyDecimals(0)));
        let bhd = Currency::parse("BHD").unwrap();
        assert_eq!(Money::parse("1.234", bhd).unwrap().minor_units(), 1234);
    }

    #[test]
    fn rejects_ambiguous_or_out_of_range() {
        for bad in ["", ".5", "5.", "-1", "+1", "1e3", "1,000", " 1", "0x10", "1.2.3"] {
            assert!(Money::parse(bad, usd()).is_err(), "{bad}");
        }
        assert_eq!(Money::parse("0.00", usd()), Err(MoneyError::NotPositive));
        assert_eq!(Money::parse("1.005", usd()), Err(MoneyError::TooManyDecimals(2)));
        assert_eq!(Money::parse("1000000000000", usd()), Err(MoneyError::TooLarge));
        assert!(Money::parse("999999999999.99", usd()).is_ok());
    }

    #[test]
    fn formats_negative_amounts() {
        assert_eq!(format_minor_units(-1250, 2), "-12.50");
        assert_eq!(format_minor_units(5, 3), "0.005");
        assert_eq!(format_minor_units(7, 0), "7");
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(minor in 1i64..1_000_000_000_000, digits in 0u8..=3) {
            let text = format_minor_units(minor, digits);
            prop_assert_eq!(parse_minor_units(&text, digits), Ok(minor));
        }

        #[test]
        fn parse_never_panics(input in "\\PC{0,40}") {
            let _ = Money::parse(&input, usd());
        }
    }
}
