#!/usr/bin/env bash
# The project's test command (README "Test"). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENSSL_NO_VENDOR="${OPENSSL_NO_VENDOR:-1}"

# 1. Everything, as shipped: unit, integration, sqllogictest and statistical tests.
cargo test --workspace

# 2. With noise switched off (test-only feature): oracle tests against plain DataFusion,
#    the heavy-visitor sensitivity test, and the noise module's noiseless behaviour.
cargo test -p shuyu-compute --features noiseless --lib --test oracle --test sensitivity
