//! A fault-injecting agent of our own, over TCP or a Unix socket, for the faults the real test
//! agent cannot produce: absent at start, stopped and restarted mid-run on the same address,
//! accepting a connection then closing it, stalling, answering slowly, with error statuses or
//! with bytes that are not HTTP. It answers `GET /info` with 404 (an old agent) unless given a
//! body, and records every trace request it reads.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the agent does with one trace request (after reading it whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (200 carries agent rates).
    Status(u16),
    /// Never answer (hold the connection for a minute).
    Hang,
    /// Answer 200 after this long.
    Stall(Duration),
    /// Close the connection without answering.
    Close,
    /// Answer with bytes that are not HTTP, then close.
    Garbage,
}

/// A request received by [`FaultAgent`].
#[derive(Debug, Clone)]
pub struct Received {
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Vec<u8>,
    /// The status it was answered with; `None` when it was not answered.
    pub status: Option<u16>,
    /// The request's path, e.g. `/v0.4/traces`.
    pub path: String,
}

/// Where a [`FaultAgent`] listens.
#[derive(Debug, Clone)]
enum Address {
    Tcp(u16),
    Unix(PathBuf),
}

/// The agent. See the module docs.
#[derive(Debug)]
pub struct FaultAgent {
    /// The TCP port it listens on (0 for a Unix socket).
    pub port: u16,
    /// Trace requests recorded (all of them, unless it is a sink).
    pub received: Arc<Mutex<Vec<Received>>>,
    /// Trace requests answered with 200, recorded or not.
    pub answered: Arc<AtomicUsize>,
    address: Address,
    peer: Peer,
    running: Mutex<Option<Running>>,
}

struct Running {
    stop: Arc<AtomicBool>,
    /// A handle on each connection, to close it from the agent's side.
    connections: Arc<Mutex<Vec<Box<dyn Stream>>>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
struct Peer {
    log: Arc<Mutex<Vec<Received>>>,
    answered: Arc<AtomicUsize>,
    script: Arc<Mutex<std::vec::IntoIter<Fault>>>,
    /// `Some`: the script applies only to the first trace payload received and its retries
    /// (the same body); other payloads are answered 200.
    first_payload: Option<Arc<Mutex<Option<Vec<u8>>>>>,
    record: bool,
    /// The `/info` body (`None`: 404) and the `Datadog-Agent-State` sent with every answer.
    info: Arc<Mutex<(Option<String>, Option<String>)>>,
}

impl FaultAgent {
    /// In a script of statuses: read the request, then hold the connection without answering.
    pub const HANG: u16 = 0;

    /// A TCP agent that answers with `statuses` in turn (then 200) and records every request.
    pub fn start(statuses: Vec<u16>) -> FaultAgent {
        let faults = statuses
            .into_iter()
            .map(|s| match s {
                Self::HANG => Fault::Hang,
                s => Fault::Status(s),
            })
            .collect();
        Self::tcp(faults)
    }

    /// A TCP agent that applies `faults` to trace requests in turn (then answers 200).
    pub fn tcp(faults: Vec<Fault>) -> FaultAgent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let agent = Self::new(Address::Tcp(port), faults, true, None);
        agent.listen_tcp(listener);
        agent
    }

