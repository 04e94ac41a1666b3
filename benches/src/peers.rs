//! The DP peers (SmartNoise SQL, OpenDP + Polars, Tumult Analytics, Qrlew, and exact DuckDB
//! as the floor), run by `benches/peers/run_peer.py` in Python virtual environments under
//! `<data-dir>/peers/`, one child process per peer with a wall-clock limit.
//!
//! `--peers` creates the environments when missing (`python3 -m venv` + `pip install -r`
//! `benches/peers/requirements*.txt`); a peer whose environment or package is missing, that
//! fails, or that runs out of time is reported as skipped with the reason, never as a
//! failure of the suite. Each peer runs the three shared queries on shuyu's own generated
//! `residents.parquet` (the same file shuyu reads), at the same epsilons, delta and
//! clamping bounds as shuyu.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shuyu_datasets::demo::DISTRICTS;

use crate::accuracy::{self, Cells};
use crate::runner::Result;
use crate::workload::DELTA;

/// A peer: its name, the environment it needs, and a note for the report.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// Name (`--peer-list` selects by it).
    pub name: &'static str,
    /// Environment folder under `<data-dir>/peers/`.
    pub venv: &'static str,
    /// Whether it is differentially private (the exact floor is not).
    pub private: bool,
}

/// Every peer the suite knows, in run order.
pub const PEERS: &[Peer] = &[
    Peer { name: "exact_duckdb", venv: ".venv", private: false },
    Peer { name: "smartnoise", venv: ".venv", private: true },
    Peer { name: "opendp_polars", venv: ".venv", private: true },
    Peer { name: "qrlew_duckdb", venv: ".venv", private: true },
    Peer { name: "tumult", venv: ".venv-tmlt", private: true },
];

/// Requirements file of each environment (relative to the workspace root).
fn requirements(venv: &str) -> &'static str {
    if venv == ".venv-tmlt" {
        "benches/peers/requirements-tmlt.txt"
    } else {
        "benches/peers/requirements.txt"
    }
}

/// The peer runner script.
pub const SCRIPT: &str = "benches/peers/run_peer.py";

/// Measures of each shared query, in result-column order (the runner's cell names).
pub fn measures(query: &str) -> &'static [&'static str] {
    match query {
        "Q1" => &["count"],
        "Q2" => &["count", "sum"],
        _ => &["avg"],
    }
}

/// The named peers (all when empty); unknown names are an error.
pub fn select(names: &[String]) -> std::result::Result<Vec<Peer>, String> {
    if names.is_empty() {
        return Ok(PEERS.to_vec());
    }
    names
        .iter()
        .map(|n| {
            PEERS.iter().find(|p| p.name == n).copied().ok_or_else(|| {
                format!("unknown peer {n}; known: {}", PEERS.iter().map(|p| p.name).collect::<Vec<_>>().join(", "))
            })
        })
        .collect()
}

fn python(root: &Path, venv: &str) -> PathBuf {
    root.join(venv).join("bin").join("python")
}

/// Creates the environments the peers need under `root` when missing, with the
/// interpreter `python3` (the pinned packages need Python 3.11). Failures are
/// returned per environment (the peers in it are then skipped).
pub fn ensure_venvs(root: &Path, peers: &[Peer], python3: &str) -> Vec<(&'static str, String)> {
    let mut failed = Vec::new();
    let mut venvs: Vec<&'static str> = peers.iter().map(|p| p.venv).collect();
    venvs.dedup();
    for v in venvs {
        if python(root, v).exists() {
            continue;
        }
        eprintln!("peers: creating {} (pip install -r {}) ...", root.join(v).display(), requirements(v));
        let made = std::fs::create_dir_all(root)
            .map_err(|e| e.to_string())
            .and_then(|()| run_ok(Command::new(python3).args(["-m", "venv"]).arg(root.join(v))))
            .and_then(|()| run_ok(Command::new(python(root, v)).args(["-m", "pip", "install", "-q", "-r", requirements(v)])));
        if let Err(e) = made {
            eprintln!("peers: environment {v} could not be created: {e}");
            failed.push((v, e));
        }
    }
    failed
}

