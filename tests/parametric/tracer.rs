//! Ported from the suite's `test_tracer.py` and `test_config_consistency.py`.

use serde_json::json;

use crate::client::{find_span, meta, metric, no_trace_arrives, Ctx, Outcome, Scenario, Start};
use crate::{check, scenario};

pub fn scenarios() -> Vec<Scenario> {
    vec![
        scenario!("test_tracer.py::Test_Tracer::test_tracer_span_top_level_attributes", [], |c| {
            let parent = c.start_span("operation", Start { service: Some("my-webserver"), resource: Some("/endpoint"), typ: Some("web"), ..Start::default() });
            c.set_metric(parent, "number", 10.0);
            let child = c.start_span("operation.child", Start { parent_id: Some(parent.span_id), ..Start::default() });
            c.set_meta(child, "key", json!("val"));
            c.finish(child);
            c.finish(parent);
            c.flush();
            let traces = c.wait_for_num_traces(1)?;
            check!(traces[0].len() == 2);
            let root = find_span(&traces, parent.trace_id, parent.span_id)?;
            check!(root["name"] == "operation" && root["service"] == "my-webserver" && root["resource"] == "/endpoint" && root["type"] == "web", "{root}");
            check!(metric(&root, "number") == Some(10.0), "{root}");
            let ch = find_span(&traces, child.trace_id, child.span_id)?;
            check!(ch["name"] == "operation.child" && meta(&ch, "key").as_deref() == Some("val"), "{ch}");
            Ok(())
        }),
        scenario!("test_tracer.py::Test_TracerUniversalServiceTagging::test_tracer_service_name_environment_variable", ["DD_SERVICE" => "service1"], |c| {
            let span = c.root("operation");
            c.finish(span);
            c.flush();
            let got = c.only_span()?;
            check!(got["name"] == "operation" && got["service"] == "service1", "{got}");
            Ok(())
        }),
        scenario!("test_tracer.py::Test_TracerUniversalServiceTagging::test_tracer_env_environment_variable", ["DD_ENV" => "prod"], |c| {
            let span = c.root("operation");
            c.finish(span);
            c.flush();
            let got = c.only_span()?;
            check!(meta(&got, "env").as_deref() == Some("prod"), "{got}");
            Ok(())
        }),
        scenario!("test_tracer.py::Test_TracerBaseService::test_base_service_set_when_service_overridden", ["DD_SERVICE" => "global-service"], |c| {
            let root = c.root("root");
            let child = c.start_span("child", Start { service: Some("other-service"), parent_id: Some(root.span_id), ..Start::default() });
            c.finish(child);
            c.finish(root);
            c.flush();
            let traces = c.wait_for_num_traces(1)?;
            let got = find_span(&traces, child.trace_id, child.span_id)?;
            check!(got["service"] == "other-service" && meta(&got, "_dd.base_service").as_deref() == Some("global-service"), "{got}");
            Ok(())
        }),
        scenario!("test_tracer.py::Test_TracerBaseService::test_base_service_absent_when_service_not_overridden", ["DD_SERVICE" => "global-service"], |c| {
            let span = c.start_span("operation", Start { service: Some("global-service"), ..Start::default() });
            c.finish(span);
            c.flush();
            let got = c.only_span()?;
            check!(meta(&got, "_dd.base_service").is_none(), "{got}");
            Ok(())
        }),
        scenario!("test_config_consistency.py::Test_Config_TraceEnabled::test_tracing_enabled", [], one_trace),
        scenario!("test_config_consistency.py::Test_Config_TraceEnabled::test_tracing_enabled[true]", ["DD_TRACE_ENABLED" => "true"], one_trace),
        scenario!("test_config_consistency.py::Test_Config_TraceEnabled::test_tracing_disabled", ["DD_TRACE_ENABLED" => "false"], |c| {
            // A disabled tracer still answers the API, and its spans reach no agent.
            let config = c.config();
            check!(config["dd_trace_enabled"] == "false", "{config:?}");
            let span = c.root("allowed");
            c.finish(span);
            c.flush();
            no_trace_arrives(c)
        }),
        scenario!("test_config_consistency.py::Test_Config_UnifiedServiceTagging::test_default_config", [], |c| {
            let span = c.root("s1");
            c.finish(span);
            c.flush();
            let got = c.only_span()?;
            check!(got["service"] != "version_test" && meta(&got, "version").is_none() && meta(&got, "env").is_none(), "{got}");
            Ok(())
        }),
        scenario!("test_config_consistency.py::Test_Config_UnifiedServiceTagging::test_specific_version", ["DD_SERVICE" => "version_test", "DD_VERSION" => "5.2.0"], |c| {
            let s1 = c.root("s1");
            c.finish(s1);
            let s2 = c.start_span("s2", Start { service: Some("no dd_service"), ..Start::default() });
            c.finish(s2);
            c.flush();
            let traces = c.wait_for_num_traces(2)?;
            let a = find_span(&traces, s1.trace_id, s1.span_id)?;
            let b = find_span(&traces, s2.trace_id, s2.span_id)?;
            check!(a["service"] == "version_test" && meta(&a, "version").as_deref() == Some("5.2.0"), "{a}");
            check!(b["service"] == "no dd_service" && meta(&b, "version").is_none(), "{b}");
            Ok(())
        }),
        scenario!("test_config_consistency.py::Test_Config_UnifiedServiceTagging::test_specific_env", ["DD_ENV" => "dev"], |c| {
            let span = c.root("s1");
            c.finish(span);
            c.flush();
            let got = c.only_span()?;
            check!(meta(&got, "env").as_deref() == Some("dev"), "{got}");
            Ok(())
        }),
        scenario!("test_config_consistency.py::Test_Config_TraceAgentURL::test_dd_trace_agent_unix_url_nonexistent", ["DD_TRACE_AGENT_URL" => "unix:///var/run/datadog/apm.socket", "DD_AGENT_HOST" => "localhost", "DD_TRACE_AGENT_PORT" => "8126"], |c| {
            check!(c.config()["dd_trace_agent_url"] == "unix:///var/run/datadog/apm.socket");
            Ok(())
        }),
        scenario!("test_config_consistency.py::Test_Config_TraceAgentURL::test_dd_trace_agent_http_url_nonexistent", ["DD_TRACE_AGENT_URL" => "http://random-host:9999/", "DD_AGENT_HOST" => "localhost", "DD_TRACE_AGENT_PORT" => "8126"], |c| {
            check!(c.config()["dd_trace_agent_url"] == "http://random-host:9999");
            Ok(())
        }),
        scenario!("test_config_consistency.py::Test_Config_TraceAgentURL::test_dd_trace_agent_http_url_ipv6", ["DD_TRACE_AGENT_URL" => "http://[::1]:5000", "DD_AGENT_HOST" => "localhost", "DD_TRACE_AGENT_PORT" => "8126"], |c| {
            check!(c.config()["dd_trace_agent_url"] == "http://[::1]:5000");
            Ok(())
        }),
        scenario!("test_config_consistency.py::Test_Config_TraceAgentURL::test_dd_agent_host_ipv6", ["DD_TRACE_AGENT_URL" => "", "DD_AGENT_HOST" => "[::1]", "DD_TRACE_AGENT_PORT" => "5000"], |c| {
            check!(c.config()["dd_trace_agent_url"] == "http://[::1]:5000");
            Ok(())
        }),
        scenario!("test_config_consistency.py::Test_Config_RateLimit::test_default_trace_rate_limit", ["DD_TRACE_SAMPLE_RATE" => "1"], |c| {
            check!(c.config()["dd_trace_rate_limit"] == "100");
            Ok(())
        }),
        scenario!("test_config_consistency.py::Test_Config_RateLimit::test_setting_trace_rate_limit_strict", ["DD_TRACE_RATE_LIMIT" => "1", "DD_TRACE_SAMPLE_RATE" => "1", "DD_TRACE_SAMPLING_RULES" => r#"[{"sample_rate":1}]"#, "DD_TRACE_STATS_COMPUTATION_ENABLED" => "false"], |c| {
            for name in ["s1", "s2"] {
                let span = c.root(name);
                c.finish(span);
            }
            c.flush();
            let traces = c.wait_for_num_traces(2)?;
            check!(metric(&traces[0][0], "_sampling_priority_v1") == Some(2.0), "{traces:?}");
            check!(metric(&traces[1][0], "_sampling_priority_v1") == Some(-1.0), "{traces:?}");
            Ok(())
        }),
        scenario!("test_config_consistency.py::Test_Config_RateLimit::test_trace_rate_limit_without_trace_sample_rate", ["DD_TRACE_RATE_LIMIT" => "1"], |c| {
            for name in ["s1", "s2"] {
                let span = c.root(name);
                c.finish(span);
            }
            c.flush();
            let traces = c.wait_for_num_traces(2)?;
            check!(traces.iter().all(|t| metric(&t[0], "_sampling_priority_v1") == Some(1.0)), "{traces:?}");
            Ok(())
        }),
        scenario!("test_config_consistency.py::Test_Config_Tags::test_comma_space_tag_separation", ["DD_TAGS" => "env:test aKey:aVal bKey:bVal cKey:"], |c| {
            let span = c.root("sample_span");
            c.finish(span);
            c.flush();
            let got = c.only_span()?;
            for (k, v) in [("env", "test"), ("aKey", "aVal"), ("bKey", "bVal"), ("cKey", "")] {
                check!(meta(&got, k).as_deref() == Some(v), "{k}: {got}");
            }
            Ok(())
        }),
        scenario!("test_config_consistency.py::Test_Config_Tags::test_dd_service_override", ["DD_TAGS" => "service:random-service2,env:dev2,version:1.2.4", "DD_ENV" => "dev", "DD_VERSION" => "5.2.0", "DD_SERVICE" => "random-service"], |c| {
            let span = c.root("sample_span");
            c.finish(span);
            c.flush();
            let got = c.only_span()?;
            check!(got["service"] == "random-service" && meta(&got, "env").as_deref() == Some("dev") && meta(&got, "version").as_deref() == Some("5.2.0"), "{got}");
            Ok(())
        }),
        scenario!("test_parametric_endpoints.py::Test_Parametric_DDSpan_Current::test_current_span", [], |c| {
            let current = |c: &Ctx<'_>| c.get_call("/trace/span/current", json!({}))["span_id"].as_u64().unwrap_or(u64::MAX);
            let s1 = c.root("s1");
            check!(current(c) == s1.span_id);
            let s2 = c.start_span("s2", Start { parent_id: Some(s1.span_id), ..Start::default() });
            check!(current(c) == s2.span_id);
            c.finish(s2);
            check!(current(c) == s1.span_id);
            c.finish(s1);
            check!(current(c) == 0);
            Ok(())
        }),
        scenario!("test_parametric_endpoints.py::Test_Parametric_DDTrace_Extract_Headers::test_extract_headers", [], |c| {
            let id = c.extract(&crate::client::headers(&[("x-datadog-trace-id", "1234567890"), ("x-datadog-parent-id", "2"), ("x-datadog-sampling-priority", "1")]));
            check!(id == Some(2), "{id:?}");
            Ok(())
        }),
        scenario!("test_parametric_endpoints.py::Test_Parametric_DDSpan_Set_Error::test_set_error", [], |c| {
            let span = c.root("s1");
            c.span_call("/trace/span/error", span, json!({"type": "MyError", "message": "it broke", "stack": "frame 1"}));
            c.finish(span);
            c.flush();
            let got = c.only_span()?;
            check!(got["error"] == 1, "{got}");
            check!(meta(&got, "error.type").as_deref() == Some("MyError") && meta(&got, "error.message").as_deref() == Some("it broke") && meta(&got, "error.stack").as_deref() == Some("frame 1"), "{got}");
            Ok(())
        }),
        scenario!("test_config_consistency.py::Test_Config_Dogstatsd::test_dogstatsd_default", ["DD_AGENT_HOST" => "localhost"], |c| {
            let config = c.config();
            check!(config["dd_dogstatsd_host"] == "localhost", "{config:?}");
            check!(config["dd_dogstatsd_port"] == "8125", "{config:?}");
            Ok(())
        }),
        scenario!("test_config_consistency.py::Test_Config_Dogstatsd::test_dogstatsd_custom_ip_address", ["DD_DOGSTATSD_HOST" => "192.168.10.1"], |c| {
            let config = c.config();
            check!(config["dd_dogstatsd_host"] == "192.168.10.1", "{config:?}");
            Ok(())
        }),
        scenario!("test_config_consistency.py::Test_Config_Dogstatsd::test_dogstatsd_custom_hostname", ["DD_DOGSTATSD_HOST" => "127.0.0.1"], |c| {
            let config = c.config();
            check!(config["dd_dogstatsd_host"] == "127.0.0.1", "{config:?}");
            Ok(())
        }),
        scenario!("test_config_consistency.py::Test_Config_Dogstatsd::test_dogstatsd_custom_port", ["DD_DOGSTATSD_PORT" => "8150"], |c| {
            let config = c.config();
            check!(config["dd_dogstatsd_port"] == "8150", "{config:?}");
            Ok(())
        }),
        scenario!("test_tracer.py::Test_TracerSCITagging::test_tracer_repository_url_environment_variable[https-credentials]", ["DD_GIT_REPOSITORY_URL" => "https://gitlab-ci-token:AAA_bbb@gitlab.com/DataDog/systems-test.git", "DD_GIT_COMMIT_SHA" => "1234567890abcdef"], |c| {
            sci(c, Some("https://gitlab.com/DataDog/systems-test.git"), Some("1234567890abcdef"))
        }),
        scenario!("test_tracer.py::Test_TracerSCITagging::test_tracer_repository_url_environment_variable[ssh-credentials]", ["DD_GIT_REPOSITORY_URL" => "ssh://gitlab-ci-token:AAA_bbb@gitlab.com/DataDog/systems-test.git"], |c| {
            sci(c, Some("ssh://gitlab.com/DataDog/systems-test.git"), None)
        }),
        scenario!("test_tracer.py::Test_TracerSCITagging::test_tracer_repository_url_environment_variable[scp-like]", ["DD_GIT_REPOSITORY_URL" => "git@github.com:user/project.git"], |c| {
            sci(c, Some("git@github.com:user/project.git"), None)
        }),
        scenario!("test_tracer.py::Test_TracerSCITagging::test_tracer_repository_url_dd_tags", ["DD_TAGS" => "git.repository_url:https://token@github.com/user/project.git,git.commit.sha:abcdef0123"], |c| {
            sci(c, Some("https://github.com/user/project.git"), Some("abcdef0123"))
        }),
        scenario!("test_tracer.py::Test_ProcessTags_ServiceName::test_user_service", ["DD_SERVICE" => "my-service"], |c| {
            let span = c.root("operation");
            c.finish(span);
            c.flush();
            let got = c.only_span()?;
            let tags = meta(&got, "_dd.tags.process").ok_or("no _dd.tags.process")?;
            check!(tags.split(',').any(|t| t == "svc.user:true"), "{tags}");
            check!(tags.contains("entrypoint.name:") && tags.contains("entrypoint.type:"), "{tags}");
            Ok(())
        }),
        scenario!("test_tracer.py::Test_ProcessTags_ServiceName::test_auto_service", [], |c| {
            let span = c.root("operation");
            c.finish(span);
            c.flush();
            let got = c.only_span()?;
            let tags = meta(&got, "_dd.tags.process").ok_or("no _dd.tags.process")?;
            let service = got["service"].as_str().unwrap_or_default().to_lowercase();
            check!(tags.split(',').any(|t| t == format!("svc.auto:{service}")), "{tags} / {service}");
            Ok(())
        }),
        scenario!("test_tracer.py::Test_ProcessTags::test_process_tags_disabled", ["DD_EXPERIMENTAL_PROPAGATE_PROCESS_TAGS_ENABLED" => "false"], |c| {
            let span = c.root("operation");
            c.finish(span);
            c.flush();
            let got = c.only_span()?;
            check!(meta(&got, "_dd.tags.process").is_none(), "{got}");
            Ok(())
        }),
    ]
}

