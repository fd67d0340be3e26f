//! The catalog over the API: a public, filtered and paginated product list, products and their
//! variants, images and categories (written by managers), and each variant's stock ledger.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    Category, Image, NewCategory, NewProduct, NewVariant, Product, ProductChanges, StockMoveRow,
    VariantChanges, VariantRow,
};
use crate::accounts::models::User;
use crate::error::{AppError, FieldErrors, Result};
use crate::http::api::{self, ApiJson, Page, PageNumber};
use crate::http::auth::{MaybeUser, RequireUser};
use crate::shop::{models, money};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product, delete_product))
        .routes(routes!(create_variant))
        .routes(routes!(update_variant))
        .routes(routes!(list_stock_moves))
        .routes(routes!(upload_image))
        .routes(routes!(list_categories, create_category))
}

const PAGE_SIZE: u64 = 20;
const MAX_PAGE_SIZE: u64 = 100;

// ---------------------------------------------------------------- shapes

#[derive(Serialize, ToSchema)]
pub struct ImageBody {
    id: i64,
    url: String,
    thumbnail_url: String,
    alt: String,
}

#[derive(Serialize, ToSchema)]
pub struct VariantBody {
    id: i64,
    sku: String,
    name: String,
    /// Option names and values, such as `{"size": "L"}`.
    #[schema(value_type = Object)]
    options: BTreeMap<String, String>,
    /// In minor units of the product's currency.
    price: i64,
    stock: i64,
    weight_grams: i32,
}

#[derive(Serialize, ToSchema)]
pub struct ProductBody {
    id: i64,
    slug: String,
    name: String,
    /// Markdown.
    description: String,
    /// The description rendered and sanitized.
    description_html: String,
    /// The category's slug, or null.
    category: Option<String>,
    currency: String,
    /// The cheapest variant's price, in minor units; null without variants.
    price: Option<i64>,
    in_stock: bool,
    /// Whether customers see it (only managers see inactive products).
    active: bool,
    /// The average review rating (1 to 5), null while unrated.
    rating: Option<f64>,
    review_count: i64,
    images: Vec<ImageBody>,
    variants: Vec<VariantBody>,
    created_at: String,
    updated_at: String,
    /// This product's address in the API.
    url: String,
}

#[derive(Serialize, ToSchema)]
pub struct CategoryBody {
    id: i64,
    name: String,
    slug: String,
    /// The parent's slug, or null for a top-level category.
    parent: Option<String>,
    description: String,
    position: i32,
    /// How deep in the tree (0 at the top).
    depth: usize,
}

#[derive(Serialize, ToSchema)]
pub struct StockMoveBody {
    id: i64,
    variant_id: i64,
    delta: i64,
    stock_after: i64,
    /// `initial`, `sale`, `cancel`, `expiry`, `refund`, `correction` or `import`.
    reason: String,
    order_id: Option<i64>,
    actor_id: Option<i64>,
    note: String,
    created_at: String,
}

fn variant_body(v: &VariantRow) -> VariantBody {
    VariantBody {
        id: v.id,
        sku: v.sku.clone(),
        name: v.name.clone(),
        options: v.options(),
        price: v.price,
        stock: v.stock,
        weight_grams: v.weight_grams,
    }
}

fn image_body(i: &Image) -> ImageBody {
    ImageBody {
        id: i.id,
        url: i.url(),
        thumbnail_url: i.thumbnail_url(),
        alt: i.alt.clone(),
    }
}

fn product_body(
    state: &AppState,
    p: &Product,
    variants: &[VariantRow],
    images: &[Image],
) -> ProductBody {
    ProductBody {
        id: p.id,
        slug: p.slug.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        description_html: p.description_html.clone(),
        category: p.category_slug.clone(),
        currency: p.currency.clone(),
        price: p.price,
        in_stock: variants.iter().any(|v| v.stock > 0),
        active: p.active,
        rating: p.rating,
        review_count: p.review_count,
        images: images.iter().map(image_body).collect(),
        variants: variants.iter().map(variant_body).collect(),
        created_at: api::timestamp(&p.created_at),
        updated_at: api::timestamp(&p.updated_at),
        url: format!("{}/api/shop/products/{}", state.settings.base_url(), p.slug),
    }
}

