//! App mode's decisions channel (SPEC §17): a pending registration is posted
//! with Approve and Reject buttons, and every later change edits that one
//! message, so the channel never offers a decision that can no longer be
//! made. Each post and edit goes through the notifier's delivery claims, so
//! a redelivered event posts once.

use async_trait::async_trait;
use partnerops_aws::notify::{SendError, Transport};
use partnerops_aws::slack::SlackApp;
use partnerops_aws::store::{Partners, Registrations, SlackMessages, Users};
use partnerops_domain::event::{DomainEvent, EventPayload};
use partnerops_domain::id::{RegistrationId, UserId};
use partnerops_domain::notify::{Channel, Notification};
use partnerops_domain::registration::{Registration, RegistrationStatus};
use partnerops_domain::slack::{Decider, decision_request, decision_state};
use std::sync::Arc;

/// What the decision messages read and keep.
pub trait DecisionStore: Registrations + Partners + Users + SlackMessages {}

impl<T: Registrations + Partners + Users + SlackMessages + ?Sized> DecisionStore for T {}

pub struct DecisionMessages {
    pub app: Arc<dyn SlackApp>,
    pub channel: String,
    pub store: Arc<dyn DecisionStore>,
}

/// The delivery an event asks of the decisions channel, if any: the
/// notification to claim (its `to` says which) and the registration.
pub fn planned(event: &DomainEvent) -> Option<(Notification, RegistrationId)> {
    let (to, id) = match &event.payload {
        EventPayload::DealRegistrationSubmitted(s) if s.status == RegistrationStatus::Pending => {
            ("decisions", s.registration_id.clone())
        }
        EventPayload::DealRegistrationDecided(d) => ("decisions#edit", d.registration_id.clone()),
        EventPayload::DealRegistrationWithdrawn(w) => ("decisions#edit", w.registration_id.clone()),
        EventPayload::DealRegistrationExpired(e) => ("decisions#edit", e.registration_id.clone()),
        _ => return None,
    };
    let notification = Notification {
        event_id: event.event_id.to_string(),
        channel: Channel::Slack,
        to: to.to_owned(),
        subject: String::new(),
        text: String::new(),
        html: String::new(),
        slack: serde_json::Value::Null,
    };
    Some((notification, id))
}

fn store_error(e: impl std::fmt::Display) -> SendError {
    SendError::Transient(format!("reading the registration: {e}"))
}

impl DecisionMessages {
    async fn partner_name(&self, registration: &Registration) -> Result<String, SendError> {
        let partner = self.store.partner(&registration.partner_id).await.map_err(store_error)?;
        Ok(partner.map_or_else(|| registration.partner_id.to_string(), |p| p.name))
    }

    /// Who decided, as the message names them: a Slack mention for a user
    /// with a Slack member id, a name otherwise.
    async fn decider(&self, registration: &Registration) -> Result<Option<Decider>, SendError> {
        let Some(by) = &registration.decided_by else { return Ok(None) };
        let Some(user_id) = UserId::parse(by) else { return Ok(Some(Decider::Named(by.clone()))) };
        let user = self.store.user(&user_id).await.map_err(store_error)?;
        Ok(user.map(|u| match u.slack_user_id {
            Some(member) => Decider::Slack(member),
            None => Decider::Named(u.name),
        }))
    }

    /// The message as the registration stands now.
    pub async fn state_payload(&self, registration: &Registration) -> Result<serde_json::Value, SendError> {
        let partner = self.partner_name(registration).await?;
        let decider = self.decider(registration).await?;
        Ok(decision_state(registration, &partner, decider.as_ref()))
    }

    async fn registration(&self, id: &RegistrationId) -> Result<Option<Registration>, SendError> {
        Ok(self.store.registration(id).await.map_err(store_error)?.map(|r| r.registration))
    }

    async fn post(&self, id: &RegistrationId, event: &DomainEvent) -> Result<(), SendError> {
        if self.store.slack_message(id).await.map_err(store_error)?.is_some() {
            return Ok(());
        }
        let Some(registration) = self.registration(id).await? else { return Ok(()) };
        let payload = match (&event.payload, registration.status) {
            (EventPayload::DealRegistrationSubmitted(s), RegistrationStatus::Pending) => {
                decision_request(s, &self.partner_name(&registration).await?)
            }
            // Decided before the post: no buttons to offer.
            _ => self.state_payload(&registration).await?,
        };
        let message = self.app.post_message(&self.channel, &payload).await?;
        self.store.keep_slack_message(id, &message).await.map_err(store_error)?;
        // A decision made while the post was on its way has nothing to edit
        // yet: look again and bring the message up to date.
        if let Some(now) = self.registration(id).await?
            && now.status != registration.status
        {
            self.app.update_message(&message, &self.state_payload(&now).await?).await?;
        }
        Ok(())
    }

    async fn edit(&self, id: &RegistrationId) -> Result<(), SendError> {
        let Some(message) = self.store.slack_message(id).await.map_err(store_error)? else { return Ok(()) };
        let Some(registration) = self.registration(id).await? else { return Ok(()) };
        self.app.update_message(&message, &self.state_payload(&registration).await?).await
    }
}

/// One planned post or edit, sent through the notifier's claims.
pub struct DecisionDelivery {
    pub messages: Arc<DecisionMessages>,
    pub registration: RegistrationId,
    pub event: DomainEvent,
}

#[async_trait]
impl Transport for DecisionDelivery {
    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        if notification.to == "decisions" {
            self.messages.post(&self.registration, &self.event).await
        } else {
            self.messages.edit(&self.registration).await
        }
    }
}
