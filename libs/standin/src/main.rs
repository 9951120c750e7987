//! `miroir-standin`: starts a stand-in node with Meilisearch's own flags and environment
//! variables, so that a script can start either binary the same way.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use miroir_standin::Config;

const USAGE: &str = "miroir-standin: an in-memory stand-in for a Meilisearch 1.50 node

Options (each also read from its Meilisearch environment variable):
  --http-addr <ADDR>                 MEILI_HTTP_ADDR (default 127.0.0.1:7700)
  --master-key <KEY>                 MEILI_MASTER_KEY
  --http-payload-size-limit <SIZE>   MEILI_HTTP_PAYLOAD_SIZE_LIMIT (default 100 MB)
Accepted and ignored: --db-path <PATH>, --env <ENV>, --no-analytics, --log-level <LEVEL>";

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

fn parse_args(args: Vec<String>) -> Result<Option<Options>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut addr = env("MEILI_HTTP_ADDR").unwrap_or_else(|| "127.0.0.1:7700".to_string());
    let mut config = Config {
        master_key: env("MEILI_MASTER_KEY"),
        ..Config::default()
    };
    if let Some(limit) = env("MEILI_HTTP_PAYLOAD_SIZE_LIMIT") {
        config.max_payload_bytes = parse_size(&limit)?;
    }
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => args.next().with_context(|| format!("{name} needs a value")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--http-addr" => addr = value("--http-addr")?,
            "--master-key" => {
                config.master_key = Some(value("--master-key")?).filter(|k| !k.is_empty())
            }
            "--http-payload-size-limit" => {
                config.max_payload_bytes = parse_size(&value("--http-payload-size-limit")?)?
            }
            "--db-path" | "--env" | "--log-level" => {
                value(&flag)?;
            }
            "--no-analytics" => {}
            other => bail!("unknown option `{other}`\n\n{USAGE}"),
        }
    }
    // Meilisearch accepts host names (`localhost:7700`), so resolve rather than parse.
    let addr = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .with_context(|| format!("`{addr}` is not an address to listen on"))?;
    Ok(Some(Options { addr, config }))
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
    let options = match parse_args(std::env::args().skip(1).collect()) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
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
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let o = parse_args(args(&[
            "--http-addr",
            "127.0.0.1:7777",
            "--master-key=k",
            "--no-analytics",
            "--db-path",
            "x",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.addr.port(), 7777);
        assert_eq!(o.config.master_key.as_deref(), Some("k"));
        assert!(parse_args(args(&["--bogus"])).is_err());
        assert!(parse_args(args(&["--help"])).unwrap().is_none());
        let o = parse_args(args(&["--http-addr=localhost:7701"]))
            .unwrap()
            .unwrap();
        assert_eq!(o.addr.port(), 7701);
        assert!(parse_args(args(&["--http-addr", "nowhere"])).is_err());
    }
}
