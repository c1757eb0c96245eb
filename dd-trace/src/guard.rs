//! The guard: owns the worker thread and is how the app flushes and shuts the tracer down.
//!
//! In: calls from the app (`flush`, `shutdown`, drop), on whatever thread holds the guard; these
//! block that thread for at most their timeout, and are the only blocking calls in the crate.
//! Out: commands to the worker, whose answer they wait for.

use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::config::Configuration;
use crate::diagnostics::{DeliverySummary, TracerFlare, TracerStatus, TracerStatusHandle};
use crate::error::{FlareError, FlushError};
use crate::export::worker::{Command, FlushOutcome};
use crate::layer::panics::{self, Flusher};
use crate::metrics::MetricsThread;
use crate::tracer::Tracer;

/// The running worker, as the guard sees it.
pub(crate) struct WorkerHandle {
    tracer: Arc<Tracer>,
    commands: UnboundedSender<Command>,
    thread: Option<JoinHandle<()>>,
    agent_timeout: Duration,
    /// What an aborting panic calls to send the finished traces (registered with the panic
    /// hook, which holds it weakly: it goes with the worker).
    _abort_flush: Arc<Flusher>,
    /// The runtime and health metrics' thread, stopped with the worker.
    _metrics: Option<MetricsThread>,
}

impl WorkerHandle {
    pub(crate) fn new(
        tracer: Arc<Tracer>,
        commands: UnboundedSender<Command>,
        thread: JoinHandle<()>,
        agent_timeout: Duration,
        metrics: Option<MetricsThread>,
    ) -> Self {
        let sender = commands.clone();
        let abort_flush: Arc<Flusher> = Arc::new(move |timeout: Duration| {
            let (reply, done) = sync_channel(1);
            let deadline = tokio::time::Instant::now() + timeout.mul_f64(0.9);
            if sender.send(Command::Flush(deadline, reply)).is_ok() {
                let _ = done.recv_timeout(timeout);
            }
        });
        panics::register_flusher(&abort_flush);
        WorkerHandle {
            tracer,
            commands,
            thread: Some(thread),
            agent_timeout,
            _abort_flush: abort_flush,
            _metrics: metrics,
        }
    }
}

/// Keeps the tracer's worker running. Dropping it sends every finished trace, waiting at most
/// the shutdown timeout (default [`DEFAULT_SHUTDOWN_TIMEOUT`](crate::config::DEFAULT_SHUTDOWN_TIMEOUT));
/// keep it alive for as long as the app traces, typically in `main`.
#[must_use = "dropping the guard stops the tracer: hold it until the app exits"]
pub struct DatadogGuard {
    worker: Option<WorkerHandle>,
    shutdown_timeout: Duration,
    /// The settings in effect (also for a disabled tracer, which has no worker).
    config: Arc<Configuration>,
}

impl std::fmt::Debug for DatadogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatadogGuard")
            .field("running", &self.worker.is_some())
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish()
    }
}

impl DatadogGuard {
    pub(crate) fn new(
        worker: Option<WorkerHandle>,
        shutdown_timeout: Duration,
        config: Arc<Configuration>,
    ) -> Self {
        DatadogGuard {
            worker,
            shutdown_timeout,
            config,
        }
    }

    /// Sends every trace finished so far and waits until the agent has answered (or delivery
    /// was given up on), at most the shutdown timeout. Blocks the calling thread. Returns what
    /// the tracer has delivered and dropped so far ([`DeliverySummary`]).
    ///
    /// # Errors
    /// [`FlushError::Timeout`] if the deadline passed, [`FlushError::AgentUnreachable`] if the
    /// agent could not be reached (the traces wait in the retry buffer),
    /// [`FlushError::Stopped`] if the worker is gone.
    pub fn flush(&self) -> Result<DeliverySummary, FlushError> {
        self.flush_timeout(self.shutdown_timeout)
    }

    /// [`flush`](Self::flush) with a deadline of `timeout`.
    ///
    /// # Errors
    /// As [`flush`](Self::flush).
    pub fn flush_timeout(&self, timeout: Duration) -> Result<DeliverySummary, FlushError> {
        let Some(worker) = &self.worker else {
            return Ok(DeliverySummary::default());
        };
        let (reply, done) = sync_channel(1);
        // As at shutdown, the worker gives up slightly before the caller stops waiting, so a
        // later shutdown does not queue behind deliveries this flush no longer waits for.
        let worker_deadline = tokio::time::Instant::now() + timeout.mul_f64(0.9);
        worker
            .commands
            .send(Command::Flush(worker_deadline, reply))
            .map_err(|_| FlushError::Stopped)?;
        match done.recv_timeout(timeout) {
            Ok(FlushOutcome::Done) => Ok(DeliverySummary::new(worker.tracer.counters.snapshot())),
            Ok(FlushOutcome::Unreachable(cause)) => Err(FlushError::AgentUnreachable(cause)),
            Ok(FlushOutcome::TimedOut) | Err(RecvTimeoutError::Timeout) => {
                Err(FlushError::Timeout(timeout))
            }
            Err(RecvTimeoutError::Disconnected) => Err(FlushError::Stopped),
        }
    }

