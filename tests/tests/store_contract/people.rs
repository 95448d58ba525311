//! Users, sign-in links, sessions, rate limits and hosted-form links.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use partnerops_aws::Clock;
use partnerops_aws::store::PageRequest;
use partnerops_domain::id::Entropy;
use partnerops_domain::partner::PartnerId;
use serde_json::json;

#[tokio::test]
async fn people_links_sessions_limits_and_form_links_agree() {
    use partnerops_domain::id::UserId;
    use partnerops_domain::people::{Secret, Session, SignInLink, UserDraft, UserPatchDraft, new_user, patch_user};
    let observed = on_both(|t| async move {
        let now = t.clock.now();
        let draft = |email: &str, role: &str| UserDraft {
            email: Some(email.into()),
            name: Some("Ada".into()),
            role: Some(role.into()),
            partner_id: None,
            slack_user_id: None,
        };
        let mut made = Vec::new();
        for (n, email) in ["a@example.com", "b@example.com", "c@example.com"].iter().enumerate() {
            let at = now.plus(chrono::Duration::milliseconds(n as i64));
            let user = new_user(draft(email, "finance"), UserId::generate(at, Entropy(n as u128)), at).unwrap();
            assert!(t.store.create_user(&user).await.unwrap());
            made.push(user);
        }
        let clash = new_user(draft("A@Example.com", "admin"), UserId::generate(now, Entropy(99)), now).unwrap();
        let duplicate_email = t.store.create_user(&clash).await.unwrap();
        let by_email = t.store.user_by_email("A@EXAMPLE.COM").await.unwrap().map(|u| u.id == made[0].id);
        let mut member = made[2].clone();
        member.slack_user_id = Some("UCM0001".into());
        let read_at = member.updated_at;
        member.updated_at = read_at.plus(chrono::Duration::milliseconds(5));
        t.store.update_user(&member, read_at).await.unwrap();
        let by_slack = t.store.user_by_slack_id("UCM0001").await.unwrap().map(|u| u.id == made[2].id);
        let nobody = t.store.user_by_slack_id("UNOBODY1").await.unwrap().is_none();
        let registration = partnerops_domain::id::RegistrationId::generate(now, Entropy(3));
        let message = partnerops_domain::slack::MessageRef { channel: "C1".into(), ts: "1.1".into() };
        let later = partnerops_domain::slack::MessageRef { channel: "C1".into(), ts: "2.2".into() };
        let kept = [
            t.store.keep_slack_message(&registration, &message).await.unwrap(),
            t.store.keep_slack_message(&registration, &later).await.unwrap(),
        ];
        let stays = t.store.slack_message(&registration).await.unwrap().map(|m| m.ts);
        let first = t.store.users(&PageRequest { limit: 2, cursor: None }).await.unwrap();
        let rest = t.store.users(&PageRequest { limit: 2, cursor: first.next_cursor.clone() }).await.unwrap();
        let disabled = patch_user(
            made[1].clone(),
            UserPatchDraft { status: Some("disabled".into()), ..Default::default() },
            now.plus(chrono::Duration::seconds(1)),
        )
        .unwrap();
        let stale = t.store.update_user(&disabled, now.plus(chrono::Duration::seconds(-5))).await;
        let fresh = t.store.update_user(&disabled, made[1].updated_at).await;

        let secret = Secret::generate([7; 32]);
        t.store.put_sign_in_link(&SignInLink::new(secret.hash.clone(), made[0].id.clone(), now)).await.unwrap();
        let (one, two) =
            futures::join!(t.store.use_sign_in_link(&secret.hash, now), t.store.use_sign_in_link(&secret.hash, now));
        let concurrent = [one.unwrap().is_some(), two.unwrap().is_some()];
        let late = Secret::generate([8; 32]);
        t.store.put_sign_in_link(&SignInLink::new(late.hash.clone(), made[0].id.clone(), now)).await.unwrap();
        let expired = t.store.use_sign_in_link(&late.hash, now.plus(chrono::Duration::minutes(15))).await.unwrap();
        let unknown = t.store.use_sign_in_link(&Secret::generate([9; 32]).hash, now).await.unwrap();

        let session = Session::new(Secret::generate([3; 32]).hash, made[0].id.clone(), now);
        t.store.put_session(&session).await.unwrap();
        let live = t.store.session(&session.hash, now.plus(chrono::Duration::hours(11))).await.unwrap().is_some();
        let over = t.store.session(&session.hash, now.plus(chrono::Duration::hours(12))).await.unwrap().is_some();
        t.store.end_session(&session.hash).await.unwrap();
        let ended = t.store.session(&session.hash, now).await.unwrap().is_some();

        let mut admitted = Vec::new();
        for minute in [0, 10, 20, 59, 61] {
            let at = now.plus(chrono::Duration::minutes(minute));
            admitted.push(t.store.admit("signin#a@example.com", 3, chrono::Duration::hours(1), at).await.unwrap());
        }

        let partner = PartnerId::parse("alpha").unwrap();
        t.partner("alpha").await;
        let old = Secret::generate([4; 32]);
        let new = Secret::generate([5; 32]);
        t.store.replace_referral_form(&partner, &old.hash).await.unwrap();
        let before = t.store.referral_form(&old.hash).await.unwrap().is_some();
        t.store.replace_referral_form(&partner, &new.hash).await.unwrap();
        let old_after = t.store.referral_form(&old.hash).await.unwrap().is_some();
        let new_after = t.store.referral_form(&new.hash).await.unwrap().map(|p| p.to_string());
        json!({
            "duplicate_email": duplicate_email,
            "by_email": by_email,
            "by_slack": [json!(by_slack), json!(nobody)],
            "slack_message": [json!(kept), json!(stays)],
            "pages": [first.items.len(), rest.items.len(), usize::from(rest.next_cursor.is_some())],
            "newest_first": first.items[0].id == made[2].id,
            "stale_update": conflict_name(stale),
            "fresh_update": conflict_name(fresh),
            "concurrent_clicks": concurrent.iter().filter(|x| **x).count(),
            "expired": expired.is_some(),
            "unknown": unknown.is_some(),
            "session": [live, over, ended],
            "admitted": admitted,
            "form_links": [json!(before), json!(old_after), json!(new_after)],
        })
    })
    .await;
    assert_eq!(
        observed,
        json!({
            "duplicate_email": false,
            "by_email": true,
            "by_slack": [true, true],
            "slack_message": [[true, false], "1.1"],
            "pages": [2, 1, 0],
            "newest_first": true,
            "stale_update": "the user",
            "fresh_update": "ok",
            "concurrent_clicks": 1,
            "expired": false,
            "unknown": false,
            "session": [true, false, false],
            "admitted": [true, true, true, false, true],
            "form_links": [true, false, "alpha"],
        })
    );
}
