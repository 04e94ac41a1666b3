//! The `shuyu` binary's command line, without a server: what it offers, and refusals of
//! incomplete invocations that say what to supply. (The service end to end, and the binary's
//! custodian, keyholder and admin commands against a server, are tested in the workspace's
//! `tests/` crate, which runs the binary this test makes cargo build.)

use std::process::Command;

fn shuyu(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shuyu"))
        .args(args)
        .env_remove("SHUYU_TOKEN")
        .env_remove("SHUYU_ENDPOINT")
        .env("RUST_LOG", "off")
        .output()
        .expect("run shuyu");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn help_lists_every_command() {
    let (ok, out, err) = shuyu(&["--help"]);
    assert!(ok, "{err}");
    for command in ["demo", "serve", "admin", "cluster", "keys", "encrypt", "keyholder"] {
        assert!(out.lines().any(|l| l.trim_start().starts_with(command)), "`{command}` missing from:\n{out}");
    }
}

#[test]
fn an_unknown_command_is_a_usage_error_naming_it() {
    let (ok, _, err) = shuyu(&["frobnicate"]);
    assert!(!ok);
    assert!(err.contains("frobnicate"), "{err}");
}

#[test]
fn serving_a_missing_configuration_file_names_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-config.toml");
    let (ok, _, err) = shuyu(&["serve", "--config", &missing.to_string_lossy()]);
    assert!(!ok, "serving without a configuration file must fail");
    assert!(err.contains("no-such-config.toml"), "{err}");
}
