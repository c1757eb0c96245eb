#!/usr/bin/env bash
# The test command: installs the test agent if needed, then runs every test of the workspace
# (unit, integration against ddapm-test-agent, doc tests). Benchmarks are not built.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-agent.sh install
cargo test --workspace --exclude dd-trace-benches "$@"
