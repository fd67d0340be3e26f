//! Trellis: the blog, to-do, shop, sentiment and roadmap-tracker applications on one foundation,
//! as one web server and management CLI.

pub mod accounts;
pub mod admin;
pub mod app;
pub mod blocking;
pub mod blog;
pub mod cache;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod fixtures;
pub mod http;
pub mod images;
pub mod jobs;
pub mod mail;
pub mod markdown;
pub mod records;
pub mod registry;
pub mod sentiment;
pub mod shared_redis;
pub mod shop;
pub mod site;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod todo;
pub mod tracker;

pub use app::{Application, StartOptions};
pub use config::Settings;
