//! The catalog: categories as a tree, products with variants and images.
//!
//! A product always has at least one variant (created with it); its price is its cheapest variant's.
//! Every change of stock made here is a row of the ledger (`initial` for a new variant's stock,
//! `correction` for a manager's count, `import` for the CSV import).
//!
//! Descriptions are Markdown, rendered with the site's one renderer (the blog's, `pulldown-cmark` and
//! `ammonia`) once, when saved.

pub mod api;
pub mod import;
pub mod pages;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, FromQueryResult, Statement, Value};

use super::models::{self, StockMove, StockReason};
use super::money;
use crate::db::{Db, Window};
use crate::error::{AppError, FieldErrors, Result, Unique};

pub const NAME_MAX: usize = 200;
pub const CATEGORY_NAME_MAX: usize = 100;
pub const DESCRIPTION_MAX: usize = 20_000;
pub const SKU_MAX: usize = 64;
pub const VARIANT_NAME_MAX: usize = 100;
pub const OPTIONS_MAX: usize = 20;
pub const OPTION_KEY_MAX: usize = 50;
pub const OPTION_VALUE_MAX: usize = 100;
/// The most one variant may hold in stock.
pub const STOCK_MAX: i64 = 1_000_000_000;
pub const WEIGHT_MAX: i64 = 1_000_000_000;
pub const POSITION_MAX: i64 = 1_000_000;
/// Slugs made from names stop here, leaving room for `-<n>` within the column's 220.
const SLUG_BASE_MAX: usize = 200;

/// One SKU, one variant.
pub const SKU_UNIQUE: Unique = Unique {
    name: "shop_variants_sku_key",
    columns: "shop_variants.sku",
    field: "sku",
};

const CATEGORY_SLUG_UNIQUE: Unique = Unique {
    name: "shop_categories_slug_key",
    columns: "shop_categories.slug",
    field: "slug",
};

// ---------------------------------------------------------------- checks

/// A URL slug from a name: lowercase ASCII letters and digits joined by single dashes; `fallback` when
/// nothing is left.
pub fn slugify(name: &str, fallback: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= SLUG_BASE_MAX {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        fallback.to_string()
    } else {
        slug.to_string()
    }
}

/// A slug typed by a manager: what [`slugify`] would keep of it, and not empty.
pub fn parse_slug(raw: &str) -> std::result::Result<String, String> {
    let s = raw.trim();
    if s.is_empty() || s.len() > SLUG_BASE_MAX {
        return Err(format!("must be 1 to {SLUG_BASE_MAX} characters"));
    }
    if slugify(s, "") != s {
        return Err("may hold only lowercase letters, digits and single dashes".into());
    }
    Ok(s.to_string())
}

pub fn bounded(raw: &str, max: usize, blank_ok: bool) -> std::result::Result<String, String> {
    let t = raw.trim();
    if !blank_ok && t.is_empty() {
        return Err("can't be blank".into());
    }
    if t.chars().count() > max {
        return Err(format!("is too long (maximum is {max} characters)"));
    }
    if t.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err("must not contain control characters".into());
    }
    Ok(t.to_string())
}

pub fn parse_name(raw: &str) -> std::result::Result<String, String> {
    let t = bounded(raw, NAME_MAX, false)?;
    if t.contains(['\n', '\r', '\t']) {
        return Err("must be one line".into());
    }
    Ok(t)
}

pub fn parse_description(raw: &str) -> std::result::Result<String, String> {
    bounded(raw, DESCRIPTION_MAX, true)
}

pub fn parse_variant_name(raw: &str) -> std::result::Result<String, String> {
    let t = bounded(raw, VARIANT_NAME_MAX, true)?;
    if t.contains(['\n', '\r', '\t']) {
        return Err("must be one line".into());
    }
    Ok(t)
}

/// A SKU: 1 to 64 printable ASCII characters without spaces.
pub fn parse_sku(raw: &str) -> std::result::Result<String, String> {
    let t = raw.trim();
    if t.is_empty() || t.len() > SKU_MAX {
        return Err(format!("must be 1 to {SKU_MAX} characters"));
    }
    if !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("may hold only printable ASCII characters without spaces".into());
    }
    Ok(t.to_string())
}

pub fn check_stock(n: i64) -> std::result::Result<i64, String> {
    if (0..=STOCK_MAX).contains(&n) {
        Ok(n)
    } else {
        Err(format!("must be a whole number from 0 to {STOCK_MAX}"))
    }
}

pub fn check_weight(n: i64) -> std::result::Result<i32, String> {
    if (0..=WEIGHT_MAX).contains(&n) {
        Ok(n as i32)
    } else {
        Err(format!("must be a whole number from 0 to {WEIGHT_MAX}"))
    }
}

