//! What makes the demo model answer like OpenAI's Chat Completions API to any client, not only
//! the planner's agents: the model list, errors in OpenAI's JSON shape (`invalid_request_error`
//! with the offending `param`), `tool_choice`, a plain answer to a request that is not one of
//! the agents', and streaming as Server-Sent Events chunks (`stream: true`).

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::OriginalUri;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::schema_answer;

/// An error as OpenAI writes it: `{"error": {"message", "type", "param", "code"}}`.
pub(crate) fn error(
    status: StatusCode,
    kind: &str,
    message: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
    (status, Json(body)).into_response()
}

/// A request the API cannot take (400 `invalid_request_error`).
pub(crate) fn invalid_request(message: &str, param: Option<&str>, code: Option<&str>) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        message,
        param,
        code,
    )
}

/// The required parameters of a chat completion, checked as OpenAI does.
pub(crate) fn missing_parameter(body: &Value) -> Option<Response> {
    if !body.is_object() {
        return Some(invalid_request(
            "The request body must be a JSON object.",
            None,
            None,
        ));
    }
    for param in ["model", "messages"] {
        if body.get(param).is_none_or(Value::is_null) {
            return Some(invalid_request(
                &format!("Missing required parameter: '{param}'."),
                Some(param),
                Some("missing_required_parameter"),
            ));
        }
    }
    if !body["model"].is_string() {
        return Some(invalid_request(
            "Invalid type for 'model': expected a string.",
            Some("model"),
            Some("invalid_type"),
        ));
    }
    match body["messages"].as_array() {
        Some(messages) if !messages.is_empty() => None,
        Some(_) => Some(invalid_request(
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
            Some("messages"),
            Some("empty_array"),
        )),
        None => Some(invalid_request(
            "Invalid type for 'messages': expected an array of objects.",
            Some("messages"),
            Some("invalid_type"),
        )),
    }
}

