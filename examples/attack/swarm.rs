//! Many hostile connections on one thread: non-blocking sockets on one mio `Poll`
//! (not a thread each, so 10 000 of them cost the tool little), with what happened to
//! each one recorded and timed: connected, bytes sent, first response, closed.
//!
//! Rule: this file moves bytes and records what it saw; what to send and when, and
//! what the records mean, is the scenario's business.

use std::collections::{HashMap, VecDeque};
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::response::{Parsed, RequestMethod, ResponseReader};

/// Most bytes kept of what one connection received (the start of its first response).
const KEEP_RECEIVED: usize = 4096;
/// When Linux first retransmits a SYN that got no answer.
const SYN_RETRY: Duration = Duration::from_secs(1);

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The server closed it: end of stream (FIN).
    Eof,
    /// The server reset it (RST), or a write found it gone.
    Reset,
    /// The server closed its socket, but its FIN waits in the kernel behind answers
    /// we never read, so only the server's side shows it (see
    /// [`Swarm::observe_server_side`]).
    Unseen,
    /// We closed it.
    ByUs,
}

/// One connection and its history.
#[derive(Debug)]
pub struct Peer {
    stream: Option<TcpStream>,
    /// Whether we read what the server sends (the no-read client never does).
    reading: bool,
    reader: ResponseReader,
    unparsed: Vec<u8>,
    /// When `connect` was called.
    pub started_at: Instant,
    /// Our end's port: how the server's end is found in /proc/net/tcp.
    local_port: Option<u16>,
    /// What [`Swarm::observe_server_side`] last saw of the server's end.
    pub server_unsent: u64,
    pub server_unread: u64,
    pub server_wrote_at: Option<Instant>,
    /// When the observation before the one that set `server_wrote_at` began: the
    /// write happened after it. An observer that is starved of CPU, or slow to read
    /// the socket table, stamps writes late; this bounds how late.
    pub server_wrote_after: Option<Instant>,
    pub connected_at: Option<Instant>,
    pub connect_error: Option<String>,
    pub first_sent_at: Option<Instant>,
    pub bytes_sent: u64,
    /// The last time a write moved bytes.
    pub last_send_at: Option<Instant>,
    pub bytes_received: u64,
    /// The start of what was received.
    pub received: Vec<u8>,
    /// Complete responses: status and when each ended.
    pub responses: Vec<(u16, Instant)>,
    /// The response bytes did not parse.
    pub garbled: bool,
    pub closed: Option<(Closed, Instant)>,
}

impl Peer {
    pub fn is_connected(&self) -> bool {
        self.connected_at.is_some()
    }

    /// The handshake has neither finished nor failed yet.
    pub fn is_connecting(&self) -> bool {
        self.stream.is_some() && self.connected_at.is_none()
    }

    /// Still ours to use: connected and not closed by either side.
    pub fn is_open(&self) -> bool {
        self.is_connected() && self.closed.is_none()
    }

    /// The first response's status, if one arrived.
    pub fn first_status(&self) -> Option<u16> {
        self.responses.first().map(|&(status, _)| status)
    }

    /// Closed by the server (not by us).
    pub fn closed_by_server(&self) -> Option<(Closed, Instant)> {
        self.closed.filter(|(how, _)| *how != Closed::ByUs)
    }
}

/// The connections of one attack.
pub struct Swarm {
    poll: Poll,
    events: Events,
    addr: SocketAddr,
    pub peers: Vec<Peer>,
    scratch: Vec<u8>,
    /// When [`Swarm::observe_server_side`] last began to look.
    last_observed: Option<Instant>,
}

impl Swarm {
    pub fn new(addr: SocketAddr) -> io::Result<Self> {
        Ok(Self {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            addr,
            peers: Vec::new(),
            scratch: vec![0; 64 * 1024],
            last_observed: None,
        })
    }

