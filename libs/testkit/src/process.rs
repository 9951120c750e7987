//! Child processes the kit runs (nats-server, real Meilisearch): finding their binary, logging
//! to a file for error messages, and killing and reaping them so no test leaves one behind.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

/// Finds `name` from the `env_var` override, else on `PATH`. The kit installs nothing: a missing
/// binary is the setup's job, and the message says so.
pub(crate) fn find_binary(env_var: &str, name: &str, hint: &str) -> Result<PathBuf> {
    if let Some(value) = std::env::var_os(env_var).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        if is_executable(&path) {
            return Ok(path);
        }
        bail!(
            "{env_var}={} is not an executable file. {hint}",
            path.display()
        );
    }
    let found = std::env::var_os("PATH").map(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| is_executable(p))
    });
    match found {
        Some(Some(path)) => Ok(path),
        _ => bail!("`{name}` was not found on PATH (nor in ${env_var}). {hint}"),
    }
}

pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Spawns `command` with stdout and stderr appended to `log`.
pub(crate) fn spawn_logged(command: &mut Command, log: &Path) -> Result<Child> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let err = out.try_clone()?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .with_context(|| format!("starting {:?}", command.get_program()))
}

/// SIGKILL and reap, so that the pid and the port are really gone when this returns.
pub(crate) fn kill(child: &mut Child) {
    // An error here means the process had already exited; reaping below still applies.
    let _ = child.kill();
    let _ = child.wait();
}

/// The end of a log file, for error messages.
pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(15);
    lines[start..].join("\n")
}

/// A port that was free a moment ago. Only for programs that cannot report the port they chose
/// themselves (Meilisearch); callers retry on a bind failure.
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("binding an ephemeral port")?;
    Ok(listener.local_addr()?.port())
}