/// The parameters OpenAI refuses with 400 that a client may send wrong: each message's role and
/// content, `temperature`, `top_p`, `stream`, `n`, the completion caps and `tool_choice` (a tool
/// that is not offered, or `required` with no tools). Checked after [`missing_parameter`].
pub(crate) fn refused_parameter(body: &Value) -> Option<Response> {
    let invalid = |param: &str, message: String, code: &str| {
        Some(invalid_request(&message, Some(param), Some(code)))
    };
    for (i, message) in body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let param = format!("messages[{i}]");
        let role = message["role"].as_str().unwrap_or_default();
        let content = &message["content"];
        match role {
            "system" | "developer" | "user" if content.is_null() => {
                return invalid(
                    &format!("{param}.content"),
                    format!("Missing required parameter: '{param}.content'."),
                    "missing_required_parameter",
                );
            }
            "assistant" if content.is_null() && message["tool_calls"].is_null() => {
                return invalid(
                    &format!("{param}.content"),
                    format!(
                        "Invalid '{param}': an assistant message needs 'content' or 'tool_calls'."
                    ),
                    "invalid_value",
                );
            }
            "tool" if !message["tool_call_id"].is_string() => {
                return invalid(
                    &format!("{param}.tool_call_id"),
                    format!("Missing required parameter: '{param}.tool_call_id'."),
                    "missing_required_parameter",
                );
            }
            "system" | "developer" | "user" | "assistant" | "tool" => {}
            other => {
                return invalid(
                    &format!("{param}.role"),
                    format!(
                        "Invalid value: '{other}'. Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'."
                    ),
                    "invalid_value",
                );
            }
        }
    }
    for (param, low, high) in [("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0)] {
        match &body[param] {
            Value::Null => {}
            Value::Number(n) if n.as_f64().is_some_and(|v| (low..=high).contains(&v)) => {}
            Value::Number(n) => {
                let above = n.as_f64().is_some_and(|v| v > high);
                let (side, code) = match above {
                    true => ("above maximum", "decimal_above_max_value"),
                    false => ("below minimum", "decimal_below_min_value"),
                };
                return invalid(
                    param,
                    format!(
                        "Invalid '{param}': decimal {side} value. Expected a value <= {high} and >= {low}."
                    ),
                    code,
                );
            }
            _ => {
                return invalid(
                    param,
                    format!("Invalid type for '{param}': expected a decimal."),
                    "invalid_type",
                );
            }
        }
    }
    if !(body["stream"].is_null() || body["stream"].is_boolean()) {
        return invalid(
            "stream",
            "Invalid type for 'stream': expected a boolean.".into(),
            "invalid_type",
        );
    }
    for param in ["n", "max_tokens", "max_completion_tokens"] {
        match &body[param] {
            Value::Null => {}
            Value::Number(n) if n.as_u64().is_some_and(|v| v >= 1) => {}
            _ => {
                return invalid(
                    param,
                    format!("Invalid '{param}': expected an integer of at least 1."),
                    "invalid_value",
                );
            }
        }
    }
    if choices_asked(body) > 1 && body["stream"] == true {
        return invalid(
            "n",
            "The demo model streams one choice: ask for n = 1 with stream.".into(),
            "unsupported_value",
        );
    }
    let offered: Vec<&str> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    match &body["tool_choice"] {
        Value::Null => None,
        Value::String(s) if s == "none" || s == "auto" => None,
        Value::String(s) if s == "required" && offered.is_empty() => invalid(
            "tool_choice",
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.".into(),
            "invalid_value",
        ),
        Value::String(s) if s == "required" => None,
        Value::Object(o) => match o.get("function").and_then(|f| f["name"].as_str()) {
            Some(name) if offered.contains(&name) => None,
            Some(name) => invalid(
                "tool_choice",
                format!("Invalid value for 'tool_choice': no function named '{name}' was specified in the 'tools' parameter."),
                "invalid_value",
            ),
            None => invalid(
                "tool_choice",
                "Missing required parameter: 'tool_choice.function.name'.".into(),
                "missing_required_parameter",
            ),
        },
        other => invalid(
            "tool_choice",
            format!("Invalid value for 'tool_choice': {other}."),
            "invalid_value",
        ),
    }
}

/// How many choices the request asks for (`n`, 1 by default).
pub(crate) fn choices_asked(body: &Value) -> usize {
    body["n"].as_u64().map_or(1, |n| n.clamp(1, 128) as usize)
}

/// The completion as the request's caps shape it: a text answer longer than `max_tokens` (or
/// `max_completion_tokens`, at four characters a token) is cut there and finishes `length`,
/// and `n` choices come back, each the same answer.
pub(crate) fn shaped(body: &Value, mut completion: Value) -> Value {
    let cap = body["max_completion_tokens"]
        .as_u64()
        .or_else(|| body["max_tokens"].as_u64());
    if let Some(cap) = cap {
        let choice = &mut completion["choices"][0];
        if let Some(text) = choice["message"]["content"].as_str() {
            let allowed = (cap as usize).saturating_mul(4);
            if text.chars().count() > allowed {
                let cut: String = text.chars().take(allowed).collect();
                choice["message"]["content"] = Value::String(cut);
                choice["finish_reason"] = Value::String("length".into());
                completion["usage"]["completion_tokens"] = json!(cap);
                let prompt = completion["usage"]["prompt_tokens"].as_u64().unwrap_or(0);
                completion["usage"]["total_tokens"] = json!(prompt + cap);
            }
        }
    }
    let n = choices_asked(body);
    if n > 1 {
        let first = completion["choices"][0].clone();
        completion["choices"] = Value::Array(
            (0..n)
                .map(|index| {
                    let mut choice = first.clone();
                    choice["index"] = json!(index);
                    choice
                })
                .collect(),
        );
    }
    completion
}

/// The body of `GET /v1/models`.
pub(crate) fn models(names: &[String]) -> Value {
    json!({"object": "list", "data": names.iter().map(|n| model(n)).collect::<Vec<_>>()})
}