    /// Opens `count` more connections, at most `in_flight` handshakes at a time (so a
    /// burst does not overflow the listen backlog), until all are connected or
    /// `window` has passed. Handshakes still pending then (a full backlog drops SYNs,
    /// and the kernel retries them for minutes) are given up: those connections never
    /// connected. `reading`: whether what the server sends is read (and parsed as
    /// responses).
    pub fn connect(&mut self, count: usize, in_flight: usize, window: Duration, reading: bool) {
        let deadline = Instant::now() + window;
        let total = self.peers.len() + count;
        // Handshakes of this burst, oldest first, while they may still count as in
        // flight: a queue, so each loop costs what changed, not a scan of 10 000.
        let mut recent: VecDeque<usize> = VecDeque::new();
        loop {
            let now = Instant::now();
            // A handshake still pending after a second had its SYN dropped (the
            // backlog is full): it no longer counts against the burst.
            while let Some(&key) = recent.front() {
                let peer = &self.peers[key];
                if peer.is_connecting() && now.duration_since(peer.started_at) < SYN_RETRY {
                    break;
                }
                recent.pop_front();
            }
            let mut pending = recent
                .iter()
                .filter(|&&key| self.peers[key].is_connecting())
                .count();
            while self.peers.len() < total && pending < in_flight {
                recent.push_back(self.peers.len());
                self.open(reading);
                pending += 1;
            }
            // Once all are opened, a scan per event batch until they settle.
            let opened = self.peers.len() == total;
            if opened && !self.peers[total - count..].iter().any(Peer::is_connecting) {
                return;
            }
            if now >= deadline {
                for key in total - count..self.peers.len() {
                    if self.peers[key].is_connecting() {
                        self.give_up(key, "no handshake within the connect window");
                    }
                }
                return;
            }
            self.pump(Duration::from_millis(10));
        }
    }

    fn open(&mut self, reading: bool) {
        let key = self.peers.len();
        let mut peer = Peer {
            stream: None,
            started_at: Instant::now(),
            local_port: None,
            server_unsent: 0,
            server_unread: 0,
            server_wrote_at: None,
            server_wrote_after: None,
            reading,
            reader: ResponseReader::default(),
            unparsed: Vec::new(),
            connected_at: None,
            connect_error: None,
            first_sent_at: None,
            bytes_sent: 0,
            last_send_at: None,
            bytes_received: 0,
            received: Vec::new(),
            responses: Vec::new(),
            garbled: false,
            closed: None,
        };
        let opened = TcpStream::connect(self.addr).and_then(|mut stream| {
            let interest = Interest::READABLE | Interest::WRITABLE;
            self.poll
                .registry()
                .register(&mut stream, Token(key), interest)?;
            Ok(stream)
        });
        match opened {
            Ok(stream) => {
                peer.local_port = stream.local_addr().ok().map(|a| a.port());
                peer.stream = Some(stream);
            }
            Err(e) => peer.connect_error = Some(e.to_string()),
        }
        self.peers.push(peer);
    }

    /// Waits up to `timeout` for events and handles them: finished connects, bytes
    /// and closes.
    pub fn pump(&mut self, timeout: Duration) {
        if let Err(e) = self.poll.poll(&mut self.events, Some(timeout)) {
            if e.kind() != ErrorKind::Interrupted {
                eprintln!("attack: poll: {e}");
            }
            return;
        }
        let now = Instant::now();
        let ready: Vec<(usize, bool)> = self
            .events
            .iter()
            .map(|e| (e.token().0, e.is_read_closed() || e.is_error()))
            .collect();
        for (key, hang_up) in ready {
            self.handle(key, hang_up, now);
        }
    }

    /// Pumps until `deadline` or until `done` says so (checked after every poll).
    pub fn pump_until(&mut self, deadline: Instant, mut done: impl FnMut(&Swarm) -> bool) {
        while !done(self) {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            self.pump((deadline - now).min(Duration::from_millis(50)));
        }
    }

    fn handle(&mut self, key: usize, hang_up: bool, now: Instant) {
        let scratch = &mut self.scratch;
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        let Some(stream) = &peer.stream else {
            return;
        };
        if !peer.is_connected() {
            match connect_outcome(stream) {
                // When the handshake finished, which may be a while before we see it
                // when thousands finish at once.
                Ok(true) => peer.connected_at = Some(now - since_last_ack(stream)),
                Ok(false) => return,
                Err(e) => {
                    peer.connect_error = Some(e.to_string());
                    peer.stream = None;
                    return;
                }
            }
        }
        if peer.reading {
            read_available(peer, scratch, now);
            return;
        }
        if hang_up && peer.closed.is_none() {
            // Never read: tell a reset from an orderly close by the pending error.
            let how = match stream.take_error() {
                Ok(Some(_)) | Err(_) => Closed::Reset,
                Ok(None) => Closed::Eof,
            };
            peer.closed = Some((how, now));
        }
    }

