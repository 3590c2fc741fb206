//! Adapters to the outside world that every crate shares.
//!
//! * [`http`]: the one HTTP connection pool and the one TLS stack (rustls with *ring*) of the process.
//! * [`azure`]: which Microsoft Entra credential to use, chosen once from the environment, and a
//!   token source that refreshes tokens before they expire.

pub mod azure;
pub mod http;
pub mod sas;
pub mod secret;
