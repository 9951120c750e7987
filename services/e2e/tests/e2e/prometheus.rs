//! Every query of the Grafana dashboard and every alert expression returns data from a real
//! Prometheus that scraped a loaded cluster through a node failure, and the alert rules pass
//! `promtool check rules` and their unit tests (`promtool test rules`).
//!
//! The rule for a query (docs/operations.md, "Dashboard and alerts"): a dashboard query must
//! parse and return at least one series. An alert expression is meant to be empty while the
//! cluster is healthy, so it is checked by its operands: it is split at its top-level comparison
//! and set operators (`==`, `<`, `and`, `or`, ...), numbers are dropped, `absent(x)` is replaced
//! by `x`, and every operand left must return at least one series. Prometheus also loads
//! alerts.yaml as its rule file, and every rule must evaluate without error; MiroirNodeDown must
//! turn pending for the node the test stops. Every `miroir_*` metric scraped must have a help
//! text (Prometheus' metadata), i.e. be described by its service.
//!
//! The services run in-process, so one Prometheus recorder (the binaries' own exporter set-up,
//! `miroir_cluster::telemetry::prometheus_builder`) serves all of them on one ephemeral port;
//! `miroir_build_info` tells the services apart. Prometheus and promtool come from Debian's
//! `prometheus` package (`.ci/bootstrap`): without them the tests are skipped with a message,
//! except under CI (`CI=true`), where a missing binary fails them.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use miroir_e2e::ClusterOptions;
use miroir_proto::topology::NodeHealth;
use miroir_testkit::wait::{Attempt, until};
use serde_json::Value;

use super::load;
use super::node_dies::{behind, wait_health};

/// How `$__rate_interval` reads in the test: a few 1 s scrapes.
const RATE_INTERVAL: &str = "10s";

fn files_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../helm/miroir/files")
}

/// `name` on PATH; `None` (with a message) when it is missing outside CI; a failure in CI.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "`{name}` is not on PATH under CI: .ci/bootstrap installs Debian's prometheus package"
        );
        eprintln!(
            "[prometheus] SKIPPED: `{name}` is not installed (apt-get install --no-install-recommends prometheus, or bash .ci/bootstrap)"
        );
    }
    found
}

fn promtool(args: &[&str]) {
    let Some(bin) = tool("promtool") else {
        return;
    };
    let out = Command::new(bin)
        .args(args)
        .current_dir(files_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_check_rules_accepts_the_alert_rules() {
    promtool(&["check", "rules", "alerts.yaml"]);
}

#[test]
fn promtool_alert_unit_tests_pass() {
    promtool(&["test", "rules", "alerts.test.yaml"]);
}

/// The in-process services' metrics endpoint: the exporter every binary installs, on a port that
/// was free a moment ago (installed once per test process).
pub(super) fn metrics_endpoint() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // Installed from a thread outside any runtime, the exporter runs on a runtime and thread
        // of its own; installed inside a test's runtime, it would die with that test and leave
        // the next test that scrapes it a refused connection.
        std::thread::spawn(move || {
            miroir_cluster::telemetry::prometheus_builder()
                .with_http_listener(addr)
                .install()
                .unwrap();
        })
        .join()
        .unwrap();
        addr
    })
}

