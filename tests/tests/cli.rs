//! Every command a person types answers `--help` with its options and exits 0,
//! and refuses a wrong value or combination with an error naming it (exit 2), as clap does: the
//! `cargo xtask` commands and the dev stack's own binaries, run as built by
//! `cargo xtask test` (its build step builds every binary of the workspace).

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// `target/debug`, where this test binary's own `deps/` directory sits.
fn binaries() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|deps| deps.parent()).map(PathBuf::from).expect("the test binary is in target/<profile>/deps")
}

fn run(binary: &str, args: &[&str]) -> Output {
    let path = binaries().join(binary);
    assert!(
        path.exists(),
        "{} is missing: `cargo xtask test` builds it (cargo build --workspace --bins) before the tests run",
        path.display()
    );
    Command::new(&path).args(args).env_remove("RUST_LOG").output().unwrap()
}

/// Asserts `--help` exits 0 and lists each of `options` and `-h, --help`.
fn assert_help(binary: &str, command: &[&str], options: &[&str]) {
    let mut args = command.to_vec();
    args.push("--help");
    let output = run(binary, &args);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{binary} {} exited {:?}: {text}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("Usage:"), "{binary} {}: {text}", args.join(" "));
    assert!(text.contains("-h, --help"), "{binary} {}: {text}", args.join(" "));
    for option in options {
        assert!(text.contains(option), "{binary} {} does not list {option}: {text}", args.join(" "));
    }
}

/// Asserts the arguments are refused with exit 2 and an error naming `why`.
fn assert_refused(binary: &str, args: &[&str], why: &str) {
    let output = run(binary, args);
    let text = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{binary} {}: {text}", args.join(" "));
    assert!(text.starts_with("error:") && text.contains(why), "{binary} {}: {text}", args.join(" "));
}

#[test]
fn every_xtask_command_answers_help_with_its_options() {
    assert_help("xtask", &[], &["dev", "test", "package", "measure", "load", "admin-key", "redrive"]);
    assert_help("xtask", &["dev"], &["--port", "--clock"]);
    assert_help("xtask", &["test"], &[]);
    assert_help("xtask", &["package"], &["--x86-64", "[FUNCTIONS]"]);
    assert_help("xtask", &["measure"], &["[FUNCTIONS]"]);
    assert_help("xtask", &["load"], &["--referrals", "--writers", "--sample"]);
    assert_help("xtask", &["admin-key"], &["--stack", "--table", "--region", "--label"]);
    assert_help("xtask", &["redrive"], &["--stack", "--queue", "--region", "notification", "relay"]);
    for command in ["help", "-h"] {
        let output = run("xtask", &[command]);
        assert!(output.status.success(), "xtask {command}: {output:?}");
    }
}

#[test]
fn the_dev_stacks_binaries_answer_help_with_their_options() {
    assert_help("partnerops-dev", &[], &["--port", "--clock"]);
    assert_help("partnerops-load", &[], &["--referrals", "--writers", "--sample"]);
    assert_help(
        "partnerops-redrive",
        &[],
        &["--from", "--to", "--to-targets", "--stream", "--table", "--bus", "--region"],
    );
    assert_help("partnerops-admin-key", &[], &["--table", "--label"]);
}

#[test]
fn a_wrong_value_or_combination_is_refused_with_the_reason() {
    assert_refused("xtask", &["redrive", "--stack", "s", "--queue", "nowhere"], "invalid value 'nowhere'");
    assert_refused("xtask", &["redrive", "--queue", "relay"], "--stack");
    assert_refused("xtask", &["admin-key", "--stack", "s", "--table", "t"], "cannot be used with");
    assert_refused("xtask", &["dev", "--port", "eighty"], "invalid value 'eighty'");
    assert_refused("xtask", &["deploy"], "unrecognized subcommand 'deploy'");
    assert_refused("partnerops-dev", &["--clock", "yesterday"], "invalid value 'yesterday'");
    assert_refused("partnerops-redrive", &["--from", "q"], "required");
    assert_refused("partnerops-redrive", &["--from", "q", "--to", "r", "--to-targets"], "cannot be used with");
    assert_refused("partnerops-redrive", &["--from", "q", "--stream", "--table", "t"], "--bus");
    assert_refused("partnerops-redrive", &["--from", "q", "--to", "r", "--table", "t"], "--stream");
    assert_refused("partnerops-admin-key", &["--label", "x"], "--table");
}
