//! The one way these tests wait: ask again and again until the answer is there, with short
//! pauses (10 ms, doubling to 100 ms), and fail with what was last seen once the time is up.
//! Nothing waits a fixed time for something that can be asked about.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

/// Asks until `ask` answers `Ok`, and returns that; `Err` carries what was seen meanwhile,
/// shown when `limit` passes first.
pub async fn wait_until<T, Seen, Ask, Answer>(what: &str, limit: Duration, mut ask: Ask) -> T
where
    Seen: Debug,
    Ask: FnMut() -> Answer,
    Answer: Future<Output = Result<T, Seen>>,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        let seen = match ask().await {
            Ok(done) => return done,
            Err(seen) => seen,
        };
        assert!(
            started.elapsed() < limit,
            "{what}: not after {limit:?}; last seen {seen:#?}"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
