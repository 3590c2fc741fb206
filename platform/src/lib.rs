//! What every crate of the service shares to reach the outside world safely.
//!
//! * [`http`]: the one HTTP connection pool and the one TLS stack (rustls with *ring*) of the process.
//! * [`azure`]: which Microsoft Entra credential to use, chosen once from the environment, and a
//!   token source that refreshes tokens before they expire.
//! * [`memory`]: the allocator's free memory, given back to the system.
//! * [`open_files`]: the process' limit on open files, raised for thousands of connections.
//! * [`sas`]: account shared access signatures signed with an account key (Azurite, and operators
//!   who have only a key).
//! * [`secret`]: random tokens, SHA-256 digests, HMAC signatures and comparisons that take the
//!   same time whatever the input.
//! * [`trace`]: a trip's trace, derived from its id, for the spans of every part of its work.

pub mod azure;
pub mod http;
pub mod memory;
pub mod open_files;
pub mod sas;
pub mod secret;
pub mod trace;
