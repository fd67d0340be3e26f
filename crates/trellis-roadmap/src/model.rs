//! The public data model of an imported roadmap.
//!
//! Every node remembers the 1-based source line it came from (`line`), so a web app can point a
//! person at the markdown. Lines are positions, not identity: use [`Item::key`] and
//! [`TrackerRow::key`] to store per-user progress, since keys survive export → import.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::mojibake::Encoding;

/// A whole learning roadmap.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roadmap {
    /// The document's first heading when it is not a phase or a known section.
    pub title: Option<String>,
    /// Paragraphs (and loose bullets) before the first phase.
    pub intro: Vec<String>,
    pub phases: Vec<Phase>,
    /// Progress-tracker tables. Tables are kept grouped (one per `### Phase N` caption in the
    /// seed) because the grouping is how a reader finds them, and the export rebuilds it. Order:
    /// tables placed inside a phase first (by phase), then uncaptioned tables of the tracker
    /// section, then captioned ones, each in document order; that is the order the export
    /// writes, and for the seed it is simply document order.
    pub tracker: Vec<TrackerTable>,
    pub resources: Vec<ResourceGroup>,
    pub project_ideas: Vec<Idea>,
    /// Text that belongs to no phase, tracker, resource list or idea.
    pub notes: Vec<String>,
    /// Gaps and oddities that did not stop the import, sorted by line.
    pub warnings: Vec<Warning>,
    /// Set when the input was mojibake and was repaired before parsing.
    pub repaired_encoding: Option<Encoding>,
}

/// `## Phase 1: Basics of Django (Weeks 1-4)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    pub number: u32,
    pub title: String,
    /// The range the heading declares, if it declares one.
    pub week_range: Option<(u32, u32)>,
    pub goal: Option<String>,
    pub weeks: Vec<WeekSection>,
    pub notes: Vec<String>,
    pub line: usize,
}

/// `### Week 1: Setting Up & Basics` or `### Weeks 11-14: ...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeekSection {
    /// Inclusive; a single week is `(n, n)`.
    pub weeks: (u32, u32),
    pub title: String,
    pub items: Vec<Item>,
    pub notes: Vec<String>,
    pub line: usize,
}

/// What an item is scheduled by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ItemKind {
    /// `- **Day 3-4**: ...`, inclusive.
    Day { from: u32, to: u32 },
    /// A plain bullet in a section that has no Day lines.
    Bullet,
}

/// One scheduled piece of work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Stable identifier, e.g. `p1-w3-d4`; see [`Roadmap::assign_keys`].
    pub key: String,
    pub kind: ItemKind,
    pub text: String,
    /// From a leading ✅/🚧/❌/⏭️ or `[x]` on the line; `NotStarted` otherwise.
    pub status: Status,
    /// Sub-bullets that are not pure link lists.
    pub notes: Vec<String>,
    /// Links found in sub-bullets.
    pub resources: Vec<Link>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub title: String,
    pub url: String,
}

/// One `| Week | Task | Status |` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackerTable {
    /// The heading above the table inside the tracker section (e.g. "Phase 1: Basics of
    /// Django"); empty for a table placed directly inside a phase or before any heading.
    pub title: String,
    /// The phase the table belongs to: named by its title, or the phase it sits in.
    pub phase: Option<u32>,
    /// Header names of columns other than Week/Task/Status, kept so nothing is dropped.
    pub extra_columns: Vec<String>,
    pub rows: Vec<TrackerRow>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackerRow {
    /// Stable identifier, e.g. `p1-w1-t2`; see [`Roadmap::assign_keys`].
    pub key: String,
    /// The Week cell as written ("1", "11-14"); may be empty.
    pub week: String,
    /// The Week cell read as a range, when it is one.
    pub weeks: Option<(u32, u32)>,
    pub task: String,
    pub status: Status,
    /// Cells of [`TrackerTable::extra_columns`], in the same order.
    pub extra: Vec<String>,
    pub line: usize,
}