async fn full_body(state: &AppState, p: &Product) -> Result<ProductBody> {
    let mut variants = super::variants_of(&state.db, &[p.id]).await?;
    let mut images = super::images_of(&state.db, &[p.id]).await?;
    Ok(product_body(
        state,
        p,
        &variants.remove(&p.id).unwrap_or_default(),
        &images.remove(&p.id).unwrap_or_default(),
    ))
}

// ---------------------------------------------------------------- callers

async fn manager(state: &AppState, user: Option<&User>) -> Result<bool> {
    match user {
        Some(u) => models::is_manager(&state.db, u).await,
        None => Ok(false),
    }
}

/// 403 unless the caller manages the shop.
async fn require_manager(state: &AppState, me: &User) -> Result<()> {
    if models::is_manager(&state.db, me).await? {
        Ok(())
    } else {
        Err(AppError::forbidden("shop"))
    }
}

/// A product by slug as the caller may see it: inactive ones are 404 to all but managers.
async fn visible_product(state: &AppState, user: Option<&User>, slug: &str) -> Result<Product> {
    let p = super::product_by_slug(&state.db, slug)
        .await?
        .ok_or_else(|| AppError::not_found("product"))?;
    if !p.active && !manager(state, user).await? {
        return Err(AppError::not_found("product"));
    }
    Ok(p)
}

// ---------------------------------------------------------------- field readers

fn string_field(errors: &mut FieldErrors, field: &str, v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        _ => {
            errors.add(field, "must be a string");
            None
        }
    }
}

fn int_field(errors: &mut FieldErrors, field: &str, v: &Value) -> Option<i64> {
    match v.as_i64() {
        Some(n) => Some(n),
        None => {
            errors.add(field, "must be a whole number");
            None
        }
    }
}

fn checked<T>(
    errors: &mut FieldErrors,
    field: &str,
    r: std::result::Result<T, String>,
) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(m) => {
            errors.add(field, m);
            None
        }
    }
}

fn options_field(errors: &mut FieldErrors, v: &Value) -> Option<BTreeMap<String, String>> {
    let Some(obj) = v.as_object() else {
        errors.add("options", "must be an object of strings");
        return None;
    };
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        match v.as_str() {
            Some(s) => {
                out.insert(k.clone(), s.to_string());
            }
            None => {
                errors.add("options", "must be an object of strings");
                return None;
            }
        }
    }
    checked(errors, "options", super::check_options(&out))
}

type Field = Option<Option<Value>>;

/// A variant's writable fields, for a new product's first variant or a new variant.
#[derive(Deserialize, ToSchema)]
pub struct VariantWrite {
    /// 1 to 64 printable characters, unique; made up when absent.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 64, pattern = "^[!-~]+$")]
    sku: Field,
    /// Up to 100 characters, such as `Large / Red`.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = String, required = false, max_length = 100)]
    name: Field,
    /// Option names and values: `{"size": "L", "colour": "red"}` (at most 20).
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Object, required = false)]
    options: Field,
    /// In minor units (`1999` is 19.99).
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = i64, minimum = 0, maximum = 1_000_000_000_000_i64)]
    price: Field,
    /// Default 0.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = i64, required = false, minimum = 0, maximum = 1_000_000_000)]
    stock: Field,
    /// Default 0.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = i64, required = false, minimum = 0, maximum = 1_000_000_000)]
    weight_grams: Field,
}

impl VariantWrite {
    fn read(&self, errors: &mut FieldErrors) -> NewVariant {
        let mut v = NewVariant::default();
        match &self.sku {
            None | Some(None) => {}
            Some(Some(x)) => {
                v.sku = string_field(errors, "sku", x)
                    .and_then(|s| checked(errors, "sku", super::parse_sku(&s)))
            }
        }
        if let Some(Some(x)) = &self.name {
            v.name = string_field(errors, "name", x)
                .and_then(|s| checked(errors, "name", super::parse_variant_name(&s)))
                .unwrap_or_default();
        }
        if let Some(Some(x)) = &self.options {
            v.options = options_field(errors, x).unwrap_or_default();
        }
        match &self.price {
            None | Some(None) => errors.add("price", "can't be blank"),
            Some(Some(x)) => {
                v.price = int_field(errors, "price", x)
                    .and_then(|n| checked(errors, "price", money::check_amount(n)))
                    .unwrap_or(0)
            }
        }
        if let Some(Some(x)) = &self.stock {
            v.stock = int_field(errors, "stock", x)
                .and_then(|n| checked(errors, "stock", super::check_stock(n)))
                .unwrap_or(0);
        }
        if let Some(Some(x)) = &self.weight_grams {
            v.weight_grams = int_field(errors, "weight_grams", x)
                .and_then(|n| checked(errors, "weight_grams", super::check_weight(n)))
                .unwrap_or(0);
        }
        v
    }
}

