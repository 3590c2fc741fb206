//! The conversational intake: the demo model chatting with a traveller for the service's intake
//! agent, so that a trip can be asked for in conversation with no API key.
//!
//! The intake agent offers exactly one tool, `start_trip`, whose parameters are the strict JSON
//! Schema of a trip request; that tool is how its requests are recognised. The demo model keeps
//! no state: every time, it reads the whole conversation and
//!
//! 1. reads the trip's facts from all the traveller's messages in order, a later statement
//!    overriding an earlier one: what they would like, how many days, the budget and its
//!    currency, their name, when they go, and what they need (diet, access, children: the needs
//!    `needs.rs` recognises);
//! 2. asks for the first required fact still missing (what they would like, the days, the budget,
//!    the name), saying briefly what it understood so far;
//! 3. asks once when they want to go and whether there is anything to know ([`ASK_WHEN_AND_NEEDS`]);
//! 4. restates the whole request and asks [`SHALL_I_START`];
//! 5. calls `start_trip` when the traveller confirms that restatement; restates again after a
//!    correction ("make it 6 days"), and asks what to change after a plain "no";
//! 6. after the tool's result, says that the trip is being planned, or what the planner refused;
//! 7. once a trip is started, answers any further message that it is already underway.
//!
//! Its questions are fixed phrases, so that its earlier replies tell it what it asked: a bare "5"
//! answers how many days, a bare "Ana" the name, a bare "EUR" the currency. How the facts are
//! read from the words is [`words`]'.

use chrono::NaiveDate;
use serde_json::{Map, Value, json};
use travel_agents::ReferenceRates;

use crate::needs::Needs;
use crate::openai::{self, ToolChoice};
use crate::schema_answer;

mod words;
use words::*;

/// The tool the intake agent offers: its requests are recognised by it.
pub(crate) const START_TRIP: &str = "start_trip";

/// The question for what the traveller would like from the trip.
const ASK_PREFERENCES: &str = "What kind of trip would you like";
const ASK_DAYS: &str = "How many days should the trip last";
const ASK_BUDGET: &str = "What is your budget for the whole trip";
const ASK_CURRENCY: &str = "In which currency is the budget";
const ASK_NAME: &str = "What name should I put on the trip";
/// The one question about the optional facts: when, and any needs.
pub(crate) const ASK_WHEN_AND_NEEDS: &str = "One more thing before I sum up";
/// Ends every restatement of the request: a "yes" after it starts the trip.
pub(crate) const SHALL_I_START: &str = "Shall I start planning?";
const ASK_WHAT_TO_CHANGE: &str = "What should I change";

/// The longest free text, where the schema does not say.
const MAX_TEXT: usize = 2000;
/// The longest name, where the schema does not say.
const MAX_NAME: usize = 200;

/// The intake's reply to the conversation in `body`: the assistant message, its finish reason
/// and its text (for the token count), as [`openai::plain_answer`] gives them.
pub(crate) fn reply(body: &Value) -> (Value, &'static str, String) {
    let tool_choice = ToolChoice::of(body);
    if matches!(tool_choice, ToolChoice::Required | ToolChoice::Named(_)) {
        return openai::plain_answer(body);
    }
    let form = TripForm::of(body);
    let conversation = Conversation::read(body);
    match next_step(&conversation, &form, tool_choice != ToolChoice::None) {
        Step::Say(text) => (json!({"role": "assistant", "content": text}), "stop", text),
        Step::StartTrip(arguments) => {
            let id = format!("call_intake_{}", conversation.tool_calls() + 1);
            let call = json!({"id": id, "type": "function",
                "function": {"name": START_TRIP, "arguments": arguments.to_string()}});
            let message = json!({"role": "assistant", "content": null, "tool_calls": [call]});
            (message, "tool_calls", String::new())
        }
    }
}

/// What the demo model does next.
#[derive(Debug)]
enum Step {
    Say(String),
    /// Call `start_trip` with these arguments.
    StartTrip(Value),
}

fn next_step(conversation: &Conversation, form: &TripForm, may_call_tools: bool) -> Step {
    if let Some(Turn::ToolResult(result)) = conversation.turns.last() {
        return Step::Say(match TripResult::read(result) {
            TripResult::Started(id) => planning_started(&id),
            TripResult::Refused(problems) => refused(&problems),
        });
    }
    if let Some(id) = conversation.started_trip() {
        return Step::Say(already_underway(&id));
    }
    let facts = conversation.facts();
    if let Some(latest) = conversation.latest_words()
        && conversation.question_before(latest) == Question::Restatement
    {
        if is_yes(conversation.words(latest)) && form.first_missing(&facts).is_none() {
            if !may_call_tools {
                return Step::Say(format!(
                    "Everything is ready, but this request does not let me call {START_TRIP}."
                ));
            }
            return Step::StartTrip(form.arguments(&facts));
        }
        if conversation.facts_until(latest) == facts {
            return Step::Say(ask_what_to_change());
        }
    }
    if let Some(missing) = form.first_missing(&facts) {
        return Step::Say(ask_for(&missing, &facts));
    }
    if !conversation.asked(ASK_WHEN_AND_NEEDS) && !facts.knows_when_and_needs() {
        return Step::Say(ask_when_and_needs(&facts));
    }
    Step::Say(restatement(&facts))
}

// ---------------------------------------------------------------------------------------------
// The conversation
// ---------------------------------------------------------------------------------------------

/// One message of the conversation (the instructions left out).
#[derive(Debug)]
enum Turn {
    /// The traveller's words.
    Traveller(String),
    /// An earlier reply of the demo model: its text (empty for a tool call) and its tool calls.
    Assistant { text: String, calls: usize },
    /// What the service answered to a `start_trip` call.
    ToolResult(String),
}

#[derive(Debug)]
struct Conversation {
    turns: Vec<Turn>,
}

