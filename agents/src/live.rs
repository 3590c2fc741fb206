//! What an agent's model is writing, as it writes it, for whoever follows the trip.
//!
//! A round streams only while someone follows ([`ReplyWatcher::following`], asked as the round
//! starts): the pieces are never the record (the workflow records the reply the agent checked),
//! and nothing is kept of them. A piece is the text as it comes (gathered for 50 ms at a time),
//! a tool call the model began, or an element of the answer's list as soon as it is complete (a
//! day of the itinerary, a suggested destination), read from the text so far by [`ListScanner`].

use std::time::{Duration, Instant};

use async_openai::types::chat::ChatCompletionStreamResponseDelta;
use schemars::JsonSchema;
use serde::Serialize;

use crate::roster::AgentName;

/// One piece of a reply being written.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum LivePiece {
    /// More of the reply's text (for an answer, its JSON so far grows by this).
    #[serde(rename_all = "camelCase")]
    Text {
        agent: AgentName,
        round: u32,
        text: String,
    },
    /// The model began a call of one of the agent's tools.
    #[serde(rename_all = "camelCase")]
    ToolCall {
        agent: AgentName,
        round: u32,
        name: String,
    },
    /// An element of one of the answer's lists, complete: `list` names the list (`days` of
    /// the itinerary), `index` counts from 0. Not checked yet: the agent checks the whole reply.
    #[serde(rename_all = "camelCase")]
    Item {
        agent: AgentName,
        round: u32,
        list: String,
        index: usize,
        /// The element as the model wrote it.
        value: serde_json::Value,
    },
}

/// Who is told an agent's reply as it is written.
pub trait ReplyWatcher: Send + Sync {
    /// Whether anyone follows now: a round streams only then.
    fn following(&self) -> bool;
    /// A piece of the reply, as soon as it arrives.
    fn piece(&self, piece: LivePiece);
}

/// Text is told at most this often: a reader sees it at 20 frames a second, and each piece
/// wakes every follower of the trip (a model writes a chunk every few milliseconds).
const TEXT_EVERY: Duration = Duration::from_millis(50);

/// One round as it streams: its deltas told to the watcher as pieces, the text gathered for
/// [`TEXT_EVERY`] at a time.
pub(crate) struct LiveRound<'a> {
    agent: AgentName,
    round: u32,
    watcher: &'a dyn ReplyWatcher,
    /// The answer's lists, read as they grow (a round that asks for the answer).
    lists: Option<ListScanner>,
    /// Text not told yet, and when text was last told.
    pending: String,
    told_at: Instant,
}

impl<'a> LiveRound<'a> {
    pub(crate) fn new(
        agent: AgentName,
        round: u32,
        watcher: &'a dyn ReplyWatcher,
        answer: bool,
    ) -> Self {
        Self {
            agent,
            round,
            watcher,
            lists: answer.then(ListScanner::default),
            pending: String::new(),
            told_at: Instant::now(),
        }
    }

    pub(crate) fn pass(&mut self, delta: &ChatCompletionStreamResponseDelta) {
        let (agent, round) = (self.agent, self.round);
        if let Some(text) = delta.content.as_deref().filter(|t| !t.is_empty()) {
            self.pending.push_str(text);
            let items = self
                .lists
                .as_mut()
                .map(|l| l.read(text))
                .unwrap_or_default();
            // An element comes after the text that completed it.
            if !items.is_empty() || self.told_at.elapsed() >= TEXT_EVERY {
                self.tell_text();
            }
            for (list, index, value) in items {
                self.watcher.piece(LivePiece::Item {
                    agent,
                    round,
                    list,
                    index,
                    value,
                });
            }
        }
        for call in delta.tool_calls.iter().flatten() {
            if let Some(name) = call.function.as_ref().and_then(|f| f.name.as_deref())
                && !name.is_empty()
            {
                self.tell_text();
                self.watcher.piece(LivePiece::ToolCall {
                    agent,
                    round,
                    name: name.to_owned(),
                });
            }
        }
    }

    /// The round ended (answered or not): the text not told yet.
    pub(crate) fn finish(mut self) {
        self.tell_text();
    }

    fn tell_text(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        self.watcher.piece(LivePiece::Text {
            agent: self.agent,
            round: self.round,
            text: std::mem::take(&mut self.pending),
        });
        self.told_at = Instant::now();
    }
}

/// Finds the elements of a JSON object's lists as they are completed, reading the text as it
/// grows: `{"days": [{...}, {...` yields the first day as soon as its `}` arrives. Only lists
/// that are values of the top-level object's keys, and only elements that are objects.
#[derive(Debug, Default)]
pub struct ListScanner {
    /// The text read so far.
    text: String,
    /// Bytes of `text` already scanned.
    scanned: usize,
    /// The open containers, `{` or `[`.
    open: Vec<u8>,
    in_string: bool,
    escaped: bool,
    /// Where the string being read began (for keys of the top-level object).
    string_start: usize,
    /// The top-level object expects a key next.
    expects_key: bool,
    /// The last key read at the top level.
    key: String,
    /// The list being read (a value of the top level) and how many elements it has had.
    list: Option<(String, usize)>,
    /// Where the element being read began.
    element_start: Option<usize>,
}

