//! Field-level validation errors, reported all at once with dotted paths.

use serde::Serialize;

/// One rule violation on one input field (`contact.email`, `domains[3]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Collects every violation of a request so the caller hears about all of
/// them in one response rather than one per round trip.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Records the error of `result` under `field` and returns its value, if any.
    pub fn check<T, E: std::fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(field, error.to_string());
                None
            }
        }
    }

    /// Records "is required" when `value` is absent.
    pub fn required<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.push(field, "is required");
        }
        value
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    pub fn as_slice(&self) -> &[FieldError] {
        &self.0
    }

    /// `Ok(value)` when nothing was recorded, else every recorded error.
    pub fn finish<T>(self, value: Option<T>) -> Result<T, FieldErrors> {
        match value {
            Some(value) if self.is_empty() => Ok(value),
            _ if self.is_empty() => Err(FieldErrors(vec![FieldError::new("", "is invalid")])),
            _ => Err(self),
        }
    }
}

impl From<Vec<FieldError>> for FieldErrors {
    fn from(errors: Vec<FieldError>) -> Self {
        Self(errors)
    }
}

/// Invisible format characters (Unicode category Cf: zero-width spaces and
/// joiners, bidi controls, the BOM): text made only of these and whitespace
/// shows as nothing, so it counts as blank.
pub fn is_invisible(c: char) -> bool {
    use icu_properties::CodePointMapData;
    use icu_properties::props::GeneralCategory;
    c.is_whitespace() || CodePointMapData::<GeneralCategory>::new().get(c) == GeneralCategory::Format
}

/// Blank: nothing but whitespace and invisible format characters.
pub fn is_blank(value: &str) -> bool {
    value.chars().all(is_invisible)
}

/// Checks a free-text field: not blank, within `max` characters.
pub fn bounded_text(value: &str, min: usize, max: usize) -> Result<String, String> {
    if value.is_ascii() { bounded_ascii(value, min, max) } else { bounded_chars(value, min, max) }
}

/// [`bounded_chars`] for plain ASCII, the common case, byte by byte: no
/// ASCII character is a format character, so blank means whitespace only.
fn bounded_ascii(value: &str, min: usize, max: usize) -> Result<String, String> {
    if min > 0 && value.bytes().all(|b| char::from(b).is_whitespace()) {
        return Err("must not be blank".to_owned());
    }
    if value.len() < min || value.len() > max {
        return Err(format!("must be {min}-{max} characters"));
    }
    if value.bytes().any(|b| b.is_ascii_control() && !matches!(b, b'\n' | b'\r' | b'\t')) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(value.to_owned())
}

fn bounded_chars(value: &str, min: usize, max: usize) -> Result<String, String> {
    let count = value.chars().count();
    if min > 0 && is_blank(value) {
        return Err("must not be blank".to_owned());
    }
    if count < min || count > max {
        return Err(format!("must be {min}-{max} characters"));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err("must not contain control characters".to_owned());
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn ascii_text_is_judged_as_any_text_is(value in "[\\x00-\\x7f]{0,12}", min in 0usize..3, max in 0usize..12) {
            proptest::prop_assert_eq!(bounded_ascii(&value, min, max), bounded_chars(&value, min, max));
        }
    }

    #[test]
    fn invisible_text_is_blank() {
        for blank in ["", "   ", "\u{200b}", "\u{202e}", " \u{200d}\u{feff}\u{2066} ", "\t\n"] {
            assert!(is_blank(blank), "{blank:?}");
            assert_eq!(bounded_text(blank, 1, 200), Err("must not be blank".to_owned()), "{blank:?}");
        }
        assert!(!is_blank("Acme\u{200b}"));
        assert_eq!(bounded_text("Acme", 1, 200), Ok("Acme".to_owned()));
    }
}
