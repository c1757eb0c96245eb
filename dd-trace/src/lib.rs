//! Datadog APM tracing for Rust services: a [`tracing_subscriber::Layer`] that turns `tracing`
//! spans into Datadog spans and sends them to the Datadog agent.
//!
//! The layer records spans on the app's threads without I/O, encoding or locks shared across
//! traces; a finished trace is handed to a bounded queue, and a background worker (its own
//! thread and tokio runtime) encodes it as msgpack and sends it to the agent over its Unix socket
//! or TCP. A full queue or a failing agent drops and counts traces; it never blocks the app.
//!
//! # Quick start
//!
//! The common case, configured by `DD_*` environment variables:
//!
//! ```
//! # std::env::set_var("DD_TRACE_ENABLED", "false");
//! let _guard = dd_trace::init(); // hold it until the app exits: dropping it flushes
//! let span = tracing::info_span!("request", resource.name = "GET /users/{id}");
//! span.in_scope(|| { /* handle the request */ });
//! ```
//!
//! Composed into your own subscriber, with other layers beside it (the `dd-trace-log` crate
//! adds `dd.trace_id`/`dd.span_id` to every log line):
//!
//! ```
//! use tracing_subscriber::prelude::*;
//!
//! let (datadog, guard) = dd_trace::DatadogLayer::builder()
//!     .with_service("checkout") // overrides DD_SERVICE
//!     # .with_enabled(false)
//!     .build()?;
//! let subscriber = tracing_subscriber::registry()
//!     .with(datadog)
//!     .with(tracing_subscriber::fmt::layer());
//! # let _default = tracing::subscriber::set_default(subscriber);
//! # /*
//! subscriber.init();
//! # */
//! // ... run the app ...
//! let delivered = guard.shutdown(std::time::Duration::from_secs(5))?;
//! println!("{delivered}"); // sent N spans, dropped M (…why)
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Filters: on the log layer, not in front of the Datadog layer
//!
//! A filter added with `.with(EnvFilter…)` is *global*: it decides for every layer, so with
//! `RUST_LOG` unset or at `warn` no `info_span!` reaches the Datadog layer and nothing is traced
//! (the tracer says so once on stderr; the doctor reports it). Filter the layer that writes logs
//! instead, and let the Datadog layer see spans down to `DEBUG` (tower-http's `TraceLayer`
//! makes `DEBUG` spans):
//!
//! ```
//! use tracing_subscriber::{filter::LevelFilter, prelude::*, EnvFilter};
//!
//! let (datadog, guard) = dd_trace::DatadogLayer::builder()
//!     # .with_enabled(false)
//!     .build()?;
//! let logs = tracing_subscriber::fmt::layer().with_filter(EnvFilter::from_default_env());
//! let subscriber = tracing_subscriber::registry()
//!     .with(datadog.with_filter(LevelFilter::DEBUG)) // or no filter: every span
//!     .with(logs);
//! # let _default = tracing::subscriber::set_default(subscriber);
//! # /*
//! subscriber.init();
//! # */
//! # drop(guard);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Is it working?
//!
//! `DD_TRACE_DOCTOR=true` makes the app print the doctor's diagnosis a few seconds after start:
//! whether its subscriber lets spans reach the tracer, the `DD_*`/`OTEL_*` variables set that
//! dd-trace does not read, the agent's address, the connection, `/info`, and a test trace the
//! agent must accept. [`diagnose`] returns the same from code. Every shutdown prints one line,
//! `sent N spans, dropped M (…why)`, and [`DatadogGuard::shutdown`] returns it.
//!
//! # How spans map to Datadog spans
//!
//! Every `tracing` span becomes a Datadog span with a random non-zero 64-bit span id, in the trace
//! of its parent (the contextual parent, or the explicit `parent:`), across threads and `.await`
//! points. A span without a parent starts a new trace with a 128-bit trace id (its start second in
//! the high bits). Fields map as follows:
//!
//! | `tracing` field | Datadog |
//! |---|---|
//! | the span's name | operation `name`, and `resource` unless set |
//! | `operation.name` | overrides the operation `name` |
//! | `resource.name` (or `resource`) | `resource`, e.g. `GET /users/{id}` |
//! | `service.name` | `service`; a span without one takes its nearest ancestor's (even one set after the span started), else `DD_SERVICE`; spans of another service get `_dd.base_service` and no `version` |
//! | `span.type` | `type`: `web`, `db`, `cache`, `http`, … |
//! | `span.kind` (or `otel.kind`) | `span.kind` meta; `server`/`client`/`producer`/`consumer`/`internal` |
//! | `otel.name` | the operation `name` (see OpenTelemetry's conventions below) |
//! | `error = true` (or a non-zero number) | `error = 1` (`false` or 0: no error) |
//! | `error = <value>` (e.g. `%e`, or an `&dyn Error`) | `error = 1`, `error.message`; an error's sources go to `error.stack` |
//! | `error.message`, `error.type`, `error.stack` | those tags, and `error = 1` |
//! | `http.status_code` | a string tag, as Datadog expects, even when recorded as a number |
//! | `manual.keep` / `manual.drop` (any value but `false`) | keeps / drops the whole trace (see Sampling); not a tag |
//! | `env`, `version`, `service` | never the unified service tags (`DD_ENV`, `DD_VERSION`, `DD_SERVICE` stay): the tags `field.env`, `field.version`, `field.service` |
//! | any other string, bool or `Debug`/`Display` field | a `meta` tag |
//! | any other number | a `metrics` entry |
//!
//! Fields recorded later with [`tracing::Span::record`] are applied (declare them with
//! `tracing::field::Empty`). An ERROR-level event inside a span, such as the one
//! `#[instrument(err)]` emits, marks the span as an error with its `error` (or message) field as
//! `error.message`. A panic marks the innermost span dd-trace records on the panicking thread as
//! an error (`error.type` `panic`, the message, where it panicked, and the backtrace when
//! `RUST_BACKTRACE` asks for one), through a panic hook that then runs the app's own; the span
//! is sent when unwinding closes it (with `panic = "abort"`, nothing closes: the hook has the
//! tracer send what has finished, within a second, before the process ends;
//! `DD_TRACE_PANIC_ERRORS_ENABLED=false` or
//! [`DatadogLayerBuilder::with_panic_errors`] turns this off). `span.follows_from(other)` adds
//! a span link to `other`.
//!
//! ## Spans written with OpenTelemetry's conventions
//!
//! Spans from code written for `tracing-opentelemetry` or OpenTelemetry's semantic conventions
//! (a span is taken to be one when it gives its kind as `otel.kind`, or has `otel.name`,
//! `otel.status_code`, or an attribute of the conventions' current names such as
//! `http.request.method`, `url.full`, `db.query.text`, `messaging.system`, `rpc.system`) are
//! named, typed and marked as the Datadog agent does the same spans over OTLP. The older
//! attribute names (`http.method`, `http.status_code`, `db.statement`, …) are read too. Fields set
//! the Datadog way (`operation.name`, `resource.name`, `span.type`, `error`) always win; spans
//! written the Datadog way are left as they are. The worker does this: the app's threads pay
//! nothing for it.
//!
//! | the span | operation `name` | `resource` | `type` |
//! |---|---|---|---|
//! | HTTP server (`otel.kind = "server"`, `http.request.method`) | `http.server.request` | method and `http.route`: `GET /users/{id}` | `web` |
//! | HTTP client (`otel.kind = "client"`, `http.request.method`) | `http.client.request` | the method | `http` |
//! | database client (`db.system` or `db.system.name`) | `<db.system>.query`: `postgresql.query` | `db.query.text` or `db.statement` | `sql`, `redis`, `mongodb`, `cassandra`, … (`db` for others) |
//! | messaging (`messaging.system`, `messaging.operation`) | `<system>.<operation>`: `kafka.send` | operation and destination: `send orders` | `custom` |
//! | RPC (`rpc.system`) | `grpc.client.request`, `grpc.server.request`; `aws.<service>.request` for `aws-api` | `rpc.method` and `rpc.service` | `web` / `http` |
//! | GraphQL (`graphql.operation.type`) | `graphql.server.request` | operation type and name | by kind |
//! | FaaS (`faas.trigger`, `faas.invoked_provider`) | `<trigger>.invoke`, `<provider>.<name>.invoke` | the span's name | by kind |
//! | other server / client spans | `<network.protocol.name>.server.request` (or `server.request`), `….client.request` | the span's name | `web` / `http` |
//! | OpenTelemetry API spans (`DatadogTracerProvider`, feature `opentelemetry`) of none of the above | their kind: `internal`, `producer`, `consumer` (`server.request`, `client.request`) | their OpenTelemetry name | by kind |
//! | other spans | `otel.name`, else the span's name | the same | `custom` |
//!
//! `http.request.method`, `http.response.status_code`, `url.full`, `server.address`,
//! `client.address`, `user_agent.original`, `network.protocol.version` and the body sizes go under
//! Datadog's names (`http.method`, `http.status_code`, `http.url`, `http.server_name`,
//! `http.client_ip`, `http.useragent`, `http.version`, …), request headers under
//! `http.request.headers.<name>`; a client span's `server.address` is also its `out.host`.
//! `otel.status_code = "ERROR"` makes the span an error (`otel.status_description` its
//! message); without a status, so does an HTTP status in `DD_TRACE_HTTP_SERVER_ERROR_STATUSES`
//! (server spans, default 500–599) or `DD_TRACE_HTTP_CLIENT_ERROR_STATUSES` (client spans,
//! default 400–599), with a message such as `503 Service Unavailable`, and a gRPC status
//! (`rpc.grpc.status_code`) as OpenTelemetry's conventions say (any status but OK for a client;
//! UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS for a server;
//! `DD_TRACE_GRPC_CLIENT_ERROR_STATUSES` and `DD_TRACE_GRPC_SERVER_ERROR_STATUSES` change them);
//! `otel.status_code = "OK"` keeps it from being one.
//!
//! Every span's `http.url`, whoever wrote it, has the secrets in its query string (passwords,
//! tokens, keys, signatures, bearer tokens, JWTs, private keys: Datadog's default pattern, or
//! `DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP`; empty turns it off) replaced by `<redacted>` before
//! it leaves the process. dd-trace's own HTTP integrations write URLs without their query string.
//!
//! The HTTP integrations also tag their spans with the request and response headers
//! `DD_TRACE_HEADER_TAGS` names (`x-tenant:tenant` → `tenant`; a header alone →
//! `http.request.headers.<name>` / `http.response.headers.<name>`), and server spans with
//! `http.client_ip` (the first public address of the forwarding headers) when
//! `DD_TRACE_CLIENT_IP_ENABLED` is on; a framework of your own gets the same through
//! [`DatadogSpanExt::set_request_headers`] and [`DatadogSpanExt::set_response_headers`].
//!
//! Each span also carries `env`, `version` (only for spans of `DD_SERVICE`), the `DD_TAGS`, and
//! `_dd.top_level` or `_dd.measured` as the agent needs for its stats; the first span of each
//! chunk and the trace's local root carry the trace-level tags (`_sampling_priority_v1`,
//! `_dd.p.dm`, `_dd.p.tid`, `language`, `runtime-id`, `process_id`). These are added by the
//! worker, not on the app's threads.
//!
//! # Writing to a span from code
//!
//! [`DatadogSpanExt`] adds Datadog methods to `tracing::Span` handles: tags whose keys are only
//! known at run time (a tenant, a feature flag, an HTTP header), the resource, the service, an
//! error, and the span's ids, e.g. to return the trace id to the caller:
//!
//! ```
//! use dd_trace::DatadogSpanExt;
//!
//! # let tracer = dd_trace::testing::TestTracer::new();
//! # tracer.in_scope(|| {
//! let span = tracing::info_span!("request");
//! let _entered = span.enter();
//! let current = tracing::Span::current();
//! for (flag, on) in [("checkout_v2", true)] {
//!     current.set_tag(format!("feature.{flag}"), on);
//! }
//! current.set_resource("POST /orders");
//! let header = current.datadog_ids().map(|ids| ids.trace_id.to_string()); // "x-trace-id: …"
//! # assert!(header.is_some());
//! # });
//! # assert_eq!(tracer.spans()[0].meta["feature.checkout_v2"], "true");
//! ```
//!
//! The methods work for any subscriber with a [`DatadogLayer`] in its stack and do nothing
//! otherwise. Inside another layer, [`ids_of`] reads the ids from a `SpanRef`, which is how the
//! `dd-trace-log` formatter finds them.
//!
//! # Distributed tracing
//!
//! A request that crosses services forms one trace when each hop hands on its context in
//! headers. [`propagation::extract`] reads an incoming request's headers (Datadog's
//! `x-datadog-*`, W3C `traceparent`/`tracestate`, B3, W3C `baggage`) and
//! [`DatadogSpanExt::set_parent`] makes the result the server span's remote parent: the trace
//! id, the caller's sampling decision, origin, propagated tags and baggage carry on here.
//! [`DatadogSpanExt::inject_context`] writes the current span's context into an outgoing
//! request's headers (and locks the trace's sampling decision). Carriers implement
//! [`propagation::Extractor`] / [`propagation::Injector`]; `http::HeaderMap` does. See the
//! [`propagation`] module for an example and the styles.
//!
//! Ready-made, one line each, behind cargo features (default features stay lean):
//!
//! | feature | what | |
//! |---|---|---|
//! | `tower` | `integrations::tower::DatadogServerLayer` for servers (axum, hyper, tonic), `DatadogClientLayer` for tower clients | server span continues the caller's trace; client span hands it on |
//! | `axum` | `tower`, and axum's matched route as `http.route` and in the resource (`GET /users/{id}`) | apply with `Router::layer` |
//! | `reqwest` | `integrations::reqwest::DatadogMiddleware` for `reqwest_middleware` | |
//! | `tonic` | `integrations::grpc::DatadogGrpcServerLayer` for tonic servers, `DatadogGrpcClientLayer` for tonic clients (tested with tonic 0.14) | `rpc.*` tags, `grpc.server.request` / `grpc.client.request`, gRPC statuses as errors; the trace crosses the call in its metadata |
//! | `opentelemetry` | `integrations::opentelemetry::DatadogPropagator`, an OpenTelemetry `TextMapPropagator` | for crates that propagate through OpenTelemetry |
//! | `client-stats` | client-side trace stats (`DD_TRACE_STATS_COMPUTATION_ENABLED`) and not sending unsampled traces | Datadog's `libdd-ddsketch`; Rust 1.87+ |
//!
//! **Timing.** A span starts when it is created and ends when it is last exited (if it was ever
//! entered), else when it closes: the `Registry` keeps a parent open while any child lives, so a
//! request span that spawned a longer background task still ends when the request did.
//!
//! **Traces.** A trace's finished spans leave together when its last span closes. A trace that
//! buffers [`config::MAX_BUFFERED_SPANS_PER_TRACE`] finished spans (or
//! `DD_TRACE_PARTIAL_FLUSH_MIN_SPANS` with partial flushing on) sends them early as a partial
//! chunk, so memory stays bounded however long a trace runs.
//!
//! # Sampling
//!
//! Sampling decides which traces Datadog ingests; it means here exactly what it means in
//! Datadog's Go, Java and Python tracers, so a trace crossing services in several languages gets
//! one decision. The decision is made once per trace, when its local root starts (after the
//! fields it was created with are recorded), as a *priority* on the root and the first span of
//! each chunk (`_sampling_priority_v1`):
//!
//! | priority | meaning | set by |
//! |---|---|---|
//! | 2 (`USER_KEEP`) | ingested, kept by the backend's retention | a rule (within the rate limit), `manual.keep` |
//! | 1 (`AUTO_KEEP`) | ingested | the agent's rate, or the default when nothing else applies |
//! | 0 (`AUTO_REJECT`) | not ingested (counted in the agent's stats) | the agent's rate |
//! | −1 (`USER_REJECT`) | not ingested (counted in the agent's stats) | a rule, the rate limiter, `manual.drop` |
//!
//! In order, the first that applies decides:
//!
//! 1. **`manual.keep` / `manual.drop`**: a field of that name on any span of the trace (any
//!    value but `false`), or [`DatadogSpanExt::keep_trace`] / [`DatadogSpanExt::drop_trace`];
//!    decision maker `-4`. A manual decision is never overridden.
//! 2. **The upstream's decision**: a trace continued from another service
//!    ([`DatadogSpanExt::set_parent`]) keeps the priority and decision maker its headers carry;
//!    nothing here samples it again.
//! 3. **Trace rules**, `DD_TRACE_SAMPLING_RULES`, in order: the first rule whose patterns all
//!    match the root decides. `DD_TRACE_SAMPLE_RATE` is a last rule that matches everything. A
//!    rule keeps the trace when the trace id passes Knuth's hash at the rule's `sample_rate`, and
//!    the rate limiter (`DD_TRACE_RATE_LIMIT`, 100 traces/s by default) lets it through: priority
//!    2, else −1; decision maker `-3`; tags `_dd.rule_psr` (the rule's rate), `_dd.p.ksr`, and
//!    `_dd.limit_psr` (the limiter's effective rate) when the limiter was asked.
//! 4. **The agent's rates** (`rate_by_service` in its replies, for the root's service and
//!    `DD_ENV`, else the agent's default): priority 1 or 0 by the same hash; decision maker
//!    `-1`; `_dd.agent_psr` and `_dd.p.ksr`. A rate the agent raises is applied at most twice
//!    the previous rate per second.
//! 5. Otherwise the trace is kept with priority 1 (`_dd.p.dm = -0`).
//!
//! While the root is open and the decision is not locked (by the first injection of the
//! trace's context into outgoing headers, or the root's end), recording a resource, a service or
//! a tag on the root runs the rules again: a rule on `resource.name` applies even when the
//! resource is only known after routing. Every chunk is still sent: the agent computes its stats
//! on all of them and drops what the priority says.
//!
//! Rules are a JSON array of objects with `service`, `name` (operation name), `resource` and
//! `tags` patterns (absent means any) and a `sample_rate` (default 1) (span rules also take
//! `max_per_second`, trace rules `provenance`); a rule with any other key (a misspelt
//! `"resouce"` would otherwise match every trace) is skipped with a warning. Patterns are globs: `*`
//! any run of characters, `?` one character, case-insensitive, over the whole value; there are
//! no classes or escapes. A tag pattern matches a string tag, or a numeric tag with an integer
//! value as its decimal text (`http.status_code` is always a string tag):
//!
//! ```text
//! DD_TRACE_SAMPLING_RULES='[
//!   {"service": "checkout", "resource": "GET /health*", "sample_rate": 0},
//!   {"tags": {"http.status_code": "5??"}, "sample_rate": 1},
//!   {"service": "checkout*", "sample_rate": 0.25}
//! ]'
//! DD_TRACE_SAMPLE_RATE=0.05
//! ```
//!
//! A value that is not a JSON array, or a rule that is not valid, prints one warning naming the
//! variable and the rule; that rule is skipped and the others apply. In code, use
//! [`TraceSamplingRule`] with [`DatadogLayerBuilder::with_trace_sampling_rule`].
//!
//! **Single-span sampling.** In a trace the trace sampler dropped, the spans matching a span rule
//! (`DD_SPAN_SAMPLING_RULES`, or a file named by `DD_SPAN_SAMPLING_RULES_FILE`: the same JSON
//! with `service`, `name`, `resource`, `tags`, `sample_rate` and `max_per_second`) are kept by
//! a hash of their span id, at most `max_per_second` a second per rule, and tagged
//! `_dd.span_sampling.mechanism = 8`, `_dd.span_sampling.rule_rate` and
//! `_dd.span_sampling.max_per_second`, so Datadog ingests them on their own. In code:
//! [`SpanSamplingRule`].
//!
//! The rules in effect and the agent's rates as applied are in [`TracerStatus::sampling`](diagnostics::TracerStatus::sampling).
//!
//! # Delivery
//!
//! The hand-off queue holds [`config::DEFAULT_QUEUE_CAPACITY`] finished chunks; when it is full
//! a new chunk is dropped and counted, and the first such drop prints one warning with what to
//! do. The worker drains the queue at least every 50 ms (and as soon as it is half full) and
//! never waits for the agent while it does: encoded payloads go into a **retry buffer** bounded
//! by bytes ([`config::DEFAULT_RETRY_BUFFER_BYTES`], `DD_TRACE_RETRY_BUFFER_BYTES`), which
//! sends them oldest first, two requests in flight at most, every second (or as soon as a
//! payload passes 2 MiB). Span records go back to the app's threads for reuse once encoded, so
//! a steady stream of spans allocates almost nothing.
//!
//! The worker asks the agent's `/info` at start, and again whenever the agent's answers carry
//! a new `Datadog-Agent-State`; the status shows what it said. Payloads are in the newest
//! format the agent lists: v1.0 (`/v1.0/traces`, a streamed string table and typed
//! attributes, the agent's own representation), else v0.5 (a string table; not when the app
//! records span events the agent reads natively, which v0.5 has no field for), else v0.4.
//! Measured in `benches/span_overhead.rs` (paced): 95 wire bytes per span for v1.0, 78 for
//! v0.5, 304 for v0.4, with 32 % and 26 % more encoding work than v0.4 on the worker; v1.0
//! spares the agent a conversion, which is why it is the default where offered
//! (`DD_TRACE_AGENT_PROTOCOL_VERSION=0.5` prefers fewer bytes). A format the agent refuses
//! (404, 415) is not sent again, said once. Payloads stay under the agent's
//! `max_request_bytes`.
//!
//! With `DD_TRACE_STATS_COMPUTATION_ENABLED=true` (feature `client-stats`; off by default,
//! so unsampled traces still reach the agent, which then computes the stats itself) and an
//! agent whose `/info` lists `/v0.6/stats` and says `client_drop_p0s`, the worker computes the
//! trace stats the agent would (hits, errors, top-level hits, durations as DDSketches, by
//! service, operation, resource, type, HTTP status, span kind, root-ness, synthetics and peer
//! tags) in 10-second buckets, sends each bucket once it is over (and the rest at flush and
//! shutdown), and marks its payloads `Datadog-Client-Computed-Stats`. Unsampled traces without
//! an error are then not sent (their spans picked by a
//! span sampling rule still are), counted in the next payload's `Datadog-Client-Dropped-P0-*`
//! headers and in [`CounterSnapshot::spans_dropped_p0`](diagnostics::CounterSnapshot::spans_dropped_p0). Resources are sent unobfuscated: the
//! agent obfuscates client stats as it obfuscates spans.
//!
//! When the agent fails:
//!
//! | What happens | What the tracer does |
//! |---|---|
//! | no connection (socket missing, refused, host unknown, connect timeout): the agent is absent or restarting | the payload stays in the retry buffer; one probe at a time tries again, backing off from 100 ms to 1 s, so delivery resumes about a second after the agent's return; nothing is lost unless the buffer fills (then new payloads are dropped and counted) |
//! | 408, 429, 5xx, or the connection closed without an answer | retried three times (100, 200, 400 ms, with jitter), then dropped and counted |
//! | 400, 403, 404, 413, 415 | final: dropped and counted |
//! | the agent accepted the request but has not answered for 3 s | reported as stalled (status and one warning); later payloads wait in the buffer |
//! | no answer within `DD_TRACE_AGENT_TIMEOUT` | dropped and counted, never sent again: the agent may have processed it, and no span is delivered twice |
//!
//! Each kind of failure prints one warning with the cause, the address and the remedy (a
//! missing socket names the hostPath volume to mount), at most once a minute and not again
//! until a send succeeds; the recovery prints one line.
//!
//! [`DatadogGuard::flush`] sends everything finished so far (and says
//! [`FlushError::AgentUnreachable`] at once when the agent cannot be reached); dropping the
//! guard (or [`DatadogGuard::shutdown`]) sends everything and stops the worker, waiting at most
//! [`config::DEFAULT_SHUTDOWN_TIMEOUT`], and reports what was dropped over the tracer's life.
//! A panic unwinding out of `main` drops the guard too; `std::process::exit` and
//! `panic = "abort"` run no destructor, so call [`DatadogGuard::shutdown`] before them.
//!
//! Memory stays bounded whatever the app or the agent does: the queue holds a fixed number of
//! chunks, the retry buffer a fixed number of bytes, one open trace sends its finished spans
//! in parts past 10 000, and spans that never close (leaked futures) stop being recorded past
//! `DD_TRACE_MAX_OPEN_TRACES` open traces or `DD_TRACE_MAX_OPEN_SPANS_PER_TRACE` open spans in
//! one trace, counted in [`CounterSnapshot::spans_dropped_trace_limits`](diagnostics::CounterSnapshot::spans_dropped_trace_limits).
//!
//! # OpenTelemetry's API
//!
//! With the `opentelemetry` feature (`opentelemetry` 0.33),
//! `integrations::otel_api::DatadogTracerProvider` is an OpenTelemetry `TracerProvider` whose
//! spans are dd-trace spans: set it as the global provider
//! (`opentelemetry::global::set_tracer_provider`) and libraries instrumented with the
//! `opentelemetry` API join the same traces as the app's `tracing` spans, with one sampling
//! decision, the same propagation and the same worker. An OpenTelemetry span started while a
//! `tracing` span is current is its child; a `tracing` span started inside an OpenTelemetry
//! span (`Tracer::in_span`, or an attached context) is that span's child. They are named as the
//! agent names OTLP spans (kind and attributes; their OpenTelemetry name is the resource);
//! attributes become tags (arrays as `key.0`, `key.1`, …), the `Error` status the error (`Ok`
//! wins), events span events, `record_error` the `error.message` and `error.stack` tags, links
//! span links; `span_context()` has the trace's 128-bit id, the span's id, the sampled flag of
//! the trace's decision and the `dd=` `tracestate`. `integrations::opentelemetry::DatadogPropagator`
//! carries contexts through OpenTelemetry's propagation API. OpenTelemetry's variables are read
//! where their `DD_*` equivalents are unset (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER` and `_ARG`, `OTEL_TRACES_EXPORTER=none`, `OTEL_LOG_LEVEL=debug`,
//! `OTEL_SDK_DISABLED`, `OTEL_PROPAGATORS`; see the table); when both are set, the `DD_*` one
//! wins with one warning. An OpenTelemetry API span costs about 5× a `tracing` span
//! (`benches/span_overhead.rs`): its span context, attributes and registry are work `tracing`
//! spans do not do.
//!
//! # Remote configuration and telemetry
//!
//! When the agent offers them (its `/info` lists `/v0.7/config` and the telemetry proxy), the
//! worker — never the app's threads — also:
//!
//! - **polls remote configuration** for the `APM_TRACING` product every
//!   `DD_REMOTE_CONFIG_POLL_INTERVAL_SECONDS` (5), so that Datadog's UI can change, without a
//!   redeploy: the sample rate (`tracing_sampling_rate`), the trace sampling rules
//!   (`tracing_sampling_rules`; `provenance` `customer` and `dynamic` decide as mechanisms 11
//!   and 12), the tags of every span (`tracing_tags`, in place of `DD_TAGS`), log injection
//!   (`log_injection_enabled`), the header tags (`tracing_header_tags`), and turning tracing
//!   off (`tracing_enabled: false`, until the process restarts). Remote values win over code
//!   and the environment and show with origin `remote_config` in the status; a value no config
//!   sets any more goes back to its own. A config for another service or environment is
//!   refused (the agent sees why); several configs merge, the most specific first (service and
//!   env, service, env, everything). A change applies to traces whose sampling decision is not
//!   made yet, and is said once at info level with the old and new values. Each file is
//!   checked against the signed targets' length and SHA-256. `DD_REMOTE_CONFIGURATION_ENABLED=false`
//!   (or [`DatadogLayerBuilder::with_remote_config`]) turns it off.
//! - **sends instrumentation telemetry** (v2): `app-started` with every setting's value and
//!   origin (secrets redacted), `app-integrations-change` (the integration features compiled
//!   in), `app-client-configuration-change` for each remote change, `app-heartbeat` every
//!   `DD_TELEMETRY_HEARTBEAT_INTERVAL` (60 s) with the health counters as `generate-metrics`
//!   (spans created, finished, sent, dropped by reason; chunks; requests, errors and bytes to
//!   the agent), and `app-closing` at shutdown. Bounded (64 events wait at most), batched (one
//!   request in flight), failures counted in [`TracerStatus::telemetry`](diagnostics::TracerStatus::telemetry).
//!   `DD_INSTRUMENTATION_TELEMETRY_ENABLED=false` (or [`DatadogLayerBuilder::with_telemetry`])
//!   turns it off.
//!
//! Settings are named in telemetry by their variable (`DD_TRACE_SAMPLE_RATE`), as the crate
//! docs' table lists them. Flares requested through remote configuration (`AGENT_TASK`) are not
//! handled: use [`DatadogGuard::send_flare`].
//!
//! # Runtime metrics
//!
//! With `DD_RUNTIME_METRICS_ENABLED=true` (or [`DatadogLayerBuilder::with_runtime_metrics`]),
//! a thread of the tracer's own sends the process's and the tokio runtime's metrics to the
//! agent's DogStatsD every 10 s, where Datadog shows them beside the service's traces; with
//! `DD_TRACE_HEALTH_METRICS_ENABLED=true` (or [`DatadogLayerBuilder::with_health_metrics`]),
//! the tracer's own counters too. Every metric carries `service`, `env`, `version`,
//! `runtime-id`, `language:rust` and `DD_TAGS`. DogStatsD is `DD_DOGSTATSD_URL`
//! (`udp://host:port` or `unix:///path`), else `DD_DOGSTATSD_HOST` (or `DD_AGENT_HOST`) and
//! `DD_DOGSTATSD_PORT` (8125), else the node agent's `/var/run/datadog/dsd.socket` when it
//! exists, else UDP `localhost:8125`. The tokio metrics are those of the runtime `build()` ran
//! in, or of the one given to [`DatadogLayerBuilder::with_tokio_runtime`]. Metrics go through
//! the `cadence` crate's buffered sinks (several per datagram), never from the app's threads;
//! a failed send is counted in [`TracerStatus::dogstatsd`](diagnostics::TracerStatus::dogstatsd)
//! and said once, with its remedy, until sends work again.
//!
//! | metric | type | unit |
//! |---|---|---|
//! | `runtime.rust.cpu.user`, `runtime.rust.cpu.system` | gauge | percent of one core over the interval |
//! | `runtime.rust.mem.rss`, `runtime.rust.mem.virtual` | gauge | bytes |
//! | `runtime.rust.threads` | gauge | threads |
//! | `runtime.rust.fds.open` | gauge | open file descriptors |
//! | `runtime.rust.tokio.workers` | gauge | worker threads |
//! | `runtime.rust.tokio.tasks.alive` | gauge | tasks |
//! | `runtime.rust.tokio.global_queue.depth` | gauge | tasks waiting in the global queue |
//! | `runtime.rust.tokio.worker.busy` (tag `worker:<n>`), `runtime.rust.tokio.busy` (all) | gauge | percent of the interval spent running tasks |
//! | `runtime.rust.tokio.blocking_threads`, `runtime.rust.tokio.blocking_threads.idle` (built with `--cfg tokio_unstable`) | gauge | threads |
//! | `datadog.tracer.spans.started`, `.finished`, `.sent` | count | spans |
//! | `datadog.tracer.spans.dropped` (tag `reason`: `queue_full`, `send_failed`, `retry_buffer_full`, `shutdown`, `open_trace_limits`, `p0_drop`) | count | spans |
//! | `datadog.tracer.payloads.sent`, `datadog.tracer.payloads.dropped` | count | payloads |
//! | `datadog.tracer.bytes.sent` | count | bytes |
//! | `datadog.tracer.send.errors` | count | failed attempts |
//! | `datadog.tracer.queue.chunks` | gauge | trace chunks waiting for the worker |
//! | `datadog.tracer.retry_buffer.spans`, `datadog.tracer.retry_buffer.bytes` | gauge | spans, bytes |
//!
//! # Troubleshooting
//!
//! - [`diagnose`] (and the `doctor` example, `cargo run --example doctor`) checks the agent's
//!   address and why it was chosen, the socket or host, the connection and `/info`, sends a
//!   test trace, and says in one screen why traces are or are not arriving.
//! - [`TracerStatus`](diagnostics::TracerStatus) (from the guard or a
//!   [`TracerStatusHandle`](diagnostics::TracerStatusHandle), e.g. for a health endpoint)
//!   has the configuration in effect (with each value's origin), the agent's state and
//!   `/info`, every counter (spans sent, dropped by reason, bytes, retries), the retry buffer,
//!   the last error of each kind with its time and remedy, remote configuration (configs
//!   received and how each was applied, last poll) and telemetry; its `Display` is a report
//!   for people.
//! - [`DatadogGuard::flare`] makes a tracer flare (configuration with secrets redacted, status,
//!   recent warnings, versions) to write to a file, and [`DatadogGuard::send_flare`] sends one
//!   to Datadog support through the agent with a case id.
//! - The tracer's own lines go to stderr, prefixed `dd-trace WARN:` / `INFO:` / `DEBUG:`
//!   (`DD_TRACE_DEBUG=true` adds detail), never through `tracing`, so they cannot feed back
//!   into traces; [`diagnostics::set_handler`] sends them to the app's own logging instead.
//!
//! Every type these reports are made of is in [`diagnostics`].
//!
//! # Configuration
//!
//! Every setting is read once, at `build()`, from its variable; the builder method beside it,
//! where there is one, overrides it. Variables may also come from Datadog's stable
//! configuration files, as every Datadog tracer reads them: the host's
//! `/etc/datadog-agent/application_monitoring.yaml` (written by the operator) and
//! `/etc/datadog-agent/managed/datadog-agent/stable/application_monitoring.yaml` (written by
//! Fleet Automation; on macOS under `/opt/datadog-agent/etc/`, on Windows under
//! `C:\ProgramData\Datadog\`). Precedence: code > managed file > environment > local file >
//! default. A file's `apm_configuration_default` applies to every process; its
//! `apm_configuration_rules` apply to the processes their `selectors` match (`origin`
//! `language` — `rust` —, `process_arguments` — with a `key`, the value of a `key=value`
//! argument; without, any argument, the executable's path included —, `environment_variables`
//! or the file's `tags`; operators `exists`, `equals`, `prefix_matches`, `suffix_matches`;
//! every selector must match, any of its `matches` may; the first matching rule wins). Values
//! from a file show with origin `local_stable_config` or `fleet_stable_config` and the file's
//! `config_id`. A missing file is normal; an unreadable one, one over 256 KiB, one that is not
//! the schema, an unknown key or a variable dd-trace does not read gives one warning naming the
//! file and what was ignored, and changes nothing else.
//!
//! ```yaml
//! config_id: fleet-42
//! apm_configuration_default:
//!   DD_ENV: prod
//!   DD_TRACE_SAMPLE_RATE: 0.5
//! apm_configuration_rules:
//!   - selectors:
//!       - origin: process_arguments
//!         operator: suffix_matches
//!         matches: ["/checkout"]
//!     configuration:
//!       DD_SERVICE: checkout
//! ```
//!
//! Every span chunk's first span also says who the process is: `_dd.tags.process`
//! (`entrypoint.name`, `entrypoint.basedir`, `entrypoint.workdir`, `entrypoint.type`, and
//! `svc.user:true` when the service was set, `svc.auto:<name>` when it is the executable's
//! name; in v1.0 payloads, once per payload; `DD_EXPERIMENTAL_PROPAGATE_PROCESS_TAGS_ENABLED=false`
//! turns them off), and, for Datadog's source code integration, `_dd.git.repository_url`
//! (credentials removed) and `_dd.git.commit.sha` from `DD_GIT_REPOSITORY_URL` and
//! `DD_GIT_COMMIT_SHA` (or `DD_TAGS`' `git.repository_url` and `git.commit.sha`). Those are
//! rarely set in a pod: bake the CI build's into the binary with
//! [`git_metadata_from_build!`] and [`DatadogLayerBuilder::with_build_git_metadata`]. A malformed value prints one warning naming the variable
//! and the default used; it never fails or panics. Settings marked "may change while the app
//! runs" are read on the app's threads from a snapshot the tracer swaps atomically, so that
//! remote configuration can change them without a lock on the span path. The table is
//! [`config::SETTINGS`], which also says each setting's builder method and whether it is live;
//! the status ([`TracerStatus::configuration`](diagnostics::TracerStatus::configuration)), the
//! doctor, flares and the startup line show each value with its origin (`default`, `env_var`,
//! `code`, `calculated`, `remote_config`). Variables starting `DD_` or `OTEL_` that no setting
//! reads are listed as "set but not supported" (a debug line at start, the status, the
//! doctor), so that a typo or another tracer's setting is never silently ignored.
//!
//! | Variable | Default | Builder method | Meaning |
//! |---|---|---|---|
//! | `DD_SERVICE`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | the executable's name | [`with_service`](DatadogLayerBuilder::with_service) | service of the spans this process creates |
//! | `DD_ENV`, `OTEL_RESOURCE_ATTRIBUTES` | none | [`with_env`](DatadogLayerBuilder::with_env) | `env` tag on every span |
//! | `DD_VERSION`, `OTEL_RESOURCE_ATTRIBUTES` | none | [`with_version`](DatadogLayerBuilder::with_version) | `version` tag on spans of `DD_SERVICE` |
//! | `DD_TAGS`, `OTEL_RESOURCE_ATTRIBUTES` | none | [`with_tag`](DatadogLayerBuilder::with_tag) | `k:v` tags on every span, separated by commas (or spaces when there is no comma); the builder method adds to them (may change while the app runs) |
//! | `DD_TRACE_ENABLED`, `OTEL_TRACES_EXPORTER` | true | [`with_enabled`](DatadogLayerBuilder::with_enabled) | `false`: no spans are recorded, no worker runs, nothing is sent (may change while the app runs) |
//! | `DD_TRACE_SAMPLE_RATE`, `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | unset | [`with_sample_rate`](DatadogLayerBuilder::with_sample_rate) | rate in `[0, 1]` of the rule that comes after all others and matches every trace (may change while the app runs) |
//! | `DD_TRACE_SAMPLING_RULES` | none | [`with_trace_sampling_rule`](DatadogLayerBuilder::with_trace_sampling_rule) | trace sampling rules, a JSON array (see Sampling) (may change while the app runs) |
//! | `DD_TRACE_RATE_LIMIT` | 100 | [`with_rate_limit`](DatadogLayerBuilder::with_rate_limit) | traces per second the rules may keep; 0 keeps none |
//! | `DD_SPAN_SAMPLING_RULES`, `DD_SPAN_SAMPLING_RULES_FILE` | none | [`with_span_sampling_rule`](DatadogLayerBuilder::with_span_sampling_rule) | span sampling rules, a JSON array (see Sampling), or a file of them; the variable wins over the file |
//! | `DD_TRACE_AGENT_URL`, `DD_AGENT_HOST`, `DD_TRACE_AGENT_PORT` | `/var/run/datadog/apm.socket` if it exists, else `http://localhost:8126` | [`with_agent_url`](DatadogLayerBuilder::with_agent_url) | the agent: `unix:///path/to/apm.socket` or `http://host:port`, else `http://` the host (default `localhost`) and port (default `8126`) |
//! | `DD_TRACE_AGENT_TIMEOUT` | 10 | [`with_agent_timeout`](DatadogLayerBuilder::with_agent_timeout) | seconds one request to the agent may take |
//! | `DD_TRACE_PROPAGATION_STYLE_INJECT`, `DD_TRACE_PROPAGATION_STYLE`, `OTEL_PROPAGATORS` | `datadog,tracecontext,baggage` | [`with_inject_styles`](DatadogLayerBuilder::with_inject_styles) | styles written into outgoing requests: `datadog`, `tracecontext`, `b3multi`, `b3` (single header), `baggage`, `none`; the second variable sets both directions, and OpenTelemetry's, the third, is read when neither is set |
//! | `DD_TRACE_PROPAGATION_STYLE_EXTRACT`, `DD_TRACE_PROPAGATION_STYLE`, `OTEL_PROPAGATORS` | `datadog,tracecontext,baggage` | [`with_extract_styles`](DatadogLayerBuilder::with_extract_styles) | styles read from incoming requests, in order; the first valid context wins |
//! | `DD_TRACE_PROPAGATION_EXTRACT_FIRST` | false | — | `true`: look no further than the first valid context (by default later styles still add the same trace's `tracestate` and link other traces) |
//! | `DD_TRACE_PROPAGATION_BEHAVIOR_EXTRACT` | continue | — | `restart`: start a new trace linked to the incoming one; `ignore`: extract nothing |
//! | `DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH` | 512 | — | bytes `x-datadog-tags` may take (at most 512; 0: the header is neither sent nor read) |
//! | `DD_TRACE_BAGGAGE_MAX_ITEMS` | 64 | — | baggage items propagated at most |
//! | `DD_TRACE_BAGGAGE_MAX_BYTES` | 8192 | — | bytes of baggage propagated at most |
//! | `DD_TRACE_BAGGAGE_TAG_KEYS` | `user.id,session.id,account.id` | — | baggage items that become `baggage.<key>` tags on the span adopting an extracted context; `*` all, empty none |
//! | `DD_ENTITY_ID` | unset | [`with_entity_id`](DatadogLayerBuilder::with_entity_id) | sent as `Datadog-Entity-ID` when no container id or cgroup inode can be detected |
//! | `DD_EXTERNAL_ENV` | unset | [`with_external_env`](DatadogLayerBuilder::with_external_env) | sent as `Datadog-External-Env` |
//! | `DD_TRACE_STARTUP_LOGS` | true | [`with_startup_logs`](DatadogLayerBuilder::with_startup_logs) | print one `DATADOG TRACER CONFIGURATION {json}` line to stderr at start |
//! | `DD_TRACE_DEBUG`, `OTEL_LOG_LEVEL` | false | [`with_debug`](DatadogLayerBuilder::with_debug) | print the tracer's debug diagnostics to stderr |
//! | `DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED` | true | [`with_128_bit_trace_ids`](DatadogLayerBuilder::with_128_bit_trace_ids) | `false`: 64-bit trace ids |
//! | `DD_TRACE_128_BIT_TRACEID_LOGGING_ENABLED` | true | [`with_128_bit_trace_id_logging`](DatadogLayerBuilder::with_128_bit_trace_id_logging) | log correlation writes 128-bit ids as 32 hex digits |
//! | `DD_LOGS_INJECTION` | true | [`with_logs_injection`](DatadogLayerBuilder::with_logs_injection) | `false`: `dd-trace-log` writes no `dd.*` keys (may change while the app runs) |
//! | `DD_TRACE_SPAN_EVENTS_LEVEL` | off | [`with_span_events`](DatadogLayerBuilder::with_span_events) | `tracing` events at or above this level inside a span become span events |
//! | `DD_TRACE_PARTIAL_FLUSH_ENABLED` | false | [`with_partial_flush`](DatadogLayerBuilder::with_partial_flush) | send a long trace's finished spans before it ends |
//! | `DD_TRACE_PARTIAL_FLUSH_MIN_SPANS` | 1000 | [`with_partial_flush_min_spans`](DatadogLayerBuilder::with_partial_flush_min_spans) | finished spans that trigger a partial flush |
//! | `DD_TRACE_STATS_COMPUTATION_ENABLED` | false | — | `true` (feature `client-stats`): compute trace stats here, and where the agent allows it (`client_drop_p0s`), do not send unsampled traces |
//! | `DD_TRACE_AGENT_PROTOCOL_VERSION`, `DD_TRACE_API_VERSION` | unset: the newest the agent's `/info` offers | — | `0.4`, `0.5` or `1.0`: the trace payload format to send (the second variable is Python's name, with `v0.4`, `v0.5`, `v1.0`) |
//! | `DD_TRACE_REPORT_HOSTNAME` | false | — | `true`: the local root of each trace carries this host's name as `_dd.hostname` (by default the agent's host is used) |
//! | `DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP` | Datadog's default pattern (passwords, tokens, API keys, signatures, bearer tokens, JWTs, private keys) | — | the pattern whose matches in a URL's query string (`http.url`) are replaced by `<redacted>`; empty: query strings are kept as they are |
//! | `DD_TRACE_HTTP_SERVER_ERROR_STATUSES` | 500-599 | — | HTTP statuses that make a server span written with OpenTelemetry's conventions an error: codes and inclusive ranges, `500-599,404` |
//! | `DD_TRACE_HTTP_CLIENT_ERROR_STATUSES` | 400-599 | — | HTTP statuses that make a client span written with OpenTelemetry's conventions an error: codes and inclusive ranges |
//! | `DD_TRACE_GRPC_SERVER_ERROR_STATUSES` | 2,4,12-15 (the server's own faults) | — | gRPC statuses that make a server span an error (OpenTelemetry-style spans and the `tonic` integration): codes and inclusive ranges |
//! | `DD_TRACE_GRPC_CLIENT_ERROR_STATUSES` | 1-16 (all but OK) | — | gRPC statuses that make a client span an error: codes and inclusive ranges |
//! | `DD_TRACE_HEADER_TAGS` | none | — | headers whose values become tags of HTTP server and client spans: `header:tag` pairs, or a header alone (→ `http.request.headers.<header>` / `http.response.headers.<header>`), comma-separated (may change while the app runs) |
//! | `DD_TRACE_CLIENT_IP_ENABLED` | false | — | `http.client_ip` on HTTP server spans: the first public IP of the forwarding headers (`x-forwarded-for`, `x-real-ip`, `forwarded`, …) |
//! | `DD_TRACE_CLIENT_IP_HEADER` | unset | — | the one header the client's IP is read from, instead of the usual forwarding headers |
//! | `DD_TRACE_PANIC_ERRORS_ENABLED` | true | [`with_panic_errors`](DatadogLayerBuilder::with_panic_errors) | dd-trace's own: a panic inside a span marks the innermost span dd-trace records an error (`error.type` `panic`, the message, where; the backtrace when `RUST_BACKTRACE` asks for one), through a panic hook that then calls the app's own |
//! | `DD_REMOTE_CONFIGURATION_ENABLED` | true | [`with_remote_config`](DatadogLayerBuilder::with_remote_config) | remote configuration: the tracer polls the agent for `APM_TRACING` configs (sampling, tags, header tags, log injection, tracing off) set in Datadog, when the agent offers it |
//! | `DD_REMOTE_CONFIG_POLL_INTERVAL_SECONDS` | 5 | — | seconds between two remote-configuration polls |
//! | `DD_INSTRUMENTATION_TELEMETRY_ENABLED` | true | [`with_telemetry`](DatadogLayerBuilder::with_telemetry) | instrumentation telemetry: the tracer tells Datadog (through the agent) its version, configuration, integrations and health |
//! | `DD_TELEMETRY_HEARTBEAT_INTERVAL` | 60 | — | seconds between two telemetry heartbeats (which also carry the tracer's health metrics) |
//! | `DD_GIT_REPOSITORY_URL` | unset | [`with_build_git_metadata`](DatadogLayerBuilder::with_build_git_metadata) | the URL of the repository the service was built from, `_dd.git.repository_url` on the first span of each chunk (credentials removed); else `git.repository_url` in `DD_TAGS`, else the build's (`with_build_git_metadata`) |
//! | `DD_GIT_COMMIT_SHA` | unset | [`with_build_git_metadata`](DatadogLayerBuilder::with_build_git_metadata) | the commit the service was built from, `_dd.git.commit.sha` on the first span of each chunk; else `git.commit.sha` in `DD_TAGS`, else the build's |
//! | `DD_EXPERIMENTAL_PROPAGATE_PROCESS_TAGS_ENABLED` | true | — | `_dd.tags.process` (the entrypoint and how the service was named) on the first span of each chunk, in remote configuration and telemetry |
//! | `DD_DOGSTATSD_URL`, `DD_DOGSTATSD_HOST`, `DD_DOGSTATSD_PORT`, `DD_AGENT_HOST` | `/var/run/datadog/dsd.socket` if it exists, else `udp://localhost:8125` | — | the agent's DogStatsD, for runtime and health metrics: `udp://host:port` or `unix:///path`, else the host (or `DD_AGENT_HOST`) and port |
//! | `DD_RUNTIME_METRICS_ENABLED` | false | [`with_runtime_metrics`](DatadogLayerBuilder::with_runtime_metrics) | runtime metrics (`runtime.rust.*`: CPU, memory, threads, file descriptors, the tokio runtime) sent to DogStatsD every 10 s |
//! | `DD_TRACE_HEALTH_METRICS_ENABLED` | false | [`with_health_metrics`](DatadogLayerBuilder::with_health_metrics) | the tracer's own health (`datadog.tracer.*`: spans, drops by reason, queue, retry buffer, payloads, send errors) sent to DogStatsD every 10 s |
//! | (code only: `metrics_interval`) | 10 s | [`with_metrics_interval`](DatadogLayerBuilder::with_metrics_interval) | how often runtime and health metrics are sent |
//! | `DD_TRACE_OTEL_ENABLED`, `OTEL_SDK_DISABLED` | true | — | OpenTelemetry's API (`DatadogTracerProvider`, feature `opentelemetry`): `false` makes its spans non-recording; `OTEL_SDK_DISABLED=true` is read when it is unset |
//! | `DD_TRACE_DOCTOR` | false | — | dd-trace's own: the doctor's diagnosis of this running process (its subscriber's filters, the agent, a test trace), printed once on stderr (or the diagnostics handler) a few seconds after start |
//! | `DD_TRACE_RETRY_BUFFER_BYTES` | 33554432 (32 MiB) | [`with_retry_buffer_bytes`](DatadogLayerBuilder::with_retry_buffer_bytes) | dd-trace's own: bytes of payloads kept while the agent is unreachable, stalled or slow |
//! | `DD_TRACE_MAX_OPEN_TRACES` | 100000 | [`with_max_open_traces`](DatadogLayerBuilder::with_max_open_traces) | dd-trace's own: traces with open spans recorded at once |
//! | `DD_TRACE_MAX_OPEN_SPANS_PER_TRACE` | 100000 | [`with_max_open_spans_per_trace`](DatadogLayerBuilder::with_max_open_spans_per_trace) | dd-trace's own: open spans one trace may have |
//! | (code only: `flush_interval`) | 1 s | [`with_flush_interval`](DatadogLayerBuilder::with_flush_interval) | how often finished traces are sent (at least 1 ms) |
//! | (code only: `queue_capacity`) | 4096 | [`with_queue_capacity`](DatadogLayerBuilder::with_queue_capacity) | finished trace chunks the hand-off queue holds before new ones are dropped |
//! | (code only: `shutdown_timeout`) | 5 s | [`with_shutdown_timeout`](DatadogLayerBuilder::with_shutdown_timeout) | how long dropping the guard waits for finished traces to be sent |
//!
//! [`with_variable_source`](DatadogLayerBuilder::with_variable_source) reads the variables from
//! somewhere other than the process environment.
//!
//! # Testing instrumentation
//!
//! With the `testing` feature, `dd_trace::testing::TestTracer` and `InMemoryExporter` run the
//! whole pipeline but deliver to memory, as plain structs with every tag the agent would see.
//!
//! # Not yet supported
//!
//! Client-side obfuscation of SQL and other statements; tracer flares requested through remote configuration;
//! TLS to the agent; templates (`{{ … }}`) in stable configuration files; a root span taking its first
//! link's sampling decision. `tests/parametric/not-passing.md` lists the Datadog conformance
//! tests these leave unpassed.
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms,
    rustdoc::broken_intra_doc_links
)]
#![deny(unsafe_code)]

