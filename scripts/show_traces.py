#!/usr/bin/env python3
"""Print what reached the test agent: one tree per trace, with the log lines that carry its ids.

usage: show_traces.py AGENT_HTTP_URL [LOG_FILE]
Exits non-zero if the agent reports failed checks or no trace arrived.
"""
import json
import sys
import urllib.request


def get(base, path):
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return json.loads(r.read() or b"null")


def main():
    base = sys.argv[1].rstrip("/")
    logs = []
    if len(sys.argv) > 2:
        with open(sys.argv[2]) as f:
            for line in f:
                try:
                    logs.append(json.loads(line))
                except ValueError:
                    pass
    traces = get(base, "/test/traces") or []
    spans_total = 0
    for chunk_list in traces:
        spans = {s["span_id"]: s for s in chunk_list}
        spans_total += len(spans)
        children = {}
        for s in spans.values():
            children.setdefault(s.get("parent_id") or 0, []).append(s)
        roots = [s for s in spans.values() if (s.get("parent_id") or 0) not in spans]
        first = chunk_list[0]
        tid_high = next((s["meta"].get("_dd.p.tid") for s in chunk_list if "_dd.p.tid" in s.get("meta", {})), None)
        full_id = f"{tid_high}{first['trace_id']:016x}" if tid_high else str(first["trace_id"])
        prio = next((s["metrics"]["_sampling_priority_v1"] for s in chunk_list
                     if "_sampling_priority_v1" in s.get("metrics", {})), None)
        print(f"trace {full_id}  ({len(spans)} spans, sampling priority {prio})")

        def show(span, depth):
            err = "  ERROR: " + span["meta"].get("error.message", "") if span.get("error") else ""
            kind = span.get("meta", {}).get("span.kind")
            extra = f" [{kind}]" if kind else ""
            print(f"  {'  ' * depth}{span['name']} · {span['resource']} · service={span['service']}"
                  f"{extra} · {span['duration'] / 1e6:.1f} ms{err}")
            # Tags the app set with keys known only at run time (DatadogSpanExt::set_tag).
            flags = {k: v for k, v in span.get("meta", {}).items() if k.startswith("feature_flag.")}
            if flags:
                print(f"  {'  ' * depth}  tags: " + ", ".join(f"{k}={v}" for k, v in sorted(flags.items())))
            for child in sorted(children.get(span["span_id"], []), key=lambda s: s["start"]):
                show(child, depth + 1)

        for root in sorted(roots, key=lambda s: s["start"]):
            show(root, 0)
        ids = {full_id, str(first["trace_id"])}
        matched = [l for l in logs if l.get("dd.trace_id") in ids]
        for l in matched:
            span_name = next((s["name"] for s in spans.values() if str(s["span_id"]) == l.get("dd.span_id")), "?")
            header = f" x_trace_id={l['x_trace_id']}" if l.get("x_trace_id") else ""
            print(f"    log [{(l.get('status') or l.get('level') or '').upper()}] {l.get('message') or l.get('error')}{header}  (span {span_name}, {l.get('logger.name')}, "
                  f"dd.service={l.get('dd.service')}, dd.env={l.get('dd.env')}, dd.version={l.get('dd.version')})")
    summary = get(base, "/test/trace_check/summary") or {}
    failed = sum(v.get("Failed_Checks", 0) for v in summary.values())
    passed = sum(v.get("Passed_Checks", 0) for v in summary.values())
    print(f"\n{len(traces)} traces, {spans_total} spans arrived; agent checks: {passed} passed, {failed} failed")
    if failed or not traces:
        sys.exit(1)


if __name__ == "__main__":
    main()
