//! Product reviews, each scored by the sentiment engine when saved.

pub mod api;
