//! `miroir-standin`: starts a stand-in node with Meilisearch's own flags and environment
//! variables, so that a script can start either binary the same way.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;
use miroir_standin::Config;

/// An in-memory stand-in for a Meilisearch 1.50 node, for tests and the local demo.
///
/// It takes Meilisearch's own flags and environment variables, so that a script can start either
/// binary the same way; an empty variable counts as unset, as with Meilisearch.
#[derive(Parser, Debug)]
#[command(name = "miroir-standin", version)]
struct Flags {
    /// Address to listen on (host names are resolved) [default: 127.0.0.1:7700]
    #[arg(long, env = "MEILI_HTTP_ADDR", value_name = "ADDR")]
    http_addr: Option<String>,
    /// Master key; unset: the node is open
    #[arg(
        long,
        env = "MEILI_MASTER_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    master_key: Option<String>,
    /// Largest request body, as `100 MB`, `10MiB` or a number of bytes [default: 100 MB]
    #[arg(long, env = "MEILI_HTTP_PAYLOAD_SIZE_LIMIT", value_name = "SIZE")]
    http_payload_size_limit: Option<String>,
    /// Accepted and ignored (the stand-in keeps its data in memory)
    #[arg(long, value_name = "PATH")]
    db_path: Option<String>,
    /// Accepted and ignored
    #[arg(long, value_name = "ENV")]
    env: Option<String>,
    /// Accepted and ignored (use RUST_LOG)
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Accepted and ignored
    #[arg(long)]
    no_analytics: bool,
}

struct Options {
    addr: SocketAddr,
    config: Config,
}

/// `100 MB`, `10MiB`, `2Gb`, `1048576`: Meilisearch's byte sizes.
fn parse_size(s: &str) -> Result<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number
        .parse()
        .with_context(|| format!("`{s}` is not a size"))?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => bail!("unknown size unit `{other}` in `{s}`"),
    };
    let bytes = number * multiplier;
    if !(bytes.is_finite() && bytes >= 1.0) {
        bail!("`{s}` is not a usable payload size");
    }
    Ok(bytes as u64)
}

fn options(flags: Flags) -> Result<Options> {
    let given = |v: Option<String>| v.filter(|v| !v.is_empty());
    let mut config = Config {
        master_key: given(flags.master_key),
        ..Config::default()
    };
    if let Some(limit) = given(flags.http_payload_size_limit) {
        config.max_payload_bytes = parse_size(&limit)?;
    }
    let addr = given(flags.http_addr).unwrap_or_else(|| "127.0.0.1:7700".to_string());
    // Meilisearch accepts host names (`localhost:7700`), so resolve rather than parse.
    let addr = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .with_context(|| format!("`{addr}` is not an address to listen on"))?;
    Ok(Options { addr, config })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

fn main() -> ExitCode {
    let options = match options(Flags::parse()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("miroir-standin: {e:#}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("miroir-standin: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.addr)
            .await
            .with_context(|| format!("binding {}", options.addr))?;
        tracing::info!(
            "stand-in node listening on http://{}",
            listener.local_addr()?
        );
        miroir_standin::run(options.config, listener, shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("miroir-standin: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100 MB").unwrap(), 100_000_000);
        assert_eq!(parse_size("10MiB").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_size("1234").unwrap(), 1234);
        assert!(parse_size("ten").is_err());
    }

    #[test]
    fn flags() {
        use clap::CommandFactory;
        Flags::command().debug_assert();
        let parse = |a: &[&str]| {
            Flags::try_parse_from(std::iter::once("miroir-standin").chain(a.iter().copied()))
                .map_err(anyhow::Error::from)
                .and_then(options)
        };
        let o = parse(&[
            "--http-addr",
            "127.0.0.1:7777",
            "--master-key=k",
            "--no-analytics",
            "--db-path",
            "x",
        ])
        .unwrap();
        assert_eq!(o.addr.port(), 7777);
        assert_eq!(o.config.master_key.as_deref(), Some("k"));
        assert!(parse(&["--bogus"]).is_err());
        let o = parse(&["--http-addr=localhost:7701", "--master-key="]).unwrap();
        assert_eq!(o.addr.port(), 7701);
        assert_eq!(o.config.master_key, None, "an empty key is no key");
        assert!(parse(&["--http-addr", "nowhere"]).is_err());
        assert!(parse(&["--http-payload-size-limit", "ten"]).is_err());
    }
}