/// Progress on an item or tracker row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// An empty status cell.
    #[default]
    NotStarted,
    /// ❌ — "not done".
    Pending,
    /// 🚧 — in progress.
    Learning,
    /// ✅
    Done,
    /// ⏭️
    Skipped,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::NotStarted,
        Status::Pending,
        Status::Learning,
        Status::Done,
        Status::Skipped,
    ];

    /// The marker written on export; empty for `NotStarted` (an empty cell).
    pub fn emoji(self) -> &'static str {
        match self {
            Status::NotStarted => "",
            Status::Pending => "❌",
            Status::Learning => "🚧",
            Status::Done => "✅",
            Status::Skipped => "⏭️",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::NotStarted => "not started",
            Status::Pending => "not done",
            Status::Learning => "in progress",
            Status::Done => "done",
            Status::Skipped => "skipped",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// `- **Documentation**:` and the links under it. An untitled group holds bullets that had no
/// group label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceGroup {
    pub title: String,
    pub resources: Vec<Resource>,
    pub line: usize,
}

/// A link (`url` set, `title` is the link text) or a plain entry such as a book, kept as its
/// markdown text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub title: String,
    pub url: Option<String>,
    pub line: usize,
}

/// `### 1. **Simple Blog (Phase 1)**` with its Features / Tech Stack bullets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Idea {
    pub title: String,
    /// Paragraphs under the idea, joined by a blank line.
    pub description: String,
    pub features: Vec<String>,
    pub tech_stack: Vec<String>,
    /// Other bullets and blocks under the idea.
    pub notes: Vec<String>,
    pub line: usize,
}

impl Idea {
    /// Guesses which of Trellis' apps an idea describes, from its title first and then its
    /// description: "blog", "todo", "shop" or "sentiment".
    pub fn app_hint(&self) -> Option<&'static str> {
        hint_for(&self.title).or_else(|| hint_for(&self.description))
    }
}

fn hint_for(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .collect();
    let has = |wanted: &[&str]| words.iter().any(|w| wanted.contains(w));
    // Most specific first: a "blog sentiment analyser" is about sentiment, not blogging.
    if has(&[
        "sentiment",
        "sentiments",
        "emotion",
        "classifier",
        "ml",
        "nlp",
    ]) {
        Some("sentiment")
    } else if has(&[
        "e-commerce",
        "ecommerce",
        "shop",
        "store",
        "cart",
        "checkout",
        "product",
        "products",
    ]) {
        Some("shop")
    } else if has(&["to-do", "todo", "todos", "task", "tasks", "checklist"]) {
        Some("todo")
    } else if has(&["blog", "blogs", "blogging", "post", "posts", "article"]) {
        Some("blog")
    } else {
        None
    }
}

/// Something odd that did not stop the import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// How much a roadmap holds; see [`Roadmap::counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub phases: usize,
    pub weeks: usize,
    pub items: usize,
    pub day_items: usize,
    pub bullet_items: usize,
    pub tracker_rows: usize,
    pub project_ideas: usize,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} phases, {} week sections, {} items ({} day, {} bullet), {} tracker rows, {} project ideas",
            self.phases,
            self.weeks,
            self.items,
            self.day_items,
            self.bullet_items,
            self.tracker_rows,
            self.project_ideas
        )
    }
}

