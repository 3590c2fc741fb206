//! The planner as MCP tools: `/mcp`, the Model Context Protocol over streamable HTTP (the
//! official Rust SDK, `rmcp`), for assistants that plan trips for their users.
//!
//! | tool | what | the API's |
//! |---|---|---|
//! | `plan_trip` | start a trip from the typed request; its id, links and approval token | `POST /api/trips` |
//! | `get_trip` | the trip: status, progress, the plan once saved, costs, answers | `GET /api/trips/{id}` |
//! | `ask_for_changes` | a revised plan (the approval token) | `POST /api/trips/{id}/revisions` |
//! | `decide` | approve (and book) or reject (the approval token) | `POST /approve/{id}` |
//!
//! and each trip's plan as resources, `trip://{instanceId}/plan.md` and `.../plan.json`.
//!
//! A tool's input schema is its API body's (the same types, so the same checks), with the
//! trip's id and its approval token beside the body where the API takes them from the path and
//! the `Authorization` header. A refused call is a tool error whose content is the API's error
//! body (`{"error": {"code", "message", "fields"}}`). The same rules hold as on the API: anyone
//! who may start a trip may call `plan_trip` and read a trip by its id; deciding and asking for
//! changes need the trip's approval token; no operator action is offered. The service's guard
//! stands in front (Host names without `ADMIN_TOKEN`, no call from a page of another site).
//!
//! Served statelessly: each request stands alone, so any process sharing the store answers it.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, JsonObject,
    ListResourceTemplatesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, ResourceContents,
    ResourceTemplate, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, ServerHandler};
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use travel_orchestration::presentation::PlanPresentation;
use travel_orchestration::{ApprovalDecision, ChangeRequest, FieldError, TripId, TripRequest};

use crate::bodies::{ApproveRequest, RevisionRequest};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::{AppState, MAX_BODY_BYTES};

/// Where the MCP endpoint is.
pub const PATH: &str = "/mcp";

/// The tools, by name.
const TOOLS: [&str; 4] = ["plan_trip", "get_trip", "ask_for_changes", "decide"];

/// What the server tells an assistant when it connects.
const INSTRUCTIONS: &str = "Plans trips with three AI agents (destinations, a day-by-day itinerary, local tips, a packing list), then waits for a person's approval before it books. Call plan_trip with the traveller's request; keep the approvalToken it answers (shown once: it is what lets the traveller decide). Planning takes seconds to minutes: call get_trip until status is awaiting_approval, when the plan is in the answer (or read the resource trip://{instanceId}/plan.md). Then decide (approve books the trip) or ask_for_changes. Send people to the links to follow the trip in a browser.";

/// The `/mcp` route, for the router of the whole service.
pub fn router(state: AppState, public_base_url: String) -> axum::Router {
    let planner = Planner {
        state,
        public_base_url: public_base_url.trim_end_matches('/').to_owned(),
    };
    let config = StreamableHttpServerConfig::default()
        // Every request stands alone (no session kept in one process).
        .with_legacy_session_mode(false)
        .with_json_response(true)
        // The service's guard checks Host names and cross-site calls for every route.
        .disable_allowed_hosts()
        .with_max_request_body_bytes(MAX_BODY_BYTES);
    let service = StreamableHttpService::new(
        move || Ok(planner.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    // Only POST: without sessions there is no stream to open (GET) nor to end (DELETE).
    axum::Router::new().route(
        PATH,
        axum::routing::post_service(service).layer(axum::middleware::from_fn(json_rpc_only)),
    )
}

/// Lets through only a JSON-RPC 2.0 message as the OpenAPI document describes it (`jsonrpc`
/// "2.0", a `method` named, `params` an object, `id` text or a 64-bit whole number); anything else is
/// refused with the API's error body (400 not JSON, 422 not such a message), not answered as a
/// JSON-RPC error. A body that is not sent as JSON is left to the MCP server (415).
async fn json_rpc_only(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let is_json = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::new(
            ErrorCode::BodyTooLarge,
            format!(
                "The body is larger than the {} KiB allowed.",
                MAX_BODY_BYTES / 1024
            ),
        )
        .into_response();
    };
    let message: Value = match serde_json::from_slice(&bytes) {
        Ok(message) => message,
        Err(e) => {
            return ApiError::new(
                ErrorCode::MalformedJson,
                format!("The body is not valid JSON: {e}"),
            )
            .into_response();
        }
    };
    if let Some(problem) = not_a_message(&message) {
        return ApiError::new(
            ErrorCode::InvalidBody,
            format!("The body is not a JSON-RPC 2.0 request or notification: {problem}."),
        )
        .into_response();
    }
    next.run(axum::extract::Request::from_parts(parts, bytes.into()))
        .await
}

/// What keeps `message` from being a JSON-RPC 2.0 request or notification, if anything.
fn not_a_message(message: &Value) -> Option<&'static str> {
    let Value::Object(fields) = message else {
        return Some("it is not a JSON object");
    };
    if fields.get("jsonrpc") != Some(&json!("2.0")) {
        return Some("`jsonrpc` must be \"2.0\"");
    }
    if !fields.get("method").is_some_and(Value::is_string) {
        return Some("`method` must name the method, as text");
    }
    if fields.get("params").is_some_and(|p| !p.is_object()) {
        return Some("`params`, when sent, must be an object");
    }
    match fields.get("id") {
        None | Some(Value::String(_)) => None,
        Some(Value::Number(n)) if n.is_i64() => None,
        Some(_) => Some("`id`, when sent, must be text or a whole number (64-bit)"),
    }
}

