//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document of the API, written as one JSON
//! value. A generator crate (`utoipa`) would add a proc-macro stack and annotations on
//! every handler for a dozen routes; the test suite checks every documented route exists.

use axum::Json;
use serde_json::{Value, json};

fn error_ref(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn storage_param() -> Value {
    json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}, "description": "The storage type (`u115`, `alipan`, `alist`, `u115-work`, …)."})
}

fn state_answer() -> Value {
    ok(
        "The storage's state afterwards.",
        json!({"type": "object", "properties": {"state": {"$ref": "#/components/schemas/TokenState"}}}),
    )
}

fn common(mut responses: Value) -> Value {
    responses["401"] = error_ref("Missing, wrong or revoked credentials (nothing else is said).");
    responses["429"] = error_ref("Too many failed attempts; see `Retry-After`.");
    responses
}

/// The document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "cloudctl serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "One keeper of every cloud-drive login of a database: tokens for the programs of this host, login and state for the web console. See docs/serve.md."
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"apiKey": []}, {"consoleSession": []}],
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer dk_…`, a key from `cloudctl serve --new-key NAME`."},
                "consoleSession": {"type": "apiKey", "in": "cookie", "name": "dk_session", "description": "The console's session; POST/DELETE with it also need `X-Drivekeep-Console: 1`."}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["kind", "message"], "properties": {"kind": {"type": "string"}, "message": {"type": "string"}}}}},
                "TokenState": {"type": "object", "required": ["state"], "properties": {
                    "state": {"enum": ["logged-out", "valid", "refreshing", "needs-login", "rate-limited"]},
                    "expires_at": {"type": ["string", "null"], "format": "date-time"},
                    "reason": {"type": "string"},
                    "until": {"type": "string", "format": "date-time"}}},
                "Storage": {"type": "object", "properties": {
                    "name": {"type": "string"}, "type": {"type": "string"}, "display_name": {"type": "string"},
                    "logins": {"type": "array", "items": {"enum": ["qr", "password"]}},
                    "state": {"$ref": "#/components/schemas/TokenState"}}}
            }
        },
        "paths": {
            "/openapi.json": {"get": {"summary": "This document.", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/session": {
                "post": {"summary": "Open a console session with an API key or the one-time token printed at start.", "security": [],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"api_key": {"type": "string"}, "one_time": {"type": "string"}}}}}},
                    "responses": common(json!({"204": {"description": "Session opened: `Set-Cookie: dk_session=…; HttpOnly; SameSite=Strict; Path=/`."}, "400": error_ref("Neither or both fields.")}))},
                "get": {"summary": "Whether the caller is authenticated.", "responses": common(json!({"200": ok("Authenticated.", json!({"type": "object", "properties": {"authenticated": {"const": true}, "via": {"enum": ["api_key", "session"]}}}))}))},
                "delete": {"summary": "End the console session.", "responses": common(json!({"204": {"description": "Signed out; the cookie is cleared."}}))}
            },
            "/storages": {"get": {"summary": "Every storage with its login state and expiry; never a secret.",
                "responses": common(json!({"200": ok("The storages.", json!({"type": "object", "properties": {"storages": {"type": "array", "items": {"$ref": "#/components/schemas/Storage"}}}}))}))}},
            "/storages/{name}/token": {"get": {"summary": "A valid access token: from memory, refreshed once for all callers when due. API keys only.",
                "parameters": [storage_param()],
                "responses": common(json!({
                    "200": ok("The token.", json!({"type": "object", "properties": {"access_token": {"type": "string"}, "expires_at": {"type": ["string", "null"], "format": "date-time"}}})),
                    "403": error_ref("A console session asked: tokens go to programs only."),
                    "404": error_ref("No such storage."),
                    "409": error_ref("Not logged in, or a new login is needed (`kind`: `logged_out`, `needs_login`)."),
                    "502": error_ref("The provider failed.")}))}},
            "/storages/{name}/refresh": {"post": {"summary": "Refresh now.", "parameters": [storage_param()],
                "responses": common(json!({"200": state_answer(), "404": error_ref("No such storage."), "409": error_ref("Not logged in."), "502": error_ref("The provider failed.")}))}},
            "/storages/{name}/logout": {"post": {"summary": "Remove the stored login (the app's client id and server URL stay).", "parameters": [storage_param()],
                "responses": common(json!({"200": state_answer(), "404": error_ref("No such storage.")}))}},
            "/storages/{name}/login/qr": {"post": {"summary": "Start a QR login; progress arrives as `login` events.", "parameters": [storage_param()],
                "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "properties": {"client_id": {"type": "string", "description": "APP ID / client id to save first."}}}}}},
                "responses": common(json!({
                    "200": ok("The QR code.", json!({"type": "object", "properties": {"login_id": {"type": "string"}, "qr_svg": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}}})),
                    "400": error_ref("This storage has no QR login."),
                    "409": error_ref("A QR login of this storage is under way.")}))}},
            "/storages/{name}/login/{login_id}": {"delete": {"summary": "Cancel a QR login.",
                "parameters": [storage_param(), {"name": "login_id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": common(json!({"200": ok("Cancelled.", json!({"type": "object"})), "404": error_ref("No such login under way.")}))}},
            "/storages/{name}/login/password": {"post": {"summary": "Password login (OpenList).", "parameters": [storage_param()],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["username", "password"], "properties": {"username": {"type": "string"}, "password": {"type": "string", "format": "password"}}}}}},
                "responses": common(json!({"200": state_answer(), "400": error_ref("Wrong user name or password (`kind`: `login_failed`), or no password login.")}))}},
            "/events": {"get": {"summary": "Server-sent events: `state` {storage, state} on every change (and one per storage on connect), `login` {storage, login_id, status, message?}; a comment every 15 s.",
                "responses": common(json!({"200": {"description": "text/event-stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}}))}}
        }
    })
}

/// The handler.
pub async fn openapi() -> Json<Value> {
    Json(document())
}
