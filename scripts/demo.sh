#!/usr/bin/env bash
# The main job: start Datadog's test agent on a Unix socket, run the instrumented examples
# against it (configured only by DD_* variables): the example service, two services calling
# each other over HTTP (one distributed trace each), a service instrumented by tower-http and
# OpenTelemetry-style spans, and one whose library uses the opentelemetry API; and print what
# arrived: one tree per trace with the log lines that carry its ids, and the agent's check
# summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-agent.sh install
cargo build --quiet --example service --example distributed --example third_party --example opentelemetry

dir=target/demo-agent
port=${DEMO_AGENT_PORT:-18126}
rm -rf "$dir" && mkdir -p "$dir"
scripts/test-agent.sh run "$dir" "$port" >"$dir/agent.log" 2>&1 &
agent=$!
trap 'kill -TERM $agent 2>/dev/null; wait $agent 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  [ -S "$dir/apm.socket" ] && python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "http://127.0.0.1:$port/info" 2>/dev/null && break
  kill -0 $agent 2>/dev/null || { cat "$dir/agent.log"; exit 1; }
  sleep 0.1
done
[ -S "$dir/apm.socket" ] || { echo "test agent did not start:"; cat "$dir/agent.log"; exit 1; }

echo "== running examples/service.rs against unix://$PWD/$dir/apm.socket"
DD_SERVICE=${DD_SERVICE:-checkout} DD_ENV=${DD_ENV:-demo} DD_VERSION=${DD_VERSION:-1.4.2} \
DD_TAGS=${DD_TAGS:-team:payments,region:eu-west-1} \
DD_TRACE_AGENT_URL="unix://$PWD/$dir/apm.socket" \
  target/debug/examples/service >"$dir/logs.jsonl"
echo "== running examples/distributed.rs (storefront → inventory over HTTP) against the same agent"
DD_SERVICE=storefront DD_ENV=${DD_ENV:-demo} DD_VERSION=${DD_VERSION:-1.4.2} \
DD_TRACE_AGENT_URL="unix://$PWD/$dir/apm.socket" \
  target/debug/examples/distributed >>"$dir/logs.jsonl"
echo "== running examples/third_party.rs (tower-http and OpenTelemetry-style spans, mapped) against the same agent"
DD_SERVICE=catalog DD_ENV=${DD_ENV:-demo} DD_TRACE_AGENT_URL="unix://$PWD/$dir/apm.socket" \
  target/debug/examples/third_party >/dev/null
echo "== running examples/opentelemetry.rs (tracing spans and OpenTelemetry API spans in one trace) against the same agent"
DD_SERVICE=shop DD_ENV=${DD_ENV:-demo} DD_TRACE_AGENT_URL="unix://$PWD/$dir/apm.socket" \
  target/debug/examples/opentelemetry >/dev/null
echo "== what arrived at the agent"
python3 scripts/show_traces.py "http://127.0.0.1:$port" "$dir/logs.jsonl"