fn one_trace(c: &mut Ctx<'_>) -> Outcome {
    let span = c.root("allowed");
    c.finish(span);
    c.flush();
    c.wait_for_num_traces(1)?;
    Ok(())
}

/// The suite's SCI check: a parent and a child; exactly one span, the first of the payload,
/// carries the git tags given.
fn sci(c: &mut Ctx<'_>, url: Option<&str>, sha: Option<&str>) -> Outcome {
    let parent = c.root("parent");
    let child = c.start_span(
        "child",
        Start {
            parent_id: Some(parent.span_id),
            ..Start::default()
        },
    );
    c.finish(child);
    c.finish(parent);
    c.flush();
    let traces = c.wait_for_num_traces(1)?;
    let spans = &traces[0];
    check!(spans.len() == 2, "{spans:?}");
    for (key, expected) in [("_dd.git.repository_url", url), ("_dd.git.commit.sha", sha)] {
        let carrying: Vec<usize> = spans
            .iter()
            .enumerate()
            .filter(|(_, s)| meta(s, key).is_some())
            .map(|(i, _)| i)
            .collect();
        match expected {
            Some(v) => {
                check!(carrying == [0], "{key} on spans {carrying:?}");
                check!(
                    meta(&spans[0], key).as_deref() == Some(v),
                    "{key}: {:?}",
                    meta(&spans[0], key)
                );
            }
            None => check!(carrying.is_empty(), "{key} on spans {carrying:?}"),
        }
    }
    Ok(())
}
