//! The storefront's catalog pages: `/shop/` (search, category tree, price range, stock, ordering and
//! pages, all in one plain GET form) and `/shop/products/{slug}` (photos, description, variants and
//! the add-to-cart form). Both work without JavaScript.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query};
use axum::response::Response;
use axum::routing::get;
use minijinja::{Value, context};

use super::{Image, Product, VariantRow};
use crate::error::{AppError, Result};
use crate::http::templates::Ctx;
use crate::shop::{models, money};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/shop/", get(catalog))
        .route("/shop/products/{slug}", get(product))
}

const PAGE_SIZE: u64 = 24;

/// The ordering menu: value (an API ordering) and label.
const SORTS: &[(&str, &str)] = &[
    ("-created", "Newest first"),
    ("price", "Price, low to high"),
    ("-price", "Price, high to low"),
    ("name", "Name, A to Z"),
    ("rating", "Best rated"),
];

/// Prices typed on the page are in the major unit (`12.50`); the filter works in minor units.
fn major_to_minor(q: &mut HashMap<String, String>, name: &str) -> Result<String> {
    let raw = q
        .get(name)
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if raw.is_empty() {
        q.remove(name);
        return Ok(raw);
    }
    let minor = money::parse_major(&raw, "USD").map_err(|m| AppError::bad_request(name, m))?;
    q.insert(name.to_string(), minor.to_string());
    Ok(raw)
}

/// What a stock level tells a customer.
pub fn stock_state(stock: i64) -> String {
    match stock {
        s if s <= 0 => "Out of stock".into(),
        s if s <= 5 => format!("Only {s} left"),
        _ => "In stock".into(),
    }
}

fn card(p: &Product, variants: &[VariantRow], images: &[Image]) -> Value {
    context! {
        id => p.id,
        slug => p.slug,
        name => p.name,
        url => format!("/shop/products/{}", p.slug),
        price => p.price.map(|a| money::format(a, &p.currency)),
        in_stock => variants.iter().any(|v| v.stock > 0),
        rating => p.rating.map(|r| format!("{r:.1}")),
        review_count => p.review_count,
        thumbnail => images.first().map(Image::thumbnail_url),
        alt => images.first().map(|i| i.alt.clone()),
    }
}

async fn catalog(ctx: Ctx, Query(mut q): Query<HashMap<String, String>>) -> Result<Response> {
    let min_shown = major_to_minor(&mut q, "min_price")?;
    let max_shown = major_to_minor(&mut q, "max_price")?;
    let (mut filters, ordering) = super::query_filters(&q)?;
    let page = match q.get("page").map(|s| s.trim()).unwrap_or("") {
        "" => 1,
        p => p
            .parse::<u64>()
            .ok()
            .filter(|p| (1..=crate::http::api::MAX_PAGE).contains(p))
            .ok_or_else(|| AppError::not_found("page"))?,
    };
    let db = &ctx.state.db;
    filters.include_inactive = match &ctx.user {
        Some(u) => models::is_manager(db, u).await?,
        None => false,
    };
    let window = crate::db::Window {
        offset: (page - 1).saturating_mul(PAGE_SIZE),
        limit: PAGE_SIZE,
    };
    let (products, count) = super::list_products(db, &filters, ordering, window).await?;
    let pages = count.div_ceil(PAGE_SIZE).max(1);
    if page > pages {
        return Err(AppError::not_found("page"));
    }
    let ids: Vec<i64> = products.iter().map(|p| p.id).collect();
    let mut variants = super::variants_of(db, &ids).await?;
    let mut images = super::images_of(db, &ids).await?;
    let cards: Vec<Value> = products
        .iter()
        .map(|p| {
            card(
                p,
                &variants.remove(&p.id).unwrap_or_default(),
                &images.remove(&p.id).unwrap_or_default(),
            )
        })
        .collect();
    let tree = super::tree_with_depth(super::categories(db).await?);
    let category = filters.category.clone().unwrap_or_default();
    let in_stock = filters.in_stock == Some(true);
    let text = filters.q.clone().unwrap_or_default();
    let link = |page: u64, category: &str| {
        let mut qs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", text.as_str()),
            ("category", category),
            ("min_price", min_shown.as_str()),
            ("max_price", max_shown.as_str()),
            ("in_stock", if in_stock { "true" } else { "" }),
            (
                "ordering",
                if ordering == super::Ordering::default() {
                    ""
                } else {
                    ordering.as_str()
                },
            ),
        ] {
            if !v.is_empty() {
                qs.append_pair(k, v);
            }
        }
        if page > 1 {
            qs.append_pair("page", &page.to_string());
        }
        let qs = qs.finish();
        if qs.is_empty() {
            "/shop/".to_string()
        } else {
            format!("/shop/?{qs}")
        }
    };
    let category_links: Vec<Value> = tree
        .iter()
        .map(|(c, depth)| {
            context! { url => link(1, &c.slug), slug => c.slug, name => c.name, depth => depth }
        })
        .collect();
    let all_url = link(1, "");
    let prev = (page > 1).then(|| link(page - 1, &category));
    let next = (page < pages).then(|| link(page + 1, &category));
    let sorts: Vec<Value> = SORTS
        .iter()
        .map(|(value, label)| context! { value => value, label => label })
        .collect();
    ctx.render(
        "shop/catalog.html",
        context! {
            products => cards,
            count => count,
            categories => category_links,
            all_url => all_url,
            category => category,
            q => text,
            min_price => min_shown,
            max_price => max_shown,
            in_stock => in_stock,
            ordering => ordering.as_str(),
            sorts => sorts,
            pagination => context! {
                page => page, pages => pages,
                prev => prev,
                next => next,
            },
        },
    )
    .await
}