fn run_ok(cmd: &mut Command) -> std::result::Result<(), String> {
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().map_err(|e| format!("could not start: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!("exited with {}: {}", out.status, err.lines().rev().take(3).collect::<Vec<_>>().join(" / ")))
    }
}

/// One peer's query at one epsilon.
#[derive(Debug, Clone)]
pub struct PeerRun {
    /// `Q1`..`Q3`.
    pub query: String,
    /// Epsilon.
    pub epsilon: f64,
    /// Wall time of each release.
    pub times: Vec<Duration>,
    /// Each release's cells (positional measures).
    pub answers: Vec<Cells>,
}

/// What one peer did at one size.
#[derive(Debug, Clone)]
pub struct PeerResult {
    /// The peer.
    pub peer: Peer,
    /// `ok`, `skipped`, `error` or `timeout`.
    pub status: String,
    /// Why it did not run (for anything but `ok`).
    pub reason: Option<String>,
    /// One-time load.
    pub load: Option<Duration>,
    /// Its runs.
    pub runs: Vec<PeerRun>,
    /// Package versions.
    pub versions: Value,
    /// The runner's notes (how the peer was configured).
    pub notes: Vec<String>,
    /// Peak RSS (VmHWM) of the peer's Python process, bytes;
    /// Spark's JVM, still running when it is read, is not included.
    pub peak_rss: Option<u64>,
}

impl PeerResult {
    fn skipped(peer: Peer, status: &str, reason: String) -> Self {
        PeerResult { peer, status: status.into(), reason: Some(reason), load: None, runs: Vec::new(), versions: Value::Null, notes: Vec::new(), peak_rss: None }
    }

    /// The run of `query` at `epsilon`.
    pub fn run(&self, query: &str, epsilon: f64) -> Option<&PeerRun> {
        self.runs.iter().find(|r| r.query == query && (r.epsilon - epsilon).abs() < 1e-12)
    }
}

/// What the peers run at one size.
#[derive(Debug, Clone)]
pub struct Job {
    /// The residents Parquet file.
    pub parquet: PathBuf,
    /// Its rows.
    pub rows: u64,
    /// Epsilons.
    pub epsilons: Vec<f64>,
    /// Releases per query and epsilon.
    pub reps: usize,
    /// Wall-clock limit of one peer.
    pub timeout: Duration,
    /// Scratch folder.
    pub work_dir: PathBuf,
}

/// Runs `peer` on `job` with the environments under `root`.
pub fn run(root: &Path, peer: Peer, job: &Job) -> PeerResult {
    // Absolute (the child runs in the scratch folder) but not resolved: the venv's python is
    // a symlink to the base interpreter, and only the link's path selects the venv.
    let py = match std::path::absolute(python(root, peer.venv)) {
        Ok(p) if p.exists() => p,
        _ => return PeerResult::skipped(peer, "skipped", format!("no environment {} (run with --peers to create it)", root.join(peer.venv).display())),
    };
    match run_child(&py, peer, job) {
        Ok(r) => r,
        Err(e) => PeerResult::skipped(peer, "error", e.to_string()),
    }
}

fn run_child(py: &Path, peer: Peer, job: &Job) -> Result<PeerResult> {
    std::fs::create_dir_all(&job.work_dir)?;
    let work_dir = std::fs::canonicalize(&job.work_dir)?;
    let job_file = work_dir.join(format!("job-{}.json", peer.name));
    let out_file = work_dir.join(format!("result-{}.json", peer.name));
    let _ = std::fs::remove_file(&out_file);
    let spec = json!({
        "parquet": std::fs::canonicalize(&job.parquet)?.display().to_string(),
        "rows": job.rows,
        "districts": DISTRICTS,
        "age_bounds": [0, 100],
        "income_bounds": [0.0, 200000.0],
        "epsilons": job.epsilons,
        "delta": DELTA,
        "reps": job.reps,
        "work_dir": std::fs::canonicalize(&job.work_dir)?.display().to_string(),
    });
    std::fs::write(&job_file, serde_json::to_vec(&spec)?)?;
    let log = std::fs::File::create(job.work_dir.join(format!("log-{}.txt", peer.name)))?;
    // Run in the scratch folder: Spark leaves a warehouse folder and a database behind.
    let script = std::fs::canonicalize(SCRIPT).map_err(|e| format!("{SCRIPT} not found from the current folder (run from the workspace root): {e}"))?;
    let mut child = Command::new(py)
        .current_dir(&job.work_dir)
        .arg(script)
        .args(["--peer", peer.name, "--job"])
        .arg(&job_file)
        .arg("--out")
        .arg(&out_file)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let start = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if start.elapsed() > job.timeout {
            // Our own child, by its handle. Spark's JVM is the child's child: it exits
            // when its parent's pipe closes.
            let _ = child.kill();
            let _ = child.wait();
            let why = format!("exceeded {} s (--peer-timeout); the queries it finished are kept", job.timeout.as_secs());
            let partial = std::fs::read_to_string(&out_file).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok());
            return Ok(match partial {
                Some(v) => {
                    let mut r = parse(peer, &v)?;
                    r.status = "timeout".into();
                    r.reason = Some(why);
                    r
                }
                None => PeerResult::skipped(peer, "timeout", why),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = std::fs::read_to_string(&out_file).map_err(|e| format!("the peer wrote no result ({e}); see {}", job.work_dir.display()))?;
    parse(peer, &serde_json::from_str(&text)?)
}

fn parse(peer: Peer, v: &Value) -> Result<PeerResult> {
    let status = v["status"].as_str().unwrap_or("error").to_string();
    if status != "ok" && status != "partial" {
        return Ok(PeerResult::skipped(peer, &status, v["reason"].as_str().unwrap_or("no reason given").to_string()));
    }
    let mut runs = Vec::new();
    for r in v["runs"].as_array().into_iter().flatten() {
        let query = r["query"].as_str().unwrap_or_default().to_string();
        let m = measures(&query);
        runs.push(PeerRun {
            epsilon: r["epsilon"].as_f64().unwrap_or(f64::NAN),
            times: r["times_s"].as_array().into_iter().flatten().filter_map(Value::as_f64).map(Duration::from_secs_f64).collect(),
            answers: r["answers"].as_array().into_iter().flatten().filter_map(Value::as_object).map(|c| accuracy::from_peer(c, m)).collect(),
            query,
        });
    }
    Ok(PeerResult {
        peer,
        status,
        reason: None,
        load: v["load_s"].as_f64().map(Duration::from_secs_f64),
        runs,
        versions: v["versions"].clone(),
        notes: v["notes"].as_array().into_iter().flatten().filter_map(|n| n.as_str().map(str::to_string)).collect(),
        peak_rss: v["peak_rss_bytes"].as_u64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_result_keeps_its_finished_runs_and_an_error_is_a_skip_with_its_reason() {
        let v = json!({
            "status": "partial", "load_s": 1.5, "versions": {"duckdb": "2.0.0"}, "notes": ["n"], "peak_rss_bytes": 1024,
            "runs": [{"query": "Q2", "epsilon": 1.0, "times_s": [0.25, 0.5], "answers": [{"A|count": 3.0, "A|sum": 9.0}, {"A|count": 4.0}]}],
        });
        let r = parse(PEERS[1], &v).expect("parsed");
        assert_eq!(r.load, Some(Duration::from_millis(1500)));
        let run = r.run("Q2", 1.0).expect("the Q2 run");
        assert_eq!(run.times, vec![Duration::from_millis(250), Duration::from_millis(500)]);
        assert_eq!(run.answers[0].get("A|m1"), Some(&9.0));
        assert_eq!(run.answers[1].len(), 1);
        assert!(r.run("Q2", 0.5).is_none());
        let e = parse(PEERS[1], &json!({"status": "skipped", "reason": "not installed: duckdb"})).expect("parsed");
        assert_eq!((e.status.as_str(), e.reason.as_deref()), ("skipped", Some("not installed: duckdb")));
        assert!(e.runs.is_empty());
    }

    #[test]
    fn peers_are_selected_by_name() {
        assert_eq!(select(&[]).expect("all").len(), PEERS.len());
        assert_eq!(select(&["tumult".into()]).expect("one")[0].venv, ".venv-tmlt");
        assert!(select(&["nope".into()]).is_err());
    }
}
