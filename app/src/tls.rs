//! HTTPS in front of the HTTP server.
//!
//! tiny_http's own TLS support is tied to rustls 0.20 (and ring 0.16), which
//! are no longer maintained. Instead, with `--web-config-file`, tiny_http
//! listens on a Unix socket in a private directory (mode 0700) and this
//! module accepts the TCP connections: one thread per connection does the
//! TLS handshake with current rustls, then relays bytes between the TLS
//! session and a connection to that socket. HTTP parsing, keep-alive and the
//! rest stay tiny_http's.

use std::ffi::CString;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustls::ServerConnection;

use crate::log::{Level, Logger};

/// A client must finish the TLS handshake within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection with no traffic either way for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Connections relayed at once; beyond, new ones are closed at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// Client bytes read ahead of what the HTTP server has taken.
const MAX_PENDING: usize = 64 * 1024;
const CHUNK: usize = 16 * 1024;

/// A private directory for the internal socket, removed on drop.
pub struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    /// Creates `orders-api.XXXXXX` (mode 0700) in the temporary directory.
    pub fn create() -> io::Result<PrivateDir> {
        let template = std::env::temp_dir().join("orders-api.XXXXXX");
        let mut bytes = CString::new(template.as_os_str().as_bytes()).map_err(io::Error::other)?.into_bytes_with_nul();
        // SAFETY: a NUL-terminated, writable buffer, as mkdtemp requires.
        let made = unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) };
        if made.is_null() {
            return Err(io::Error::last_os_error());
        }
        bytes.pop(); // the NUL
        Ok(PrivateDir { path: PathBuf::from(std::ffi::OsString::from_vec(bytes)) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Binds `listen` and relays every TLS connection to the Unix socket
/// `backend`. Returns the bound address.
pub fn start(listen: SocketAddr, config: Arc<rustls::ServerConfig>, backend: PathBuf, logger: Arc<Logger>) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(listen)?;
    let addr = listener.local_addr()?;
    let open = Arc::new(AtomicUsize::new(0));
    thread::Builder::new().name("tls-accept".into()).spawn(move || loop {
        match listener.accept() {
            Ok((tcp, _)) => {
                if open.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                    open.fetch_sub(1, Ordering::AcqRel);
                    continue; // dropping `tcp` closes it
                }
                let (config, backend, open) = (Arc::clone(&config), backend.clone(), Arc::clone(&open));
                let spawned = thread::Builder::new().name("tls-conn".into()).spawn(move || {
                    let _ = relay(tcp, config, &backend);
                    open.fetch_sub(1, Ordering::AcqRel);
                });
                if spawned.is_err() {
                    // The closure (and its count) is gone with the failed spawn.
                    logger.event(Level::Warn, "cannot start a connection thread").emit();
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionAborted | ErrorKind::Interrupted) => {}
            Err(err) => {
                // As for the plain HTTP listener: exit so that systemd
                // (Restart=on-failure) starts a fresh process.
                logger.event(Level::Error, "listener failed, exiting").field("error", err.to_string()).emit();
                std::process::exit(1);
            }
        }
    })?;
    Ok(addr)
}

/// Handshakes, then relays until both sides are done.
fn relay(mut tcp: TcpStream, config: Arc<rustls::ServerConfig>, backend: &Path) -> io::Result<()> {
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    tcp.set_write_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let mut tls = ServerConnection::new(config).map_err(io::Error::other)?;
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    while tls.is_handshaking() {
        if Instant::now() > deadline {
            return Err(ErrorKind::TimedOut.into());
        }
        tls.complete_io(&mut tcp)?;
    }
    tcp.set_read_timeout(None)?;
    tcp.set_write_timeout(None)?;
    let unix = UnixStream::connect(backend)?;
    tcp.set_nonblocking(true)?;
    unix.set_nonblocking(true)?;
    Relay { tls, tcp, unix, to_backend: Vec::new(), tcp_eof: false, client_done: false, backend_shut: false, backend_done: false }.run()
}

struct Relay {
    tls: ServerConnection,
    tcp: TcpStream,
    unix: UnixStream,
    /// Plaintext from the client not yet written to the HTTP server.
    to_backend: Vec<u8>,
    /// The client closed its side of the TCP connection.
    tcp_eof: bool,
    /// All the client's plaintext has been read (close_notify, or TCP EOF
    /// once what came before it is read).
    client_done: bool,
    /// We closed our write side of the Unix connection (after client_done).
    backend_shut: bool,
    /// The HTTP server closed the connection.
    backend_done: bool,
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == ErrorKind::WouldBlock
}

impl Relay {
    /// Moves bytes whenever a socket is ready, without blocking: sockets are
    /// non-blocking and `poll` waits when nothing could move.
    fn run(mut self) -> io::Result<()> {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let mut progress = false;

            // Client → TLS session → plaintext.
            if self.reads_client() {
                match self.tls.read_tls(&mut self.tcp) {
                    Ok(n) => {
                        progress = true;
                        if n == 0 {
                            self.tcp_eof = true;
                        }
                        if let Err(e) = self.tls.process_new_packets() {
                            let _ = self.tls.write_tls(&mut self.tcp); // the alert, if it fits
                            return Err(io::Error::new(ErrorKind::InvalidData, e));
                        }
                    }
                    Err(e) if would_block(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            while !self.client_done {
                match self.tls.reader().read(&mut buf) {
                    Ok(0) => self.client_done = true, // close_notify
                    Ok(n) => self.to_backend.extend_from_slice(&buf[..n]),
                    Err(e) if would_block(&e) => break,
                    Err(e) if e.kind() == ErrorKind::UnexpectedEof => self.client_done = true,
                    Err(e) => return Err(e),
                }
                progress = true;
            }

            // Plaintext → HTTP server.
            if !self.to_backend.is_empty() {
                match self.unix.write(&self.to_backend) {
                    Ok(n) => {
                        self.to_backend.drain(..n);
                        progress = true;
                    }
                    Err(e) if would_block(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            if self.client_done && self.to_backend.is_empty() && !self.backend_shut {
                let _ = self.unix.shutdown(Shutdown::Write);
                self.backend_shut = true;
                progress = true;
            }

            // HTTP server → TLS session, one chunk at a time once the
            // previous one has gone out (bounds what is buffered).
            if self.reads_backend() {
                match self.unix.read(&mut buf) {
                    Ok(0) => {
                        self.backend_done = true;
                        self.tls.send_close_notify();
                    }
                    Ok(n) => self.tls.writer().write_all(&buf[..n])?,
                    Err(e) if would_block(&e) => {}
                    Err(e) => return Err(e),
                }
                progress |= self.tls.wants_write() || self.backend_done;
            }

            // TLS session → client.
            while self.tls.wants_write() {
                match self.tls.write_tls(&mut self.tcp) {
                    Ok(_) => progress = true,
                    Err(e) if would_block(&e) => break,
                    Err(e) => return Err(e),
                }
            }

            if self.backend_done && !self.tls.wants_write() {
                return Ok(());
            }
            if !progress {
                self.wait()?;
            }
        }
    }

    fn reads_client(&self) -> bool {
        !self.tcp_eof && !self.client_done && self.to_backend.len() < MAX_PENDING
    }

    fn reads_backend(&self) -> bool {
        !self.backend_done && !self.tls.wants_write()
    }

    /// Sleeps until a socket can move what is pending.
    fn wait(&self) -> io::Result<()> {
        let interest = |read: bool, write: bool| (if read { libc::POLLIN } else { 0 }) | (if write { libc::POLLOUT } else { 0 });
        let tcp_events = interest(self.reads_client(), self.tls.wants_write());
        let unix_events = interest(self.reads_backend(), !self.to_backend.is_empty());
        // A socket with nothing to wait for is left out (fd -1), so that a
        // hang-up reported on it cannot wake the loop over and over.
        let fd = |sock: &dyn AsRawFd, events: i16| if events == 0 { -1 } else { sock.as_raw_fd() };
        let mut fds = [
            libc::pollfd { fd: fd(&self.tcp, tcp_events), events: tcp_events, revents: 0 },
            libc::pollfd { fd: fd(&self.unix, unix_events), events: unix_events, revents: 0 },
        ];
        loop {
            // SAFETY: two valid pollfd entries.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, IDLE_TIMEOUT.as_millis() as libc::c_int) };
            match n {
                0 => return Err(ErrorKind::TimedOut.into()),
                n if n > 0 => return Ok(()),
                _ => {
                    let err = io::Error::last_os_error();
                    if err.kind() != ErrorKind::Interrupted {
                        return Err(err);
                    }
                }
            }
        }
    }
}
