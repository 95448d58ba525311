//! The stack's API keys: the admin key it prints, and with `seed_demo` a
//! demo partner with one key per role.

use anyhow::Context as _;
use partnerops_aws::store::{ApiKeyRecord, ApiKeys, Partners};
use partnerops_domain::Timestamp;
use partnerops_domain::auth::{NewApiKey, Role};
use partnerops_domain::partner::{PartnerDraft, PartnerId, new_partner};

pub fn rand_secret() -> [u8; 32] {
    rand::random()
}

pub async fn register_key(
    store: &dyn ApiKeys,
    key: &NewApiKey,
    role: Role,
    partner_id: Option<PartnerId>,
    label: &str,
    now: Timestamp,
) -> anyhow::Result<()> {
    let record = ApiKeyRecord {
        key_id: key.key_id.clone(),
        hash: key.hash.clone(),
        role,
        partner_id,
        label: label.into(),
        created_at: now,
        revoked_at: None,
    };
    store.put_api_key(&record).await.context("registering an API key")
}

/// What seeding reads and writes.
pub trait SeedStore: ApiKeys + Partners {}

impl<T: ApiKeys + Partners + ?Sized> SeedStore for T {}

/// A demo partner and one key per role: `(label, key)` to print.
pub async fn seed_demo(store: &dyn SeedStore, now: Timestamp) -> anyhow::Result<Vec<(Role, String)>> {
    let draft = PartnerDraft {
        id: Some("demo-partner".into()),
        name: Some("Demo Partner".into()),
        tier: Some("gold".into()),
        motions: Some(vec!["referral".into(), "co_sell".into(), "resell".into()]),
        manager: None,
        contact_email: Some("partner@example.com".into()),
    };
    let partner = new_partner(draft, now).map_err(|e| anyhow::anyhow!("demo partner: {e:?}"))?;
    store.create_partner(&partner).await?;
    let mut keys = Vec::new();
    for role in [Role::Partner, Role::ChannelManager, Role::Crm, Role::Finance] {
        let key = NewApiKey::generate(rand_secret());
        let partner_id = (role == Role::Partner).then(|| partner.id.clone());
        register_key(store, &key, role, partner_id, "dev stack demo", now).await?;
        keys.push((role, key.plaintext));
    }
    Ok(keys)
}
