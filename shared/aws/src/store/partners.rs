//! Partners and their certifications.

use crate::store::dynamo::{from_item, s, to_item};
use crate::store::items::{CERT_SK_PREFIX, Keyed, PARTNER_SK, partner_pk};
use crate::{DynamoStore, StoreError};
use async_trait::async_trait;
use partnerops_domain::Timestamp;
use partnerops_domain::partner::{Certification, Partner, PartnerId};
use std::collections::HashMap;

#[async_trait]
pub trait Partners: Send + Sync {
    async fn partner(&self, id: &PartnerId) -> Result<Option<Partner>, StoreError>;

    /// `false` when a partner with that id exists already.
    async fn create_partner(&self, partner: &Partner) -> Result<bool, StoreError>;

    /// Replaces a partner read at `read_at` (its `updated_at`); a concurrent
    /// update in between is a `Conflict`.
    async fn update_partner(&self, partner: &Partner, read_at: Timestamp) -> Result<(), StoreError>;

    async fn certifications(&self, partner: &PartnerId) -> Result<Vec<Certification>, StoreError>;

    /// Records a certification and the partner it updates (read at `read_at`).
    async fn add_certification(
        &self,
        certification: &Certification,
        partner: &Partner,
        read_at: Timestamp,
    ) -> Result<(), StoreError>;
}

#[async_trait]
impl Partners for DynamoStore {
    async fn partner(&self, id: &PartnerId) -> Result<Option<Partner>, StoreError> {
        let item: Option<Keyed<Partner>> = self.get(partner_pk(id), PARTNER_SK).await?;
        Ok(item.map(|i| i.value))
    }

    async fn create_partner(&self, partner: &Partner) -> Result<bool, StoreError> {
        self.put_item(to_item(&Keyed::partner(partner.clone()))?, Some("attribute_not_exists(PK)"), None).await
    }

    async fn update_partner(&self, partner: &Partner, read_at: Timestamp) -> Result<(), StoreError> {
        let item = to_item(&Keyed::partner(partner.clone()))?;
        let values = HashMap::from([(":read_at".to_owned(), s(read_at.to_rfc3339()))]);
        match self.put_item(item, Some("updated_at = :read_at"), Some(values)).await? {
            true => Ok(()),
            false => Err(StoreError::Conflict("the partner")),
        }
    }

    async fn certifications(&self, partner: &PartnerId) -> Result<Vec<Certification>, StoreError> {
        let items = self.query_prefix(partner_pk(partner), CERT_SK_PREFIX).await?;
        items.into_iter().map(|i| from_item::<Keyed<Certification>>(i).map(|c| c.value)).collect()
    }

    async fn add_certification(
        &self,
        certification: &Certification,
        partner: &Partner,
        read_at: Timestamp,
    ) -> Result<(), StoreError> {
        let items = vec![
            self.put(to_item(&Keyed::certification(certification.clone()))?, None)?,
            self.put_with_values(
                to_item(&Keyed::partner(partner.clone()))?,
                "updated_at = :read_at",
                HashMap::from([(":read_at".to_owned(), s(read_at.to_rfc3339()))]),
            )?,
        ];
        self.transact(items, &["the certification", "the partner"]).await
    }
}

/// The in-memory twin's partners and their certifications.
#[derive(Default, Clone)]
pub(super) struct PartnerState {
    pub(super) records: HashMap<PartnerId, Partner>,
    pub(super) certifications: HashMap<PartnerId, Vec<Certification>>,
}
