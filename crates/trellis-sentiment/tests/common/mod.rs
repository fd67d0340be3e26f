//! What the data tests share: finding the outside data they need.

/// The value of a variable naming data a test needs. Unset: the test says it was skipped and passes;
/// under CI (`CI=true`) the missing data fails the run instead.
pub fn service(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("{var} is not set but CI=true: the data tests must run in CI")
        }
        _ => {
            println!("skipped: {var} not set");
            None
        }
    }
}
