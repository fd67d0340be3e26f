//! Carts, vouchers, shipping, checkout and payment.

pub mod api;
pub mod pages;