impl Conversation {
    fn read(body: &Value) -> Self {
        let turns = body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|message| {
                let text = text_of(&message["content"]);
                Some(match message["role"].as_str()? {
                    "user" => Turn::Traveller(text),
                    "assistant" => Turn::Assistant {
                        text,
                        calls: message["tool_calls"].as_array().map_or(0, Vec::len),
                    },
                    "tool" => Turn::ToolResult(text),
                    _ => return None,
                })
            })
            .collect();
        Self { turns }
    }

    /// Where the traveller's latest message is, if it is the last one.
    fn latest_words(&self) -> Option<usize> {
        let last = self.turns.len().checked_sub(1)?;
        matches!(self.turns[last], Turn::Traveller(_)).then_some(last)
    }

    fn words(&self, index: usize) -> &str {
        match &self.turns[index] {
            Turn::Traveller(words) => words,
            _ => "",
        }
    }

    /// What the demo model asked just before the message at `index`.
    fn question_before(&self, index: usize) -> Question {
        match index.checked_sub(1).map(|i| &self.turns[i]) {
            Some(Turn::Assistant { text, .. }) => Question::of(text),
            _ => Question::Nothing,
        }
    }

    /// Whether an earlier reply said `phrase`.
    fn asked(&self, phrase: &str) -> bool {
        self.turns
            .iter()
            .any(|t| matches!(t, Turn::Assistant { text, .. } if text.contains(phrase)))
    }

    fn tool_calls(&self) -> usize {
        self.turns
            .iter()
            .map(|t| match t {
                Turn::Assistant { calls, .. } => *calls,
                _ => 0,
            })
            .sum()
    }

    /// The trip started in this conversation (its id, maybe empty), if one was.
    fn started_trip(&self) -> Option<String> {
        self.turns.iter().find_map(|t| match t {
            Turn::ToolResult(result) => match TripResult::read(result) {
                TripResult::Started(id) => Some(id),
                TripResult::Refused(_) => None,
            },
            _ => None,
        })
    }

    /// What the traveller said, all told.
    fn facts(&self) -> Facts {
        self.facts_until(self.turns.len())
    }

    /// What the traveller had said before the message at `end`.
    fn facts_until(&self, end: usize) -> Facts {
        let mut facts = Facts::default();
        let mut first_words = None;
        for (index, turn) in self.turns[..end].iter().enumerate() {
            if let Turn::Traveller(words) = turn {
                facts.hear(words, self.question_before(index));
                first_words.get_or_insert(words.as_str());
            }
        }
        // Nothing said about the trip in so many words: the opening message, if it is more than
        // facts and greetings.
        if facts.preferences.is_empty()
            && let Some(first) = first_words
            && facts.content_words(&words_of(first)) >= 2
        {
            facts.preferences.push(first.trim().to_owned());
        }
        facts
    }
}

/// A message's text: a string, or the text of its parts.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// What an earlier reply of the demo model asked, by its fixed phrases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Question {
    Preferences,
    Days,
    Budget,
    Currency,
    Name,
    WhenAndNeeds,
    Restatement,
    WhatToChange,
    Nothing,
}

impl Question {
    fn of(text: &str) -> Self {
        [
            (SHALL_I_START, Question::Restatement),
            (ASK_WHAT_TO_CHANGE, Question::WhatToChange),
            (ASK_WHEN_AND_NEEDS, Question::WhenAndNeeds),
            (ASK_CURRENCY, Question::Currency),
            (ASK_BUDGET, Question::Budget),
            (ASK_DAYS, Question::Days),
            (ASK_NAME, Question::Name),
            (ASK_PREFERENCES, Question::Preferences),
        ]
        .into_iter()
        .find(|(phrase, _)| text.contains(phrase))
        .map_or(Question::Nothing, |(_, question)| question)
    }
}

/// What the service answered to `start_trip`.
#[derive(Debug, PartialEq)]
enum TripResult {
    /// Started, with its instance id (empty if it gave none).
    Started(String),
    /// Refused, and why.
    Refused(String),
}

impl TripResult {
    fn read(content: &str) -> Self {
        let Ok(result) = serde_json::from_str::<Value>(content) else {
            let said: String = content.trim().chars().take(300).collect();
            return TripResult::Refused(said);
        };
        if result["started"] == true {
            let id = result["instanceId"].as_str().unwrap_or_default();
            return TripResult::Started(id.to_owned());
        }
        let field_errors: Vec<String> = result["fieldErrors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let field = field_in_words(e["field"].as_str().unwrap_or_default());
                let message = e["message"].as_str().unwrap_or("not accepted");
                format!("{field}: {}", message.trim_end_matches('.'))
            })
            .collect();
        if field_errors.is_empty() {
            let error = result["error"].as_str().map_or_else(
                || result.to_string(),
                |e| e.trim_end_matches('.').to_owned(),
            );
            TripResult::Refused(error)
        } else {
            TripResult::Refused(field_errors.join("; "))
        }
    }
}

