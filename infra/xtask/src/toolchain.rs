//! The local toolchain in `.venv`: created on first use from the hashed lock
//! infra/requirements.txt, reinstalled only when the lock changes.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn step(message: &str) {
    println!("==> {message}");
}

pub fn run(command: &mut Command) -> Result<(), String> {
    let status = command.status().map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    if status.success() { Ok(()) } else { Err(format!("{:?} failed ({status})", command.get_program())) }
}

/// Runs `cargo test`, echoing its output, and adds up the `test result:`
/// lines of every test binary.
pub fn run_counting_tests(command: &mut Command) -> Result<(usize, usize), String> {
    use std::io::{BufRead, BufReader};
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    let (mut passed, mut failed) = (0, 0);
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                passed += count_before(rest, " passed");
                failed += count_before(rest, " failed");
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() { Ok((passed, failed)) } else { Err(format!("cargo test failed ({status}): {failed} failed")) }
}

/// The number just before `label` in `ok. 5 passed; 0 failed; …`.
fn count_before(text: &str, label: &str) -> usize {
    text.find(label).and_then(|end| text[..end].rsplit([' ', '.']).next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

pub struct Toolchain {
    venv: PathBuf,
    checkov: Option<PathBuf>,
}

pub fn fingerprint(text: &str) -> String {
    // FNV-1a: only detects edits to the requirements file.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Creates `venv` and installs the hashed `lock` into it, once per version
/// of the lock: one pass, no resolver, every file checked against its hash.
fn ensure_venv(venv: &Path, lock: &Path, marker: &str, what: &str) -> Result<(), String> {
    let wanted = fingerprint(&std::fs::read_to_string(lock).map_err(|e| format!("reading {}: {e}", lock.display()))?);
    let stamp = venv.join(".partnerops-requirements");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str())
        && venv.join("bin").join(marker).is_file()
    {
        return Ok(());
    }
    if !venv.join("bin/python").is_file() {
        step(&format!("creating the Python virtualenv {}", venv.display()));
        run(Command::new("python3").args(["-m", "venv"]).arg(venv))
            .map_err(|e| format!("{e}: Python 3.9+ with the venv module is required"))?;
    }
    step(&format!("installing {what} from the hashed lock {}", lock.display()));
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--disable-pip-version-check", "--require-hashes", "--no-deps", "-r"])
        .arg(lock))?;
    std::fs::write(&stamp, wanted).map_err(|e| format!("writing {}: {e}", stamp.display()))
}

impl Toolchain {
    pub fn ensure(root: &Path) -> Result<Self, String> {
        let venv = root.join(".venv");
        ensure_venv(
            &venv,
            &root.join("infra/requirements.txt"),
            "moto_server",
            "the local toolchain (moto, SAM CLI, cfn-lint and its serverless rules, cargo-lambda, zig, \
             openapi-spec-validator, schemathesis)",
        )?;
        Ok(Self { venv, checkov: None })
    }

    /// checkov, in a venv of its own: it pins a boto3 the SAM CLI cannot share.
    pub fn with_checkov(mut self, root: &Path) -> Result<Self, String> {
        let venv = root.join(".venv-checkov");
        ensure_venv(&venv, &root.join("infra/requirements-checkov.txt"), "checkov", "checkov")?;
        self.checkov = Some(venv.join("bin/checkov"));
        Ok(self)
    }

    pub fn checkov(&self) -> Result<&Path, String> {
        self.checkov.as_deref().ok_or_else(|| "checkov is not installed (Toolchain::with_checkov)".to_owned())
    }

    pub fn bin(&self, name: &str) -> PathBuf {
        self.venv.join("bin").join(name)
    }

    /// The environment every tool and test gets: the venv first on PATH (so
    /// cargo-lambda finds zig), the venv for the local stack, no SAM telemetry.
    pub fn apply_env(&self, command: &mut Command) {
        without_cargo_run_env(command);
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.venv.join("bin")];
        paths.extend(std::env::split_paths(&path));
        if let Ok(joined) = std::env::join_paths(paths) {
            command.env("PATH", joined);
        }
        command.env("PARTNEROPS_VENV", &self.venv);
        command.env("SAM_CLI_TELEMETRY", "0");
    }

    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        self.apply_env(&mut command);
        command
    }

    pub fn ensure_rust_target(&self, target: &str) -> Result<(), String> {
        let installed = Command::new("rustup")
            .args(["target", "list", "--installed"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == target))
            .unwrap_or(false);
        if installed {
            return Ok(());
        }
        step(&format!("adding the Rust target {target}"));
        run(Command::new("rustup").args(["target", "add", target])).map_err(|_| {
            format!(
                "the Rust standard library for {target} is not installed and could not be downloaded \
                 (rustup target add {target}). Install it on a machine with access to static.rust-lang.org, \
                 or build for x86-64 with `cargo xtask package --x86-64` and set Architectures: [x86_64] in template.yaml."
            )
        })
    }
}

