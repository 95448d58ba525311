//! End-to-end: the portal through the dev stack (SPEC §15, §16): users,
//! one-time sign-in links, sessions, CSRF, the partner and staff pages, and
//! the hosted referral form, as a browser without JavaScript uses them.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use partnerops_e2e::TestStack;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const NOW: &str = "2026-11-22T10:00:00Z";

struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
        self.body[at..].split('"').next().unwrap().to_owned()
    }
}

/// A browser: no redirects followed, one session cookie.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(t: &TestStack) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { http, base: t.stack.url.clone(), cookie: None }
    }

    async fn send(&mut self, method: Method, path: &str, form: Option<&[(&str, &str)]>) -> Page {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) };
        let mut request = self.http.request(method, url);
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie.clone());
        }
        if let Some(form) = form {
            let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form.iter()).finish();
            request = request.header(CONTENT_TYPE, "application/x-www-form-urlencoded").body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(set) = headers.get(SET_COOKIE).and_then(|v| v.to_str().ok()) {
            let pair = set.split(';').next().unwrap().to_owned();
            self.cookie = if pair.ends_with('=') { None } else { Some(pair) };
        }
        Page { status, headers, body: response.text().await.unwrap() }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(Method::GET, path, None).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(Method::POST, path, Some(form)).await
    }
}

async fn user(t: &TestStack, email: &str, role: &str, partner: Option<&str>) -> Value {
    let mut body = json!({ "email": email, "name": format!("User {email}"), "role": role });
    if let Some(p) = partner {
        body["partner_id"] = json!(p);
    }
    let created = t.post("/v1/admin/users", &t.admin(), body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    created.body
}

async fn outbox_to(t: &TestStack, address: &str) -> Vec<Value> {
    let sent = t.send(Method::GET, "/_dev/outbox", None, None).await.body;
    sent.as_array().unwrap().iter().filter(|n| n["to"] == address).cloned().collect()
}

fn link_in(notification: &Value) -> String {
    let text = notification["text"].as_str().unwrap();
    text.split_whitespace().find(|w| w.contains("/portal/auth/")).unwrap().to_owned()
}

/// Asks for a link and returns it, checking that an email carried it.
async fn request_link(t: &TestStack, browser: &mut Browser, email: &str) -> String {
    let before = outbox_to(t, email).await.len();
    let page = browser.post("/portal/sign-in", &[("email", email)]).await;
    assert_eq!(page.status, StatusCode::OK);
    let sent = outbox_to(t, email).await;
    assert_eq!(sent.len(), before + 1, "one email for {email}");
    link_in(sent.last().unwrap())
}

async fn signed_in(t: &TestStack, email: &str) -> Browser {
    let mut browser = Browser::new(t);
    let link = request_link(t, &mut browser, email).await;
    let landed = browser.get(&link).await;
    assert_eq!(landed.status, StatusCode::SEE_OTHER);
    assert_eq!(landed.location(), "/portal");
    assert!(browser.cookie.is_some());
    browser
}

async fn stack() -> TestStack {
    let t = TestStack::start().await;
    t.set_clock(NOW).await;
    t
}

mod hosted;
mod pages;
mod sign_in;
