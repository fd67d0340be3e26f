//! The catalog as CSV: one row per variant, with the columns [`COLUMNS`]. Rows with the same product
//! slug (or, without one, the same name) are variants of one product, whose other fields come from its
//! first row. An import is all or nothing: every problem is reported with its line and column, and
//! nothing is written unless there is none.

use std::collections::{BTreeMap, HashMap};

use sea_orm::{ConnectionTrait, FromQueryResult, Statement};

use super::{NewProduct, NewVariant};
use crate::db::Db;
use crate::error::AppError;
use crate::shop::models::StockReason;
use crate::shop::money;

/// The columns, in the order an export writes them; an import needs `name`, `price` and `currency`.
pub const COLUMNS: [&str; 10] = [
    "name",
    "slug",
    "category",
    "description",
    "sku",
    "price",
    "currency",
    "stock",
    "weight_grams",
    "options",
];

/// A problem with one cell (or a whole line when `column` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub column: String,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.column.is_empty() {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.message
            )
        }
    }
}

/// `size=L;colour=red` → a map; `None` when it is malformed.
pub fn parse_options(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for part in raw.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not name=value"))?;
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    super::check_options(&out)
}

/// A map → `size=L;colour=red` (names in order).
pub fn format_options(options: &BTreeMap<String, String>) -> String {
    options
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

struct Row {
    line: u64,
    key: String,
    product: NewProduct,
}

fn parse_rows(text: &str) -> Result<Vec<Row>, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(vec![RowError {
                line: 1,
                column: String::new(),
                message: format!("unreadable header: {e}"),
            }]);
        }
    };
    let index: HashMap<&str, usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim(), i))
        .collect();
    for h in headers.iter() {
        if !COLUMNS.contains(&h.trim()) {
            errors.push(RowError {
                line: 1,
                column: h.to_string(),
                message: format!("unknown column (the columns are {})", COLUMNS.join(", ")),
            });
        }
    }
    for required in ["name", "price", "currency"] {
        if !index.contains_key(required) {
            errors.push(RowError {
                line: 1,
                column: required.into(),
                message: "is a required column".into(),
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                errors.push(RowError {
                    line,
                    column: String::new(),
                    message: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let cell =
            |name: &str| -> &str { index.get(name).and_then(|i| record.get(*i)).unwrap_or("") };
        let mut fail = |column: &str, message: String| {
            errors.push(RowError {
                line,
                column: column.into(),
                message,
            })
        };
        let name = super::parse_name(cell("name")).unwrap_or_else(|m| {
            fail("name", m);
            String::new()
        });
        let slug = match cell("slug").trim() {
            "" => None,
            s => super::parse_slug(s).map(Some).unwrap_or_else(|m| {
                fail("slug", m);
                None
            }),
        };
        let category = Some(cell("category").trim())
            .filter(|c| !c.is_empty())
            .map(String::from);
        let description = super::parse_description(cell("description")).unwrap_or_else(|m| {
            fail("description", m);
            String::new()
        });
        let sku = match cell("sku").trim() {
            "" => None,
            s => super::parse_sku(s).map(Some).unwrap_or_else(|m| {
                fail("sku", m);
                None
            }),
        };
        let currency = money::parse_currency(cell("currency")).unwrap_or_else(|m| {
            fail("currency", m);
            "USD".into()
        });
        let price = money::parse_major(cell("price"), &currency).unwrap_or_else(|m| {
            fail("price", m);
            0
        });
        let int = |raw: &str| -> Result<i64, String> {
            match raw.trim() {
                "" => Ok(0),
                t => t.parse::<i64>().map_err(|_| {
                    format!(
                        "`{}` is not a whole number",
                        t.chars().take(30).collect::<String>()
                    )
                }),
            }
        };
        let stock = int(cell("stock"))
            .and_then(super::check_stock)
            .unwrap_or_else(|m| {
                fail("stock", m);
                0
            });
        let weight_grams = int(cell("weight_grams"))
            .and_then(super::check_weight)
            .unwrap_or_else(|m| {
                fail("weight_grams", m);
                0
            });
        let options = parse_options(cell("options")).unwrap_or_else(|m| {
            fail("options", m);
            BTreeMap::new()
        });
        let key = slug.clone().unwrap_or_else(|| format!("name:{name}"));
        rows.push(Row {
            line,
            key,
            product: NewProduct {
                name,
                slug,
                description,
                category,
                currency,
                active: true,
                variant: NewVariant {
                    sku,
                    name: String::new(),
                    options,
                    price,
                    stock,
                    weight_grams,
                },
            },
        });
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push(RowError {
            line: 2,
            column: String::new(),
            message: "the file has no rows".into(),
        });
    }
    let mut skus: HashMap<String, u64> = HashMap::new();
    for r in &rows {
        if let Some(s) = &r.product.variant.sku
            && let Some(first) = skus.insert(s.clone(), r.line)
        {
            errors.push(RowError {
                line: r.line,
                column: "sku".into(),
                message: format!("`{s}` is already on line {first}"),
            });
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// What an import did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    pub products: u64,
    pub variants: u64,
}

/// Imports `text` in one transaction; `progress` is called once per row written. On any problem
/// nothing is written and every problem found is returned.
pub async fn import_csv(
    db: &Db,
    text: &str,
    progress: impl Fn(u64),
) -> anyhow::Result<Result<Imported, Vec<RowError>>> {
    let rows = match parse_rows(text) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let mut htmls = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    for r in &rows {
        match super::render_description(r.product.description.clone()).await {
            Ok(h) => htmls.push(h),
            Err(e) => {
                errors.push(RowError {
                    line: r.line,
                    column: "description".into(),
                    message: field_message(e),
                });
                htmls.push(String::new());
            }
        }
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let txn = db.begin().await?;
    let mut done = Imported::default();
    let mut ids: HashMap<String, i64> = HashMap::new();
    for (r, html) in rows.iter().zip(htmls) {
        let result = match ids.get(&r.key) {
            Some(&id) => {
                super::insert_variant(&txn, id, None, &r.product.variant, StockReason::Import)
                    .await
                    .map(|_| ())
            }
            None => super::insert_product(&txn, None, &r.product, html, StockReason::Import)
                .await
                .map(|id| {
                    ids.insert(r.key.clone(), id);
                    done.products += 1;
                }),
        };
        match result {
            Ok(()) => done.variants += 1,
            Err(e) => {
                let column = match &e {
                    AppError::Conflict(f) | AppError::Validation(f) => {
                        f.0.keys().next().cloned().unwrap_or_default()
                    }
                    _ => String::new(),
                };
                if column.is_empty() {
                    return Err(anyhow::anyhow!("line {}: {e}", r.line));
                }
                // The transaction is dropped, so nothing is written.
                return Ok(Err(vec![RowError {
                    line: r.line,
                    column,
                    message: field_message(e),
                }]));
            }
        }
        progress(1);
    }
    txn.commit().await?;
    Ok(Ok(done))
}

fn field_message(e: AppError) -> String {
    match e {
        AppError::Conflict(f) | AppError::Validation(f) => {
            f.0.into_values().flatten().collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    }
}

#[derive(FromQueryResult)]
struct ExportRow {
    name: String,
    slug: String,
    category: Option<String>,
    description: String,
    sku: String,
    price: i64,
    currency: String,
    stock: i64,
    weight_grams: i32,
    options: String,
}

/// How many variants an export writes.
pub async fn count_variants(db: &impl ConnectionTrait) -> Result<u64, sea_orm::DbErr> {
    crate::db::count(db, "SELECT COUNT(*) AS n FROM shop_variants".into(), vec![]).await
}

/// Every variant as CSV rows under [`COLUMNS`], products in creation order, variants in position order.
pub async fn export_csv(
    db: &impl ConnectionTrait,
    out: impl std::io::Write,
    progress: impl Fn(u64),
) -> anyhow::Result<u64> {
    let rows = ExportRow::find_by_statement(Statement::from_string(
        db.get_database_backend(),
        "SELECT p.name, p.slug, c.slug AS category, p.description, v.sku, v.price, p.currency, v.stock, \
         v.weight_grams, v.options FROM shop_variants v JOIN shop_products p ON p.id = v.product_id \
         LEFT JOIN shop_categories c ON c.id = p.category_id ORDER BY p.id, v.position, v.id",
    ))
    .all(db)
    .await?;
    let mut w = csv::Writer::from_writer(out);
    w.write_record(COLUMNS)?;
    let mut n = 0;
    for r in rows {
        let options: BTreeMap<String, String> =
            serde_json::from_str(&r.options).unwrap_or_default();
        w.write_record([
            r.name,
            r.slug,
            r.category.unwrap_or_default(),
            r.description,
            r.sku,
            money::to_major(r.price, &r.currency),
            r.currency,
            r.stock.to_string(),
            r.weight_grams.to_string(),
            format_options(&options),
        ])?;
        n += 1;
        progress(1);
    }
    w.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_and_write_as_name_value_pairs() {
        let o = parse_options("size=L; colour = red").unwrap();
        assert_eq!(format_options(&o), "colour=red;size=L");
        assert!(parse_options("size").is_err());
        assert!(parse_options("").unwrap().is_empty());
    }

    #[test]
    fn every_bad_cell_is_named_with_its_line() {
        let text = "name,price,currency,stock\nMug,1.00,USD,3\nCup,abc,USD,-1\n";
        let errors = parse_rows(text).err().unwrap();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            shown.iter().any(|s| s.starts_with("line 3, column price")),
            "{shown:?}"
        );
        assert!(
            shown.iter().any(|s| s.starts_with("line 3, column stock")),
            "{shown:?}"
        );
    }
}