/// A product's writable fields. On create `name`, `price` and `currency` are required, and `sku`,
/// `stock`, `weight_grams`, `options` describe its first variant.
#[derive(Deserialize, ToSchema)]
pub struct ProductWrite {
    /// 1 to 200 characters.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 200, pattern = r"\S")]
    name: Field,
    /// Lowercase letters, digits and dashes; made from the name when absent (create only).
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = String, required = false, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 200)]
    slug: Field,
    /// Markdown, up to 20,000 characters.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>, max_length = 20000)]
    description: Field,
    /// A category's slug; null for none.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>, max_length = 220)]
    category: Field,
    /// Three letters, such as `USD`.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = String, required = false, pattern = "^[A-Za-z]{3}$")]
    currency: Field,
    /// Default true.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = bool, required = false)]
    active: Field,
    /// The first variant's SKU (create only).
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 64, pattern = "^[!-~]+$")]
    sku: Field,
    /// The first variant's options (create only).
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Object, required = false)]
    options: Field,
    /// The first variant's price in minor units (required on create; create only).
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = i64, required = false, minimum = 0, maximum = 1_000_000_000_000_i64)]
    price: Field,
    /// The first variant's stock, default 0 (create only).
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = i64, required = false, minimum = 0, maximum = 1_000_000_000)]
    stock: Field,
    /// The first variant's weight, default 0 (create only).
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = i64, required = false, minimum = 0, maximum = 1_000_000_000)]
    weight_grams: Field,
}

impl ProductWrite {
    fn variant(&self) -> VariantWrite {
        VariantWrite {
            sku: self.sku.clone(),
            name: None,
            options: self.options.clone(),
            price: self.price.clone(),
            stock: self.stock.clone(),
            weight_grams: self.weight_grams.clone(),
        }
    }
}

/// A product to create: [`ProductWrite`] with `name`, `price` and `currency` required.
#[derive(ToSchema)]
#[allow(dead_code)] // Only describes the body `create_product` reads.
pub struct NewProductBody {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    name: String,
    /// Lowercase letters, digits and dashes; made from the name when absent.
    #[schema(
        required = false,
        pattern = "^[a-z0-9]+(-[a-z0-9]+)*$",
        max_length = 200
    )]
    slug: String,
    /// Markdown, up to 20,000 characters.
    #[schema(max_length = 20000)]
    description: Option<String>,
    /// A category's slug.
    #[schema(max_length = 220)]
    category: Option<String>,
    /// Three letters, such as `USD`.
    #[schema(pattern = "^[A-Za-z]{3}$")]
    currency: String,
    /// Default true.
    #[schema(required = false)]
    active: bool,
    /// The first variant's SKU; made up when absent.
    #[schema(
        required = false,
        min_length = 1,
        max_length = 64,
        pattern = "^[!-~]+$"
    )]
    sku: String,
    /// The first variant's options: `{"size": "L"}`.
    #[schema(value_type = Object, required = false)]
    options: BTreeMap<String, String>,
    /// In minor units (`1999` is 19.99).
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    price: i64,
    /// Default 0.
    #[schema(required = false, minimum = 0, maximum = 1_000_000_000)]
    stock: i64,
    /// Default 0.
    #[schema(required = false, minimum = 0, maximum = 1_000_000_000)]
    weight_grams: i64,
}

/// Changes to a variant; send only what changes.
#[derive(Deserialize, ToSchema)]
pub struct VariantPatch {
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 64, pattern = "^[!-~]+$")]
    sku: Field,
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>, max_length = 100)]
    name: Field,
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<Object>)]
    options: Field,
    /// In minor units.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = i64, required = false, minimum = 0, maximum = 1_000_000_000_000_i64)]
    price: Field,
    /// A counted stock level.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = i64, required = false, minimum = 0, maximum = 1_000_000_000)]
    stock: Field,
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = i64, required = false, minimum = 0, maximum = 1_000_000_000)]
    weight_grams: Field,
    /// Stock moved by this much (`-3`); refused if it would go below 0.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = i64, required = false, minimum = -1_000_000_000, maximum = 1_000_000_000)]
    stock_delta: Field,
    /// Why the stock changed, kept in the ledger (up to 200 characters).
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = String, required = false, max_length = 200)]
    note: Field,
}

