//! The process' memory, given back.
//!
//! glibc's allocator keeps memory that was freed in its arenas (one per thread that allocated,
//! up to eight per core) instead of returning it to the system. A service that handles bursts
//! (thousands of trips parked, then nothing) keeps its high-water mark as resident memory: 108 MB
//! where 11 MB were in use, measured with 40,000 trips parked (`docs/benchmarks.md`).
//! `malloc_trim` hands the free pages back; `serve` calls it with its other housekeeping.

/// Returns the allocator's free memory to the system (glibc on Linux; elsewhere nothing to do).
pub fn give_back_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists, under its locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
