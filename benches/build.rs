//! Records, for the benchmark's reports, the rustc that builds it and a fingerprint of the
//! engine sources it measures (planner, compute, datasets), so results of different engine
//! versions are not compared by accident.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const ENGINE_SOURCES: &[&str] = &["../planner/src", "../compute/src", "../datasets/src", "../datasets/manifests"];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// FNV-1a over (path, contents) of every engine source file, in path order.
fn fingerprint() -> String {
    let mut all = Vec::new();
    for d in ENGINE_SOURCES {
        files(Path::new(d), &mut all);
    }
    all.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for f in &all {
        eat(f.to_string_lossy().as_bytes());
        eat(&fs::read(f).unwrap_or_default());
    }
    format!("{h:016x} ({} files)", all.len())
}

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(&rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SHUYU_BENCH_RUSTC={version}");
    println!("cargo:rustc-env=SHUYU_BENCH_ENGINE_FINGERPRINT={}", fingerprint());
    println!("cargo:rerun-if-env-changed=RUSTC");
    println!("cargo:rerun-if-changed=build.rs");
    for d in ENGINE_SOURCES {
        println!("cargo:rerun-if-changed={d}");
    }
}
