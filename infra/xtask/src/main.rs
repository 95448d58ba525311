//! Project commands: `cargo xtask dev | test | package | measure | load | admin-key | redrive`.
//!
//! Every command installs what it needs first (the Python virtualenv with
//! moto, the SAM CLI, cfn-lint, cargo-lambda and zig, pinned in
//! infra/requirements.txt); the browser suite's Chromium, Node.js and npm
//! packages are installed by `test` itself (README, first lines).

// Reporting sizes and timings only; money never passes through this crate.
#![allow(clippy::float_arithmetic)]

mod browser;
mod measure;
mod toolchain;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;
use toolchain::{Toolchain, run, step};

/// Project commands. Each one installs what it needs on first use (the
/// Python virtualenv with moto, the SAM CLI, cfn-lint, cargo-lambda and zig,
/// pinned in infra/requirements.txt).
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// The local stack on http://127.0.0.1:PORT: moto as AWS, every function on one server
    Dev {
        /// The port the API listens on, on 127.0.0.1
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Start the stack's clock frozen at this instant (RFC 3339, e.g. 2026-11-02T09:00:00Z)
        /// instead of on real time; it only moves forward from there
        #[arg(long)]
        clock: Option<String>,
    },
    /// Every check CI runs: the OpenAPI document, cfn-lint and checkov on the template, fmt,
    /// clippy, unit, property, integration, end-to-end and contract (schemathesis) tests, the
    /// portal in Chromium (playwright-core, axe-core), sam validate --lint
    Test,
    /// cargo lambda build --release for every function, or the ones named (arm64 by default)
    Package {
        /// Build for x86-64 instead (deploy with Architectures: [x86_64])
        #[arg(long = "x86-64")]
        x86_64: bool,
        /// Functions to build, as template.yaml names their binaries
        functions: Vec<String>,
    },
    /// Release binary sizes and cold start to the first runtime poll
    Measure {
        /// Functions to measure, as template.yaml names their binaries
        functions: Vec<String>,
    },
    /// Sustained concurrent referrals on a fresh local stack: latency at a small and a full
    /// table, a sweep that breaches every referral's timer, the SLA report checked
    Load {
        /// Referrals in all
        #[arg(long, default_value_t = 10_000)]
        referrals: usize,
        /// Concurrent writers between the two samples
        #[arg(long, default_value_t = 4)]
        writers: usize,
        /// Sequential referrals in each latency sample
        #[arg(long, default_value_t = 300)]
        sample: usize,
    },
    /// Create an admin API key in a deployed stack's table (printed once)
    AdminKey {
        /// The stack whose TableName output names the table
        #[arg(long, required_unless_present = "table", conflicts_with = "table")]
        stack: Option<String>,
        /// The table itself
        #[arg(long)]
        table: Option<String>,
        /// The stack's region (else the AWS configuration's)
        #[arg(long)]
        region: Option<String>,
        /// What the key is for, shown in the key list
        #[arg(long, default_value = "admin (cargo xtask admin-key)")]
        label: String,
    },
    /// Move a deployed stack's dead letters back to where they were going
    Redrive {
        /// The deployed stack, whose outputs name its queues, table and bus
        #[arg(long)]
        stack: String,
        /// The dead-letter queue to empty
        #[arg(long, value_enum)]
        queue: DeadLetters,
        /// The stack's region (else the AWS configuration's)
        #[arg(long)]
        region: Option<String>,
    },
}

/// A deployed stack's dead-letter queues.
#[derive(Clone, Copy, ValueEnum)]
enum DeadLetters {
    /// Notifications the notifier gave up on
    Notification,
    /// Payout events the ledger gave up on
    Payout,
    /// Export runs the worker gave up on
    Export,
    /// Webhook fan-outs and attempts
    Webhook,
    /// Events the reports could not fold
    Reports,
    /// Events EventBridge could not deliver to a rule's target
    Rule,
    /// Stream batches the outbox relay could not publish (replayed from the stream)
    Relay,
}

fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_else(|| manifest.to_path_buf())
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Task::Dev { port, clock } => dev(port, clock.as_deref()),
        Task::Test => test(),
        Task::Package { x86_64, functions } => package(x86_64, &functions),
        Task::Measure { functions } => chosen_functions(&functions).and_then(|f| measure::run(&root(), &f)),
        Task::AdminKey { stack, table, region, label } => admin_key(stack, table, region, label),
        Task::Redrive { stack, queue, region } => redrive(&stack, queue, region),
        Task::Load { referrals, writers, sample } => load(referrals, writers, sample),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn cargo() -> Command {
    toolchain::cargo(&root())
}

