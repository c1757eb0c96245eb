//! The worker's conversations with Datadog beyond traces: remote-configuration polls and
//! telemetry requests, each at most one in flight, never holding up the traces.
//!
//! In: the agent's `/info` (which says whether it offers `/v0.7/config` and the telemetry
//! proxy), timers, and the answers, on the worker thread. Out: requests to the sink (spawned on
//! the worker's runtime), remote configs applied to the tracer's configuration, telemetry
//! events queued and sent, and their state published for the status.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::send_error::SendError;
use super::sink::PayloadSink;
use crate::health::{log, AgentHealth, AgentInfo};
use crate::remote::{self, RemoteConfig, CONFIG_PATH, POLL_INTERVAL_WHEN_OFF};
use crate::telemetry::{self, Telemetry};
use crate::tracer::Tracer;

type Answer = Result<(u16, Bytes), SendError>;

/// Remote configuration and telemetry, as the worker runs them.
pub(crate) struct Platform {
    remote: Option<RemoteConfig>,
    next_poll: Option<Instant>,
    poll: Option<JoinHandle<Answer>>,
    /// A 404 was said (remote configuration is off at the agent); said once.
    said_off: bool,
    telemetry: Option<Telemetry>,
    /// The agent offers the telemetry proxy.
    telemetry_offered: bool,
    heartbeat_every: Duration,
    next_heartbeat: Option<Instant>,
    /// The request in flight and how many events it carries.
    sending: Option<JoinHandle<(u64, Answer)>>,
    /// Events in requests that failed.
    failed_events: u64,
}

/// An answer to a request in flight.
pub(crate) enum Answered {
    Poll(Option<Answer>),
    Telemetry(Option<(u64, Answer)>),
}

/// Waits for `slot`'s task; never returns when there is none.
async fn join<T>(slot: &mut Option<JoinHandle<T>>) -> Option<T> {
    match slot {
        Some(handle) => {
            let out = handle.await.ok();
            *slot = None;
            out
        }
        None => std::future::pending().await,
    }
}

impl Platform {
    /// Remote configuration and telemetry for `tracer`, as its settings ask (neither for the
    /// doctor's quiet tracer).
    pub(crate) fn new(tracer: &Tracer) -> Self {
        let s = tracer.config.settings();
        let on = |enabled: bool| enabled && !tracer.quiet;
        let remote = on(s.remote_config_enabled.value)
            .then(|| RemoteConfig::new(Arc::clone(&tracer.identity), &tracer.config));
        let telemetry = on(s.telemetry_enabled.value).then(|| {
            let mut t = Telemetry::new(Arc::clone(&tracer.identity), s.debug.value);
            t.app_started(&tracer.config.effective());
            t
        });
        {
            let mut health = tracer.health.lock().unwrap_or_else(PoisonError::into_inner);
            health.remote.enabled = remote.is_some();
            health.telemetry.enabled = telemetry.is_some();
        }
        Platform {
            remote,
            next_poll: None,
            poll: None,
            said_off: false,
            telemetry,
            telemetry_offered: false,
            heartbeat_every: s.telemetry_heartbeat_interval.value,
            next_heartbeat: None,
            sending: None,
            failed_events: 0,
        }
    }

    /// What `/info` offers: starts polling and sending when it lists the endpoints.
    pub(crate) fn on_info(&mut self, info: &AgentInfo, tracer: &Tracer) {
        let offers_config = info.endpoints.iter().any(|e| e == CONFIG_PATH);
        if self.remote.is_some() {
            health(tracer).remote.offered = Some(offers_config);
            if offers_config && self.next_poll.is_none() && self.poll.is_none() {
                self.next_poll = Some(Instant::now());
            }
        }
        self.telemetry_offered = info
            .endpoints
            .iter()
            .any(|e| e.starts_with("/telemetry/proxy"));
        if self.telemetry.is_some() && self.telemetry_offered && self.next_heartbeat.is_none() {
            self.next_heartbeat = Some(Instant::now() + self.heartbeat_every);
        }
    }

