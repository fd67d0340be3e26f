use std::process::ExitCode;

use serde_json::{Map, Value, json};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The OpenAPI 3.1 document, as `/api/openapi.json` serves it.
    Json,
    /// A Postman Collection (v2.1) made from that document.
    Postman,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to print.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Initial value of the Postman collection's `baseUrl` variable.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    base_url: String,
}

/// Prints the OpenAPI 3.1 document that `/api/openapi.json` serves, or a Postman collection made from it.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let registry = crate::registry::Registry::new(crate::app::installed_apps());
    let doc = crate::http::openapi::document(&registry);
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&doc)?,
        Format::Postman => {
            serde_json::to_string_pretty(&postman(&serde_json::to_value(&doc)?, &args.base_url))?
        }
    };
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

const POSTMAN_SCHEMA: &str = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json";
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// A Postman Collection v2.1 from an OpenAPI document: a folder per tag, a request per operation, the
/// collection's `Authorization: Token {{token}}` on every operation that declares security.
pub fn postman(doc: &Value, base_url: &str) -> Value {
    // Folders in the document's tag order; operations with a tag it does not list get a folder after.
    let mut folders: Vec<(String, Value, Vec<Value>)> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t["name"].as_str()?.to_string(),
                t["description"].clone(),
                Vec::new(),
            ))
        })
        .collect();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let tag = op["tags"][0].as_str().unwrap_or("other");
            let request = request(doc, path, method, op);
            match folders.iter_mut().find(|(name, _, _)| name == tag) {
                Some((_, _, items)) => items.push(request),
                None => folders.push((tag.to_string(), Value::Null, vec![request])),
            }
        }
    }
    let items: Vec<Value> = folders
        .into_iter()
        .filter(|(_, _, items)| !items.is_empty())
        .map(|(name, description, items)| {
            let mut folder = json!({ "name": name, "item": items });
            if description.is_string() {
                folder["description"] = description;
            }
            folder
        })
        .collect();
    json!({
        "info": {
            "name": doc["info"]["title"].as_str().unwrap_or("API"),
            "description": doc["info"]["description"],
            "version": doc["info"]["version"],
            "schema": POSTMAN_SCHEMA,
        },
        "auth": {
            "type": "apikey",
            "apikey": [
                { "key": "key", "value": "Authorization", "type": "string" },
                { "key": "value", "value": "Token {{token}}", "type": "string" },
                { "key": "in", "value": "header", "type": "string" },
            ],
        },
        "variable": [
            { "key": "baseUrl", "value": base_url, "type": "string" },
            {
                "key": "token",
                "value": "",
                "type": "string",
                "description": "A JWT from POST /api/users/login, or a personal token from POST /api/tokens",
            },
        ],
        "item": items,
    })
}

/// One operation as a Postman request.
fn request(doc: &Value, path: &str, method: &str, op: &Value) -> Value {
    let params: Vec<&Value> = op["parameters"].as_array().into_iter().flatten().collect();
    let described = |name: &str, place: &str| {
        params
            .iter()
            .find(|p| p["name"] == name && p["in"] == place)
            .map(|p| p["description"].clone())
            .unwrap_or(Value::Null)
    };
    let mut segments = Vec::new();
    let mut variables = Vec::new();
    for segment in path.trim_start_matches('/').split('/') {
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                segments.push(format!(":{name}"));
                let mut v = json!({ "key": name, "value": "" });
                let d = described(name, "path");
                if d.is_string() {
                    v["description"] = d;
                }
                variables.push(v);
            }
            None => segments.push(segment.to_string()),
        }
    }
    // Filters and paging are there to switch on, not sent by default.
    let query: Vec<Value> = params
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| {
            let mut q = json!({ "key": p["name"], "value": "", "disabled": true });
            if p["description"].is_string() {
                q["description"] = p["description"].clone();
            }
            q
        })
        .collect();
    let mut url = json!({
        "raw": format!("{{{{baseUrl}}}}/{}", segments.join("/")),
        "host": ["{{baseUrl}}"],
        "path": segments,
    });
    if !variables.is_empty() {
        url["variable"] = Value::Array(variables);
    }
    if !query.is_empty() {
        url["query"] = Value::Array(query);
    }
    let mut req = json!({
        "method": method.to_uppercase(),
        "header": [],
        "url": url,
    });
    if op["description"].is_string() {
        req["description"] = op["description"].clone();
    }
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    if !schema.is_null() {
        let example = example(doc, schema, 0);
        req["header"] = json!([{ "key": "Content-Type", "value": "application/json" }]);
        req["body"] = json!({
            "mode": "raw",
            "raw": serde_json::to_string_pretty(&example).unwrap_or_default(),
            "options": { "raw": { "language": "json" } },
        });
    }
    // Operations that declare no security (register, login, public reads) must not send a token: an
    // empty or stale one would be refused.
    let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
    if !secured {
        req["auth"] = json!({ "type": "noauth" });
    }
    let name = op["summary"]
        .as_str()
        .map(|s| s.trim_end_matches('.').to_string())
        .unwrap_or_else(|| format!("{} {path}", method.to_uppercase()));
    json!({ "name": name, "request": req })
}