/// Checks a variant's options: at most [`OPTIONS_MAX`] names, each a short one-line string.
pub fn check_options(
    options: &BTreeMap<String, String>,
) -> std::result::Result<BTreeMap<String, String>, String> {
    if options.len() > OPTIONS_MAX {
        return Err(format!("may hold at most {OPTIONS_MAX} options"));
    }
    let mut out = BTreeMap::new();
    for (k, v) in options {
        let key = k.trim();
        if key.is_empty()
            || key.chars().count() > OPTION_KEY_MAX
            || key.chars().any(char::is_control)
        {
            return Err(format!(
                "option names must be 1 to {OPTION_KEY_MAX} characters on one line"
            ));
        }
        if v.chars().count() > OPTION_VALUE_MAX || v.chars().any(char::is_control) {
            return Err(format!(
                "option values must be at most {OPTION_VALUE_MAX} characters on one line"
            ));
        }
        out.insert(key.to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// Renders a description (already bounded by [`parse_description`]) to sanitized HTML off the async
/// threads; one that nests too deep is a 422 naming `description`.
pub async fn render_description(source: String) -> Result<String> {
    crate::markdown::render_checked(source, "description", usize::MAX).await
}

// ---------------------------------------------------------------- categories

#[derive(Clone, Debug, FromQueryResult)]
pub struct Category {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub position: i32,
    pub created_at: DateTime<Utc>,
}

const CATEGORY_COLUMNS: &str = "id, parent_id, name, slug, description, position, created_at";

/// Every category, parents before their children, siblings by position then name.
pub async fn categories(db: &impl ConnectionTrait) -> std::result::Result<Vec<Category>, DbErr> {
    let all = Category::find_by_statement(Statement::from_string(
        db.get_database_backend(),
        format!("SELECT {CATEGORY_COLUMNS} FROM shop_categories ORDER BY position, name, id"),
    ))
    .all(db)
    .await?;
    Ok(tree_order(all))
}

/// Categories in tree order (each followed by its descendants), with their depth.
pub fn tree_order(all: Vec<Category>) -> Vec<Category> {
    tree_with_depth(all).into_iter().map(|(c, _)| c).collect()
}

/// Categories in tree order, each with its depth (0 for a root).
pub fn tree_with_depth(all: Vec<Category>) -> Vec<(Category, usize)> {
    let ids: std::collections::HashSet<i64> = all.iter().map(|c| c.id).collect();
    let mut children: HashMap<Option<i64>, Vec<Category>> = HashMap::new();
    for c in all {
        let parent = c.parent_id.filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(c);
    }
    let mut out = Vec::new();
    let mut stack: Vec<(Category, usize)> = children
        .remove(&None)
        .unwrap_or_default()
        .into_iter()
        .rev()
        .map(|c| (c, 0))
        .collect();
    while let Some((c, depth)) = stack.pop() {
        if let Some(kids) = children.remove(&Some(c.id)) {
            stack.extend(kids.into_iter().rev().map(|k| (k, depth + 1)));
        }
        out.push((c, depth));
    }
    out
}

pub async fn category_by_slug(
    db: &impl ConnectionTrait,
    slug: &str,
) -> std::result::Result<Option<Category>, DbErr> {
    Category::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!("SELECT {CATEGORY_COLUMNS} FROM shop_categories WHERE slug = $1"),
        [slug.into()],
    ))
    .one(db)
    .await
}

/// The ids of a category and all of its sub-categories, in one recursive query.
pub async fn descendant_ids(
    db: &impl ConnectionTrait,
    root: i64,
) -> std::result::Result<Vec<i64>, DbErr> {
    #[derive(FromQueryResult)]
    struct Id {
        id: i64,
    }
    let rows = Id::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!(
            "WITH RECURSIVE {} SELECT id FROM tree ORDER BY id",
            tree_cte("id = $1")
        ),
        [root.into()],
    ))
    .all(db)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// `tree(id) AS (…)`: the categories matching `root_condition` and all their descendants. The tree
/// cannot loop: a category's parent is set when it is created and must exist already.
fn tree_cte(root_condition: &str) -> String {
    format!(
        "tree(id) AS (SELECT id FROM shop_categories WHERE {root_condition} \
         UNION ALL SELECT c.id FROM shop_categories c JOIN tree t ON c.parent_id = t.id)"
    )
}

pub struct NewCategory {
    pub name: String,
    /// Made from the name when absent.
    pub slug: Option<String>,
    /// The parent's slug.
    pub parent: Option<String>,
    pub description: String,
    pub position: i32,
}

