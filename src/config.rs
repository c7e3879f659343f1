//! `duro serve`'s settings: a flag wins over its environment variable, which wins over
//! `duro.toml`, which wins over the default. The file is optional: `--config FILE`
//! (`DURO_CONFIG`) names it, otherwise `./duro.toml` is read if it exists. Unknown keys in
//! the file are an error naming the key, so a typo never silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// `duro.toml`: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub execute_rate_limit: Option<u32>,
    pub max_body_bytes: Option<usize>,
    pub max_wait_seconds: Option<u64>,
    /// Extra provider files (`DURO_PROVIDERS_DIR`).
    pub providers_dir: Option<PathBuf>,
    /// The default SMTP server of email steps (`DURO_SMTP_URL`): `smtp://`, `smtp+starttls://`
    /// or `smtps://user:password@host:port?from=...`.
    pub smtp_url: Option<String>,
    /// Keep the journal in PostgreSQL (`DURO_DATABASE_URL`): `postgres://user@host:port/db`.
    pub database_url: Option<String>,
    /// Most connections to PostgreSQL (`DURO_DATABASE_POOL_SIZE`).
    pub database_pool_size: Option<u32>,
    /// This node's id among the nodes on one PostgreSQL journal (`DURO_NODE_ID`).
    pub node_id: Option<String>,
    /// The outbound policy of steps and triggers (`[outbound]`).
    #[serde(default)]
    pub outbound: OutboundFile,
}

/// `[outbound]` in `duro.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundFile {
    /// Also deny loopback and private ranges (`DURO_OUTBOUND_DENY_PRIVATE`).
    pub deny_private: Option<bool>,
    /// CIDRs or host names always allowed (`DURO_OUTBOUND_ALLOW`, comma-separated).
    pub allow: Option<Vec<String>>,
    /// Largest response body read, in bytes (`DURO_MAX_RESPONSE_BYTES`).
    pub max_response_bytes: Option<usize>,
}

pub const DEFAULT_FILE: &str = "duro.toml";

/// Reads the config file: `explicit` must exist; without it `./duro.toml` is optional.
pub fn load(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None if Path::new(DEFAULT_FILE).exists() => PathBuf::from(DEFAULT_FILE),
        None => return Ok(FileConfig::default()),
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("in the config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_with_every_key_parses() {
        let config: FileConfig = toml::from_str(
            "listen = \"0.0.0.0:8080\"\ndata_dir = \"/var/lib/duro\"\nexecute_rate_limit = 100\nmax_body_bytes = 2048\nmax_wait_seconds = 60\n",
        )
        .expect("valid config");
        assert_eq!(config.execute_rate_limit, Some(100));
        assert_eq!(config.data_dir, Some(PathBuf::from("/var/lib/duro")));
    }

    #[test]
    fn the_outbound_table_parses_and_its_typos_are_named() {
        let config: FileConfig = toml::from_str(
            "providers_dir = \"/etc/duro/providers\"\n[outbound]\ndeny_private = true\nallow = [\"10.0.0.0/8\", \"api.internal\"]\nmax_response_bytes = 1024\n",
        )
        .expect("valid config");
        assert_eq!(config.outbound.deny_private, Some(true));
        assert_eq!(
            config.outbound.allow.as_deref().map(<[String]>::len),
            Some(2)
        );
        assert_eq!(
            config.providers_dir,
            Some(PathBuf::from("/etc/duro/providers"))
        );
        let error =
            toml::from_str::<FileConfig>("[outbound]\ndeny_privat = true").expect_err("typo");
        assert!(error.to_string().contains("deny_privat"), "{error}");
    }

    #[test]
    fn an_unknown_key_is_named() {
        let error = toml::from_str::<FileConfig>("exeucte_rate_limit = 5").expect_err("typo");
        assert!(error.to_string().contains("exeucte_rate_limit"), "{error}");
    }
}
