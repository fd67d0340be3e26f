//! Product reviews: a customer who received a product may review it once (rating 1–5 and text). Each
//! review is scored by the sentiment engine's embedded default model when it is saved, so a product
//! shows its share of positive and negative reviews and the most helpful of each; other customers mark
//! reviews helpful, once each.

pub mod api;
pub mod pages;

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, FromQueryResult, Statement};
use serde::Serialize;
use trellis_sentiment::{Label, LinearModel, Model};
use utoipa::ToSchema;

use crate::accounts::models::User;
use crate::blocking::Lane;
use crate::error::{AppError, FieldErrors, Result, Unique};
use crate::state::AppState;

pub const TITLE_MAX: usize = 200;
pub const BODY_MAX: usize = 5_000;

/// The embedded default sentiment model, loaded once.
static MODEL: LazyLock<Arc<LinearModel>> =
    LazyLock::new(|| Arc::new(trellis_sentiment::default_model()));
static SCORING: Lane = Lane::per_core();

/// One review as shown.
#[derive(Clone, Debug, FromQueryResult, Serialize, ToSchema)]
pub struct Review {
    pub id: i64,
    #[serde(skip)]
    pub product_id: i64,
    /// The reviewer's user id.
    pub user_id: i64,
    /// The reviewer's username.
    pub author: String,
    /// 1 to 5.
    pub rating: i32,
    pub title: String,
    pub body: String,
    /// `positive` or `negative`, as the sentiment engine read the title and text.
    pub sentiment: String,
    /// The engine's confidence in that label, from 0.5 to 1.
    pub sentiment_score: Option<f64>,
    /// How many customers marked it helpful.
    pub helpful: i32,
    #[serde(serialize_with = "crate::shop::reviews::ts")]
    #[schema(value_type = String)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::shop::reviews::ts")]
    #[schema(value_type = String)]
    pub updated_at: DateTime<Utc>,
}

pub fn ts<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&crate::http::api::timestamp(t))
}

const REVIEW_COLUMNS: &str = "r.id, r.product_id, r.user_id, u.username AS author, r.rating, r.title, r.body, \
     r.sentiment, r.sentiment_score, r.helpful, r.created_at, r.updated_at";

/// What the product page and API show above the reviews.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct Summary {
    /// How many reviews.
    pub count: i64,
    /// Average rating to two decimals; null without reviews.
    pub rating: Option<f64>,
    pub positive: i64,
    pub negative: i64,
    /// Share of reviews read as positive, 0 to 1; null without reviews.
    pub positive_share: Option<f64>,
    pub negative_share: Option<f64>,
    /// The positive review most customers found helpful (the newest on a tie).
    pub most_helpful_positive: Option<Review>,
    pub most_helpful_negative: Option<Review>,
}

/// A product as reviews need it: id and whether customers may see it.
#[derive(FromQueryResult)]
pub struct ProductRef {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub active: bool,
}

/// The product behind a slug; inactive products are found only by those who see everything.
pub async fn product(
    db: &impl ConnectionTrait,
    slug: &str,
    see_inactive: bool,
) -> Result<ProductRef> {
    if slug.len() > 220 {
        return Err(AppError::not_found("product"));
    }
    ProductRef::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT id, name, slug, active FROM shop_products WHERE slug = $1",
        [slug.into()],
    ))
    .one(db)
    .await?
    .filter(|p| p.active || see_inactive)
    .ok_or_else(|| AppError::not_found("product"))
}

#[derive(FromQueryResult)]
struct One {
    #[allow(dead_code)]
    n: i64,
}

/// Whether `user_id` received `product_id`: one of their orders holding it was delivered (a refund
/// afterwards does not undo that they had it).
pub async fn has_received(
    db: &impl ConnectionTrait,
    user_id: i64,
    product_id: i64,
) -> Result<bool> {
    let row = One::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT CAST(1 AS BIGINT) AS n FROM shop_orders o JOIN shop_order_lines l ON l.order_id = o.id \
         WHERE o.user_id = $1 \
           AND (l.product_id = $2 OR l.variant_id IN (SELECT id FROM shop_variants WHERE product_id = $2)) \
           AND EXISTS (SELECT 1 FROM shop_order_events e WHERE e.order_id = o.id AND e.to_status = 'delivered') \
         LIMIT 1",
        [user_id.into(), product_id.into()],
    ))
    .one(db)
    .await?;
    Ok(row.is_some())
}

