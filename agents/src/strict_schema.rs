//! JSON Schemas that OpenAI's *strict* structured output accepts, made from our Rust types.
//!
//! schemars writes standard JSON Schema; strict mode accepts a subset. [`make_strict`] is the one
//! transform between them:
//!
//! * every `$ref` is inlined (its sibling keywords, such as `description`, win) and `$defs` dropped;
//! * every object gets `additionalProperties: false` and lists *all* its properties as `required`;
//!   a property that was optional becomes nullable instead;
//! * `oneOf` becomes `anyOf`, `const` becomes a one-value `enum`;
//! * keywords strict mode rejects (`default`, `title`, `minLength`, `uniqueItems`, ...) are
//!   dropped, and `format` unless it is a date or a time (which strict mode and grammar-building
//!   servers honour). Numeric ranges, `pattern` and array lengths are kept: strict mode honours
//!   them (llama.cpp ignores the ranges of non-integer numbers: those are enums where it matters).
//!
//! [`strict_mode_problems`] checks a schema against those rules; the golden tests use it.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

/// Keywords strict mode does not accept; they are removed.
const DROPPED_KEYWORDS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "minLength",
    "maxLength",
    "uniqueItems",
    "contentEncoding",
    "contentMediaType",
    "minProperties",
    "maxProperties",
];

/// The `format`s kept: strict mode accepts them, and servers that build a grammar enforce them.
const KEPT_FORMATS: &[&str] = &["date", "date-time", "time"];

/// The strict schema of `T`: made once per type, then copied (every agent call and every round
/// of tools asks for one).
pub fn strict_schema_for<T: JsonSchema + 'static>() -> Value {
    static MADE: std::sync::LazyLock<
        std::sync::RwLock<std::collections::HashMap<std::any::TypeId, Value>>,
    > = std::sync::LazyLock::new(Default::default);
    let key = std::any::TypeId::of::<T>();
    if let Some(schema) = MADE.read().unwrap().get(&key) {
        return schema.clone();
    }
    let mut settings = SchemaSettings::draft2020_12();
    settings.meta_schema = None;
    let schema = make_strict(
        settings
            .into_generator()
            .into_root_schema_for::<T>()
            .to_value(),
    );
    MADE.write().unwrap().insert(key, schema.clone());
    schema
}

/// Rewrites a schemars schema into one strict structured output accepts.
pub fn make_strict(mut root: Value) -> Value {
    let defs = match root.as_object_mut().and_then(|o| o.remove("$defs")) {
        Some(Value::Object(defs)) => defs,
        _ => Map::new(),
    };
    rewrite(&mut root, &defs);
    root
}

fn rewrite(node: &mut Value, defs: &Map<String, Value>) {
    match node {
        Value::Array(items) => items.iter_mut().for_each(|item| rewrite(item, defs)),
        Value::Object(obj) => {
            if let Some(Value::String(reference)) = obj.remove("$ref") {
                let name = reference.rsplit('/').next().unwrap_or_default();
                let mut target = defs.get(name).cloned().unwrap_or_else(|| json!({}));
                if let Value::Object(target_obj) = &mut target {
                    for (key, value) in std::mem::take(obj) {
                        target_obj.insert(key, value);
                    }
                }
                *node = target;
                return rewrite(node, defs);
            }
            for keyword in DROPPED_KEYWORDS {
                obj.remove(*keyword);
            }
            if obj
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| !KEPT_FORMATS.contains(&f))
            {
                obj.remove("format");
            }
            if let Some(one_of) = obj.remove("oneOf") {
                obj.insert("anyOf".into(), one_of);
            }
            if let Some(constant) = obj.remove("const") {
                obj.insert("enum".into(), Value::Array(vec![constant]));
            }
            for key in ["items", "anyOf", "prefixItems", "additionalProperties"] {
                if let Some(child) = obj.get_mut(key) {
                    rewrite(child, defs);
                }
            }
            if let Some(Value::Object(properties)) = obj.get_mut("properties") {
                properties.values_mut().for_each(|p| rewrite(p, defs));
            }
            if obj.contains_key("properties") || obj.get("type") == Some(&json!("object")) {
                close_object(obj);
            }
        }
        _ => {}
    }
}

/// `additionalProperties: false`, every property required, the optional ones nullable.
fn close_object(obj: &mut Map<String, Value>) {
    let was_required: Vec<String> = match obj.get("required") {
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let mut all = Vec::new();
    if let Some(Value::Object(properties)) = obj.get_mut("properties") {
        for (name, schema) in properties.iter_mut() {
            if !was_required.contains(name) {
                make_nullable(schema);
            }
            all.push(Value::String(name.clone()));
        }
    }
    obj.insert("type".into(), json!("object"));
    obj.insert(
        "properties".into(),
        obj.get("properties").cloned().unwrap_or_else(|| json!({})),
    );
    obj.insert("required".into(), Value::Array(all));
    obj.insert("additionalProperties".into(), Value::Bool(false));
}

fn allows_null(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) if t == "null" => return true,
        Some(Value::Array(types)) if types.contains(&json!("null")) => return true,
        _ => {}
    }
    schema
        .get("anyOf")
        .and_then(Value::as_array)
        .is_some_and(|alternatives| alternatives.iter().any(allows_null))
}