    /// Writes as much of `bytes` as the socket takes now; how much that was. A
    /// write that finds the connection gone marks it closed (reset).
    pub fn send(&mut self, key: usize, bytes: &[u8]) -> usize {
        let now = Instant::now();
        let Some(peer) = self.peers.get_mut(key) else {
            return 0;
        };
        if !peer.is_open() {
            return 0;
        }
        let Some(stream) = &mut peer.stream else {
            return 0;
        };
        let mut written = 0;
        while written < bytes.len() {
            match stream.write(&bytes[written..]) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    peer.closed = Some((Closed::Reset, now));
                    break;
                }
            }
        }
        if written > 0 {
            peer.first_sent_at.get_or_insert(now);
            peer.last_send_at = Some(now);
            peer.bytes_sent += written as u64;
        }
        written
    }

    /// Closes our connection `key` (a FIN; a reset if `reset`).
    pub fn close(&mut self, key: usize, reset: bool) {
        let Some(peer) = self.peers.get_mut(key) else {
            return;
        };
        if let Some(mut stream) = peer.stream.take() {
            if reset {
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            }
            let _ = self.poll.registry().deregister(&mut stream);
        }
        if peer.closed.is_none() {
            peer.closed = Some((Closed::ByUs, Instant::now()));
        }
    }

    /// Abandons a connection that never connected.
    fn give_up(&mut self, key: usize, why: &str) {
        let peer = &mut self.peers[key];
        if let Some(mut stream) = peer.stream.take() {
            let _ = self.poll.registry().deregister(&mut stream);
        }
        peer.connect_error = Some(why.to_string());
    }

    /// Closes every connection still open (or still connecting).
    pub fn close_all(&mut self) {
        for key in 0..self.peers.len() {
            self.close(key, false);
        }
    }

    pub fn connected(&self) -> usize {
        self.peers.iter().filter(|p| p.is_connected()).count()
    }

    /// Looks at the server's end of every open connection in the kernel's socket
    /// table: how many bytes the server has written that we have not taken
    /// (`server_unsent`, and `server_wrote_at` when that last grew) and received that it
    /// has not read (`server_unread`); and whether it closed its socket. A client that
    /// never reads cannot see such a close when the server had read all its input:
    /// the server's FIN then waits behind answers the client never takes (TCP's zero
    /// window). Loopback only, like every attack: the server's sockets are in this
    /// machine's /proc/net/tcp.
    pub fn observe_server_side(&mut self) {
        // Reading a big socket table takes a while (a loaded machine, thousands of
        // TIME_WAIT entries): a write it shows happened before the read ended, and
        // after the previous read started.
        let started = Instant::now();
        let table = server_sockets(self.addr.port());
        let now = Instant::now();
        let previous = self.last_observed.replace(started);
        for peer in self.peers.iter_mut().filter(|p| p.is_open()) {
            let Some(port) = peer.local_port else {
                continue;
            };
            let Some(end) = table.get(&port) else {
                peer.closed = Some((Closed::Unseen, now));
                continue;
            };
            // Not yet accepted sockets have no inode either, but are established.
            if end.inode == 0 && end.state != TCP_ESTABLISHED {
                peer.closed = Some((Closed::Unseen, now));
                continue;
            }
            if end.unsent > peer.server_unsent {
                peer.server_wrote_at = Some(now);
                peer.server_wrote_after = previous.or(peer.connected_at);
            }
            peer.server_unsent = end.unsent;
            peer.server_unread = end.unread;
        }
    }
}

/// The server's end of one connection, from /proc/net/tcp.
struct ServerEnd {
    state: u8,
    /// 0 once no process holds the socket (or before it is accepted).
    inode: u64,
    /// Written by the server, not yet acknowledged by us (`tx_queue`).
    unsent: u64,
    /// Received by the server's kernel, not yet read by the server (`rx_queue`).
    unread: u64,
}

/// `st` of an established socket in /proc/net/tcp.
const TCP_ESTABLISHED: u8 = 0x01;