fn read_product(body: &ProductWrite, create: bool) -> Result<(ProductChanges, Option<String>)> {
    let mut errors = FieldErrors::new();
    let mut c = ProductChanges::default();
    match &body.name {
        None if create => errors.add("name", "can't be blank"),
        None => {}
        Some(None) => errors.add("name", "can't be blank"),
        Some(Some(x)) => {
            c.name = string_field(&mut errors, "name", x)
                .and_then(|s| checked(&mut errors, "name", super::parse_name(&s)))
        }
    }
    let mut slug = None;
    match &body.slug {
        None | Some(None) => {}
        Some(Some(_)) if !create => errors.add("slug", "cannot be changed"),
        Some(Some(x)) => {
            slug = string_field(&mut errors, "slug", x)
                .and_then(|s| checked(&mut errors, "slug", super::parse_slug(&s)))
        }
    }
    match &body.description {
        None => {}
        Some(None) => c.description = Some(String::new()),
        Some(Some(x)) => {
            c.description = string_field(&mut errors, "description", x)
                .and_then(|s| checked(&mut errors, "description", super::parse_description(&s)))
        }
    }
    match &body.category {
        None => {}
        Some(None) => c.category = Some(None),
        Some(Some(x)) => {
            c.category = string_field(&mut errors, "category", x).map(|s| Some(s.trim().into()))
        }
    }
    match &body.currency {
        None if create => errors.add("currency", "can't be blank"),
        None => {}
        Some(None) => errors.add("currency", "can't be blank"),
        Some(Some(x)) => {
            c.currency = string_field(&mut errors, "currency", x)
                .and_then(|s| checked(&mut errors, "currency", money::parse_currency(&s)))
        }
    }
    match &body.active {
        None => {}
        Some(Some(Value::Bool(b))) => c.active = Some(*b),
        Some(_) => errors.add("active", "must be true or false"),
    }
    errors.into_result()?;
    Ok((c, slug))
}

fn variant_changes(body: &VariantPatch) -> Result<VariantChanges> {
    let mut errors = FieldErrors::new();
    let mut c = VariantChanges::default();
    let f = body;
    match &f.sku {
        None => {}
        Some(None) => errors.add("sku", "can't be blank"),
        Some(Some(x)) => {
            c.sku = string_field(&mut errors, "sku", x)
                .and_then(|s| checked(&mut errors, "sku", super::parse_sku(&s)))
        }
    }
    match &f.name {
        None => {}
        Some(None) => c.name = Some(String::new()),
        Some(Some(x)) => {
            c.name = string_field(&mut errors, "name", x)
                .and_then(|s| checked(&mut errors, "name", super::parse_variant_name(&s)))
        }
    }
    match &f.options {
        None => {}
        Some(None) => c.options = Some(BTreeMap::new()),
        Some(Some(x)) => c.options = options_field(&mut errors, x),
    }
    let mut int =
        |field: &str, v: &Field, check: &dyn Fn(i64) -> std::result::Result<i64, String>| match v {
            None => None,
            Some(None) => {
                errors.add(field, "can't be blank");
                None
            }
            Some(Some(x)) => {
                int_field(&mut errors, field, x).and_then(|n| checked(&mut errors, field, check(n)))
            }
        };
    c.price = int("price", &f.price, &money::check_amount);
    c.stock = int("stock", &f.stock, &super::check_stock);
    c.weight_grams = int("weight_grams", &f.weight_grams, &|n| {
        super::check_weight(n).map(i64::from)
    })
    .map(|n| n as i32);
    c.stock_delta = int("stock_delta", &body.stock_delta, &|n| {
        if (-super::STOCK_MAX..=super::STOCK_MAX).contains(&n) {
            Ok(n)
        } else {
            Err(format!(
                "must be a whole number from -{max} to {max}",
                max = super::STOCK_MAX
            ))
        }
    });
    match &body.note {
        None | Some(None) => {}
        Some(Some(x)) => {
            c.note = string_field(&mut errors, "note", x)
                .and_then(|s| checked(&mut errors, "note", super::bounded(&s, 200, true)))
                .unwrap_or_default()
        }
    }
    if c.stock.is_some() && c.stock_delta.is_some() {
        errors.add("stock_delta", "send either stock or stock_delta, not both");
    }
    errors.into_result()?;
    Ok(c)
}

