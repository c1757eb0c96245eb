"""A Python service traced by Datadog's ddtrace, for the interop tests.

usage: ddtrace_peer.py inject            starts a span, injects its context, prints
                                         {"headers": {...}, "trace_id", "span_id"} as JSON
       ddtrace_peer.py extract HEADERS   extracts HEADERS (a JSON object), starts a span under
                                         that context, prints what it saw as JSON

Configured by DD_* variables (agent URL, service, propagation style, sampling rules); flushes
its spans to the agent before it exits.
"""
import json
import os
import sys

from ddtrace.propagation.http import HTTPPropagator
from ddtrace.trace import tracer


def inject():
    with tracer.trace("py.client", service=os.environ.get("DD_SERVICE", "py-peer")) as span:
        origin = os.environ.get("PEER_ORIGIN")
        if origin:
            span.context.dd_origin = origin
        for key, value in json.loads(os.environ.get("PEER_TRACE_TAGS", "{}")).items():
            span.context._meta[key] = value
        headers = {}
        HTTPPropagator.inject(span.context, headers)
        out = {"headers": headers, "trace_id": str(span.trace_id), "span_id": str(span.span_id)}
    tracer.flush()
    tracer.shutdown()
    print(json.dumps(out))


def extract(raw):
    ctx = HTTPPropagator.extract(json.loads(raw))
    tracer.context_provider.activate(ctx)
    with tracer.trace("py.server", service=os.environ.get("DD_SERVICE", "py-peer")) as span:
        out = {
            "trace_id": str(span.trace_id),
            "parent_id": str(span.parent_id),
            "span_id": str(span.span_id),
            "priority": span.context.sampling_priority,
            "origin": span.context.dd_origin,
            "trace_tags": {k: v for k, v in span.context._meta.items() if k.startswith("_dd.p.")},
        }
    tracer.flush()
    tracer.shutdown()
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "inject":
        inject()
    else:
        extract(sys.argv[2])
