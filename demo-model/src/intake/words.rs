//! Reading a traveller's words: the name, the days, the budget and its currency, the dates,
//! whether a sentence is about the trip, and whether a reply says yes. Each reader is told the
//! question the words answer, so that a bare "5" is the days and a bare "Ana" the name.

use chrono::NaiveDate;
use travel_agents::{CurrencyCode, ReferenceRates};

use super::{Question, listed};

/// A word of the traveller's, without the punctuation around it.
#[derive(Debug)]
pub(super) struct Word {
    /// As written: `Ana`, `€2,000`, `mid-June`.
    pub(super) text: String,
    pub(super) lower: String,
    /// Followed by a mark that ends a clause (`,` `.` `;` `:` `!` `?`).
    ends_clause: bool,
    /// Followed by a colon (`name:`).
    colon: bool,
}

pub(super) fn words_of(text: &str) -> Vec<Word> {
    let text = text.replace(['\u{2019}', '\u{2018}'], "'");
    let around = |c: char| ",.;:!?()[]\"'\u{201c}\u{201d}\u{2026}".contains(c);
    text.split_whitespace()
        .filter_map(|raw| {
            let end = raw.trim_end_matches(|c: char| ")]\"'\u{201d}".contains(c));
            let word = raw.trim_matches(around);
            (!word.is_empty()).then(|| Word {
                text: word.to_owned(),
                lower: word.to_lowercase(),
                ends_clause: end.ends_with([',', '.', ';', ':', '!', '?']),
                colon: end.ends_with(':'),
            })
        })
        .collect()
}

/// The sentences of `text`, each with its closing mark.
pub(super) fn sentences(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let closes = matches!(c, '.' | '!' | '?' | '\n')
            && chars.peek().is_none_or(|(_, next)| next.is_whitespace());
        if closes {
            found.push(text[start..i + c.len_utf8()].trim());
            start = i + c.len_utf8();
        }
    }
    found.push(text[start..].trim());
    found.retain(|s| !s.is_empty());
    found
}

/// A number of things: `5`, `five`, `twenty-one`.
pub(super) fn count(word: &str) -> Option<u32> {
    const UNITS: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_digit()) {
        return word.parse().ok();
    }
    if let Some(n) = UNITS.iter().position(|u| *u == word) {
        return u32::try_from(n).ok();
    }
    let (tens, unit) = word.split_once('-').unwrap_or((word, ""));
    let tens = match tens {
        "twenty" => 20,
        "thirty" => 30,
        _ => return None,
    };
    if unit.is_empty() {
        return Some(tens);
    }
    let unit = UNITS[1..10].iter().position(|u| *u == unit)?;
    Some(tens + 1 + u32::try_from(unit).ok()?)
}

// --- The name ---------------------------------------------------------------------------------

/// Capitalised words after "I'm" that are not names.
const NOT_NAMES: &str = "looking vegetarian vegan travelling traveling going not from planning \
    thinking interested flying visiting coming trying hoping here so very really just also still \
    a an the in on at with and but or off free sure ok okay fine good great ready retired married \
    single new back happy excited keen allergic disabled pregnant afraid sorry glad open flexible \
    available it's its staying leaving based living currently wheelchair celiac coeliac american \
    british english french german italian spanish portuguese canadian australian irish dutch \
    swiss japanese chinese korean indian brazilian mexican later i we to for of about after by \
    tired hungry curious fond done bored busy old young";

/// The traveller's name: "my name is Ana", "I'm Ana", "I am Ana Lima", "name: Ana", "call me
/// Ana", or a bare "Ana" when the name was asked. The last one said wins.
pub(super) fn name_in(words: &[Word], question: Question) -> Option<String> {
    let says = |i: usize, phrase: &[&str]| {
        words.len() >= i + phrase.len()
            && phrase.iter().zip(&words[i..]).all(|(p, w)| w.lower == *p)
    };
    let mut found = None;
    for i in 0..words.len() {
        let (start, said_outright) = if says(i, &["my", "name", "is"]) {
            (i + 3, true)
        } else if words[i].lower == "name" && words[i].colon {
            (i + 1, true)
        } else if says(i, &["call", "me"]) {
            (i + 2, true)
        } else if says(i, &["i'm"]) {
            (i + 1, false)
        } else if says(i, &["i", "am"]) {
            (i + 2, false)
        } else {
            continue;
        };
        if let Some(name) = name_at(&words[start.min(words.len())..], said_outright) {
            found = Some(name);
        }
    }
    found.or_else(|| (question == Question::Name).then(|| bare_name(words))?)
}