// ---------------------------------------------------------------- products

/// List products.
///
/// Public. Customers see active products only; managers see all. Filters combine with AND.
#[utoipa::path(get, path = "/shop/products", tag = "shop-catalog",
    params(
        ("category" = Option<String>, Query, max_length = 220, description = "A category's slug: products in it or any of its sub-categories"),
        ("min_price" = Option<i64>, Query, minimum = 0, maximum = 1_000_000_000_000_i64, description = "Cheapest variant at least this (minor units)"),
        ("max_price" = Option<i64>, Query, minimum = 0, maximum = 1_000_000_000_000_i64, description = "Cheapest variant at most this (minor units)"),
        ("in_stock" = Option<String>, Query, pattern = r"^ *([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0)? *$", description = "`true`: some variant has stock; `false`: none has"),
        ("q" = Option<String>, Query, max_length = 200, description = "Text in the name, description or a SKU, case-insensitive"),
        ("ordering" = Option<String>, Query, pattern = r"^ *(price|-price|name|-created|rating)? *$",
            description = "`price`, `-price`, `name`, `-created` (the default) or `rating` (best first, unrated last)"),
        api::PageParams,
    ),
    responses((status = 200, body = Page<ProductBody>), (status = 400, description = "a query parameter is invalid (named)"),
              (status = 404, description = "page past the end")))]
async fn list_products(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let (mut filters, ordering) = super::query_filters(&q)?;
    let paging = PageNumber::from_query(&q, PAGE_SIZE, MAX_PAGE_SIZE)?;
    filters.include_inactive = manager(&state, user.as_deref()).await?;
    let (products, count) =
        super::list_products(&state.db, &filters, ordering, paging.window()).await?;
    let ids: Vec<i64> = products.iter().map(|p| p.id).collect();
    let mut variants = super::variants_of(&state.db, &ids).await?;
    let mut images = super::images_of(&state.db, &ids).await?;
    let results = products
        .iter()
        .map(|p| {
            product_body(
                &state,
                p,
                &variants.remove(&p.id).unwrap_or_default(),
                &images.remove(&p.id).unwrap_or_default(),
            )
        })
        .collect();
    Ok(Json(paging.wrap(results, count, "/api/shop/products", &q)?).into_response())
}

/// Create a product with its first variant.
///
/// Managers only. The slug is made from the name unless given; a name already used gets `-2`, `-3`, ….
#[utoipa::path(post, path = "/shop/products", tag = "shop-catalog", security(("token" = [])), request_body = NewProductBody,
    responses((status = 201, body = ProductBody, headers(("Location" = String, description = "/api/shop/products/{slug}"))),
              (status = 400, description = "malformed body"), (status = 401, description = "no or bad credentials"),
              (status = 403, description = "not a shop manager"), (status = 409, description = "slug or sku taken"),
              (status = 415, description = "not JSON"), (status = 422, description = "invalid field (named)")))]
async fn create_product(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    ApiJson(body): ApiJson<ProductWrite>,
) -> Result<Response> {
    require_manager(&state, &me).await?;
    let mut errors = FieldErrors::new();
    let variant = body.variant().read(&mut errors);
    let (c, slug) = match read_product(&body, true) {
        Ok(r) => r,
        Err(AppError::Validation(mut e)) => {
            for (k, v) in errors.0 {
                e.0.entry(k).or_default().extend(v);
            }
            return Err(AppError::Validation(e));
        }
        Err(e) => return Err(e),
    };
    errors.into_result()?;
    let new = NewProduct {
        name: c.name.unwrap_or_default(),
        slug,
        description: c.description.unwrap_or_default(),
        category: c.category.flatten(),
        currency: c.currency.unwrap_or_default(),
        active: c.active.unwrap_or(true),
        variant,
    };
    let p = super::create_product(&state.db, Some(me.id), new).await?;
    let body = full_body(&state, &p).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/shop/products/{}", p.slug))],
        Json(body),
    )
        .into_response())
}