/// Creates a category; an unknown parent is a 422 naming `parent`, a taken slug a 409 naming `slug`
/// (a slug made from the name takes the next free `-<n>` instead).
pub async fn create_category(db: &Db, new: NewCategory) -> Result<Category> {
    let txn = db.begin().await?;
    let parent_id = match &new.parent {
        None => None,
        Some(p) => Some(
            category_by_slug(&txn, p)
                .await?
                .ok_or_else(|| AppError::invalid("parent", "no such category"))?
                .id,
        ),
    };
    let slug = match new.slug {
        Some(s) => s,
        None => unique_slug(&txn, "shop_categories", &slugify(&new.name, "category")).await?,
    };
    let row = Category::find_by_statement(Statement::from_sql_and_values(
        txn.get_database_backend(),
        format!(
            "INSERT INTO shop_categories (parent_id, name, slug, description, position, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {CATEGORY_COLUMNS}"
        ),
        [
            parent_id.into(),
            new.name.into(),
            slug.into(),
            new.description.into(),
            new.position.into(),
            models::now().into(),
        ],
    ))
    .one(&txn)
    .await
    .map_err(|e| crate::error::on_unique(e, &[CATEGORY_SLUG_UNIQUE]))?
    .ok_or_else(|| AppError::Internal(anyhow::anyhow!("insert returned nothing")))?;
    txn.commit().await?;
    Ok(row)
}

// ---------------------------------------------------------------- slugs

/// A slug without its trailing `-<number>` parts: every slug [`unique_slug`] can pick from a base
/// shares the base's stem, so locking the stem serializes every creation that could collide.
fn slug_stem(slug: &str) -> &str {
    let mut stem = slug;
    while let Some((head, tail)) = stem.rsplit_once('-')
        && !head.is_empty()
        && !tail.is_empty()
        && tail.bytes().all(|b| b.is_ascii_digit())
    {
        stem = head;
    }
    stem
}

/// The first free slug of `table` among `base`, `base-2`, `base-3`, …, within `txn`; creations that
/// could pick the same one take turns (see [`crate::db::lock`]).
async fn unique_slug(
    txn: &DatabaseTransaction,
    table: &'static str,
    base: &str,
) -> std::result::Result<String, DbErr> {
    crate::db::lock(txn, table, slug_stem(base)).await?;
    #[derive(FromQueryResult)]
    struct Row {
        slug: String,
    }
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        txn.get_database_backend(),
        format!("SELECT slug FROM {table} WHERE slug = $1 OR slug LIKE $2 ESCAPE '\\'"),
        [
            base.into(),
            format!("{}-%", crate::db::like_escape(base)).into(),
        ],
    ))
    .all(txn)
    .await?;
    let taken: std::collections::HashSet<String> = rows.into_iter().map(|r| r.slug).collect();
    if !taken.contains(base) {
        return Ok(base.to_string());
    }
    let mut n = 2u64;
    loop {
        let candidate = format!("{base}-{n}");
        if !taken.contains(&candidate) {
            return Ok(candidate);
        }
        n += 1;
    }
}

// ---------------------------------------------------------------- products

#[derive(Clone, Debug, FromQueryResult)]
pub struct Product {
    pub id: i64,
    pub category_id: Option<i64>,
    pub category_slug: Option<String>,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub description_html: String,
    pub currency: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The cheapest variant's price.
    pub price: Option<i64>,
    /// The average review rating; `None` while unrated.
    pub rating: Option<f64>,
    pub review_count: i64,
}

const PRICE_SQL: &str = "(SELECT MIN(v.price) FROM shop_variants v WHERE v.product_id = p.id)";
const RATING_SQL: &str = "(SELECT AVG(CAST(r.rating AS DOUBLE PRECISION)) FROM shop_reviews r WHERE r.product_id = p.id)";

fn product_select() -> String {
    format!(
        "SELECT p.id, p.category_id, c.slug AS category_slug, p.name, p.slug, p.description, \
         p.description_html, p.currency, p.active, p.created_at, p.updated_at, {PRICE_SQL} AS price, \
         {RATING_SQL} AS rating, \
         (SELECT COUNT(*) FROM shop_reviews r WHERE r.product_id = p.id) AS review_count \
         FROM shop_products p LEFT JOIN shop_categories c ON c.id = p.category_id"
    )
}

pub async fn product_by_slug(
    db: &impl ConnectionTrait,
    slug: &str,
) -> std::result::Result<Option<Product>, DbErr> {
    if slug.len() > 220 {
        return Ok(None);
    }
    Product::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!("{} WHERE p.slug = $1", product_select()),
        [slug.into()],
    ))
    .one(db)
    .await
}

pub async fn product_by_id(
    db: &impl ConnectionTrait,
    id: i64,
) -> std::result::Result<Option<Product>, DbErr> {
    Product::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!("{} WHERE p.id = $1", product_select()),
        [id.into()],
    ))
    .one(db)
    .await
}

/// How a product list is sorted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Ordering {
    Price,
    PriceDesc,
    Name,
    #[default]
    Newest,
    Rating,
}

impl Ordering {
    pub const ALL: [(&'static str, Ordering); 5] = [
        ("price", Ordering::Price),
        ("-price", Ordering::PriceDesc),
        ("name", Ordering::Name),
        ("-created", Ordering::Newest),
        ("rating", Ordering::Rating),
    ];

    pub fn parse(raw: &str) -> Option<Ordering> {
        Ordering::ALL
            .into_iter()
            .find(|(k, _)| *k == raw)
            .map(|(_, o)| o)
    }

    pub fn as_str(self) -> &'static str {
        Ordering::ALL
            .into_iter()
            .find(|(_, o)| *o == self)
            .map(|(k, _)| k)
            .unwrap_or("-created")
    }

