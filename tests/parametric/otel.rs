//! Ported from the suite's `test_otel_span_methods.py` and `test_otel_api_interoperability.py`:
//! spans started through OpenTelemetry's API (dd-trace's `DatadogTracerProvider`), with the
//! library environment the suite gives them (`DD_TRACE_OTEL_ENABLED=true`).

use serde_json::json;

use crate::client::{find_span, id_of, meta, Scenario, Start};
use crate::{check, scenario};

const INTERNAL: u8 = 0;
const CLIENT: u8 = 2;
const PRODUCER: u8 = 3;
const CONSUMER: u8 = 4;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        scenario!("test_otel_span_methods.py::Test_Otel_Span_Methods::test_otel_start_span", ["DD_TRACE_OTEL_ENABLED" => "true"], |c| {
            let (start, duration) = (12345, 6789);
            let span = c.otel_start("operation", Some(PRODUCER), None, Some(start), json!({"start_attr_key": "start_attr_val"}));
            c.otel("end_span", span, json!({"timestamp": start + duration}));
            c.flush();
            let traces = c.wait_for_num_traces(1)?;
            let root = find_span(&traces, span.trace_id, span.span_id)?;
            check!(root["name"] == "producer", "{root}");
            check!(root["resource"] == "operation", "{root}");
            check!(meta(&root, "start_attr_key").as_deref() == Some("start_attr_val"), "{root}");
            check!(root["duration"] == duration * 1_000, "{root}");
            check!(root["start"] == start * 1_000, "{root}");
            Ok(())
        }),
        scenario!("test_otel_span_methods.py::Test_Otel_Span_Methods::test_otel_set_service_name", ["DD_TRACE_OTEL_ENABLED" => "true"], |c| {
            let span = c.otel_start("parent_span", Some(INTERNAL), None, None, json!({}));
            c.otel("set_attributes", span, json!({"attributes": {"service.name": "new_service"}}));
            c.otel("end_span", span, json!({}));
            c.flush();
            let traces = c.wait_for_num_traces(1)?;
            let root = find_span(&traces, span.trace_id, span.span_id)?;
            check!(root["name"] == "internal" && root["resource"] == "parent_span" && root["service"] == "new_service", "{root}");
            Ok(())
        }),
        scenario!("test_otel_span_methods.py::Test_Otel_Span_Methods::test_otel_set_attribute_remapping_httpresponsestatuscode", ["DD_TRACE_OTEL_ENABLED" => "true"], |c| {
            let span = c.otel_start("operation", None, None, None, json!({}));
            c.otel("set_attributes", span, json!({"attributes": {"http.response.status_code": 200}}));
            c.otel("end_span", span, json!({}));
            c.flush();
            let traces = c.wait_for_num_traces(1)?;
            let got = find_span(&traces, span.trace_id, span.span_id)?;
            check!(meta(&got, "http.response.status_code").is_none(), "{got}");
            check!(meta(&got, "http.status_code").as_deref() == Some("200"), "{got}");
            Ok(())
        }),
        scenario!("test_otel_span_methods.py::Test_Otel_Span_Methods::test_otel_span_is_recording", ["DD_TRACE_OTEL_ENABLED" => "true"], |c| {
            let span = c.otel_start("parent", None, None, None, json!({}));
            check!(c.otel("is_recording", span, json!({}))["is_recording"] == true);
            c.otel("end_span", span, json!({}));
            check!(c.otel("is_recording", span, json!({}))["is_recording"] == false);
            Ok(())
        }),
        scenario!("test_otel_span_methods.py::Test_Otel_Span_Methods::test_otel_span_finished_end_options", ["DD_TRACE_OTEL_ENABLED" => "true"], |c| {
            let (start, duration) = (12345, 6789);
            let span = c.otel_start("operation", Some(INTERNAL), None, Some(start), json!({}));
            check!(c.otel("is_recording", span, json!({}))["is_recording"] == true);
            c.otel("end_span", span, json!({"timestamp": start + duration}));
            check!(c.otel("is_recording", span, json!({}))["is_recording"] == false);
            c.otel("end_span", span, json!({"timestamp": start + duration * 2}));
            c.flush();
            let traces = c.wait_for_num_traces(1)?;
            let got = find_span(&traces, span.trace_id, span.span_id)?;
            check!(got["name"] == "internal" && got["resource"] == "operation", "{got}");
            check!(got["start"] == start * 1_000 && got["duration"] == duration * 1_000, "{got}");
            Ok(())
        }),
        scenario!("test_otel_span_methods.py::Test_Otel_Span_Methods::test_otel_span_end", ["DD_TRACE_OTEL_ENABLED" => "true"], |c| {
            let parent = c.otel_start("parent", Some(PRODUCER), None, None, json!({}));
            c.otel("end_span", parent, json!({}));
            c.otel("set_name", parent, json!({"name": "new_name"}));
            c.otel("set_attributes", parent, json!({"attributes": {"after_finish": "true"}}));
            let child = c.otel_start("child", Some(CONSUMER), Some(parent.span_id), None, json!({}));
            c.otel("end_span", child, json!({}));
            c.flush();
            let traces = c.wait_for_num_spans(2)?;
            let p = find_span(&traces, parent.trace_id, parent.span_id)?;
            check!(p["name"] == "producer" && p["resource"] == "parent", "{p}");
            check!(meta(&p, "after_finish").is_none(), "{p}");
            let ch = find_span(&traces, child.trace_id, child.span_id)?;
            check!(ch["name"] == "consumer" && ch["resource"] == "child", "{ch}");
            check!(ch["parent_id"] == p["span_id"], "{ch}");
            Ok(())
        }),
        scenario!("test_otel_span_methods.py::Test_Otel_Span_Methods::test_otel_set_span_status_error", ["DD_TRACE_OTEL_ENABLED" => "true"], |c| {
            let s = c.otel_start("error_span", Some(INTERNAL), None, None, json!({}));
            c.otel("set_status", s, json!({"code": "ERROR", "description": "error_desc"}));
            c.otel("set_status", s, json!({"code": "UNSET", "description": "unset_desc"}));
            c.otel("end_span", s, json!({}));
            c.flush();
            let traces = c.wait_for_num_traces(1)?;
            let got = find_span(&traces, s.trace_id, s.span_id)?;
            check!(meta(&got, "error.message").as_deref() == Some("error_desc"), "{got}");
            check!(got["name"] == "internal" && got["resource"] == "error_span", "{got}");
            Ok(())
        }),
        scenario!("test_otel_span_methods.py::Test_Otel_Span_Methods::test_otel_set_span_status_ok", ["DD_TRACE_OTEL_ENABLED" => "true"], |c| {
            let s = c.otel_start("ok_span", Some(INTERNAL), None, None, json!({}));
            c.otel("set_status", s, json!({"code": "OK", "description": "ok_desc"}));
            c.otel("set_status", s, json!({"code": "ERROR", "description": "error_desc"}));
            c.otel("end_span", s, json!({}));
            c.flush();
            let traces = c.wait_for_num_traces(1)?;
            let got = find_span(&traces, s.trace_id, s.span_id)?;
            check!(meta(&got, "error.message").is_none(), "{got}");
            check!(got["name"] == "internal" && got["resource"] == "ok_span", "{got}");
            Ok(())
        }),
        scenario!("test_otel_span_methods.py::Test_Otel_Span_Methods::test_otel_get_span_context", ["DD_TRACE_OTEL_ENABLED" => "true"], |c| {
            let parent = c.otel_start("op1", None, None, None, json!({}));
            c.otel("end_span", parent, json!({}));
            let span = c.otel_start("op2", None, Some(parent.span_id), None, json!({}));
            c.otel("end_span", span, json!({}));
            let context = c.otel("span_context", span, json!({}));
            let parent_context = c.otel("span_context", parent, json!({}));
            check!(context["trace_id"] == parent_context["trace_id"], "{context} {parent_context}");
            check!(context["span_id"] == format!("{:016x}", span.span_id), "{context}");
            check!(context["trace_flags"] == "01", "{context}");
            c.flush();
            let traces = c.wait_for_num_spans(2)?;
            let op2 = find_span(&traces, span.trace_id, span.span_id)?;
            check!(op2["resource"] == "op2", "{op2}");
            let tid = format!("{}{:016x}", meta(&op2, "_dd.p.tid").unwrap_or_default(), id_of(&op2, "trace_id"));
            check!(u128::from_str_radix(&tid, 16).ok() == u128::from_str_radix(context["trace_id"].as_str().unwrap_or(""), 16).ok(), "{tid} {context}");
            Ok(())
        }),
        scenario!("test_otel_span_methods.py::Test_Otel_Span_Methods::test_otel_set_attributes_separately", ["DD_TRACE_OTEL_ENABLED" => "true"], |c| {
            let span = c.otel_start("operation", Some(CLIENT), None, None, json!({}));
            c.otel("set_attributes", span, json!({"attributes": {"messaging.system": "Kafka"}}));
            c.otel("set_attributes", span, json!({"attributes": {"messaging.operation": "Receive"}}));
            c.otel("end_span", span, json!({}));
            c.flush();
            let traces = c.wait_for_num_traces(1)?;
            check!(traces[0].len() == 1);
            let got = find_span(&traces, span.trace_id, span.span_id)?;
            check!(got["name"] == "kafka.receive" && got["resource"] == "operation", "{got}");
            Ok(())
        }),
        scenario!("test_otel_span_methods.py::Test_Otel_Span_Methods::test_otel_record_exception_does_not_set_error", ["DD_TRACE_OTEL_ENABLED" => "true"], |c| {
            let span = c.otel_start("operation", None, None, None, json!({}));
            c.otel("record_exception", span, json!({"message": "woof", "attributes": {"exception.stacktrace": "stacktrace"}}));
            c.otel("end_span", span, json!({}));
            c.flush();
            let traces = c.wait_for_num_traces(1)?;
            let got = find_span(&traces, span.trace_id, span.span_id)?;
            check!(got.get("error").is_none_or(|e| e == 0), "{got}");
            Ok(())
        }),
        scenario!("test_otel_api_interoperability.py::Test_Otel_API_Interoperability::test_otel_start_after_datadog_span", ["DD_TRACE_OTEL_ENABLED" => "true"], |c| {
            let dd = c.root("dd_span");
            let otel = c.otel_start("otel_span", Some(INTERNAL), Some(dd.span_id), None, json!({}));
            let context = c.otel("span_context", otel, json!({}));
            check!(context["span_id"] == format!("{:016x}", otel.span_id), "{context}");
            c.otel("end_span", otel, json!({}));
            c.finish(dd);
            c.flush();
            let traces = c.wait_for_num_spans(2)?;
            check!(traces.len() == 1 && traces[0].len() == 2, "{traces:?}");
            let span = find_span(&traces, otel.trace_id, otel.span_id)?;
            check!(span["resource"] == "otel_span", "{span}");
            check!(id_of(&span, "parent_id") == dd.span_id, "{span}");
            Ok(())
        }),
        scenario!("test_otel_api_interoperability.py::Test_Otel_API_Interoperability::test_datadog_start_after_otel_span", ["DD_TRACE_OTEL_ENABLED" => "true"], |c| {
            let otel = c.otel_start("otel_span", Some(INTERNAL), None, None, json!({}));
            let dd = c.start_span("dd_span", Start { parent_id: Some(otel.span_id), ..Start::default() });
            c.finish(dd);
            c.otel("end_span", otel, json!({}));
            c.flush();
            let traces = c.wait_for_num_spans(2)?;
            check!(traces.len() == 1 && traces[0].len() == 2, "{traces:?}");
            let root = find_span(&traces, otel.trace_id, otel.span_id)?;
            check!(root["resource"] == "otel_span", "{root}");
            let span = find_span(&traces, dd.trace_id, dd.span_id)?;
            check!(span["parent_id"] == root["span_id"], "{span}");
            Ok(())
        }),
        scenario!("test_otel_env_vars.py::Test_Otel_Env_Vars::test_otel_env_vars", ["OTEL_SERVICE_NAME" => "otel_service", "OTEL_LOG_LEVEL" => "debug", "OTEL_TRACES_SAMPLER" => "parentbased_always_off", "OTEL_TRACES_EXPORTER" => "none", "OTEL_PROPAGATORS" => "tracecontext,b3", "OTEL_RESOURCE_ATTRIBUTES" => "foo=bar1,baz=qux1,deployment.environment=otelenv,service.version=2.0"], |c| {
            let config = c.config();
            check!(config["dd_service"] == "otel_service", "{config:?}");
            check!(config["dd_log_level"].is_null() || config["dd_log_level"] == "debug", "{config:?}");
            check!(config["dd_trace_debug"] == "true", "{config:?}");
            check!(config["dd_trace_sample_rate"] == "0.0", "{config:?}");
            check!(config["dd_trace_enabled"] == "false", "{config:?}");
            check!(config["dd_env"] == "otelenv" && config["dd_version"] == "2.0", "{config:?}");
            let tags = config["dd_tags"].as_str().unwrap_or_default();
            check!(tags.contains("foo:bar1") && tags.contains("baz:qux1"), "{tags}");
            let styles = config["dd_trace_propagation_style"].as_str().unwrap_or_default();
            check!(styles.contains("tracecontext") && styles.contains("b3"), "{styles}");
            Ok(())
        }),
        scenario!("test_otel_env_vars.py::Test_Otel_Env_Vars::test_dd_env_var_take_precedence", ["DD_SERVICE" => "service", "OTEL_SERVICE_NAME" => "otel_service", "DD_TRACE_SAMPLE_RATE" => "0.5", "OTEL_TRACES_SAMPLER" => "always_on", "DD_ENV" => "test_env", "OTEL_RESOURCE_ATTRIBUTES" => "deployment.environment=otelenv,service.version=2.0", "DD_VERSION" => "1.0"], |c| {
            let config = c.config();
            check!(config["dd_service"] == "service" && config["dd_env"] == "test_env" && config["dd_version"] == "1.0", "{config:?}");
            check!(config["dd_trace_sample_rate"] == "0.5", "{config:?}");
            Ok(())
        }),
    ]
}