/// What the add-to-cart form held when the cart refused it, sent back so the form shows it again.
#[derive(serde::Deserialize)]
struct Choice {
    variant: Option<String>,
    quantity: Option<String>,
}

async fn product(
    ctx: Ctx,
    Path(slug): Path<String>,
    Query(choice): Query<Choice>,
) -> Result<Response> {
    let db = &ctx.state.db;
    let p = super::product_by_slug(db, &slug)
        .await?
        .ok_or_else(|| AppError::not_found("product"))?;
    if !p.active {
        let manager = match &ctx.user {
            Some(u) => models::is_manager(db, u).await?,
            None => false,
        };
        if !manager {
            return Err(AppError::not_found("product"));
        }
    }
    let variants = super::variants_of(db, &[p.id])
        .await?
        .remove(&p.id)
        .unwrap_or_default();
    let images: Vec<Value> = super::images_of(db, &[p.id])
        .await?
        .remove(&p.id)
        .unwrap_or_default()
        .iter()
        .map(|i| context! { url => i.url(), thumbnail_url => i.thumbnail_url(), alt => i.alt })
        .collect();
    let variant_values: Vec<Value> = variants
        .iter()
        .map(|v| {
            let options: Vec<String> = v
                .options()
                .into_iter()
                .map(|(k, val)| format!("{k}: {val}"))
                .collect();
            let label = if !v.name.is_empty() {
                v.name.clone()
            } else if !options.is_empty() {
                options.join(", ")
            } else {
                v.sku.clone()
            };
            context! {
                id => v.id,
                sku => v.sku,
                label => label,
                options => options,
                price => money::format(v.price, &p.currency),
                stock => v.stock,
                stock_state => stock_state(v.stock),
                available => v.stock > 0,
            }
        })
        .collect();
    let url = format!("/shop/products/{}", p.slug);
    let reviews = crate::shop::reviews::section(&ctx.state.db, ctx.user.as_deref(), p.id).await?;
    ctx.render(
        "shop/product.html",
        context! {
            product => context! {
                id => p.id,
                slug => p.slug,
                name => p.name,
                description_html => Value::from_safe_string(p.description_html.clone()),
                category => p.category_slug,
                price => p.price.map(|a| money::format(a, &p.currency)),
                rating => p.rating.map(|r| format!("{r:.1}")),
                review_count => p.review_count,
                active => p.active,
                url => url,
            },
            product_id => p.id,
            reviews => Value::from_serialize(&reviews),
            images => images,
            variants => variant_values,
            any_available => variants.iter().any(|v| v.stock > 0),
            selected => choice
                .variant
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|id| variants.iter().any(|v| v.id == *id && v.stock > 0))
                .or_else(|| variants.iter().find(|v| v.stock > 0).map(|v| v.id)),
            quantity => choice.quantity.filter(|q| q.len() <= 20).unwrap_or_else(|| "1".into()),
            next => url,
        },
    )
    .await
}
