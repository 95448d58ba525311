//! People who sign in (users, one-time links, sessions), the sliding-window
//! limits on what they may send, and partners' hosted referral-form links.
//!
//! Links, sessions and form links are stored under the hash of their secret
//! and carry a TTL; expiry is also checked on read, since TTL deletion lags.

use crate::store::dynamo::{Partition, backoff, from_item, key, n, s, to_item, unexpected};
use crate::store::items::{GSI2, partner_pk};
use crate::store::{Page, PageRequest};
use crate::{DynamoStore, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::Duration;
use partnerops_domain::Timestamp;
use partnerops_domain::auth::KeyHash;
use partnerops_domain::id::UserId;
use partnerops_domain::partner::PartnerId;
use partnerops_domain::people::{Session, SignInLink, User, admit};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Attempts at a sliding-window update that keeps meeting a concurrent one.
const ADMIT_ATTEMPTS: u32 = 8;

/// The people who sign in: one user per email, found by id, email or
/// Slack member id.
#[async_trait]
pub trait Users: Send + Sync {
    /// `false` when another user has this email (case-insensitively).
    async fn create_user(&self, user: &User) -> Result<bool, StoreError>;

    async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError>;

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;

    /// The user with this Slack member id, if any. Reads the users list
    /// (filtered): a program has tens or hundreds of users, and a click
    /// needs the one.
    async fn user_by_slack_id(&self, member: &str) -> Result<Option<User>, StoreError>;

    /// Every user, newest first.
    async fn users(&self, page: &PageRequest) -> Result<Page<User>, StoreError>;

    /// Replaces a user read at `read_at` (its `updated_at`).
    async fn update_user(&self, user: &User, read_at: Timestamp) -> Result<(), StoreError>;
}

/// Sliding-window limits on how often something may happen (sign-in
/// links per address, hosted-form submissions per link).
#[async_trait]
pub trait RateLimits: Send + Sync {
    /// Records one send under `key` if fewer than `limit` were recorded in
    /// the `window` before `now`; `false` (and nothing recorded) otherwise.
    async fn admit(&self, key: &str, limit: usize, window: Duration, now: Timestamp) -> Result<bool, StoreError>;
}

/// One-time sign-in links and the sessions they open, each stored only as
/// the hash of its secret.
#[async_trait]
pub trait SignIns: Send + Sync {
    async fn put_sign_in_link(&self, link: &SignInLink) -> Result<(), StoreError>;

    /// Marks the link used and returns it, if it exists, is unused and has
    /// not expired at `now`. Of two concurrent calls, exactly one gets it.
    async fn use_sign_in_link(&self, hash: &KeyHash, now: Timestamp) -> Result<Option<SignInLink>, StoreError>;

    async fn put_session(&self, session: &Session) -> Result<(), StoreError>;

    /// The session, if it exists and is live at `now`.
    async fn session(&self, hash: &KeyHash, now: Timestamp) -> Result<Option<Session>, StoreError>;

    async fn end_session(&self, hash: &KeyHash) -> Result<(), StoreError>;
}

/// Each partner's hosted referral-form link, by the hash of its token.
#[async_trait]
pub trait ReferralForms: Send + Sync {
    /// Makes `hash` the partner's one hosted-form link; the previous link
    /// stops resolving in the same write.
    async fn replace_referral_form(&self, partner: &PartnerId, hash: &KeyHash) -> Result<(), StoreError>;

    async fn referral_form(&self, hash: &KeyHash) -> Result<Option<PartnerId>, StoreError>;
}

const USER_SK: &str = "USER";
const EMAIL_SK: &str = "EMAIL";
const LINK_SK: &str = "SIGNIN";
const SESSION_SK: &str = "SESSION";
const RATE_SK: &str = "RATE";
const FORM_SK: &str = "FORM";
const FORM_POINTER_SK: &str = "FORMLINK";
pub(super) const USERS_PARTITION: &str = "USERS";

fn user_pk(id: &UserId) -> String {
    format!("USER#{id}")
}

fn email_pk(email: &str) -> String {
    format!("EMAIL#{}", email.to_lowercase())
}

fn secret_pk(kind: &str, hash: &KeyHash) -> String {
    format!("{kind}#{}", hash.as_str())
}

#[derive(Serialize, Deserialize)]
struct UserItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    #[serde(rename = "GSI2PK")]
    gsi2pk: String,
    #[serde(rename = "GSI2SK")]
    gsi2sk: String,
    entity: String,
    #[serde(flatten)]
    user: User,
}

