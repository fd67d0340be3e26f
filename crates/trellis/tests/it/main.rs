//! Black-box tests: each starts Trellis on a random port with its own fresh database and talks HTTP to it.
//! Every database test runs on SQLite, and on PostgreSQL too when `TEST_DATABASE_URL` is set.

#[macro_use]
mod helpers;

mod accounts;
mod admin;
mod api;
mod blog;
mod browser;
mod cache;
mod cli;
mod concurrency;
mod durability;
mod fixtures;
mod hostile;
mod markdown;
mod object_storage;
mod records;
mod scale_out;
mod sentiment;
mod sentiment_jobs;
mod server;
mod shop_browser;
mod shop_catalog;
mod shop_checkout;
mod shop_concurrency;
mod shop_orders;
mod shop_reviews;
mod site;
mod site_sweep;
mod todo;
mod todo_browser;
mod tracker;
mod uploads;
mod validators;
