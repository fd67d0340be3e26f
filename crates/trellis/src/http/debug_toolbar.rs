//! The development debug toolbar (Django Debug Toolbar's core): every answer carries `Server-Timing`
//! (SQL statements and their time, template rendering, total), and HTML pages end with a collapsible
//! panel listing the request's SQL statements with their times, repeated statements marked.
//!
//! On only in development (`TRELLIS_DEBUG_TOOLBAR`, default on there); production refuses to switch it
//! on, since the panel shows the SQL a page runs.
//!
//! What a request does is collected in a task-local: the database's statement hook and the template
//! renderer add to it when they run inside the request's task. Work the request hands to other tasks
//! (jobs, blocking threads) is not counted.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;

/// HTML pages up to this size get the panel; larger ones are left as they are.
const MAX_PAGE: u64 = 4 * 1024 * 1024;
/// Statements listed one by one; past this (a bulk action, say) they are only counted and timed.
const MAX_LISTED: usize = 500;

#[derive(Default)]
struct Profile {
    statements: Vec<(String, Duration)>,
    /// Statements beyond [`MAX_LISTED`]: how many, and their time.
    unlisted: (usize, Duration),
    render: Duration,
}

impl Profile {
    fn count(&self) -> usize {
        self.statements.len() + self.unlisted.0
    }

    fn sql_time(&self) -> Duration {
        self.statements.iter().map(|(_, d)| *d).sum::<Duration>() + self.unlisted.1
    }
}

tokio::task_local! {
    static PROFILE: RefCell<Profile>;
}

/// Called by the database's statement hook: notes a statement if a request is being profiled.
pub fn record_statement(sql: &str, elapsed: Duration) {
    let _ = PROFILE.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.statements.len() < MAX_LISTED {
            p.statements.push((sql.to_string(), elapsed));
        } else {
            p.unlisted.0 += 1;
            p.unlisted.1 += elapsed;
        }
    });
}

/// Called by the template renderer.
pub fn record_render(elapsed: Duration) {
    let _ = PROFILE.try_with(|p| p.borrow_mut().render += elapsed);
}

pub async fn toolbar(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let (res, profile) = PROFILE
        .scope(RefCell::new(Profile::default()), async {
            let res = next.run(req).await;
            (res, PROFILE.with(|p| p.take()))
        })
        .await;
    let total = started.elapsed();
    let sql_time = profile.sql_time();
    let mut res = res;
    let timing = format!(
        "sql;desc=\"{} statements\";dur={:.2}, render;desc=\"templates\";dur={:.2}, total;dur={:.2}",
        profile.count(),
        ms(sql_time),
        ms(profile.render),
        ms(total)
    );
    if let Ok(v) = HeaderValue::from_str(&timing) {
        res.headers_mut().insert("server-timing", v);
    }
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let small =
        matches!(axum::body::HttpBody::size_hint(res.body()).exact(), Some(n) if n <= MAX_PAGE);
    if !is_html || !small || res.headers().contains_key(header::CONTENT_ENCODING) {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(collected) = body.collect().await else {
        return Response::from_parts(parts, Body::empty());
    };
    let page = String::from_utf8_lossy(&collected.to_bytes()).into_owned();
    let Some(at) = page.rfind("</body>") else {
        return Response::from_parts(parts, Body::from(page));
    };
    let mut out = String::with_capacity(page.len() + 1024);
    out.push_str(&page[..at]);
    out.push_str(&panel(&profile, sql_time, total));
    out.push_str(&page[at..]);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(out))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn panel(profile: &Profile, sql_time: Duration, total: Duration) -> String {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (sql, _) in &profile.statements {
        *seen.entry(sql.as_str()).or_default() += 1;
    }
    let repeated = seen.values().filter(|n| **n > 1).count();
    let mut html = String::new();
    let _ = write!(
        html,
        "<details class=\"debug-toolbar\" id=\"debug-toolbar\"><summary>SQL: {} statements in {:.2} ms{} · templates {:.2} ms · total {:.2} ms</summary><ol>",
        profile.count(),
        ms(sql_time),
        if repeated > 0 {
            format!(" ({repeated} repeated)")
        } else {
            String::new()
        },
        ms(profile.render),
        ms(total)
    );
    for (sql, took) in &profile.statements {
        let times = seen[sql.as_str()];
        let (class, note) = if times > 1 {
            (" class=\"debug-dup\"", format!(" · run {times} times"))
        } else {
            ("", String::new())
        };
        let _ = write!(
            html,
            "<li{class}><code>{}</code> <span>{:.2} ms{note}</span></li>",
            crate::http::templates::html_escape(sql),
            ms(*took)
        );
    }
    if profile.unlisted.0 > 0 {
        let _ = write!(
            html,
            "<li>… and {} more, {:.2} ms in all</li>",
            profile.unlisted.0,
            ms(profile.unlisted.1)
        );
    }
    html.push_str("</ol></details>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_panel_escapes_sql_and_marks_repeats() {
        let profile = Profile {
            statements: vec![
                ("SELECT 1 WHERE a < $1".into(), Duration::from_millis(2)),
                ("SELECT 2".into(), Duration::from_millis(1)),
                ("SELECT 2".into(), Duration::from_millis(1)),
            ],
            render: Duration::from_millis(3),
            ..Profile::default()
        };
        let html = panel(&profile, Duration::from_millis(4), Duration::from_millis(9));
        assert!(html.contains("a &lt; $1"));
        assert!(html.contains("3 statements in 4.00 ms (1 repeated)"));
        assert_eq!(html.matches("class=\"debug-dup\"").count(), 2);
    }
}
