//! `cargo xtask measure`: release binary sizes and cold start, measured as
//! the time from process start to the first poll of the Lambda runtime API
//! (a local stand-in for the runtime API answers on loopback). A function
//! that reads a secret before it polls (slack-interactions) reads it from a
//! moto server on loopback, so its figure includes one `GetSecretValue`
//! round trip without the network's latency.

use crate::toolchain::{self, Toolchain, step};
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 15;

/// moto from the project's venv, holding a Slack app secret made by boto3.
struct Secrets {
    server: Child,
    endpoint: String,
    slack_app_arn: String,
}

impl Secrets {
    fn start(tools: &Toolchain) -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let server = tools
            .command(&tools.bin("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting moto_server: {e}"))?;
        let mut secrets = Self { server, endpoint: format!("http://127.0.0.1:{port}"), slack_app_arn: String::new() };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("moto_server did not listen within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let script = "import boto3, json, sys\n\
            c = boto3.client('secretsmanager', endpoint_url=sys.argv[1], region_name='us-east-1',\n\
                             aws_access_key_id='measure', aws_secret_access_key='measure')\n\
            value = json.dumps({'bot_token': 'xoxb-measure', 'signing_secret': 'measure'})\n\
            print(c.create_secret(Name='measure/slack-app', SecretString=value)['ARN'])\n";
        let output = tools
            .command(&tools.bin("python"))
            .args(["-c", script, &secrets.endpoint])
            .output()
            .map_err(|e| format!("creating the secret: {e}"))?;
        if !output.status.success() {
            return Err(format!("creating the secret: {}", String::from_utf8_lossy(&output.stderr).trim()));
        }
        secrets.slack_app_arn = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        Ok(secrets)
    }
}

impl Drop for Secrets {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn first_poll(binary: &Path, root: &Path, secrets: &Secrets) -> Result<Duration, String> {
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
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &secrets.endpoint)
        .env("SLACK_APP_SECRET_ARN", &secrets.slack_app_arn)
        .env("PARTNEROPS_PROGRAM", root.join("infra/program.toml"))
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    // A binary that cannot start (its configuration refused) exits instead
    // of polling: give up on it.
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
    let tools = Toolchain::ensure(root)?;
    step("building release binaries (host architecture)");
    let mut build = toolchain::cargo(root);
    build.args(["build", "--release"]);
    for f in functions {
        build.args(["--bin", f]);
    }
    toolchain::run(&mut build)?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| root.join("target"));
    step("starting moto on loopback for the secrets read before the first poll");
    let secrets = Secrets::start(&tools)?;
    println!("\n  {:<18} {:>10} {:>16} {:>16}", "function", "size", "first poll p50", "first poll max");
    for f in functions {
        let binary = target.join("release").join(f);
        let size = std::fs::metadata(&binary).map_err(|e| e.to_string())?.len();
        let mut samples = match (0..RUNS).map(|_| first_poll(&binary, root, &secrets)).collect::<Result<Vec<_>, _>>() {
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
