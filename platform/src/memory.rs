//! The process' memory, given back.
//!
//! glibc's allocator keeps memory that was freed in its arenas (one per thread that allocated,
//! up to eight per core) instead of returning it to the system. A service that handles bursts
//! (thousands of trips parked, then nothing) keeps its high-water mark as resident memory: 108 MB
//! where 11 MB were in use, measured with 40,000 trips parked (`docs/benchmarks.md`).
//! `malloc_trim` hands the free pages back; `serve` calls it with its other housekeeping, and
//! the binary caps the arenas at [`ARENAS`] before its runtime starts ([`share_arenas`]).

/// Returns the allocator's free memory to the system (glibc on Linux; elsewhere nothing to do).
pub fn give_back_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists, under its locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How many arenas glibc's allocator may keep: by default eight per core, each keeping the
/// memory freed in it. With two, freed memory is reused across threads: with 100,000 trips
/// parked the peak resident memory went from 107 to 98 MB, at the same throughput
/// (`docs/benchmarks.md`).
pub const ARENAS: i32 = 2;

/// Caps the allocator's arenas at [`ARENAS`] (glibc on Linux; elsewhere nothing to do). Call
/// before the runtime's threads start.
pub fn share_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets the allocator's tuning; called before other threads allocate.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}