/// The MCP server: the trips, as the API has them.
#[derive(Clone)]
struct Planner {
    state: AppState,
    public_base_url: String,
}

/// What `plan_trip` answers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PlannedTrip {
    instance_id: TripId,
    /// Lets the traveller decide (`decide`, `ask_for_changes`); shown once, never stored.
    approval_token: String,
    links: Links,
}

/// Where to follow a trip.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Links {
    /// The trip's page, for people.
    page: String,
    /// Its status as JSON (what `get_trip` answers).
    status: String,
    /// Its changes as they happen (server-sent events).
    events: String,
    /// The plan, once saved: Markdown.
    plan_markdown: String,
    /// The plan as the resource an MCP client reads.
    plan_resource: String,
}

/// A tool call that could not be done: its content is the API's error body.
fn refused(error: ApiError) -> CallToolResult {
    CallToolResult::structured_error(
        serde_json::to_value(ErrorBody {
            error: error.detail,
        })
        .expect("error bodies serialise"),
    )
}

fn answer(value: impl Serialize) -> CallToolResult {
    CallToolResult::structured(serde_json::to_value(value).expect("answers serialise"))
}

/// A tool's arguments read as the API reads its body: the same type, so the same checks, and
/// the same error when they do not fit (said as axum says it of a body, so that one function
/// words both).
fn read_body<T: DeserializeOwned>(arguments: JsonObject) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(Value::Object(arguments)).map_err(|e| {
        crate::error::body_misfit(&format!(
            "Failed to deserialize the JSON body into the target type: {}: {}",
            e.path(),
            e.inner()
        ))
    })
}

/// Takes the trip's id (and, when the tool asks for it, its approval token) out of the
/// arguments; the rest is the API's body.
fn trip_arguments(
    arguments: &mut JsonObject,
    token_asked: bool,
) -> Result<(TripId, Option<String>), ApiError> {
    let Some(Value::String(id)) = arguments.remove("instanceId") else {
        let mut error = ApiError::new(
            ErrorCode::InvalidBody,
            "`instanceId` is required: the trip's id, as text.",
        );
        error.detail.fields = vec![FieldError::new("instanceId", "This field is required.")];
        return Err(error);
    };
    let id = crate::trip_path::trip_id(id)?;
    // Without the token the trip answers as the API does without its header.
    let token = match arguments.remove("approvalToken") {
        Some(Value::String(token)) if token_asked => Some(token),
        None if token_asked => None,
        Some(_) if token_asked => {
            let mut error = ApiError::new(
                ErrorCode::InvalidBody,
                "`approvalToken` is the trip's approval token, as text.",
            );
            error.detail.fields = vec![FieldError::new(
                "approvalToken",
                "Expected text (a JSON string).",
            )];
            return Err(error);
        }
        // Not an argument of this tool: refused with the body's other unknown fields.
        Some(other) => {
            arguments.insert("approvalToken".into(), other);
            None
        }
        None => None,
    };
    Ok((id, token))
}

