//! People who sign in to the portal (SPEC §15): users, one-time sign-in
//! links, sessions and the CSRF token tied to a session.
//!
//! Every secret here (link, session) is 256 random bits handed to the person
//! once; only its SHA-256 is stored, so a read of the table grants nothing.
//! The CSRF token is derived from the session secret, which only the cookie
//! holder knows, so it needs no storage of its own and dies with the session.

use crate::Timestamp;
use crate::auth::{KeyHash, Role};
use crate::field::{FieldErrors, bounded_text};
use crate::id::UserId;
use crate::partner::{PartnerId, parse_email};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// How long a sign-in link can be used.
pub const LINK_MINUTES: i64 = 15;
/// Links one address may be sent per sliding hour.
pub const LINKS_PER_HOUR: usize = 5;
/// How long a session lasts after sign-in.
pub const SESSION_HOURS: i64 = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [UserStatus::Active, UserStatus::Disabled].into_iter().find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    /// Lower-cased: addresses are unique case-insensitively.
    pub email: String,
    pub name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<PartnerId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_user_id: Option<String>,
    pub status: UserStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl User {
    pub fn is_active(&self) -> bool {
        self.status == UserStatus::Active
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserDraft {
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: Option<String>,
    pub partner_id: Option<String>,
    pub slack_user_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserPatchDraft {
    pub name: Option<String>,
    pub role: Option<String>,
    pub status: Option<String>,
    /// `null` clears it; absent keeps it.
    #[serde(default, deserialize_with = "present")]
    pub slack_user_id: Option<Option<String>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

const ROLE_RULE: &str = "must be partner, channel_manager, finance or admin";

fn user_role(errors: &mut FieldErrors, raw: &str) -> Option<Role> {
    match Role::parse(raw) {
        Some(Role::Crm) | None => {
            errors.push("role", ROLE_RULE);
            None
        }
        Some(role) => Some(role),
    }
}

/// Slack member ids look like `U024BE7LH` (or `W…` on Enterprise Grid).
pub fn parse_slack_user_id(raw: &str) -> Result<String, &'static str> {
    let raw = raw.trim();
    let ok = (2..=32).contains(&raw.len())
        && raw.starts_with(['U', 'W'])
        && raw.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok { Ok(raw.to_owned()) } else { Err("must be a Slack member id such as U024BE7LH") }
}

fn normalised_email(raw: &str) -> Result<String, &'static str> {
    parse_email(raw).map(|e| e.to_lowercase())
}

/// A new user from the admin API. `partner_id` is checked for shape here;
/// that the partner exists is the caller's read.
pub fn new_user(draft: UserDraft, id: UserId, now: Timestamp) -> Result<User, FieldErrors> {
    let mut errors = FieldErrors::new();
    let email = errors.required("email", draft.email).and_then(|e| errors.check("email", normalised_email(&e)));
    let name = errors.required("name", draft.name).and_then(|n| errors.check("name", bounded_text(&n, 1, 200)));
    let role = errors.required("role", draft.role).and_then(|r| user_role(&mut errors, &r));
    let partner_id = match (role, draft.partner_id) {
        (Some(Role::Partner), None) => {
            errors.push("partner_id", "is required for a partner user");
            None
        }
        (Some(Role::Partner), Some(raw)) => errors.check("partner_id", PartnerId::parse(&raw)),
        (Some(_), Some(_)) => {
            errors.push("partner_id", "is only allowed for a partner user");
            None
        }
        _ => None,
    };
    let slack_user_id = draft.slack_user_id.and_then(|s| errors.check("slack_user_id", parse_slack_user_id(&s)));
    let (Some(email), Some(name), Some(role), true) = (email, name, role, errors.is_empty()) else {
        return Err(errors);
    };
    Ok(User {
        id,
        email,
        name,
        role,
        partner_id,
        slack_user_id,
        status: UserStatus::Active,
        created_at: now,
        updated_at: now,
    })
}

/// A user after `PATCH`. A partner user stays bound to its partner: making a
/// staff user a partner user would need a partner the patch cannot name.
pub fn patch_user(current: User, draft: UserPatchDraft, now: Timestamp) -> Result<User, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut user = current;
    if let Some(name) = draft.name.and_then(|n| errors.check("name", bounded_text(&n, 1, 200))) {
        user.name = name;
    }
    if let Some(role) = draft.role.and_then(|r| user_role(&mut errors, &r)) {
        match (user.role, role) {
            (Role::Partner, Role::Partner) => {}
            (Role::Partner, _) => errors.push("role", "a partner user keeps the partner role"),
            (_, Role::Partner) => errors.push("role", "a staff user cannot become a partner user"),
            _ => user.role = role,
        }
    }
    if let Some(raw) = draft.status {
        match UserStatus::parse(&raw) {
            Some(status) => user.status = status,
            None => errors.push("status", "must be active or disabled"),
        }
    }
    match draft.slack_user_id {
        Some(Some(raw)) => {
            if let Some(id) = errors.check("slack_user_id", parse_slack_user_id(&raw)) {
                user.slack_user_id = Some(id);
            }
        }
        Some(None) => user.slack_user_id = None,
        None => {}
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    user.updated_at = now;
    Ok(user)
}

/// A secret handed to a person once (a link or a session cookie).
pub struct Secret {
    pub plaintext: String,
    pub hash: KeyHash,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret").field("hash", &self.hash).finish()
    }
}

impl Secret {
    pub fn generate(random: [u8; 32]) -> Self {
        let plaintext = URL_SAFE_NO_PAD.encode(random);
        Self { hash: KeyHash::of(&plaintext), plaintext }
    }

    /// The hash to look up for a presented secret; `None` for anything that
    /// is not the shape `generate` makes, so junk never reaches the store.
    pub fn presented(raw: &str) -> Option<KeyHash> {
        let ok = raw.len() == 43 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| KeyHash::of(raw))
    }
}

