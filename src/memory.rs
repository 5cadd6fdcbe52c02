//! Process-wide memory settings, applied before any thread starts.

/// Caps glibc's malloc arenas at one per core (glibc's default is eight per core).
///
/// Every thread that allocates may get an arena of its own, and each keeps the memory it
/// once held: with the server's workers, the writers' thread and one thread per SQLite
/// connection that is most of the resident set under load (the leaderboard benchmark on
/// SQLite, 2 cores: 302 MB with glibc's default, 218–230 MB with two per core, 204–212 MB
/// with one per core, at the same throughput; one arena in all halved it; see
/// docs/performance.md). A `MALLOC_ARENA_MAX` set in the environment wins.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_ARENA_MAX: i32 = -8;
        unsafe extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let arenas = i32::try_from(cores).unwrap_or(i32::MAX);
        // SAFETY: mallopt only changes an allocator limit; it is called before the runtime
        // and any other thread start (from `main`).
        unsafe {
            mallopt(M_ARENA_MAX, arenas);
        }
    }
}
