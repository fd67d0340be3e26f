//! Reviews over the API: a product's reviews (paginated, public) and their summary; a customer's own
//! review (create, change, delete); helpful votes.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Draft, Ordering, Review, Summary};
use crate::error::{AppError, FieldErrors, Result};
use crate::http::api::{self, ApiJson, Page, PageNumber};
use crate::http::auth::{MaybeUser, RequireUser};
use crate::shop::models::{is_manager, sees_all};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_reviews, create_review))
        .routes(routes!(review_summary))
        .routes(routes!(update_review, delete_review))
        .routes(routes!(mark_helpful))
}

const PAGE_SIZE: u64 = 20;
const MAX_PAGE_SIZE: u64 = 100;

/// A review's fields. Read as raw JSON so a wrong type is reported on its own field.
#[derive(Deserialize, ToSchema)]
pub struct ReviewWrite {
    /// 1 to 5; required on create.
    #[schema(value_type = i64, required = false, minimum = 1, maximum = 5)]
    rating: Option<Value>,
    /// At most 200 characters.
    #[schema(value_type = Option<String>, max_length = 200)]
    title: Option<Value>,
    /// At most 5,000 characters.
    #[schema(value_type = Option<String>, max_length = 5000)]
    body: Option<Value>,
}

impl ReviewWrite {
    fn draft(&self) -> Result<Draft> {
        let mut errors = FieldErrors::new();
        let mut d = Draft::default();
        match &self.rating {
            None | Some(Value::Null) => {}
            Some(v) => match v.as_i64() {
                Some(r) => d.rating = Some(r),
                None => errors.add("rating", "must be a whole number from 1 to 5"),
            },
        }
        for (name, value, slot) in [
            ("title", &self.title, &mut d.title),
            ("body", &self.body, &mut d.body),
        ] {
            match value {
                None => {}
                Some(Value::Null) => *slot = Some(String::new()),
                Some(Value::String(s)) => *slot = Some(s.clone()),
                Some(_) => errors.add(name, "must be text"),
            }
        }
        errors.into_result()?;
        Ok(d)
    }
}

/// A product's reviews.
///
/// Public. `ordering`: `-helpful` (the default), `-created`, `-rating` or `rating`.
#[utoipa::path(get, path = "/shop/products/{slug}/reviews", tag = "shop-reviews",
    params(("slug" = String, Path),
        ("ordering" = Option<String>, Query, pattern = r"^ *(-helpful|-created|-rating|rating)? *$",
            description = "`-helpful` (default), `-created`, `-rating` or `rating`"),
        api::PageParams),
    responses((status = 200, body = Page<Review>), (status = 400, description = "a query parameter is invalid (named)"),
              (status = 404, description = "no such product, or page past the end")))]
async fn list_reviews(
    State(state): State<AppState>,
    MaybeUser(me): MaybeUser,
    Path(slug): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let see_all = match &me {
        Some(u) => sees_all(&state.db, u).await?,
        None => false,
    };
    let product = super::product(&state.db, &slug, see_all).await?;
    let ordering = match q
        .get("ordering")
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
    {
        None => Ordering::Helpful,
        Some(o) => Ordering::parse(o).ok_or_else(|| {
            AppError::bad_request(
                "ordering",
                format!("`{o}` is not one of -helpful, -created, -rating, rating"),
            )
        })?,
    };
    let paging = PageNumber::from_query(&q, PAGE_SIZE, MAX_PAGE_SIZE)?;
    let (rows, count) = super::list(&state.db, product.id, ordering, paging.window()).await?;
    let path = format!("/api/shop/products/{}/reviews", product.slug);
    Ok(Json(paging.wrap(rows, count, &path, &q)?).into_response())
}

/// A product's rating and the sentiment of its reviews.
///
/// The average rating, how many reviews read as positive and negative (scored by the sentiment engine's
/// default model when each was saved), and the most helpful review of each kind.
#[utoipa::path(get, path = "/shop/products/{slug}/reviews/summary", tag = "shop-reviews",
    params(("slug" = String, Path)),
    responses((status = 200, body = Summary), (status = 404, description = "no such product")))]
async fn review_summary(
    State(state): State<AppState>,
    MaybeUser(me): MaybeUser,
    Path(slug): Path<String>,
) -> Result<Response> {
    let see_all = match &me {
        Some(u) => sees_all(&state.db, u).await?,
        None => false,
    };
    let product = super::product(&state.db, &slug, see_all).await?;
    Ok(Json(super::summary(&state.db, product.id).await?).into_response())
}

/// Review a product you received.
///
/// Only a customer with a delivered order holding the product may, once per product (a second review is
/// a 409 naming `product`: change the first instead). Scored for sentiment as it is saved.
#[utoipa::path(post, path = "/shop/products/{slug}/reviews", tag = "shop-reviews", security(("token" = [])),
    params(("slug" = String, Path)), request_body = ReviewWrite,
    responses((status = 201, body = Review), (status = 401, description = "no or bad credentials"),
              (status = 403, description = "you have not received this product"),
              (status = 404, description = "no such product"),
              (status = 409, description = "you already reviewed it"), (status = 422, description = "invalid field")))]
async fn create_review(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(slug): Path<String>,
    ApiJson(body): ApiJson<ReviewWrite>,
) -> Result<Response> {
    let product = super::product(&state.db, &slug, false).await?;
    let draft = body.draft()?;
    let review = super::create(&state, &me, &product, &draft).await?;
    Ok((StatusCode::CREATED, Json(review)).into_response())
}

/// Change your review.
#[utoipa::path(patch, path = "/shop/reviews/{id}", tag = "shop-reviews", security(("token" = [])),
    params(("id" = i64, Path)), request_body = ReviewWrite,
    responses((status = 200, body = Review), (status = 401, description = "no or bad credentials"),
              (status = 403, description = "not your review"), (status = 404, description = "no such review"),
              (status = 422, description = "invalid field")))]
async fn update_review(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReviewWrite>,
) -> Result<Response> {
    let review = super::by_path_id(&state.db, &id).await?;
    if review.user_id != me.id {
        return Err(AppError::forbidden("only its author may change a review"));
    }
    let draft = body.draft()?;
    Ok(Json(super::update(&state, &review, &draft).await?).into_response())
}

/// Delete a review: your own, or any as a shop manager.
#[utoipa::path(delete, path = "/shop/reviews/{id}", tag = "shop-reviews", security(("token" = [])),
    params(("id" = i64, Path)),
    responses((status = 204), (status = 401, description = "no or bad credentials"),
              (status = 403, description = "not your review"), (status = 404, description = "no such review")))]
async fn delete_review(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let review = super::by_path_id(&state.db, &id).await?;
    if review.user_id != me.id && !is_manager(&state.db, &me).await? {
        return Err(AppError::forbidden(
            "only its author or a shop manager may delete a review",
        ));
    }
    super::delete(&state.db, review.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Mark a review helpful.
///
/// Counted once per customer (a second vote changes nothing); not on your own review.
#[utoipa::path(post, path = "/shop/reviews/{id}/helpful", tag = "shop-reviews", security(("token" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Review), (status = 401, description = "no or bad credentials"),
              (status = 403, description = "your own review"), (status = 404, description = "no such review")))]
async fn mark_helpful(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let review = super::by_path_id(&state.db, &id).await?;
    Ok(Json(super::mark_helpful(&state, &me, &review).await?).into_response())
}