impl ListScanner {
    /// Reads `more` text; returns each list element it completes: (list, index, element).
    pub fn read(&mut self, more: &str) -> Vec<(String, usize, serde_json::Value)> {
        self.text.push_str(more);
        let mut found = Vec::new();
        let bytes = self.text.as_bytes();
        while self.scanned < bytes.len() {
            let at = self.scanned;
            let byte = bytes[at];
            self.scanned += 1;
            if self.in_string {
                match byte {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => {
                        self.in_string = false;
                        if self.open.len() == 1 && self.expects_key {
                            self.key = self.text[self.string_start..at].to_owned();
                            self.expects_key = false;
                        }
                    }
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => {
                    self.in_string = true;
                    self.string_start = at + 1;
                }
                b'{' | b'[' => {
                    match (self.open.as_slice(), byte) {
                        ([], b'{') => self.expects_key = true,
                        ([b'{'], b'[') => self.list = Some((self.key.clone(), 0)),
                        ([b'{', b'['], b'{') => self.element_start = Some(at),
                        _ => {}
                    }
                    self.open.push(byte);
                }
                b'}' | b']' => {
                    self.open.pop();
                    if let ([b'{', b'['], b'}', Some(start)) =
                        (self.open.as_slice(), byte, self.element_start)
                    {
                        self.element_start = None;
                        if let (Some((list, count)), Ok(value)) =
                            (&mut self.list, serde_json::from_str(&self.text[start..=at]))
                        {
                            found.push((list.clone(), *count, value));
                            *count += 1;
                        }
                    }
                    if self.open.len() == 1 && byte == b']' {
                        self.list = None;
                    }
                }
                b',' if self.open.len() == 1 => self.expects_key = true,
                _ => {}
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_in_pieces(text: &str, size: usize) -> Vec<(String, usize, serde_json::Value)> {
        let mut scanner = ListScanner::default();
        let chars: Vec<char> = text.chars().collect();
        let mut found = Vec::new();
        for piece in chars.chunks(size) {
            found.extend(scanner.read(&piece.iter().collect::<String>()));
        }
        found
    }

    #[test]
    fn list_elements_come_as_soon_as_they_close() {
        let text = r#"{"destination": "Kyoto {[\"x\"]}", "days": [{"day": 1, "note": "a \"}\" b", "slots": [{"a": 1}]}, {"day": 2}], "tips": ["x"], "costs": [{"c": "é"}]}"#;
        for size in [1, 3, 7, 1000] {
            let found = read_in_pieces(text, size);
            let lists: Vec<_> = found.iter().map(|(l, i, _)| (l.as_str(), *i)).collect();
            assert_eq!(lists, [("days", 0), ("days", 1), ("costs", 0)], "{size}");
            assert_eq!(found[0].2["note"], "a \"}\" b");
            assert_eq!(found[0].2["slots"][0]["a"], 1);
            assert_eq!(found[2].2["c"], "é");
        }
    }

    #[test]
    fn the_first_element_is_told_before_the_list_ends() {
        let mut scanner = ListScanner::default();
        assert!(scanner.read(r#"{"days": [{"day": 1"#).is_empty());
        let found = scanner.read(r#"}, {"day": "#);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].2, serde_json::json!({"day": 1}));
    }

    #[derive(Default)]
    struct Told(std::sync::Mutex<Vec<LivePiece>>);

    impl ReplyWatcher for Told {
        fn following(&self) -> bool {
            true
        }

        fn piece(&self, piece: LivePiece) {
            self.0.lock().unwrap().push(piece);
        }
    }

    #[test]
    fn text_is_told_gathered_and_an_element_after_the_text_that_completes_it() {
        let told = Told::default();
        let mut round = LiveRound::new(AgentName::Itinerary, 1, &told, true);
        let deltas = [r#"{"days": ["#, r#"{"day""#, ": 1}", r#", {"day": 2"#];
        for text in deltas {
            round.pass(&ChatCompletionStreamResponseDelta {
                content: Some(text.into()),
                ..Default::default()
            });
        }
        round.finish();
        let told = told.0.into_inner().unwrap();
        let texts: Vec<&str> = told
            .iter()
            .filter_map(|p| match p {
                LivePiece::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(texts.concat(), deltas.concat());
        assert!(texts.len() < deltas.len(), "gathered: {texts:?}");
        let item = told
            .iter()
            .position(|p| matches!(p, LivePiece::Item { .. }))
            .unwrap();
        let before: String = texts.iter().take(item).copied().collect();
        assert!(before.ends_with(r#"{"day": 1}"#), "{told:?}");
    }

    #[test]
    fn pieces_are_written_as_the_api_documents_them() {
        let piece = LivePiece::Item {
            agent: AgentName::Itinerary,
            round: 2,
            list: "days".into(),
            index: 0,
            value: serde_json::json!({"day": 1}),
        };
        assert_eq!(
            serde_json::to_value(&piece).unwrap(),
            serde_json::json!({"type": "item", "agent": "itinerary", "round": 2, "list": "days", "index": 0, "value": {"day": 1}})
        );
    }
}
