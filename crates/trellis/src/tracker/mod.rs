//! The roadmap tracker: import a Markdown roadmap, mark each item ❌/🚧/✅ (or skipped), see progress per
//! week, phase and roadmap, plan the days from a start date and a pace, share a read-only page, and export
//! the roadmap back to Markdown with the tracker tables filled in.

pub mod admin;
mod api;
pub mod models;
mod pages;

use std::collections::HashMap;

use axum::Router;
use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde::Serialize;
use trellis_roadmap::{ItemKind, Roadmap, Status};

use crate::error::{AppError, Result};
use crate::state::AppState;
use models::{ProgressRow, StoredRoadmap};

pub fn router() -> Router<AppState> {
    pages::router()
}

/// The roadmap tracker: imported Markdown roadmaps and each learner's progress.
pub fn app() -> crate::registry::AppConfig {
    crate::registry::AppConfig {
        label: "tracker",
        name: "Tracker",
        pages: router,
        api: Some(api::router),
        api_tags: &[(
            "roadmaps",
            "Roadmap tracker: imported roadmaps and progress",
        )],
        jobs: &[],
        nav: Some(crate::registry::NavEntry {
            label: "Tracker",
            href: "/tracker/",
            summary: "Import a learning roadmap and track progress day by day.",
        }),
        permissions: &[],
        templates: crate::embedded_templates![
            "tracker/index.html",
            "tracker/detail.html",
            "tracker/today.html",
            "tracker/plan.html",
        ],
        sessionless_templates: &[],
        cached_views: &[],
        models: admin::models,
        init: None,
    }
}

pub use api::router as api_router;

/// Largest roadmap file accepted.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

/// A learner's status for an item: ❌ pending, 🚧 learning, ✅ done, or skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Progress {
    Pending,
    Learning,
    Done,
    Skipped,
}

impl Progress {
    pub const ALL: [Progress; 4] = [
        Progress::Pending,
        Progress::Learning,
        Progress::Done,
        Progress::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Progress::Pending => "pending",
            Progress::Learning => "learning",
            Progress::Done => "done",
            Progress::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Progress> {
        Progress::ALL
            .into_iter()
            .find(|p| p.as_str() == s.trim().to_ascii_lowercase())
    }

    /// What the status controls say beside the symbol (symbols alone depend on an emoji font).
    pub fn label(self) -> &'static str {
        match self {
            Progress::Pending => "Not done",
            Progress::Learning => "Learning",
            Progress::Done => "Done",
            Progress::Skipped => "Skipped",
        }
    }

    pub fn emoji(self) -> &'static str {
        match self {
            Progress::Pending => "❌",
            Progress::Learning => "🚧",
            Progress::Done => "✅",
            Progress::Skipped => "⏭️",
        }
    }

    /// The document's own status, when it set one.
    fn from_status(s: Status) -> Option<Progress> {
        match s {
            Status::NotStarted => None,
            Status::Pending => Some(Progress::Pending),
            Status::Learning => Some(Progress::Learning),
            Status::Done => Some(Progress::Done),
            Status::Skipped => Some(Progress::Skipped),
        }
    }

    fn to_status(self) -> Status {
        match self {
            Progress::Pending => Status::Pending,
            Progress::Learning => Status::Learning,
            Progress::Done => Status::Done,
            Progress::Skipped => Status::Skipped,
        }
    }
}

/// Parses a roadmap file: bytes (BOM, mojibake and all) to a roadmap, or a message with a line number.
pub fn parse(bytes: &[u8]) -> std::result::Result<Roadmap, String> {
    if bytes.len() > MAX_BYTES {
        return Err(format!(
            "the file is larger than {} MB",
            MAX_BYTES / (1024 * 1024)
        ));
    }
    trellis_roadmap::parse_bytes(bytes).map_err(|e| e.to_string())
}

/// [`parse`] on a blocking thread: a megabyte of Markdown takes tens of milliseconds, which must not
/// hold up the requests sharing an async worker.
pub async fn parse_blocking(bytes: Vec<u8>) -> std::result::Result<Roadmap, String> {
    static PARSING: crate::blocking::Lane = crate::blocking::Lane::per_core();
    PARSING
        .run(move || parse(&bytes))
        .await
        .unwrap_or_else(|e| Err(format!("the roadmap could not be read ({e})")))
}

/// Longest roadmap title.
pub const TITLE_MAX: usize = 300;