/// One product, with its variants and images.
#[utoipa::path(get, path = "/shop/products/{slug}", tag = "shop-catalog", params(("slug" = String, Path)),
    responses((status = 200, body = ProductBody), (status = 404, description = "no such product (or inactive)")))]
async fn get_product(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(slug): Path<String>,
) -> Result<Response> {
    let p = visible_product(&state, user.as_deref(), &slug).await?;
    Ok(Json(full_body(&state, &p).await?).into_response())
}

/// Change a product.
///
/// Managers only. Send only the fields to change; the slug never changes.
#[utoipa::path(patch, path = "/shop/products/{slug}", tag = "shop-catalog", security(("token" = [])),
    params(("slug" = String, Path)), request_body = ProductWrite,
    responses((status = 200, body = ProductBody), (status = 400, description = "malformed body"),
              (status = 401, description = "no or bad credentials"), (status = 403, description = "not a shop manager"),
              (status = 404, description = "no such product"), (status = 415, description = "not JSON"),
              (status = 422, description = "invalid field (named)")))]
async fn update_product(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(slug): Path<String>,
    ApiJson(body): ApiJson<ProductWrite>,
) -> Result<Response> {
    require_manager(&state, &me).await?;
    let p = visible_product(&state, Some(&*me), &slug).await?;
    let (c, _) = read_product(&body, false)?;
    let v = &body;
    if v.price.is_some()
        || v.stock.is_some()
        || v.sku.is_some()
        || v.options.is_some()
        || v.weight_grams.is_some()
    {
        return Err(AppError::invalid(
            "variants",
            "change variants at /api/shop/variants/{id}",
        ));
    }
    super::update_product(&state.db, p.id, c).await?;
    let p = super::product_by_id(&state.db, p.id)
        .await?
        .ok_or_else(|| AppError::not_found("product"))?;
    Ok(Json(full_body(&state, &p).await?).into_response())
}

/// Deactivate a product.
///
/// Managers only. The product is hidden from customers (its orders keep their lines); a PATCH with
/// `"active": true` brings it back.
#[utoipa::path(delete, path = "/shop/products/{slug}", tag = "shop-catalog", security(("token" = [])),
    params(("slug" = String, Path)),
    responses((status = 204, description = "deactivated"), (status = 401, description = "no or bad credentials"),
              (status = 403, description = "not a shop manager"), (status = 404, description = "no such product")))]
async fn delete_product(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(slug): Path<String>,
) -> Result<Response> {
    require_manager(&state, &me).await?;
    let p = visible_product(&state, Some(&*me), &slug).await?;
    super::deactivate(&state.db, p.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Add a variant to a product.
///
/// Managers only. Its stock is written to the ledger as `initial`.
#[utoipa::path(post, path = "/shop/products/{slug}/variants", tag = "shop-catalog", security(("token" = [])),
    params(("slug" = String, Path)), request_body = VariantWrite,
    responses((status = 201, body = VariantBody), (status = 400, description = "malformed body"),
              (status = 401, description = "no or bad credentials"), (status = 403, description = "not a shop manager"),
              (status = 404, description = "no such product"), (status = 409, description = "sku taken"),
              (status = 415, description = "not JSON"), (status = 422, description = "invalid field (named)")))]
async fn create_variant(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(slug): Path<String>,
    ApiJson(body): ApiJson<VariantWrite>,
) -> Result<Response> {
    require_manager(&state, &me).await?;
    let p = visible_product(&state, Some(&*me), &slug).await?;
    let mut errors = FieldErrors::new();
    let v = body.read(&mut errors);
    errors.into_result()?;
    let row = super::add_variant(&state.db, p.id, Some(me.id), v).await?;
    Ok((StatusCode::CREATED, Json(variant_body(&row))).into_response())
}

/// Change a variant: its price, SKU, name, options, weight, or its stock.
///
/// Managers only. `stock` sets a counted level, `stock_delta` moves it by an amount; either is written
/// to the ledger as a `correction` with the optional `note`. Stock never goes below 0 (422).
#[utoipa::path(patch, path = "/shop/variants/{id}", tag = "shop-catalog", security(("token" = [])),
    params(("id" = i64, Path)), request_body = VariantPatch,
    responses((status = 200, body = VariantBody), (status = 400, description = "malformed body"),
              (status = 401, description = "no or bad credentials"), (status = 403, description = "not a shop manager"),
              (status = 404, description = "no such variant"), (status = 409, description = "sku taken"),
              (status = 415, description = "not JSON"), (status = 422, description = "invalid field (named)")))]