impl Planner {
    fn links(&self, id: &TripId) -> Links {
        let base = &self.public_base_url;
        Links {
            page: format!("{base}/trips/{id}"),
            status: format!("{base}/api/trips/{id}"),
            events: format!("{base}/api/trips/{id}/events"),
            plan_markdown: format!("{base}/api/trips/{id}/plan.md"),
            plan_resource: format!("trip://{id}/plan.md"),
        }
    }

    async fn call(&self, name: &str, arguments: JsonObject) -> Result<CallToolResult, ApiError> {
        let trips = &self.state.trips;
        let mut arguments = arguments;
        match name {
            "plan_trip" => {
                let request: TripRequest = read_body(arguments)?;
                let started = trips.start(request).await?;
                let links = self.links(&started.instance_id);
                Ok(answer(PlannedTrip {
                    instance_id: started.instance_id,
                    approval_token: started.approval_token,
                    links,
                }))
            }
            "get_trip" => {
                let (id, _) = trip_arguments(&mut arguments, false)?;
                let _: NoMore = read_body(arguments)?;
                Ok(answer(crate::routes::trip_view(&self.state, &id).await?))
            }
            "ask_for_changes" => {
                let (id, token) = trip_arguments(&mut arguments, true)?;
                let body: RevisionRequest = read_body(arguments)?;
                let changes = ChangeRequest {
                    comments: body.comments,
                    destination: body.destination,
                    ..ChangeRequest::default()
                };
                Ok(answer(trips.revise(&id, token.as_deref(), changes).await?))
            }
            "decide" => {
                let (id, token) = trip_arguments(&mut arguments, true)?;
                let body: ApproveRequest = read_body(arguments)?;
                let decision = ApprovalDecision::new(body.approved, body.comments);
                Ok(answer(trips.decide(&id, token.as_deref(), decision).await?))
            }
            other => unreachable!("`{other}` was checked to be a tool"),
        }
    }

    /// A plan resource's contents: `trip://{instanceId}/plan.md` or `.../plan.json`.
    async fn read_plan(&self, uri: &str) -> Result<ResourceContents, McpError> {
        let not_found = || {
            McpError::resource_not_found(
                format!("No resource `{}`.", travel_agents::text_start(uri, 200)),
                None,
            )
        };
        let rest = uri.strip_prefix("trip://").ok_or_else(not_found)?;
        let (id, file) = rest.split_once('/').ok_or_else(not_found)?;
        let id = TripId::parse(id).map_err(|_| not_found())?;
        let plan = self
            .state
            .trips
            .plan_revision(&id, None)
            .await
            .map_err(|e| {
                let ApiError { detail, .. } = ApiError::from(e);
                McpError::resource_not_found(detail.message, None)
            })?;
        Ok(match file {
            "plan.md" => ResourceContents::text(PlanPresentation::of(&plan).to_markdown(), uri)
                .with_mime_type("text/markdown"),
            "plan.json" => ResourceContents::text(
                serde_json::to_string_pretty(&plan).expect("plans serialise"),
                uri,
            )
            .with_mime_type("application/json"),
            _ => return Err(not_found()),
        })
    }
}

/// Nothing besides the trip's id (`get_trip`).
#[derive(serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoMore {}

/// The root schema of `T`, as the OpenAPI document has it (draft 2020-12).
fn schema_of<T: JsonSchema>() -> JsonObject {
    let mut settings = SchemaSettings::draft2020_12();
    settings.meta_schema = None;
    match settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
    {
        Value::Object(schema) => schema,
        _ => unreachable!("a root schema is an object"),
    }
}

/// The API body's schema with the trip's id (and its approval token) beside it.
fn with_trip<T: JsonSchema>(token: bool) -> JsonObject {
    let mut schema = schema_of::<T>();
    // The body's name no longer names the whole.
    schema.remove("title");
    let properties = schema
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("an object's properties");
    properties.insert(
        "instanceId".into(),
        json!({"type": "string", "description": "The trip's id, as plan_trip answered it."}),
    );
    let mut needed = vec![json!("instanceId")];
    if token {
        properties.insert(
            "approvalToken".into(),
            json!({"type": "string", "description": "The trip's approval token, as plan_trip answered it."}),
        );
        needed.push(json!("approvalToken"));
    }
    let required = schema
        .entry("required")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .expect("required is a list");
    required.extend(needed);
    schema
}

