//! The DogStatsD client: metrics as DogStatsD datagrams to the agent, over UDP or its Unix
//! datagram socket, through the `cadence` crate (buffered sinks: several metrics per datagram,
//! within the transport's size).
//!
//! In: gauges and counts, on the metrics thread only (never the app's threads). Out: datagrams;
//! each failed send counted, and said once (cause and remedy) until a send works again.

use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;

use cadence::prelude::*;
use cadence::{BufferedUdpMetricSink, BufferedUnixMetricSink, MetricError, StatsdClient};

use crate::config::DogStatsdAddress;
use crate::health::{log, DogStatsdStatus};

/// Bytes per UDP datagram (what fits an Ethernet frame).
const UDP_DATAGRAM_BYTES: usize = 1432;
/// Bytes per Unix datagram (the agent reads up to 8 KiB).
const UNIX_DATAGRAM_BYTES: usize = 8192;

/// A DogStatsD client with the tags every metric carries.
pub(crate) struct DogStatsd {
    client: Option<StatsdClient>,
    address: DogStatsdAddress,
    /// Counts and the last error, for the status.
    pub(crate) status: DogStatsdStatus,
    /// A failure has been said and no send has worked since.
    said_failure: bool,
}

impl std::fmt::Debug for DogStatsd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DogStatsd")
            .field("address", &self.address)
            .field("status", &self.status)
            .finish()
    }
}

/// One metric to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Metric {
    /// A value as it is now.
    Gauge(&'static str, f64, Vec<String>),
    /// How many happened since the previous send.
    Count(&'static str, u64, Vec<String>),
}

impl DogStatsd {
    /// A client for `address`, every metric tagged `tags` (`key:value`).
    pub(crate) fn new(address: DogStatsdAddress, tags: &[String]) -> Self {
        let mut status = DogStatsdStatus {
            address: address.to_string(),
            ..DogStatsdStatus::default()
        };
        let client = match build(&address, tags) {
            Ok(client) => Some(client),
            Err(e) => {
                status.last_error = Some(e.clone());
                log::warn(format_args!(
                    "DogStatsD at {address}: cannot open a socket ({e}); runtime and health metrics will not be sent"
                ));
                None
            }
        };
        DogStatsd {
            client,
            address,
            status,
            said_failure: false,
        }
    }

    /// Sends `metrics`, then flushes the buffer.
    pub(crate) fn send(&mut self, metrics: &[Metric]) {
        let Some(client) = &self.client else {
            return;
        };
        let mut failure: Option<MetricError> = None;
        let mut sent = 0u64;
        for m in metrics {
            let result = match m {
                Metric::Gauge(name, value, tags) => {
                    let mut b = client.gauge_with_tags(name, *value);
                    for t in tags {
                        let (k, v) = t.split_once(':').unwrap_or((t, ""));
                        b = b.with_tag(k, v);
                    }
                    b.try_send().map(drop)
                }
                Metric::Count(name, value, tags) => {
                    let mut b = client.count_with_tags(name, *value as i64);
                    for t in tags {
                        let (k, v) = t.split_once(':').unwrap_or((t, ""));
                        b = b.with_tag(k, v);
                    }
                    b.try_send().map(drop)
                }
            };
            match result {
                Ok(()) => sent += 1,
                Err(e) => failure = Some(e),
            }
        }
        if let Err(e) = client.flush() {
            failure = Some(e);
        }
        match failure {
            None => {
                self.status.metrics_sent += sent;
                if self.said_failure {
                    self.said_failure = false;
                    log::info(format_args!(
                        "DogStatsD at {} takes metrics again",
                        self.address
                    ));
                }
            }
            Some(e) => {
                self.status.send_errors += 1;
                self.status.last_error = Some(e.to_string());
                if !self.said_failure {
                    self.said_failure = true;
                    log::warn(format_args!(
                        "could not send metrics to DogStatsD at {}: {e}; {}",
                        self.address,
                        remedy(&self.address)
                    ));
                }
            }
        }
    }
}

/// What to do when DogStatsD cannot be reached.
pub(crate) fn remedy(address: &DogStatsdAddress) -> String {
    match address {
        DogStatsdAddress::Unix(path) => format!(
            "check that the agent's DogStatsD socket {} is mounted in this container (the hostPath volume of /var/run/datadog) and that the agent has DogStatsD on its socket (DD_DOGSTATSD_SOCKET)",
            path.display()
        ),
        DogStatsdAddress::Udp { .. } => "check DD_DOGSTATSD_URL or DD_AGENT_HOST (in Kubernetes the node's IP, status.hostIP) and that the agent listens for DogStatsD on UDP 8125 from other hosts (DD_DOGSTATSD_NON_LOCAL_TRAFFIC)".to_string(),
    }
}

fn build(address: &DogStatsdAddress, tags: &[String]) -> Result<StatsdClient, String> {
    let mut builder = match address {
        DogStatsdAddress::Udp { host, port } => {
            let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
            socket.set_nonblocking(true).map_err(|e| e.to_string())?;
            let sink = BufferedUdpMetricSink::with_capacity(
                (host.as_str(), *port),
                socket,
                UDP_DATAGRAM_BYTES,
            )
            .map_err(|e| e.to_string())?;
            StatsdClient::builder("", sink)
        }
        DogStatsdAddress::Unix(path) => {
            let socket = UnixDatagram::unbound().map_err(|e| e.to_string())?;
            socket.set_nonblocking(true).map_err(|e| e.to_string())?;
            let sink = BufferedUnixMetricSink::with_capacity(path, socket, UNIX_DATAGRAM_BYTES);
            StatsdClient::builder("", sink)
        }
    };
    for t in tags {
        let (k, v) = t.split_once(':').unwrap_or((t, ""));
        builder = builder.with_tag(k.to_string(), v.to_string());
    }
    Ok(builder.build())
}
