//! Function configuration from the environment, with the program terms file.

use anyhow::Context as _;
use partnerops_domain::terms::ProgramTerms;
use std::path::PathBuf;

pub const DEFAULT_PROGRAM_PATH: &str = "infra/program.toml";

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub event_bus_name: String,
    pub terms: ProgramTerms,
}

impl Config {
    /// Reads `TABLE_NAME`, `EVENT_BUS_NAME` (default `partnerops`) and the
    /// program terms (see [`program_terms`]).
    pub fn from_env() -> anyhow::Result<Self> {
        let table_name = std::env::var("TABLE_NAME").context("TABLE_NAME is not set: the DynamoDB table to use")?;
        let event_bus_name = std::env::var("EVENT_BUS_NAME").unwrap_or_else(|_| "partnerops".to_owned());
        let terms = program_terms()?;
        Ok(Self { table_name, event_bus_name, terms })
    }
}

/// The terms compiled into every binary: `infra/program.toml` as it was at
/// build time. A deployed function uses these unless `PARTNEROPS_PROGRAM`
/// names another file.
pub const EMBEDDED_PROGRAM: &str = include_str!("../../../infra/program.toml");

/// Program terms from `PARTNEROPS_PROGRAM` if set, else `infra/program.toml`
/// in the working directory if present, else the embedded copy.
pub fn program_terms() -> anyhow::Result<ProgramTerms> {
    if let Some(path) = std::env::var_os("PARTNEROPS_PROGRAM") {
        return load_terms(std::path::Path::new(&path));
    }
    let local = PathBuf::from(DEFAULT_PROGRAM_PATH);
    if local.is_file() {
        return load_terms(&local);
    }
    ProgramTerms::from_toml(EMBEDDED_PROGRAM).context("invalid embedded program terms")
}

/// Loads and validates program terms; the error names the file and the key.
pub fn load_terms(path: &std::path::Path) -> anyhow::Result<ProgramTerms> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read program terms at {} (set PARTNEROPS_PROGRAM)", path.display()))?;
    ProgramTerms::from_toml(&text).with_context(|| format!("invalid program terms in {}", path.display()))
}