/// Stores a parsed roadmap for its owner, with the statuses the document already had, in one transaction.
pub async fn import(
    state: &AppState,
    owner_id: i64,
    roadmap: &Roadmap,
    title: Option<&str>,
) -> Result<StoredRoadmap> {
    let given = title.map(str::trim).filter(|t| !t.is_empty());
    let title = given
        .map(str::to_string)
        .or_else(|| roadmap.title.clone())
        .unwrap_or_else(|| "Roadmap".to_string());
    if title.chars().count() > TITLE_MAX {
        let msg = if given.is_some() {
            format!("is too long (maximum is {TITLE_MAX} characters)")
        } else {
            format!(
                "the roadmap's own title is longer than {TITLE_MAX} characters; give a shorter title"
            )
        };
        return Err(AppError::invalid("title", msg));
    }
    let document = serde_json::to_string(roadmap).map_err(|e| AppError::Internal(e.into()))?;
    let txn = state.db.begin().await?;
    let now = Utc::now();
    let stored = models::roadmap::ActiveModel {
        owner_id: Set(owner_id),
        title: Set(title),
        document: Set(document),
        start_date: Set(None),
        days_per_week: Set(7),
        rest_days: Set(String::new()),
        share_token: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let initial = roadmap
        .items()
        .map(|i| (i.key.as_str(), i.status))
        .chain(roadmap.tracker_rows().map(|r| (r.key.as_str(), r.status)));
    for (key, status) in initial {
        if let Some(p) = Progress::from_status(status) {
            models::set_progress(&txn, stored.id, key, p, None).await?;
        }
    }
    txn.commit().await?;
    Ok(stored)
}

/// Each listed roadmap's overall tally, in the order given. Every stored document is decoded for it
/// (each may come from megabytes of Markdown, a list shows up to a hundred), so the work runs on the
/// blocking pool, a few lists at a time.
pub async fn overall_tallies(
    rows: &[StoredRoadmap],
    mut progress: HashMap<i64, HashMap<String, ProgressRow>>,
) -> Result<Vec<Tally>> {
    static LISTS: crate::blocking::Lane = crate::blocking::Lane::per_core();
    let work: Vec<(StoredRoadmap, HashMap<String, ProgressRow>)> = rows
        .iter()
        .map(|r| (r.clone(), progress.remove(&r.id).unwrap_or_default()))
        .collect();
    LISTS
        .run(move || {
            work.iter()
                .map(|(r, progress)| Ok(tallies(&r.roadmap()?, progress).0))
                .collect()
        })
        .await
        .map_err(|e| AppError::Internal(e.into()))?
}

/// Counts of a set of items by status, and the share done.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tally {
    pub total: usize,
    pub pending: usize,
    pub learning: usize,
    pub done: usize,
    pub skipped: usize,
    /// Done (skipped items count as settled) in percent of all items, rounded down.
    pub percent: u32,
}

impl Tally {
    fn add(&mut self, p: Progress) {
        self.total += 1;
        match p {
            Progress::Pending => self.pending += 1,
            Progress::Learning => self.learning += 1,
            Progress::Done => self.done += 1,
            Progress::Skipped => self.skipped += 1,
        }
    }

    fn finish(mut self) -> Self {
        self.percent = ((self.done + self.skipped) * 100)
            .checked_div(self.total)
            .unwrap_or(0) as u32;
        self
    }
}

/// The status of an item: recorded progress, else pending.
pub fn status_of(progress: &HashMap<String, ProgressRow>, key: &str) -> Progress {
    progress
        .get(key)
        .and_then(|r| Progress::parse(&r.status))
        .unwrap_or(Progress::Pending)
}

/// Progress of the whole roadmap, per phase and per week section (keys "p1", "p1-w3").
pub fn tallies(
    roadmap: &Roadmap,
    progress: &HashMap<String, ProgressRow>,
) -> (Tally, Vec<Tally>, Vec<Vec<Tally>>) {
    let mut all = Tally::default();
    let mut phases = Vec::new();
    let mut weeks = Vec::new();
    for phase in &roadmap.phases {
        let mut pt = Tally::default();
        let mut wts = Vec::new();
        for week in &phase.weeks {
            let mut wt = Tally::default();
            for item in &week.items {
                let s = status_of(progress, &item.key);
                wt.add(s);
                pt.add(s);
                all.add(s);
            }
            wts.push(wt.finish());
        }
        phases.push(pt.finish());
        weeks.push(wts);
    }
    (all.finish(), phases, weeks)
}

/// The learner's pace.
#[derive(Clone, Debug)]
pub struct Plan {
    pub start: NaiveDate,
    pub days_per_week: u32,
    pub rest_days: Vec<Weekday>,
}

pub fn parse_weekday(s: &str) -> Option<Weekday> {
    s.trim().parse::<Weekday>().ok()
}

impl Plan {
    pub fn of(stored: &StoredRoadmap) -> Option<Plan> {
        Some(Plan {
            start: stored.start()?,
            days_per_week: stored.days_per_week.clamp(1, 7) as u32,
            rest_days: stored
                .rest_days
                .split(',')
                .filter_map(parse_weekday)
                .collect(),
        })
    }