    /// A TCP agent that applies `faults` to the first trace payload it receives and to its
    /// retries only, answering 200 to every other payload, however requests interleave.
    pub fn tcp_for_first_payload(faults: Vec<Fault>) -> FaultAgent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut agent = Self::new(Address::Tcp(port), faults, true, None);
        agent.peer.first_payload = Some(Arc::new(Mutex::new(None)));
        agent.listen_tcp(listener);
        agent
    }

    /// An agent on the Unix socket `path` applying `faults`; listening at once only if
    /// `listening` (else call [`resume`](Self::resume) to start it, as an agent that comes up
    /// after the app).
    pub fn unix(path: &Path, faults: Vec<Fault>, listening: bool) -> FaultAgent {
        let agent = Self::new(Address::Unix(path.to_path_buf()), faults, true, None);
        if listening {
            agent.resume();
        }
        agent
    }

    /// A TCP agent whose `/info` answers `info` (JSON).
    pub fn tcp_with_info(faults: Vec<Fault>, info: &str) -> FaultAgent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let agent = Self::new(Address::Tcp(port), faults, true, Some(info.to_string()));
        agent.listen_tcp(listener);
        agent
    }

    /// An agent that accepts everything and only counts requests (a sink for benchmarks).
    pub fn sink() -> FaultAgent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let agent = Self::new(Address::Tcp(port), Vec::new(), false, None);
        agent.listen_tcp(listener);
        agent
    }

    fn new(address: Address, faults: Vec<Fault>, record: bool, info: Option<String>) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(AtomicUsize::new(0));
        FaultAgent {
            port: match address {
                Address::Tcp(port) => port,
                Address::Unix(_) => 0,
            },
            received: Arc::clone(&received),
            answered: Arc::clone(&answered),
            address,
            peer: Peer {
                log: received,
                answered,
                script: Arc::new(Mutex::new(faults.into_iter())),
                first_payload: None,
                record,
                info: Arc::new(Mutex::new((info, None))),
            },
            running: Mutex::new(None),
        }
    }

    /// From now on `/info` answers `info`, and every answer carries `Datadog-Agent-State:
    /// state` (as an agent whose configuration changed).
    pub fn set_info(&self, info: &str, state: &str) {
        *self.peer.info.lock().unwrap() = (Some(info.to_string()), Some(state.to_string()));
    }

    /// The URL for `DD_TRACE_AGENT_URL`.
    pub fn url(&self) -> String {
        match &self.address {
            Address::Tcp(port) => format!("http://127.0.0.1:{port}"),
            Address::Unix(path) => format!("unix://{}", path.display()),
        }
    }

    /// Requests recorded so far.
    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// The paths of the trace requests recorded, in the order they arrived.
    pub fn paths(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.path.clone())
            .collect()
    }

    /// Span ids in the requests answered with 200, in the order they arrived.
    pub fn accepted_span_ids(&self) -> Vec<u64> {
        let received = self.received.lock().unwrap();
        let mut ids = Vec::new();
        for r in received.iter().filter(|r| r.status == Some(200)) {
            if r.path.starts_with("/v1.0/") {
                // {11: [{4: [{4: span_id, …}, …], …}, …], …}
                let payload: rmpv::Value = rmp_serde::from_slice(&r.body).expect("a v1.0 payload");
                let field = |v: &rmpv::Value, k: u64| {
                    v.as_map()
                        .and_then(|m| m.iter().find(|(key, _)| key.as_u64() == Some(k)))
                        .map(|(_, v)| v.clone())
                };
                for chunk in field(&payload, 11)
                    .and_then(|c| c.as_array().cloned())
                    .unwrap_or_default()
                {
                    for span in field(&chunk, 4)
                        .and_then(|s| s.as_array().cloned())
                        .unwrap_or_default()
                    {
                        ids.push(field(&span, 4).and_then(|v| v.as_u64()).expect("a span id"));
                    }
                }
                continue;
            }
            if r.path.starts_with("/v0.5/") {
                // [strings, chunks of [service, name, resource, trace_id, span_id, …]]
                let (_, chunks): (Vec<String>, Vec<Vec<Vec<rmpv::Value>>>) =
                    rmp_serde::from_slice(&r.body).expect("a v0.5 payload");
                for span in chunks.iter().flatten() {
                    ids.push(span[4].as_u64().expect("a span id"));
                }
                continue;
            }
            let payload: Vec<Vec<std::collections::HashMap<String, rmpv::Value>>> =
                rmp_serde::from_slice(&r.body).expect("a v0.4 payload");
            for span in payload.iter().flatten() {
                ids.push(span["span_id"].as_u64().expect("a span id"));
            }
        }
        ids
    }

    /// Stops listening and closes every connection, as an agent that goes away; the socket
    /// file is removed.
    pub fn stop(&self) {
        let Some(running) = self.running.lock().unwrap().take() else {
            return;
        };
        running.stop.store(true, Ordering::SeqCst);
        for c in running.connections.lock().unwrap().drain(..) {
            c.close();
        }
        if let Address::Unix(path) = &self.address {
            let _ = std::fs::remove_file(path);
        }
        // Let the accept loop see the flag.
        std::thread::sleep(Duration::from_millis(30));
    }

    /// Listens again on the same address (after [`stop`](Self::stop), or the first time for an
    /// agent created not listening).
    pub fn resume(&self) {
        match &self.address {
            Address::Tcp(port) => {
                let listener = TcpListener::bind(("127.0.0.1", *port)).expect("bind again");
                self.listen_tcp(listener);
            }
            Address::Unix(path) => {
                let _ = std::fs::remove_file(path);
                let listener = UnixListener::bind(path).expect("bind the socket");
                listener.set_nonblocking(true).expect("nonblocking");
                self.listen(move || listener.accept().ok().map(|(s, _)| s));
            }
        }
    }

    fn listen_tcp(&self, listener: TcpListener) {
        listener.set_nonblocking(true).expect("nonblocking");
        self.listen(move || listener.accept().ok().map(|(s, _)| s));
    }

    /// Serves every connection `accept` returns (`None`: none waiting), each on its own thread,
    /// until [`stop`](Self::stop).
    fn listen<S: Stream>(&self, mut accept: impl FnMut() -> Option<S> + Send + 'static) {
        let stop = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<Box<dyn Stream>>>> = Arc::new(Mutex::new(Vec::new()));
        *self.running.lock().unwrap() = Some(Running {
            stop: Arc::clone(&stop),
            connections: Arc::clone(&connections),
        });
        let peer = self.peer.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let Some(s) = accept() else {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                let Some(handle) = s.blocking_handle() else {
                    continue;
                };
                connections.lock().unwrap().push(handle);
                let peer = peer.clone();
                std::thread::spawn(move || serve(s, &peer));
            }
        });
    }
}