    fn sql(self) -> String {
        match self {
            Ordering::Price => format!("{PRICE_SQL} ASC, p.id ASC"),
            Ordering::PriceDesc => format!("{PRICE_SQL} DESC, p.id ASC"),
            Ordering::Name => "p.name ASC, p.id ASC".into(),
            Ordering::Newest => "p.created_at DESC, p.id DESC".into(),
            Ordering::Rating => format!(
                "CASE WHEN {RATING_SQL} IS NULL THEN 1 ELSE 0 END, {RATING_SQL} DESC, p.id ASC"
            ),
        }
    }
}

/// What a product list is narrowed to; every filter combines with AND.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    /// A category's slug: products in it or in any of its sub-categories.
    pub category: Option<String>,
    /// On the cheapest variant's price, in minor units.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub in_stock: Option<bool>,
    /// Text in the name, description or a SKU, case-insensitive.
    pub q: Option<String>,
    /// Inactive products too (managers).
    pub include_inactive: bool,
}

/// One page of products and how many match: one statement whatever the page size (see
/// [`crate::db::paged`]).
pub async fn list_products(
    db: &impl ConnectionTrait,
    f: &Filters,
    ordering: Ordering,
    window: Window,
) -> std::result::Result<(Vec<Product>, u64), DbErr> {
    let mut values: Vec<Value> = Vec::new();
    let mut conds: Vec<String> = Vec::new();
    if let Some(slug) = &f.category {
        values.push(slug.clone().into());
        // The tree inside the condition, not ahead of the statement, so the count can ride along as a
        // subquery of the page.
        conds.push(format!(
            "p.category_id IN (WITH RECURSIVE {} SELECT id FROM tree)",
            tree_cte(&format!("slug = ${}", values.len()))
        ));
    }
    if !f.include_inactive {
        conds.push("p.active = TRUE".into());
    }
    if let Some(min) = f.min_price {
        values.push(min.into());
        conds.push(format!("{PRICE_SQL} >= ${}", values.len()));
    }
    if let Some(max) = f.max_price {
        values.push(max.into());
        conds.push(format!("{PRICE_SQL} <= ${}", values.len()));
    }
    if let Some(in_stock) = f.in_stock {
        conds.push(format!(
            "{}EXISTS (SELECT 1 FROM shop_variants v WHERE v.product_id = p.id AND v.stock > 0)",
            if in_stock { "" } else { "NOT " }
        ));
    }
    if let Some(q) = f.q.as_deref().filter(|q| !q.is_empty()) {
        values.push(crate::db::like_pattern(q).into());
        let n = values.len();
        conds.push(format!(
            "(LOWER(p.name) LIKE ${n} ESCAPE '\\' OR LOWER(p.description) LIKE ${n} ESCAPE '\\' \
             OR EXISTS (SELECT 1 FROM shop_variants v WHERE v.product_id = p.id \
                        AND LOWER(v.sku) LIKE ${n} ESCAPE '\\'))"
        ));
    }
    let wheres = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    crate::db::paged(
        db,
        format!("SELECT COUNT(*) AS n FROM shop_products p{wheres}"),
        format!("{}{wheres} ORDER BY {}", product_select(), ordering.sql()),
        values,
        window,
    )
    .await
}

/// Bounds on filter text, so a query string cannot make a huge pattern.
pub const Q_MAX: usize = 200;

// ---------------------------------------------------------------- query parameters

fn bool_param(q: &HashMap<String, String>, name: &str) -> Result<Option<bool>> {
    match q.get(name).map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) if s == "true" || s == "1" => Ok(Some(true)),
        Some(s) if s == "false" || s == "0" => Ok(Some(false)),
        Some(_) => Err(AppError::bad_request(name, "must be true or false")),
    }
}

fn amount_param(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>> {
    match q.get(name).map(|s| s.trim()) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=money::MAX_AMOUNT).contains(n))
            .map(Some)
            .ok_or_else(|| {
                AppError::bad_request(
                    name,
                    format!(
                        "must be a whole number of minor units from 0 to {}",
                        money::MAX_AMOUNT
                    ),
                )
            }),
    }
}

/// The list's filters and ordering from a query string; a bad value is a 400 naming its parameter.
pub fn query_filters(q: &HashMap<String, String>) -> Result<(Filters, Ordering)> {
    let mut f = Filters::default();
    if let Some(c) = q
        .get("category")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        if c.len() > 220 {
            return Err(AppError::bad_request("category", "is too long"));
        }
        f.category = Some(c.to_string());
    }
    f.min_price = amount_param(q, "min_price")?;
    f.max_price = amount_param(q, "max_price")?;
    f.in_stock = bool_param(q, "in_stock")?;
    if let Some(text) = q.get("q").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if text.chars().count() > Q_MAX {
            return Err(AppError::bad_request(
                "q",
                format!("is too long (maximum is {Q_MAX} characters)"),
            ));
        }
        f.q = Some(text.to_string());
    }
    let ordering = match q
        .get("ordering")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => Ordering::default(),
        Some(o) => Ordering::parse(o).ok_or_else(|| {
            AppError::bad_request(
                "ordering",
                "must be one of price, -price, name, -created, rating",
            )
        })?,
    };
    Ok((f, ordering))
}

