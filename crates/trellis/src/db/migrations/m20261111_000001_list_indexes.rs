//! Indexes for list orderings that scanned and sorted a whole table (found with `EXPLAIN` on both
//! databases; see docs/performance.md): the staff order list, the manager's catalog and its name
//! ordering, "my posts", a product's reviews, the customer's orders, and the admin's comment and review
//! lists. Each matches its list's filter and `ORDER BY`, with the id as the tie-breaker.

use sea_orm_migration::prelude::*;

use super::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261111_000001_list_indexes"
    }
}

const INDEXES: &[(&str, &str)] = &[
    ("shop_orders_created", "shop_orders (created_at, id)"),
    (
        "shop_orders_user_created",
        "shop_orders (user_id, created_at, id)",
    ),
    ("shop_products_created", "shop_products (created_at, id)"),
    (
        "shop_products_active_name",
        "shop_products (active, name, id)",
    ),
    (
        "shop_reviews_product_helpful_created",
        "shop_reviews (product_id, helpful, created_at, id)",
    ),
    ("shop_reviews_created", "shop_reviews (created_at, id)"),
    (
        "blog_posts_author_created",
        "blog_posts (author_id, created_at, id)",
    ),
    ("blog_comments_created", "blog_comments (created_at, id)"),
];

/// One statement per index, joined into a script.
fn each(statement: impl Fn(&str, &str) -> String) -> String {
    INDEXES
        .iter()
        .map(|(name, on)| statement(name, on))
        .collect::<Vec<_>>()
        .join(";\n")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(
            manager,
            &each(|name, on| format!("CREATE INDEX {name} ON {on}")),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, &each(|name, _| format!("DROP INDEX {name}"))).await
    }
}