/// A field of the trip request as the traveller knows it.
fn field_in_words(field: &str) -> &str {
    match field {
        "travelerName" => "the name",
        "preferences" => "what you would like",
        "durationDays" => "the number of days",
        "budget" | "budget.amount" => "the budget",
        "budget.currency" => "the budget's currency",
        "startDate" => "the start date",
        "travelDates" => "the travel dates",
        "specialRequirements" => "the special requirements",
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// The facts of the trip
// ---------------------------------------------------------------------------------------------

/// What the traveller said about their trip so far.
#[derive(Debug, Clone, Default, PartialEq)]
struct Facts {
    name: Option<String>,
    /// Their words about what they would like, in order.
    preferences: Vec<String>,
    days: Option<u32>,
    amount: Option<f64>,
    /// An ISO 4217 code, maybe not one the planner accepts.
    currency: Option<String>,
    start_date: Option<NaiveDate>,
    /// When, in their words ("mid-June", "next spring").
    travel_dates: Option<String>,
    needs: Needs,
}

impl Facts {
    /// Reads one message of the traveller's, the answer to `question`.
    fn hear(&mut self, text: &str, question: Question) {
        let words = words_of(text);
        if let Some(name) = name_in(&words, question) {
            self.name = Some(name);
        }
        if let Some(days) = days_in(&words, question) {
            self.days = Some(days);
        }
        let (amount, currency) = budget_in(&words, question);
        if amount.is_some() {
            self.amount = amount;
        }
        if currency.is_some() {
            self.currency = currency;
        }
        if let Some(date) = start_date_in(&words) {
            self.start_date = Some(date);
        }
        if let Some(when) = travel_dates_in(&words) {
            self.travel_dates = Some(when);
        }
        self.needs = either(self.needs, Needs::read(text));
        if question == Question::Preferences {
            if self.content_words(&words) >= 1 {
                self.add_preference(text.trim());
            }
        } else {
            for sentence in sentences(text) {
                if is_about_the_trip(&words_of(sentence)) {
                    self.add_preference(sentence);
                }
            }
        }
    }

    fn add_preference(&mut self, words: &str) {
        if !words.is_empty() && !self.preferences.iter().any(|p| p == words) {
            self.preferences.push(words.to_owned());
        }
    }

    /// How many of `words` say something beyond greetings and the facts read here.
    fn content_words(&self, words: &[Word]) -> usize {
        let name_parts: Vec<String> = self
            .name
            .iter()
            .flat_map(|n| n.split_whitespace())
            .map(str::to_lowercase)
            .collect();
        words
            .iter()
            .filter(|w| {
                let lower = w.lower.as_str();
                lower
                    .chars()
                    .all(|c| c.is_alphabetic() || c == '\'' || c == '-')
                    && !listed(FILLER, lower)
                    && !name_parts.iter().any(|n| n == lower)
                    && count(lower).is_none()
                    && length(1, lower).is_none()
                    && currency_word(lower).is_none()
                    && currency_code(&w.text).is_none()
                    && period(lower).is_none()
            })
            .count()
    }

    /// What the traveller would like, in their words, at most `max` characters.
    fn preferences_text(&self, max: usize) -> String {
        self.preferences.join(" ").chars().take(max).collect()
    }

    fn knows_when_and_needs(&self) -> bool {
        (self.start_date.is_some() || self.travel_dates.is_some()) && self.needs != Needs::default()
    }

    /// The special requirements, as a sentence the planner's agents read.
    fn requirements(&self) -> Option<String> {
        let needs = &self.needs;
        let mut parts = Vec::new();
        if needs.vegan {
            parts.push("Vegan meals");
        } else if needs.vegetarian {
            parts.push("Vegetarian meals");
        }
        if needs.step_free {
            parts.push("Step-free access throughout (wheelchair)");
        }
        if needs.children {
            parts.push("Travelling with children");
        }
        if needs.free_afternoon {
            parts.push("One free afternoon");
        }
        (!parts.is_empty()).then(|| format!("{}.", parts.join(". ")))
    }

    /// The budget as the traveller reads it (`2000 EUR`).
    fn budget(&self) -> Option<String> {
        let amount = money(self.amount?);
        Some(match &self.currency {
            Some(code) => format!("{amount} {code}"),
            None => amount,
        })
    }
}

/// The needs of both.
fn either(a: Needs, b: Needs) -> Needs {
    Needs {
        vegetarian: a.vegetarian || b.vegetarian,
        vegan: a.vegan || b.vegan,
        step_free: a.step_free || b.step_free,
        children: a.children || b.children,
        free_afternoon: a.free_afternoon || b.free_afternoon,
    }
}

/// An amount as people write it: `2000`, `2499.50`.
fn money(amount: f64) -> String {
    if amount.fract() == 0.0 {
        format!("{amount:.0}")
    } else {
        format!("{amount:.2}")
    }
}

/// Words that say nothing about the trip itself.
const FILLER: &str = "hi hello hey there thanks thank you please i i'm im i'd i'll me my name is \
    am are be a an the and or but so for of to with in on at about around trip travel holiday \
    vacation want would like love need help plan planning can could we we'd our us it it's that \
    this some budget total yes no ok okay sure just also go going have make start from starting \
    none nothing flexible good great dear call";

/// Whether `word` is one of the words of `list` (separated by spaces).
fn listed(list: &str, word: &str) -> bool {
    list.split_whitespace().any(|w| w == word)
}

// ---------------------------------------------------------------------------------------------
// What `start_trip` accepts
// ---------------------------------------------------------------------------------------------

/// The parameters of the `start_trip` tool: what a trip request must hold.
#[derive(Debug)]
struct TripForm {
    /// The strict JSON Schema (null if the tool carries none).
    schema: Value,
}

/// A required fact the traveller has not given (or not as the planner takes it).
#[derive(Debug, PartialEq)]
enum Missing {
    Preferences,
    Days,
    DaysOutOfRange {
        said: u32,
        min: u32,
        max: u32,
    },
    Budget,
    BudgetTooLarge {
        max: f64,
    },
    Currency {
        amount: f64,
    },
    CurrencyNotAccepted {
        code: String,
        amount: f64,
        accepted: Vec<String>,
    },
    Name,
}

static NULL: Value = Value::Null;

impl TripForm {
    fn of(body: &Value) -> Self {
        let schema = body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["function"]["name"] == START_TRIP)
            .map_or(Value::Null, |t| t["function"]["parameters"].clone());
        Self { schema }
    }

    /// The schema of a property (`["budget", "currency"]`), its null alternative set aside.
    fn property(&self, path: &[&str]) -> &Value {
        path.iter()
            .fold(self.resolve(&self.schema), |schema, name| {
                self.resolve(schema["properties"].get(*name).unwrap_or(&NULL))
            })
    }

    /// `schema` itself: its `$ref` followed, the first alternative that is not null.
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        if let Some(target) = schema["$ref"].as_str() {
            let resolved = target
                .strip_prefix('#')
                .and_then(|p| self.schema.pointer(p));
            return resolved.map_or(&NULL, |r| self.resolve(r));
        }
        match schema["anyOf"].as_array() {
            Some(alternatives) => alternatives
                .iter()
                .find(|a| a["type"] != "null")
                .map_or(&NULL, |a| self.resolve(a)),
            None => schema,
        }
    }

    fn days_allowed(&self) -> (u32, u32) {
        let days = self.property(&["durationDays"]);
        let bound = |key: &str, default: u32| {
            days[key]
                .as_f64()
                .map_or(default, |b| b.clamp(0.0, f64::from(u32::MAX)) as u32)
        };
        (
            bound("minimum", 1),
            bound("maximum", travel_agents::brief::MAX_DURATION_DAYS),
        )
    }

    fn max_amount(&self) -> Option<f64> {
        self.property(&["budget", "amount"])["maximum"].as_f64()
    }

    /// The currencies the planner accepts: the schema's list, or the service's rate table's.
    fn currencies(&self) -> Vec<String> {
        match self.property(&["budget", "currency"])["enum"].as_array() {
            Some(codes) => codes
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            None => ReferenceRates::currencies().map(str::to_owned).collect(),
        }
    }

    fn max_length(&self, name: &str, default: usize) -> usize {
        self.property(&[name])["maxLength"]
            .as_u64()
            .map_or(default, |max| usize::try_from(max).unwrap_or(default))
    }

    /// The first required fact missing, in the order they are asked for.
    fn first_missing(&self, facts: &Facts) -> Option<Missing> {
        if facts.preferences.is_empty() {
            return Some(Missing::Preferences);
        }
        let Some(days) = facts.days else {
            return Some(Missing::Days);
        };
        let (min, max) = self.days_allowed();
        if !(min..=max).contains(&days) {
            return Some(Missing::DaysOutOfRange {
                said: days,
                min,
                max,
            });
        }
        let Some(amount) = facts.amount else {
            return Some(Missing::Budget);
        };
        if let Some(max) = self.max_amount().filter(|max| amount > *max) {
            return Some(Missing::BudgetTooLarge { max });
        }
        let Some(code) = &facts.currency else {
            return Some(Missing::Currency { amount });
        };
        let accepted = self.currencies();
        if !accepted.contains(code) {
            let code = code.clone();
            return Some(Missing::CurrencyNotAccepted {
                code,
                amount,
                accepted,
            });
        }
        facts.name.is_none().then_some(Missing::Name)
    }

    /// The arguments of `start_trip` for `facts`, as the schema has them: every property, null
    /// where unknown.
    fn arguments(&self, facts: &Facts) -> Value {
        let name = facts.name.as_deref().unwrap_or_default();
        let known = json!({
            "travelerName": name.chars().take(self.max_length("travelerName", MAX_NAME)).collect::<String>(),
            "preferences": facts.preferences_text(self.max_length("preferences", MAX_TEXT)),
            "durationDays": facts.days,
            "budget": {"amount": facts.amount, "currency": facts.currency},
            "startDate": facts.start_date.map(|d| d.to_string()),
            "travelDates": facts.travel_dates,
            "specialRequirements": facts.requirements(),
        });
        if self.schema.is_null() {
            return known;
        }
        self.shaped(&self.schema, &known)
    }

    /// `value` as `schema` has it: an object's properties all present (null where unknown and
    /// nullable), a number where an integer is asked for rounded, a text cut at its length.
    fn shaped(&self, schema: &Value, value: &Value) -> Value {
        let schema = self.resolve(schema);
        if let Some(properties) = schema["properties"].as_object() {
            let mut object = Map::new();
            for (name, property) in properties {
                let given = &value[name.as_str()];
                let filled = if !given.is_null() {
                    self.shaped(property, given)
                } else if allows_null(property) {
                    Value::Null
                } else {
                    schema_answer::example(property)
                };
                object.insert(name.clone(), filled);
            }
            return Value::Object(object);
        }
        let is_integer = schema["type"] == "integer"
            || schema["type"]
                .as_array()
                .is_some_and(|t| t.contains(&json!("integer")));
        match value {
            Value::Number(n) if is_integer && !n.is_i64() => {
                json!(n.as_f64().unwrap_or_default().round() as i64)
            }
            Value::String(text) => match schema["maxLength"].as_u64() {
                Some(max) => json!(text.chars().take(max as usize).collect::<String>()),
                None => value.clone(),
            },
            _ => value.clone(),
        }
    }
}

