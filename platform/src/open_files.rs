//! Open files: every call to a model in flight holds a connection (two descriptors when the
//! built-in demo model answers in the same process), and a process holds thousands of calls at
//! once. Many systems start a process with a soft limit of 1,024 descriptors and a hard limit far
//! above it; [`raise_to_hard_limit`] lifts the soft limit to the hard one, as servers do.

/// Raises this process' soft limit on open files to its hard limit (on Linux; elsewhere nothing
/// to do). Returns the limit now in force, when it could be read.
pub fn raise_to_hard_limit() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read and write the `rlimit` passed, nothing else.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
        }
        Some(limit.rlim_cur)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}
