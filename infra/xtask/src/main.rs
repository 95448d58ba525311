//! Project commands: `cargo xtask dev | test | package | measure | load | admin-key | redrive`.
//!
//! Every command installs what it needs first (the Python virtualenv with
//! moto, the SAM CLI, cfn-lint, cargo-lambda and zig, pinned in
//! infra/requirements.txt), so a fresh clone needs only Rust and Python 3.

// Reporting sizes and timings only; money never passes through this crate.
#![allow(clippy::float_arithmetic)]

mod browser;
mod measure;
mod toolchain;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;
use toolchain::{Toolchain, run, step};

const USAGE: &str = "\
usage: cargo xtask <command>

  dev [--port PORT]        the local stack on http://127.0.0.1:PORT (default 3000)
  test                     every check CI runs: the OpenAPI document, cfn-lint and
                           checkov on the template, fmt, clippy, unit, property,
                           integration, end-to-end and contract (schemathesis)
                           tests, the portal in Chromium (playwright-core,
                           axe-core), sam validate --lint
  package [--x86-64] [FUNCTION…]
                           cargo lambda build --release for every function or the ones
                           named (arm64 by default)
  measure [FUNCTION…]      release binary sizes and cold start to the first runtime poll
  load [--referrals N] [--writers W] [--sample S]
                           sustained concurrent referrals on a fresh local stack:
                           p50 at a small and a full table, the SLA report checked
                           against the referrals made, moto's memory
  admin-key (--stack NAME | --table NAME) [--region REGION] [--label TEXT]
                           create an admin API key in a deployed stack (printed once)
  redrive --stack NAME --queue notification|payout|export|webhook|reports|rule|relay [--region REGION]
                           move a deployed stack's dead letters back to their queue
";

fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_else(|| manifest.to_path_buf())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dev") => dev(&args[1..]),
        Some("test") => test(),
        Some("package") => package(&args[1..]),
        Some("measure") => chosen_functions(&args[1..]).and_then(|functions| measure::run(&root(), &functions)),
        Some("admin-key") => admin_key(&args[1..]),
        Some("redrive") => redrive(&args[1..]),
        Some("load") => load(&args[1..]),
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
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
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root());
    command
}

fn dev(args: &[String]) -> Result<(), String> {
    let port = match args {
        [] => "3000".to_owned(),
        [flag, port] if flag == "--port" && port.parse::<u16>().is_ok() => port.clone(),
        _ => return Err("usage: cargo xtask dev [--port PORT]".into()),
    };
    let tools = Toolchain::ensure(&root())?;
    step("building the dev stack");
    run(cargo().args(["build", "--package", "partnerops-devstack", "--bin", "partnerops-dev"]))?;
    step(&format!("starting the dev stack on port {port}"));
    let binary = target_dir().join("debug/partnerops-dev");
    let mut command = tools.command(&binary);
    command.current_dir(root()).args(["--port", &port]);
    // Become the dev stack, so Ctrl-C and SIGTERM reach it (and it stops moto).
    use std::os::unix::process::CommandExt as _;
    Err(format!("cannot start {}: {}", binary.display(), command.exec()))
}

fn load(args: &[String]) -> Result<(), String> {
    let tools = Toolchain::ensure(&root())?;
    // The same debug build as `cargo xtask dev`, so the figures are the local stack's.
    step("building the load tool");
    run(cargo().args(["build", "--package", "partnerops-devstack", "--bin", "partnerops-load"]))?;
    step("loading a fresh local stack");
    run(tools.command(&target_dir().join("debug/partnerops-load")).current_dir(root()).args(args))
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

fn package(args: &[String]) -> Result<(), String> {
    let (arch, names) = match args.split_first() {
        Some((flag, rest)) if flag == "--x86-64" => ("--x86-64", rest),
        _ => ("--arm64", args),
    };
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

/// `cargo xtask redrive --stack NAME --queue notification|payout|export|webhook|reports|rule|relay`:
/// moves a dead-letter queue's messages back to their source queue.
fn redrive(args: &[String]) -> Result<(), String> {
    let tools = Toolchain::ensure(&root())?;
    let (mut stack, mut queue, mut region) = (None, None, None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?.clone();
        match flag.as_str() {
            "--stack" => stack = Some(value),
            "--queue" => queue = Some(value),
            "--region" => region = Some(value),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    let (Some(stack), Some(queue)) = (stack, queue) else {
        return Err("give --stack NAME --queue notification|payout|export|webhook|reports|rule|relay".into());
    };
    let (source, dlq) = match queue.as_str() {
        "notification" => ("NotificationQueueUrl", "NotificationDLQUrl"),
        "payout" => ("PayoutQueueUrl", "PayoutDLQUrl"),
        "export" => ("ExportQueueUrl", "ExportDLQUrl"),
        "webhook" => ("WebhookQueueUrl", "WebhookDLQUrl"),
        "reports" => ("ReportsQueueUrl", "ReportsDLQUrl"),
        "rule" => ("", "RuleDLQUrl"),
        "relay" => ("stream", "OutboxRelayDLQUrl"),
        other => {
            return Err(format!(
                "unknown queue {other}: notification, payout, export, webhook, reports, rule or relay"
            ));
        }
    };
    let outputs = stack_outputs(&tools, &stack, region.as_deref())?;
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
    step(&format!("moving {queue} dead letters back to where they were going"));
    run(&mut command)
}

fn admin_key(args: &[String]) -> Result<(), String> {
    let tools = Toolchain::ensure(&root())?;
    let mut stack = None;
    let mut table = None;
    let mut region = None;
    let mut label = "admin (cargo xtask admin-key)".to_owned();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?.clone();
        match flag.as_str() {
            "--stack" => stack = Some(value),
            "--table" => table = Some(value),
            "--region" => region = Some(value),
            "--label" => label = value,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
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
