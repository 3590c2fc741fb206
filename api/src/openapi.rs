//! The OpenAPI 3.1 description of the API, generated from the Rust types (schemars, the same
//! schemas the agents send as structured output). The router itself is the list of routes:
//! `tests/in_process.rs` checks that every path described here is served, with exactly the
//! methods described.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};
use travel_orchestration::{
    HistoryEvent, InstanceDetail, InstancePage, TripEvent, TripPlan, TripRequest, TripStatus,
};

use crate::bodies::{
    AgentThreadView, ApproveRequest, Health, RevisionRequest, TripCreated, TripView,
};
use crate::conversations::{
    ConversationAnswer, ConversationOpened, OpenConversation, ReplyText, TravellerMessage,
};
use crate::error::ErrorBody;

struct Doc {
    generator: SchemaGenerator,
    paths: Map<String, Value>,
}

impl Doc {
    fn schema<T: JsonSchema>(&mut self) -> Value {
        self.generator.subschema_for::<T>().to_value()
    }

    fn error(&mut self, description: &str) -> Value {
        json!({"description": description, "content": {"application/json": {"schema": self.schema::<ErrorBody>()}}})
    }

    /// Adds an operation, with the errors every operation may answer: 400 (a path or query
    /// that does not parse), 414 (an address over 16 KiB), and 415 for one that takes a body.
    fn op(&mut self, method: &str, path: &str, mut operation: Value) {
        let mut common = vec![
            ("400", "A path or query parameter that does not parse"),
            ("414", "The address is longer than 16 KiB"),
        ];
        if operation.get("requestBody").is_some() {
            common.push(("415", "The body is not sent as `application/json`"));
        }
        for (status, description) in common {
            if operation["responses"].get(status).is_none() {
                operation["responses"][status] = self.error(description);
            }
        }
        let entry = self
            .paths
            .entry(path.to_owned())
            .or_insert_with(|| json!({}));
        entry[method] = operation;
    }
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// `?revision=n` on the plan's routes.
fn revision_param() -> Value {
    json!({"name": "revision", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": u32::MAX}, "description": "A plan revision (1 is the first plan); the latest when absent."})
}

fn id_param() -> Value {
    json!({"name": "instance_id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "The trip's instance id (`trip-` and 20 hex digits). Text that cannot be an id (other than letters, digits, `-`, `_`, `.` and `:`, or over 128 characters) names no trip: 404."})
}

/// The document served at `/api/openapi.json`.
pub fn document() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "#/components/schemas/".into();
    settings.meta_schema = None;
    let mut doc = Doc {
        generator: settings.into_generator(),
        paths: Map::new(),
    };
    trips(&mut doc);
    approval(&mut doc);
    revisions(&mut doc);
    retry(&mut doc);
    conversations(&mut doc);
    mcp(&mut doc);
    health(&mut doc);
    management(&mut doc);
    finish(doc)
}

/// The traveller's routes: start a trip, follow it, read its plan and its agents' threads.
fn trips(doc: &mut Doc) {
    let created = doc.schema::<TripCreated>();
    let request = doc.schema::<TripRequest>();
    let (e422, e400, e413) = (
        doc.error("Invalid fields (see `fields`)"),
        doc.error("Malformed JSON"),
        doc.error("Body over 64 KiB"),
    );
    doc.op("post", "/api/trips", json!({
        "summary": "Start planning a trip",
        "operationId": "startTrip",
        "requestBody": {"required": true, "content": {"application/json": {"schema": request}}},
        "responses": {"202": json_response("Planning started; poll `statusUrl`", created), "400": e400, "413": e413, "422": e422}
    }));
    let view = doc.schema::<TripView>();
    let e404 = doc.error("Unknown trip");
    doc.op(
        "get",
        "/api/trips/{instance_id}",
        json!({
            "summary": "A trip's status, progress, plan and outcome",
            "operationId": "getTrip",
            "parameters": [id_param()],
            "responses": {"200": json_response("The trip", view), "404": e404}
        }),
    );
    let plan = doc.schema::<TripPlan>();
    let e404 = doc.error("Unknown trip, no plan saved yet, or no such revision");
    doc.op(
        "get",
        "/api/trips/{instance_id}/plan",
        json!({
            "summary": "The saved plan (JSON): the latest revision, or the one asked for",
            "operationId": "getPlan",
            "parameters": [id_param(), revision_param()],
            "responses": {"200": json_response("The plan", plan), "404": e404.clone()}
        }),
    );
    doc.op("get", "/api/trips/{instance_id}/plan.md", json!({
        "summary": "The saved plan as a Markdown document (the latest revision, or the one asked for)",
        "operationId": "getPlanMarkdown",
        "parameters": [id_param(), revision_param()],
        "responses": {"200": {"description": "The plan", "content": {"text/markdown": {"schema": {"type": "string"}}}}, "404": e404}
    }));
    let thread = doc.schema::<AgentThreadView>();
    let e404 = doc.error("Unknown trip or agent, or the agent has not finished");
    doc.op("get", "/api/trips/{instance_id}/agents/{agent}", json!({
        "summary": "An agent's conversation: messages, tool calls, tokens and timings",
        "operationId": "getAgentThread",
        "parameters": [id_param(), {"name": "agent", "in": "path", "required": true, "schema": {"type": "string", "enum": travel_agents::AgentName::ALL.map(|a| a.info().key)}}],
        "responses": {"200": json_response("The thread", thread), "404": e404}
    }));
    let events = doc.schema::<Vec<TripEvent>>();
    let reply = doc.schema::<travel_orchestration::live_replies::ReplyPiece>();
    let (e400, e404, e503) = (
        doc.error("`Last-Event-ID` is not a whole number"),
        doc.error("Unknown trip"),
        doc.error("As many event streams are open as this process keeps (`MAX_EVENT_STREAMS`); see `Retry-After`"),
    );
    doc.op("get", "/api/trips/{instance_id}/events", json!({
        "summary": "The trip's changes: as JSON, or as a live stream of server-sent events that resumes after `Last-Event-ID`",
        "description": "Every change of the trip, read from its workflow history: `progress` (the trip's progress as its status shows it), `step` (a step started, finished, or failed a try) and `finished` (the last event). Each has an `id` that grows with every event. Asked for with `Accept: text/event-stream` (as a browser's EventSource does), the answer is a stream: the events so far, then each as it is recorded (whichever process runs the trip), until the trip finishes; the event's name is its `type` and its data the event as JSON. A client that reconnects sends the last id it saw (`Last-Event-ID`, or `?after=`) and gets what it missed, in order, nothing twice; once the trip has finished and nothing is left, 204 (EventSource stops reconnecting). Any other client gets the events so far as a JSON array.\n\nBetween the changes, a stream carries `reply` events while the trip's agents run in the process serving it: the agents' replies as the model writes them (`text` as it comes, a `toolCall` begun, each `item` of the answer's lists as soon as it is complete, such as a day of the itinerary), the data a `ReplyPiece`. They are not the record: they have no id, are never sent again, and the `step` change that ends the step holds what the agent checked and kept. A model call streams only when someone follows the trip as it starts (`LLM_STREAM`).",
        "operationId": "getTripEvents",
        "parameters": [
            id_param(),
            {"name": "after", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "maximum": u64::MAX}, "description": "Only the events after this id (`Last-Event-ID` wins when both are sent)."},
            {"name": "Last-Event-ID", "in": "header", "required": false, "schema": {"type": "string", "pattern": "^[0-9]{0,19}$"}, "description": "The id of the last event the client saw (sent by EventSource when it reconnects)."}
        ],
        "responses": {
            "200": {"description": "The events", "content": {
                "application/json": {"schema": events},
                "text/event-stream": {"schema": {"type": "string"}, "description": "`id`, `event` (the type) and `data` (the event as JSON) for each event; `reply` events (no id) between them, their data a `ReplyPiece`; a comment every 15 s while nothing happens", "x-reply-data": reply}
            }},
            "204": {"description": "Asked for a stream of a finished trip with nothing after `Last-Event-ID`: nothing will follow"},
            "400": e400,
            "404": e404,
            "503": e503
        }
    }));
}

/// The decision on a planned trip.
fn approval(doc: &mut Doc) {
    let approve = doc.schema::<ApproveRequest>();
    let status = doc.schema::<TripStatus>();
    let (e401, e403, e404, e409) = (
        doc.error("No approval token"),
        doc.error("Wrong approval token"),
        doc.error("Unknown trip"),
        doc.error(
            "The trip is not waiting for approval, or a different decision was made (see `trip`)",
        ),
    );
    let (e400, e422) = (doc.error("Malformed JSON"), doc.error("Invalid body"));
    doc.op("post", "/approve/{instance_id}", json!({
        "summary": "Approve or reject a planned trip",
        "description": "Needs the trip's approval token as `Authorization: Bearer <approvalToken>`. The same decision sent twice answers the first outcome.",
        "operationId": "approveTrip",
        "security": [{"approvalToken": []}],
        "parameters": [id_param()],
        "requestBody": {"required": true, "content": {"application/json": {"schema": approve}}},
        "responses": {"200": json_response("The decision was recorded; the trip's status", status), "400": e400, "401": e401, "403": e403, "404": e404, "409": e409, "422": e422}
    }));
}

/// A revised plan, asked for while the plan awaits approval.
fn revisions(doc: &mut Doc) {
    let body = doc.schema::<RevisionRequest>();
    let status = doc.schema::<TripStatus>();
    let (e401, e403, e404, e409) = (
        doc.error("No approval token"),
        doc.error("Wrong approval token"),
        doc.error("Unknown trip"),
        doc.error("The trip is not waiting for approval (`not_awaiting_approval`), the plan was answered differently already (`already_decided`), the plan was revised `MAX_REVISIONS` times (`revision_limit`), or the trip started before revisions existed (`revisions_unsupported`)"),
    );
    let (e400, e422) = (
        doc.error("Malformed JSON"),
        doc.error("Nothing to change, comments over 2000 characters or holding control or text-direction characters, or a destination other than 0-2 (see `fields`)"),
    );
    doc.op("post", "/api/trips/{instance_id}/revisions", json!({
        "summary": "Ask for a revised plan",
        "description": "While a plan awaits approval, its requester (the approval token as `Authorization: Bearer <approvalToken>`) can ask for changes instead of approving or rejecting: the itinerary and local-tips agents plan again with the comments as reviewer feedback, for another of the three recommended destinations when `destination` is given (the destination agent is not asked again). The result is saved as the next revision (`rev-{n}.json` and `.md`; earlier revisions stay readable with `?revision=n`) and waits for approval with a new window. At most `MAX_REVISIONS` (3) revisions per trip. Recorded once per plan revision across processes: the same request sent again answers 202 again; a request racing an approval resolves to one of them, and the other gets 409.",
        "operationId": "reviseTrip",
        "security": [{"approvalToken": []}],
        "parameters": [id_param()],
        "requestBody": {"required": true, "content": {"application/json": {"schema": body}}},
        "responses": {"202": json_response("Recorded; the revision is being planned (the trip's status)", status), "400": e400, "401": e401, "403": e403, "404": e404, "409": e409, "422": e422}
    }));
}

/// A failed trip, started again.
fn retry(doc: &mut Doc) {
    let created = doc.schema::<TripCreated>();
    let (e401, e403, e404, e409) = (
        doc.error("No approval token"),
        doc.error("Wrong approval token"),
        doc.error("Unknown trip"),
        doc.error("The trip has not failed (`not_failed`, see `trip`), an operator stopped it (`stopped_by_operator`, see `trip`; only an operator can start it again), or it was tried again already (`already_retried`)"),
    );
    doc.op("post", "/api/trips/{instance_id}/retry", json!({
        "summary": "Start a failed trip again, reusing what it had done",
        "description": "A new trip with the same request starts; every agent answer the failed trip had got is reused (no agent is asked, and no token spent, twice), so only what failed runs again. Needs the failed trip's approval token as `Authorization: Bearer <approvalToken>`; answers the new trip's id and its own approval token. The two trips name each other (`retryOf`, `retriedBy`). A trip is tried again once.",
        "operationId": "retryTrip",
        "security": [{"approvalToken": []}],
        "parameters": [id_param()],
        "responses": {"202": json_response("The new trip started; poll `statusUrl`", created), "401": e401, "403": e403, "404": e404, "409": e409}
    }));
}

fn conversation_param() -> Value {
    json!({"name": "conversation_id", "in": "path", "required": true, "schema": {"type": "string"}, "description": "The conversation's id (`chat-` and 20 hex digits); other text names no conversation: 404."})
}

/// The conversational intake (`api/src/conversations.rs`).
fn conversations(doc: &mut Doc) {
    let open = doc.schema::<OpenConversation>();
    let opened = doc.schema::<ConversationOpened>();
    let (e400, e413, e422) = (
        doc.error("Malformed JSON"),
        doc.error("Body over 64 KiB"),
        doc.error("Invalid body"),
    );
    doc.op("post", "/api/conversations", json!({
        "summary": "Open a conversation with the intake agent",
        "description": "The intake agent asks for what a trip request needs (what the traveller wants, how many days, the budget and its currency, their name; when they travel and what they need, if anything), restates the request, and once the traveller confirms starts the trip (its request passes the checks of `startTrip`). Answers the conversation's id, its greeting and its token (shown once): every request about the conversation needs it as `Authorization: Bearer <conversationToken>`, and it is the approval token of the trip the conversation starts. A conversation expires after `CONVERSATION_IDLE_SECS` without a message unless it started its trip.",
        "operationId": "openConversation",
        "requestBody": {"required": true, "content": {"application/json": {"schema": open}}},
        "responses": {"201": json_response("Opened", opened), "400": e400, "413": e413, "422": e422}
    }));
    let answer = doc.schema::<ConversationAnswer>();
    let text = doc.schema::<ReplyText>();
    let message = doc.schema::<TravellerMessage>();
    let (e401, e403, e404) = (
        doc.error("No conversation token (`conversation_token_required`)"),
        doc.error("Wrong conversation token (`conversation_token_invalid`)"),
        doc.error("Unknown conversation"),
    );
    doc.op("get", "/api/conversations/{conversation_id}", json!({
        "summary": "A conversation: its messages, its state and the trip it started",
        "operationId": "getConversation",
        "security": [{"conversationToken": []}],
        "parameters": [conversation_param()],
        "responses": {"200": json_response("The conversation", answer.clone()), "401": e401.clone(), "403": e403.clone(), "404": e404.clone()}
    }));
    let (e409, e410, e422, e503) = (
        doc.error("A reply is being written (`conversation_busy`), or the conversation started its trip (`trip_already_started`)"),
        doc.error("The conversation expired (`conversation_expired`)"),
        doc.error("An empty message, or one over 2000 characters (see `fields`)"),
        doc.error("The intake agent's model could not answer (`assistant_unavailable`; the message was not kept: send it again), or the store cannot be reached (`store_unavailable`)"),
    );
    doc.op("post", "/api/conversations/{conversation_id}/messages", json!({
        "summary": "Say something in a conversation; answers the intake agent's reply",
        "description": "The reply is written and kept even if the client goes away. Asked for with `Accept: text/event-stream`, the answer is a stream of server-sent events: `text` events (a `ReplyText`) with the reply's text as the model writes it, then one `conversation` event (a `ConversationAnswer`) or one `error` event (the API's error body, such as `assistant_unavailable`); otherwise the `ConversationAnswer` as JSON. When the traveller confirmed the agent's restatement, the agent starts the trip: the answer's `conversation.tripId` names it and `links` lead to its status and events.",
        "operationId": "sayInConversation",
        "security": [{"conversationToken": []}],
        "parameters": [conversation_param()],
        "requestBody": {"required": true, "content": {"application/json": {"schema": message}}},
        "responses": {
            "200": {"description": "The conversation with the agent's reply", "content": {
                "application/json": {"schema": answer},
                "text/event-stream": {"schema": {"type": "string"}, "description": "`text` events (data: a `ReplyText`), then `conversation` (data: a `ConversationAnswer`) or `error` (data: the error body)", "x-text-data": text}
            }},
            "400": e400, "401": e401, "403": e403, "404": e404, "409": e409, "410": e410, "413": e413, "422": e422, "503": e503
        }
    }));
}

/// The planner as MCP tools (`api/src/mcp.rs`).
fn mcp(doc: &mut Doc) {
    let (e400, e403, e406, e413, e415, e422) = (
        doc.error("The body is not JSON"),
        doc.error("A call from a page of another site (`cross_site_refused`), or a Host name not answered (`host_not_allowed`)"),
        doc.error("`Accept` does not name both `application/json` and `text/event-stream` (`not_acceptable`)"),
        doc.error("Body over 64 KiB"),
        doc.error("The body is not sent as `application/json` (`json_required`)"),
        doc.error("The body is JSON but no JSON-RPC 2.0 request or notification as described (`invalid_body`)"),
    );
    doc.op("post", "/mcp", json!({
        "summary": "The planner as MCP tools (Model Context Protocol, streamable HTTP)",
        "description": "One JSON-RPC 2.0 message per request, sent with `Accept: application/json, text/event-stream`, answered as JSON; no session is kept (any process answers any request). Tools (`tools/list` gives their input schemas, the API's bodies with the trip's `instanceId` and `approvalToken` beside them): `plan_trip` (as `startTrip`; answers the trip's id, its links and its approval token), `get_trip` (as `getTrip`), `ask_for_changes` (as `reviseTrip`), `decide` (as `approveTrip`). Resources (`resources/templates/list`): `trip://{instanceId}/plan.md` and `trip://{instanceId}/plan.json`, the latest plan. A tool call the API would refuse answers a tool error (`isError`) whose structured content is the API's error body.",
        "operationId": "mcp",
        "parameters": [
            {"name": "Accept", "in": "header", "required": true, "schema": {"type": "string", "const": "application/json, text/event-stream"}}
        ],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
            "type": "object",
            "description": "A JSON-RPC 2.0 request or notification (`initialize`, `tools/list`, `tools/call`, `resources/templates/list`, `resources/read`, ...)",
            "required": ["jsonrpc", "method"],
            "properties": {
                "jsonrpc": {"const": "2.0"},
                "id": {"type": ["string", "integer"], "minimum": i64::MIN, "maximum": i64::MAX},
                "method": {"type": "string"},
                "params": {"type": "object"}
            }
        }}}},
        "responses": {
            "200": {"description": "The JSON-RPC answer: a result, or a JSON-RPC error (an unknown method or tool)", "content": {"application/json": {"schema": {"type": "object", "required": ["jsonrpc"], "properties": {"jsonrpc": {"const": "2.0"}, "id": {"type": ["string", "integer", "null"]}, "result": {"type": "object"}, "error": {"type": "object"}}}}}},
            "202": {"description": "A notification, received"},
            "400": e400,
            "403": e403,
            "406": e406,
            "413": e413,
            "415": e415,
            "422": e422
        }
    }));
}

