//! `cargo xtask measure`: release binary sizes and cold start, measured as
//! the time from process start to the first poll of the Lambda runtime API
//! (a local stand-in for the runtime API answers on loopback).

use crate::toolchain::{self, step};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 15;

fn first_poll(binary: &Path, root: &Path) -> Result<Duration, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "measure")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "measure")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "measure")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "measure")
        .env("AWS_SECRET_ACCESS_KEY", "measure")
        .env("TABLE_NAME", "measure")
        .env("EVENT_BUS_NAME", "measure")
        .env("EXPORTS_BUCKET", "measure")
        .env("NOTIFICATION_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/000000000000/measure")
        .env("NOTIFICATION_DLQ_URL", "https://sqs.us-east-1.amazonaws.com/000000000000/measure-dlq")
        .env("EXPORT_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/000000000000/measure-exports")
        .env("WEBHOOK_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/000000000000/measure-webhooks")
        .env("PARTNEROPS_PROGRAM", root.join("infra/program.toml"))
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    // A binary that cannot start offline (one that reads a secret from
    // Secrets Manager first) exits instead of polling: give up on it.
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("{} exited before its first poll ({status})", binary.display()));
                }
                if started.elapsed() > Duration::from_secs(10) {
                    let _ = child.kill();
                    return Err(format!("{} did not poll within 10 s", binary.display()));
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    if !line.starts_with("GET /2018-06-01/runtime/invocation/next") {
        return Err(format!("unexpected first request from {}: {line:?}", binary.display()));
    }
    Ok(elapsed)
}

pub fn run(root: &Path, functions: &[String]) -> Result<(), String> {
    step("building release binaries (host architecture)");
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.current_dir(root).args(["build", "--release"]);
    for f in functions {
        build.args(["--bin", f]);
    }
    toolchain::run(&mut build)?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| root.join("target"));
    println!("\n  {:<18} {:>10} {:>16} {:>16}", "function", "size", "first poll p50", "first poll max");
    for f in functions {
        let binary = target.join("release").join(f);
        let size = std::fs::metadata(&binary).map_err(|e| e.to_string())?.len();
        let mut samples = match (0..RUNS).map(|_| first_poll(&binary, root)).collect::<Result<Vec<_>, _>>() {
            Ok(samples) => samples,
            Err(e) => {
                println!("  {f:<18} {:>7.2} MiB   not measured: {e}", size as f64 / 1_048_576.0);
                continue;
            }
        };
        samples.sort();
        let median = samples[RUNS / 2];
        let max = samples[RUNS - 1];
        println!(
            "  {f:<18} {:>7.2} MiB {:>13.1} ms {:>13.1} ms",
            size as f64 / 1_048_576.0,
            median.as_secs_f64() * 1000.0,
            max.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}
