//! Runtimes on threads of their own, for work that must neither wait behind a server
//! worker's other requests nor hold them up (see [`crate::db::spawn_on_writer`] and the
//! board cache's refreshes).

use tokio::runtime::Handle;

/// Starts a single-threaded runtime on a new thread named `name`, running until the
/// process ends, and answers its handle.
///
/// # Panics
/// When the runtime or the thread cannot be started (no threads left).
pub fn start(name: &str) -> Handle {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start the runtime of `{name}`: {e}"));
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))
        .unwrap_or_else(|e| panic!("cannot start the thread `{name}`: {e}"));
    handle
}