/// Liveness, readiness and this document.
fn health(doc: &mut Doc) {
    let health = doc.schema::<Health>();
    let e503 = doc.error("Not ready");
    doc.op("get", "/healthz", json!({"summary": "Liveness", "operationId": "healthz", "responses": {"200": json_response("Alive", health.clone())}}));
    doc.op("get", "/readyz", json!({"summary": "Readiness (the workflow store and the plan store answer)", "operationId": "readyz", "responses": {"200": json_response("Ready", health), "503": e503}}));
    doc.op("get", "/api/openapi.json", json!({"summary": "This document", "operationId": "openapi", "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}));
}

/// What the service POSTs to `APPROVAL_WEBHOOK_URL` on every change of a trip's state.
fn webhooks(doc: &mut Doc) -> Value {
    let notification = doc.schema::<travel_orchestration::notifications::Notification>();
    json!({
        "tripEvent": {
            "post": {
                "summary": "A trip's state changed: planned, revised, approved, rejected, expired, booked or failed",
                "description": "Sent to `APPROVAL_WEBHOOK_URL`, retried with back-off (1 s doubling to 10 minutes, for about three hours) until the receiver answers 2xx; at least once, so deduplicate on `Idempotency-Key` (`{instanceId}:{event}:{revision}`, the same on every attempt). With `WEBHOOK_SECRET`, `X-Travel-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256 of \"<t>.<body>\" under the secret>`.",
                "operationId": "tripEvent",
                "parameters": [
                    {"name": "Idempotency-Key", "in": "header", "required": true, "schema": {"type": "string"}},
                    {"name": "X-Travel-Event", "in": "header", "required": true, "schema": {"type": "string"}},
                    {"name": "X-Travel-Signature", "in": "header", "required": false, "schema": {"type": "string"}}
                ],
                "requestBody": {"required": true, "content": {"application/json": {"schema": notification}}},
                "responses": {"2XX": {"description": "Received; not sent again"}}
            }
        }
    })
}

/// The whole document: the paths described, and every schema they named.
fn finish(mut doc: Doc) -> Value {
    let webhooks = webhooks(&mut doc);
    let mut schemas: Map<String, Value> =
        doc.generator.take_definitions(true).into_iter().collect();
    // A budget's currency is one the rate table converts (checked by `TripRequest::validate`).
    if let Some(currency) = schemas
        .get_mut("Budget")
        .and_then(|b| b.pointer_mut("/properties/currency"))
    {
        currency["enum"] =
            json!(travel_orchestration::request::budget_currencies().collect::<Vec<_>>());
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "travel-planner",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Three typed LLM agents plan a trip; a durable workflow saves the plan and waits up to seven days for a human approval before it books."
        },
        "paths": doc.paths,
        "webhooks": webhooks,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "approvalToken": {"type": "http", "scheme": "bearer", "description": "The `approvalToken` returned when the trip was started (for a trip an intake conversation started, the conversation's token)."},
                "conversationToken": {"type": "http", "scheme": "bearer", "description": "The `conversationToken` returned when the conversation was opened."},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "The service's `ADMIN_TOKEN` (when set)."}
            }
        }
    })
}

