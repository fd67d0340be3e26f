//! The catalog: categories as a tree, products with variants and images.

pub mod api;
pub mod pages;
