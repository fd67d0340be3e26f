//! The API's OpenAPI 3.1 document, generated from the handlers' annotations, and interactive docs that work
//! offline (Swagger UI is vendored into the binary).

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::state::AppState;
use crate::{accounts, blog, todo};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Trellis API",
        description = "JSON API of Trellis. The blog follows the RealWorld \"Conduit\" spec. Authenticate with \
                       `Authorization: Token <credential>` (a JWT from login, or a personal API token); `Bearer` \
                       works too. Errors are `{\"errors\": {\"<field>\": [\"<message>\"]}}`."
    ),
    modifiers(&TokenAuth),
    tags(
        (name = "users", description = "Registration, login and the current user"),
        (name = "profiles", description = "Public profiles and follows"),
        (name = "articles", description = "Published blog posts"),
        (name = "comments", description = "Comments on articles"),
        (name = "tags", description = "Tags in use"),
        (name = "tokens", description = "Personal API tokens"),
        (name = "roadmaps", description = "Roadmap tracker: imported roadmaps and progress"),
        (name = "sentiment", description = "Sentiment analysis"),
        (name = "todos", description = "The caller's own tasks: filters, ordering, pagination"),
    )
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

/// Every app's API under `/api`, plus the document and the docs UI.
pub fn split() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(
            "/api",
            accounts::api::router()
                .merge(blog::api::router())
                .merge(crate::tracker::api_router())
                .merge(crate::sentiment::api_router())
                .merge(todo::api::router()),
        )
        .split_for_parts();
    (router, api)
}

pub fn router() -> Router<AppState> {
    let (router, api) = split();
    // Swagger UI sets inline styles; its pages alone get a CSP that allows them.
    let docs: Router<AppState> = Router::from(SwaggerUi::new("/api/docs").url("/api/openapi.json", api)).layer(
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

/// The document as JSON (for `trellis openapi`).
pub fn document() -> utoipa::openapi::OpenApi {
    split().1
}
