//! Writes a roadmap back as markdown in the seed's own layout. Parsing the output yields the
//! same structure and keys (see the crate docs for the few normalisations).

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::model::{Idea, Item, ItemKind, Link, Phase, Roadmap, Status, TrackerTable};
use crate::text::{escape_paragraph, find_links, split_cells, tracker_columns};

/// Exports `roadmap` as markdown. `statuses` is asked for every item key and tracker-row key;
/// `None` keeps the status the roadmap already records (so `&|_| None` reproduces the
/// document). Tracker rows get the status in their Status column; items get a leading marker
/// (`- **Day 1**: ✅ ...`) when their status is anything but not started.
pub fn export(roadmap: &Roadmap, statuses: &dyn Fn(&str) -> Option<Status>) -> String {
    let mut w = Writer {
        out: String::new(),
        statuses,
    };
    w.roadmap(roadmap);
    w.out
}

struct Writer<'a> {
    out: String,
    statuses: &'a dyn Fn(&str) -> Option<Status>,
}

impl Writer<'_> {
    fn status(&self, key: &str, own: Status) -> Status {
        (self.statuses)(key).unwrap_or(own)
    }

    fn roadmap(&mut self, r: &Roadmap) {
        if let Some(title) = &r.title {
            self.heading(1, title);
        }
        for p in &r.intro {
            self.paragraph(p);
        }
        if r.title.is_some() || !r.intro.is_empty() {
            self.rule();
        }
        let places = table_places(r);
        let mut inline: Vec<Vec<&TrackerTable>> = vec![Vec::new(); r.phases.len()];
        for (t, place) in r.tracker.iter().zip(&places) {
            if let Place::InPhase(i) = place {
                inline[*i].push(t);
            }
        }
        for (i, phase) in r.phases.iter().enumerate() {
            if i > 0 {
                self.rule();
            }
            self.phase(phase);
            for t in &inline[i] {
                self.table(t);
            }
        }
        if !r.resources.is_empty() {
            self.rule();
            self.heading(2, "**Resources**");
            for group in &r.resources {
                let nested = !group.title.is_empty();
                if nested {
                    let _ = writeln!(self.out, "- **{}**:", group.title);
                }
                for res in &group.resources {
                    let indent = if nested { "  " } else { "" };
                    match &res.url {
                        Some(url) => {
                            let _ = writeln!(self.out, "{indent}- [{}]({url})", res.title);
                        }
                        None => {
                            let _ = writeln!(self.out, "{indent}- {}", res.title);
                        }
                    }
                }
            }
            self.out.push('\n');
        }
        let standalone: Vec<&TrackerTable> = r
            .tracker
            .iter()
            .zip(&places)
            .filter(|(_, place)| !matches!(place, Place::InPhase(_)))
            .map(|(t, _)| t)
            .collect();
        if !standalone.is_empty() {
            self.rule();
            self.heading(2, "**Progress Tracker**");
            // Untitled tables first: after a caption they would be read as under it.
            let (untitled, titled): (Vec<&TrackerTable>, Vec<&TrackerTable>) =
                standalone.into_iter().partition(|t| t.title.is_empty());
            for t in untitled {
                self.table(t);
            }
            let mut caption: Option<&str> = None;
            for t in titled {
                if caption != Some(t.title.as_str()) {
                    self.heading(3, &format!("**{}**", t.title));
                    caption = Some(&t.title);
                }
                self.table(t);
            }
        }
        if !r.project_ideas.is_empty() {
            self.rule();
            self.heading(2, "**Project Ideas**");
            for (i, idea) in r.project_ideas.iter().enumerate() {
                self.idea(i + 1, idea);
            }
        }
        if !r.notes.is_empty() {
            self.rule();
            self.heading(2, "Notes");
            for n in &r.notes {
                self.paragraph(n);
            }
        }
    }

    fn phase(&mut self, p: &Phase) {
        let mut heading = format!("**Phase {}", p.number);
        if !p.title.is_empty() {
            let _ = write!(heading, ": {}", p.title);
        }
        match p.week_range {
            Some((a, b)) if a == b => {
                let _ = write!(heading, " (Week {a})");
            }
            Some((a, b)) => {
                let _ = write!(heading, " (Weeks {a}-{b})");
            }
            None => {}
        }
        heading.push_str("**");
        self.heading(2, &heading);
        if let Some(goal) = &p.goal {
            let _ = writeln!(self.out, "**Goal**: {goal}\n");
        }
        for n in &p.notes {
            self.paragraph(n);
        }
        for (i, week) in p.weeks.iter().enumerate() {
            if i > 0 {
                self.rule();
            }
            let (a, b) = week.weeks;
            let mut heading = if a == b {
                format!("Week {a}")
            } else {
                format!("Weeks {a}-{b}")
            };
            if !week.title.is_empty() {
                let _ = write!(heading, ": {}", week.title);
            }
            self.heading(3, &heading);
            for item in &week.items {
                self.item(item);
            }
            if !week.items.is_empty() {
                self.out.push('\n');
            }
            for n in &week.notes {
                self.paragraph(n);
            }
        }
    }

    fn item(&mut self, item: &Item) {
        let marker = self.status(&item.key, item.status).emoji();
        let text = if marker.is_empty() {
            item.text.clone()
        } else {
            format!("{marker} {}", item.text)
        };
        let text = text.trim_end();
        // A bullet with neither status nor text would read back as nothing at all; `[ ]` (not
        // started) keeps it an item.
        let text = if text.is_empty() && matches!(item.kind, ItemKind::Bullet) {
            "[ ]"
        } else {
            text
        };
        match item.kind {
            ItemKind::Day { from, to } if from == to => {
                let _ = writeln!(self.out, "- **Day {from}**: {text}");
            }
            ItemKind::Day { from, to } => {
                let _ = writeln!(self.out, "- **Day {from}-{to}**: {text}");
            }
            ItemKind::Bullet => {
                let _ = writeln!(self.out, "- {text}");
            }
        }
        // Sub-bullets: a note carrying links adds them to the resources when read back, so
        // pure links are written as "Resources:" lines placed between such notes in the order
        // that reproduces `item.resources`.
        let mut next = 0;
        let mut pure: Vec<&Link> = Vec::new();
        for note in &item.notes {
            let carried: Vec<Link> = find_links(note).into_iter().map(|(_, l)| l).collect();
            if !carried.is_empty() {
                while next < item.resources.len() && !item.resources[next..].starts_with(&carried) {
                    pure.push(&item.resources[next]);
                    next += 1;
                }
                self.resources_line(&mut pure);
                next = (next + carried.len()).min(item.resources.len());
            }
            let _ = writeln!(self.out, "  - {note}");
        }
        pure.extend(&item.resources[next..]);
        self.resources_line(&mut pure);
    }

    fn resources_line(&mut self, links: &mut Vec<&Link>) {
        if links.is_empty() {
            return;
        }
        let list: Vec<String> = links
            .iter()
            .map(|l| format!("[{}]({})", l.title, l.url))
            .collect();
        let _ = writeln!(self.out, "  - Resources: {}", list.join(", "));
        links.clear();
    }

    fn table(&mut self, t: &TrackerTable) {
        let mut rows: Vec<Vec<String>> = Vec::with_capacity(t.rows.len() + 1);
        let mut header = vec![
            "Week".to_string(),
            "Task".to_string(),
            "Status (✅/🚧/❌)".to_string(),
        ];
        header.extend(t.extra_columns.iter().cloned());
        rows.push(header);
        for row in &t.rows {
            let status = self.status(&row.key, row.status);
            let mut cells = vec![
                row.week.clone(),
                row.task.clone(),
                status.emoji().to_string(),
            ];
            cells.extend(row.extra.iter().cloned());
            rows.push(cells);
        }
        let rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|r| r.into_iter().map(|c| c.replace('|', "\\|")).collect())
            .collect();
        let columns = rows[0].len();
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(3)
            })
            .collect();
        let line = |cells: &[String]| -> String {
            let mut s = String::from("|");
            for (cell, width) in cells.iter().zip(&widths) {
                let pad = width - cell.chars().count();
                let _ = write!(s, " {cell}{} |", " ".repeat(pad));
            }
            s
        };
        let _ = writeln!(self.out, "{}", line(&rows[0]));
        let mut delimiter = String::from("|");
        for width in &widths {
            delimiter.push_str(&"-".repeat(width + 2));
            delimiter.push('|');
        }
        let _ = writeln!(self.out, "{delimiter}");
        for r in &rows[1..] {
            let _ = writeln!(self.out, "{}", line(r));
        }
        self.out.push('\n');
    }

    fn idea(&mut self, number: usize, idea: &Idea) {
        if idea.title.is_empty() {
            self.heading(3, &format!("{number}."));
        } else {
            self.heading(3, &format!("{number}. **{}**", idea.title));
        }
        for p in idea.description.split("\n\n").filter(|p| !p.is_empty()) {
            self.paragraph(p);
        }
        list(&mut self.out, "Features", &idea.features);
        list(&mut self.out, "Tech Stack", &idea.tech_stack);
        // In order: one-line notes as bullets, code and tables (multi-line) as blocks.
        for n in &idea.notes {
            if n.contains('\n') {
                self.out.push('\n');
                self.paragraph(n);
            } else {
                let _ = writeln!(self.out, "- {n}");
            }
        }
        self.out.push('\n');
    }

    fn heading(&mut self, level: usize, text: &str) {
        // A trailing '#' would be read as a closing sequence; a second one protects it.
        let guard = if text.ends_with('#') { " #" } else { "" };
        let _ = writeln!(self.out, "{} {text}{guard}\n", "#".repeat(level));
    }

    fn paragraph(&mut self, text: &str) {
        if is_verbatim_block(text) {
            let _ = writeln!(self.out, "{text}\n");
        } else {
            let _ = writeln!(self.out, "{}\n", escape_paragraph(text));
        }
    }

    fn rule(&mut self) {
        self.out.push_str("---\n\n");
    }
}