/// The name at the start of `words`: up to three capitalised words (the first may be lower case
/// where the traveller said it is their name).
fn name_at(words: &[Word], said_outright: bool) -> Option<String> {
    let mut parts = Vec::new();
    for (k, word) in words.iter().take(3).enumerate() {
        let capitalised = word.text.starts_with(char::is_uppercase);
        if !(is_name_word(word) && (capitalised || said_outright && k == 0)) {
            break;
        }
        parts.push(capitalise(&word.text));
        if word.ends_clause {
            break;
        }
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// A whole answer that is a name: "Ana", "ana lima", "It's Ana".
fn bare_name(words: &[Word]) -> Option<String> {
    let skip = words
        .iter()
        .take_while(|w| matches!(w.lower.as_str(), "it's" | "its" | "it" | "is"))
        .count();
    let rest = &words[skip..];
    let is_name = (1..=4).contains(&rest.len()) && rest.iter().all(is_name_word);
    is_name.then(|| {
        rest.iter()
            .map(|w| capitalise(&w.text))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

fn is_name_word(word: &Word) -> bool {
    word.text.chars().count() >= 2
        && word.text.starts_with(char::is_alphabetic)
        && word
            .text
            .chars()
            .all(|c| c.is_alphabetic() || c == '-' || c == '\'')
        && !listed(NOT_NAMES, &word.lower)
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

// --- The days ---------------------------------------------------------------------------------

/// How many days: "5 days", "a week", "two weeks", "ten days", "3 nights" (4 days), "a weekend",
/// "a 5-day trip", or a bare number when the days were asked. The last one said wins.
pub(super) fn days_in(words: &[Word], question: Question) -> Option<u32> {
    let said = (0..words.len()).rev().find_map(|i| days_at(words, i));
    said.or_else(|| {
        let answer = question == Question::Days && words.len() <= 3;
        answer.then(|| words.iter().find_map(|w| count(&w.lower)))?
    })
}

fn days_at(words: &[Word], i: usize) -> Option<u32> {
    let word = words[i].lower.as_str();
    if word == "weekend" {
        let long = i > 0 && words[i - 1].lower == "long";
        return Some(if long { 3 } else { 2 });
    }
    if let Some((n, unit)) = word.rsplit_once('-')
        && let Some(days) = count(n).and_then(|n| length(n, unit))
    {
        return Some(days);
    }
    let unit = words.get(i + 1)?.lower.as_str();
    let n = match word {
        "a" | "an" | "one" if matches!(unit, "week" | "fortnight") => 1,
        _ => count(word)?,
    };
    length(n, unit)
}

/// `n` of `unit` in days (`None` when `unit` is no length of time).
pub(super) fn length(n: u32, unit: &str) -> Option<u32> {
    match unit {
        "day" | "days" => Some(n),
        "night" | "nights" => n.checked_add(1),
        "week" | "weeks" => n.checked_mul(7),
        "fortnight" | "fortnights" => n.checked_mul(14),
        _ => None,
    }
}

// --- The budget -------------------------------------------------------------------------------

/// Currency symbols, the longer first.
const SYMBOLS: &[(&str, &str)] = &[
    ("US$", "USD"),
    ("NZ$", "NZD"),
    ("HK$", "HKD"),
    ("C$", "CAD"),
    ("A$", "AUD"),
    ("S$", "SGD"),
    ("R$", "BRL"),
    ("€", "EUR"),
    ("$", "USD"),
    ("£", "GBP"),
    ("¥", "JPY"),
    ("₹", "INR"),
    ("₩", "KRW"),
    ("฿", "THB"),
];

/// Currency codes that are English words in lower case ("try", "mad"): only read in capitals.
const CODES_THAT_ARE_WORDS: &[&str] = &["all", "bob", "cop", "cup", "gel", "mad", "top", "try"];

/// Words near an amount that say it is the budget.
const BUDGET_WORDS: &[&str] = &["budget", "spend", "spending", "afford"];

/// Words that may follow an amount with no currency.
const AFTER_AN_AMOUNT: &str = "total max maximum overall tops altogether for in and or per";

/// The budget said in `words`: its amount and currency, either of them maybe missing. "2000 EUR",
/// "EUR 2000", "€2,000", "$1500", "£900", "¥", "1500 dollars", "2.5k euros"; "a budget of 2000"
/// (no currency); a bare amount or currency when the budget was asked.
pub(super) fn budget_in(words: &[Word], question: Question) -> (Option<f64>, Option<String>) {
    let asked = matches!(question, Question::Budget | Question::Currency);
    let last_sum = (0..words.len())
        .rev()
        .find_map(|i| money_at(words, i, asked));
    if let Some((amount, currency)) = last_sum {
        return (Some(amount), currency);
    }
    // The first currency named: "canadian dollars" is CAD, not the USD of "dollars".
    let currency = (0..words.len())
        .filter(|&i| asked || i > 0 && words[i - 1].lower == "in")
        .find_map(|i| currency_at(words, i));
    (None, currency)
}

fn money_at(words: &[Word], i: usize, asked: bool) -> Option<(f64, Option<String>)> {
    let (symbol, digits) = split_symbol(&words[i].text);
    let amount = sum(digits)?;
    let next = words.get(i + 1).map(|w| w.lower.as_str());
    if next.is_some_and(|n| length(1, n).is_some())
        || i > 0 && period(&words[i - 1].lower).is_some()
    {
        return None; // "5 days", "June 2026"
    }
    let currency = symbol
        .map(str::to_owned)
        .or_else(|| currency_at(words, i + 1))
        .or_else(|| currency_at(words, i.checked_sub(1)?));
    if currency.is_some() {
        return Some((amount, currency));
    }
    let about_budget = words[i.saturating_sub(4)..i]
        .iter()
        .any(|w| BUDGET_WORDS.contains(&w.lower.as_str()));
    let alone =
        next.is_none_or(|n| !n.starts_with(char::is_alphabetic) || listed(AFTER_AN_AMOUNT, n));
    ((about_budget || asked) && alone).then_some((amount, None))
}

/// A currency symbol at either end of `text`, and the rest.
fn split_symbol(text: &str) -> (Option<&'static str>, &str) {
    for (symbol, code) in SYMBOLS {
        if let Some(rest) = text
            .strip_prefix(symbol)
            .or_else(|| text.strip_suffix(symbol))
        {
            return (Some(code), rest);
        }
    }
    (None, text)
}

/// A sum as written: `2000`, `2,000`, `1500.50`, `2.5k`.
fn sum(text: &str) -> Option<f64> {
    let (digits, factor) = match text.strip_suffix(['k', 'K']) {
        Some(digits) => (digits, 1000.0),
        None => (text, 1.0),
    };
    let well_formed = digits.starts_with(|c: char| c.is_ascii_digit())
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == '.');
    if !well_formed {
        return None;
    }
    let n: f64 = digits.replace(',', "").parse().ok()?;
    (n > 0.0 && n.is_finite()).then_some(n * factor)
}

/// The currency named at `words[i]`: a symbol, a code, a word ("euros"), "canadian dollars".
fn currency_at(words: &[Word], i: usize) -> Option<String> {
    let word = words.get(i)?;
    if let (Some(code), "") = split_symbol(&word.text) {
        return Some(code.to_owned());
    }
    let next = |k: usize| words.get(i + k).map_or("", |w| w.lower.as_str());
    let dollars = |k: usize| matches!(next(k), "dollar" | "dollars");
    let qualified = match word.lower.as_str() {
        "canadian" if dollars(1) => Some("CAD"),
        "australian" if dollars(1) => Some("AUD"),
        "singapore" if dollars(1) => Some("SGD"),
        "us" | "american" if dollars(1) => Some("USD"),
        "new" if next(1) == "zealand" && dollars(2) => Some("NZD"),
        "hong" if next(1) == "kong" && dollars(2) => Some("HKD"),
        _ => None,
    };
    qualified
        .or_else(|| currency_word(&word.lower))
        .map(str::to_owned)
        .or_else(|| currency_code(&word.text))
}

pub(super) fn currency_word(lower: &str) -> Option<&'static str> {
    Some(match lower {
        "euro" | "euros" => "EUR",
        "dollar" | "dollars" | "bucks" => "USD",
        "pound" | "pounds" | "quid" | "sterling" => "GBP",
        "yen" => "JPY",
        "franc" | "francs" => "CHF",
        "rupee" | "rupees" => "INR",
        "baht" => "THB",
        _ => return None,
    })
}

/// An ISO 4217 code: any in capitals ("RUB"), those the planner accepts in lower case ("eur").
pub(super) fn currency_code(text: &str) -> Option<String> {
    if text.len() != 3 || !text.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let code = CurrencyCode::parse(text).ok()?.as_str().to_owned();
    let capitals = text.chars().all(|c| c.is_ascii_uppercase());
    let lower = text.to_ascii_lowercase();
    let accepted = ReferenceRates::currencies().any(|c| c == code);
    (capitals || accepted && !CODES_THAT_ARE_WORDS.contains(&lower.as_str())).then_some(code)
}

// --- When -------------------------------------------------------------------------------------

/// A start date as `YYYY-MM-DD`; the last one said wins.
pub(super) fn start_date_in(words: &[Word]) -> Option<NaiveDate> {
    words
        .iter()
        .rev()
        .filter(|w| w.text.len() == 10)
        .find_map(|w| NaiveDate::parse_from_str(&w.text, "%Y-%m-%d").ok())
}

/// Months, seasons and holidays, as written in a travel date.
const PERIODS: &str = "January February March April May June July August September October \
    November December spring summer autumn fall winter Christmas Easter";

/// Periods that are also common words ("I may go", "we fall"): only after "in", "mid"...
const PERIODS_THAT_ARE_WORDS: &[&str] = &["may", "march", "fall"];

/// Words before a period that belong to the travel dates.
const PERIOD_MODIFIERS: &[&str] = &["mid", "early", "late", "next", "this"];

/// Words before a period that show it is one.
const BEFORE_A_PERIOD: &str = "in of mid early late next this during until by around from since";

/// A month, season or holiday, as written in a travel date.
pub(super) fn period(lower: &str) -> Option<&'static str> {
    PERIODS
        .split_whitespace()
        .find(|p| p.eq_ignore_ascii_case(lower))
}

/// When, in the traveller's words: "in June" (June), "mid-June", "early July", "next spring",
/// "June 2026", "end of August", "late June or early July". The last said wins.
pub(super) fn travel_dates_in(words: &[Word]) -> Option<String> {
    let periods: Vec<Period> = (0..words.len())
        .filter_map(|i| period_at(words, i))
        .collect();
    match periods.as_slice() {
        // Two periods close together ("June or July", "late June to early July") are one span.
        [.., first, last] if first.end < last.start && last.start - first.end <= 2 => {
            let between: Vec<&str> = words[first.end + 1..last.start]
                .iter()
                .map(|w| w.text.as_str())
                .collect();
            Some(format!(
                "{} {} {}",
                first.text,
                between.join(" "),
                last.text
            ))
        }
        [.., last] => Some(last.text.clone()),
        [] => None,
    }
}

/// A month, season or holiday in the traveller's words: where it begins and ends, how it reads.
#[derive(Debug)]
struct Period {
    start: usize,
    end: usize,
    text: String,
}

/// The period at `words[i]` ("June", "mid-June", "next spring", "end of August", "June 2026").
fn period_at(words: &[Word], i: usize) -> Option<Period> {
    let lower = words[i].lower.as_str();
    let (hyphenated, name) = match lower.split_once('-') {
        Some((modifier, rest)) if PERIOD_MODIFIERS.contains(&modifier) => (Some(modifier), rest),
        _ => (None, lower),
    };
    let period = period(name)?;
    let before = i.checked_sub(1).map(|j| words[j].lower.as_str());
    let year = words
        .get(i + 1)
        .map(|w| w.lower.as_str())
        .filter(|y| y.len() == 4 && y.parse::<u32>().is_ok_and(|y| (2000..2100).contains(&y)));
    let shown = hyphenated.is_some()
        || before.is_some_and(|b| listed(BEFORE_A_PERIOD, b))
        || year.is_some();
    if PERIODS_THAT_ARE_WORDS.contains(&name) && !shown {
        return None;
    }
    let part_of = (i >= 2 && before == Some("of"))
        .then(|| words[i - 2].lower.as_str())
        .filter(|part| matches!(*part, "end" | "beginning" | "start" | "middle"));
    let (start, text) = match (hyphenated, before, part_of) {
        (Some(modifier), _, _) => (i, format!("{modifier}-{period}")),
        (None, Some(b), _) if PERIOD_MODIFIERS.contains(&b) => (i - 1, format!("{b} {period}")),
        (None, _, Some(part)) => (i - 2, format!("{part} of {period}")),
        _ => (i, period.to_owned()),
    };
    Some(match year {
        Some(year) => Period {
            start,
            end: i + 1,
            text: format!("{text} {year}"),
        },
        None => Period {
            start,
            end: i,
            text,
        },
    })
}

// --- What they would like ---------------------------------------------------------------------

/// Words that say what a trip is for (whole words, separated by spaces).
const TRIP_WORDS: &str = "sea seaside sun sunny sunshine ski skiing spa spas bar bars pub pubs \
    art arts eat eating city cities warm quiet calm local dance dancing sights wine wines food \
    foodie parks lakes";

/// Beginnings of words that say what a trip is for ("beach" for beaches).
const TRIP_WORD_STEMS: &str = "beach cuisine restaurant museum galler histor hik trek walk cultur \
    relax nightlife party parties shopping market nature mountain coast island architect castle \
    temple adventur surf diving snorkel wildlife safari romant honeymoon music festival \
    photograph garden cycling sailing explor sightsee landmark scenery scenic countryside village \
    cooking coffee tapas gastronom culinar heritage ruins onsen theat opera concert vineyard \
    forest desert volcano waterfall";

/// Words before a place the traveller wants to go to.
const PLACE_CUES: &str = "to in visit visiting see explore exploring";

fn is_trip_word(lower: &str) -> bool {
    listed(TRIP_WORDS, lower)
        || TRIP_WORD_STEMS
            .split_whitespace()
            .any(|s| lower.starts_with(s))
}

/// Whether a sentence says what the trip is for or where it goes.
pub(super) fn is_about_the_trip(words: &[Word]) -> bool {
    words.iter().any(|w| is_trip_word(&w.lower))
        || words
            .windows(2)
            .any(|pair| listed(PLACE_CUES, &pair[0].lower) && is_place(&pair[1]))
}

/// A capitalised word that may be a place ("Lisbon"), not a month or a currency.
fn is_place(word: &Word) -> bool {
    word.text.chars().count() >= 2
        && word.text.starts_with(char::is_uppercase)
        && word.text.chars().all(|c| c.is_alphabetic() || c == '-')
        && period(&word.lower).is_none()
        && currency_code(&word.text).is_none()
        && !listed(NOT_NAMES, &word.lower)
}

/// Whether the traveller said yes: "yes", "yes please", "go ahead", "sure", "ok", "do it",
/// "start", "sounds good", "perfect", "y" (and nothing else).
pub(super) fn is_yes(text: &str) -> bool {
    const YES: &str = "yes yeah yep yup y sure ok okay perfect go start do great absolutely \
        correct right fine good lets let's k";
    const ALSO: &str = "please ahead it sounds thanks thank you that's thats all planning looks \
        the trip now of course is that very";
    let text = text.to_lowercase().replace('\u{2019}', "'");
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    words.iter().any(|w| listed(YES, w)) && words.iter().all(|w| listed(YES, w) || listed(ALSO, w))
}