/// The fields of a review as sent: each checked, errors by field.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    pub rating: Option<i64>,
    pub title: Option<String>,
    pub body: Option<String>,
}

impl Draft {
    /// Checks what was sent; `full` (a new review) needs a rating.
    pub fn check(&self, full: bool) -> Result<()> {
        let mut errors = FieldErrors::new();
        match self.rating {
            None if full => errors.add("rating", "can't be blank"),
            Some(r) if !(1..=5).contains(&r) => errors.add("rating", "must be from 1 to 5"),
            _ => {}
        }
        if let Some(t) = &self.title
            && t.trim().chars().count() > TITLE_MAX
        {
            errors.add(
                "title",
                format!("is too long (maximum is {TITLE_MAX} characters)"),
            );
        }
        if let Some(b) = &self.body
            && b.trim().chars().count() > BODY_MAX
        {
            errors.add(
                "body",
                format!("is too long (maximum is {BODY_MAX} characters)"),
            );
        }
        errors.into_result()
    }
}

/// The sentiment of a review's title and text, off the async threads.
pub async fn score(title: &str, body: &str) -> Result<(Label, f32)> {
    let text = format!("{title}. {body}");
    let model = MODEL.clone();
    let p = SCORING
        .run(move || model.predict(&text))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("scoring a review: {e}")))?;
    Ok((p.label, p.score))
}

/// One review per customer and product: a second is a 409 naming `product`.
const UNIQUE: &[Unique] = &[Unique {
    name: "shop_reviews_product_id_user_id_key",
    columns: "shop_reviews.product_id, shop_reviews.user_id",
    field: "product",
}];

/// Saves `user`'s review of `product`, scored. Only customers who received the product may.
pub async fn create(
    state: &AppState,
    user: &User,
    product: &ProductRef,
    draft: &Draft,
) -> Result<Review> {
    draft.check(true)?;
    if !has_received(&state.db, user.id, product.id).await? {
        return Err(AppError::forbidden(
            "only customers who received this product may review it",
        ));
    }
    let title = draft.title.as_deref().unwrap_or("").trim().to_string();
    let body = draft.body.as_deref().unwrap_or("").trim().to_string();
    let (label, confidence) = score(&title, &body).await?;
    let now = Utc::now();
    #[derive(FromQueryResult)]
    struct Id {
        id: i64,
    }
    let id = Id::find_by_statement(Statement::from_sql_and_values(
        state.db.get_database_backend(),
        "INSERT INTO shop_reviews (product_id, user_id, rating, title, body, sentiment, sentiment_score, \
           created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        [
            product.id.into(),
            user.id.into(),
            (draft.rating.unwrap_or(1) as i32).into(),
            title.into(),
            body.into(),
            label.as_str().into(),
            (confidence as f64).into(),
            now.into(),
        ],
    ))
    .one(&state.db)
    .await
    .map_err(|e| crate::error::on_unique(e, UNIQUE))?
    .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a review was not saved")))?;
    get(&state.db, id.id)
        .await?
        .ok_or_else(|| AppError::not_found("review"))
}

/// Changes the fields sent of a review (its author's), scoring it again.
pub async fn update(state: &AppState, review: &Review, draft: &Draft) -> Result<Review> {
    draft.check(false)?;
    let rating = draft.rating.map(|r| r as i32).unwrap_or(review.rating);
    let title = draft
        .title
        .as_deref()
        .map(|t| t.trim().to_string())
        .unwrap_or_else(|| review.title.clone());
    let body = draft
        .body
        .as_deref()
        .map(|b| b.trim().to_string())
        .unwrap_or_else(|| review.body.clone());
    let (label, confidence) = score(&title, &body).await?;
    state
        .db
        .execute_raw(Statement::from_sql_and_values(
            state.db.get_database_backend(),
            "UPDATE shop_reviews SET rating = $2, title = $3, body = $4, sentiment = $5, sentiment_score = $6, \
               updated_at = $7 WHERE id = $1",
            [
                review.id.into(),
                rating.into(),
                title.into(),
                body.into(),
                label.as_str().into(),
                (confidence as f64).into(),
                Utc::now().into(),
            ],
        ))
        .await?;
    get(&state.db, review.id)
        .await?
        .ok_or_else(|| AppError::not_found("review"))
}

