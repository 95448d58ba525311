//! The prospect key: a company's registrable domain (eTLD+1), the unit that
//! referrals, registrations and existing customers are matched on.

use crate::field::{FieldErrors, bounded_text};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Consumer mailbox providers: a company cannot be identified by them.
const FREE_MAIL_DOMAINS: &[&str] = &[
    "aol.com",
    "gmail.com",
    "googlemail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "hey.com",
    "hotmail.co.uk",
    "hotmail.com",
    "hotmail.fr",
    "icloud.com",
    "live.com",
    "mac.com",
    "mail.com",
    "mail.ru",
    "me.com",
    "msn.com",
    "outlook.com",
    "pm.me",
    "proton.me",
    "protonmail.com",
    "qq.com",
    "rediffmail.com",
    "tutanota.com",
    "web.de",
    "yahoo.co.jp",
    "yahoo.co.uk",
    "yahoo.com",
    "yahoo.fr",
    "yandex.com",
    "yandex.ru",
    "zoho.com",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProspectKeyError {
    #[error("must be a valid host name such as acme.com")]
    InvalidHost,
    #[error("must be a company domain with a registrable name, not a public suffix")]
    NoRegistrableDomain,
    #[error("is a free-mail provider; give the company's own domain")]
    FreeMail,
    #[error("must not contain a user name or password")]
    Credentials,
    #[error("must be a web address (http or https), or just the domain")]
    NotWeb,
    #[error("has a port that is not a number from 0 to 65535")]
    BadPort,
}

/// A lower-case, punycode, registrable domain such as `acme.co.uk`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProspectKey(String);

impl ProspectKey {
    /// Normalises what a person typed for a company's web domain: scheme,
    /// credentials, `www.`, port, path, query and trailing dot are dropped,
    /// internationalised names become punycode, and the result is reduced to
    /// its registrable domain with the public suffix list.
    pub fn from_domain_input(input: &str) -> Result<Self, ProspectKeyError> {
        let host = host_of(input)?;
        let host = host.strip_suffix('.').unwrap_or(&host);
        let ascii = idna::domain_to_ascii_strict(host).map_err(|_| ProspectKeyError::InvalidHost)?;
        let ascii = ascii.as_str();
        if !is_host_name(ascii) {
            return Err(ProspectKeyError::InvalidHost);
        }
        let domain = psl::domain(ascii.as_bytes()).ok_or(ProspectKeyError::NoRegistrableDomain)?;
        if !domain.suffix().is_known() {
            return Err(ProspectKeyError::NoRegistrableDomain);
        }
        let registrable = std::str::from_utf8(domain.as_bytes()).map_err(|_| ProspectKeyError::InvalidHost)?;
        if FREE_MAIL_DOMAINS.contains(&registrable) {
            return Err(ProspectKeyError::FreeMail);
        }
        Ok(Self(registrable.to_owned()))
    }

    /// Rebuilds a key read back from storage, where it was already normalised.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProspectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The host of what a person typed: a domain, or a web address (parsed as a
/// WHATWG URL, `http://` assumed when no scheme is given), without a single
/// `www.` label. An address with credentials, another scheme or a bad port is
/// refused rather than guessed at: `x.com%2F@evil.com` names `evil.com`.
fn host_of(input: &str) -> Result<String, ProspectKeyError> {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.len() > 253 * 4 {
        return Err(ProspectKeyError::InvalidHost);
    }
    let url =
        if trimmed.contains("://") { url::Url::parse(trimmed) } else { url::Url::parse(&format!("http://{trimmed}")) }
            .map_err(|e| match e {
                url::ParseError::InvalidPort => ProspectKeyError::BadPort,
                _ => ProspectKeyError::InvalidHost,
            })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ProspectKeyError::NotWeb);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ProspectKeyError::Credentials);
    }
    let Some(url::Host::Domain(host)) = url.host() else {
        return Err(ProspectKeyError::InvalidHost);
    };
    let lower_www = host.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("www."));
    let host = if lower_www { host.get(4..).unwrap_or_default() } else { host };
    if host.is_empty() { Err(ProspectKeyError::InvalidHost) } else { Ok(host.to_owned()) }
}

