//! Process set-up for long-running a2e processes.
//!
//! Password hashing (Argon2id, 19 MiB per hash) runs on many threads. With glibc's default,
//! adaptive malloc settings each thread's arena keeps those buffers after they are freed: under a
//! login load the soak bench saw RSS climb to 4.3 GiB in 15 s at 47 logins/s and keep growing,
//! while with a fixed mmap threshold it stayed near 120 MiB (big buffers are then mapped and
//! unmapped each time). glibc reads that setting only from the environment at start, so
//! [`bound_malloc`] restarts the process once with it set.

/// The glibc tunable that fixes the mmap threshold (and turns off its adaptation).
pub const MMAP_THRESHOLD_ENV: &str = "MALLOC_MMAP_THRESHOLD_";

/// On Linux with glibc, re-executes the current program with a fixed malloc mmap threshold of
/// 128 KiB unless the environment already sets one; returns (doing nothing) when it is set, on
/// other platforms, or if the re-execution fails. Call it first thing in `main`.
pub fn bound_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os(MMAP_THRESHOLD_ENV).is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else { return };
        let err =
            std::process::Command::new(exe).args(std::env::args_os().skip(1)).env(MMAP_THRESHOLD_ENV, "131072").exec();
        tracing::warn!(%err, "could not restart with a bounded malloc; memory may grow under password-hashing load");
    }
}