fn tools() -> Vec<Tool> {
    let annotations = |read_only: bool, destructive: bool, idempotent: bool| {
        let mut a = ToolAnnotations::new();
        a.read_only_hint = Some(read_only);
        a.destructive_hint = Some(destructive);
        a.idempotent_hint = Some(idempotent);
        a.open_world_hint = Some(!read_only);
        a
    };
    vec![
        Tool::new(
            "plan_trip",
            "Starts planning a trip from the traveller's request (the same request as POST /api/trips). Answers the trip's id, the links to follow it, and its approval token (shown once: keep it, it lets the traveller decide). The plan takes seconds to minutes: follow it with get_trip.",
            schema_of::<TripRequest>(),
        )
        .with_annotations(annotations(false, false, false)),
        Tool::new(
            "get_trip",
            "The trip as it is now: status (planning, awaiting_approval, booking, booked, rejected, expired, failed), progress, the plan once saved, what the agents cost, the answers given.",
            with_trip::<NoMore>(false),
        )
        .with_annotations(annotations(true, false, true)),
        Tool::new(
            "ask_for_changes",
            "While the plan awaits approval: plans it again with the comments (and for another of the three recommended destinations with `destination` 0-2). Needs the trip's approval token. The revised plan is ready when get_trip says awaiting_approval again.",
            with_trip::<RevisionRequest>(true),
        )
        .with_annotations(annotations(false, false, true)),
        Tool::new(
            "decide",
            "While the plan awaits approval: approves it (the trip is booked) or rejects it, with optional comments. Needs the trip's approval token. The same decision sent twice answers the first outcome.",
            with_trip::<ApproveRequest>(true),
        )
        .with_annotations(annotations(false, true, true)),
    ]
}

impl ServerHandler for Planner {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new(
            "travel-planner",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if !TOOLS.contains(&request.name.as_ref()) {
            return Err(McpError::invalid_params(
                format!(
                    "No tool `{}`; the tools are {}.",
                    travel_agents::text_start(&request.name, 64),
                    TOOLS.join(", ")
                ),
                None,
            ));
        }
        let arguments = request.arguments.unwrap_or_default();
        Ok(match self.call(&request.name, arguments).await {
            Ok(result) => result,
            Err(error) => {
                if error.status.is_server_error() {
                    tracing::error!(tool = %request.name, code = ?error.detail.code, message = %error.detail.message, "an MCP tool call failed");
                }
                refused(error)
            }
        }
        .into())
    }

    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new("trip://{instanceId}/plan.md", "plan")
                .with_description("A trip's latest plan, as Markdown (once saved)")
                .with_mime_type("text/markdown"),
            ResourceTemplate::new("trip://{instanceId}/plan.json", "plan-json")
                .with_description("A trip's latest plan, as JSON (once saved)")
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let contents = self.read_plan(&request.uri).await?;
        Ok(ReadResourceResult::new(vec![contents]).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tools_listed_are_the_tools_answered() {
        let listed: Vec<String> = tools().iter().map(|t| t.name.to_string()).collect();
        assert_eq!(listed, TOOLS);
    }

    #[test]
    fn only_json_rpc_requests_and_notifications_pass() {
        assert_eq!(
            not_a_message(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})),
            None
        );
        assert_eq!(
            not_a_message(
                &json!({"jsonrpc": "2.0", "method": "notifications/initialized", "params": {}})
            ),
            None
        );
        for refused in [
            json!({"jsonrpc": "2.0", "id": 1.5, "method": "x"}),
            json!({"jsonrpc": "2.0", "method": "x", "params": []}),
            json!({"jsonrpc": "2.0", "id": 1}),
            json!({"id": 1, "method": "x"}),
        ] {
            assert!(not_a_message(&refused).is_some(), "{refused}");
        }
    }
}