    /// Study days from the start: never a rest day, and at most `days_per_week` in any Monday-based week.
    fn study_days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        let mut day = self.start;
        let mut week = self.start.iso_week();
        let mut used = 0u32;
        std::iter::from_fn(move || {
            loop {
                let d = day;
                day += Duration::days(1);
                if d.iso_week() != week {
                    week = d.iso_week();
                    used = 0;
                }
                if self.rest_days.contains(&d.weekday()) || used >= self.days_per_week {
                    continue;
                }
                used += 1;
                return Some(d);
            }
        })
    }
}

/// One scheduled item: which study days it spans.
#[derive(Clone, Debug, Serialize)]
pub struct Scheduled {
    pub key: String,
    pub text: String,
    pub week_title: String,
    pub first: NaiveDate,
    pub last: NaiveDate,
}

/// Lays the items on study days in document order: a "Day 3-4" item takes two study days; the plain
/// bullets of a multi-week section share that section's study days between them.
pub fn schedule(roadmap: &Roadmap, plan: &Plan) -> Vec<Scheduled> {
    let mut days = plan.study_days();
    let mut out = Vec::new();
    for phase in &roadmap.phases {
        for week in &phase.weeks {
            let bullets = week
                .items
                .iter()
                .filter(|i| matches!(i.kind, ItemKind::Bullet))
                .count() as u32;
            let section_days = (week.weeks.1.saturating_sub(week.weeks.0) + 1) * plan.days_per_week;
            for item in &week.items {
                let span = match item.kind {
                    ItemKind::Day { from, to } => to.saturating_sub(from) + 1,
                    ItemKind::Bullet => (section_days / bullets.max(1)).max(1),
                };
                let first = days.next().expect("study days never run out");
                let mut last = first;
                for _ in 1..span {
                    last = days.next().expect("study days never run out");
                }
                out.push(Scheduled {
                    key: item.key.clone(),
                    text: item.text.clone(),
                    week_title: week.title.clone(),
                    first,
                    last,
                });
            }
        }
    }
    out
}

/// Consecutive days with any progress, ending today (or yesterday, if nothing yet today).
pub fn streak(active_newest_first: &[NaiveDate], today: NaiveDate) -> u32 {
    let mut expected = match active_newest_first.first() {
        Some(d) if *d == today => today,
        Some(d) if *d == today - Duration::days(1) => *d,
        _ => return 0,
    };
    let mut n = 0;
    for d in active_newest_first {
        if *d == expected {
            n += 1;
            expected -= Duration::days(1);
        } else if *d < expected {
            break;
        }
    }
    n
}

/// The schedule as an iCalendar file: one all-day event per item.
pub fn ics(title: &str, roadmap_id: i64, items: &[Scheduled], host: &str) -> String {
    fn escape(s: &str) -> String {
        s.replace('\\', "\\\\")
            .replace(';', "\\;")
            .replace(',', "\\,")
            .replace('\n', "\\n")
    }
    /// Lines longer than 75 octets continue on the next line after a space (RFC 5545 folding).
    fn fold(line: &str, out: &mut String) {
        let mut count = 0;
        for c in line.chars() {
            if count + c.len_utf8() > 75 {
                out.push_str("\r\n ");
                count = 1;
            }
            out.push(c);
            count += c.len_utf8();
        }
        out.push_str("\r\n");
    }
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut out = String::new();
    for l in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Trellis//Roadmap tracker//EN",
        "CALSCALE:GREGORIAN",
    ] {
        fold(l, &mut out);
    }
    fold(&format!("X-WR-CALNAME:{}", escape(title)), &mut out);
    for s in items {
        fold("BEGIN:VEVENT", &mut out);
        fold(
            &format!("UID:roadmap-{roadmap_id}-{}@{host}", s.key),
            &mut out,
        );
        fold(&format!("DTSTAMP:{stamp}"), &mut out);
        fold(
            &format!("DTSTART;VALUE=DATE:{}", s.first.format("%Y%m%d")),
            &mut out,
        );
        fold(
            &format!(
                "DTEND;VALUE=DATE:{}",
                (s.last + Duration::days(1)).format("%Y%m%d")
            ),
            &mut out,
        );
        fold(&format!("SUMMARY:{}", escape(&s.text)), &mut out);
        fold(&format!("DESCRIPTION:{}", escape(&s.week_title)), &mut out);
        fold("END:VEVENT", &mut out);
    }
    fold("END:VCALENDAR", &mut out);
    out
}

