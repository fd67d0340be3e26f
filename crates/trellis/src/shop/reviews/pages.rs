//! The review forms of a product page: write or change one's review, mark another's helpful. Plain POST
//! forms that come back to the product page.

use axum::Router;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use serde::Deserialize;

use super::Draft;
use crate::error::{AppError, Result};
use crate::http::auth::RequireUser;
use crate::http::templates::Ctx;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/shop/products/{slug}/reviews", post(save))
        .route("/shop/reviews/{id}/helpful", post(helpful))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReviewForm {
    rating: String,
    title: String,
    body: String,
}

fn product_page(slug: &str) -> String {
    format!(
        "/shop/products/{}#reviews",
        crate::http::auth::urlencode(slug)
    )
}

/// Saves the viewer's review: a new one, or changes to theirs.
async fn save(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Path(slug): Path<String>,
    axum::Form(form): axum::Form<ReviewForm>,
) -> Result<Response> {
    let product = super::product(&ctx.state.db, &slug, false).await?;
    let rating = form.rating.trim();
    let draft = Draft {
        rating: if rating.is_empty() {
            None
        } else {
            Some(rating.parse::<i64>().unwrap_or(0))
        },
        title: Some(form.title),
        body: Some(form.body),
    };
    let outcome = match super::of_user(&ctx.state.db, product.id, me.id).await? {
        Some(mine) => super::update(&ctx.state, &mine, &draft)
            .await
            .map(|_| "Your review was updated."),
        None => super::create(&ctx.state, &me, &product, &draft)
            .await
            .map(|_| "Thank you: your review is published."),
    };
    match outcome {
        Ok(msg) => ctx.flash("success", msg).await,
        Err(AppError::Validation(errors)) => {
            let text: Vec<String> = errors
                .0
                .iter()
                .map(|(field, msgs)| format!("{field} {}", msgs.join(", ")))
                .collect();
            ctx.flash(
                "error",
                format!("Your review was not saved: {}.", text.join("; ")),
            )
            .await
        }
        Err(AppError::Forbidden(why)) => ctx.flash("error", format!("{why}.")).await,
        Err(e) => return Err(e),
    }
    Ok(Redirect::to(&product_page(&product.slug)).into_response())
}

async fn helpful(
    ctx: Ctx,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
) -> Result<Response> {
    let review = super::by_path_id(&ctx.state.db, &id).await?;
    let product = super::product(
        &ctx.state.db,
        &slug_of(&ctx, review.product_id).await?,
        false,
    )
    .await?;
    match super::mark_helpful(&ctx.state, &me, &review).await {
        Ok(_) => ctx.flash("success", "Thanks: your vote was counted.").await,
        Err(AppError::Forbidden(why)) => ctx.flash("error", format!("{why}.")).await,
        Err(e) => return Err(e),
    }
    Ok(Redirect::to(&product_page(&product.slug)).into_response())
}

async fn slug_of(ctx: &Ctx, product_id: i64) -> Result<String> {
    use sea_orm::{ConnectionTrait, FromQueryResult, Statement};
    #[derive(FromQueryResult)]
    struct Slug {
        slug: String,
    }
    Slug::find_by_statement(Statement::from_sql_and_values(
        ctx.state.db.get_database_backend(),
        "SELECT slug FROM shop_products WHERE id = $1",
        [product_id.into()],
    ))
    .one(&ctx.state.db)
    .await?
    .map(|s| s.slug)
    .ok_or_else(|| AppError::not_found("product"))
}