    /// When [`tick`](Self::tick) next has something to do.
    pub(crate) fn wake_at(&self) -> Option<Instant> {
        let poll = self.next_poll.filter(|_| self.poll.is_none());
        let send = (self.sending.is_none()
            && self.telemetry_offered
            && self.telemetry.as_ref().is_some_and(Telemetry::has_events))
        .then(Instant::now);
        [poll, self.next_heartbeat, send]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether a request is in flight.
    pub(crate) fn polling(&self) -> bool {
        self.poll.is_some()
    }

    /// Whether a telemetry request is in flight.
    pub(crate) fn sending(&self) -> bool {
        self.sending.is_some()
    }

    /// The next answer to a request in flight (never returns when there is none).
    pub(crate) async fn answered(&mut self) -> Answered {
        let polling = self.poll.is_some();
        let sending = self.sending.is_some();
        tokio::select! {
            answer = join(&mut self.poll), if polling => Answered::Poll(answer),
            answer = join(&mut self.sending), if sending => Answered::Telemetry(answer),
        }
    }

    /// Takes in an answer from [`answered`](Self::answered).
    pub(crate) fn on_answered(&mut self, answered: Answered, tracer: &Tracer) {
        match answered {
            Answered::Poll(answer) => self.on_poll(answer, tracer),
            Answered::Telemetry(answer) => self.on_sent(answer, tracer),
        }
    }

    /// Starts what is due: a poll, a heartbeat, a telemetry request.
    pub(crate) fn tick(&mut self, sink: &Arc<dyn PayloadSink>, tracer: &Tracer) {
        let now = Instant::now();
        if let (Some(remote), Some(at), None) = (&self.remote, self.next_poll, &self.poll) {
            if at <= now {
                let sink = Arc::clone(sink);
                let body = Bytes::from(remote.request_body());
                self.poll = Some(tokio::spawn(async move {
                    sink.post_json(CONFIG_PATH, Vec::new(), body).await
                }));
                self.next_poll = None;
            }
        }
        if let (Some(t), Some(at)) = (&mut self.telemetry, self.next_heartbeat) {
            if at <= now {
                t.heartbeat(&tracer.counters.snapshot());
                self.next_heartbeat = Some(now + self.heartbeat_every);
            }
        }
        self.send_next(sink);
    }

    fn send_next(&mut self, sink: &Arc<dyn PayloadSink>) {
        if self.sending.is_some() || !self.telemetry_offered {
            return;
        }
        let Some(request) = self.telemetry.as_mut().and_then(Telemetry::next_request) else {
            return;
        };
        let sink = Arc::clone(sink);
        self.sending = Some(tokio::spawn(async move {
            let answer = sink
                .post_json(telemetry::PATH, request.headers, request.body)
                .await;
            (request.events, answer)
        }));
    }

    /// A poll's answer: applies what changed (and tells telemetry), schedules the next poll.
    fn on_poll(&mut self, answer: Option<Answer>, tracer: &Tracer) {
        let Some(remote) = &mut self.remote else {
            return;
        };
        let mut interval = remote.interval;
        let mut changes = Vec::new();
        let failure = match answer {
            Some(Ok((200, body))) => {
                changes = remote.on_reply(&body, &tracer.config);
                remote
                    .reply_error()
                    .map(|e| format!("the reply could not be used: {e}"))
            }
            Some(Ok((404, _))) => {
                interval = POLL_INTERVAL_WHEN_OFF;
                if !self.said_off {
                    self.said_off = true;
                    log::debug(format_args!(
                        "the agent answers 404 to {CONFIG_PATH}: remote configuration is off there; asking again every {} s",
                        POLL_INTERVAL_WHEN_OFF.as_secs()
                    ));
                }
                Some("404: remote configuration is off at the agent".to_string())
            }
            Some(Ok((status, body))) => Some(format!(
                "HTTP status {status}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            )),
            Some(Err(e)) => Some(e.to_string()),
            None => Some("the poll's task ended without an answer".into()),
        };
        {
            let mut h = health(tracer);
            let status = &mut h.remote;
            match failure {
                Some(e) => {
                    status.failed_polls += 1;
                    status.last_error = Some(e);
                }
                None => {
                    status.polls += 1;
                    status.last_poll = Some(SystemTime::now());
                    status.last_error = None;
                }
            }
            status.changes_applied += changes.len() as u64;
            remote::publish(remote, status);
        }
        if let Some(t) = &mut self.telemetry {
            let after: Vec<_> = changes.iter().map(|c| c.after.clone()).collect();
            t.configuration_changed(&after);
        }
        self.next_poll = Some(Instant::now() + interval);
    }

    /// A telemetry request's answer: counted.
    fn on_sent(&mut self, answer: Option<(u64, Answer)>, tracer: &Tracer) {
        let mut h = health(tracer);
        let status = &mut h.telemetry;
        let error = match answer {
            Some((events, Ok((status_code, _)))) if (200..300).contains(&status_code) => {
                status.requests_sent += 1;
                status.events_sent += events;
                None
            }
            Some((events, Ok((code, _)))) => Some((events, format!("HTTP status {code}"))),
            Some((events, Err(e))) => Some((events, e.to_string())),
            None => Some((0, "the request's task ended without an answer".into())),
        };
        if let Some((events, e)) = error {
            status.requests_failed += 1;
            self.failed_events += events;
            status.last_error = Some(e);
        }
        let queue_drops = self.telemetry.as_ref().map_or(0, |t| t.dropped);
        status.events_dropped = self.failed_events + queue_drops;
    }

    /// At shutdown: the last metrics and `app-closing`, sent before `deadline`.
    pub(crate) async fn close(
        &mut self,
        sink: &Arc<dyn PayloadSink>,
        tracer: &Tracer,
        deadline: Instant,
    ) {
        if let Some(poll) = self.poll.take() {
            poll.abort();
        }
        let Some(t) = &mut self.telemetry else {
            return;
        };
        if !self.telemetry_offered {
            return;
        }
        t.closing(&tracer.counters.snapshot());
        while self.sending.is_some() || self.telemetry.as_ref().is_some_and(Telemetry::has_events) {
            if self.sending.is_none() {
                self.send_next(sink);
            }
            match tokio::time::timeout_at(deadline, join(&mut self.sending)).await {
                Ok(answer) => self.on_sent(answer, tracer),
                Err(_) => return,
            }
        }
    }
}

fn health(tracer: &Tracer) -> std::sync::MutexGuard<'_, AgentHealth> {
    tracer.health.lock().unwrap_or_else(PoisonError::into_inner)
}