impl Roadmap {
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            phases: self.phases.len(),
            tracker_rows: self.tracker.iter().map(|t| t.rows.len()).sum(),
            project_ideas: self.project_ideas.len(),
            ..Counts::default()
        };
        for item in self.items() {
            c.items += 1;
            match item.kind {
                ItemKind::Day { .. } => c.day_items += 1,
                ItemKind::Bullet => c.bullet_items += 1,
            }
        }
        c.weeks = self.phases.iter().map(|p| p.weeks.len()).sum();
        c
    }

    /// Every scheduled item, in document order.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.phases
            .iter()
            .flat_map(|p| p.weeks.iter())
            .flat_map(|w| w.items.iter())
    }

    /// Every tracker row, in document order.
    pub fn tracker_rows(&self) -> impl Iterator<Item = &TrackerRow> {
        self.tracker.iter().flat_map(|t| t.rows.iter())
    }

    pub fn item(&self, key: &str) -> Option<&Item> {
        self.items().find(|i| i.key == key)
    }

    pub fn tracker_row(&self, key: &str) -> Option<&TrackerRow> {
        self.tracker_rows().find(|r| r.key == key)
    }

    /// A human-readable overview for CLI output.
    pub fn summary(&self) -> Summary<'_> {
        Summary(self)
    }

    /// (Re)computes every item and tracker-row key from the structure alone, so the same
    /// markdown always yields the same keys. The parser calls this; call it yourself after
    /// building or editing a roadmap in code.
    ///
    /// Items: `p{phase}-w{week}[-{last week}]-d{day}[-{last day}]` for Day lines and
    /// `p{phase}-w{week}[-{last week}]-b{n}` (n counts bullets in the section from 1).
    /// Tracker rows: `p{phase}-w{week label}-t{n}` (`t{table}` replaces `p{phase}` when the table
    /// names no phase; n counts rows with the same prefix from 1). Content-based rather than
    /// index-based so that inserting a week elsewhere does not shift everyone's progress. A
    /// clash (two "Day 1" lines in one week) gets `.2`, `.3`, … in document order.
    pub fn assign_keys(&mut self) {
        // Bases never contain '.', so "base.N" cannot clash with another base; counting per base
        // keeps this linear however many duplicates a document has.
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut claim = |base: String| -> String {
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            if *n == 1 { base } else { format!("{base}.{n}") }
        };
        for phase in &mut self.phases {
            for week in &mut phase.weeks {
                let section = format!("p{}-w{}", phase.number, range_key(week.weeks));
                let mut bullets = 0u32;
                for item in &mut week.items {
                    let base = match item.kind {
                        ItemKind::Day { from, to } => {
                            format!("{section}-d{}", range_key((from, to)))
                        }
                        ItemKind::Bullet => {
                            bullets += 1;
                            format!("{section}-b{bullets}")
                        }
                    };
                    item.key = claim(base);
                }
            }
        }
        let mut per_prefix: HashMap<String, u32> = HashMap::new();
        for (index, table) in self.tracker.iter_mut().enumerate() {
            let table_part = match table.phase {
                Some(n) => format!("p{n}"),
                None => format!("t{}", index + 1),
            };
            for row in &mut table.rows {
                let week_part = match row.weeks {
                    Some(r) => range_key(r),
                    None => slug(&row.week),
                };
                let prefix = format!("{table_part}-w{week_part}");
                let n = per_prefix.entry(prefix.clone()).or_insert(0);
                *n += 1;
                row.key = claim(format!("{prefix}-t{n}"));
            }
        }
    }
}

fn range_key((from, to): (u32, u32)) -> String {
    if from == to {
        from.to_string()
    } else {
        format!("{from}-{to}")
    }
}

/// Keeps keys URL- and filename-safe whatever a Week cell says.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_');
    if out.is_empty() {
        "x".to_string()
    } else {
        out.to_string()
    }
}

/// Formats a week range for people: "week 8" or "weeks 8–10".
pub(crate) fn weeks_phrase((from, to): (u32, u32)) -> String {
    if from == to {
        format!("week {from}")
    } else {
        format!("weeks {from}–{to}")
    }
}

