//! How the workflow store tells what follows the engine (the trips index) of every orchestration
//! turn it acknowledges and every purge, without knowing what follows it.

use async_trait::async_trait;

use super::write_turns::WriteTurn;

/// Told of every turn the store acknowledges, and of every purge.
#[async_trait]
pub trait TurnObserver: Send + Sync + std::fmt::Debug {
    /// What to record of a turn, read from its new events before the provider takes them;
    /// `None` when they say nothing worth recording.
    fn observe(
        self: std::sync::Arc<Self>,
        history_delta: &[duroxide::Event],
    ) -> Option<Box<dyn ObservedTurn>>;

    /// Instances were purged from the store.
    async fn forget(&self, ids: &[String]);
}

/// A turn observed before it was acknowledged, to be recorded once it is durable.
#[async_trait]
pub trait ObservedTurn: Send {
    /// Records the turn. `turn` is the write turn it was acknowledged in, still held (SQLite):
    /// the record is written right after it, without waiting for another turn.
    async fn record(self: Box<Self>, turn: Option<&WriteTurn<'_>>);
}
