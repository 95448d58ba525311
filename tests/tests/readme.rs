//! The README's walk-through, run as a new user runs it: every `sh` block of
//! its walk-through section, in order, in one bash, against a fresh dev stack
//! with the demo seeded. Once on real time, once with the stack's clock
//! starting half an hour before a new year, so a date written into the text
//! or a period that only works mid-month fails here before it fails a reader.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use partnerops_devstack::moto::{free_port, workspace_root};
use partnerops_domain::Timestamp;
use partnerops_e2e::TestStack;
use std::os::unix::process::CommandExt as _;
use std::process::Command;

/// The `sh` blocks of the README's walk-through section, joined.
fn walkthrough() -> String {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let start = readme.find("## Walk-through").expect("the README has a walk-through");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |end| end + 3)];
    let mut script = String::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line.trim_end() == "```sh" {
            for code in lines.by_ref().take_while(|l| l.trim_end() != "```") {
                script.push_str(code);
                script.push('\n');
            }
        }
    }
    script
}

/// Runs the walk-through against a fresh stack; its output.
async fn run_walkthrough(clock_start: Option<&str>) -> String {
    let t = TestStack::start_with(|options| {
        options.seed_demo = true;
        options.clock_start = clock_start.map(|at| Timestamp::parse(at).unwrap());
    })
    .await;
    let script = walkthrough();
    assert!(script.lines().count() > 40, "the walk-through has its blocks:\n{script}");
    let hooks_port = free_port().unwrap().to_string();
    let url = t.stack.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        let mut bash = Command::new("timeout");
        bash.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        bash.args(["300", "bash", "-euo", "pipefail", "-c", &script])
            .current_dir(workspace_root())
            .env("API", &url)
            .env("HOOKS_PORT", &hooks_port)
            // Its own process group, so a receiver left running by a failed
            // step is stopped with the rest.
            .process_group(0);
        let child = bash.spawn().expect("bash and timeout");
        let group = child.id();
        let output = child.wait_with_output();
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{group}")]).status();
        output
    })
    .await
    .unwrap()
    .unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned());
    assert!(output.status.success(), "the walk-through stopped ({}):\n{stdout}\n{stderr}", output.status);
    stdout
}

fn assert_told(stdout: &str) {
    for expected in [
        // The referral, as submitted.
        "\"status\": \"received\"",
        "\"prospect_key\": \"globex.co.uk\"",
        // An existing customer refused.
        "\"code\": \"existing_customer\"",
        // The registration approved.
        "\"status\": \"approved\"",
        "pending -> approved",
        // One SLA breached by the sweep, and notified.
        "\"sla_signals\": 1",
        "\"status\": \"breached\"",
        // The month's export, done, with the partner's line.
        "\"status\": \"done\"",
        "acme-consulting",
        "5280.00",
        // The receiver verified what it was sent, and the log agrees.
        " verified referral.received ",
        "succeeded after 1 attempt(s)",
    ] {
        assert!(stdout.contains(expected), "the walk-through never showed {expected:?}:\n{stdout}");
    }
    let missing = |line: &str| line.trim() == "null" || line.contains("\"id\": null") || line.contains("null null");
    assert!(!stdout.lines().any(missing), "a value the walk-through shows is missing:\n{stdout}");
}

#[tokio::test]
async fn the_readme_walkthrough_runs_as_written_today() {
    assert_told(&run_walkthrough(None).await);
}

#[tokio::test]
async fn the_readme_walkthrough_runs_as_written_across_a_new_year() {
    assert_told(&run_walkthrough(Some("2027-12-31T23:30:00Z")).await);
}
