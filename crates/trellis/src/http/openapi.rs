//! The API's OpenAPI 3.1 document, generated from the handlers' annotations, and interactive docs that work
//! offline (Swagger UI is vendored into the binary).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::registry::Registry;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Trellis API",
        description = "JSON API of Trellis. The blog follows the RealWorld \"Conduit\" spec. Authenticate with \
                       `Authorization: Token <credential>` (a JWT from login, or a personal API token); `Bearer` \
                       works too. Errors are `{\"errors\": {\"<field>\": [\"<message>\"]}}`."
    ),
    modifiers(&TokenAuth),
    components(schemas(ErrorBody)),
    // Each app adds its tags (`AppConfig::api_tags`).
)]
struct ApiDoc;

struct TokenAuth;

impl Modify for TokenAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <jwt or personal token>`",
            ))),
        );
    }
}

/// The body of every error answer: each field (or `body`, `token`, `throttle`, …) with its messages.
#[derive(ToSchema)]
#[schema(example = json!({"errors": {"title": ["can't be blank"]}}))]
#[allow(dead_code)] // Only describes what `AppError` writes.
pub struct ErrorBody {
    errors: std::collections::BTreeMap<String, Vec<String>>,
}

/// Adds the error answers that the shared layers give to every operation they apply to, so each
/// operation's annotation only has to list the errors of its own logic:
///
/// - 401 anywhere: a credential that is sent is always checked, even where none is required;
/// - 429 anywhere: every API call is throttled, per user or per client address;
/// - 400 with parameters or a body: a parameter or body that cannot be read (its name in the answer);
/// - 403 for unsafe methods: a session cookie without its CSRF token, or no permission;
/// - 404 with path parameters (nothing there, or not the caller's) or a `page` (past the end);
/// - 413, 415 and 422 with a body: too large, not of the documented content type, fields that do not fit.
///
/// Error answers an annotation lists without a body get the error body.
struct CommonErrors;

impl CommonErrors {
    fn add(op: &mut Operation, method: &str) {
        let params = op.parameters.as_deref().unwrap_or_default();
        let in_path = params
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Path));
        let paged = params
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.name == "page"));
        let body = op.request_body.is_some();
        let unsafe_method = !matches!(method, "get" | "head" | "options");
        let rules: [(&str, bool, &str); 8] = [
            (
                "400",
                body || !params.is_empty(),
                "a parameter or the body cannot be read (named in the answer)",
            ),
            (
                "401",
                true,
                "credentials missing where required, or invalid (`token`)",
            ),
            (
                "403",
                unsafe_method,
                "not allowed, or a session cookie sent without its CSRF token",
            ),
            (
                "404",
                in_path || paged,
                "not found (or not the caller's), or a page past the end",
            ),
            ("413", body, "the body is too large"),
            (
                "415",
                body,
                "the body is not of the documented content type",
            ),
            ("422", body, "a field is invalid (named in the answer)"),
            (
                "429",
                true,
                "throttled; `Retry-After` says how many seconds to wait",
            ),
        ];
        let responses = &mut op.responses.responses;
        for (status, applies, description) in rules {
            if applies && !responses.contains_key(status) {
                responses.insert(status.into(), RefOr::T(Response::new(description)));
            }
        }
        for (status, response) in responses.iter_mut() {
            if let RefOr::T(response) = response
                && status.starts_with('4')
                && response.content.is_empty()
            {
                response.content.insert(
                    "application/json".into(),
                    RefOr::T(Content::new(Some(Ref::from_schema_name("ErrorBody")))),
                );
            }
        }
    }
}

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for (method, op) in [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("patch", &mut item.patch),
                ("head", &mut item.head),
                ("options", &mut item.options),
            ] {
                if let Some(op) = op {
                    Self::add(op, method);
                }
            }
        }
    }
}

/// Every installed app's API under `/api`, with the document describing it.
pub fn split(registry: &Registry) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let mut apis = OpenApiRouter::new();
    for app in &registry.apps {
        if let Some(api) = app.api {
            apis = apis.merge(api());
        }
    }
    let (router, mut api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api", apis)
        .split_for_parts();
    let tags = api.tags.get_or_insert_with(Vec::new);
    for app in &registry.apps {
        for (name, description) in app.api_tags {
            let mut tag = utoipa::openapi::tag::Tag::new(*name);
            tag.description = Some(description.to_string());
            tags.push(tag);
        }
    }
    // After the routers added their operations: `modifiers(...)` would run on the paths-less document.
    CommonErrors.modify(&mut api);
    (router, api)
}

/// The API, its document at `/api/openapi.json` and the docs UI at `/api/docs/`.
pub fn router(registry: &Registry) -> Router<AppState> {
    let (router, api) = split(registry);
    // Swagger UI sets inline styles; its pages alone get a CSP that allows them.
    // The base layout leaves out the top bar, whose URL box and buttons have no labels and too little
    // contrast; the document is one URL anyway.
    // Without deep links an operation's summary is one button, not a button with a link inside it.
    // (A config naming the document's URL is used as it is; without one, the defaults would come back.)
    let config = utoipa_swagger_ui::Config::from("/api/openapi.json")
        .use_base_layout()
        .deep_linking(false);
    let ui = SwaggerUi::new("/api/docs")
        .url("/api/openapi.json", api)
        .config(config);
    let docs: Router<AppState> = Router::from(ui)
        .layer(axum::middleware::map_response(docs_contrast))
        .layer(
        SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; \
                 object-src 'none'; frame-ancestors 'none'; base-uri 'self'",
            ),
        ),
    );
    router.merge(docs)
}

/// Swagger UI's version badges, info links, method badges, Authorize and schema buttons miss WCAG AA
/// contrast; these rules win over its own.
const DOCS_STYLE: &str = "<style>.swagger-ui .info .title small{background:#4b525e}\
    .swagger-ui .info .title small.version-stamp{background:#3d6b00}\
    .swagger-ui .info a{color:#1f5fb0}\
    .swagger-ui .opblock .opblock-summary-method{color:#000;text-shadow:none}\
    .swagger-ui .btn.authorize{color:#1b6e45;border-color:#1b6e45}\
    .swagger-ui .btn.authorize svg{fill:#1b6e45}\
    .swagger-ui .json-schema-2020-12-expand-deep-button{color:#595959}\
    .swagger-ui .json-schema-2020-12__constraint{background-color:#5b3cb0}\
    .swagger-ui .json-schema-2020-12__constraint--string{background-color:#8a5a00}\
    .swagger-ui .json-schema-2020-12__attribute--muted{color:#595959}\
    .swagger-ui .json-schema-2020-12__attribute--warning{color:#c00000}</style>";

/// Adds [`DOCS_STYLE`] to the docs page (the vendored `index.html`); other files pass untouched.
async fn docs_contrast(res: axum::response::Response) -> axum::response::Response {
    let html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !html {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    // The page is a few kilobytes of our own binary; the limit only guards against surprises.
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let page =
        String::from_utf8_lossy(&bytes).replacen("</head>", &format!("{DOCS_STYLE}</head>"), 1);
    parts.headers.remove(header::CONTENT_LENGTH);
    axum::response::Response::from_parts(parts, axum::body::Body::from(page))
}

/// The document as JSON (for `trellis openapi`).
pub fn document(registry: &Registry) -> utoipa::openapi::OpenApi {
    split(registry).1
}