#[derive(Clone, Debug, FromQueryResult)]
pub struct VariantRow {
    pub id: i64,
    pub product_id: i64,
    pub sku: String,
    pub name: String,
    pub options: String,
    pub price: i64,
    pub stock: i64,
    pub weight_grams: i32,
    pub position: i32,
}

impl VariantRow {
    /// Its options as a map (a row written elsewhere that does not parse reads as none).
    pub fn options(&self) -> BTreeMap<String, String> {
        serde_json::from_str(&self.options).unwrap_or_default()
    }
}

const VARIANT_COLUMNS: &str =
    "id, product_id, sku, name, options, price, stock, weight_grams, position";

fn in_list(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The variants of these products, in one statement, grouped by product and in position order.
pub async fn variants_of(
    db: &impl ConnectionTrait,
    product_ids: &[i64],
) -> std::result::Result<HashMap<i64, Vec<VariantRow>>, DbErr> {
    let mut out: HashMap<i64, Vec<VariantRow>> = HashMap::new();
    if product_ids.is_empty() {
        return Ok(out);
    }
    let rows = VariantRow::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!(
            "SELECT {VARIANT_COLUMNS} FROM shop_variants WHERE product_id IN ({}) ORDER BY position, id",
            in_list(1, product_ids.len())
        ),
        product_ids.iter().map(|id| Value::from(*id)),
    ))
    .all(db)
    .await?;
    for r in rows {
        out.entry(r.product_id).or_default().push(r);
    }
    Ok(out)
}

pub async fn variant_by_id(
    db: &impl ConnectionTrait,
    id: i64,
) -> std::result::Result<Option<VariantRow>, DbErr> {
    VariantRow::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!("SELECT {VARIANT_COLUMNS} FROM shop_variants WHERE id = $1"),
        [id.into()],
    ))
    .one(db)
    .await
}

#[derive(Clone, Debug, FromQueryResult)]
pub struct Image {
    pub id: i64,
    pub product_id: i64,
    pub image: String,
    pub alt: String,
    pub position: i32,
}

impl Image {
    pub fn url(&self) -> String {
        crate::storage::Storage::url(&self.image)
    }
    pub fn thumbnail_url(&self) -> String {
        crate::storage::Storage::url(&thumb_key(&self.image))
    }
}

/// Where an image's thumbnail is stored, beside it.
pub fn thumb_key(key: &str) -> String {
    match key.strip_suffix(".jpg") {
        Some(stem) => format!("{stem}.thumb.jpg"),
        None => format!("{key}.thumb"),
    }
}

/// The images of these products, in one statement, grouped by product and in position order.
pub async fn images_of(
    db: &impl ConnectionTrait,
    product_ids: &[i64],
) -> std::result::Result<HashMap<i64, Vec<Image>>, DbErr> {
    let mut out: HashMap<i64, Vec<Image>> = HashMap::new();
    if product_ids.is_empty() {
        return Ok(out);
    }
    let rows = Image::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!(
            "SELECT id, product_id, image, alt, position FROM shop_product_images \
             WHERE product_id IN ({}) ORDER BY position, id",
            in_list(1, product_ids.len())
        ),
        product_ids.iter().map(|id| Value::from(*id)),
    ))
    .all(db)
    .await?;
    for r in rows {
        out.entry(r.product_id).or_default().push(r);
    }
    Ok(out)
}

/// A variant to create (fields already checked).
#[derive(Clone, Debug, Default)]
pub struct NewVariant {
    /// Made from the product's id and the variant's position when absent.
    pub sku: Option<String>,
    pub name: String,
    pub options: BTreeMap<String, String>,
    pub price: i64,
    pub stock: i64,
    pub weight_grams: i32,
}

/// A product to create with its first variant (fields already checked).
#[derive(Clone, Debug)]
pub struct NewProduct {
    pub name: String,
    /// Made from the name when absent (the next free `-<n>` on collision).
    pub slug: Option<String>,
    pub description: String,
    /// A category's slug.
    pub category: Option<String>,
    pub currency: String,
    pub active: bool,
    pub variant: NewVariant,
}

#[derive(FromQueryResult)]
struct Id {
    id: i64,
}

async fn category_id(txn: &impl ConnectionTrait, slug: Option<&str>) -> Result<Option<i64>> {
    match slug {
        None => Ok(None),
        Some(s) => Ok(Some(
            category_by_slug(txn, s)
                .await?
                .ok_or_else(|| AppError::invalid("category", "no such category"))?
                .id,
        )),
    }
}

