//! Every background task of one [`Application`](crate::startup::Application), started here
//! and stopped together by one cancellation token: when its server has stopped, or when the
//! application is dropped. Two applications in one process share no thread and no task.
//!
//! - the writers' thread (SQLite): the upload queue's lane runs there (see
//!   [`crate::services::steps::queue`]);
//! - the boards' thread: board builds and refreshes (see [`crate::services::boards::cache`]);
//! - periodic tasks on the server's runtime, started with [`Workers::spawn`]: the
//!   PostgreSQL event listener, the cohort-dates refresher, the WeChat scheduler and the
//!   upload queue's PostgreSQL lanes.

use std::{future::Future, time::Duration};

use tokio::runtime::Handle;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// How long [`Workers::shutdown`] waits for the tasks to notice the stop.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// A current-thread runtime on a thread of its own, for work that must neither wait behind
/// a server worker's other requests nor hold them up. It runs until the stop.
struct Thread {
    handle: Handle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Thread {
    /// # Panics
    /// When the runtime or the thread cannot be started (no threads left).
    fn start(name: &str, stop: CancellationToken) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the runtime of `{name}`: {e}"));
        let handle = runtime.handle().clone();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            // Dropping the runtime at the stop drops whatever it still runs.
            .spawn(move || runtime.block_on(stop.cancelled_owned()))
            .unwrap_or_else(|e| panic!("cannot start the thread `{name}`: {e}"));
        Self {
            handle,
            thread: Some(thread),
        }
    }
}

/// The background tasks of one application.
pub struct Workers {
    stop: CancellationToken,
    tasks: TaskTracker,
    writer: Option<Thread>,
    boards: Thread,
}

impl Workers {
    /// Starts the boards' thread, and on SQLite the writers' thread.
    pub fn start(sqlite: bool) -> Self {
        let stop = CancellationToken::new();
        Self {
            writer: sqlite.then(|| Thread::start("longmarch-writer", stop.clone())),
            boards: Thread::start("longmarch-boards", stop.clone()),
            tasks: TaskTracker::new(),
            stop,
        }
    }

    /// The writers' thread (SQLite only): nothing else runs there, so a writer whose turn
    /// at SQLite's single lock has come goes on at once instead of waiting for a server
    /// worker's other requests (measured: uploads 1,769 → 3,003 req/s).
    pub fn writer(&self) -> Option<&Handle> {
        self.writer.as_ref().map(|t| &t.handle)
    }

    /// The boards' thread, where builds and refreshes decode and sort their rows.
    pub fn boards(&self) -> &Handle {
        &self.boards.handle
    }

    /// Runs `work` on the current runtime until it ends or the workers stop, whichever is
    /// first; at the stop it is dropped at its next await (a transaction it holds rolls back).
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        drop(self.tasks.spawn(self.until_stopped(work)));
    }

    /// Runs `work` on the writers' thread (SQLite) or as [`Self::spawn`] (PostgreSQL).
    pub fn spawn_writer(&self, work: impl Future<Output = ()> + Send + 'static) {
        match self.writer() {
            Some(writer) => drop(self.tasks.spawn_on(self.until_stopped(work), writer)),
            None => self.spawn(work),
        }
    }

    /// `work`, ending at the stop if it has not ended before.
    fn until_stopped(
        &self,
        work: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let stop = self.stop.clone();
        async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = work => {}
            }
        }
    }

    /// True once the workers have been told to stop.
    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Stops every task and both threads, and waits (a few seconds at most) for them.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        self.tasks.close();
        if tokio::time::timeout(SHUTDOWN_WAIT, self.tasks.wait()).await.is_err() {
            tracing::warn!("background tasks did not stop in time");
        }
        let threads: Vec<_> = [self.writer.as_mut(), Some(&mut self.boards)]
            .into_iter()
            .flatten()
            .filter_map(|t| t.thread.take())
            .collect();
        // Each thread ends as soon as it sees the stop: joining is quick, but blocking.
        drop(
            tokio::task::spawn_blocking(move || {
                for t in threads {
                    drop(t.join());
                }
            })
            .await,
        );
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };

    use super::*;

    async fn thread_of(handle: &Handle) -> std::thread::ThreadId {
        handle
            .spawn(async { std::thread::current().id() })
            .await
            .expect("the thread runs")
    }

    #[tokio::test]
    async fn two_applications_share_no_thread() {
        let (a, b) = (Workers::start(true), Workers::start(true));
        let here = std::thread::current().id();
        let (aw, bw) = (
            thread_of(a.writer().expect("writer")).await,
            thread_of(b.writer().expect("writer")).await,
        );
        let (ab, bb) = (thread_of(a.boards()).await, thread_of(b.boards()).await);
        assert_ne!(aw, bw);
        assert_ne!(ab, bb);
        assert_ne!(aw, ab);
        assert!(![aw, bw, ab, bb].contains(&here));
        assert!(
            Workers::start(false).writer().is_none(),
            "no writers' thread on PostgreSQL"
        );
    }

    #[tokio::test]
    async fn shutdown_stops_tasks_and_threads() {
        let workers = Workers::start(true);
        let (ticking, on_writer) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicBool::new(true)));
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(false, Ordering::SeqCst);
            }
        }
        let flag = Flag(ticking.clone());
        workers.spawn(async move {
            let _flag = flag;
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        let flag = Flag(on_writer.clone());
        workers.spawn_writer(async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        });
        let boards = workers.boards().clone();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(ticking.load(Ordering::SeqCst) && on_writer.load(Ordering::SeqCst));
        assert!(!workers.is_stopping());

        tokio::time::timeout(Duration::from_secs(2), workers.shutdown())
            .await
            .expect("shutdown within 2 s");
        assert!(!ticking.load(Ordering::SeqCst), "the periodic task stopped");
        assert!(!on_writer.load(Ordering::SeqCst), "the writer's task stopped");
        assert!(boards.spawn(async {}).await.is_err(), "the boards' thread is gone");
    }

    #[tokio::test]
    async fn dropping_the_workers_stops_them() {
        let workers = Workers::start(true);
        let writer = workers.writer().expect("writer").clone();
        drop(workers);
        let gone = tokio::time::timeout(Duration::from_secs(2), async {
            while writer.spawn(async {}).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(gone.is_ok(), "the writers' thread ends with its workers");
    }
}
