//! The agents' replies as the model writes them, handed from the activities that run a trip's
//! agents to the streams that follow the trip in this process.
//!
//! Nothing here is the record: a piece is told to whoever follows at that moment, and kept
//! nowhere. A stream that falls behind skips pieces (each trip keeps at most
//! [`PIECES_KEPT`] for its slowest follower), and a round streams only when someone follows as
//! it starts. Pieces stay in the process that runs the agent: a follower in another process
//! (PostgreSQL) gets the trip's events but not its replies as they are written.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;
use travel_agents::{LivePiece, ReplyWatcher};

/// The pieces a trip keeps for its slowest follower; past it, that follower skips the oldest.
pub const PIECES_KEPT: usize = 256;

/// A piece of a reply, and which agent call wrote it (the data of a `reply` server-sent event).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplyPiece {
    /// The agent call that wrote it (numbered in this process): a try again of the step, or a
    /// revision, writes under a new number.
    pub call: u64,
    #[serde(flatten)]
    pub piece: LivePiece,
}

type Channels = HashMap<String, broadcast::Sender<Arc<ReplyPiece>>>;

/// The trips followed in this process, each with the channel its pieces go out on.
#[derive(Debug, Default)]
pub struct LiveReplies {
    trips: Mutex<Channels>,
    /// The last agent call numbered.
    calls: AtomicU64,
}

impl LiveReplies {
    fn trips(&self) -> std::sync::MutexGuard<'_, Channels> {
        self.trips.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Follows `trip`'s replies from now on, until the follow is dropped.
    pub fn follow(self: &Arc<Self>, trip: &str) -> LiveFollow {
        let receiver = self
            .trips()
            .entry(trip.to_owned())
            .or_insert_with(|| broadcast::channel(PIECES_KEPT).0)
            .subscribe();
        LiveFollow {
            replies: self.clone(),
            trip: trip.to_owned(),
            receiver,
        }
    }

    /// Whether anyone in this process follows `trip`.
    pub fn followed(&self, trip: &str) -> bool {
        self.trips().contains_key(trip)
    }

    /// Tells `trip`'s followers a piece (nobody, when none follows).
    pub fn tell(&self, trip: &str, piece: ReplyPiece) {
        if let Some(sender) = self.trips().get(trip) {
            let _ = sender.send(Arc::new(piece));
        }
    }

    /// What one agent call working for `trip` tells its pieces to.
    pub fn watcher(self: &Arc<Self>, trip: &str) -> TripWatcher {
        TripWatcher {
            replies: self.clone(),
            trip: trip.to_owned(),
            call: self.calls.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }
}

/// One follower's pieces of a trip.
#[derive(Debug)]
pub struct LiveFollow {
    replies: Arc<LiveReplies>,
    trip: String,
    receiver: broadcast::Receiver<Arc<ReplyPiece>>,
}

impl LiveFollow {
    /// The next piece (those this follower was too slow for are skipped).
    pub async fn next(&mut self) -> Arc<ReplyPiece> {
        loop {
            match self.receiver.recv().await {
                Ok(piece) => return piece,
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    tracing::debug!(trip = %self.trip, skipped, "a slow follower skipped reply pieces");
                }
                // The sender lives in the map while this follow does.
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    }
}

impl Drop for LiveFollow {
    fn drop(&mut self) {
        let mut trips = self.replies.trips();
        // This follow's receiver is still counted: the last one out removes the trip.
        if trips
            .get(&self.trip)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            trips.remove(&self.trip);
        }
    }
}

/// The [`ReplyWatcher`] of one agent call for a trip.
#[derive(Debug, Clone)]
pub struct TripWatcher {
    replies: Arc<LiveReplies>,
    trip: String,
    call: u64,
}

impl ReplyWatcher for TripWatcher {
    fn following(&self) -> bool {
        self.replies.followed(&self.trip)
    }

    fn piece(&self, piece: LivePiece) {
        let call = self.call;
        self.replies.tell(&self.trip, ReplyPiece { call, piece });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use travel_agents::AgentName;

    fn text(text: &str) -> LivePiece {
        LivePiece::Text {
            agent: AgentName::Itinerary,
            round: 1,
            text: text.into(),
        }
    }

    fn piece(call: u64, text_: &str) -> ReplyPiece {
        ReplyPiece {
            call,
            piece: text(text_),
        }
    }

    #[tokio::test]
    async fn pieces_reach_the_trip_s_followers_while_they_follow() {
        let replies = Arc::new(LiveReplies::default());
        let watcher = replies.watcher("trip-1");
        assert!(!watcher.following());
        watcher.piece(text("lost: nobody follows"));
        let mut first = replies.follow("trip-1");
        let mut second = replies.follow("trip-1");
        assert!(watcher.following());
        assert!(!replies.watcher("trip-2").following());
        watcher.piece(text("a"));
        assert_eq!(*first.next().await, piece(1, "a"));
        assert_eq!(*second.next().await, piece(1, "a"));
        // Another call for the trip writes under its own number.
        replies.watcher("trip-1").piece(text("b"));
        assert_eq!(first.next().await.call, 3);
        assert_eq!(second.next().await.call, 3);
        drop(first);
        assert!(watcher.following(), "one follower is left");
        drop(second);
        assert!(!watcher.following());
        assert!(
            replies.trips().is_empty(),
            "nothing kept for a trip nobody follows"
        );
    }

    #[tokio::test]
    async fn a_slow_follower_skips_the_oldest_pieces() {
        let replies = Arc::new(LiveReplies::default());
        let mut follow = replies.follow("trip-1");
        for n in 0..PIECES_KEPT + 10 {
            replies.tell("trip-1", piece(1, &n.to_string()));
        }
        assert_eq!(*follow.next().await, piece(1, "10"));
    }
}
