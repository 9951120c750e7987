//! `miroirctl migrations [--follow]`: the shard copies the rebalancer builds, from the
//! `miroir-migrations` bucket, with progress, rate and ETA.
//!
//! Rate is `copied / (updatedAt - startedAt)`: the average since the copy started, as of the
//! record's last update (the rebalancer writes progress as it goes). ETA is what is left at that
//! rate, counted from now, and only while documents are being copied. A copy in flight whose
//! record has not moved for [`STALLED_AFTER`] is shown as stalled (its rebalancer may be gone).
//!
//! `--follow` reads the bucket every second and redraws one bar per copy; it ends on Ctrl-C, or
//! once no copy has been moving (in flight and not stalled) for [`FOLLOW_IDLE_EXIT`], so that it
//! does not quit in the gap between two copies of one rebalancer pass.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use miroir_cluster::migrations::MigrationStore;
use miroir_proto::migrations::{MigrationPhase, MigrationRecord};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{Ctl, CtlError, Report};

/// A copy in flight whose record has not changed for this long is shown as stalled.
pub const STALLED_AFTER: Duration = Duration::from_secs(60);
/// `--follow` exits once no copy has been moving for this long.
pub const FOLLOW_IDLE_EXIT: Duration = Duration::from_secs(5);
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// One copy's build, as shown.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationProgress {
    pub index: String,
    pub shard: u16,
    pub node: String,
    pub source: String,
    pub phase: MigrationPhase,
    pub copied: u64,
    pub total: u64,
    /// 0-100, `null` when the source was empty.
    pub percent: Option<f64>,
    /// Documents a second since the copy started; `null` before any time has passed.
    pub docs_per_sec: Option<f64>,
    /// Seconds left while copying at that rate; `null` when unknown or not copying.
    pub eta_secs: Option<u64>,
    pub in_flight: bool,
    pub stalled: bool,
    pub started_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Progress of one record at `now`.
pub fn progress(r: &MigrationRecord, now: OffsetDateTime) -> MigrationProgress {
    let in_flight = matches!(
        r.phase,
        MigrationPhase::Copying | MigrationPhase::CatchingUp
    );
    let started = parse_time(&r.started_at);
    let updated = parse_time(&r.updated_at);
    let elapsed = match (started, updated) {
        (Some(s), Some(u)) => (u - s).as_seconds_f64(),
        _ => 0.0,
    };
    let docs_per_sec = (elapsed > 0.0).then(|| r.copied as f64 / elapsed);
    let eta_secs = match (r.phase, docs_per_sec, updated) {
        (MigrationPhase::Copying, Some(rate), Some(u)) if rate > 0.0 => {
            let left = r.total.saturating_sub(r.copied) as f64 / rate;
            let since_update = (now - u).as_seconds_f64().max(0.0);
            Some((left - since_update).max(0.0).ceil() as u64)
        }
        _ => None,
    };
    let stalled = in_flight
        && updated.is_some_and(|u| (now - u).as_seconds_f64() > STALLED_AFTER.as_secs_f64());
    let percent = match (r.phase, r.total) {
        (MigrationPhase::CatchingUp | MigrationPhase::Done, _) => Some(100.0),
        (_, 0) => None,
        (_, t) => Some((r.copied.min(t) as f64 * 1000.0 / t as f64).round() / 10.0),
    };
    MigrationProgress {
        index: r.index.clone(),
        shard: r.shard,
        node: r.node.clone(),
        source: r.source.clone(),
        phase: r.phase,
        copied: r.copied,
        total: r.total,
        percent,
        docs_per_sec: docs_per_sec.map(|d| (d * 10.0).round() / 10.0),
        eta_secs,
        in_flight,
        stalled,
        started_at: r.started_at.clone(),
        updated_at: r.updated_at.clone(),
        error: r.error.clone(),
    }
}

/// Every migration record, in flight first.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationsReport {
    pub in_flight: usize,
    pub failed: usize,
    pub migrations: Vec<MigrationProgress>,
}

pub fn build(records: &[MigrationRecord], now: OffsetDateTime) -> MigrationsReport {
    let mut migrations: Vec<MigrationProgress> = records.iter().map(|r| progress(r, now)).collect();
    migrations.sort_by_key(|m| !m.in_flight);
    MigrationsReport {
        in_flight: migrations.iter().filter(|m| m.in_flight).count(),
        failed: migrations
            .iter()
            .filter(|m| m.phase == MigrationPhase::Failed)
            .count(),
        migrations,
    }
}