fn allows_null(schema: &Value) -> bool {
    match &schema["type"] {
        Value::String(t) if t == "null" => return true,
        Value::Array(types) if types.contains(&json!("null")) => return true,
        _ => {}
    }
    schema["anyOf"]
        .as_array()
        .is_some_and(|alternatives| alternatives.iter().any(allows_null))
}

// ---------------------------------------------------------------------------------------------
// What the demo model says
// ---------------------------------------------------------------------------------------------

/// What it understood so far, in a few words ("So far: 5 days, 2000 EUR. "), or nothing.
fn so_far(facts: &Facts) -> String {
    let mut parts = Vec::new();
    if !facts.preferences.is_empty() {
        let said = facts.preferences_text(usize::MAX);
        let said = said.trim_end_matches(['.', '!', '?']);
        let short: String = said.chars().take(60).collect();
        let ellipsis = if short.len() < said.len() { "…" } else { "" };
        parts.push(format!("\u{201c}{short}{ellipsis}\u{201d}"));
    }
    if let Some(days) = facts.days {
        parts.push(days_text(days));
    }
    if let Some(budget) = facts.budget() {
        parts.push(budget);
    }
    if let Some(name) = &facts.name {
        parts.push(format!("for {name}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("So far: {}. ", parts.join(", "))
    }
}

fn days_text(days: u32) -> String {
    if days == 1 {
        "1 day".to_owned()
    } else {
        format!("{days} days")
    }
}

fn ask_for(missing: &Missing, facts: &Facts) -> String {
    let so_far = so_far(facts);
    match missing {
        Missing::Preferences if so_far.is_empty() => format!(
            "Hello! I'll help you plan your trip. {ASK_PREFERENCES}: beaches, food, museums, \
             hiking, a city break? Tell me where, if you know, and how long and your budget too."
        ),
        Missing::Preferences => format!(
            "{so_far}{ASK_PREFERENCES}: beaches, food, museums, hiking, a city break? Tell me \
             where, if you know."
        ),
        Missing::Days => format!("{so_far}{ASK_DAYS}?"),
        Missing::DaysOutOfRange { said, min, max } => format!(
            "I can't plan {}: the planner plans trips of {min} to {max} days. {ASK_DAYS}?",
            days_text(*said)
        ),
        Missing::Budget => {
            format!("{so_far}{ASK_BUDGET}, and in which currency (for example 2000 EUR)?")
        }
        Missing::BudgetTooLarge { max } => format!(
            "The planner takes budgets up to {}. {ASK_BUDGET}?",
            money(*max)
        ),
        Missing::Currency { amount } => format!(
            "{so_far}{ASK_CURRENCY} of {} (for example EUR, USD or GBP)?",
            money(*amount)
        ),
        Missing::CurrencyNotAccepted {
            code,
            amount,
            accepted,
        } => format!(
            "I can't plan a budget in {code}: the planner accepts {}. {ASK_CURRENCY} of {}?",
            accepted.join(", "),
            money(*amount)
        ),
        Missing::Name => format!("{so_far}{ASK_NAME}?"),
    }
}

fn ask_when_and_needs(facts: &Facts) -> String {
    let thanks = facts
        .name
        .as_ref()
        .map_or_else(|| "Thanks!".to_owned(), |name| format!("Thanks, {name}!"));
    format!(
        "{thanks} {ASK_WHEN_AND_NEEDS}: when would you like to go (a start date as YYYY-MM-DD, a \
         month, or \"flexible\"), and is there anything I should know, such as diet, step-free \
         access or travelling with children?"
    )
}

/// The whole request in a short paragraph, ending with [`SHALL_I_START`].
fn restatement(facts: &Facts) -> String {
    let name = facts.name.as_deref().unwrap_or("you");
    let days = days_text(facts.days.unwrap_or_default());
    let budget = facts.budget().unwrap_or_default();
    let mut text = format!(
        "Here is your trip, {name}: {days} with a budget of {budget}. What you would like: {}",
        facts.preferences_text(usize::MAX)
    );
    if !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    let when = match (&facts.start_date, &facts.travel_dates) {
        (Some(date), Some(dates)) => Some(format!("starting {date} ({dates})")),
        (Some(date), None) => Some(format!("starting {date}")),
        (None, Some(dates)) => Some(dates.clone()),
        (None, None) => None,
    };
    if let Some(when) = when {
        text.push_str(&format!(" When: {when}."));
    }
    if let Some(needs) = facts.requirements() {
        text.push_str(&format!(" Good to know: {needs}"));
    }
    text.push_str(&format!(" {SHALL_I_START}"));
    text
}

fn ask_what_to_change() -> String {
    format!(
        "No problem. {ASK_WHAT_TO_CHANGE}? For example \"make it 6 days\", \"3000 EUR\", a start \
         date as YYYY-MM-DD, or what you would like to do."
    )
}

fn planning_started(id: &str) -> String {
    format!(
        "Your trip is being planned{}. Its progress will show here in the conversation as the \
         planners work on it.",
        id_note(id)
    )
}

fn refused(problems: &str) -> String {
    format!(
        "The planner did not start the trip: {problems}. {ASK_WHAT_TO_CHANGE}? Tell me and I'll \
         sum it up again."
    )
}

fn already_underway(id: &str) -> String {
    format!(
        "Your trip{} is already underway: its progress shows here in the conversation. I start \
         one trip per conversation; to plan another, start a new conversation.",
        id_note(id)
    )
}

fn id_note(id: &str) -> String {
    if id.is_empty() {
        String::new()
    } else {
        format!(" ({id})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::JsonSchema;
    use serde::Deserialize;
    use travel_agents::strict_schema::strict_schema_for;

    /// The trip request as the service offers it to `start_trip` (mirrored here).
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct TripRequest {
        #[serde(rename = "travelerName")]
        #[schemars(length(min = 1, max = 200))]
        traveller_name: String,
        #[schemars(length(min = 1, max = 2000))]
        preferences: String,
        #[schemars(range(min = 1, max = 30))]
        duration_days: u32,
        budget: Budget,
        start_date: Option<NaiveDate>,
        travel_dates: Option<String>,
        special_requirements: Option<String>,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Budget {
        #[schemars(extend("exclusiveMinimum" = 0))]
        amount: f64,
        currency: String,
    }

    fn trip_schema() -> Value {
        strict_schema_for::<TripRequest>()
    }

    /// One reply of the demo model.
    #[derive(Debug)]
    struct Answer {
        message: Value,
        finish: &'static str,
    }

    impl Answer {
        fn text(&self) -> &str {
            self.message["content"]
                .as_str()
                .unwrap_or_else(|| panic!("a text, not {}", self.message))
        }

        fn says(&self, phrase: &str) -> bool {
            self.text().contains(phrase)
        }

        fn start_trip_arguments(&self) -> Value {
            assert_eq!(self.finish, "tool_calls", "{}", self.message);
            assert!(self.message["content"].is_null());
            let calls = self.message["tool_calls"].as_array().unwrap();
            assert_eq!(calls.len(), 1);
            assert_eq!(calls[0]["type"], "function");
            assert_eq!(calls[0]["function"]["name"], START_TRIP);
            serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap()
        }

        fn call_id(&self) -> &str {
            self.message["tool_calls"][0]["id"].as_str().unwrap()
        }
    }

    /// A conversation with the demo model, as the service's intake holds it.
    struct Chat {
        messages: Vec<Value>,
        parameters: Value,
    }

    impl Chat {
        fn new() -> Self {
            Self::with_parameters(trip_schema())
        }

        fn with_parameters(parameters: Value) -> Self {
            let instructions = "You are the intake agent of a trip planner. Ask for what is \
                                missing, restate the request and call start_trip once confirmed.";
            Self {
                messages: vec![json!({"role": "system", "content": instructions})],
                parameters,
            }
        }

        fn body(&self) -> Value {
            json!({
                "model": "demo",
                "stream": true,
                "stream_options": {"include_usage": true},
                "messages": self.messages,
                "tools": [{"type": "function", "function": {"name": START_TRIP,
                    "description": "Start planning the trip.", "strict": true,
                    "parameters": self.parameters}}],
            })
        }

        fn answer(&mut self) -> Answer {
            let (message, finish, _) = reply(&self.body());
            self.messages.push(message.clone());
            Answer { message, finish }
        }

        fn traveller(&mut self, words: &str) -> Answer {
            self.messages
                .push(json!({"role": "user", "content": words}));
            self.answer()
        }

        fn tool_result(&mut self, result: Value) -> Answer {
            let last = self.messages.last().unwrap();
            let id = last["tool_calls"][0]["id"].clone();
            assert!(id.is_string(), "the last reply called no tool: {last}");
            self.messages
                .push(json!({"role": "tool", "tool_call_id": id, "content": result.to_string()}));
            self.answer()
        }

        /// Tells everything in one message and answers the question about dates and needs: the
        /// reply is the restatement.
        fn up_to_the_restatement(&mut self) -> Answer {
            let opening = self.traveller(
                "Hi, I'm Ana Lima. I'd like 5 days of beaches and seafood in Portugal for 2000 \
                 eur, in mid-June, starting 2026-06-15.",
            );
            assert!(opening.says(ASK_WHEN_AND_NEEDS), "{opening:?}");
            let restatement = self.traveller("I'm vegetarian.");
            assert!(restatement.says(SHALL_I_START), "{restatement:?}");
            restatement
        }
    }

    /// The facts in the traveller's messages (no question asked).
    fn facts(said: &[&str]) -> Facts {
        let messages: Vec<Value> = said
            .iter()
            .map(|s| json!({"role": "user", "content": s}))
            .collect();
        Conversation::read(&json!({ "messages": messages })).facts()
    }

    /// Where `value` does not follow `schema` (the keywords strict schemas use).
    fn problems(schema: &Value, value: &Value, path: &str) -> Vec<String> {
        if let Some(alternatives) = schema["anyOf"].as_array() {
            return if alternatives
                .iter()
                .any(|a| problems(a, value, path).is_empty())
            {
                Vec::new()
            } else {
                vec![format!("{path}: {value} fits no alternative")]
            };
        }
        let kind = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let allowed: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(types) => types.iter().filter_map(Value::as_str).collect(),
            _ => vec![kind],
        };
        let fits = allowed.contains(&kind) || kind == "integer" && allowed.contains(&"number");
        if !fits {
            return vec![format!("{path}: {value} is not of type {allowed:?}")];
        }
        let mut found = Vec::new();
        if let Some(values) = schema["enum"].as_array()
            && !values.contains(value)
        {
            found.push(format!("{path}: {value} is not one of {values:?}"));
        }
        if let Some(n) = value.as_f64() {
            let below = |key: &str| schema[key].as_f64().is_some_and(|b| n < b);
            let above = |key: &str| schema[key].as_f64().is_some_and(|b| n > b);
            let at_exclusive = schema["exclusiveMinimum"].as_f64().is_some_and(|b| n <= b);
            if below("minimum") || above("maximum") || at_exclusive {
                found.push(format!("{path}: {n} is out of range"));
            }
        }
        if schema["format"] == "date"
            && let Some(date) = value.as_str()
            && NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err()
        {
            found.push(format!("{path}: {date} is not a date"));
        }
        if let (Some(properties), Some(object)) =
            (schema["properties"].as_object(), value.as_object())
        {
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap();
                if !object.contains_key(name) {
                    found.push(format!("{path}: `{name}` is missing"));
                }
            }
            for (name, value) in object {
                match properties.get(name) {
                    Some(property) => {
                        found.extend(problems(property, value, &format!("{path}.{name}")))
                    }
                    None => found.push(format!("{path}: `{name}` is not a property")),
                }
            }
        }
        found
    }

    #[test]
    fn intake_asks_for_the_missing_facts_in_order() {
        let mut chat = Chat::new();
        assert!(chat.traveller("Hello!").says(ASK_PREFERENCES));
        let days = chat.traveller("I'd love beaches and good food, maybe in Portugal.");
        assert!(days.says(ASK_DAYS), "{days:?}");
        assert!(
            days.says("beaches and good food"),
            "says what it understood: {days:?}"
        );
        let budget = chat.traveller("5");
        assert!(
            budget.says(ASK_BUDGET) && budget.says("5 days"),
            "{budget:?}"
        );
        let currency = chat.traveller("2000");
        assert!(
            currency.says(ASK_CURRENCY) && currency.says("2000"),
            "{currency:?}"
        );
        let name = chat.traveller("eur");
        assert!(name.says(ASK_NAME) && name.says("2000 EUR"), "{name:?}");
        let optional = chat.traveller("ana");
        assert!(
            optional.says(ASK_WHEN_AND_NEEDS) && optional.says("Ana"),
            "{optional:?}"
        );
        let restatement = chat.traveller("No, flexible.");
        for part in [
            SHALL_I_START,
            "Ana",
            "5 days",
            "2000 EUR",
            "beaches and good food",
        ] {
            assert!(restatement.says(part), "{part}: {restatement:?}");
        }
        assert!(
            !restatement.says("When:"),
            "no dates were given: {restatement:?}"
        );
        assert_eq!(restatement.finish, "stop");

        // What is given up front is not asked for again; what the trip is for comes first.
        let mut chat = Chat::new();
        let name = chat.traveller("5 days of hiking in Peru for 3000 USD");
        assert!(name.says(ASK_NAME), "{name:?}");
        let mut chat = Chat::new();
        let preferences = chat.traveller("Hi, I'm Ana. 5 days, 2000 EUR.");
        assert!(preferences.says(ASK_PREFERENCES), "{preferences:?}");
        assert!(
            preferences.says("5 days, 2000 EUR, for Ana"),
            "{preferences:?}"
        );
    }

    #[test]
    fn intake_reads_names_and_not_what_only_looks_like_one() {
        let name = |said: &str| facts(&[said]).name;
        for (said, expected) in [
            ("my name is Ana", "Ana"),
            ("Hi, I'm Ana.", "Ana"),
            ("I\u{2019}m Ana, 5 days please", "Ana"),
            ("I am Ana Lima and I love hiking", "Ana Lima"),
            ("name: Ana", "Ana"),
            ("My name is ana", "Ana"),
            ("Call me Zoë", "Zoë"),
        ] {
            assert_eq!(name(said).as_deref(), Some(expected), "{said}");
        }
        for said in [
            "I'm looking for a beach holiday",
            "I'm vegetarian",
            "I'm Vegetarian",
            "I am Travelling with kids",
            "I'm Looking for museums",
            "I'm not sure yet",
            "I'm From Porto",
            "I'm Going to Japan",
            "I'm 34",
            "I'm British",
        ] {
            assert_eq!(name(said), None, "{said}");
        }
        let later = facts(&["I'm Ana", "Actually, my name is Bea Souza"]);
        assert_eq!(later.name.as_deref(), Some("Bea Souza"));
    }

    #[test]
    fn intake_reads_the_length_of_the_trip() {
        for (said, days) in [
            ("I have 5 days", 5),
            ("a week in Rome", 7),
            ("two weeks", 14),
            ("ten days", 10),
            ("3 nights", 4),
            ("a weekend in Paris", 2),
            ("a long weekend", 3),
            ("a 5-day trip", 5),
            ("a two-week trip", 14),
            ("twenty-one days", 21),
            ("a fortnight", 14),
        ] {
            assert_eq!(facts(&[said]).days, Some(days), "{said}");
        }
        assert_eq!(facts(&["2000 EUR, starting 2026-06-15"]).days, None);
        assert_eq!(facts(&["5 days", "make it 6 days"]).days, Some(6));
    }

    #[test]
    fn intake_reads_the_budget_and_its_currency() {
        for (said, amount, currency) in [
            ("2000 EUR", 2000.0, "EUR"),
            ("EUR 2000", 2000.0, "EUR"),
            ("about €2,000 in total", 2000.0, "EUR"),
            ("$1500", 1500.0, "USD"),
            ("£900 max", 900.0, "GBP"),
            ("¥200000", 200_000.0, "JPY"),
            ("1500 dollars", 1500.0, "USD"),
            ("3000 euros", 3000.0, "EUR"),
            ("800 pounds", 800.0, "GBP"),
            ("100000 yen", 100_000.0, "JPY"),
            ("2.5k euros", 2500.0, "EUR"),
            ("2000 eur", 2000.0, "EUR"),
            ("1,500.50 USD", 1500.5, "USD"),
            ("2000 canadian dollars", 2000.0, "CAD"),
            ("5 days for 2000 RUB", 2000.0, "RUB"),
        ] {
            let facts = facts(&[said]);
            assert_eq!(facts.amount, Some(amount), "{said}");
            assert_eq!(facts.currency.as_deref(), Some(currency), "{said}");
        }
        let no_currency = facts(&["my budget is 2000"]);
        assert_eq!(
            (no_currency.amount, no_currency.currency),
            (Some(2000.0), None)
        );
        for said in [
            "5 days for 2 people",
            "in June 2026",
            "I try to eat well",
            "a 5 day trip",
        ] {
            let facts = facts(&[said]);
            assert_eq!((facts.amount, facts.currency), (None, None), "{said}");
        }
        let corrected = facts(&["2000 EUR", "no, 3000 EUR"]);
        assert_eq!(corrected.amount, Some(3000.0));
        let in_dollars = facts(&["2000 EUR", "in dollars please"]);
        assert_eq!(in_dollars.amount, Some(2000.0));
        assert_eq!(in_dollars.currency.as_deref(), Some("USD"));
        let canadian = facts(&["2000 EUR", "in canadian dollars"]);
        assert_eq!(canadian.currency.as_deref(), Some("CAD"));
    }

    #[test]
    fn intake_reads_dates_needs_and_what_the_trip_is_for() {
        assert_eq!(
            facts(&["starting 2026-06-15"]).start_date,
            NaiveDate::from_ymd_opt(2026, 6, 15)
        );
        for (said, when) in [
            ("in June", Some("June")),
            ("sometime in mid-June", Some("mid-June")),
            ("next spring", Some("next spring")),
            ("early july 2026", Some("early July 2026")),
            ("late June or early July", Some("late June or early July")),
            ("at the end of August", Some("end of August")),
            ("in May", Some("May")),
            ("I may go with friends", None),
            ("flexible", None),
        ] {
            assert_eq!(facts(&[said]).travel_dates.as_deref(), when, "{said}");
        }

        let needs = facts(&["I'm vegetarian and travelling with my two kids"]);
        let requirements = needs.requirements().unwrap();
        assert!(requirements.contains("Vegetarian") && requirements.contains("children"));
        assert_eq!(
            Needs::read(&requirements),
            needs.needs,
            "the agents read them back"
        );
        let access = facts(&["I use a wheelchair", "we are vegan"])
            .requirements()
            .unwrap();
        assert_eq!(
            access,
            "Vegan meals. Step-free access throughout (wheelchair)."
        );
        assert_eq!(facts(&["beaches please"]).requirements(), None);

        let beaches = facts(&["I'd like a relaxing trip with beaches and good food"]);
        assert_eq!(
            beaches.preferences,
            ["I'd like a relaxing trip with beaches and good food"]
        );
        let lisbon = facts(&["Hi!", "We want to see Lisbon. Museums too!"]);
        assert_eq!(
            lisbon.preferences,
            ["We want to see Lisbon.", "Museums too!"]
        );
        assert!(
            facts(&["Hi, I'm Ana. 5 days, 2000 EUR."])
                .preferences
                .is_empty()
        );
        assert!(
            facts(&["I need help planning a trip"])
                .preferences
                .is_empty()
        );
        let unusual = facts(&["Something unusual, off the beaten path", "5 days"]);
        assert_eq!(
            unusual.preferences,
            ["Something unusual, off the beaten path"]
        );
    }

    #[test]
    fn intake_starts_the_trip_when_the_restatement_is_confirmed() {
        let mut chat = Chat::new();
        let restatement = chat.up_to_the_restatement();
        for part in [
            "Ana Lima",
            "5 days",
            "2000 EUR",
            "seafood",
            "mid-June",
            "2026-06-15",
            "Vegetarian",
        ] {
            assert!(restatement.says(part), "{part}: {restatement:?}");
        }
        let call = chat.traveller("Yes please!");
        assert_eq!(call.call_id(), "call_intake_1");
        let arguments = call.start_trip_arguments();
        let schema = trip_schema();
        assert_eq!(
            problems(&schema, &arguments, "arguments"),
            Vec::<String>::new()
        );
        let properties: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        let given: Vec<&String> = arguments.as_object().unwrap().keys().collect();
        assert_eq!(given, properties, "every property, in the schema's order");
        assert!(arguments["budget"]["amount"].is_f64(), "{arguments}");
        assert!(arguments["durationDays"].is_u64(), "{arguments}");

        let trip: TripRequest = serde_json::from_value(arguments).unwrap();
        assert_eq!(trip.traveller_name, "Ana Lima");
        assert!(
            trip.preferences.contains("beaches and seafood in Portugal"),
            "{trip:?}"
        );
        assert_eq!(trip.duration_days, 5);
        assert_eq!(trip.budget.amount, 2000.0);
        assert_eq!(trip.budget.currency, "EUR", "upper case");
        assert_eq!(trip.start_date, NaiveDate::from_ymd_opt(2026, 6, 15));
        assert_eq!(trip.travel_dates.as_deref(), Some("mid-June"));
        assert_eq!(
            trip.special_requirements.as_deref(),
            Some("Vegetarian meals.")
        );

        // Unknown optional facts are null.
        let mut chat = Chat::new();
        chat.traveller("Name: Ana. A week of museums in Vienna for 1500 EUR.");
        let restatement = chat.traveller("none, dates are flexible");
        assert!(restatement.says(SHALL_I_START), "{restatement:?}");
        let arguments = chat.traveller("go ahead").start_trip_arguments();
        assert_eq!(
            problems(&trip_schema(), &arguments, "arguments"),
            Vec::<String>::new()
        );
        for optional in ["startDate", "travelDates", "specialRequirements"] {
            assert!(arguments[optional].is_null(), "{optional}: {arguments}");
        }
        assert_eq!(arguments["durationDays"], 7);

        for yes in [
            "yes",
            "Yes, go ahead!",
            "sure",
            "ok",
            "okay",
            "do it",
            "start",
            "sounds good",
            "perfect",
            "y",
        ] {
            assert!(is_yes(yes), "{yes}");
        }
        for not_yet in ["no", "yes but make it 6 days", "not yet", "maybe", "hmm"] {
            assert!(!is_yes(not_yet), "{not_yet}");
        }
    }

    #[test]
    fn intake_restates_a_correction_and_asks_what_to_change_after_a_plain_no() {
        let mut chat = Chat::new();
        chat.up_to_the_restatement();
        let six = chat.traveller("make it 6 days");
        assert!(six.says(SHALL_I_START) && six.says("6 days"), "{six:?}");
        let budget = chat.traveller("no, 3000 EUR");
        assert!(
            budget.says(SHALL_I_START) && budget.says("3000 EUR"),
            "{budget:?}"
        );
        let what = chat.traveller("no");
        assert!(
            what.says(ASK_WHAT_TO_CHANGE) && !what.says(SHALL_I_START),
            "{what:?}"
        );
        let seven = chat.traveller("7 days");
        assert!(
            seven.says(SHALL_I_START) && seven.says("7 days"),
            "{seven:?}"
        );
        assert!(!seven.says(ASK_WHEN_AND_NEEDS), "asked once: {seven:?}");
        let arguments = chat.traveller("sounds good").start_trip_arguments();
        assert_eq!(arguments["durationDays"], 7);
        assert_eq!(
            arguments["budget"],
            json!({"amount": 3000.0, "currency": "EUR"})
        );
    }

    #[test]
    fn intake_names_what_the_planner_refused_and_restates_the_correction() {
        let mut chat = Chat::new();
        chat.up_to_the_restatement();
        chat.traveller("yes");
        let refused = chat.tool_result(json!({"error": "some fields are invalid", "fieldErrors": [
            {"field": "startDate", "message": "The trip must start between 2026-01-02 and 2028-01-01."}]}));
        assert_eq!(refused.finish, "stop");
        assert!(
            refused.says("the start date: The trip must start between"),
            "{refused:?}"
        );
        assert!(refused.says(ASK_WHAT_TO_CHANGE), "{refused:?}");
        let restatement = chat.traveller("Then start on 2026-09-01");
        assert!(
            restatement.says(SHALL_I_START) && restatement.says("2026-09-01"),
            "{restatement:?}"
        );
        let call = chat.traveller("yes");
        assert_eq!(
            call.call_id(),
            "call_intake_2",
            "the second call of the conversation"
        );
        assert_eq!(call.start_trip_arguments()["startDate"], "2026-09-01");

        let busy = chat.tool_result(json!({"error": "The planner is not accepting trips now."}));
        assert!(
            busy.says("The planner is not accepting trips now"),
            "{busy:?}"
        );
    }

    #[test]
    fn intake_announces_the_started_trip_and_never_starts_another() {
        let mut chat = Chat::new();
        chat.up_to_the_restatement();
        chat.traveller("yes");
        let started = chat.tool_result(json!({"started": true, "instanceId": "trip-7f3a"}));
        assert_eq!(started.finish, "stop");
        assert!(
            started.says("trip-7f3a") && started.says("progress"),
            "{started:?}"
        );
        for more in [
            "yes",
            "Actually make it 6 days",
            "Shall we start another one? yes",
        ] {
            let answer = chat.traveller(more);
            assert_eq!(answer.finish, "stop", "{more}");
            assert!(
                answer.says("already underway") && answer.says("trip-7f3a"),
                "{answer:?}"
            );
        }
    }

    #[test]
    fn intake_explains_currencies_and_lengths_the_planner_does_not_take() {
        let mut chat = Chat::new();
        let rubles = chat.traveller("I'd like 5 days of hiking for 2000 RUB");
        assert!(
            rubles.says("RUB") && rubles.says("EUR, ") && rubles.says(ASK_CURRENCY),
            "{rubles:?}"
        );
        assert!(chat.traveller("EUR").says(ASK_NAME));

        let mut chat = Chat::new();
        let long = chat.traveller("45 days of beaches");
        assert!(long.says("1 to 30 days") && long.says(ASK_DAYS), "{long:?}");
        assert!(chat.traveller("30").says(ASK_BUDGET));

        // A schema that lists the currencies is followed.
        let mut parameters = trip_schema();
        parameters["properties"]["budget"]["properties"]["currency"]["enum"] =
            json!(["EUR", "USD"]);
        let mut chat = Chat::with_parameters(parameters);
        let pounds = chat.traveller("5 days of food for £900");
        assert!(pounds.says("accepts EUR, USD."), "{pounds:?}");
    }

    #[test]
    fn intake_leaves_a_forced_tool_choice_to_the_plain_answer() {
        let mut body = Chat::new().body();
        body["messages"]
            .as_array_mut()
            .unwrap()
            .push(json!({"role": "user", "content": "hi"}));
        body["tool_choice"] = json!("required");
        let (message, finish, _) = reply(&body);
        assert_eq!(finish, "tool_calls");
        assert_eq!(message["tool_calls"][0]["id"], "call_demo_0");
    }
}