pub(crate) fn model(name: &str) -> Value {
    json!({"id": name, "object": "model", "created": 1_735_689_600, "owned_by": "travel-planner"})
}

/// A model (or an Azure deployment) the demo model does not serve: 404, as OpenAI and Azure
/// answer it.
pub(crate) fn unknown_model(name: &str, deployment: bool, served: &[String]) -> Response {
    let served = served.join("', '");
    if deployment {
        let body = json!({"error": {"code": "DeploymentNotFound", "message": format!(
            "The API deployment '{name}' for this resource does not exist; this demo model serves '{served}'."
        )}});
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    }
    error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        &format!(
            "The model `{name}` does not exist or you do not have access to it; this demo model serves '{served}'."
        ),
        Some("model"),
        Some("model_not_found"),
    )
}

/// Any path the demo model does not serve.
pub(crate) async fn unknown_url(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        &format!("Invalid URL ({method} {})", uri.path()),
        None,
        Some("unknown_url"),
    )
}

/// A path served, with another method.
pub(crate) async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        &format!("Method {method} is not allowed on {}", uri.path()),
        None,
        Some("method_not_supported"),
    )
}

/// What `tool_choice` asks of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    /// `auto`, or no `tool_choice`: tools when the model wants them.
    Auto,
    /// `none`: no tool call, whatever tools are offered.
    None,
    /// `required`: at least one tool call.
    Required,
    /// `{"type": "function", "function": {"name": ...}}`: that tool.
    Named(String),
}

impl ToolChoice {
    pub(crate) fn of(body: &Value) -> Self {
        let offered = body["tools"].as_array().is_some_and(|t| !t.is_empty());
        match &body["tool_choice"] {
            _ if !offered => ToolChoice::None,
            Value::String(s) if s == "none" => ToolChoice::None,
            Value::String(s) if s == "required" => ToolChoice::Required,
            Value::Object(o) => o
                .get("function")
                .and_then(|f| f["name"].as_str())
                .map_or(ToolChoice::Auto, |name| ToolChoice::Named(name.to_owned())),
            _ => ToolChoice::Auto,
        }
    }
}

/// The answer to a request that is not one of the planner's agents: a short text, or the tool
/// call `tool_choice` demands (with empty arguments: the demo model knows no other tool).
pub(crate) fn plain_answer(body: &Value) -> (Value, &'static str, String) {
    let forced = match ToolChoice::of(body) {
        ToolChoice::Named(name) => Some(name),
        ToolChoice::Required => body["tools"][0]["function"]["name"]
            .as_str()
            .map(str::to_owned),
        _ => None,
    };
    if let Some(name) = forced {
        // Arguments that follow the tool's parameters, as a strict tool's always do.
        let parameters = body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["function"]["name"] == name.as_str())
            .map(|t| &t["function"]["parameters"])
            .filter(|p| !p.is_null());
        let arguments = parameters.map_or_else(|| json!({}), schema_answer::example);
        let call = json!({"id": "call_demo_0", "type": "function", "function": {"name": name, "arguments": arguments.to_string()}});
        let message = json!({"role": "assistant", "content": null, "tool_calls": [call]});
        return (message, "tool_calls", String::new());
    }
    let asked = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    let asked: String = asked.chars().take(120).collect();
    let prose = format!(
        "This is travel-planner's demo model. It plans trips for the service's own agents \
         (destination, itinerary, local tips) from a built-in catalogue and knows nothing else; \
         configure a real model to chat. You wrote: \"{asked}\""
    );
    // A response format is followed: JSON of the schema asked for, or a JSON object.
    let text = match body["response_format"]["type"].as_str() {
        Some("json_schema") => {
            schema_answer::example(&body["response_format"]["json_schema"]["schema"]).to_string()
        }
        Some("json_object") => json!({"message": prose}).to_string(),
        _ => prose,
    };
    let message = json!({"role": "assistant", "content": text});
    (message, "stop", text)
}