/// Connections waiting in the listen backlog of the server at `server_port` to be
/// accepted (the `rx_queue` of its listening socket in /proc/net/tcp).
pub fn listen_backlog(server_port: u16) -> Option<u64> {
    const TCP_LISTEN: u8 = 0x0a;
    let end = server_sockets_where(server_port, |remote, state| {
        remote == 0 && state == TCP_LISTEN
    })
    .remove(&0)?;
    Some(end.unread)
}

/// The server's ends of connections to `server_port`, by the client's port.
fn server_sockets(server_port: u16) -> HashMap<u16, ServerEnd> {
    server_sockets_where(server_port, |remote, _| remote != 0)
}

/// The sockets on local port `server_port` that `keep(remote port, state)` selects,
/// by remote port.
fn server_sockets_where(
    server_port: u16,
    keep: impl Fn(u16, u8) -> bool,
) -> HashMap<u16, ServerEnd> {
    let mut sockets = HashMap::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        // sl local_address rem_address st tx_queue:rx_queue tr:when retrnsmt uid timeout inode
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port_of = |address: &str| {
                let hex = address.rsplit(':').next()?;
                u16::from_str_radix(hex, 16).ok()
            };
            let queues = fields.get(4).and_then(|q| q.split_once(':'));
            let hex = |text: &str| u64::from_str_radix(text, 16).ok();
            let (Some(local), Some(remote), Some(state), Some((tx, rx)), Some(inode)) = (
                fields.get(1).and_then(|a| port_of(a)),
                fields.get(2).and_then(|a| port_of(a)),
                fields.get(3).and_then(|s| u8::from_str_radix(s, 16).ok()),
                queues.and_then(|(tx, rx)| Some((hex(tx)?, hex(rx)?))),
                fields.get(9).and_then(|i| i.parse::<u64>().ok()),
            ) else {
                continue;
            };
            if local == server_port && keep(remote, state) {
                let end = ServerEnd {
                    state,
                    inode,
                    unsent: tx,
                    unread: rx,
                };
                sockets.insert(remote, end);
            }
        }
    }
    sockets
}

/// Reads until `WouldBlock`, EOF or an error; parses responses as they complete.
fn read_available(peer: &mut Peer, scratch: &mut [u8], now: Instant) {
    loop {
        let Some(stream) = &mut peer.stream else {
            return;
        };
        if peer.closed.is_some() {
            return;
        }
        match stream.read(scratch) {
            Ok(0) => {
                peer.closed = Some((Closed::Eof, now));
                if let Ok(Some(response)) = peer.reader.finish(&peer.unparsed) {
                    peer.responses.push((response.status, now));
                }
                return;
            }
            Ok(n) => {
                let data = &scratch[..n];
                peer.bytes_received += n as u64;
                let keep = KEEP_RECEIVED.saturating_sub(peer.received.len()).min(n);
                peer.received.extend_from_slice(&data[..keep]);
                if !peer.garbled {
                    peer.unparsed.extend_from_slice(data);
                    parse_responses(peer, now);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                peer.closed = Some((Closed::Reset, now));
                return;
            }
        }
    }
}

fn parse_responses(peer: &mut Peer, now: Instant) {
    loop {
        match peer.reader.parse(&peer.unparsed, RequestMethod::Other) {
            Ok(Parsed::Complete { response, consumed }) => {
                peer.responses.push((response.status, now));
                peer.unparsed.drain(..consumed);
            }
            Ok(Parsed::Incomplete { consumed }) => {
                peer.unparsed.drain(..consumed);
                return;
            }
            Err(_) => {
                peer.garbled = true;
                peer.unparsed = Vec::new();
                return;
            }
        }
    }
}

/// How long ago the socket last received an ACK (its SYN-ACK, right after a
/// connect), from TCP_INFO; zero if the kernel will not say.
fn since_last_ack(stream: &TcpStream) -> Duration {
    use std::os::fd::AsRawFd;
    // SAFETY: tcp_info is plain integers, for which all zeroes is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the descriptor is open for the borrow of `stream`; getsockopt writes at
    // most `len` bytes into `info`, and `len` is its size.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    match rc {
        0 => Duration::from_millis(u64::from(info.tcpi_last_ack_recv)),
        _ => Duration::ZERO,
    }
}

/// Whether a non-blocking connect finished: `Ok(true)` connected, `Ok(false)` not
/// yet, `Err` failed (the check mio documents for `connect`).
fn connect_outcome(stream: &TcpStream) -> io::Result<bool> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(e),
    }
}