pub async fn migrations(ctl: &Ctl) -> Result<MigrationsReport, CtlError> {
    let records = read(ctl).await?;
    Ok(build(&records, OffsetDateTime::now_utc()))
}

async fn read(ctl: &Ctl) -> Result<Vec<MigrationRecord>, CtlError> {
    let store = MigrationStore::open(&ctl.js)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the migrations bucket: {e:#}"))?;
    Ok(store.list().await?)
}

pub fn phase_name(p: MigrationPhase) -> &'static str {
    match p {
        MigrationPhase::Copying => "copying",
        MigrationPhase::CatchingUp => "catching up",
        MigrationPhase::Done => "done",
        MigrationPhase::Failed => "failed",
    }
}

fn duration_text(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The words after a bar: `books/2 -> n4 from n1, copying 5000/10000, 120.0 docs/s, ETA 41s`.
pub fn describe(m: &MigrationProgress) -> String {
    let mut s = format!(
        "{}/{} -> {} from {}, {} {}/{}",
        m.index,
        m.shard,
        m.node,
        m.source,
        phase_name(m.phase),
        m.copied,
        m.total
    );
    if let Some(rate) = m.docs_per_sec {
        let _ = write!(s, ", {rate} docs/s");
    }
    if let Some(eta) = m.eta_secs {
        let _ = write!(s, ", ETA {}", duration_text(eta));
    }
    if m.stalled {
        let _ = write!(
            s,
            ", STALLED (no progress for over {}s: is the rebalancer running?)",
            STALLED_AFTER.as_secs()
        );
    }
    if let Some(e) = &m.error {
        let _ = write!(s, ", error: {e}");
    }
    s
}

/// A text bar as indicatif draws it, for output that is not a terminal.
pub fn text_bar(m: &MigrationProgress) -> String {
    const WIDTH: usize = 30;
    let filled = m
        .percent
        .map_or(0, |p| ((p / 100.0) * WIDTH as f64).round() as usize)
        .min(WIDTH);
    let percent = m
        .percent
        .map_or("  ?%".to_string(), |p| format!("{:>3.0}%", p.floor()));
    format!(
        "[{}{}] {percent} {}",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled),
        describe(m)
    )
}

impl Report for MigrationsReport {
    fn render(&self) -> String {
        if self.migrations.is_empty() {
            return "no migrations (the rebalancer has built no copy in the last 24 h)\n"
                .to_string();
        }
        let mut out = format!("{} in flight, {} failed\n", self.in_flight, self.failed);
        for m in &self.migrations {
            let _ = writeln!(out, "  {}", text_bar(m));
        }
        out
    }
}

/// Whether bars should be drawn with indicatif (stdout is a terminal).
pub fn on_terminal() -> bool {
    std::io::stdout().is_terminal()
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("  [{bar:30}] {percent:>3}% {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>-")
}

fn bar_for(m: &MigrationProgress) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(m.total.max(1)), ProgressDrawTarget::hidden())
        .with_style(style());
    set_bar(&bar, m);
    bar
}

fn set_bar(bar: &ProgressBar, m: &MigrationProgress) {
    let done = matches!(m.phase, MigrationPhase::CatchingUp | MigrationPhase::Done);
    bar.set_length(m.total.max(1));
    bar.set_position(if done {
        m.total.max(1)
    } else {
        m.copied.min(m.total)
    });
    bar.set_message(describe(m));
}

/// Draw the report's bars once on the terminal (indicatif), leaving them on screen.
pub fn draw_once(report: &MigrationsReport) {
    if report.migrations.is_empty() {
        print!("{}", report.render());
        return;
    }
    println!("{} in flight, {} failed", report.in_flight, report.failed);
    draw_bars(&report.migrations);
}

/// Draw one indicatif bar per copy on stdout and leave them there.
pub fn draw_bars(migrations: &[MigrationProgress]) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
    for m in migrations {
        let bar = multi.add(bar_for(m));
        bar.abandon();
    }
}

