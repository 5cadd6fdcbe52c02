//! `TCP_NODELAY` on the pool's PostgreSQL connections.
//!
//! sqlx 0.9.0 opens its TCP connections with Nagle's algorithm on: it set `TCP_NODELAY` up to
//! 0.8 and no longer does (sqlx issue #4335; the fix is merged but not in a release). A
//! message longer than one segment then ends in a short segment that the kernel holds until
//! the server has acknowledged the segments before it, and the server, waiting for the rest
//! of the message, may delay that acknowledgement (40 ms on Linux): it acknowledges every
//! second full segment at once, so the stall hits above all messages of a few segments. On
//! loopback a segment is 64 KB, and a batch's day rows sent as one JSON parameter are
//! such a message: `simulate` of 10,000 participants × 23 days took 53 s, 17.8 s over a Unix
//! socket and 20 s with the option set. With 1,500-byte frames (loopback's MTU lowered for
//! one run) the stall was rarer (3,000 participants: 8.0 s without, 7.0 s with); which
//! statements pay it depends on the network's segment size.
//!
//! sqlx offers no hook on its socket, so after it opens a connection the pool looks among
//! the process's open descriptors for TCP sockets connected to the database server and sets
//! the option on each that lacks it ([`set_nodelay_to`]). PostgreSQL sets it on its own end.

use std::net::{SocketAddr, TcpStream};

/// Sets `TCP_NODELAY` on every TCP socket of this process connected to `host:port` that
/// does not have it, and answers how many it changed. A host that does not resolve changes
/// nothing (the connection just opened to it resolved, so this is a DNS hiccup: the next
/// connection's call catches this one too).
pub async fn set_nodelay_to(host: &str, port: u16) -> usize {
    let peers: Vec<SocketAddr> = match tokio::net::lookup_host((host, port)).await {
        Ok(peers) => peers.collect(),
        Err(e) => {
            tracing::debug!(error = %e, host, "cannot resolve the database host to set TCP_NODELAY");
            return 0;
        }
    };
    // One `readlink` per open descriptor (thousands on a busy server): not on a runtime worker.
    let set = move || {
        sockets_to(&peers)
            .iter()
            .filter(|socket| socket.nodelay().is_ok_and(|on| !on) && socket.set_nodelay(true).is_ok())
            .count()
    };
    tokio::task::spawn_blocking(set).await.unwrap_or(0)
}

/// This process's TCP sockets connected to one of `peers`, each on a descriptor of its own
/// (closed when dropped; socket options are shared with the original).
#[cfg(target_os = "linux")]
pub fn sockets_to(peers: &[SocketAddr]) -> Vec<TcpStream> {
    use std::os::{fd::RawFd, unix::ffi::OsStrExt};

    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            std::fs::read_link(entry.path()).is_ok_and(|target| target.as_os_str().as_bytes().starts_with(b"socket:"))
        })
        .filter_map(|entry| entry.file_name().to_str()?.parse::<RawFd>().ok())
        .filter_map(duplicate)
        .filter(|socket| socket.peer_addr().is_ok_and(|peer| peers.contains(&peer)))
        .collect()
}

/// Elsewhere there is no list of open descriptors to read: connections keep sqlx's default.
#[cfg(not(target_os = "linux"))]
pub fn sockets_to(_peers: &[SocketAddr]) -> Vec<TcpStream> {
    Vec::new()
}

/// A descriptor of our own for `fd`. The number may have been closed, or reused for another
/// file, since it was listed: the copy then fails, or is that file and fails the caller's
/// peer check (a file that is not a TCP socket has no peer).
#[cfg(target_os = "linux")]
fn duplicate(fd: std::os::fd::RawFd) -> Option<TcpStream> {
    use std::os::fd::{FromRawFd, OwnedFd};

    // SAFETY: F_DUPFD_CLOEXEC takes an integer and touches no memory of ours; on an
    // invalid `fd` it fails with EBADF.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    // SAFETY: on success `copy` was just opened by this call and nothing else owns it.
    (copy >= 0).then(|| TcpStream::from(unsafe { OwnedFd::from_raw_fd(copy) }))
}