async fn update_variant(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<VariantPatch>,
) -> Result<Response> {
    require_manager(&state, &me).await?;
    let id = crate::db::parse_id(&id, "variant")?;
    let c = variant_changes(&body)?;
    let row = super::update_variant(&state.db, id, Some(me.id), c).await?;
    Ok(Json(variant_body(&row)).into_response())
}

/// A variant's stock ledger, newest first.
#[utoipa::path(get, path = "/shop/variants/{id}/stock-moves", tag = "shop-catalog", security(("token" = [])),
    params(("id" = i64, Path), api::PageParams),
    responses((status = 200, body = Page<StockMoveBody>), (status = 400, description = "a query parameter is invalid"),
              (status = 401, description = "no or bad credentials"), (status = 403, description = "not a shop manager"),
              (status = 404, description = "no such variant, or page past the end")))]
async fn list_stock_moves(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    require_manager(&state, &me).await?;
    let id = crate::db::parse_id(&id, "variant")?;
    let paging = PageNumber::from_query(&q, PAGE_SIZE, MAX_PAGE_SIZE)?;
    super::variant_by_id(&state.db, id)
        .await?
        .ok_or_else(|| AppError::not_found("variant"))?;
    let (rows, count) = super::stock_moves(&state.db, id, paging.window()).await?;
    let results = rows.iter().map(stock_move_body).collect();
    let path = format!("/api/shop/variants/{id}/stock-moves");
    Ok(Json(paging.wrap(results, count, &path, &q)?).into_response())
}

fn stock_move_body(m: &StockMoveRow) -> StockMoveBody {
    StockMoveBody {
        id: m.id,
        variant_id: m.variant_id,
        delta: m.delta,
        stock_after: m.stock_after,
        reason: m.reason.clone(),
        order_id: m.order_id,
        actor_id: m.actor_id,
        note: m.note.clone(),
        created_at: api::timestamp(&m.created_at),
    }
}

/// A product photo to upload.
#[derive(ToSchema)]
#[allow(dead_code)] // Only describes the body `upload_image` reads.
pub struct ImageUpload {
    /// PNG, JPEG, GIF or WebP, within the site's size and pixel limits.
    #[schema(value_type = String, format = Binary)]
    image: Vec<u8>,
    /// Text for readers who cannot see it (up to 200 characters).
    #[schema(max_length = 200)]
    alt: Option<String>,
}

/// Add a photo to a product.
///
/// Managers only. The photo is decoded (bounded by pixel count first), re-encoded as JPEG and stored
/// with a thumbnail; a file that is not an image is refused with nothing stored.
#[utoipa::path(post, path = "/shop/products/{slug}/images", tag = "shop-catalog", security(("token" = [])),
    params(("slug" = String, Path)),
    request_body(content = ImageUpload, content_type = "multipart/form-data"),
    responses((status = 201, body = ImageBody), (status = 400, description = "malformed form"),
              (status = 401, description = "no or bad credentials"), (status = 403, description = "not a shop manager"),
              (status = 404, description = "no such product"), (status = 413, description = "too large"),
              (status = 415, description = "not multipart"), (status = 422, description = "not an image we accept")))]
async fn upload_image(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    Path(slug): Path<String>,
    multipart: Multipart,
) -> Result<Response> {
    require_manager(&state, &me).await?;
    let p = visible_product(&state, Some(&*me), &slug).await?;
    let mut form = crate::http::forms::MultipartForm::read(multipart, &["image"]).await?;
    let alt = super::bounded(&form.take_text("alt"), 200, true)
        .map_err(|m| AppError::invalid("alt", m))?;
    let Some(file) = form.take_file("image").filter(|f| !f.bytes.is_empty()) else {
        return Err(AppError::invalid("image", "is required"));
    };
    let key = match super::store_image(&state, file.bytes.to_vec()).await? {
        Ok(key) => key,
        Err(reason) => return Err(AppError::invalid("image", reason)),
    };
    match super::add_image(&state.db, p.id, &key, &alt).await {
        Ok(img) => Ok((StatusCode::CREATED, Json(image_body(&img))).into_response()),
        Err(e) => {
            super::delete_stored_image(&state, &key).await;
            Err(e)
        }
    }
}