    /// Sends every finished trace, waiting at most `timeout`, and stops the worker. Spans that
    /// finish afterwards are dropped and counted. One line (info level: stderr, or the
    /// [diagnostics handler](crate::diagnostics::set_handler), which may drop it) says what
    /// was sent and what was dropped, and why; the same comes back as the
    /// [`DeliverySummary`].
    ///
    /// # Errors
    /// [`FlushError::Timeout`] if the deadline passed first (what was still in flight is
    /// dropped and counted: [`status_handle`](Self::status_handle) reads the final counts);
    /// [`FlushError::Stopped`] if the worker had already stopped.
    pub fn shutdown(mut self, timeout: Duration) -> Result<DeliverySummary, FlushError> {
        self.stop(timeout)
    }

    fn stop(&mut self, timeout: Duration) -> Result<DeliverySummary, FlushError> {
        let Some(mut worker) = self.worker.take() else {
            return Ok(DeliverySummary::default());
        };
        let (reply, done) = sync_channel(1);
        // The worker gives up slightly before the caller stops waiting, so it can count drops.
        let worker_deadline = tokio::time::Instant::now() + timeout.mul_f64(0.9);
        if worker
            .commands
            .send(Command::Shutdown(worker_deadline, reply))
            .is_err()
        {
            worker.tracer.queue.close();
            return Err(FlushError::Stopped);
        }
        match done.recv_timeout(timeout) {
            Ok(()) => {
                if let Some(thread) = worker.thread.take() {
                    let _ = thread.join();
                }
                Ok(DeliverySummary::new(worker.tracer.counters.snapshot()))
            }
            Err(RecvTimeoutError::Timeout) => Err(FlushError::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(FlushError::Stopped),
        }
    }

    /// The tracer's counters and latest agent state.
    pub fn status(&self) -> TracerStatus {
        self.status_handle().status()
    }

    /// A tracer flare: a zip of the configuration in effect (secrets redacted), the status,
    /// the latest warnings and notices, and versions, to write to a file
    /// ([`TracerFlare::write_to_dir`]) or send to Datadog support through the agent
    /// ([`send_flare`](Self::send_flare)). Made on the calling thread, without I/O.
    pub fn flare(&self) -> TracerFlare {
        let identity = self.worker.as_ref().map(|w| &*w.tracer.identity);
        crate::diagnostics::flare::build(&self.status(), identity)
    }

    /// Makes a [`flare`](Self::flare) and sends it to the agent's tracer flare endpoint for
    /// the support case `case_id`, as Datadog's tracers do; blocks at most the agent timeout
    /// (plus a second).
    ///
    /// # Errors
    /// [`FlareError::Agent`] when the agent refused it or could not be reached,
    /// [`FlareError::Timeout`], or [`FlareError::Stopped`] when tracing is disabled.
    pub fn send_flare(&self, case_id: &str, email: &str) -> Result<(), FlareError> {
        let Some(worker) = &self.worker else {
            return Err(FlareError::Stopped);
        };
        let (content_type, body) = self.flare().form(case_id, email);
        let (reply, done) = sync_channel(1);
        worker
            .commands
            .send(Command::SendFlare(content_type, body, reply))
            .map_err(|_| FlareError::Stopped)?;
        let timeout = worker.agent_timeout + Duration::from_secs(1);
        match done.recv_timeout(timeout) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(FlareError::Agent(e)),
            Err(RecvTimeoutError::Timeout) => Err(FlareError::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(FlareError::Stopped),
        }
    }

    /// A handle that reads the status from anywhere, even after the guard is gone.
    pub fn status_handle(&self) -> TracerStatusHandle {
        TracerStatusHandle::new(
            self.worker.as_ref().map(|w| Arc::clone(&w.tracer)),
            Arc::clone(&self.config),
        )
    }
}

impl Drop for DatadogGuard {
    fn drop(&mut self) {
        let _ = self.stop(self.shutdown_timeout);
    }
}