/// Creates a product and its first variant in one transaction, its stock written to the ledger.
pub async fn create_product(db: &Db, actor_id: Option<i64>, new: NewProduct) -> Result<Product> {
    let html = render_description(new.description.clone()).await?;
    let txn = db.begin().await?;
    let id = insert_product(&txn, actor_id, &new, html, StockReason::Initial).await?;
    txn.commit().await?;
    product_by_id(db, id)
        .await?
        .ok_or_else(|| AppError::not_found("product"))
}

/// [`create_product`]'s writes inside the caller's transaction (the import's); returns the new id.
pub async fn insert_product(
    txn: &DatabaseTransaction,
    actor_id: Option<i64>,
    new: &NewProduct,
    description_html: String,
    reason: StockReason,
) -> Result<i64> {
    let category_id = category_id(txn, new.category.as_deref()).await?;
    let slug = match &new.slug {
        Some(s) => {
            crate::db::lock(txn, "shop_products", slug_stem(s)).await?;
            if product_by_slug(txn, s).await?.is_some() {
                return Err(AppError::Conflict(FieldErrors::single(
                    "slug",
                    crate::error::TAKEN,
                )));
            }
            s.clone()
        }
        None => unique_slug(txn, "shop_products", &slugify(&new.name, "product")).await?,
    };
    let now = models::now();
    let row = Id::find_by_statement(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "INSERT INTO shop_products (category_id, name, slug, description, description_html, currency, \
         active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        [
            category_id.into(),
            new.name.clone().into(),
            slug.into(),
            new.description.clone().into(),
            description_html.into(),
            new.currency.clone().into(),
            new.active.into(),
            now.into(),
        ],
    ))
    .one(txn)
    .await?
    .ok_or_else(|| AppError::Internal(anyhow::anyhow!("insert returned nothing")))?;
    insert_variant(txn, row.id, actor_id, &new.variant, reason).await?;
    Ok(row.id)
}

/// Adds a variant to a product inside the caller's transaction, last in position, and writes its stock
/// to the ledger with `reason`. A taken SKU is a 409 naming `sku`.
pub async fn insert_variant(
    txn: &DatabaseTransaction,
    product_id: i64,
    actor_id: Option<i64>,
    v: &NewVariant,
    reason: StockReason,
) -> Result<VariantRow> {
    crate::db::lock(txn, "shop.product", product_id).await?;
    #[derive(FromQueryResult)]
    struct Pos {
        n: Option<i32>,
    }
    let pos = Pos::find_by_statement(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "SELECT MAX(position) AS n FROM shop_variants WHERE product_id = $1",
        [product_id.into()],
    ))
    .one(txn)
    .await?
    .and_then(|p| p.n)
    .unwrap_or(0)
        + 1;
    let sku = v
        .sku
        .clone()
        .unwrap_or_else(|| format!("P{product_id}-{pos}"));
    let options = serde_json::to_string(&v.options).unwrap_or_else(|_| "{}".into());
    let row = VariantRow::find_by_statement(Statement::from_sql_and_values(
        txn.get_database_backend(),
        format!(
            "INSERT INTO shop_variants (product_id, sku, name, options, price, stock, weight_grams, \
             position, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {VARIANT_COLUMNS}"
        ),
        [
            product_id.into(),
            sku.into(),
            v.name.clone().into(),
            options.into(),
            v.price.into(),
            v.stock.into(),
            v.weight_grams.into(),
            pos.into(),
            models::now().into(),
        ],
    ))
    .one(txn)
    .await
    .map_err(|e| crate::error::on_unique(e, &[SKU_UNIQUE]))?
    .ok_or_else(|| AppError::Internal(anyhow::anyhow!("insert returned nothing")))?;
    if v.stock > 0 {
        models::record_move(
            txn,
            &StockMove {
                variant_id: row.id,
                delta: v.stock,
                reason,
                order_id: None,
                actor_id,
                note: "",
            },
            v.stock,
        )
        .await?;
    }
    Ok(row)
}

/// Adds a variant to a product in its own transaction.
pub async fn add_variant(
    db: &Db,
    product_id: i64,
    actor_id: Option<i64>,
    v: NewVariant,
) -> Result<VariantRow> {
    let txn = db.begin().await?;
    let row = insert_variant(&txn, product_id, actor_id, &v, StockReason::Initial).await?;
    txn.commit().await?;
    Ok(row)
}

/// Changes to a product; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProductChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` takes the product out of its category.
    pub category: Option<Option<String>>,
    pub currency: Option<String>,
    pub active: Option<bool>,
}

