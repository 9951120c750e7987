//! A real Meilisearch process, started with the flags a production node would get, confined to
//! its temporary directory (database, dumps, snapshots, log).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use anyhow::{Result, bail};

use super::NodeOptions;

pub(super) fn log_path(dir: &Path) -> PathBuf {
    dir.join("meilisearch.log")
}

pub(super) fn spawn(binary: &Path, dir: &Path, port: u16, options: &NodeOptions) -> Result<Child> {
    if !crate::process::is_executable(binary) {
        bail!("MEILI_BIN={} is not an executable file", binary.display());
    }
    let mut command = Command::new(binary);
    command
        .current_dir(dir)
        .arg("--http-addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--db-path")
        .arg(dir.join("data.ms"))
        .arg("--dump-dir")
        .arg(dir.join("dumps"))
        .arg("--snapshot-dir")
        .arg(dir.join("snapshots"))
        .args(["--no-analytics", "--env", "development"]);
    if let Some(key) = &options.master_key {
        command.arg("--master-key").arg(key);
    }
    if let Some(bytes) = options.max_payload_bytes {
        command
            .arg("--http-payload-size-limit")
            .arg(bytes.to_string());
    }
    crate::process::spawn_logged(&mut command, &log_path(dir))
}
