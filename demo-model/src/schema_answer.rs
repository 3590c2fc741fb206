//! A value that follows a JSON Schema, for the requests the demo model has no answer of its own
//! to: the arguments of a tool it must call, and a `json_schema` response format that is not one
//! of the planner's agents. It covers what OpenAI's strict mode accepts: `object` (its required
//! properties), `array`, `string` (with `format`, lengths), `number` and `integer` (with bounds),
//! `boolean`, `null`, `enum`, `const`, `anyOf`, and `$ref` into `$defs` or `definitions`.

use serde_json::{Map, Value, json};

/// Schemas nest no deeper than this (a recursive `$ref` stops here with `null`).
const MAX_DEPTH: usize = 24;

/// A value `schema` accepts.
pub fn example(schema: &Value) -> Value {
    Example { root: schema }.of(schema, "value", 0)
}

struct Example<'a> {
    root: &'a Value,
}

impl Example<'_> {
    /// A value of `schema`, for a property called `name`.
    fn of(&self, schema: &Value, name: &str, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        if let Some(target) = schema["$ref"].as_str() {
            return match target.strip_prefix('#').and_then(|p| self.root.pointer(p)) {
                Some(resolved) => self.of(resolved, name, depth + 1),
                None => Value::Null,
            };
        }
        if let Some(value) = schema.get("const") {
            return value.clone();
        }
        if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
            return first.clone();
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(variants) = schema[key].as_array() {
                // A value rather than `null` where the schema allows both.
                let chosen = variants
                    .iter()
                    .find(|v| v["type"] != "null")
                    .or(variants.first());
                if let Some(variant) = chosen {
                    return self.of(variant, name, depth + 1);
                }
            }
        }
        let kind = match &schema["type"] {
            Value::String(kind) => kind.as_str(),
            Value::Array(kinds) => kinds
                .iter()
                .filter_map(Value::as_str)
                .find(|k| *k != "null")
                .unwrap_or("null"),
            _ if schema.get("properties").is_some() => "object",
            _ if schema.get("items").is_some() => "array",
            _ => "string",
        };
        match kind {
            "object" => self.object(schema, depth),
            "array" => {
                let min = schema["minItems"].as_u64().unwrap_or(1);
                let count = schema["maxItems"].as_u64().map_or(min, |max| min.min(max));
                let item = self.of(&schema["items"], name, depth + 1);
                Value::Array(vec![item; count as usize])
            }
            "integer" => json!(bounded(schema, 1.0).round() as i64),
            "number" => json!(bounded(schema, 1.0)),
            "boolean" => json!(false),
            "null" => Value::Null,
            _ => json!(text(schema, name)),
        }
    }

    /// Every required property (strict schemas require them all).
    fn object(&self, schema: &Value, depth: usize) -> Value {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut object = Map::new();
        if let Some(properties) = schema["properties"].as_object() {
            for (name, property) in properties {
                if required.contains(&name.as_str()) {
                    object.insert(name.clone(), self.of(property, name, depth + 1));
                }
            }
        }
        Value::Object(object)
    }
}

/// A number within the schema's bounds, `preferred` when it fits.
fn bounded(schema: &Value, preferred: f64) -> f64 {
    let mut value = preferred;
    if let Some(min) = schema["minimum"].as_f64() {
        value = value.max(min);
    }
    if let Some(min) = schema["exclusiveMinimum"].as_f64() {
        value = value.max(min + 1.0);
    }
    if let Some(max) = schema["maximum"].as_f64() {
        value = value.min(max);
    }
    if let Some(max) = schema["exclusiveMaximum"].as_f64() {
        value = value.min(max - 1.0);
    }
    value
}

/// A string for a property called `name`, in the schema's format and lengths.
fn text(schema: &Value, name: &str) -> String {
    let mut text = match schema["format"].as_str() {
        Some("date") => "2027-05-10".to_owned(),
        Some("date-time") => "2027-05-10T09:00:00Z".to_owned(),
        Some("time") => "09:00:00".to_owned(),
        Some("email") => "traveller@example.org".to_owned(),
        Some("uri") => "https://example.org/".to_owned(),
        Some("uuid") => "00000000-0000-4000-8000-000000000000".to_owned(),
        _ => format!("demo {name}"),
    };
    let min = schema["minLength"].as_u64().unwrap_or(0) as usize;
    while text.chars().count() < min {
        text.push('.');
    }
    if let Some(max) = schema["maxLength"].as_u64() {
        text = text.chars().take(max as usize).collect();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_properties_are_filled_within_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 2},
                "nights": {"type": "integer", "minimum": 2, "maximum": 9},
                "when": {"type": "string", "format": "date"},
                "mode": {"enum": ["train", "plane"]},
                "stops": {"type": "array", "items": {"$ref": "#/$defs/stop"}, "minItems": 2},
                "note": {"type": ["string", "null"]},
                "optional": {"type": "string"}
            },
            "required": ["city", "nights", "when", "mode", "stops", "note"],
            "additionalProperties": false,
            "$defs": {"stop": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}
        });
        let value = example(&schema);
        assert_eq!(value["city"], "demo city");
        assert_eq!(value["nights"], 2);
        assert_eq!(value["when"], "2027-05-10");
        assert_eq!(value["mode"], "train");
        assert_eq!(value["stops"].as_array().unwrap().len(), 2);
        assert_eq!(value["stops"][0]["name"], "demo name");
        assert!(value["note"].is_string());
        assert!(value.get("optional").is_none());
    }

    #[test]
    fn a_recursive_schema_ends() {
        let schema = json!({"$ref": "#/$defs/node", "$defs": {"node": {"type": "object",
            "properties": {"next": {"$ref": "#/$defs/node"}}, "required": ["next"]}}});
        let value = example(&schema);
        assert!(value["next"]["next"].is_object());
    }
}
