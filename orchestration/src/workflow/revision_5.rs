//! Revision 5, the one new trips run: revision 4 with a packing list. The packing agent plans
//! beside the itinerary and local-tips agents (step 2, and again for every revision the reviewer
//! asks for); the plan carries its list.

use travel_agents::{AgentReply, DestinationBrief, DestinationRecommendations};

use super::boundary;
use super::trip::Trip;
use crate::plan::TripPlan;

/// Step 2 for `brief` (the first plan's, or a revision's): the itinerary, local-tips and
/// packing agents in parallel; and the plan assembled, with its packing list.
pub(super) async fn plan_for(
    trip: &Trip<'_>,
    brief: &DestinationBrief,
    destinations: &AgentReply<DestinationRecommendations>,
) -> Result<TripPlan, String> {
    let revising = brief.feedback.is_some();
    let (itinerary, tips, packing) = trip
        .ctx
        .join3(
            trip.ask(boundary::ITINERARY_AGENT, brief, revising),
            trip.ask(boundary::LOCAL_TIPS_AGENT, brief, revising),
            trip.ask(boundary::PACKING_AGENT, brief, revising),
        )
        .await;
    let (itinerary, tips, packing) = (itinerary?, tips?, packing?);
    let mut plan = trip.assemble_plan(brief, destinations, itinerary, tips);
    plan.demo |= packing.thread.demo;
    plan.packing = Some(packing.output);
    Ok(plan)
}