// ---------------------------------------------------------------- categories

fn category_bodies(all: Vec<Category>) -> Vec<CategoryBody> {
    let slugs: HashMap<i64, String> = all.iter().map(|c| (c.id, c.slug.clone())).collect();
    super::tree_with_depth(all)
        .into_iter()
        .map(|(c, depth)| CategoryBody {
            id: c.id,
            parent: c.parent_id.and_then(|p| slugs.get(&p).cloned()),
            name: c.name,
            slug: c.slug,
            description: c.description,
            position: c.position,
            depth,
        })
        .collect()
}

/// Every category, in tree order (each followed by its sub-categories).
#[utoipa::path(get, path = "/shop/categories", tag = "shop-catalog",
    responses((status = 200, body = Vec<CategoryBody>)))]
async fn list_categories(State(state): State<AppState>) -> Result<Response> {
    let all = super::categories(&state.db).await?;
    Ok(Json(category_bodies(all)).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct CategoryWrite {
    /// 1 to 100 characters.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = String, min_length = 1, max_length = 100, pattern = r"\S")]
    name: Field,
    /// Made from the name when absent.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = String, required = false, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 200)]
    slug: Field,
    /// The parent category's slug; null for a top-level one.
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>, max_length = 220)]
    parent: Field,
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    description: Field,
    /// Order among its siblings (default 0).
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = i64, required = false, minimum = -1_000_000, maximum = 1_000_000)]
    position: Field,
}

/// Create a category.
///
/// Managers only.
#[utoipa::path(post, path = "/shop/categories", tag = "shop-catalog", security(("token" = [])), request_body = CategoryWrite,
    responses((status = 201, body = CategoryBody), (status = 400, description = "malformed body"),
              (status = 401, description = "no or bad credentials"), (status = 403, description = "not a shop manager"),
              (status = 409, description = "slug taken"), (status = 415, description = "not JSON"),
              (status = 422, description = "invalid field (named)")))]
async fn create_category(
    State(state): State<AppState>,
    RequireUser(me): RequireUser,
    ApiJson(body): ApiJson<CategoryWrite>,
) -> Result<Response> {
    require_manager(&state, &me).await?;
    let mut errors = FieldErrors::new();
    let name = match &body.name {
        Some(Some(x)) => string_field(&mut errors, "name", x).and_then(|s| {
            checked(
                &mut errors,
                "name",
                super::parse_name(&s).and_then(|n| {
                    if n.chars().count() > super::CATEGORY_NAME_MAX {
                        Err(format!(
                            "is too long (maximum is {} characters)",
                            super::CATEGORY_NAME_MAX
                        ))
                    } else {
                        Ok(n)
                    }
                }),
            )
        }),
        _ => {
            errors.add("name", "can't be blank");
            None
        }
    };
    let slug = match &body.slug {
        Some(Some(x)) => string_field(&mut errors, "slug", x)
            .and_then(|s| checked(&mut errors, "slug", super::parse_slug(&s))),
        _ => None,
    };
    let parent = match &body.parent {
        Some(Some(x)) => string_field(&mut errors, "parent", x).map(|s| s.trim().to_string()),
        _ => None,
    };
    let description = match &body.description {
        Some(Some(x)) => string_field(&mut errors, "description", x)
            .and_then(|s| checked(&mut errors, "description", super::bounded(&s, 2000, true)))
            .unwrap_or_default(),
        _ => String::new(),
    };
    let position = match &body.position {
        Some(Some(x)) => int_field(&mut errors, "position", x)
            .and_then(|n| {
                checked(
                    &mut errors,
                    "position",
                    if (-super::POSITION_MAX..=super::POSITION_MAX).contains(&n) {
                        Ok(n as i32)
                    } else {
                        Err(format!(
                            "must be a whole number from -{m} to {m}",
                            m = super::POSITION_MAX
                        ))
                    },
                )
            })
            .unwrap_or(0),
        _ => 0,
    };
    errors.into_result()?;
    let c = super::create_category(
        &state.db,
        NewCategory {
            name: name.unwrap_or_default(),
            slug,
            parent,
            description,
            position,
        },
    )
    .await?;
    let body = category_bodies(super::categories(&state.db).await?)
        .into_iter()
        .find(|b| b.id == c.id)
        .ok_or_else(|| AppError::not_found("category"))?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