/// Where the export writes a tracker table. The parser orders tables by this too, so that
/// their order survives a round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Place {
    /// Inside the phase at this position: an uncaptioned table that sat in a phase. When
    /// phase numbers repeat, the first phase with the number takes it.
    InPhase(usize),
    /// At the top of the tracker section: no caption and no phase.
    Uncaptioned,
    /// Under its caption in the tracker section.
    Captioned,
}

pub(crate) fn table_places(r: &Roadmap) -> Vec<Place> {
    // Indexed once: looking phases up per table would be quadratic on hostile input.
    let mut first: HashMap<u32, usize> = HashMap::new();
    for (i, p) in r.phases.iter().enumerate() {
        first.entry(p.number).or_insert(i);
    }
    r.tracker
        .iter()
        .map(|t| match t.phase.and_then(|n| first.get(&n)) {
            Some(&i) if t.title.is_empty() => Place::InPhase(i),
            _ if t.title.is_empty() => Place::Uncaptioned,
            _ => Place::Captioned,
        })
        .collect()
}

/// `- **Features**: a, b.` when the items survive being split on commas again, otherwise one
/// sub-bullet per item.
fn list(out: &mut String, label: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let inline_safe = items.iter().all(|f| {
        let lower = f.to_lowercase();
        !f.is_empty()
            && f.trim() == f
            && !f.contains([',', ';', '(', ')'])
            && !lower.starts_with("and ")
            && !lower.starts_with("or ")
    });
    if inline_safe {
        let _ = writeln!(out, "- **{label}**: {}.", items.join(", "));
    } else {
        let _ = writeln!(out, "- **{label}**:");
        for f in items {
            let _ = writeln!(out, "  - {f}");
        }
    }
}

