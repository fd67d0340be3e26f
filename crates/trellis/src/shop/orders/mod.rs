//! Orders after checkout: their states, events, refunds and expiry.

pub mod api;
pub mod pages;
