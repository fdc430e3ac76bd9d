//! The OpenAPI 3.0 document served at `/api/openapi.json`, written by hand beside the
//! handlers it describes (a test checks that every route is in it, and schemathesis fuzzes the
//! server from it).

use serde_json::{json, Value};

fn window() -> Vec<Value> {
    vec![
        json!({"name": "from", "in": "query", "required": false, "description": "Start of the window, RFC 3339.", "schema": {"type": "string", "format": "date-time"}}),
        json!({"name": "to", "in": "query", "required": false, "description": "End of the window, RFC 3339 (not before `from`).", "schema": {"type": "string", "format": "date-time"}}),
    ]
}

fn limit(default: u64, max: u64) -> Value {
    json!({"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": max, "default": default}})
}

fn errors(mut responses: Value, extra: &[&str]) -> Value {
    let error = json!({"description": "See `error` (and `field` for a bad parameter).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    if let Some(map) = responses.as_object_mut() {
        for status in ["400", "401", "403", "503"].iter().chain(extra) {
            map.insert((*status).to_string(), error.clone());
        }
    }
    responses
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"200": {"description": description, "content": {"application/json": {"schema": schema}}}})
}

fn get(summary: &str, role: &str, parameters: Vec<Value>, responses: Value) -> Value {
    json!({"get": {
        "summary": summary,
        "description": format!("Needs the {role} role (or higher)."),
        "security": [{"bearer": []}],
        "parameters": parameters,
        "responses": responses,
    }})
}

/// The document.
pub fn document() -> Value {
    let object = json!({"type": "object"});
    let array_of = |name: &str| json!({"type": "object", "properties": {name: {"type": "array", "items": {"type": "object"}}}});
    let mut count_parameters = window();
    count_parameters.extend([
        json!({"name": "camera", "in": "query", "required": false, "schema": {"type": "string"}}),
        json!({"name": "kind", "in": "query", "required": false, "schema": {"type": "string", "enum": ["line", "movement"]}}),
        json!({"name": "counter", "in": "query", "required": false, "description": "A line or movement id.", "schema": {"type": "string"}}),
        json!({"name": "class", "in": "query", "required": false, "schema": {"type": "string", "enum": ["car", "motorcycle", "bus", "truck", "bicycle"]}}),
        limit(1000, 100_000),
    ]);
    let mut event_parameters = window();
    event_parameters.extend([
        json!({"name": "type", "in": "query", "required": false, "description": "Comma-separated event types: camera_health, crossing, movement, flow_count, plate, timing_plan (plate needs officer).", "schema": {"type": "string"}}),
        json!({"name": "camera", "in": "query", "required": false, "schema": {"type": "string"}}),
        json!({"name": "order", "in": "query", "required": false, "schema": {"type": "string", "enum": ["oldest", "newest"], "default": "oldest"}}),
        limit(500, 10_000),
    ]);
    let mut od_parameters = window();
    od_parameters.push(json!({"name": "interval_s", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 60, "maximum": 86400, "default": 900}}));
    let mut search_parameters = vec![
        json!({"name": "q", "in": "query", "required": true, "description": "A plate, 3 to 12 letters and digits (spaces and punctuation are dropped first).", "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{3,12}$"}}),
    ];
    search_parameters.extend(window());
    search_parameters.push(limit(20, 200));
    let mut trace_parameters = vec![
        json!({"name": "plate", "in": "path", "required": true, "description": "The plate, 4 to 12 letters and digits (as printed works too: spaces and punctuation are dropped first).", "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{4,12}$"}}),
    ];
    trace_parameters.extend(window());
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "roadsight",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The control centre's API: cameras, counts, origin-destination, events, the live feed (WS /api/live), and for officers plate traces and evidence. Every plate and evidence question is audited."
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}, "field": {"type": "string"}}}
            }
        },
        "paths": {
            "/healthz": {"get": {"summary": "The service and its store answer.", "security": [], "responses": {
                "200": {"description": "Healthy.", "content": {"application/json": {"schema": object}}},
                "503": {"description": "The store does not answer.", "content": {"application/json": {"schema": object}}}
            }}},
            "/metrics": {"get": {"summary": "Prometheus metrics.", "security": [], "responses": {"200": {"description": "Text format 0.0.4.", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/api/openapi.json": {"get": {"summary": "This document.", "security": [], "responses": {"200": {"description": "OpenAPI 3.", "content": {"application/json": {"schema": object}}}}}},
            "/api/cameras": get("Cameras and their last health.", "operator", vec![], errors(ok("Cameras.", array_of("cameras")), &[])),
            "/api/counts": get("Interval counts.", "operator", count_parameters, errors(ok("Counts, oldest interval first.", array_of("counts")), &[])),
            "/api/od": get("Origin-destination trips and travel times between cameras.", "operator", od_parameters, errors(ok("Trips per interval, origin and destination.", object.clone()), &[])),
            "/api/events": get("Events by type, camera and time.", "operator", event_parameters, errors(ok("Events in the wire form.", array_of("events")), &[])),
            "/api/live": get("The live feed (a WebSocket: connect with Upgrade; the token may be ?token=).", "operator", vec![
                json!({"name": "type", "in": "query", "required": false, "schema": {"type": "string"}}),
                json!({"name": "camera", "in": "query", "required": false, "schema": {"type": "string"}}),
                json!({"name": "token", "in": "query", "required": false, "schema": {"type": "string"}})
            ], errors(json!({"101": {"description": "Switching to the WebSocket: one event per text message, and {\"type\":\"lagged\",\"missed\":N} when the client fell behind."}}), &["426"])),
            "/api/plates/search": get("Plates within one edit of q (audited).", "officer", search_parameters, errors(ok("Matches, nearest first.", array_of("matches")), &[])),
            "/api/plates/{plate}/trace": get("The plate's routes in the window, with sightings and evidence links (audited). A pass its vehicle made with no plate read, joined by its look, has an empty `plate` and its `appearance_distance`.", "officer", trace_parameters, errors(ok("The trace.", object.clone()), &[])),
            "/api/evidence/{address}": get("An evidence image (audited).", "officer", vec![
                json!({"name": "address", "in": "path", "required": true, "description": "sha256: and 64 hex digits.", "schema": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}})
            ], errors(json!({"200": {"description": "The image.", "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}}), &["404"])),
            "/api/audit": get("The audit log, newest first.", "admin", vec![
                json!({"name": "from", "in": "query", "required": false, "schema": {"type": "string", "format": "date-time"}}),
                limit(100, 10_000)
            ], errors(ok("Audit entries.", array_of("entries")), &[]))
        }
    })
}