/// Applies `c` to product `id`; its slug never changes, so its address stays.
pub async fn update_product(db: &Db, id: i64, c: ProductChanges) -> Result<()> {
    let html = match &c.description {
        Some(d) => Some(render_description(d.clone()).await?),
        None => None,
    };
    let txn = db.begin().await?;
    let backend = txn.get_database_backend();
    let mut sets: Vec<String> = Vec::new();
    let mut values: Vec<Value> = vec![id.into(), models::now().into()];
    let mut set = |col: &str, v: Value, values: &mut Vec<Value>| {
        values.push(v);
        sets.push(format!("{col} = ${}", values.len()));
    };
    if let Some(n) = c.name {
        set("name", n.into(), &mut values);
    }
    if let (Some(d), Some(h)) = (c.description, html) {
        set("description", d.into(), &mut values);
        set("description_html", h.into(), &mut values);
    }
    if let Some(cat) = c.category {
        let cid = category_id(&txn, cat.as_deref()).await?;
        set("category_id", cid.into(), &mut values);
    }
    if let Some(cur) = c.currency {
        set("currency", cur.into(), &mut values);
    }
    if let Some(a) = c.active {
        set("active", a.into(), &mut values);
    }
    sets.push("updated_at = $2".into());
    let res = txn
        .execute_raw(Statement::from_sql_and_values(
            backend,
            format!("UPDATE shop_products SET {} WHERE id = $1", sets.join(", ")),
            values,
        ))
        .await?;
    if res.rows_affected() == 0 {
        return Err(AppError::not_found("product"));
    }
    txn.commit().await?;
    Ok(())
}

/// Takes a product off the shelves: customers no longer see it; its orders keep their lines.
pub async fn deactivate(db: &Db, id: i64) -> Result<()> {
    update_product(
        db,
        id,
        ProductChanges {
            active: Some(false),
            ..Default::default()
        },
    )
    .await
}

/// Changes to a variant; stock is changed only through the ledger.
#[derive(Clone, Debug, Default)]
pub struct VariantChanges {
    pub sku: Option<String>,
    pub name: Option<String>,
    pub options: Option<BTreeMap<String, String>>,
    pub price: Option<i64>,
    pub weight_grams: Option<i32>,
    /// A new stock level (counted by hand).
    pub stock: Option<i64>,
    /// A change of stock (`-3`: three broken).
    pub stock_delta: Option<i64>,
    pub note: String,
}

/// Applies `c` to variant `id` in one transaction. Stock moves are `correction` rows of the ledger;
/// one that would take stock below zero is a 422 naming the field, and changes nothing.
pub async fn update_variant(
    db: &Db,
    id: i64,
    actor_id: Option<i64>,
    c: VariantChanges,
) -> Result<VariantRow> {
    let txn = db.begin().await?;
    let backend = txn.get_database_backend();
    let mut sets: Vec<String> = Vec::new();
    let mut values: Vec<Value> = vec![id.into()];
    let mut set = |col: &str, v: Value, values: &mut Vec<Value>| {
        values.push(v);
        sets.push(format!("{col} = ${}", values.len()));
    };
    if let Some(s) = c.sku {
        set("sku", s.into(), &mut values);
    }
    if let Some(n) = c.name {
        set("name", n.into(), &mut values);
    }
    if let Some(o) = c.options {
        set(
            "options",
            serde_json::to_string(&o)
                .unwrap_or_else(|_| "{}".into())
                .into(),
            &mut values,
        );
    }
    if let Some(p) = c.price {
        set("price", p.into(), &mut values);
    }
    if let Some(w) = c.weight_grams {
        set("weight_grams", w.into(), &mut values);
    }
    if !sets.is_empty() {
        let res = txn
            .execute_raw(Statement::from_sql_and_values(
                backend,
                format!("UPDATE shop_variants SET {} WHERE id = $1", sets.join(", ")),
                values,
            ))
            .await
            .map_err(|e| crate::error::on_unique(e, &[SKU_UNIQUE]))?;
        if res.rows_affected() == 0 {
            return Err(AppError::not_found("variant"));
        }
    }
    let mv = |delta: i64| StockMove {
        variant_id: id,
        delta,
        reason: StockReason::Correction,
        order_id: None,
        actor_id,
        note: &c.note,
    };
    if let Some(level) = c.stock {
        // Compare and set, so a sale between the read and the write is never overwritten.
        loop {
            let current = variant_by_id(&txn, id)
                .await?
                .ok_or_else(|| AppError::not_found("variant"))?;
            let delta = level - current.stock;
            if delta == 0 {
                break;
            }
            let res = txn
                .execute_raw(Statement::from_sql_and_values(
                    backend,
                    "UPDATE shop_variants SET stock = $2 WHERE id = $1 AND stock = $3",
                    [id.into(), level.into(), current.stock.into()],
                ))
                .await?;
            if res.rows_affected() == 1 {
                models::record_move(&txn, &mv(delta), level).await?;
                break;
            }
        }
    }
    if let Some(delta) = c.stock_delta.filter(|d| *d != 0) {
        let current = variant_by_id(&txn, id)
            .await?
            .ok_or_else(|| AppError::not_found("variant"))?;
        if current.stock.saturating_add(delta) > STOCK_MAX {
            return Err(AppError::invalid(
                "stock_delta",
                format!("would take stock above {STOCK_MAX}"),
            ));
        }
        if models::move_stock(&txn, mv(delta)).await?.is_none() {
            return Err(AppError::invalid("stock_delta", "would take stock below 0"));
        }
    }
    let row = variant_by_id(&txn, id)
        .await?
        .ok_or_else(|| AppError::not_found("variant"))?;
    txn.commit().await?;
    Ok(row)
}

