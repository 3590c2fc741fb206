//! The service as a library: the composition root. [`serve::start`] builds every part (agents,
//! plan store, workflow store, engine) from settings and the environment, and [`serve::app`] is
//! the whole HTTP surface (API, pages, dashboard) as one router, so that handlers can be tested
//! in-process (`tower::ServiceExt::oneshot`) as well as through the binary. [`telemetry`] sets up
//! logs and the OTLP trace export.

pub mod model;
pub mod serve;
pub mod store_args;
pub mod telemetry;

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}