/// `migrations --follow`: redraw until Ctrl-C or until nothing has moved for
/// [`FOLLOW_IDLE_EXIT`].
pub async fn follow(ctl: &Ctl) -> Result<(), CtlError> {
    let store = MigrationStore::open(&ctl.js)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the migrations bucket: {e:#}"))?;
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
    let header = multi.add(ProgressBar::with_draw_target(
        None,
        ProgressDrawTarget::hidden(),
    ));
    header.set_style(
        ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut bars: std::collections::BTreeMap<(String, u16, String), ProgressBar> =
        Default::default();
    let mut idle_since = tokio::time::Instant::now();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // Not a terminal (a pipe, a log): print the text report whenever it changes instead.
    let terminal = on_terminal();
    let mut last_text = String::new();
    loop {
        let report = build(&store.list().await?, OffsetDateTime::now_utc());
        let moving = report.migrations.iter().any(|m| m.in_flight && !m.stalled);
        if moving {
            idle_since = tokio::time::Instant::now();
        }
        if !terminal {
            let text = report.render();
            if text != last_text {
                print!("{text}");
                last_text = text;
            }
        }
        header.set_message(format!(
            "{} in flight, {} failed (Ctrl-C to stop; ends {}s after the last copy stops moving)",
            report.in_flight,
            report.failed,
            FOLLOW_IDLE_EXIT.as_secs()
        ));
        for m in &report.migrations {
            let key = (m.index.clone(), m.shard, m.node.clone());
            match bars.get(&key) {
                Some(bar) => set_bar(bar, m),
                None => {
                    let bar = multi.add(bar_for(m));
                    bars.insert(key, bar);
                }
            }
        }
        if idle_since.elapsed() >= FOLLOW_IDLE_EXIT {
            for bar in bars.values() {
                bar.abandon();
            }
            header.abandon_with_message(format!(
                "{} in flight, {} failed: nothing moving",
                report.in_flight, report.failed
            ));
            return Ok(());
        }
        tokio::select! {
            _ = &mut ctrl_c => {
                for bar in bars.values() {
                    bar.abandon();
                }
                header.abandon();
                return Ok(());
            }
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record(phase: MigrationPhase, copied: u64, total: u64) -> MigrationRecord {
        MigrationRecord {
            index: "books".into(),
            shard: 1,
            node: "n4".into(),
            source: "n1".into(),
            phase,
            copied,
            total,
            started_at: "2026-12-04T12:00:00Z".into(),
            updated_at: "2026-12-04T12:00:10Z".into(),
            error: None,
        }
    }

    const NOW: OffsetDateTime = time::macros::datetime!(2026-12-04 12:00:12 UTC);

    #[test]
    fn rate_and_eta_come_from_the_record_and_the_time_since_its_update() {
        let p = progress(&record(MigrationPhase::Copying, 250, 1000), NOW);
        assert_eq!(p.percent, Some(25.0));
        assert_eq!(p.docs_per_sec, Some(25.0));
        // 750 left at 25/s is 30 s from the update, 2 s ago.
        assert_eq!(p.eta_secs, Some(28));
        assert!(p.in_flight && !p.stalled);
        assert!(text_bar(&p).starts_with("[########----------------------]  25% books/1 -> n4 from n1, copying 250/1000, 25 docs/s, ETA 28s"), "{}", text_bar(&p));
    }

    #[test]
    fn no_eta_without_a_rate_or_outside_copying_and_old_records_stall() {
        let mut r = record(MigrationPhase::Copying, 0, 1000);
        r.updated_at = r.started_at.clone();
        let p = progress(&r, NOW);
        assert_eq!((p.docs_per_sec, p.eta_secs), (None, None));
        let p = progress(&record(MigrationPhase::CatchingUp, 1000, 1000), NOW);
        assert_eq!((p.percent, p.eta_secs), (Some(100.0), None));
        let p = progress(&record(MigrationPhase::Copying, 0, 0), NOW);
        assert_eq!(p.percent, None);
        let p = progress(
            &record(MigrationPhase::Copying, 10, 1000),
            NOW + time::Duration::minutes(5),
        );
        assert!(p.stalled && describe(&p).contains("STALLED"));
        let done = progress(
            &record(MigrationPhase::Done, 1000, 1000),
            NOW + time::Duration::hours(1),
        );
        assert!(!done.in_flight && !done.stalled);
        let report = build(
            &[
                record(MigrationPhase::Done, 1, 1),
                record(MigrationPhase::Failed, 1, 2),
                record(MigrationPhase::Copying, 1, 2),
            ],
            NOW,
        );
        assert_eq!((report.in_flight, report.failed), (1, 1));
        assert!(report.migrations[0].in_flight, "in flight first");
    }
}