fn dev(port: u16, clock: Option<&str>) -> Result<(), String> {
    let port = port.to_string();
    let tools = Toolchain::ensure(&root())?;
    step("building the dev stack");
    run(cargo().args(["build", "--package", "partnerops-devstack", "--bin", "partnerops-dev"]))?;
    step(&format!("starting the dev stack on port {port}"));
    let binary = target_dir().join("debug/partnerops-dev");
    let mut command = tools.command(&binary);
    command.current_dir(root()).args(["--port", &port]);
    if let Some(clock) = clock {
        command.args(["--clock", clock]);
    }
    // Become the dev stack, so Ctrl-C and SIGTERM reach it (and it stops moto).
    use std::os::unix::process::CommandExt as _;
    Err(format!("cannot start {}: {}", binary.display(), command.exec()))
}

fn load(referrals: usize, writers: usize, sample: usize) -> Result<(), String> {
    let args =
        ["--referrals", &referrals.to_string(), "--writers", &writers.to_string(), "--sample", &sample.to_string()]
            .map(str::to_owned);
    let tools = Toolchain::ensure(&root())?;
    // The same debug build as `cargo xtask dev`, so the figures are the local stack's.
    step("building the load tool");
    run(cargo().args(["build", "--package", "partnerops-devstack", "--bin", "partnerops-load"]))?;
    step("loading a fresh local stack");
    run(tools.command(&target_dir().join("debug/partnerops-load")).current_dir(root()).args(&args))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

fn timed<T>(timings: &mut Vec<(String, f64)>, name: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    step(name);
    let started = Instant::now();
    let result = f();
    timings.push((name.to_owned(), started.elapsed().as_secs_f64()));
    result
}

fn test() -> Result<(), String> {
    let started = Instant::now();
    let tools = Toolchain::ensure(&root())?.with_checkov(&root())?;
    let mut timings = Vec::new();
    timed(&mut timings, "openapi-spec-validator docs/openapi.yaml", || {
        run(tools.command(&tools.bin("openapi-spec-validator")).current_dir(root()).arg("docs/openapi.yaml"))
    })?;
    // Any finding fails: a deliberate exception is written in the template,
    // on its resource, with its reason.
    timed(&mut timings, "cfn-lint template.yaml (with the serverless rules)", || {
        run(tools.command(&tools.bin("cfn-lint")).current_dir(root()).args([
            "--append-rules",
            "cfn_lint_serverless.rules",
            "--",
            "template.yaml",
        ]))
    })?;
    timed(&mut timings, "checkov template.yaml", || {
        run(tools.command(tools.checkov()?).current_dir(root()).args([
            "--file",
            "template.yaml",
            "--framework",
            "cloudformation",
            "--compact",
            "--quiet",
            "--skip-download",
        ]))
    })?;
    timed(&mut timings, "cargo fmt --check", || run(cargo().args(["fmt", "--all", "--", "--check"])))?;
    // Clippy gets the same environment as the tests, so the build scripts that
    // read PATH (aws-lc-sys, zig) are not rebuilt between the two steps.
    timed(&mut timings, "cargo clippy (warnings denied)", || {
        let mut clippy = cargo();
        tools.apply_env(&mut clippy);
        run(clippy.args(["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]))
    })?;
    // One build for everything that follows: the test binaries and the dev
    // stack the browser suite runs, with the same features, so no crate is
    // compiled twice.
    timed(&mut timings, "cargo build (every test binary and the dev stack, once)", || {
        let mut build = cargo();
        tools.apply_env(&mut build);
        run(build.args(["build", "--workspace", "--tests", "--bins", "--locked"]))
    })?;
    let (passed, failed) = timed(&mut timings, "cargo test (unit, property, integration, end-to-end)", || {
        let mut tests = cargo();
        tests.args(["test", "--workspace", "--locked"]);
        tools.apply_env(&mut tests);
        toolchain::run_counting_tests(&mut tests)
    })?;
    let (browser_passed, browser_failed) =
        timed(&mut timings, "browser: the portal in Chromium (playwright-core, axe-core)", || {
            browser::run_suite(&tools, &root(), &target_dir())
        })?;
    let (passed, failed) = (passed + browser_passed, failed + browser_failed);
    timed(&mut timings, "sam validate --lint", || {
        run(tools.command(&tools.bin("sam")).current_dir(root()).args(["validate", "--lint", "--region", "us-east-1"]))
    })?;
    println!();
    for (name, seconds) in timings {
        println!("  {seconds:>7.1} s  {name}");
    }
    println!("  {:>7.1} s  total", started.elapsed().as_secs_f64());
    println!();
    println!("tests: {passed} passed, {failed} failed");
    Ok(())
}

/// Every Lambda binary named in template.yaml.
fn function_binaries() -> Result<Vec<String>, String> {
    let template =
        std::fs::read_to_string(root().join("template.yaml")).map_err(|e| format!("reading template.yaml: {e}"))?;
    let binaries: Vec<String> =
        template.lines().filter_map(|l| l.trim().strip_prefix("Binary:")).map(|b| b.trim().to_owned()).collect();
    if binaries.is_empty() {
        return Err("template.yaml names no function binaries".into());
    }
    Ok(binaries)
}

/// The functions named on the command line (every one when none is).
fn chosen_functions(names: &[String]) -> Result<Vec<String>, String> {
    let all = function_binaries()?;
    if names.is_empty() {
        return Ok(all);
    }
    match names.iter().find(|n| !all.contains(n)) {
        Some(unknown) => Err(format!("no function {unknown}: the template's are {}", all.join(", "))),
        None => Ok(names.to_vec()),
    }
}

fn package(x86_64: bool, names: &[String]) -> Result<(), String> {
    let arch = if x86_64 { "--x86-64" } else { "--arm64" };
    let functions = chosen_functions(names)?;
    let tools = Toolchain::ensure(&root())?;
    if arch == "--arm64" {
        tools.ensure_rust_target("aarch64-unknown-linux-gnu")?;
    }
    let mut command = tools.command(&tools.bin("cargo-lambda"));
    command.current_dir(root()).args(["lambda", "build", "--release", arch]);
    for binary in &functions {
        command.args(["--bin", binary]);
    }
    step(&format!("cargo lambda build --release for {}", functions.join(", ")));
    run(&mut command)?;
    let out = target_dir().join("lambda");
    for binary in functions {
        let path = out.join(&binary).join("bootstrap");
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!("  {binary:<20} {:>8.2} MiB  {}", size as f64 / 1_048_576.0, path.display());
    }
    println!("\nDeploy with: sam build && sam deploy --guided   (see README.md)");
    Ok(())
}

/// The stack's outputs (`sam list stack-outputs`), as JSON text.
fn stack_outputs(tools: &Toolchain, stack: &str, region: Option<&str>) -> Result<String, String> {
    step(&format!("reading the outputs of stack {stack}"));
    let mut command = tools.command(&tools.bin("sam"));
    command.args(["list", "stack-outputs", "--stack-name", stack, "--output", "json"]);
    if let Some(region) = region {
        command.args(["--region", region]);
    }
    let output = command.output().map_err(|e| format!("running sam: {e}"))?;
    if !output.status.success() {
        return Err(format!("sam list stack-outputs failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Moves a dead-letter queue's messages back to their source queue.
fn redrive(stack: &str, queue: DeadLetters, region: Option<String>) -> Result<(), String> {
    let tools = Toolchain::ensure(&root())?;
    let (name, source, dlq) = match queue {
        DeadLetters::Notification => ("notification", "NotificationQueueUrl", "NotificationDLQUrl"),
        DeadLetters::Payout => ("payout", "PayoutQueueUrl", "PayoutDLQUrl"),
        DeadLetters::Export => ("export", "ExportQueueUrl", "ExportDLQUrl"),
        DeadLetters::Webhook => ("webhook", "WebhookQueueUrl", "WebhookDLQUrl"),
        DeadLetters::Reports => ("reports", "ReportsQueueUrl", "ReportsDLQUrl"),
        DeadLetters::Rule => ("rule", "", "RuleDLQUrl"),
        DeadLetters::Relay => ("relay", "stream", "OutboxRelayDLQUrl"),
    };
    let outputs = stack_outputs(&tools, stack, region.as_deref())?;
    let output = |key: &str| toolchain::output_value(&outputs, key).ok_or(format!("stack {stack} has no {key} output"));
    let from = output(dlq)?;
    step("building the redrive tool");
    run(cargo().args(["build", "--quiet", "--package", "partnerops-devstack", "--bin", "partnerops-redrive"]))?;
    let mut command = Command::new(target_dir().join("debug/partnerops-redrive"));
    command.args(["--from", &from]);
    // The rules' dead letters go back to the queue each one names.
    match source {
        "" => command.arg("--to-targets"),
        // The relay's dead letters name stream batches: they are read back
        // from the table's stream and published to the bus.
        "stream" => command.args(["--stream", "--table", &output("TableName")?, "--bus", &output("EventBusName")?]),
        source => command.args(["--to", &output(source)?]),
    };
    if let Some(region) = &region {
        command.args(["--region", region]);
    }
    step(&format!("moving {name} dead letters back to where they were going"));
    run(&mut command)
}

fn admin_key(
    stack: Option<String>,
    table: Option<String>,
    region: Option<String>,
    label: String,
) -> Result<(), String> {
    let tools = Toolchain::ensure(&root())?;
    let table = match (table, stack) {
        (Some(table), _) => table,
        (None, Some(stack)) => {
            let outputs = stack_outputs(&tools, &stack, region.as_deref())?;
            toolchain::output_value(&outputs, "TableName").ok_or("stack has no TableName output")?
        }
        (None, None) => return Err("give --stack NAME or --table NAME".into()),
    };
    step("building the key tool");
    run(cargo().args(["build", "--quiet", "--package", "partnerops-devstack", "--bin", "partnerops-admin-key"]))?;
    let mut command = Command::new(target_dir().join("debug/partnerops-admin-key"));
    command.args(["--table", &table, "--label", &label]);
    if let Some(region) = region {
        command.env("AWS_REGION", region);
    }
    run(&mut command)
}
