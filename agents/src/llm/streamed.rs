//! A streamed completion put back together: the chunks' deltas (text, refusal, tool calls by
//! their index, the finish reason, the usage of the last chunk) become the one answer a request
//! without `stream` gets, so the agent reads both the same way.

use async_openai::types::chat::{
    ChatChoice, ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionResponseMessage, ChatCompletionStreamResponseDelta, CompletionUsage,
    CreateChatCompletionResponse, CreateChatCompletionStreamResponse, FinishReason, FunctionCall,
    Role,
};

/// The answer so far.
#[derive(Debug, Default)]
pub(crate) struct StreamedReply {
    id: String,
    created: u32,
    model: String,
    content: Option<String>,
    refusal: Option<String>,
    /// By the chunks' index: id, name, arguments.
    tool_calls: Vec<(String, String, String)>,
    finish_reason: Option<FinishReason>,
    usage: Option<CompletionUsage>,
}

impl StreamedReply {
    /// Adds one chunk; `seen` is handed each delta of the first choice as it comes.
    pub(crate) fn add(
        &mut self,
        chunk: CreateChatCompletionStreamResponse,
        seen: &mut (dyn FnMut(&ChatCompletionStreamResponseDelta) + Send),
    ) {
        if self.id.is_empty() {
            self.id = chunk.id;
            self.created = chunk.created;
            self.model = chunk.model;
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            seen(&choice.delta);
            let delta = choice.delta;
            if let Some(text) = delta.content {
                self.content.get_or_insert_default().push_str(&text);
            }
            if let Some(text) = delta.refusal {
                self.refusal.get_or_insert_default().push_str(&text);
            }
            for call in delta.tool_calls.into_iter().flatten() {
                let index = call.index as usize;
                if self.tool_calls.len() <= index {
                    self.tool_calls.resize_with(index + 1, Default::default);
                }
                let (id, name, arguments) = &mut self.tool_calls[index];
                if let Some(more) = call.id {
                    id.push_str(&more);
                }
                if let Some(function) = call.function {
                    name.push_str(function.name.as_deref().unwrap_or_default());
                    arguments.push_str(function.arguments.as_deref().unwrap_or_default());
                }
            }
            if choice.finish_reason.is_some() {
                self.finish_reason = choice.finish_reason;
            }
        }
    }

    /// The answer, as a request without `stream` would have had it.
    #[allow(deprecated)]
    pub(crate) fn finish(self) -> CreateChatCompletionResponse {
        let tool_calls = (!self.tool_calls.is_empty()).then(|| {
            self.tool_calls
                .into_iter()
                .map(|(id, name, arguments)| {
                    ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                        id,
                        function: FunctionCall { name, arguments },
                    })
                })
                .collect()
        });
        CreateChatCompletionResponse {
            id: self.id,
            choices: vec![ChatChoice {
                index: 0,
                message: ChatCompletionResponseMessage {
                    content: self.content,
                    refusal: self.refusal,
                    tool_calls,
                    annotations: None,
                    role: Role::Assistant,
                    function_call: None,
                    audio: None,
                },
                finish_reason: self.finish_reason,
                logprobs: None,
            }],
            created: self.created,
            model: self.model,
            object: "chat.completion".into(),
            usage: self.usage,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(value: serde_json::Value) -> CreateChatCompletionStreamResponse {
        let mut chunk = serde_json::json!({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m", "choices": []});
        for (key, v) in value.as_object().unwrap() {
            chunk[key] = v.clone();
        }
        serde_json::from_value(chunk).unwrap()
    }

    #[test]
    fn chunks_make_the_answer_a_request_without_stream_gets() {
        let chunks = [
            serde_json::json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}),
            serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "convert", "arguments": ""}}]}, "finish_reason": null}]}),
            serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "rate", "arguments": "{\"fr"}}]}, "finish_reason": null}]}),
            serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"x\": 1}"}}]}, "finish_reason": null}]}),
            serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "function": {"arguments": "om\": \"EUR\"}"}}]}, "finish_reason": null}]}),
            serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
            serde_json::json!({"usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}),
        ];
        let mut reply = StreamedReply::default();
        let mut deltas = 0;
        for c in chunks {
            reply.add(chunk(c), &mut |_| deltas += 1);
        }
        assert_eq!(deltas, 6);
        let answer = serde_json::to_value(reply.finish()).unwrap();
        let choice = &answer["choices"][0];
        assert_eq!(choice["finish_reason"], "tool_calls");
        assert_eq!(choice["message"]["content"], "");
        let calls = &choice["message"]["tool_calls"];
        assert_eq!(calls[0]["id"], "call_a");
        assert_eq!(calls[0]["function"]["name"], "convert");
        assert_eq!(calls[0]["function"]["arguments"], "{\"x\": 1}");
        assert_eq!(calls[1]["function"]["arguments"], "{\"from\": \"EUR\"}");
        assert_eq!(answer["usage"]["total_tokens"], 15);
        assert_eq!(answer["id"], "c1");
    }

    #[test]
    fn text_and_refusal_are_joined() {
        let mut reply = StreamedReply::default();
        for text in ["{\"a\"", ": 1}"] {
            reply.add(
                chunk(serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}}]})),
                &mut |_| {},
            );
        }
        reply.add(
            chunk(serde_json::json!({"choices": [{"index": 0, "delta": {"refusal": "no"}, "finish_reason": "stop"}]})),
            &mut |_| {},
        );
        let answer = reply.finish();
        assert_eq!(
            answer.choices[0].message.content.as_deref(),
            Some("{\"a\": 1}")
        );
        assert_eq!(answer.choices[0].message.refusal.as_deref(), Some("no"));
        assert_eq!(answer.choices[0].finish_reason, Some(FinishReason::Stop));
    }
}