/// RFC 1123 host name of at least two labels, not an IP address.
fn is_host_name(host: &str) -> bool {
    if host.is_empty() || host.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 || labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    labels.iter().all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    }) && labels.last().is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

#[derive(Debug, Default, Deserialize)]
pub struct CompanyDraft {
    pub name: Option<String>,
    pub domain: Option<String>,
}

/// A company as a partner named it, with the prospect key its domain gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Company {
    pub name: String,
    pub domain: String,
}

impl Company {
    /// Parses `{ name, domain }` under `field`, reporting on its members;
    /// the domain yields the prospect key.
    pub fn parse(field: &str, draft: Option<CompanyDraft>, errors: &mut FieldErrors) -> Option<(Company, ProspectKey)> {
        let draft = errors.required(field, draft)?;
        let name = errors.required(&format!("{field}.name"), draft.name);
        let name = name.and_then(|n| errors.check(&format!("{field}.name"), bounded_text(&n, 1, 200)));
        let domain = errors.required(&format!("{field}.domain"), draft.domain);
        let key =
            domain.as_deref().and_then(|d| errors.check(&format!("{field}.domain"), ProspectKey::from_domain_input(d)));
        Some((Company { name: name?, domain: domain?.trim().to_owned() }, key?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(input: &str) -> Result<String, ProspectKeyError> {
        ProspectKey::from_domain_input(input).map(|k| k.0)
    }

    #[test]
    fn reduces_to_the_registrable_domain() {
        assert_eq!(key("acme.com").unwrap(), "acme.com");
        assert_eq!(key("sales.acme.co.uk").unwrap(), "acme.co.uk");
        assert_eq!(key("https://www.Acme.com:8443/pricing?x=1").unwrap(), "acme.com");
        assert_eq!(key("WWW.ACME.COM.").unwrap(), "acme.com");
        assert_eq!(key("http://shop.acme.com.au/").unwrap(), "acme.com.au");
    }

    #[test]
    fn refuses_addresses_that_hide_their_host() {
        assert_eq!(key("x.com%2F@evil.com"), Err(ProspectKeyError::Credentials));
        assert_eq!(key("http://user@shop.acme.com.au/"), Err(ProspectKeyError::Credentials));
        assert_eq!(key("https://user:secret@acme.com"), Err(ProspectKeyError::Credentials));
        assert_eq!(key("acme.com:99999"), Err(ProspectKeyError::BadPort));
        assert_eq!(key("ftp://acme.com"), Err(ProspectKeyError::NotWeb));
        assert_eq!(key("javascript://acme.com"), Err(ProspectKeyError::NotWeb));
        assert_eq!(key("acme.com:8080").unwrap(), "acme.com");
    }

    #[test]
    fn internationalised_names_become_punycode() {
        assert_eq!(key("bücher.de").unwrap(), "xn--bcher-kva.de");
        assert_eq!(key("www.münchen.example.com").unwrap(), "example.com");
    }

    #[test]
    fn rejects_what_is_not_a_company_domain() {
        assert_eq!(key("gmail.com"), Err(ProspectKeyError::FreeMail));
        assert_eq!(key("mail.proton.me"), Err(ProspectKeyError::FreeMail));
        assert_eq!(key("co.uk"), Err(ProspectKeyError::NoRegistrableDomain));
        assert_eq!(key("acme.notarealtld"), Err(ProspectKeyError::NoRegistrableDomain));
        for bad in ["", "acme", "192.168.0.1", "[::1]", "acme..com", "-acme.com", "acme_corp.com", "a b.com"] {
            assert!(key(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_is_idempotent(input in "\\PC{0,80}") {
            if let Ok(k) = ProspectKey::from_domain_input(&input) {
                prop_assert_eq!(ProspectKey::from_domain_input(k.as_str()), Ok(k.clone()));
            }
        }

        #[test]
        fn subdomains_share_the_key(sub in "[a-z][a-z0-9]{0,10}") {
            let base = ProspectKey::from_domain_input("acme.co.uk").unwrap();
            prop_assert_eq!(ProspectKey::from_domain_input(&format!("{sub}.acme.co.uk")), Ok(base));
        }
    }
}