/// A completion as OpenAI streams it: `chat.completion.chunk` events (the role first, then the
/// text in pieces or the tool calls, then the finish reason, and the usage when
/// `stream_options.include_usage` asks for it), ended by `data: [DONE]`. The events are spread
/// evenly over `writing`, the text in pieces of 32 characters; when it is zero they go at once,
/// each text whole (nobody could watch it written).
pub(crate) fn stream(include_usage: bool, completion: &Value, writing: Duration) -> Response {
    let piece = if writing.is_zero() { usize::MAX } else { 32 };
    let choice = &completion["choices"][0];
    let message = &choice["message"];
    let chunk = |choices: Value| {
        let mut chunk = json!({
            "id": completion["id"],
            "object": "chat.completion.chunk",
            "created": completion["created"],
            "model": completion["model"],
            "choices": choices,
        });
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    };
    let delta = |delta: Value| chunk(json!([{"index": 0, "delta": delta, "finish_reason": null}]));
    let mut events = vec![delta(json!({"role": "assistant", "content": ""}))];
    for field in ["content", "refusal"] {
        if let Some(text) = message[field].as_str() {
            events.extend(pieces(text, piece).map(|piece| delta(json!({field: piece}))));
        }
    }
    for (index, call) in message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = &call["function"]["name"];
        events.push(delta(json!({"tool_calls": [{"index": index, "id": call["id"], "type": "function", "function": {"name": name, "arguments": ""}}]})));
        let arguments = call["function"]["arguments"].as_str().unwrap_or("{}");
        events.extend(pieces(arguments, piece).map(|piece| {
            delta(json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        }));
    }
    events.push(chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]),
    ));
    if include_usage {
        let mut last = chunk(json!([]));
        last["usage"] = completion["usage"].clone();
        events.push(last);
    }
    let mut blocks: Vec<String> = events
        .iter()
        .map(|event| format!("data: {event}\n\n"))
        .collect();
    blocks.push("data: [DONE]\n\n".into());
    let body = if writing.is_zero() {
        Body::from(blocks.concat())
    } else {
        // Each block at its time from the start: the whole takes `writing`, however late the
        // timers fire under load.
        let (start, count) = (tokio::time::Instant::now(), blocks.len() as u32);
        Body::from_stream(futures::stream::iter((1..=count).zip(blocks)).then(
            move |(n, block)| async move {
                tokio::time::sleep_until(start + writing * n / count).await;
                Ok::<_, std::convert::Infallible>(block)
            },
        ))
    };
    (
        [
            (header::CONTENT_TYPE, "text/event-stream; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `text` in pieces of at most `size` characters.
fn pieces(text: &str, size: usize) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<char> = text.chars().collect();
    (0..chars.len()).step_by(size).map(move |i| {
        chars[i..i.saturating_add(size).min(chars.len())]
            .iter()
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_on_character_boundaries() {
        let parts: Vec<String> = pieces("día a día, ünïcode", 4).collect();
        assert_eq!(parts.concat(), "día a día, ünïcode");
        assert!(parts.iter().all(|p| p.chars().count() <= 4));
        assert_eq!(pieces("", 4).count(), 0);
    }

    #[test]
    fn tool_choice_is_read_as_openai_documents_it() {
        let tools = json!([{"type": "function", "function": {"name": "lookup"}}]);
        let of = |choice: Value| ToolChoice::of(&json!({"tools": tools, "tool_choice": choice}));
        assert_eq!(of(json!("none")), ToolChoice::None);
        assert_eq!(of(json!("required")), ToolChoice::Required);
        assert_eq!(of(json!("auto")), ToolChoice::Auto);
        assert_eq!(of(Value::Null), ToolChoice::Auto);
        assert_eq!(
            of(json!({"type": "function", "function": {"name": "lookup"}})),
            ToolChoice::Named("lookup".into())
        );
        assert_eq!(
            ToolChoice::of(&json!({"tool_choice": "required"})),
            ToolChoice::None
        );
    }
}