pub async fn delete(db: &impl ConnectionTrait, id: i64) -> Result<()> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "DELETE FROM shop_reviews WHERE id = $1",
        [id.into()],
    ))
    .await?;
    Ok(())
}

pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<Option<Review>> {
    Ok(Review::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!("SELECT {REVIEW_COLUMNS} FROM shop_reviews r JOIN users u ON u.id = r.user_id WHERE r.id = $1"),
        [id.into()],
    ))
    .one(db)
    .await?)
}

/// `user_id`'s review of `product_id`, if any.
pub async fn of_user(
    db: &impl ConnectionTrait,
    product_id: i64,
    user_id: i64,
) -> Result<Option<Review>> {
    Ok(Review::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!(
            "SELECT {REVIEW_COLUMNS} FROM shop_reviews r JOIN users u ON u.id = r.user_id \
             WHERE r.product_id = $1 AND r.user_id = $2"
        ),
        [product_id.into(), user_id.into()],
    ))
    .one(db)
    .await?)
}

/// How a product's reviews are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ordering {
    /// Most helpful first (the default).
    Helpful,
    Newest,
    HighestRated,
    LowestRated,
}

impl Ordering {
    pub const ALL: [(Ordering, &'static str); 4] = [
        (Ordering::Helpful, "-helpful"),
        (Ordering::Newest, "-created"),
        (Ordering::HighestRated, "-rating"),
        (Ordering::LowestRated, "rating"),
    ];

    pub fn parse(raw: &str) -> Option<Ordering> {
        Ordering::ALL
            .iter()
            .find(|(_, name)| *name == raw)
            .map(|(o, _)| *o)
    }

    fn sql(self) -> &'static str {
        match self {
            Ordering::Helpful => "r.helpful DESC, r.created_at DESC, r.id DESC",
            Ordering::Newest => "r.created_at DESC, r.id DESC",
            Ordering::HighestRated => "r.rating DESC, r.helpful DESC, r.id DESC",
            Ordering::LowestRated => "r.rating ASC, r.helpful DESC, r.id DESC",
        }
    }
}

/// One page of a product's reviews and how many there are, in one statement.
pub async fn list(
    db: &impl ConnectionTrait,
    product_id: i64,
    ordering: Ordering,
    window: crate::db::Window,
) -> Result<(Vec<Review>, u64)> {
    Ok(crate::db::paged(
        db,
        "SELECT COUNT(*) AS n FROM shop_reviews r WHERE r.product_id = $1".into(),
        format!(
            "SELECT {REVIEW_COLUMNS} FROM shop_reviews r JOIN users u ON u.id = r.user_id \
             WHERE r.product_id = $1 ORDER BY {}",
            ordering.sql()
        ),
        vec![product_id.into()],
        window,
    )
    .await?)
}

#[derive(FromQueryResult)]
struct Totals {
    count: i64,
    rating_sum: Option<i64>,
    positive: Option<i64>,
    negative: Option<i64>,
}