impl Drop for FaultAgent {
    fn drop(&mut self) {
        if let Some(running) = self.running.get_mut().unwrap().take() {
            running.stop.store(true, Ordering::SeqCst);
        }
        if let Address::Unix(path) = &self.address {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A connection the agent can close from its side.
trait Stream: Read + Write + Send + 'static {
    fn close(&self);
    /// Makes the stream blocking and returns a second handle on it, for [`close`].
    fn blocking_handle(&self) -> Option<Box<dyn Stream>>;
}

/// Implements [`Stream`] for a std socket type.
macro_rules! stream {
    ($t:ty) => {
        impl Stream for $t {
            fn close(&self) {
                let _ = self.shutdown(Shutdown::Both);
            }
            fn blocking_handle(&self) -> Option<Box<dyn Stream>> {
                self.set_nonblocking(false).ok()?;
                Some(Box::new(self.try_clone().ok()?))
            }
        }
    };
}
stream!(TcpStream);
stream!(UnixStream);

fn serve<S: Stream>(stream: S, peer: &Peer) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (info, state) = peer.info.lock().unwrap().clone();
        let state = state.unwrap_or_default();
        if line.starts_with("GET /info") {
            let (status, reply) = match &info {
                Some(info) => (200, info.as_str()),
                None => (404, "404 page not found"),
            };
            if respond(reader.get_mut(), status, reply, &state).is_err() {
                return;
            }
            continue;
        }
        let path = line.split(' ').nth(1).unwrap_or_default().to_string();
        let scripted = match &peer.first_payload {
            None => true,
            Some(first) => first.lock().unwrap().get_or_insert_with(|| body.clone()) == &body,
        };
        let fault = scripted
            .then(|| peer.script.lock().unwrap().next())
            .flatten()
            .unwrap_or(Fault::Status(200));
        let status = match &fault {
            Fault::Status(s) => Some(*s),
            Fault::Stall(_) => Some(200),
            Fault::Hang | Fault::Close | Fault::Garbage => None,
        };
        if peer.record {
            peer.log.lock().unwrap().push(Received {
                headers,
                body,
                status,
                path,
            });
        }
        match fault {
            Fault::Hang => {
                std::thread::sleep(Duration::from_secs(60));
                return;
            }
            Fault::Close => return reader.get_ref().close(),
            Fault::Garbage => {
                let _ = reader
                    .get_mut()
                    .write_all(b"\x00\x01 this is not HTTP\r\n\r\n");
                return reader.get_ref().close();
            }
            Fault::Stall(d) => std::thread::sleep(d),
            Fault::Status(_) => {}
        }
        let status = status.unwrap_or(200);
        if status == 200 {
            peer.answered.fetch_add(1, Ordering::Relaxed);
        }
        let reply = if status == 200 {
            r#"{"rate_by_service":{"service:,env:":1}}"#
        } else {
            "scripted failure"
        };
        if respond(reader.get_mut(), status, reply, &state).is_err() {
            return;
        }
    }
}

fn respond(w: &mut impl Write, status: u16, body: &str, state: &str) -> std::io::Result<()> {
    let state = if state.is_empty() {
        String::new()
    } else {
        format!("Datadog-Agent-State: {state}\r\n")
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\n{state}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    w.write_all(response.as_bytes())
}
