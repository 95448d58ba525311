//! The API contract, checked by a client we did not write: schemathesis
//! fuzzes every operation in docs/openapi.yaml against the dev stack, once
//! per role, with every check it has (`--checks all`): server errors,
//! undocumented statuses, content types and headers, response schemas,
//! schema-valid data refused, schema-invalid data accepted, missing auth and
//! unsupported methods. Examples per operation are bounded and the seed is
//! fixed, so a run is repeatable and takes minutes, not hours. The only
//! failures set aside are listed, with their reasons, in
//! tests/schemathesis/hooks.py.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use partnerops_devstack::moto::venv;
use partnerops_e2e::{TestStack, referral, registration, repo_file};
use reqwest::StatusCode;

/// Examples per operation and phase; `PARTNEROPS_FUZZ_EXAMPLES` raises it.
const EXAMPLES: &str = "8";

async fn fuzz_as(t: &TestStack, role: &str, key: &str) -> Result<(), String> {
    let examples = std::env::var("PARTNEROPS_FUZZ_EXAMPLES").unwrap_or_else(|_| EXAMPLES.to_owned());
    let report = std::env::temp_dir().join(format!("partnerops-schemathesis-{}-{role}", std::process::id()));
    let output = tokio::process::Command::new(venv().join("bin/st"))
        .arg("run")
        .arg(repo_file("docs/openapi.yaml"))
        .args(["--url", &t.stack.url, "--checks", "all", "--max-examples", &examples, "--seed", "20261201"])
        .args(["--workers", "1", "--no-color", "--warnings", "off", "--suppress-health-check", "all"])
        .arg("--header")
        .arg(format!("Authorization: Bearer {key}"))
        .arg("--report-dir")
        .arg(&report)
        .env("SCHEMATHESIS_HOOKS", "hooks")
        .env("PYTHONPATH", repo_file("tests/schemathesis"))
        .output()
        .await
        .map_err(|e| format!("cannot run schemathesis from {}: {e}", venv().display()))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    let summary = text.lines().rev().find(|l| l.contains("passed") || l.contains("failed")).unwrap_or("").trim();
    println!("schemathesis as {role}: {summary}");
    if output.status.success() { Ok(()) } else { Err(format!("schemathesis as {role} found problems:\n{text}")) }
}

/// A fresh stack with items for the reads to find, besides the generated
/// ids that find nothing, fuzzed with one role's key. One test per role, so
/// each stands alone and the five share the cores.
async fn fuzz_role(role: &str) {
    let t = TestStack::start().await;
    let alpha = t.certified_partner("alpha", "gold").await;
    assert_eq!(t.post("/v1/referrals", &alpha, referral("seeded.com")).await.status, StatusCode::CREATED);
    let reg = t.post("/v1/deal-registrations", &alpha, registration("seeded-deal.com", "900000.00")).await;
    assert_eq!(reg.status, StatusCode::CREATED, "{:?}", reg.body);
    let key = match role {
        "partner" => alpha,
        "admin" => t.admin(),
        other => t.key(other, None).await,
    };
    if let Err(e) = fuzz_as(&t, role, &key).await {
        panic!("{e}");
    }
}

#[tokio::test]
async fn schemathesis_finds_nothing_as_a_partner() {
    fuzz_role("partner").await;
}

#[tokio::test]
async fn schemathesis_finds_nothing_as_a_channel_manager() {
    fuzz_role("channel_manager").await;
}

#[tokio::test]
async fn schemathesis_finds_nothing_as_the_crm() {
    fuzz_role("crm").await;
}

#[tokio::test]
async fn schemathesis_finds_nothing_as_finance() {
    fuzz_role("finance").await;
}

#[tokio::test]
async fn schemathesis_finds_nothing_as_an_admin() {
    fuzz_role("admin").await;
}
