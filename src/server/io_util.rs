//! Socket helpers every driver uses: copying the core's output to a socket, and
//! naming the error kinds the loops branch on.
//!
//! Rule: only `std::io` and `rustix`'s safe system calls here; no HTTP, no mio.

use std::fs::File;
use std::io::{self, ErrorKind, Write};
use std::os::fd::AsFd;

use crate::protocol::Output;

/// Largest file chunk sent in one call, so one big download cannot hog the loop.
pub const FILE_CHUNK: u64 = 256 * 1024;

/// The socket has no data (or no room) right now.
pub fn would_block(err: &io::Error) -> bool {
    err.kind() == ErrorKind::WouldBlock
}

/// A signal interrupted the call; retry it.
pub fn interrupted(err: &io::Error) -> bool {
    err.kind() == ErrorKind::Interrupted
}

/// A blocking socket's timeout expired (Linux reports `WouldBlock`, others `TimedOut`).
pub fn timed_out(err: &io::Error) -> bool {
    matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Out of file descriptors or kernel memory: accepting must pause, not spin.
pub fn out_of_resources(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Reads what has already arrived on a socket, blocking or not, without waiting
/// for more (`MSG_DONTWAIT`): `WouldBlock` when nothing has, `Ok(0)` at EOF.
pub fn read_arrived<S: AsFd>(stream: &S, buf: &mut [u8]) -> io::Result<usize> {
    let (_, n) = rustix::net::recv(stream, buf, rustix::net::RecvFlags::DONTWAIT)?;
    Ok(n)
}

/// Writes one piece of output, returning how many bytes went.
pub fn write_output<S: Write + AsFd>(stream: &mut S, output: Output<'_>) -> io::Result<usize> {
    let written = match output {
        Output::Bytes(bytes) => stream.write(bytes)?,
        Output::File { file, offset, len } => send_file(stream, file, offset, len.min(FILE_CHUNK))?,
    };
    if written == 0 {
        // A file that shrank after its Content-Length was sent can never be
        // finished: closing is the only honest answer (and retrying would spin).
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "nothing could be written: the file was truncated while being sent",
        ));
    }
    Ok(written)
}

/// Writes one piece of a connection's last output, which the caller follows with a
/// close (or `shutdown`) as soon as all of it is written. Bytes go with `MSG_MORE`,
/// so the kernel holds the last segment back and the FIN that the close queues leaves
/// in it: one segment (and one wake-up of the client) less per connection. The close
/// releases it; nothing waits on a timer.
#[cfg(target_os = "linux")]
pub fn write_last_output<S: Write + AsFd>(stream: &mut S, output: Output<'_>) -> io::Result<usize> {
    match output {
        Output::Bytes(bytes) if !bytes.is_empty() => {
            use rustix::net::SendFlags;
            Ok(rustix::net::send(
                &*stream,
                bytes,
                SendFlags::MORE | SendFlags::NOSIGNAL,
            )?)
        }
        output => write_output(stream, output),
    }
}

/// Elsewhere the last output is written like any other.
#[cfg(not(target_os = "linux"))]
pub fn write_last_output<S: Write + AsFd>(stream: &mut S, output: Output<'_>) -> io::Result<usize> {
    write_output(stream, output)
}

/// Copies a file range to a socket inside the kernel (`sendfile(2)`).
#[cfg(target_os = "linux")]
fn send_file<S: AsFd>(socket: &S, file: &File, offset: u64, len: u64) -> io::Result<usize> {
    let mut off = offset;
    Ok(rustix::fs::sendfile(
        socket,
        file,
        Some(&mut off),
        len as usize,
    )?)
}

/// Portable fallback: read a chunk at the offset, then write it.
#[cfg(not(target_os = "linux"))]
fn send_file<S: Write>(socket: &mut S, file: &File, offset: u64, len: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len as usize];
    let n = file.read_at(&mut buf, offset)?;
    socket.write(&buf[..n])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    /// The last output waits in the kernel for the close, and leaves with the FIN.
    #[cfg(target_os = "linux")]
    #[test]
    fn last_output_is_held_back_until_the_close() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        server.set_nodelay(true).unwrap();
        let sent = write_last_output(&mut server, Output::Bytes(b"last")).unwrap();
        assert_eq!(sent, 4);
        client
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 16];
        let early = client.read(&mut buf);
        assert!(
            early.as_ref().is_err_and(timed_out),
            "the bytes should wait for the close, got {early:?}"
        );
        drop(server);
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"last", "then they arrive, followed by the close");
    }
}
