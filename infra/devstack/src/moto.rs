//! The local AWS endpoint: moto from the project's virtualenv, started through
//! `moto_server.py`, which applies DynamoDB requests one at a time so that
//! conditional writes are isolated as on DynamoDB.

use anyhow::{Context as _, bail};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const INSTALL_HINT: &str =
    "run `cargo xtask dev` or `cargo xtask test` once: they install the local toolchain into .venv";

/// The workspace root, where template.yaml and .venv live.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_else(|| manifest.to_path_buf())
}

/// The virtualenv with moto: `PARTNEROPS_VENV`, else `.venv` in the workspace.
pub fn venv() -> PathBuf {
    std::env::var_os("PARTNEROPS_VENV").map(PathBuf::from).unwrap_or_else(|| workspace_root().join(".venv"))
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running moto server. It stops when this value is dropped, and also when
/// the process that started it exits (a watchdog shell polls the parent), so
/// test binaries never leave servers behind.
pub struct MotoServer {
    wrapper: Child,
    pub endpoint: String,
}

impl MotoServer {
    pub fn spawn(log: &Path) -> anyhow::Result<Self> {
        Self::spawn_with(log, &[])
    }

    /// A server with extra environment for the launcher, such as
    /// `PARTNEROPS_STREAM_RETENTION_SECONDS`.
    pub fn spawn_with(log: &Path, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let python = venv().join("bin/python");
        if !venv().join("bin/moto_server").is_file() {
            bail!("moto is not installed in {}: {INSTALL_HINT}", venv().display());
        }
        let launcher = workspace_root().join("infra/devstack/moto_server.py");
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let log_file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let port = free_port()?;
        let script = r#"
            "$1" "$5" -H 127.0.0.1 -p "$2" >>"$4" 2>&1 &
            moto=$!
            trap 'kill $moto 2>/dev/null; exit 0' EXIT INT TERM
            while kill -0 "$3" 2>/dev/null && kill -0 $moto 2>/dev/null; do sleep 0.5; done
        "#;
        let wrapper = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("moto-watchdog")
            .arg(&python)
            .arg(port.to_string())
            .arg(std::process::id().to_string())
            .arg(log)
            .arg(&launcher)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .context("starting moto_server")?;
        let server = Self { wrapper, endpoint: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("moto_server did not start listening within 60 s; see {}", log.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.wrapper.id().to_string()).status();
        let _ = self.wrapper.wait();
    }
}