/// A Prometheus server in a temporary directory, killed and its directory removed on drop.
struct Prometheus {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl Prometheus {
    /// Scrapes `target` every second and evaluates alerts.yaml every second.
    async fn start(bin: &Path, target: SocketAddr) -> Prometheus {
        let dir = std::env::temp_dir().join(format!(
            "miroir-prometheus-{}-{}",
            std::process::id(),
            target.port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(files_dir().join("alerts.yaml"), dir.join("alerts.yaml")).unwrap();
        std::fs::write(
            dir.join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - alerts.yaml\n\
                 scrape_configs:\n  - job_name: miroir\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new(bin)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let prometheus = Prometheus {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let ready = format!("{}/-/ready", prometheus.url);
        until("prometheus ready", Duration::from_secs(30), || {
            let (http, ready) = (http.clone(), ready.clone());
            async move {
                Ok(match http.get(&ready).send().await {
                    Ok(r) if r.status().is_success() => Attempt::Ready(()),
                    _ => Attempt::Retry("not ready".into()),
                })
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", prometheus.log()));
        prometheus
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// `/api/v1/<path>` with `query`: its `data`, or Prometheus' error.
    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, String> {
        let reply = reqwest::Client::new()
            .get(format!("{}/api/v1/{path}", self.url))
            .query(query)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = reply.json().await.map_err(|e| e.to_string())?;
        if body["status"] == "success" {
            Ok(body["data"].clone())
        } else {
            Err(format!("{}: {}", body["errorType"], body["error"]))
        }
    }

    /// The series an instant query returns now.
    async fn series(&self, expr: &str) -> Result<Vec<Value>, String> {
        let data = self.api("query", &[("query", expr)]).await?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every query of the dashboard (panels in rows included), with `$__rate_interval` filled in.
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(files_dir().join("grafana-dashboard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let mut panels: Vec<Value> = dashboard["panels"].as_array().cloned().unwrap_or_default();
    let mut queries = Vec::new();
    while let Some(panel) = panels.pop() {
        if let Some(inner) = panel["panels"].as_array() {
            panels.extend(inner.iter().cloned());
        }
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            queries.push((
                panel["title"].as_str().unwrap_or_default().to_string(),
                expr.replace("$__rate_interval", RATE_INTERVAL),
            ));
        }
    }
    queries
}

/// The operands of `expr` at its top-level comparison and set operators, for alert expressions
/// (empty when healthy by design): numbers dropped, vector-matching modifiers and `bool` removed,
/// `absent(x)` read as `x`.
fn operands(expr: &str) -> Vec<String> {
    let bytes = expr.as_bytes();
    let (mut depth, mut quote, mut start, mut i) = (0i32, None::<u8>, 0usize, 0usize);
    let mut pieces = Vec::new();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if b == b'\\' {
                i += 1;
            } else if b == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match b {
            b'"' | b'\'' | b'`' => quote = Some(b),
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => depth -= 1,
            _ if depth == 0 => {
                let rest = &expr[i..];
                let symbol = ["==", "!=", ">=", "<=", ">", "<"]
                    .into_iter()
                    .find(|op| rest.starts_with(op));
                let word = ["and", "or", "unless"].into_iter().find(|op| {
                    rest.starts_with(op)
                        && (i == 0 || !is_word(bytes[i - 1]))
                        && bytes.get(i + op.len()).is_none_or(|&n| !is_word(n))
                });
                if let Some(op) = symbol.or(word) {
                    pieces.push(expr[start..i].to_string());
                    i += op.len();
                    start = i;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    pieces.push(expr[start..].to_string());
    pieces
        .into_iter()
        .filter_map(|piece| {
            let mut p = piece.trim();
            loop {
                let before = p;
                for modifier in ["bool", "on", "ignoring", "group_left", "group_right"] {
                    if let Some(rest) = p.strip_prefix(modifier)
                        && rest.starts_with([' ', '('])
                    {
                        p = rest.trim_start();
                        if p.starts_with('(') {
                            p = p.split_once(')').map_or("", |(_, r)| r).trim_start();
                        }
                    }
                }
                if p == before {
                    break;
                }
            }
            if p.is_empty() || p.parse::<f64>().is_ok() {
                return None;
            }
            Some(match p.strip_prefix("absent(") {
                Some(inner) => inner.strip_suffix(')').unwrap_or(inner).to_string(),
                None => p.to_string(),
            })
        })
        .collect()
}

#[test]
fn alert_expressions_split_into_their_operands() {
    assert_eq!(
        operands("max by (node) (miroir_health_node_state) == 2"),
        vec!["max by (node) (miroir_health_node_state)"]
    );
    assert_eq!(
        operands("min by (i) (a{x=~\"5..\"}) < on (i) group_left max by (i) (b)"),
        vec!["min by (i) (a{x=~\"5..\"})", "max by (i) (b)"]
    );
    assert_eq!(
        operands("max(a{lease=\"h\"}) < 1\nor absent(a{lease=\"h\"})"),
        vec!["max(a{lease=\"h\"})", "a{lease=\"h\"}"]
    );
    assert_eq!(
        operands("sum by (node) (x) > 0 and sum by (node) (delta(x[10m])) > 0"),
        vec!["sum by (node) (x)", "sum by (node) (delta(x[10m]))"]
    );
    assert_eq!(
        operands("1 - (sum(rate(r{status!~\"5..\"}[5m])) / sum(rate(r[5m]))) > 0.05"),
        vec!["1 - (sum(rate(r{status!~\"5..\"}[5m])) / sum(rate(r[5m])))"]
    );
    assert_eq!(operands("sum(x == bool 0)"), vec!["sum(x == bool 0)"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_dashboard_and_alert_query_returns_data() {
    let Some(bin) = tool("prometheus") else {
        return;
    };
    let target = metrics_endpoint();
    let load::Loaded {
        mut cluster,
        topology,
        load,
        ..
    } = load::start_loaded(
        ClusterOptions {
            nodes: 3,
            rebalancers: 1,
            // A node stopped for a few seconds is caught up, never re-replicated.
            reallocate_after_ms: 600_000,
            ..Default::default()
        },
        200,
    )
    .await;
    let prometheus = Prometheus::start(&bin, target).await;

    // Every service's build, scraped.
    until("every service scraped", Duration::from_secs(30), || async {
        let seen = prometheus
            .series("count by (service) (miroir_build_info)")
            .await
            .map_err(anyhow::Error::msg)?;
        let services: Vec<&str> = seen
            .iter()
            .filter_map(|s| s["metric"]["service"].as_str())
            .collect();
        let all = [
            "gateway",
            "router",
            "merger",
            "health-checker",
            "rebalancer",
        ];
        Ok(if all.iter().all(|s| services.contains(s)) {
            Attempt::Ready(())
        } else {
            Attempt::Retry(format!("{services:?}"))
        })
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", prometheus.log()));

    // A node stops under load (writes go to its handoff queues), is seen down (the alert turns
    // pending), comes back and is caught up (the queues are replayed).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let victim = "n1";
    cluster.nodes[1].stop();
    wait_health(&topology, victim, NodeHealth::Down, Duration::from_secs(20)).await;
    until(
        "MiroirNodeDown pending",
        Duration::from_secs(20),
        || async {
            let alerts = prometheus
                .series(&format!(
                    "ALERTS{{alertname=\"MiroirNodeDown\", node=\"{victim}\"}}"
                ))
                .await
                .map_err(anyhow::Error::msg)?;
            Ok(if alerts.is_empty() {
                Attempt::Retry("no alert".into())
            } else {
                Attempt::Ready(())
            })
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.nodes[1].start_again().await.unwrap();
    wait_health(&topology, victim, NodeHealth::Up, Duration::from_secs(20)).await;
    until("copies caught up", Duration::from_secs(60), || async {
        let b = behind(&topology);
        Ok(if b.is_empty() {
            Attempt::Ready(())
        } else {
            Attempt::Retry(format!("{b:?}"))
        })
    })
    .await
    .unwrap();
    // A few scrapes (and rule evaluations) after the replay.
    tokio::time::sleep(Duration::from_secs(4)).await;

    let mut failures = Vec::new();
    let dashboard = dashboard_queries();
    for (panel, expr) in &dashboard {
        match prometheus.series(expr).await {
            Ok(s) if !s.is_empty() => {}
            Ok(_) => failures.push(format!("dashboard `{panel}`: no data for {expr}")),
            Err(e) => failures.push(format!("dashboard `{panel}`: {e} in {expr}")),
        }
    }
    let rules = prometheus.api("rules", &[("type", "alert")]).await.unwrap();
    let mut alerts = 0;
    let mut checked_operands = 0;
    for group in rules["groups"].as_array().into_iter().flatten() {
        for rule in group["rules"].as_array().into_iter().flatten() {
            alerts += 1;
            let name = rule["name"].as_str().unwrap_or_default();
            let expr = rule["query"].as_str().unwrap_or_default();
            if rule["health"] != "ok" {
                failures.push(format!(
                    "alert {name}: health {} ({}) for {expr}",
                    rule["health"], rule["lastError"]
                ));
            }
            if let Err(e) = prometheus.series(expr).await {
                failures.push(format!("alert {name}: {e} in {expr}"));
            }
            for operand in operands(expr) {
                checked_operands += 1;
                match prometheus.series(&operand).await {
                    Ok(s) if !s.is_empty() => {}
                    Ok(_) => failures.push(format!("alert {name}: no data for {operand}")),
                    Err(e) => failures.push(format!("alert {name}: {e} in {operand}")),
                }
            }
        }
    }
    // Every metric Miroir exports is described: Prometheus has a help text and a type for it.
    let names = prometheus.api("label/__name__/values", &[]).await.unwrap();
    let metadata = prometheus.api("metadata", &[]).await.unwrap();
    let mut described = 0;
    for name in names
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !name.starts_with("miroir_") {
            continue;
        }
        let base = ["_bucket", "_sum", "_count"]
            .into_iter()
            .find_map(|s| name.strip_suffix(s).filter(|b| metadata.get(*b).is_some()))
            .unwrap_or(name);
        let help = metadata[base][0]["help"].as_str().unwrap_or_default();
        if help.is_empty() {
            failures.push(format!("metric {name}: no help text (describe_* missing)"));
        } else {
            described += 1;
        }
    }
    load.stop().await;
    eprintln!(
        "[prometheus] {} dashboard queries, {alerts} alert rules ({checked_operands} operands), {described} miroir_* series names with help texts checked; {} failed",
        dashboard.len(),
        failures.len()
    );
    assert!(
        dashboard.len() >= 30 && alerts >= 10,
        "the dashboard or the rules were not all read"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The gateway answers every request with an `x-request-id`: the client's own when it sent a
/// sane one, else a fresh one per request (also on errors).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_returns_a_request_id() {
    let cluster = miroir_e2e::TestCluster::start(ClusterOptions {
        nodes: 1,
        shards: 1,
        replication_factor: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let get = |id: Option<&str>, path: &str| {
        let mut req = http
            .get(format!("{}{path}", cluster.gateway_url()))
            .bearer_auth(miroir_e2e::GATEWAY_MASTER_KEY);
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        req.send()
    };
    let id_of = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let kept = get(Some("client-req-1"), "/health").await.unwrap();
    assert_eq!(id_of(&kept).as_deref(), Some("client-req-1"));
    let first = get(None, "/indexes").await.unwrap();
    let second = get(None, "/indexes/nope/search").await.unwrap();
    assert_eq!(second.status(), 404);
    let (a, b) = (id_of(&first).unwrap(), id_of(&second).unwrap());
    assert_ne!(a, b, "one id per request");
    let replaced = get(Some("has space"), "/health").await.unwrap();
    assert_ne!(id_of(&replaced).as_deref(), Some("has space"));
}