/// Fenced code and non-tracker tables are stored with their markup and written back as is.
fn is_verbatim_block(text: &str) -> bool {
    let lines: Vec<&str> = text.lines().collect();
    let Some(first) = lines.first() else {
        return false;
    };
    if first.starts_with("```") || first.starts_with("~~~") {
        let marker = first.as_bytes()[0];
        let open = first.bytes().take_while(|&b| b == marker).count();
        let last = lines[lines.len() - 1].trim();
        return lines.len() >= 2 && last.len() >= open && last.bytes().all(|b| b == marker);
    }
    if lines.iter().all(|l| l.starts_with('|')) {
        // A tracker-like header would come back as a tracker table rather than a note, so such
        // a note is written escaped instead.
        return tracker_columns(&split_cells(first)).is_none();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TrackerRow;

    #[test]
    fn tables_are_padded_and_pipes_escaped() {
        let table = TrackerTable {
            title: String::new(),
            phase: None,
            extra_columns: vec![],
            rows: vec![TrackerRow {
                key: "k".into(),
                week: "1".into(),
                weeks: Some((1, 1)),
                task: "a|b".into(),
                status: Status::Done,
                extra: vec![],
                line: 1,
            }],
            line: 1,
        };
        let mut w = Writer {
            out: String::new(),
            statuses: &|_| None,
        };
        w.table(&table);
        assert_eq!(
            w.out,
            "| Week | Task | Status (✅/🚧/❌) |\n|------|------|----------------|\n| 1    | a\\|b | ✅              |\n\n"
        );
    }

    #[test]
    fn the_status_lookup_overrides_the_recorded_status() {
        let mut w = Writer {
            out: String::new(),
            statuses: &|key| (key == "k").then_some(Status::Learning),
        };
        assert_eq!(w.status("k", Status::Done), Status::Learning);
        assert_eq!(w.status("other", Status::Done), Status::Done);
        w.out.clear();
    }

    #[test]
    fn lists_fall_back_to_sub_bullets_when_commas_would_split_them() {
        let mut out = String::new();
        list(&mut out, "Features", &["a".into(), "b".into()]);
        assert_eq!(out, "- **Features**: a, b.\n");
        out.clear();
        list(&mut out, "Features", &["a, b".into(), "and c".into()]);
        assert_eq!(out, "- **Features**:\n  - a, b\n  - and c\n");
    }

    #[test]
    fn fences_and_plain_tables_are_written_verbatim_but_not_tracker_like_text() {
        assert!(is_verbatim_block("```\ncode\n```"));
        assert!(!is_verbatim_block("```\nunclosed"));
        assert!(is_verbatim_block("| a | b |\n|---|---|"));
        assert!(!is_verbatim_block("| Task | Status |"));
        assert!(!is_verbatim_block("plain"));
    }

    #[test]
    fn a_heading_ending_in_a_hash_gets_a_guard() {
        let mut w = Writer {
            out: String::new(),
            statuses: &|_| None,
        };
        w.heading(3, "Week 1: C #");
        assert_eq!(w.out, "### Week 1: C # #\n\n");
    }
}
