//! Calling partners' webhook receivers (SPEC §18) without letting a URL reach
//! inside the network: every host is resolved by us, every address checked,
//! and the connection goes to the addresses that passed; redirects are never
//! followed and no proxy is used.

use async_trait::async_trait;
use partnerops_domain::webhook::{
    Outcome, RESPONSE_KEEP_BYTES, TIMEOUT_SECONDS, UrlPolicy, UrlRefusal, addresses_allowed, check_url, keep_response,
};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How long resolving a host may take when an endpoint is registered.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// Checks a URL the way a delivery will: its shape, and what its host
    /// resolves to now.
    async fn check(&self, url: &str) -> Result<(), UrlRefusal>;

    /// One attempt: POST `body` with `headers`; never an error, always an
    /// outcome for the deliveries log.
    async fn send(&self, url: &str, headers: &[(&'static str, String)], body: &str) -> Outcome;
}

/// Resolves names for reqwest and hands it only allowed addresses, so the
/// address checked is the address connected to.
struct CheckedResolver {
    policy: UrlPolicy,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let addresses = resolve_checked(name.as_str(), policy)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            let addrs: reqwest::dns::Addrs = Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The addresses `host` resolves to, if every one of them may be called.
pub async fn resolve_checked(host: &str, policy: UrlPolicy) -> Result<Vec<IpAddr>, UrlRefusal> {
    let addresses = lookup(host).await?;
    addresses_allowed(host, &addresses, policy)?;
    Ok(addresses)
}

async fn lookup(host: &str) -> Result<Vec<IpAddr>, UrlRefusal> {
    match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, 0))).await {
        Ok(Ok(addrs)) => Ok(addrs.map(|a| a.ip()).collect()),
        _ => Err(UrlRefusal::Unresolvable),
    }
}

pub struct HttpWebhookSender {
    client: reqwest::Client,
    policy: UrlPolicy,
}

impl HttpWebhookSender {
    pub fn new(policy: UrlPolicy) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(TIMEOUT_SECONDS))
            .connect_timeout(Duration::from_secs(5))
            .dns_resolver(Arc::new(CheckedResolver { policy }))
            .user_agent("partnerops-webhooks/1")
            .build()?;
        Ok(Self { client, policy })
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn check(&self, url: &str) -> Result<(), UrlRefusal> {
        let checked = check_url(url, self.policy)?;
        match checked.host_to_resolve {
            Some(host) => resolve_checked(&host, self.policy).await.map(drop),
            None => Ok(()),
        }
    }

    async fn send(&self, url: &str, headers: &[(&'static str, String)], body: &str) -> Outcome {
        // Address literals never reach the resolver: they are checked here.
        if let Err(refusal) = check_url(url, self.policy) {
            return Outcome::Failed {
                status: None,
                error: format!("the URL is not allowed: {refusal}"),
                response: String::new(),
            };
        }
        let mut request = self.client.post(url).body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Outcome::Failed { status: None, error: describe(&e), response: String::new() },
        };
        let status = response.status().as_u16();
        let mut kept = Vec::new();
        // Only the start of the answer is kept; the rest is not read.
        while kept.len() < RESPONSE_KEEP_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) if status < 300 && e.is_timeout() => {
                    return Outcome::Failed {
                        status: Some(status),
                        error: describe(&e),
                        response: keep_response(&kept),
                    };
                }
                Err(_) => break,
            }
        }
        Outcome::of_status(status, &kept)
    }
}

/// What went wrong, without the URL (it may carry the receiver's token).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {TIMEOUT_SECONDS} s");
    }
    let mut text = String::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    if e.is_connect() {
        format!("could not connect: {text}")
    } else if text.is_empty() {
        "the request failed".into()
    } else {
        format!("the request failed: {text}")
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    // `localhost` resolves on every machine, to loopback: the check after
    // resolving is what refuses it, whatever the name looks like.
    #[tokio::test]
    async fn names_are_judged_by_what_they_resolve_to() {
        assert_eq!(resolve_checked("localhost", UrlPolicy::default()).await, Err(UrlRefusal::PrivateAddress));
        let dev = resolve_checked("localhost", UrlPolicy { local_receiver: true }).await;
        assert!(dev.is_ok_and(|a| a.iter().all(|ip| ip.is_loopback())));
        assert_eq!(resolve_checked("no-such-host.invalid", UrlPolicy::default()).await, Err(UrlRefusal::Unresolvable));
    }

    #[tokio::test]
    async fn a_delivery_to_a_refused_address_is_a_failed_attempt_without_a_connection() {
        let sender = HttpWebhookSender::new(UrlPolicy::default()).unwrap_or_else(|e| panic!("{e}"));
        for url in ["https://127.0.0.1:9/x", "https://[::1]:9/x", "http://example.com/x", "https://169.254.169.254/"] {
            match sender.send(url, &[], "{}").await {
                Outcome::Failed { status: None, error, .. } => {
                    assert!(error.starts_with("the URL is not allowed"), "{url}: {error}")
                }
                other => panic!("{url}: {other:?}"),
            }
        }
        assert_eq!(sender.check("https://10.0.0.1/x").await, Err(UrlRefusal::PrivateAddress));
    }
}
