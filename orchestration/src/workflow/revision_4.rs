//! Revision 4, frozen: the reviewer may ask for a revised plan while the plan awaits approval,
//! and the progress lists every saved revision; the approval is announced by the notifications
//! of every state change (`crate::notifications`), not by a step. Trips started on it replay
//! through it; new trips run revision 5.

use travel_agents::{AgentReply, DestinationBrief, DestinationRecommendations};

use super::trip::Trip;
use crate::plan::TripPlan;

/// Step 2 of revision 4 for `brief` (the first plan's, or a revision's): the itinerary and
/// local-tips agents in parallel; and the plan assembled.
pub(super) async fn plan_for(
    trip: &Trip<'_>,
    brief: &DestinationBrief,
    destinations: &AgentReply<DestinationRecommendations>,
) -> Result<TripPlan, String> {
    let (itinerary, tips) = trip.plan_days_and_tips(brief).await?;
    Ok(trip.assemble_plan(brief, destinations, itinerary, tips))
}
