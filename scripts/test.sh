#!/usr/bin/env bash
# The project's test command (README "Test"). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENSSL_NO_VENDOR="${OPENSSL_NO_VENDOR:-1}"

# 1. Everything, as shipped: unit, integration, sqllogictest, statistical and end-to-end
#    Flight SQL tests, and the web console in a real browser (tests/tests/console_browser.rs:
#    headless Chromium through a chromedriver it starts on a free loopback port; it needs
#    Debian's `chromium` and `chromium-driver`, which .ci/run installs, and fails without
#    them). Its screenshots of the main pages go to $CARGO_TARGET_DIR/console-screenshots/
#    (target/console-screenshots/ without CARGO_TARGET_DIR; SHUYU_SCREENSHOTS overrides).
cargo test --workspace

# 1a. Every governance test again with the store on PostgreSQL: a private cluster on a unix
#     socket (scripts/postgres.sh; Debian's `postgresql`, which .ci/run installs), one fresh
#     database per test fixture (SHUYU_TEST_POSTGRES, read by governance/tests/common).
# In /tmp: the server runs as the postgres user, which must reach the directory.
pgdir="$(mktemp -d /tmp/shuyu-pg.XXXXXX)"
trap 'scripts/postgres.sh stop "$pgdir" || true; rm -rf "$pgdir"' EXIT
SHUYU_TEST_POSTGRES="$(scripts/postgres.sh start "$pgdir")" cargo test -p shuyu-governance --tests
scripts/postgres.sh stop "$pgdir"

# 1b. The criterion benchmarks still compile (dev profile here; `cargo bench` runs them in
#     release).
cargo build --workspace --benches --profile dev

# 2. With noise switched off (test-only feature): oracle tests against plain DataFusion,
#    the heavy-visitor sensitivity test, and the noise module's noiseless behaviour.
#    Without the default `encrypted` feature: this step then builds no TFHE-rs of its own.
#    `cluster_oracle`: the same oracle cases on an in-process Ballista cluster (a scheduler and
#    two executors on loopback), identical to the local engine.
cargo test -p shuyu-compute --no-default-features --features noiseless --lib --test oracle --test sensitivity --test cluster_oracle

# 3. A data scientist's session from Python: `shuyu demo` serving Flight SQL, queried with
#    the ADBC driver and read into polars. The venv is kept between runs.
venv="${SHUYU_VENV:-$HOME/.cache/shuyu/venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check adbc-driver-flightsql pyarrow polars pytest
cargo build -p shuyu
target_dir="${CARGO_TARGET_DIR:-target}"
export SHUYU_BIN="$target_dir/debug/shuyu"
"$venv/bin/python" -m pytest -q tests/python