/// The product's rating, sentiment shares and most helpful review of each kind, in three statements.
pub async fn summary(db: &impl ConnectionTrait, product_id: i64) -> Result<Summary> {
    let backend = db.get_database_backend();
    let t = Totals::find_by_statement(Statement::from_sql_and_values(
        backend,
        "SELECT COUNT(*) AS count, SUM(rating) AS rating_sum, \
           SUM(CASE WHEN sentiment = 'positive' THEN 1 ELSE 0 END) AS positive, \
           SUM(CASE WHEN sentiment = 'negative' THEN 1 ELSE 0 END) AS negative \
         FROM shop_reviews WHERE product_id = $1",
        [product_id.into()],
    ))
    .one(db)
    .await?
    .unwrap_or(Totals {
        count: 0,
        rating_sum: None,
        positive: None,
        negative: None,
    });
    let best = |sentiment: &'static str| {
        Review::find_by_statement(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT {REVIEW_COLUMNS} FROM shop_reviews r JOIN users u ON u.id = r.user_id \
                 WHERE r.product_id = $1 AND r.sentiment = $2 \
                 ORDER BY r.helpful DESC, r.created_at DESC, r.id DESC LIMIT 1"
            ),
            [product_id.into(), sentiment.into()],
        ))
        .one(db)
    };
    let (positive_best, negative_best) = if t.count > 0 {
        (best("positive").await?, best("negative").await?)
    } else {
        (None, None)
    };
    let (pos, neg) = (t.positive.unwrap_or(0), t.negative.unwrap_or(0));
    let share = |n: i64| (t.count > 0).then(|| round2(n as f64 / t.count as f64));
    Ok(Summary {
        count: t.count,
        rating: (t.count > 0).then(|| round2(t.rating_sum.unwrap_or(0) as f64 / t.count as f64)),
        positive: pos,
        negative: neg,
        positive_share: share(pos),
        negative_share: share(neg),
        most_helpful_positive: positive_best,
        most_helpful_negative: negative_best,
    })
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `user` finds the review helpful: counted once per customer, never for one's own review. Answers the
/// review as it stands.
pub async fn mark_helpful(state: &AppState, user: &User, review: &Review) -> Result<Review> {
    if review.user_id == user.id {
        return Err(AppError::forbidden(
            "you cannot mark your own review helpful",
        ));
    }
    let txn = state.db.begin().await?;
    let backend = txn.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "INSERT INTO shop_review_votes (review_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        }
        _ => "INSERT OR IGNORE INTO shop_review_votes (review_id, user_id) VALUES ($1, $2)",
    };
    let inserted = txn
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [review.id.into(), user.id.into()],
        ))
        .await?;
    if inserted.rows_affected() > 0 {
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE shop_reviews SET helpful = helpful + 1 WHERE id = $1",
            [review.id.into()],
        ))
        .await?;
    }
    txn.commit().await?;
    get(&state.db, review.id)
        .await?
        .ok_or_else(|| AppError::not_found("review"))
}

/// A review id from a path, as a 404 when it names none.
pub async fn by_path_id(db: &impl ConnectionTrait, raw: &str) -> Result<Review> {
    let id = crate::db::parse_id(raw, "review")?;
    get(db, id)
        .await?
        .ok_or_else(|| AppError::not_found("review"))
}

/// The reviews part of a product page.
#[derive(Serialize)]
pub struct Section {
    pub summary: Summary,
    /// The most helpful reviews first.
    pub reviews: Vec<Review>,
    /// The viewer received the product and has not reviewed it yet.
    pub can_review: bool,
    /// The viewer's own review.
    pub mine: Option<Review>,
}

/// How many reviews a product page shows; the API lists them all.
const SECTION_SIZE: u64 = 10;

/// What a product page shows of its reviews, for `viewer` (anonymous when `None`).
pub async fn section(
    db: &impl ConnectionTrait,
    viewer: Option<&User>,
    product_id: i64,
) -> Result<Section> {
    let summary = summary(db, product_id).await?;
    let (reviews, _) = list(
        db,
        product_id,
        Ordering::Helpful,
        crate::db::Window {
            offset: 0,
            limit: SECTION_SIZE,
        },
    )
    .await?;
    let (can_review, mine) = match viewer {
        Some(u) => {
            let mine = of_user(db, product_id, u.id).await?;
            let can = mine.is_none() && has_received(db, u.id, product_id).await?;
            (can, mine)
        }
        None => (false, None),
    };
    Ok(Section {
        summary,
        reviews,
        can_review,
        mine,
    })
}
