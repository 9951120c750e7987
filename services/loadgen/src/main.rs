//! `miroir-load`: parse the flags, load the configuration (file < `MIROIR_LOAD_*` < flags), run
//! the scenarios, print each summary (and write them as JSON when asked), and exit 0 when every
//! scenario passed, 1 when a threshold, a write task or an event failed, 2 when the run could not
//! start.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use miroir_loadgen::Config;

/// Runs the load scenarios of loadtest/scenarios.json (the ones the k6 scripts run) against a
/// Miroir gateway on this machine and prints p50/p95/p99 latency, throughput and error rate per
/// workload, op and query kind, then the k6 thresholds of the scenario.
///
/// Every flag is also a key of the config file and a MIROIR_LOAD_<KEY> environment variable; the
/// URL and key are also read from MIROIR_URL and MIROIR_KEY, as the k6 scripts read them.
#[derive(Parser, serde::Serialize)]
#[command(name = "miroir-load", version)]
struct Flags {
    /// Scenarios to run, in order [default: every scenario of the file]
    #[arg(value_name = "SCENARIO")]
    scenarios: Vec<String>,
    /// A TOML file with any of the keys below
    #[arg(long, env = "MIROIR_LOAD_CONFIG", value_name = "PATH")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// The scenario file [default: loadtest/scenarios.json]
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,
    /// Base URL of the gateway; must be a loopback address unless --allow-remote
    /// [default: http://127.0.0.1:7700]
    #[arg(long, env = "MIROIR_URL", value_name = "URL")]
    url: Option<String>,
    /// API key, sent as a bearer token [default: none]
    #[arg(long, env = "MIROIR_KEY", value_name = "KEY", hide_env_values = true)]
    key: Option<String>,
    /// Run each scenario for this long (k6 duration: 10s, 1m), its times scaled alike
    /// [default: the scenario's]
    #[arg(long, value_name = "DURATION")]
    duration: Option<String>,
    /// Refuse a scenario that loads for longer than this, in seconds [default: 600]
    #[arg(long, value_name = "SECS")]
    max_duration_secs: Option<u64>,
    /// Timeout of one request, in milliseconds [default: 10000]
    #[arg(long, value_name = "MS")]
    request_timeout_ms: Option<u64>,
    /// After the load, how long the acknowledged writes' tasks may take to end, in milliseconds
    /// [default: 60000]
    #[arg(long, value_name = "MS")]
    settle_ms: Option<u64>,
    /// Allow a target that is not on this machine (a cluster you operate)
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    allow_remote: bool,
    /// Write the summaries as JSON to this file too
    #[arg(long, value_name = "PATH")]
    summary_json: Option<PathBuf>,
    /// ACTION=COMMAND: the shell command that performs a scenario event when it is due, e.g.
    /// add-node='miroirctl node add n5 http://127.0.0.1:7705' (repeatable)
    #[arg(long, value_name = "ACTION=COMMAND")]
    event_cmd: Vec<String>,
    /// No progress bar
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    quiet: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let flags = Flags::parse();
    let config: Config = match miroir_cluster::config::load_with_flags(
        "MIROIR_LOAD_",
        flags.config.as_deref(),
        &flags,
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("miroir-load: {e}");
            return ExitCode::from(2);
        }
    };
    let reports = match miroir_loadgen::run(&config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("miroir-load: {e}");
            return ExitCode::from(2);
        }
    };
    for r in &reports {
        println!("{}", miroir_loadgen::summary::text(r));
    }
    if let Some(path) = &config.summary_json {
        let written = serde_json::to_vec_pretty(&reports)
            .map_err(|e| e.to_string())
            .and_then(|json| std::fs::write(path, json).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("miroir-load: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.scenario.as_str())
        .collect();
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("miroir-load: failed: {}", failed.join(", "));
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_consistent() {
        use clap::CommandFactory;
        Flags::command().debug_assert();
    }
}