impl UserItem {
    fn new(user: User) -> Self {
        Self {
            pk: user_pk(&user.id),
            sk: USER_SK.into(),
            gsi2pk: USERS_PARTITION.into(),
            gsi2sk: user.id.to_string(),
            entity: "user".into(),
            user,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct EmailItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    user_id: UserId,
}

#[derive(Serialize, Deserialize)]
struct SecretItem<T> {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    #[serde(flatten)]
    value: T,
    ttl: i64,
}

#[derive(Serialize, Deserialize)]
struct RateItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    sent: Vec<Timestamp>,
    rev: u64,
    ttl: i64,
}

#[derive(Serialize, Deserialize)]
struct FormLink {
    partner_id: PartnerId,
}

#[derive(Serialize, Deserialize)]
struct FormPointer {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    hash: KeyHash,
}

#[async_trait]
impl Users for DynamoStore {
    async fn create_user(&self, user: &User) -> Result<bool, StoreError> {
        let email = EmailItem {
            pk: email_pk(&user.email),
            sk: EMAIL_SK.into(),
            entity: "user_email".into(),
            user_id: user.id.clone(),
        };
        let items = vec![
            self.put(to_item(&email)?, Some("attribute_not_exists(PK)"))?,
            self.put(to_item(&UserItem::new(user.clone()))?, Some("attribute_not_exists(PK)"))?,
        ];
        match self.transact(items, &["the email", "the user"]).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict("the email")) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let item: Option<UserItem> = self.get(user_pk(id), USER_SK).await?;
        Ok(item.map(|i| i.user))
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let Some(item) = self.get::<EmailItem>(email_pk(email), EMAIL_SK).await? else {
            return Ok(None);
        };
        self.user(&item.user_id).await
    }

    async fn user_by_slack_id(&self, member: &str) -> Result<Option<User>, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("GSI2PK = :pk")
            .filter_expression("slack_user_id = :member")
            .expression_attribute_values(":pk", s(USERS_PARTITION))
            .expression_attribute_values(":member", s(member))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(unexpected("Query"))?;
        let mut users =
            items.into_iter().map(|i| from_item::<UserItem>(i).map(|u| u.user)).collect::<Result<Vec<_>, _>>()?;
        // Oldest first: should two users carry the id, the first made decides.
        users.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(users.into_iter().next())
    }

    async fn users(&self, page: &PageRequest) -> Result<Page<User>, StoreError> {
        let (items, next_cursor) = self.list(Partition::All(USERS_PARTITION), None, page).await?;
        let items = items.into_iter().map(|i| from_item::<UserItem>(i).map(|u| u.user)).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn update_user(&self, user: &User, read_at: Timestamp) -> Result<(), StoreError> {
        let item = to_item(&UserItem::new(user.clone()))?;
        let values = HashMap::from([(":read_at".to_owned(), s(read_at.to_rfc3339()))]);
        match self.put_item(item, Some("updated_at = :read_at"), Some(values)).await? {
            true => Ok(()),
            false => Err(StoreError::Conflict("the user")),
        }
    }
}

#[async_trait]
impl RateLimits for DynamoStore {
    async fn admit(&self, key: &str, limit: usize, window: Duration, now: Timestamp) -> Result<bool, StoreError> {
        let pk = format!("RATE#{key}");
        for attempt in 0..ADMIT_ATTEMPTS {
            let current: Option<RateItem> = self.get(pk.clone(), RATE_SK).await?;
            let (sent, rev) = current.map(|c| (c.sent, c.rev)).unwrap_or_default();
            let Some(sent) = admit(&sent, limit, window, now) else {
                return Ok(false);
            };
            let item = RateItem {
                pk: pk.clone(),
                sk: RATE_SK.into(),
                entity: "rate_window".into(),
                sent,
                rev: rev + 1,
                ttl: now.plus(window).unix_seconds(),
            };
            let written = match rev {
                0 => self.put_item(to_item(&item)?, Some("attribute_not_exists(PK)"), None).await?,
                rev => {
                    let values = HashMap::from([(":rev".to_owned(), n(rev))]);
                    self.put_item(to_item(&item)?, Some("rev = :rev"), Some(values)).await?
                }
            };
            if written {
                return Ok(true);
            }
            backoff(attempt).await;
        }
        Err(StoreError::Conflict("the rate window"))
    }
}

#[async_trait]
impl SignIns for DynamoStore {
    async fn put_sign_in_link(&self, link: &SignInLink) -> Result<(), StoreError> {
        let item = SecretItem {
            pk: secret_pk(LINK_SK, &link.hash),
            sk: LINK_SK.into(),
            entity: "sign_in_link".into(),
            value: link.clone(),
            ttl: link.expires_at.unix_seconds(),
        };
        match self.put_item(to_item(&item)?, Some("attribute_not_exists(PK)"), None).await? {
            true => Ok(()),
            false => Err(StoreError::Conflict("the sign-in link")),
        }
    }