fn make_nullable(schema: &mut Value) {
    if allows_null(schema) {
        return;
    }
    let Value::Object(obj) = schema else { return };
    if let Some(Value::Array(values)) = obj.get_mut("enum") {
        values.push(Value::Null);
    }
    match obj.get_mut("type") {
        Some(Value::String(t)) if t != "object" => {
            let single = std::mem::take(t);
            obj.insert("type".into(), json!([single, "null"]));
        }
        Some(Value::Array(types)) => types.push(json!("null")),
        _ => {
            let description = obj.remove("description");
            let inner = Value::Object(std::mem::take(obj));
            obj.insert("anyOf".into(), json!([inner, {"type": "null"}]));
            if let Some(d) = description {
                obj.insert("description".into(), d);
            }
        }
    }
}

/// Everything in `schema` strict mode would reject; empty when it is accepted.
pub fn strict_mode_problems(schema: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if schema.get("type") != Some(&json!("object")) {
        problems.push("the root must be an object schema".to_owned());
    }
    check(schema, "#", 0, &mut problems);
    problems
}

fn check(node: &Value, path: &str, depth: usize, problems: &mut Vec<String>) {
    let Value::Object(obj) = node else { return };
    if depth > 10 {
        problems.push(format!(
            "{path}: nested deeper than strict mode's 10 levels"
        ));
    }
    for keyword in DROPPED_KEYWORDS
        .iter()
        .chain(&["oneOf", "allOf", "not", "const", "$defs"])
    {
        if obj.contains_key(*keyword) {
            problems.push(format!("{path}: keyword `{keyword}` is not accepted"));
        }
    }
    if let Some(format) = obj.get("format").and_then(Value::as_str)
        && !KEPT_FORMATS.contains(&format)
    {
        problems.push(format!("{path}: format `{format}` is not accepted"));
    }
    if obj.contains_key("$ref") && obj.len() > 1 {
        problems.push(format!("{path}: `$ref` has sibling keywords"));
    }
    if let Some(Value::Object(properties)) = obj.get("properties") {
        if obj.get("additionalProperties") != Some(&Value::Bool(false)) {
            problems.push(format!("{path}: additionalProperties must be false"));
        }
        let required: Vec<&str> = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for name in properties.keys() {
            if !required.contains(&name.as_str()) {
                problems.push(format!("{path}: property `{name}` is not required"));
            }
        }
        for (name, property) in properties {
            check(
                property,
                &format!("{path}/properties/{name}"),
                depth + 1,
                problems,
            );
        }
    } else if obj.get("type") == Some(&json!("object")) {
        problems.push(format!(
            "{path}: an object schema needs its properties listed"
        ));
    }
    if let Some(items) = obj.get("items") {
        check(items, &format!("{path}/items"), depth + 1, problems);
    }
    if let Some(Value::Array(alternatives)) = obj.get("anyOf") {
        for (i, alternative) in alternatives.iter().enumerate() {
            check(
                alternative,
                &format!("{path}/anyOf/{i}"),
                depth + 1,
                problems,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transform_closes_objects_inlines_refs_and_drops_formats() {
        let schemars_output = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Trip",
            "type": "object",
            "properties": {
                "days": {"type": "integer", "format": "uint32", "minimum": 0},
                "note": {"type": "string"},
                "place": {"$ref": "#/$defs/Place", "description": "Where"},
                "maybePlace": {"anyOf": [{"$ref": "#/$defs/Place"}, {"type": "null"}]},
                "kind": {"oneOf": [{"type": "string", "const": "a"}, {"type": "string", "const": "b"}]}
            },
            "required": ["days", "place", "kind"],
            "$defs": {"Place": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}
        });
        let strict = make_strict(schemars_output);
        assert_eq!(strict_mode_problems(&strict), Vec::<String>::new());
        assert_eq!(
            strict["properties"]["note"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(strict["properties"]["place"]["description"], "Where");
        assert_eq!(strict["properties"]["place"]["additionalProperties"], false);
        assert_eq!(
            strict["properties"]["kind"]["anyOf"][0]["enum"],
            json!(["a"])
        );
        assert!(strict["properties"]["days"].get("format").is_none());
        assert_eq!(strict["properties"]["days"]["minimum"], 0);
        assert_eq!(
            strict["required"],
            json!(["days", "note", "place", "maybePlace", "kind"])
        );
    }

    #[test]
    fn the_checker_names_what_strict_mode_rejects() {
        let loose = json!({
            "type": "object",
            "properties": {"a": {"$ref": "#/$defs/A", "description": "x"}, "b": {"type": "string", "format": "email"}, "c": {"type": "string", "format": "date"}},
            "required": ["a"]
        });
        let problems = strict_mode_problems(&loose).join("\n");
        assert!(
            problems.contains("additionalProperties must be false"),
            "{problems}"
        );
        assert!(
            problems.contains("property `b` is not required"),
            "{problems}"
        );
        assert!(
            problems.contains("`$ref` has sibling keywords"),
            "{problems}"
        );
        assert!(problems.contains("format `email`"), "{problems}");
        assert!(
            !problems.contains("format `date`"),
            "dates are kept: {problems}"
        );
    }
}