mod builder;
pub mod config;
mod conventions;
pub mod diagnostics;
mod encode;
mod error;
mod export;
mod guard;
mod handoff;
mod headers;
mod health;
mod identity;
#[cfg(any(feature = "tower", feature = "reqwest", feature = "opentelemetry"))]
pub mod integrations;
mod layer;
mod metrics;
mod model;
mod remote;
mod sampling;
mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod tracer;

pub use builder::{diagnose, init, try_init, DatadogLayerBuilder};
pub use error::{AgentUrlError, BuildError, FlareError, FlushError, InitError};
pub use guard::DatadogGuard;
pub use identity::{GitMetadata, TRACER_VERSION};
pub use layer::{ids_of, DatadogIds, DatadogLayer, DatadogSpanExt, Link, TagValue};
pub use model::decision::SamplingPriority;
pub use model::id::{SpanId, TraceId};
pub use sampling::{SpanSamplingRule, TraceSamplingRule};

pub mod propagation {
    //! Distributed tracing: reading a trace's context from incoming headers and writing it into
    //! outgoing ones, in the styles Datadog's tracers speak.
    //!
    //! In: a request's headers, through an [`Extractor`], on the app's thread that handles it; a
    //! span to continue from, through an [`Injector`]. Out: a [`RemoteContext`] to adopt with
    //! [`DatadogSpanExt::set_parent`](crate::DatadogSpanExt::set_parent), or the headers of a
    //! span's context (written by
    //! [`DatadogSpanExt::inject_context`](crate::DatadogSpanExt::inject_context), which locks the
    //! trace's sampling decision). Parsing is bounded: every header has a size limit past which it
    //! is ignored or cut (`x-datadog-tags`, `tracestate`, `baggage`), and it never panics.
    //!
    //! Styles (`DD_TRACE_PROPAGATION_STYLE`, or `_INJECT` / `_EXTRACT` for one direction; default
    //! `datadog,tracecontext,baggage`): `datadog` (`x-datadog-*`), `tracecontext` (W3C
    //! `traceparent` and `tracestate`), `b3multi` (`x-b3-*`), `b3` (the single `b3` header),
    //! `baggage` (W3C `baggage`), `none`. A `b3` header holding only a decision (`0`, `1`, `d`, as
    //! some proxies send) starts a new trace with that decision, unless another style brings a
    //! trace.
    //!
    //! ```
    //! use dd_trace::propagation::{self, RemoteContext};
    //! use dd_trace::DatadogSpanExt;
    //!
    //! # let tracer = dd_trace::testing::TestTracer::new();
    //! # tracer.in_scope(|| {
    //! // Server side: continue the caller's trace.
    //! let mut incoming = http::HeaderMap::new();
    //! incoming.insert("x-datadog-trace-id", "1234".parse().unwrap());
    //! incoming.insert("x-datadog-parent-id", "5678".parse().unwrap());
    //! incoming.insert("x-datadog-sampling-priority", "2".parse().unwrap());
    //! let span = tracing::info_span!("http.request", span.kind = "server");
    //! if let Some(context) = propagation::extract(&incoming) {
    //!     span.set_parent(context);
    //! }
    //! let _entered = span.enter();
    //!
    //! // Client side: hand the trace on.
    //! let mut outgoing = http::HeaderMap::new();
    //! tracing::Span::current().inject_context(&mut outgoing);
    //! assert_eq!(outgoing["x-datadog-trace-id"], "1234");
    //! assert_eq!(outgoing["x-datadog-sampling-priority"], "2");
    //! # });
    //! ```

    pub use crate::headers::{Extractor, Injector, PropagationStyle, RemoteContext};
    pub use crate::layer::extract;
}
