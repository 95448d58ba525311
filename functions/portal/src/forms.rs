//! Form posts (`application/x-www-form-urlencoded`, field names are the
//! JSON paths) turned into the same drafts the JSON API decodes, so a form
//! goes through exactly the API's rules and gets its messages.

use axum::http::{HeaderMap, header};
use partnerops_domain::field::FieldErrors;
use partnerops_domain::money::MoneyDraft;
use partnerops_domain::prospect::CompanyDraft;
use partnerops_domain::referral::{ContactDraft, ReferralDraft, SubmitterDraft};
use partnerops_domain::registration::{DecisionDraft, RegistrationDraft};

/// A decoded form: every pair in order, names repeated as sent.
#[derive(Debug, Default, Clone)]
pub struct FormData(Vec<(String, String)>);

#[derive(Debug, PartialEq, Eq)]
pub enum FormError {
    UnsupportedMediaType,
}

impl FormData {
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, FormError> {
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(FormError::UnsupportedMediaType);
        }
        Ok(Self(form_urlencoded::parse(body).into_owned().collect()))
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    /// The first value sent under `name`, as typed.
    pub fn raw(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    /// The first value under `name`; a blank field counts as not filled in.
    pub fn text(&self, name: &str) -> Option<String> {
        let value = self.raw(name);
        (!value.trim().is_empty()).then(|| value.to_owned())
    }

    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn company(&self, prefix: &str) -> Option<CompanyDraft> {
        Some(CompanyDraft {
            name: self.text(&format!("{prefix}.name")),
            domain: self.text(&format!("{prefix}.domain")),
        })
    }

    pub fn referral(&self) -> ReferralDraft {
        ReferralDraft {
            company: self.company("company"),
            contact: Some(ContactDraft {
                name: self.text("contact.name"),
                email: self.text("contact.email").map(|e| e.trim().to_owned()),
                title: self.text("contact.title"),
                phone: self.text("contact.phone"),
            }),
            motion: self.text("motion"),
            notes: self.text("notes"),
            consent: (self.raw("consent") == "on").then_some(true),
            external_ref: self.text("external_ref"),
        }
    }

    pub fn submitter(&self) -> SubmitterDraft {
        SubmitterDraft { name: self.text("submitter.name"), email: self.text("submitter.email") }
    }

    /// `products` as one field per product, or comma-separated in one.
    pub fn products(&self) -> Option<Vec<String>> {
        let products: Vec<String> = self
            .all("products")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        (!products.is_empty()).then_some(products)
    }

    pub fn registration(&self) -> RegistrationDraft {
        RegistrationDraft {
            customer: self.company("customer"),
            motion: self.text("motion"),
            estimated_value: Some(MoneyDraft {
                amount: self.text("estimated_value.amount").map(|a| a.trim().to_owned()),
                currency: self.text("estimated_value.currency").map(|c| c.trim().to_owned()),
            }),
            products: self.products(),
            expected_close_date: self.text("expected_close_date").map(|d| d.trim().to_owned()),
            notes: self.text("notes"),
        }
    }

    /// The decision form; a `protection_days` that is not a whole number is
    /// reported like the API's type error, beside its field.
    pub fn decision(&self) -> Result<DecisionDraft, FieldErrors> {
        let protection_days = match self.text("protection_days") {
            None => None,
            Some(raw) => match raw.trim().parse::<i64>() {
                Ok(days) => Some(days),
                Err(_) => {
                    let mut errors = FieldErrors::new();
                    errors.push("protection_days", "must be a whole number of days");
                    return Err(errors);
                }
            },
        };
        Ok(DecisionDraft { decision: self.text("decision"), reason: self.text("reason"), protection_days })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn form(pairs: &[(&str, &str)]) -> FormData {
        FormData::from_pairs(pairs)
    }

    #[test]
    fn only_urlencoded_bodies_are_forms() {
        let mut headers = HeaderMap::new();
        assert_eq!(FormData::parse(&headers, b"a=b").unwrap_err(), FormError::UnsupportedMediaType);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert!(FormData::parse(&headers, b"{}").is_err());
        headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"));
        let data = FormData::parse(&headers, b"company.name=A%26B+%3Cco%3E&consent=on").unwrap();
        assert_eq!(data.raw("company.name"), "A&B <co>");
    }

    #[test]
    fn blank_fields_are_missing_and_consent_is_a_checkbox() {
        let draft =
            form(&[("company.name", "  "), ("contact.email", " ada@example.com "), ("consent", "on")]).referral();
        let company = draft.company.unwrap();
        assert_eq!(company.name, None);
        assert_eq!(draft.contact.unwrap().email.as_deref(), Some("ada@example.com"));
        assert_eq!(draft.consent, Some(true));
        assert_eq!(form(&[]).referral().consent, None);
    }

    #[test]
    fn products_come_one_per_field_or_comma_separated() {
        let data = form(&[("products", "Core, Analytics"), ("products", "Edge"), ("products", " ")]);
        assert_eq!(data.products().unwrap(), ["Core", "Analytics", "Edge"]);
        assert_eq!(form(&[("products", "")]).products(), None);
    }

    #[test]
    fn a_decision_needs_whole_protection_days() {
        let err = form(&[("decision", "approved"), ("protection_days", "ten")]).decision().unwrap_err();
        assert_eq!(err.as_slice()[0].field, "protection_days");
        let ok = form(&[("decision", "approved"), ("protection_days", " 30 ")]).decision().unwrap();
        assert_eq!(ok.protection_days, Some(30));
    }
}