    async fn use_sign_in_link(&self, hash: &KeyHash, now: Timestamp) -> Result<Option<SignInLink>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(secret_pk(LINK_SK, hash), LINK_SK)))
            .update_expression("SET used_at = :now")
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(used_at) AND expires_at > :now")
            .expression_attribute_values(":now", s(now.to_rfc3339()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.ok_or_else(|| StoreError::Unexpected(anyhow::anyhow!("no attributes")))?;
                Ok(Some(from_item::<SecretItem<SignInLink>>(item)?.value))
            }
            Err(e) if matches!(e.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => {
                Ok(None)
            }
            Err(e) => Err(unexpected("UpdateItem")(e)),
        }
    }

    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        let item = SecretItem {
            pk: secret_pk(SESSION_SK, &session.hash),
            sk: SESSION_SK.into(),
            entity: "session".into(),
            value: session.clone(),
            ttl: session.expires_at.unix_seconds(),
        };
        match self.put_item(to_item(&item)?, Some("attribute_not_exists(PK)"), None).await? {
            true => Ok(()),
            false => Err(StoreError::Conflict("the session")),
        }
    }

    async fn session(&self, hash: &KeyHash, now: Timestamp) -> Result<Option<Session>, StoreError> {
        let item: Option<SecretItem<Session>> = self.get(secret_pk(SESSION_SK, hash), SESSION_SK).await?;
        Ok(item.map(|i| i.value).filter(|s| s.live(now)))
    }

    async fn end_session(&self, hash: &KeyHash) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(secret_pk(SESSION_SK, hash), SESSION_SK)))
            .send()
            .await
            .map_err(unexpected("DeleteItem"))?;
        Ok(())
    }
}

#[async_trait]
impl ReferralForms for DynamoStore {
    async fn replace_referral_form(&self, partner: &PartnerId, hash: &KeyHash) -> Result<(), StoreError> {
        let pointer_pk = partner_pk(partner);
        let previous: Option<FormPointer> = self.get(pointer_pk.clone(), FORM_POINTER_SK).await?;
        let link = SecretItem {
            pk: secret_pk(FORM_SK, hash),
            sk: FORM_SK.into(),
            entity: "referral_form".into(),
            value: FormLink { partner_id: partner.clone() },
            ttl: i64::MAX / 2,
        };
        let pointer = FormPointer {
            pk: pointer_pk,
            sk: FORM_POINTER_SK.into(),
            entity: "referral_form_pointer".into(),
            hash: hash.clone(),
        };
        let mut items = vec![self.put(to_item(&link)?, Some("attribute_not_exists(PK)"))?];
        let mut names = vec!["the form link"];
        match &previous {
            Some(old) => {
                let values = HashMap::from([(":old".to_owned(), s(old.hash.as_str()))]);
                items.push(self.put_named(to_item(&pointer)?, "#hash = :old", vec![("#hash", "hash")], values)?);
                let delete = aws_sdk_dynamodb::types::Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(secret_pk(FORM_SK, &old.hash), FORM_SK)))
                    .build()
                    .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("building Delete: {e}")))?;
                items.push(aws_sdk_dynamodb::types::TransactWriteItem::builder().delete(delete).build());
                names.extend(["the form pointer", "the old form link"]);
            }
            None => {
                items.push(self.put(to_item(&pointer)?, Some("attribute_not_exists(PK)"))?);
                names.push("the form pointer");
            }
        }
        self.transact(items, &names).await
    }

    async fn referral_form(&self, hash: &KeyHash) -> Result<Option<PartnerId>, StoreError> {
        let item: Option<SecretItem<FormLink>> = self.get(secret_pk(FORM_SK, hash), FORM_SK).await?;
        Ok(item.map(|i| i.value.partner_id))
    }
}

/// The in-memory twin's share of the state.
#[derive(Default, Clone)]
pub(super) struct PeopleState {
    pub(super) users: BTreeMap<UserId, User>,
    pub(super) emails: HashMap<String, UserId>,
    pub(super) links: HashMap<String, SignInLink>,
    pub(super) sessions: HashMap<String, Session>,
    pub(super) rates: HashMap<String, Vec<Timestamp>>,
    pub(super) forms: HashMap<String, PartnerId>,
    pub(super) form_of: HashMap<PartnerId, String>,
}
