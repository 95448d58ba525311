//! The portal in a real browser, as `cargo xtask test` runs it: Debian's
//! Chromium and Node.js (installed with apt when missing and running as root),
//! playwright-core and axe-core from the npm lock in `tests/browser`, against a
//! dev stack started for the run. Screenshots land in `target/browser/`.

use crate::toolchain::{Toolchain, fingerprint, run, step};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const READY_WITHIN: Duration = Duration::from_secs(240);

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Debian's Chromium, installed once per machine.
fn ensure_chromium() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Ok(PathBuf::from(path));
    }
    if Path::new(CHROMIUM).is_file() {
        return Ok(PathBuf::from(CHROMIUM));
    }
    if !is_root() {
        return Err("the browser tests need Debian's Chromium: run `sudo apt-get install chromium` \
                    (or set CHROMIUM to a Chromium executable)"
            .into());
    }
    step("installing Debian's chromium for the browser tests (apt-get)");
    run(Command::new("apt-get").args(["update", "-q"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends", "chromium"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    Ok(PathBuf::from(CHROMIUM))
}

fn has_npm() -> bool {
    Command::new("npm").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Node.js with npm, for playwright-core: Debian's, installed once per machine.
fn ensure_npm() -> Result<(), String> {
    if has_npm() {
        return Ok(());
    }
    if !is_root() {
        return Err("the browser tests need Node.js 18 or later with npm: run `sudo apt-get install nodejs npm` \
                    (or install them from nodejs.org)"
            .into());
    }
    step("installing Debian's nodejs and npm for the browser tests (apt-get)");
    run(Command::new("apt-get").args(["update", "-q"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends", "nodejs", "npm"])
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// `npm ci` from the lock, once per version of the lock.
fn ensure_node_modules(dir: &Path) -> Result<(), String> {
    ensure_npm()?;
    let lock = dir.join("package-lock.json");
    let wanted = fingerprint(&std::fs::read_to_string(&lock).map_err(|e| format!("reading {}: {e}", lock.display()))?);
    let stamp = dir.join("node_modules/.partnerops-lock");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    step("installing playwright-core and axe-core from tests/browser/package-lock.json (npm ci)");
    run(Command::new("npm").current_dir(dir).args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"]))?;
    std::fs::write(&stamp, wanted).map_err(|e| format!("writing {}: {e}", stamp.display()))
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn healthy(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(b"GET /_dev/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200")
}

/// Stops the dev stack with SIGTERM, so it stops its moto server too.
struct Stack(Child);

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the suite; returns (passed, failed).
/// The dev stack is the one `cargo xtask test` built beside the tests.
pub fn run_suite(tools: &Toolchain, root: &Path, target: &Path) -> Result<(usize, usize), String> {
    let chromium = ensure_chromium()?;
    let dir = root.join("tests/browser");
    ensure_node_modules(&dir)?;
    let binary = target.join("debug/partnerops-dev");
    if !binary.is_file() {
        return Err(format!("{} is not built: the build step builds it", binary.display()));
    }
    let artifacts = target.join("browser");
    std::fs::create_dir_all(&artifacts).map_err(|e| e.to_string())?;
    let port = free_port()?;
    let admin_key = format!("pok_browser{:x}", std::process::id());
    let log = std::fs::File::create(artifacts.join("devstack.log")).map_err(|e| e.to_string())?;
    let log_err = log.try_clone().map_err(|e| e.to_string())?;
    step(&format!("starting a dev stack on port {port} for the browser"));
    let child = tools
        .command(&target.join("debug/partnerops-dev"))
        .current_dir(root)
        .args(["--port", &port.to_string()])
        .env("PARTNEROPS_ADMIN_KEY", &admin_key)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("starting the dev stack: {e}"))?;
    let mut stack = Stack(child);
    let started = Instant::now();
    while !healthy(port) {
        if let Ok(Some(status)) = stack.0.try_wait() {
            return Err(format!("the dev stack exited ({status}); see {}", artifacts.join("devstack.log").display()));
        }
        if started.elapsed() > READY_WITHIN {
            return Err(format!("the dev stack was not ready in {} s", READY_WITHIN.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    step("the portal in Chromium (playwright-core, axe-core)");
    let output = Command::new("node")
        .current_dir(&dir)
        .args(["--test", "--test-concurrency=1", "--test-reporter=tap", "portal.test.mjs"])
        .env("PARTNEROPS_URL", format!("http://127.0.0.1:{port}"))
        .env("PARTNEROPS_ADMIN_KEY", &admin_key)
        .env("CHROMIUM", &chromium)
        .env("ARTIFACTS", &artifacts)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running node: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    print!("{text}");
    drop(stack);
    let count = |label: &str| {
        text.lines().find_map(|l| l.strip_prefix(label)).and_then(|n| n.trim().parse::<usize>().ok()).unwrap_or(0)
    };
    let (passed, failed) = (count("# pass "), count("# fail "));
    if !output.status.success() || failed > 0 || passed == 0 {
        return Err(format!("browser tests: {passed} passed, {failed} failed; screenshots in {}", artifacts.display()));
    }
    println!("  screenshots: {}", artifacts.display());
    Ok((passed, failed))
}