/// Markdown of the roadmap in its own format, with recorded statuses filled in.
pub fn export(roadmap: &Roadmap, progress: &HashMap<String, ProgressRow>) -> String {
    trellis_roadmap::export(roadmap, &|key| {
        progress
            .get(key)
            .and_then(|r| Progress::parse(&r.status))
            .map(Progress::to_status)
    })
}

/// A horizontal bar chart (SVG, no scripts or inline styles) of done / learning / skipped per row.
pub fn svg_bars(rows: &[(String, &Tally)]) -> String {
    const W: u32 = 520;
    const LABEL: u32 = 180;
    const ROW: u32 = 26;
    let height = ROW * rows.len() as u32 + 8;
    let bar = W - LABEL - 50;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {W} {height}\" role=\"img\" \
         aria-label=\"Progress by section\">"
    );
    for (i, (label, t)) in rows.iter().enumerate() {
        let y = 4 + i as u32 * ROW;
        let total = t.total.max(1) as u32;
        let done = bar * t.done as u32 / total;
        let learning = bar * t.learning as u32 / total;
        let skipped = bar * t.skipped as u32 / total;
        let label = crate::http::templates::html_escape(label);
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" class=\"chart-label\">{label}</text>\
             <rect x=\"{LABEL}\" y=\"{y}\" width=\"{bar}\" height=\"16\" class=\"chart-track\"/>\
             <rect x=\"{LABEL}\" y=\"{y}\" width=\"{done}\" height=\"16\" class=\"chart-done\"/>\
             <rect x=\"{}\" y=\"{y}\" width=\"{learning}\" height=\"16\" class=\"chart-learning\"/>\
             <rect x=\"{}\" y=\"{y}\" width=\"{skipped}\" height=\"16\" class=\"chart-skipped\"/>\
             <text x=\"{}\" y=\"{}\" class=\"chart-value\">{}%</text>",
            y + 13,
            LABEL + done,
            LABEL + done + learning,
            LABEL + bar + 6,
            y + 13,
            t.percent
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// Where the installed Trellis app that implements a project idea lives; `None` when no such app is
/// installed, so an idea never links to a page that does not exist.
pub fn app_href(state: &AppState, app: &str) -> Option<&'static str> {
    state.registry.app(app).and_then(|a| a.nav).map(|n| n.href)
}

/// A new unguessable share token (256 bits).
pub fn new_share_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn streaks_count_back_from_today_or_yesterday() {
        let today = d("2026-11-23");
        assert_eq!(
            streak(
                &[
                    d("2026-11-23"),
                    d("2026-11-22"),
                    d("2026-11-21"),
                    d("2026-11-19")
                ],
                today
            ),
            3
        );
        assert_eq!(streak(&[d("2026-11-22"), d("2026-11-21")], today), 2);
        assert_eq!(streak(&[d("2026-11-20")], today), 0);
        assert_eq!(streak(&[], today), 0);
    }

    #[test]
    fn study_days_skip_rest_days_and_respect_the_pace() {
        // 2026-11-23 is a Monday.
        let plan = Plan {
            start: d("2026-11-23"),
            days_per_week: 3,
            rest_days: vec![Weekday::Tue],
        };
        let days: Vec<NaiveDate> = plan.study_days().take(4).collect();
        assert_eq!(
            days,
            vec![
                d("2026-11-23"),
                d("2026-11-25"),
                d("2026-11-26"),
                d("2026-11-30")
            ]
        );
    }

    #[test]
    fn the_schedule_spans_day_ranges() {
        let doc = "## Phase 1: Basics (Weeks 1-1)\n\n### Week 1: Start\n\n- **Day 1**: one\n- **Day 2-3**: two\n";
        let roadmap = trellis_roadmap::parse(doc).unwrap();
        let plan = Plan {
            start: d("2026-11-23"),
            days_per_week: 7,
            rest_days: vec![],
        };
        let s = schedule(&roadmap, &plan);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].first, s[0].last), (d("2026-11-23"), d("2026-11-23")));
        assert_eq!((s[1].first, s[1].last), (d("2026-11-24"), d("2026-11-25")));
    }

    #[test]
    fn ics_lines_are_folded_and_escaped() {
        let item = Scheduled {
            key: "p1-w1-d1".into(),
            text:
                "Learn URLs, views; and a very long description that goes on and on past the limit"
                    .into(),
            week_title: "Week 1".into(),
            first: d("2026-11-23"),
            last: d("2026-11-24"),
        };
        let cal = ics("Plan", 1, &[item], "localhost");
        assert!(cal.contains("DTEND;VALUE=DATE:20261125"));
        assert!(cal.contains("URLs\\, views\\;"));
        assert!(cal.lines().all(|l| l.len() <= 76), "{cal}");
        assert!(cal.contains("\r\n "), "long lines folded");
    }
}