/// [`Roadmap::summary`]'s Display adapter.
pub struct Summary<'a>(&'a Roadmap);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        writeln!(f, "{}", r.title.as_deref().unwrap_or("Roadmap"))?;
        if let Some(enc) = r.repaired_encoding {
            writeln!(f, "  (repaired mojibake: UTF-8 read as {enc})")?;
        }
        writeln!(f, "  {}", r.counts())?;
        for p in &r.phases {
            let items: usize = p.weeks.iter().map(|w| w.items.len()).sum();
            write!(f, "  Phase {}: {}", p.number, p.title)?;
            if let Some(range) = p.week_range {
                write!(f, " ({})", weeks_phrase(range))?;
            }
            writeln!(f, " — {} sections, {items} items", p.weeks.len())?;
        }
        let mut by_status = [0usize; 5];
        for row in r.tracker_rows() {
            by_status[Status::ALL
                .iter()
                .position(|s| *s == row.status)
                .unwrap_or(0)] += 1;
        }
        if !r.tracker.is_empty() {
            write!(f, "  Tracker:")?;
            for (status, n) in Status::ALL.iter().zip(by_status) {
                write!(f, " {n} {status};")?;
            }
            writeln!(f)?;
        }
        for idea in &r.project_ideas {
            write!(f, "  Idea: {}", idea.title)?;
            if let Some(app) = idea.app_hint() {
                write!(f, " [{app}]")?;
            }
            writeln!(f)?;
        }
        for w in &r.warnings {
            writeln!(f, "  warning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idea(title: &str, description: &str) -> Idea {
        Idea {
            title: title.into(),
            description: description.into(),
            features: vec![],
            tech_stack: vec![],
            notes: vec![],
            line: 1,
        }
    }

    #[test]
    fn app_hint_reads_the_title_first() {
        assert_eq!(idea("Simple Blog (Phase 1)", "").app_hint(), Some("blog"));
        assert_eq!(idea("To-Do App with API", "").app_hint(), Some("todo"));
        assert_eq!(idea("E-commerce API", "").app_hint(), Some("shop"));
        assert_eq!(
            idea("Sentiment Analysis API", "").app_hint(),
            Some("sentiment")
        );
    }

    #[test]
    fn app_hint_falls_back_to_the_description() {
        let i = idea("Final project", "A store front with a shopping cart");
        assert_eq!(i.app_hint(), Some("shop"));
        assert_eq!(idea("Weather dashboard", "charts").app_hint(), None);
    }

    #[test]
    fn app_hint_does_not_match_inside_words() {
        // "html" contains "ml", "posting" contains "post": whole words only.
        assert_eq!(idea("HTML basics", "posting forms").app_hint(), None);
    }

    #[test]
    fn keys_are_content_based_and_clashes_get_a_suffix() {
        let item = |kind| Item {
            key: String::new(),
            kind,
            text: "x".into(),
            status: Status::NotStarted,
            notes: vec![],
            resources: vec![],
            line: 1,
        };
        let mut r = Roadmap {
            phases: vec![Phase {
                number: 2,
                title: "P".into(),
                week_range: None,
                goal: None,
                weeks: vec![WeekSection {
                    weeks: (8, 10),
                    title: "W".into(),
                    items: vec![
                        item(ItemKind::Day { from: 1, to: 1 }),
                        item(ItemKind::Day { from: 1, to: 1 }),
                        item(ItemKind::Day { from: 3, to: 4 }),
                    ],
                    notes: vec![],
                    line: 1,
                }],
                notes: vec![],
                line: 1,
            }],
            ..Roadmap::default()
        };
        r.assign_keys();
        let keys: Vec<&str> = r.items().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["p2-w8-10-d1", "p2-w8-10-d1.2", "p2-w8-10-d3-4"]);
    }

    #[test]
    fn tracker_keys_count_rows_per_week() {
        let row = |week: &str, weeks| TrackerRow {
            key: String::new(),
            week: week.into(),
            weeks,
            task: "t".into(),
            status: Status::Done,
            extra: vec![],
            line: 1,
        };
        let mut r = Roadmap {
            tracker: vec![
                TrackerTable {
                    title: "Phase 1".into(),
                    phase: Some(1),
                    extra_columns: vec![],
                    rows: vec![row("1", Some((1, 1))), row("1", Some((1, 1)))],
                    line: 1,
                },
                TrackerTable {
                    title: String::new(),
                    phase: None,
                    extra_columns: vec![],
                    rows: vec![row("Bonus / extra", None)],
                    line: 1,
                },
            ],
            ..Roadmap::default()
        };
        r.assign_keys();
        let keys: Vec<&str> = r.tracker_rows().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["p1-w1-t1", "p1-w1-t2", "t2-wbonus_extra-t1"]);
    }

    #[test]
    fn status_emoji_and_labels_match_the_issue() {
        assert_eq!(Status::Done.emoji(), "✅");
        assert_eq!(Status::Learning.emoji(), "🚧");
        assert_eq!(Status::Pending.emoji(), "❌");
        assert_eq!(Status::Pending.label(), "not done");
        assert_eq!(Status::NotStarted.emoji(), "");
    }
}