/// The operators' routes; they need the admin token when `ADMIN_TOKEN` is set.
fn management(doc: &mut Doc) {
    let security = json!([{"adminToken": []}]);
    let e401 = doc.error("The admin token is required");
    let e429 = doc.error("Too many wrong admin tokens came from this client lately (`too_many_attempts`): it is not checked again before `Retry-After` seconds");
    let e404 = doc.error("Unknown instance");
    let page = doc.schema::<InstancePage>();
    let query = |name: &str, schema: Value, description: &str| json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description});
    doc.op("get", "/api/instances", json!({
        "summary": "List instances, newest first, with counts per status",
        "operationId": "listInstances",
        "security": security,
        "parameters": [
            query("status", json!({"type": "string", "enum": ["planning", "awaiting_approval", "booking", "booked", "rejected", "expired", "failed"]}), "Only this status."),
            query("prefix", json!({"type": "string"}), "Instance ids starting with this."),
            query("createdAfter", json!({"type": "string", "format": "date-time"}), "RFC 3339 time."),
            query("createdBefore", json!({"type": "string", "format": "date-time"}), "RFC 3339 time."),
            query("page", json!({"type": "integer", "minimum": 1, "maximum": crate::management::MAX_PAGE}), "1-based page."),
            query("pageSize", json!({"type": "integer", "minimum": 1, "maximum": 200}), "Items per page (25).")
        ],
        "responses": {"200": json_response("A page of instances", page), "401": e401.clone(), "429": e429.clone()}
    }));
    let detail = doc.schema::<InstanceDetail>();
    doc.op("get", "/api/instances/{instance_id}", json!({
        "summary": "An instance: input, output, custom status, timeline, token totals",
        "operationId": "getInstance", "security": security, "parameters": [id_param()],
        "responses": {"200": json_response("The instance", detail), "401": e401.clone(), "429": e429.clone(), "404": e404.clone()}
    }));
    let e409 = doc.error("Still running (purge with force=true)");
    let purged = doc.schema::<crate::management::Purged>();
    doc.op("delete", "/api/instances/{instance_id}", json!({
        "summary": "Purge an instance: its saved plans, then its workflow state and history",
        "operationId": "purgeInstance", "security": security,
        "parameters": [id_param(), query("force", json!({"type": "boolean"}), "Purge a running instance too (it is terminated first).")],
        "responses": {"200": json_response("Purged", purged), "401": e401.clone(), "429": e429.clone(), "404": e404.clone(), "409": e409}
    }));
    let history = doc.schema::<Vec<HistoryEvent>>();
    doc.op("get", "/api/instances/{instance_id}/history", json!({
        "summary": "The full history: every event with type, time, name and payload",
        "operationId": "getInstanceHistory", "security": security, "parameters": [id_param()],
        "responses": {"200": json_response("The events", history), "401": e401.clone(), "429": e429.clone(), "404": e404.clone()}
    }));
    let e422 = doc.error("Not an event the workflow listens to, or bad data (comments follow the text policy: `validation_failed`, see `fields`)");
    let raised = doc.schema::<crate::management::Raised>();
    let decision = doc.schema::<ApproveRequest>();
    let e409 = doc.error("The instance is not waiting for that event");
    doc.op("post", "/api/instances/{instance_id}/events/{event}", json!({
        "summary": "Raise an event (the workflow listens to `ApprovalEvent`: {\"approved\": bool, \"comments\": string?})",
        "operationId": "raiseEvent", "security": security,
        "parameters": [id_param(), {"name": "event", "in": "path", "required": true, "schema": {"type": "string", "enum": [travel_orchestration::workflow::boundary::APPROVAL.name()]}}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": decision}}},
        "responses": {"202": json_response("Raised", raised), "401": e401.clone(), "429": e429.clone(), "404": e404.clone(), "409": e409, "422": e422}
    }));
    let e409 = doc.error("Already finished");
    let terminate = doc.schema::<crate::management::TerminateRequest>();
    let terminated = doc.schema::<crate::management::Terminated>();
    let e400 = doc.error("The body is neither empty nor a JSON object (`malformed_json`)");
    let e422 = doc.error("The reason is over 500 characters or holds control or text-direction characters (`validation_failed`, see `fields`)");
    doc.op("post", "/api/instances/{instance_id}/terminate", json!({
        "summary": "Terminate a running instance (it ends `failed` with the reason)",
        "description": "A traveller cannot retry a trip an operator terminated (`stopped_by_operator`); an operator can, from the dashboard.",
        "operationId": "terminateInstance", "security": security, "parameters": [id_param()],
        "requestBody": {"required": false, "content": {"application/json": {"schema": terminate}}},
        "responses": {"202": json_response("Terminating", terminated), "400": e400, "401": e401.clone(), "429": e429.clone(), "404": e404, "409": e409, "422": e422}
    }));
    doc.op("get", "/metrics", json!({
        "summary": "The process' metrics in Prometheus' text format (the engine's `duroxide_*`, the agents' `travel_agent_*` and `travel_llm_errors_total`, the trips' `travel_trips*`, `travel_approval_wait_seconds`, `travel_plan_store_*`, `travel_notifications_total`)",
        "operationId": "metrics", "security": security,
        "responses": {"200": {"description": "Prometheus text exposition format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}}, "401": e401, "429": e429}
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &reference[..reference.find('"').unwrap()];
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "dangling reference to {name}"
            );
        }
    }
}