/// A placeholder value shaped like `schema`: `$ref`s resolved, the first non-null alternative taken,
/// strings, numbers and booleans filled with something a server would accept where the type says how.
fn example(doc: &Value, schema: &Value, depth: usize) -> Value {
    // Self-referencing schemas would never end.
    if depth > 10 {
        return Value::Null;
    }
    if let Some(r) = schema["$ref"].as_str() {
        let target = r
            .strip_prefix("#/")
            .map(|p| p.split('/').fold(doc, |node, key| &node[key]))
            .unwrap_or(&Value::Null);
        return example(doc, target, depth + 1);
    }
    if let Some(e) = schema.get("example") {
        return e.clone();
    }
    if let Some(e) = schema["examples"].get(0) {
        return e.clone();
    }
    if let Some(e) = schema["enum"].get(0) {
        return e.clone();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alternatives) = schema[key].as_array() {
            let chosen = alternatives
                .iter()
                .find(|a| a["type"] != "null")
                .unwrap_or(&Value::Null);
            return example(doc, chosen, depth + 1);
        }
    }
    if let Some(parts) = schema["allOf"].as_array() {
        let mut merged = Map::new();
        for part in parts {
            if let Value::Object(fields) = example(doc, part, depth + 1) {
                merged.extend(fields);
            }
        }
        return Value::Object(merged);
    }
    let ty = match &schema["type"] {
        Value::String(t) => t.as_str(),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema["properties"].is_object() => "object",
        _ => "null",
    };
    match ty {
        "object" => Value::Object(
            schema["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), example(doc, v, depth + 1)))
                .collect(),
        ),
        "array" => json!([example(doc, &schema["items"], depth + 1)]),
        "string" => match schema["format"].as_str() {
            Some("date") => json!("2030-01-31"),
            Some("date-time") => json!("2030-01-31T09:00:00.000Z"),
            _ => json!("string"),
        },
        "integer" | "number" => json!(0),
        "boolean" => json!(false),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({
            "info": {"title": "T", "version": "1"},
            "tags": [{"name": "things", "description": "Things"}, {"name": "unused"}],
            "paths": {
                "/api/things/{id}": {
                    "patch": {
                        "tags": ["things"], "summary": "Change a thing.",
                        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                        "security": [{"token": []}]
                    }
                },
                "/api/ping": {"get": {"parameters": [{"name": "loud", "in": "query", "schema": {"type": "boolean"}}]}}
            },
            "components": {"schemas": {
                "Thing": {"type": "object", "properties": {
                    "name": {"type": ["string", "null"]},
                    "when": {"type": "string", "format": "date"},
                    "size": {"type": "integer"},
                    "done": {"type": "boolean"},
                    "kind": {"oneOf": [{"$ref": "#/components/schemas/Kind"}, {"type": "null"}]},
                    "parts": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}
                }},
                "Kind": {"type": "string", "enum": ["small", "large"]}
            }}
        })
    }

    #[test]
    fn operations_become_requests_in_folders_per_tag() {
        let c = postman(&doc(), "http://localhost:1");
        assert_eq!(c["info"]["schema"], POSTMAN_SCHEMA);
        assert_eq!(
            c["variable"][0],
            json!({"key": "baseUrl", "value": "http://localhost:1", "type": "string"})
        );
        let folders: Vec<&str> = c["item"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            folders,
            ["things", "other"],
            "empty tags are left out; untagged operations come last"
        );
        let patch = &c["item"][0]["item"][0];
        assert_eq!(patch["name"], "Change a thing");
        let req = &patch["request"];
        assert_eq!(req["method"], "PATCH");
        assert_eq!(req["url"]["raw"], "{{baseUrl}}/api/things/:id");
        assert_eq!(req["url"]["path"], json!(["api", "things", ":id"]));
        assert_eq!(req["url"]["variable"][0]["key"], "id");
        assert!(req.get("auth").is_none(), "inherits the collection's token");
        let ping = &c["item"][1]["item"][0];
        assert_eq!(ping["name"], "GET /api/ping");
        assert_eq!(ping["request"]["auth"]["type"], "noauth");
        assert_eq!(
            ping["request"]["url"]["query"][0],
            json!({"key": "loud", "value": "", "disabled": true})
        );
    }

    #[test]
    fn bodies_are_examples_built_from_the_schema() {
        let c = postman(&doc(), "x");
        let raw = c["item"][0]["item"][0]["request"]["body"]["raw"]
            .as_str()
            .unwrap();
        let body: Value = serde_json::from_str(raw).unwrap();
        assert_eq!(body["name"], "string");
        assert_eq!(body["when"], "2030-01-31");
        assert_eq!(
            (&body["size"], &body["done"], &body["kind"]),
            (&json!(0), &json!(false), &json!("small"))
        );
        // The recursive `parts` ends instead of looping.
        assert!(body["parts"][0]["parts"].is_array());
    }
}