/// The `OutputValue` for `key` in `sam list stack-outputs --output json`.
pub fn output_value(json: &str, key: &str) -> Option<String> {
    let outputs: Vec<serde_json::Value> = serde_json::from_str(json).ok()?;
    outputs
        .iter()
        .find(|o| o.get("OutputKey").and_then(|k| k.as_str()) == Some(key))
        .and_then(|o| o.get("OutputValue")?.as_str().map(str::to_owned))
}

/// The cargo that runs xtask, in `root`, without what `cargo run` set for xtask.
pub fn cargo(root: &Path) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    without_cargo_run_env(&mut command);
    command.current_dir(root);
    command
}

/// Removes what `cargo run` sets for the xtask binary itself (its manifest
/// directory, its package name and version), so a cargo started from here sees
/// the same environment as one started by hand. ring's build script reruns when
/// `CARGO_MANIFEST_DIR` or `CARGO_PKG_NAME` changes, and with it everything that
/// links ring: without this, `cargo xtask test` followed by `cargo bench`
/// compiled rustls and every crate above it twice.
pub fn without_cargo_run_env(command: &mut Command) {
    const SET_BY_CARGO_RUN: [&str; 7] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "OUT_DIR",
    ];
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("CARGO_PKG_") || SET_BY_CARGO_RUN.contains(&name) {
            command.env_remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_test_results() {
        let line = "ok. 39 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.35s";
        assert_eq!(super::count_before(line, " passed"), 39);
        assert_eq!(super::count_before(line, " failed"), 2);
        assert_eq!(super::count_before("nothing", " passed"), 0);
    }

    #[test]
    fn reads_stack_outputs() {
        let json = r#"[{"OutputKey":"ApiUrl","OutputValue":"https://x"},{"OutputKey":"TableName","OutputValue":"prod-Table-1"}]"#;
        assert_eq!(super::output_value(json, "TableName").as_deref(), Some("prod-Table-1"));
        assert_eq!(super::output_value(json, "Missing"), None);
        assert_eq!(super::output_value("not json", "TableName"), None);
    }

    #[test]
    fn a_cargo_started_here_does_not_see_what_cargo_run_set_for_xtask() {
        // cargo sets these for every test binary too, as `cargo run` does for xtask.
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some() && std::env::var_os("CARGO_PKG_NAME").is_some());
        let mut command = std::process::Command::new("cargo");
        super::without_cargo_run_env(&mut command);
        let removed: Vec<_> =
            command.get_envs().filter(|(_, value)| value.is_none()).filter_map(|(name, _)| name.to_str()).collect();
        for name in ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME", "CARGO_PKG_VERSION_MAJOR"] {
            assert!(removed.contains(&name), "{name} is passed on: {removed:?}");
        }
        assert!(!removed.iter().any(|name| ["CARGO", "CARGO_HOME", "CARGO_TARGET_DIR", "PATH"].contains(name)));
    }
}
