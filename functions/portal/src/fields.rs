//! The referral and registration forms' fields, filled in again from what
//! was sent.

use crate::forms::FormData;
use crate::view::Field;

const MOTIONS: &[(&str, &str)] = &[("referral", "Referral"), ("co_sell", "Co-sell")];

const REGISTRATION_MOTIONS: &[(&str, &str)] = &[("resell", "Resell"), ("co_sell", "Co-sell"), ("referral", "Referral")];

/// The referral form's fields (shared with the hosted form), filled from
/// `form` when it is shown again.
pub fn referral_fields(form: &FormData) -> Vec<Field> {
    let mut fields = vec![
        Field::input("company.name", "Company name", "text").required().autocomplete("organization"),
        Field::input("company.domain", "Company website domain", "text").required().hint("For example example.com"),
        Field::input("contact.name", "Contact name", "text").required(),
        Field::input("contact.email", "Contact email", "email").required(),
        Field::input("contact.title", "Contact job title", "text"),
        Field::input("contact.phone", "Contact phone", "tel"),
        Field::select("motion", "Motion", MOTIONS),
        Field::textarea("notes", "Notes"),
        Field::input("external_ref", "Your reference", "text").hint("Your own id for this referral, if any"),
        Field::checkbox("consent", "The contact agreed to be referred").required(),
    ];
    for field in &mut fields {
        field.value = form.raw(field.name).to_owned();
    }
    fields
}

pub fn registration_fields(form: &FormData) -> Vec<Field> {
    let mut fields = vec![
        Field::input("customer.name", "Customer name", "text").required(),
        Field::input("customer.domain", "Customer website domain", "text").required().hint("For example example.com"),
        Field::select("motion", "Motion", REGISTRATION_MOTIONS),
        Field::input("estimated_value.amount", "Estimated value", "text")
            .required()
            .hint("A decimal amount, such as 12000.00"),
        Field::input("estimated_value.currency", "Currency", "text").required().hint("ISO 4217 code, such as USD"),
        Field::input("products", "Products", "text").required().hint("Separate products with commas"),
        Field::input("expected_close_date", "Expected close date", "date").required().hint("YYYY-MM-DD"),
        Field::textarea("notes", "Notes"),
    ];
    for field in &mut fields {
        field.value = form.raw(field.name).to_owned();
    }
    if fields[4].value.is_empty() {
        fields[4].value = "USD".into();
    }
    fields
}
