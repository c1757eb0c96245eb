#!/usr/bin/env bash
# The test command: installs the test agent and the Python ddtrace peer if needed, then runs
# every test of the workspace (unit, integration against ddapm-test-agent, interop with
# ddtrace, doc tests). Benchmarks are not built.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-agent.sh install
scripts/test-agent.sh install-peer
cargo test --workspace --exclude dd-trace-benches "$@"