#[derive(Clone, Debug, FromQueryResult)]
pub struct StockMoveRow {
    pub id: i64,
    pub variant_id: i64,
    pub delta: i64,
    pub stock_after: i64,
    pub reason: String,
    pub order_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub note: String,
    pub created_at: DateTime<Utc>,
}

/// One page of a variant's ledger, newest first.
pub async fn stock_moves(
    db: &impl ConnectionTrait,
    variant_id: i64,
    window: Window,
) -> std::result::Result<(Vec<StockMoveRow>, u64), DbErr> {
    crate::db::paged(
        db,
        "SELECT COUNT(*) AS n FROM shop_stock_moves WHERE variant_id = $1".into(),
        "SELECT id, variant_id, delta, stock_after, reason, order_id, actor_id, note, created_at \
         FROM shop_stock_moves WHERE variant_id = $1 ORDER BY id DESC"
            .into(),
        vec![variant_id.into()],
        window,
    )
    .await
}

/// Records an image already stored under `key` as the product's last.
pub async fn add_image(db: &Db, product_id: i64, key: &str, alt: &str) -> Result<Image> {
    let txn = db.begin().await?;
    crate::db::lock(&txn, "shop.product", product_id).await?;
    let row = Image::find_by_statement(Statement::from_sql_and_values(
        txn.get_database_backend(),
        "INSERT INTO shop_product_images (product_id, image, alt, position, created_at) \
         VALUES ($1, $2, $3, (SELECT COALESCE(MAX(position), 0) + 1 FROM shop_product_images \
         WHERE product_id = $1), $4) RETURNING id, product_id, image, alt, position",
        [
            product_id.into(),
            key.into(),
            alt.into(),
            models::now().into(),
        ],
    ))
    .one(&txn)
    .await?
    .ok_or_else(|| AppError::Internal(anyhow::anyhow!("insert returned nothing")))?;
    txn.commit().await?;
    Ok(row)
}

/// Where product photos are kept: at most this size, with a thumbnail of the other.
pub const IMAGE_MAX: (u32, u32) = (1600, 1600);
pub const THUMB_SIZE: (u32, u32) = (400, 400);

/// Decodes an upload (bounded by the site's image limits) and stores it and its thumbnail as JPEGs;
/// `Ok(Err(reason))` when the file is not an image we accept, with nothing stored.
pub async fn store_image(
    state: &crate::state::AppState,
    bytes: Vec<u8>,
) -> Result<std::result::Result<String, String>> {
    use crate::images;
    let max = state.settings.max_image_bytes;
    let out = images::process(move || {
        images::decode(&bytes, max).map(|img| {
            (
                images::fit_jpeg(&img, IMAGE_MAX.0, IMAGE_MAX.1),
                images::fill_jpeg(&img, THUMB_SIZE.0, THUMB_SIZE.1),
            )
        })
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))?;
    let (full, thumb) = match out {
        Ok(pair) => pair,
        Err(images::Rejected(m)) => return Ok(Err(m)),
    };
    let key = format!("shop/{}.jpg", uuid::Uuid::new_v4().simple());
    state
        .storage
        .put_pair((&key, &full), (&thumb_key(&key), &thumb))
        .await?;
    Ok(Ok(key))
}

/// Removes a stored image and its thumbnail (after a failed save).
pub async fn delete_stored_image(state: &crate::state::AppState, key: &str) {
    let _ = state.storage.delete(key).await;
    let _ = state.storage.delete(&thumb_key(key)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_made_from_names() {
        assert_eq!(slugify("  Red T-Shirt (XL)! ", "product"), "red-t-shirt-xl");
        assert_eq!(slugify("Čaj", "product"), "aj");
        assert_eq!(slugify("!!!", "product"), "product");
        assert_eq!(slug_stem("mug-3-2"), "mug");
        assert!(parse_slug("Mug").is_err());
        assert_eq!(parse_slug("mug-2").unwrap(), "mug-2");
    }

    fn cat(id: i64, parent: Option<i64>, name: &str) -> Category {
        Category {
            id,
            parent_id: parent,
            name: name.into(),
            slug: name.into(),
            description: String::new(),
            position: 0,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn the_tree_lists_children_under_their_parents() {
        let t = tree_with_depth(vec![
            cat(1, None, "a"),
            cat(2, None, "b"),
            cat(3, Some(1), "a1"),
            cat(4, Some(3), "a1x"),
        ]);
        let names: Vec<(String, usize)> = t.into_iter().map(|(c, d)| (c.name, d)).collect();
        assert_eq!(
            names,
            vec![
                ("a".into(), 0),
                ("a1".into(), 1),
                ("a1x".into(), 2),
                ("b".into(), 0)
            ]
        );
    }
}
