//! The to-do app: each user's own tasks, with priorities, due dates, manual order, filters and sorting,
//! as a page at `/todos` and as a DRF-style API at `/api/todos`. Nobody sees anyone else's tasks: another
//! user's task answers 404, as a missing one does.

pub mod admin;
pub mod api;
pub mod models;
mod pages;

use std::collections::HashMap;

use axum::Router;
use chrono::NaiveDate;

use crate::error::AppError;
use crate::state::AppState;
use models::{Filters, Ordering, Priority, SortField};

pub fn router() -> Router<AppState> {
    pages::router()
}

/// The to-do app: each user's own tasks, as a page and a DRF-style API.
pub fn app() -> crate::registry::AppConfig {
    crate::registry::AppConfig {
        label: "todo",
        name: "To-do",
        pages: router,
        api: Some(api::router),
        api_tags: &[(
            "todos",
            "The caller's own tasks: filters, ordering, pagination",
        )],
        jobs: &[],
        nav: Some(crate::registry::NavEntry {
            label: "To-do",
            href: "/todos",
            summary: "Your tasks, with priorities, due dates and filters.",
        }),
        permissions: &[],
        templates: crate::embedded_templates!["todo/list.html", "todo/edit.html"],
        sessionless_templates: &[],
        cached_views: &[],
        models: admin::models,
        init: None,
    }
}

pub const TITLE_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 10_000;
pub const SEARCH_MAX: usize = 200;

/// A title as stored: trimmed, present, at most [`TITLE_MAX`] characters.
pub fn parse_title(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Err("can't be blank".into());
    }
    if t.chars().count() > TITLE_MAX {
        return Err(format!("is too long (maximum is {TITLE_MAX} characters)"));
    }
    Ok(t.to_string())
}

/// A description as stored: line endings normalized, trailing space dropped, possibly empty.
pub fn parse_description(raw: &str) -> Result<String, String> {
    let d = raw.replace("\r\n", "\n").trim_end().to_string();
    if d.chars().count() > DESCRIPTION_MAX {
        return Err(format!(
            "is too long (maximum is {DESCRIPTION_MAX} characters)"
        ));
    }
    Ok(d)
}

/// A calendar day written exactly as `YYYY-MM-DD`.
pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    let b = raw.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()
}

fn priority_list() -> String {
    Priority::ALL.map(Priority::as_str).join(", ")
}

/// The message for a priority that is not one of ours.
pub fn priority_error(value: &str) -> String {
    format!("`{value}` is not one of {}", priority_list())
}

/// `high` or `low,high`: each must be a priority.
pub fn parse_priorities(param: &str, raw: &str) -> Result<Vec<Priority>, AppError> {
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let p = Priority::parse(part)
            .ok_or_else(|| AppError::bad_request(param, priority_error(part)))?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

pub fn parse_bool(param: &str, raw: &str) -> Result<bool, AppError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(AppError::bad_request(
            param,
            format!("`{raw}` is not one of true, false"),
        )),
    }
}

/// `-priority,due_date`: known fields, each at most once, `-` reversing one.
pub fn parse_ordering(param: &str, raw: &str) -> Result<Ordering, AppError> {
    let mut out: Vec<(SortField, bool)> = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, reverse) = match part.strip_prefix('-') {
            Some(rest) => (rest, true),
            None => (part, false),
        };
        let field = SortField::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = SortField::ALL.iter().map(|f| f.name()).collect();
                AppError::bad_request(
                    param,
                    format!(
                        "`{part}` is not one of {} (a leading - reverses)",
                        known.join(", ")
                    ),
                )
            })?;
        if out.iter().any(|(f, _)| *f == field) {
            return Err(AppError::bad_request(
                param,
                format!("`{name}` is given more than once"),
            ));
        }
        out.push((field, reverse));
    }
    Ok(Ordering(out))
}

fn parse_day(param: &str, raw: &str) -> Result<NaiveDate, AppError> {
    parse_date(raw.trim())
        .ok_or_else(|| AppError::bad_request(param, format!("`{raw}` is not a date (YYYY-MM-DD)")))
}

/// The API's filters and ordering from a query string. Blank values count as absent; other parameters
/// (paging among them) are left to their readers.
pub fn query_filters(q: &HashMap<String, String>) -> Result<(Filters, Ordering), AppError> {
    let get = |name: &str| q.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut f = Filters::default();
    if let Some(v) = get("priority") {
        f.priorities = parse_priorities("priority", v)?;
    }
    if let Some(v) = get("completed") {
        f.completed = Some(parse_bool("completed", v)?);
    }
    if let Some(v) = get("due_before") {
        f.due_before = Some(parse_day("due_before", v)?);
    }
    if let Some(v) = get("due_after") {
        f.due_after = Some(parse_day("due_after", v)?);
    }
    if let Some(v) = get("overdue") {
        f.overdue = Some(parse_bool("overdue", v)?);
    }
    if let Some(v) = get("search") {
        if v.chars().count() > SEARCH_MAX {
            return Err(AppError::bad_request(
                "search",
                format!("is too long (maximum is {SEARCH_MAX} characters)"),
            ));
        }
        f.search = Some(v.to_string());
    }
    let ordering = match get("ordering") {
        Some(v) => parse_ordering("ordering", v)?,
        None => Ordering::default(),
    };
    Ok((f, ordering))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_be_written_in_full() {
        assert_eq!(
            parse_date("2026-02-28"),
            NaiveDate::from_ymd_opt(2026, 2, 28)
        );
        assert_eq!(parse_date("2026-2-28"), None);
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("+2026-02-2"), None);
        assert_eq!(parse_date("tomorrow"), None);
    }

    #[test]
    fn orderings_name_known_fields_once() {
        let o = parse_ordering("ordering", "-priority, due_date").unwrap();
        assert_eq!(
            o.0,
            vec![(SortField::Priority, true), (SortField::DueDate, false)]
        );
        assert_eq!(o.to_param(), "-priority,due_date");
        assert!(parse_ordering("ordering", "colour").is_err());
        assert!(parse_ordering("ordering", "title,-title").is_err());
        assert!(parse_ordering("ordering", "").unwrap().0.is_empty());
    }

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(parse_title("  Buy milk ").unwrap(), "Buy milk");
        assert_eq!(parse_title("  ").unwrap_err(), "can't be blank");
        assert!(parse_title(&"é".repeat(200)).is_ok());
        assert_eq!(
            parse_title(&"é".repeat(201)).unwrap_err(),
            "is too long (maximum is 200 characters)"
        );
    }
}
