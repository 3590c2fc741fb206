//! The process' memory: a fast allocator for Rust's allocations, and memory given back.
//!
//! * **Rust's allocations** go to mimalloc ([`Allocator`], installed by the binary). glibc's
//!   allocator spends a fifth of the CPU of a busy service in `malloc`, `free` and their locks;
//!   with mimalloc the service runs 13-42 % more whole trips a second at concurrency 50
//!   (`docs/benchmarks.md`). It is told not to commit its arenas' memory
//!   ahead of use, and to return freed memory sooner ([`tune_allocator`]): resident memory then
//!   stays near glibc's (55 against 51 MiB with 10,000 trips parked; 66-68 MiB untuned).
//! * **SQLite's allocations** (its page caches) go to glibc's allocator, which keeps memory
//!   that was freed in its arenas (one per thread that allocated, up to eight per core) instead
//!   of returning it to the system. A service that handles bursts (thousands of trips parked,
//!   then nothing) would keep its high-water mark as resident memory: 108 MB where 11 MB were in
//!   use, measured with 40,000 trips parked. `malloc_trim` hands the free pages back (`serve`
//!   calls [`give_back_free_memory`] with its other housekeeping), and the arenas are capped at
//!   [`ARENAS`] before the runtime starts ([`share_arenas`]).

/// The allocator the binary installs with `#[global_allocator]`.
pub use mimalloc::MiMalloc as Allocator;

/// mimalloc's `mi_option_arena_eager_commit` and `mi_option_arena_purge_mult` (their positions
/// in `mimalloc.h`'s `mi_option_e`; the Rust bindings do not name them).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_ARENA_PURGE_MULT: libmimalloc_sys::mi_option_t = 24;

/// Tunes [`Allocator`] before it starts (mimalloc reads its options once, as it starts, so
/// setting them in `main` is too late):
///
/// * memory is committed as it is used, not a whole arena ahead;
/// * memory freed is returned after 10 ms, not 100 (`purge_delay` 10 ms times the arenas'
///   multiplier, 10 by default, set to 1): with 10,000 trips parked the run's peak is 58-62 MiB
///   instead of 64.3, at the same throughput.
///
/// The binary runs this as a constructor ahead of mimalloc's own (`TUNE_ALLOCATOR` in
/// `src/main.rs`, placed in `.init_array.00101`).
///
/// `MIMALLOC_ARENA_EAGER_COMMIT` and `MIMALLOC_ARENA_PURGE_MULT` in the environment still win.
pub extern "C" fn tune_allocator() {
    // SAFETY: sets the defaults of two of mimalloc's options in its static table; it allocates
    // nothing, and any value is valid for either.
    unsafe {
        libmimalloc_sys::mi_option_set_default(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set_default(MI_OPTION_ARENA_PURGE_MULT, 1);
    }
}

/// Returns glibc's free memory to the system (on Linux; elsewhere nothing to do).
pub fn give_back_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists, under its locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How many arenas glibc's allocator may keep: by default eight per core, each keeping the
/// memory freed in it. With two, freed memory is reused across threads: with 100,000 trips
/// parked and every allocation on glibc's allocator, the peak resident memory is 98 MB instead
/// of 107, at the same throughput (`docs/benchmarks.md`).
pub const ARENAS: i32 = 2;

/// Caps glibc's arenas at [`ARENAS`] (on Linux; elsewhere nothing to do). Call before the
/// runtime's threads start.
pub fn share_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets the allocator's tuning; called before other threads allocate.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}
