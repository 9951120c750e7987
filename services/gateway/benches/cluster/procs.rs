//! The service binaries the bench runs as separate processes, and what `/proc` says about them
//! (CPU time, resident memory). A [`Proc`] is killed and reaped when dropped, so an error or a
//! panic anywhere in the bench leaves no process behind.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{Context, Result, bail};

/// The binaries the bench starts, all from the same `target/<profile>/` directory.
pub const BINARIES: [&str; 4] = [
    "miroir-standin",
    "miroir-router",
    "miroir-merger",
    "miroir-gateway",
];

/// Where the service binaries are: next to the bench executable's directory
/// (`target/release/deps/cluster-<hash>` -> `target/release/`).
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// Builds the four binaries in release (a no-op when they are fresh, so the bench never
    /// measures stale code) unless `BENCH_NO_BUILD` is set; a failed build falls back to the
    /// binaries already there, with a warning.
    pub fn locate_and_build() -> Result<Binaries> {
        let exe = std::env::current_exe().context("locating the bench executable")?;
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .context("the bench executable has no grandparent directory")?
            .to_path_buf();
        let bins = Binaries { dir };
        if std::env::var_os("BENCH_NO_BUILD").is_some() {
            println!(
                "BENCH_NO_BUILD set: using the binaries in {}",
                bins.dir.display()
            );
        } else {
            bins.build();
        }
        let missing: Vec<&str> = BINARIES
            .iter()
            .copied()
            .filter(|b| !bins.path(b).is_file())
            .collect();
        if !missing.is_empty() {
            bail!(
                "missing {} in {}: run `cargo build --release -p miroir-standin -p miroir-router -p miroir-merger -p miroir-gateway --bins` first",
                missing.join(", "),
                bins.dir.display()
            );
        }
        Ok(bins)
    }

    fn build(&self) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
        let mut command = Command::new(cargo);
        command.arg("build").arg("--release").arg("--bins");
        command.arg("--manifest-path").arg(&manifest);
        for bin in BINARIES {
            command.arg("-p").arg(bin);
        }
        println!("building the service binaries (release): {command:?}");
        match command.status() {
            Ok(status) if status.success() => {}
            Ok(status) => println!(
                "WARNING: `cargo build` failed ({status}); using whatever binaries are in {}",
                self.dir.display()
            ),
            Err(e) => println!(
                "WARNING: cannot run cargo ({e}); using whatever binaries are in {}",
                self.dir.display()
            ),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// A child process with its output in a log file; killed (SIGKILL) and reaped on drop.
pub struct Proc {
    pub name: String,
    child: std::process::Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `program args...` with every `MIROIR_*` variable removed from its environment, so
    /// that the flags given here are the whole configuration (and a variable meant for one
    /// service cannot trip another one's `deny_unknown_fields`).
    pub fn spawn(name: &str, program: &Path, args: &[String], log_dir: &Path) -> Result<Proc> {
        let log = log_dir.join(format!("{}.log", name.replace(' ', "-")));
        let out =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("MIROIR_") {
                command.env_remove(key);
            }
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        Ok(Proc {
            name: name.to_string(),
            child,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines the process wrote, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // An error means it already exited; reaping still applies.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks per second for `/proc/<pid>/stat` times, from `getconf CLK_TCK`; `(100, false)`
/// when it cannot be read (100 is Linux's value on every common architecture).
pub fn clock_ticks() -> (u64, bool) {
    let measured = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u64>()
                .ok()
        })
        .filter(|&t| t > 0);
    match measured {
        Some(t) => (t, true),
        None => (100, false),
    }
}

/// utime + stime of `pid`, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces and parentheses: fields are counted after the
    // last ')'. There, field 3 (state) is the first, so utime (14) and stime (15) are 11 and 12.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("unexpected /proc/<pid>/stat format")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("no field {} in /proc/{pid}/stat", i + 3))
    };
    Ok(field(11)? + field(12)?)
}

/// A `kB` line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in kB.
pub fn status_kb(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| {
            let value = line.strip_prefix(key)?.strip_prefix(':')?;
            value.trim().trim_end_matches("kB").trim().parse().ok()
        })
        .with_context(|| format!("no {key} in /proc/{pid}/status"))
}

/// CPU time of a set of processes between two points of the run.
#[derive(Clone, Debug)]
pub struct CpuSnapshot {
    ticks: Vec<(String, u32, u64)>,
}

impl CpuSnapshot {
    pub fn take(procs: &[(String, u32)]) -> Result<CpuSnapshot> {
        let ticks = procs
            .iter()
            .map(|(name, pid)| Ok((name.clone(), *pid, cpu_ticks(*pid)?)))
            .collect::<Result<_>>()?;
        Ok(CpuSnapshot { ticks })
    }

    /// CPU microseconds each process used since `self`, in the order the processes were given.
    pub fn since(&self, tick_hz: u64) -> Result<CpuUse> {
        let mut by_proc = Vec::new();
        for (name, pid, before) in &self.ticks {
            let now = cpu_ticks(*pid)?;
            let us = now.saturating_sub(*before) as f64 * 1e6 / tick_hz as f64;
            by_proc.push((name.clone(), us));
        }
        Ok(CpuUse { by_proc })
    }
}

/// Microseconds of CPU per process over some stretch of the run.
#[derive(Clone, Debug, Default)]
pub struct CpuUse {
    pub by_proc: Vec<(String, f64)>,
}

impl CpuUse {
    pub fn add(&mut self, other: &CpuUse) {
        for (name, us) in &other.by_proc {
            match self.by_proc.iter_mut().find(|(n, _)| n == name) {
                Some((_, total)) => *total += us,
                None => self.by_proc.push((name.clone(), *us)),
            }
        }
    }

    /// Total of the processes whose name starts with one of `prefixes`.
    pub fn of(&self, prefixes: &[&str]) -> f64 {
        self.by_proc
            .iter()
            .filter(|(n, _)| prefixes.iter().any(|p| n.starts_with(p)))
            .map(|(_, us)| us)
            .sum()
    }

    /// One line: every process's CPU per operation, in microseconds.
    pub fn per_op_line(&self, ops: usize) -> String {
        let ops = ops.max(1) as f64;
        let mut parts: Vec<String> = Vec::new();
        let mut nodes = 0.0;
        for (name, us) in &self.by_proc {
            if name.starts_with("node") {
                nodes += us;
            } else {
                parts.push(format!("{name} {:.0}", us / ops));
            }
        }
        parts.push(format!("3 nodes {:.0}", nodes / ops));
        parts.join(", ")
    }
}