/// A one-time sign-in link, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInLink {
    pub hash: KeyHash,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_at: Option<Timestamp>,
}

impl SignInLink {
    pub fn new(hash: KeyHash, user_id: UserId, now: Timestamp) -> Self {
        Self { hash, user_id, created_at: now, expires_at: now.plus(Duration::minutes(LINK_MINUTES)), used_at: None }
    }

    pub fn usable(&self, now: Timestamp) -> bool {
        self.used_at.is_none() && now < self.expires_at
    }
}

/// Whether one more send fits a sliding-window limit, and the window's sends
/// afterwards. `sent` holds earlier send times (any order, possibly stale).
pub fn admit(sent: &[Timestamp], limit: usize, window: Duration, now: Timestamp) -> Option<Vec<Timestamp>> {
    let since = now.minus(window);
    let mut recent: Vec<Timestamp> = sent.iter().copied().filter(|t| *t > since && *t <= now).collect();
    if recent.len() >= limit {
        return None;
    }
    recent.push(now);
    recent.sort();
    Some(recent)
}

/// A signed-in session, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub hash: KeyHash,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Session {
    pub fn new(hash: KeyHash, user_id: UserId, now: Timestamp) -> Self {
        Self { hash, user_id, created_at: now, expires_at: now.plus(Duration::hours(SESSION_HOURS)) }
    }

    pub fn live(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

/// The CSRF token of a session: a one-way function of the session secret.
pub fn csrf_token(session_secret: &str) -> String {
    let digest = Sha256::new().chain_update(b"partnerops csrf\0").chain_update(session_secret.as_bytes()).finalize();
    URL_SAFE_NO_PAD.encode(digest)
}

pub fn csrf_matches(session_secret: &str, presented: &str) -> bool {
    bool::from(csrf_token(session_secret).as_bytes().ct_eq(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Entropy;
    use proptest::prelude::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    fn id() -> UserId {
        UserId::generate(at("2026-01-01T00:00:00Z"), Entropy(7))
    }

    fn draft(role: &str, partner: Option<&str>) -> UserDraft {
        UserDraft {
            email: Some("Ada@Example.COM".into()),
            name: Some("Ada".into()),
            role: Some(role.into()),
            partner_id: partner.map(Into::into),
            slack_user_id: None,
        }
    }

    #[test]
    fn a_user_email_is_lower_cased_and_a_partner_user_needs_its_partner() {
        let now = at("2026-01-01T00:00:00Z");
        let user = new_user(draft("partner", Some("acme")), id(), now).unwrap();
        assert_eq!(user.email, "ada@example.com");
        assert_eq!(user.partner_id.unwrap().as_str(), "acme");
        let errors = new_user(draft("partner", None), id(), now).unwrap_err();
        assert_eq!(errors.as_slice()[0].field, "partner_id");
        let errors = new_user(draft("finance", Some("acme")), id(), now).unwrap_err();
        assert_eq!(errors.as_slice()[0].field, "partner_id");
        let errors = new_user(draft("crm", None), id(), now).unwrap_err();
        assert_eq!(errors.as_slice()[0].field, "role");
    }

    #[test]
    fn a_patch_keeps_partner_users_partners_and_checks_every_field() {
        let now = at("2026-01-01T00:00:00Z");
        let staff = new_user(draft("channel_manager", None), id(), now).unwrap();
        let patched = patch_user(
            staff.clone(),
            UserPatchDraft {
                role: Some("admin".into()),
                status: Some("disabled".into()),
                slack_user_id: Some(Some("U024BE7LH".into())),
                ..Default::default()
            },
            at("2026-01-02T00:00:00Z"),
        )
        .unwrap();
        assert_eq!((patched.role, patched.status), (Role::Admin, UserStatus::Disabled));
        assert_eq!(patched.slack_user_id.as_deref(), Some("U024BE7LH"));
        let cleared =
            patch_user(patched, UserPatchDraft { slack_user_id: Some(None), ..Default::default() }, now).unwrap();
        assert_eq!(cleared.slack_user_id, None);
        let err = patch_user(staff, UserPatchDraft { role: Some("partner".into()), ..Default::default() }, now);
        assert!(err.is_err());
        let partner = new_user(draft("partner", Some("acme")), id(), now).unwrap();
        let err = patch_user(
            partner,
            UserPatchDraft { role: Some("admin".into()), status: Some("gone".into()), ..Default::default() },
            now,
        )
        .unwrap_err();
        let fields: Vec<_> = err.as_slice().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["role", "status"]);
    }

    #[test]
    fn a_link_lasts_fifteen_minutes_and_once() {
        let now = at("2026-01-01T00:00:00Z");
        let secret = Secret::generate([9; 32]);
        let mut link = SignInLink::new(secret.hash.clone(), id(), now);
        assert!(link.usable(now.plus(Duration::seconds(899))));
        assert!(!link.usable(now.plus(Duration::seconds(900))));
        link.used_at = Some(now);
        assert!(!link.usable(now));
        assert_eq!(Secret::presented(&secret.plaintext), Some(secret.hash));
        assert_eq!(Secret::presented("short"), None);
        assert_eq!(Secret::presented(&"a".repeat(42).replace('a', "ä")), None);
    }

    #[test]
    fn the_sliding_hour_admits_five_and_forgets_old_sends() {
        let start = at("2026-01-01T10:00:00Z");
        let hour = Duration::hours(1);
        let mut sent = Vec::new();
        for minute in 0..5 {
            sent = admit(&sent, LINKS_PER_HOUR, hour, start.plus(Duration::minutes(minute))).unwrap();
        }
        assert_eq!(admit(&sent, LINKS_PER_HOUR, hour, start.plus(Duration::minutes(59))), None);
        let later = admit(&sent, LINKS_PER_HOUR, hour, start.plus(Duration::minutes(60))).unwrap();
        assert_eq!(later.len(), 5, "the first send left the window");
    }

    #[test]
    fn a_session_lasts_twelve_hours() {
        let now = at("2026-01-01T00:00:00Z");
        let session = Session::new(Secret::generate([1; 32]).hash, id(), now);
        assert!(session.live(now.plus(Duration::hours(12) - Duration::seconds(1))));
        assert!(!session.live(now.plus(Duration::hours(12))));
    }

    proptest! {
        #[test]
        fn csrf_accepts_only_its_own_session(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
            let sa = Secret::generate(a).plaintext;
            let sb = Secret::generate(b).plaintext;
            prop_assert!(csrf_matches(&sa, &csrf_token(&sa)));
            prop_assert_eq!(csrf_matches(&sa, &csrf_token(&sb)), a == b);
            prop_assert!(!csrf_matches(&sa, ""));
        }

        #[test]
        fn admit_never_holds_more_than_the_limit(offsets in proptest::collection::vec(0i64..7200, 0..40)) {
            let start = at("2026-01-01T00:00:00Z");
            let mut sent: Vec<Timestamp> = Vec::new();
            let mut times: Vec<i64> = offsets;
            times.sort();
            for t in times {
                if let Some(next) = admit(&sent, 5, Duration::hours(1), start.plus(Duration::seconds(t))) {
                    prop_assert!(next.len() <= 5);
                    sent = next;
                }
            }
        }
    }
}
