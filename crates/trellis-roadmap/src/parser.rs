//! The line-based roadmap parser.
//!
//! Markdown outlines are line-oriented, and what a line means depends on which section it is
//! in (a `### Phase 1` heading is a phase at the top level but a table caption inside the
//! progress tracker). So this is a single pass over the lines with a small state machine rather
//! than a generic markdown tree: each heading decides the *region* that the following lines
//! belong to, paragraphs and bullets are collected into blocks, and each finished block is
//! dispatched to the region's structure. Whatever fits no structure becomes a note of the
//! nearest enclosing node, so nothing is dropped.

use crate::error::ParseError;
use crate::export::{Place, table_places};
use crate::model::{
    Idea, Item, ItemKind, Phase, Resource, ResourceGroup, Roadmap, Status, TrackerRow,
    TrackerTable, Warning, WeekSection,
};
use crate::text::{
    LinkLine, SectionKind, clean_heading, day_label, goal_text, is_delimiter_row, leading_status,
    link_line, phase_heading, section_kind, split_cells, split_label, split_list, status_cell,
    strip_numbering, tracker_columns, unescape_paragraph, week_cell, week_heading,
};
use crate::validate;

type Result<T> = std::result::Result<T, ParseError>;

pub(crate) fn parse_text(text: &str) -> Result<Roadmap> {
    let mut parser = Parser::default();
    let mut last = 1;
    // The empty segment after a final newline is not a line, as editors count them.
    let body = text.strip_suffix('\n').unwrap_or(text);
    for (index, raw) in body.split('\n').enumerate() {
        last = index + 1;
        parser.line(raw.strip_suffix('\r').unwrap_or(raw), last)?;
    }
    parser.finish(last)
}

enum LineKind<'a> {
    Blank,
    Rule,
    Fence(&'a str),
    Heading(u8, &'a str),
    Bullet(usize, &'a str),
    Table(&'a str),
    Text(usize, &'a str),
}

fn classify(line: &str) -> LineKind<'_> {
    let (indent, t) = indentation(line);
    let t = t.trim_end();
    if t.is_empty() {
        return LineKind::Blank;
    }
    if is_rule(t) {
        return LineKind::Rule;
    }
    if t.starts_with("```") || t.starts_with("~~~") {
        let marker = t.as_bytes()[0];
        let n = t.bytes().take_while(|&b| b == marker).count();
        return LineKind::Fence(&t[..n]);
    }
    if indent < 4 && t.starts_with('#') {
        let level = t.bytes().take_while(|&b| b == b'#').count();
        let rest = &t[level..];
        if level <= 6 && (rest.is_empty() || rest.starts_with([' ', '\t'])) {
            return LineKind::Heading(level as u8, strip_closing_hashes(rest.trim()));
        }
    }
    if t.starts_with('|') {
        return LineKind::Table(t);
    }
    if let Some(rest) = bullet_text(t) {
        return LineKind::Bullet(indent, rest);
    }
    LineKind::Text(indent, t)
}

/// Leading whitespace as a column count (tabs to multiples of 4) and the rest.
fn indentation(line: &str) -> (usize, &str) {
    let mut width = 0;
    for (i, c) in line.char_indices() {
        match c {
            ' ' => width += 1,
            '\t' => width += 4 - width % 4,
            _ => return (width, &line[i..]),
        }
    }
    (width, "")
}

fn is_rule(t: &str) -> bool {
    let mut marks = t.chars().filter(|c| !c.is_whitespace());
    let Some(first) = marks.next() else {
        return false;
    };
    let mut count = 1;
    for c in marks {
        if c != first {
            return false;
        }
        count += 1;
    }
    matches!(first, '-' | '*' | '_') && count >= 3
}

/// "## Title ##" → "Title"; a '#' glued to a word ("C#") is part of the title.
fn strip_closing_hashes(t: &str) -> &str {
    let stripped = t.trim_end_matches('#');
    if stripped.is_empty() {
        ""
    } else if stripped.len() < t.len() && stripped.ends_with([' ', '\t']) {
        stripped.trim_end()
    } else {
        t
    }
}

fn bullet_text(t: &str) -> Option<&str> {
    if let Some(rest) = t.strip_prefix(['-', '*', '+']) {
        return (rest.is_empty() || rest.starts_with([' ', '\t'])).then(|| rest.trim());
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=9).contains(&digits) {
        let rest = t[digits..].strip_prefix(['.', ')'])?;
        return (rest.is_empty() || rest.starts_with([' ', '\t'])).then(|| rest.trim());
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Region {
    /// Before the first phase: title and intro.
    #[default]
    Preamble,
    Phase,
    Tracker,
    Resources,
    Ideas,
    Notes,
    /// Under a heading that is none of the above; its text becomes document notes.
    Other,
}

/// Where sub-bullets (and indented paragraphs) of the current list go.
#[derive(Debug, Clone, Copy, Default)]
enum Ctx {
    #[default]
    None,
    Entry(usize),
    PhaseNotes,
    Group(usize),
    IdeaFeatures,
    IdeaTech,
    IdeaNotes,
    DocNotes,
    Intro,
}

/// A top-level bullet of a week section. Whether a plain bullet is an item or a note depends
/// on whether the section has Day lines, which is only known when the section ends.
struct Entry {
    raw: String,
    text: String,
    line: usize,
    day: Option<(u32, u32)>,
    status: Status,
    subs: Vec<String>,
}

struct OpenWeek {
    section: WeekSection,
    level: u8,
    entries: Vec<Entry>,
}

enum Block {
    Para {
        text: String,
        line: usize,
        nested: bool,
    },
    Bullet {
        top: bool,
        text: String,
        line: usize,
    },
}

struct Fence {
    marker: String,
    lines: Vec<String>,
}

#[derive(Default)]
struct Parser<'a> {
    out: Roadmap,
    warnings: Vec<Warning>,
    region: Region,
    region_level: u8,
    phase_level: u8,
    week: Option<OpenWeek>,
    tracker_title: String,
    tracker_phase: Option<u32>,
    heading_group: Option<usize>,
    idea: Option<usize>,
    idea_from_heading: bool,
    block: Option<Block>,
    /// Indentation of the current list's top-level bullets.
    list_base: Option<usize>,
    ctx: Ctx,
    blank_before: bool,
    /// The previous line ended in a markdown hard break (two spaces).
    hard_break: bool,
    table: Vec<(usize, &'a str)>,
    fence: Option<Fence>,
}

impl<'a> Parser<'a> {
    fn line(&mut self, raw: &'a str, line: usize) -> Result<()> {
        if let Some(fence) = &mut self.fence {
            let t = raw.trim();
            let closes = t.starts_with(fence.marker.as_str())
                && t.bytes()
                    .all(|b| Some(&b) == fence.marker.as_bytes().first());
            fence.lines.push(if closes { t } else { raw }.to_string());
            if closes && let Some(fence) = self.fence.take() {
                self.block_note(fence.lines.join("\n"));
            }
            return Ok(());
        }
        let kind = classify(raw);
        if !matches!(kind, LineKind::Table(_)) && !self.table.is_empty() {
            self.finish_table()?;
        }
        match kind {
            LineKind::Blank => {
                self.flush()?;
                self.blank_before = true;
                return Ok(());
            }
            LineKind::Rule => {
                self.flush()?;
                self.end_list();
            }
            LineKind::Fence(marker) => {
                self.flush()?;
                self.end_list();
                self.fence = Some(Fence {
                    marker: marker.to_string(),
                    lines: vec![raw.trim().to_string()],
                });
            }
            LineKind::Heading(level, text) => self.heading(level, text, line)?,
            LineKind::Table(t) => {
                if self.table.is_empty() {
                    self.flush()?;
                    self.end_list();
                }
                self.table.push((line, t));
            }
            LineKind::Bullet(indent, text) => self.bullet(indent, text, line)?,
            LineKind::Text(indent, text) => self.text(indent, text, line)?,
        }
        self.blank_before = false;
        self.hard_break = raw.ends_with("  ");
        Ok(())
    }

    fn finish(mut self, last_line: usize) -> Result<Roadmap> {
        // An unclosed fence runs to the end of the file, as in markdown; closing it here keeps
        // the exported copy from swallowing whatever the export writes after it.
        if let Some(mut fence) = self.fence.take() {
            fence.lines.push(fence.marker.clone());
            self.block_note(fence.lines.join("\n"));
        }
        if !self.table.is_empty() {
            self.finish_table()?;
        }
        self.flush()?;
        self.close_week();
        if self.out.phases.is_empty() {
            return Err(ParseError::NoPhases { line: last_line });
        }
        // Document order, except that tables go where the export writes them (see `Place`);
        // only unusual documents, e.g. with a table before the first phase, change. Stable.
        let places = table_places(&self.out);
        let mut tables: Vec<(Place, TrackerTable)> = places
            .into_iter()
            .zip(std::mem::take(&mut self.out.tracker))
            .collect();
        tables.sort_by_key(|(place, _)| *place);
        self.out.tracker = tables.into_iter().map(|(_, t)| t).collect();
        let mut warnings = std::mem::take(&mut self.warnings);
        warnings.extend(validate::check(&self.out));
        warnings.sort_by_key(|w| w.line);
        self.out.warnings = warnings;
        self.out.assign_keys();
        Ok(self.out)
    }

    fn end_list(&mut self) {
        self.list_base = None;
        self.ctx = Ctx::None;
    }

    fn bullet(&mut self, indent: usize, text: &str, line: usize) -> Result<()> {
        self.flush()?;
        let top = match self.list_base {
            Some(base) if indent >= base => indent <= base + 1,
            _ => {
                self.list_base = Some(indent);
                true
            }
        };
        // An empty bullet carries nothing to keep.
        if !text.is_empty() {
            self.block = Some(Block::Bullet {
                top,
                text: text.to_string(),
                line,
            });
        }
        Ok(())
    }

    fn text(&mut self, indent: usize, text: &str, line: usize) -> Result<()> {
        // A line that starts with a bold label ("**Goal**: ...") is a line of its own, as the
        // writer meant even without a blank line between.
        let starts_label = text.starts_with("**") && split_label(text).is_some_and(|l| l.separated);
        if !self.blank_before
            && !self.hard_break
            && !starts_label
            && let Some(Block::Para { text: t, .. } | Block::Bullet { text: t, .. }) =
                &mut self.block
        {
            // A soft line break: the line continues the paragraph or bullet above.
            t.push(' ');
            t.push_str(text);
            return Ok(());
        }
        self.flush()?;
        let nested = match self.list_base {
            Some(base) if indent >= base + 2 => true,
            Some(_) => {
                self.end_list();
                false
            }
            None => false,
        };
        self.block = Some(Block::Para {
            text: text.to_string(),
            line,
            nested,
        });
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        match self.block.take() {
            None => Ok(()),
            Some(Block::Para {
                text,
                line,
                nested: true,
            }) => self.sub_item(unescape_paragraph(&text), line),
            Some(Block::Para {
                text,
                nested: false,
                ..
            }) => {
                self.paragraph(&text);
                Ok(())
            }
            Some(Block::Bullet {
                top: true,
                text,
                line,
            }) => self.top_bullet(text, line),
            Some(Block::Bullet {
                top: false,
                text,
                line,
            }) => self.sub_item(text, line),
        }
    }

    fn heading(&mut self, level: u8, raw: &str, line: usize) -> Result<()> {
        self.flush()?;
        self.end_list();
        let text = clean_heading(raw);
        if text.is_empty() {
            return Ok(());
        }
        // Inside the tracker, resources and ideas, a deeper heading is part of that section even
        // when it reads "Phase 1" (the seed captions its tracker tables that way).
        if level > self.region_level {
            match self.region {
                Region::Tracker => {
                    self.tracker_phase = phase_heading(&text).map(|p| p.number);
                    self.tracker_title = text;
                    return Ok(());
                }
                Region::Resources => {
                    let title = text.trim_end_matches(':').trim().to_string();
                    self.out.resources.push(ResourceGroup {
                        title,
                        resources: vec![],
                        line,
                    });
                    self.heading_group = Some(self.out.resources.len() - 1);
                    return Ok(());
                }
                Region::Ideas => {
                    self.new_idea(
                        strip_numbering(&text).to_string(),
                        String::new(),
                        line,
                        true,
                    );
                    return Ok(());
                }
                Region::Notes | Region::Other => {
                    self.out.notes.push(text);
                    return Ok(());
                }
                Region::Preamble | Region::Phase => {}
            }
        }
        if let Some(kind) = section_kind(&text) {
            self.close_week();
            self.region = match kind {
                SectionKind::Tracker => Region::Tracker,
                SectionKind::Resources => Region::Resources,
                SectionKind::Ideas => Region::Ideas,
                SectionKind::Notes => Region::Notes,
            };
            self.region_level = level;
            self.tracker_title.clear();
            self.tracker_phase = None;
            self.heading_group = None;
            self.idea = None;
            self.idea_from_heading = false;
            return Ok(());
        }
        if let Some(ph) = phase_heading(&text) {
            if let Some((from, to)) = ph.weeks
                && from > to
            {
                return Err(ParseError::BackwardsRange {
                    line,
                    what: "week",
                    from,
                    to,
                });
            }
            self.close_week();
            self.out.phases.push(Phase {
                number: ph.number,
                title: ph.title,
                week_range: ph.weeks,
                goal: None,
                weeks: vec![],
                notes: vec![],
                line,
            });
            self.region = Region::Phase;
            self.region_level = level;
            self.phase_level = level;
            return Ok(());
        }
        if let Some(((from, to), title)) = week_heading(&text) {
            if from > to {
                return Err(ParseError::BackwardsRange {
                    line,
                    what: "week",
                    from,
                    to,
                });
            }
            self.close_week();
            if self.out.phases.is_empty() {
                self.out.phases.push(Phase {
                    number: 1,
                    title: String::new(),
                    week_range: None,
                    goal: None,
                    weeks: vec![],
                    notes: vec![],
                    line,
                });
                self.phase_level = level.saturating_sub(1);
                self.warnings.push(Warning {
                    line,
                    message: "week section before any phase heading; grouped into Phase 1".into(),
                });
            }
            // A week heading after another section goes back to the last phase.
            self.region = Region::Phase;
            self.region_level = self.phase_level;
            self.week = Some(OpenWeek {
                section: WeekSection {
                    weeks: (from, to),
                    title,
                    items: vec![],
                    notes: vec![],
                    line,
                },
                level,
                entries: vec![],
            });
            return Ok(());
        }
        if self.region == Region::Phase {
            if self.take_goal(&text) {
                return Ok(());
            }
            if let Some(week) = &mut self.week
                && level > week.level
            {
                week.section.notes.push(text);
                return Ok(());
            }
            if level > self.phase_level {
                self.close_week();
                if let Some(phase) = self.out.phases.last_mut() {
                    phase.notes.push(text);
                }
                return Ok(());
            }
        }
        if self.region == Region::Preamble && self.out.title.is_none() {
            self.out.title = Some(text);
            return Ok(());
        }
        self.close_week();
        self.region = Region::Other;
        self.region_level = level;
        self.out.notes.push(text);
        Ok(())
    }

    /// `**Goal**: ...` anywhere in a phase sets the phase's goal once; a second one is a note.
    fn take_goal(&mut self, text: &str) -> bool {
        if let Some(goal) = goal_text(text)
            && let Some(phase) = self.out.phases.last_mut()
            && phase.goal.is_none()
        {
            phase.goal = Some(goal.to_string());
            return true;
        }
        false
    }

    fn paragraph(&mut self, raw: &str) {
        let text = unescape_paragraph(raw);
        match self.region {
            Region::Preamble => self.out.intro.push(text),
            Region::Phase => {
                // Checked on the raw text so that an escaped "\**Goal**" stays a note.
                if self.take_goal(raw) {
                    return;
                }
                self.phase_note(text);
            }
            Region::Ideas => match self.idea {
                Some(i) => {
                    let description = &mut self.out.project_ideas[i].description;
                    if !description.is_empty() {
                        description.push_str("\n\n");
                    }
                    description.push_str(&text);
                }
                None => self.out.notes.push(text),
            },
            Region::Tracker | Region::Resources | Region::Notes | Region::Other => {
                self.out.notes.push(text)
            }
        }
    }

    /// A note for the innermost open node of a phase: the week section, else the phase.
    fn phase_note(&mut self, text: String) {
        if let Some(week) = &mut self.week {
            week.section.notes.push(text);
        } else if let Some(phase) = self.out.phases.last_mut() {
            phase.notes.push(text);
        }
    }

    /// A table that is not a tracker, or a fenced code block.
    fn block_note(&mut self, note: String) {
        match self.region {
            Region::Preamble => self.out.intro.push(note),
            Region::Phase => self.phase_note(note),
            Region::Ideas if self.idea.is_some() => {
                if let Some(i) = self.idea {
                    self.out.project_ideas[i].notes.push(note);
                }
            }
            _ => self.out.notes.push(note),
        }
    }

    fn top_bullet(&mut self, text: String, line: usize) -> Result<()> {
        match self.region {
            Region::Preamble => {
                self.out.intro.push(text);
                self.ctx = Ctx::Intro;
            }
            Region::Phase => {
                if self.take_goal(&text) {
                    self.ctx = Ctx::PhaseNotes;
                } else if let Some(week) = &mut self.week {
                    week.entries.push(entry(text, line)?);
                    self.ctx = Ctx::Entry(week.entries.len() - 1);
                } else {
                    self.phase_note(text);
                    self.ctx = Ctx::PhaseNotes;
                }
            }
            Region::Resources => self.resource_bullet(text, line),
            Region::Ideas => self.idea_bullet(text, line, true),
            Region::Tracker | Region::Notes | Region::Other => {
                self.out.notes.push(text);
                self.ctx = Ctx::DocNotes;
            }
        }
        Ok(())
    }

    fn sub_item(&mut self, text: String, line: usize) -> Result<()> {
        match self.ctx {
            Ctx::Entry(i) => {
                if let Some(entry) = self.week.as_mut().and_then(|w| w.entries.get_mut(i)) {
                    entry.subs.push(text);
                }
            }
            Ctx::PhaseNotes => self.phase_note(text),
            Ctx::Group(g) => {
                if self.out.resources[g].title.is_empty() {
                    // Under an untitled entry a labelled bullet still starts a group, so the
                    // export (which writes untitled entries at the top level) reads back alike.
                    self.resource_bullet(text, line);
                } else {
                    self.out.resources[g]
                        .resources
                        .extend(resources_in(&text, line));
                }
            }
            Ctx::IdeaFeatures | Ctx::IdeaTech | Ctx::IdeaNotes => {
                self.idea_bullet(text, line, false)
            }
            Ctx::DocNotes => self.out.notes.push(text),
            Ctx::Intro => self.out.intro.push(text),
            Ctx::None => return self.top_bullet(text, line),
        }
        Ok(())
    }

    fn resource_bullet(&mut self, text: String, line: usize) {
        let label = split_label(&text).filter(|l| {
            !l.name.contains('[') && ((l.bold && l.separated) || (!l.bold && l.rest.is_empty()))
        });
        if let Some(label) = label {
            self.out.resources.push(ResourceGroup {
                title: label.name.to_string(),
                resources: resources_in(label.rest, line),
                line,
            });
            self.ctx = Ctx::Group(self.out.resources.len() - 1);
            return;
        }
        let g = match (self.heading_group, self.out.resources.last()) {
            (Some(g), _) => g,
            (None, Some(last)) if last.title.is_empty() => self.out.resources.len() - 1,
            (None, _) => {
                self.out.resources.push(ResourceGroup {
                    title: String::new(),
                    resources: vec![],
                    line,
                });
                self.out.resources.len() - 1
            }
        };
        self.out.resources[g]
            .resources
            .extend(resources_in(&text, line));
        self.ctx = Ctx::Group(g);
    }

    fn new_idea(&mut self, title: String, description: String, line: usize, from_heading: bool) {
        self.out.project_ideas.push(Idea {
            title,
            description,
            features: vec![],
            tech_stack: vec![],
            notes: vec![],
            line,
        });
        self.idea = Some(self.out.project_ideas.len() - 1);
        self.idea_from_heading = from_heading;
    }

    fn idea_bullet(&mut self, text: String, line: usize, top: bool) {
        if top && !(self.idea.is_some() && self.idea_from_heading) {
            // Ideas written as a bullet list: "- **Blog**: a simple blog".
            let (title, description) = match split_label(&text) {
                Some(l) if l.separated => (l.name.to_string(), l.rest.to_string()),
                _ => (text.clone(), String::new()),
            };
            let title = clean_heading(&title);
            self.new_idea(
                strip_numbering(&title).to_string(),
                description,
                line,
                false,
            );
            self.ctx = Ctx::IdeaNotes;
            return;
        }
        let Some(i) = self.idea else {
            self.out.notes.push(text);
            return;
        };
        let idea = &mut self.out.project_ideas[i];
        if let Some(label) = split_label(&text)
            && let Some(kind) = list_kind(label.name)
        {
            let items = split_list(label.rest);
            match kind {
                ListKind::Features => {
                    idea.features.extend(items);
                    self.ctx = Ctx::IdeaFeatures;
                }
                ListKind::TechStack => {
                    idea.tech_stack.extend(items);
                    self.ctx = Ctx::IdeaTech;
                }
            }
            return;
        }
        match (top, self.ctx) {
            (false, Ctx::IdeaFeatures) => idea.features.push(text),
            (false, Ctx::IdeaTech) => idea.tech_stack.push(text),
            _ => {
                idea.notes.push(text);
                self.ctx = Ctx::IdeaNotes;
            }
        }
    }

    fn close_week(&mut self) {
        let Some(OpenWeek {
            mut section,
            entries,
            ..
        }) = self.week.take()
        else {
            return;
        };
        let has_days = entries.iter().any(|e| e.day.is_some());
        for e in entries {
            if e.day.is_none() && has_days {
                // A loose remark among Day lines, not a scheduled item.
                section.notes.push(e.raw);
                section.notes.extend(e.subs);
                continue;
            }
            let mut item = Item {
                key: String::new(),
                kind: match e.day {
                    Some((from, to)) => ItemKind::Day { from, to },
                    None => ItemKind::Bullet,
                },
                text: e.text,
                status: e.status,
                notes: vec![],
                resources: vec![],
                line: e.line,
            };
            for sub in e.subs {
                match link_line(&sub) {
                    LinkLine::Pure(links) => item.resources.extend(links),
                    LinkLine::Mixed(links) => {
                        item.resources.extend(links);
                        item.notes.push(sub);
                    }
                    LinkLine::None => item.notes.push(sub),
                }
            }
            section.items.push(item);
        }
        if let Some(phase) = self.out.phases.last_mut() {
            phase.weeks.push(section);
        }
    }

    fn finish_table(&mut self) -> Result<()> {
        let rows = std::mem::take(&mut self.table);
        let Some(&(first_line, header_line)) = rows.first() else {
            return Ok(());
        };
        let header = split_cells(header_line);
        let Some((week_col, task_col, status_col)) = tracker_columns(&header) else {
            let lines: Vec<&str> = rows.iter().map(|(_, l)| l.trim()).collect();
            self.block_note(lines.join("\n"));
            return Ok(());
        };
        let mut body = &rows[1..];
        if let Some(&(line, first)) = body.first() {
            let cells = split_cells(first);
            if is_delimiter_row(&cells) {
                if cells.len() != header.len() {
                    return Err(ParseError::TableCells {
                        line,
                        expected: header.len(),
                        found: cells.len(),
                    });
                }
                body = &body[1..];
            }
        }
        let extra: Vec<usize> = (0..header.len())
            .filter(|&i| Some(i) != week_col && i != task_col && i != status_col)
            .collect();
        let (title, phase) = match self.region {
            Region::Tracker => (self.tracker_title.clone(), self.tracker_phase),
            Region::Phase => (String::new(), self.out.phases.last().map(|p| p.number)),
            _ => (String::new(), None),
        };
        let mut table = TrackerTable {
            title,
            phase,
            extra_columns: extra.iter().map(|&i| header[i].clone()).collect(),
            rows: Vec::with_capacity(body.len()),
            line: first_line,
        };
        for &(line, raw) in body {
            let cells = split_cells(raw);
            if cells.len() != header.len() {
                return Err(ParseError::TableCells {
                    line,
                    expected: header.len(),
                    found: cells.len(),
                });
            }
            let week = week_col.map(|i| cells[i].clone()).unwrap_or_default();
            let weeks = week_cell(&week);
            if let Some((from, to)) = weeks
                && from > to
            {
                return Err(ParseError::BackwardsRange {
                    line,
                    what: "week",
                    from,
                    to,
                });
            }
            let status = status_cell(&cells[status_col]).unwrap_or_else(|cell| {
                self.warnings.push(Warning {
                    line,
                    message: format!("status \"{cell}\" not recognised; counted as not started"),
                });
                Status::NotStarted
            });
            table.rows.push(TrackerRow {
                key: String::new(),
                week,
                weeks,
                task: cells[task_col].clone(),
                status,
                extra: extra.iter().map(|&i| cells[i].clone()).collect(),
                line,
            });
        }
        self.out.tracker.push(table);
        Ok(())
    }
}

/// Reads the status, Day label and text of a top-level bullet in a week section.
fn entry(raw: String, line: usize) -> Result<Entry> {
    let mut status = Status::NotStarted;
    let mut body = raw.as_str();
    if let Some((s, rest)) = leading_status(body) {
        status = s;
        body = rest;
    }
    let mut day = None;
    if let Some(label) = split_label(body)
        && let Some((from, to)) = day_label(label.name)
    {
        if from > to {
            return Err(ParseError::BackwardsRange {
                line,
                what: "day",
                from,
                to,
            });
        }
        day = Some((from, to));
        body = label.rest;
        if let Some((s, rest)) = leading_status(body) {
            status = s;
            body = rest;
        }
    }
    let text = body.to_string();
    Ok(Entry {
        raw,
        text,
        line,
        day,
        status,
        subs: vec![],
    })
}

/// Resources named by one bullet: each link of a pure link list, or else the whole text.
fn resources_in(text: &str, line: usize) -> Vec<Resource> {
    let text = text.trim();
    if text.is_empty() {
        return vec![];
    }
    match link_line(text) {
        LinkLine::Pure(links) => links
            .into_iter()
            .map(|l| Resource {
                title: l.title,
                url: Some(l.url),
                line,
            })
            .collect(),
        LinkLine::Mixed(_) | LinkLine::None => {
            vec![Resource {
                title: text.to_string(),
                url: None,
                line,
            }]
        }
    }
}

enum ListKind {
    Features,
    TechStack,
}

/// Which list of a project idea a bullet label names.
fn list_kind(name: &str) -> Option<ListKind> {
    match name.trim().to_lowercase().as_str() {
        "features" | "feature" | "key features" | "main features" => Some(ListKind::Features),
        "tech stack" | "tech-stack" | "techstack" | "stack" | "tech" | "technologies" | "tools"
        | "built with" => Some(ListKind::TechStack),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Roadmap {
        parse_text(text).unwrap()
    }

    #[test]
    fn a_rule_needs_three_marks_of_one_kind() {
        assert!(is_rule("---"));
        assert!(is_rule("* * *"));
        assert!(!is_rule("--"));
        assert!(!is_rule("-*-"));
    }

    #[test]
    fn closing_hashes_are_stripped_but_a_glued_hash_stays() {
        assert_eq!(strip_closing_hashes("Title ##"), "Title");
        assert_eq!(strip_closing_hashes("Learn C#"), "Learn C#");
        assert_eq!(strip_closing_hashes("Learn C# #"), "Learn C#");
    }

    #[test]
    fn bullets_need_a_space_after_the_marker() {
        assert_eq!(bullet_text("- a"), Some("a"));
        assert_eq!(bullet_text("12) b"), Some("b"));
        assert_eq!(bullet_text("**Goal**: x"), None);
        assert_eq!(bullet_text("*emphasis*"), None);
        assert_eq!(bullet_text("2024. A year"), Some("A year"));
        assert_eq!(bullet_text("1234567890. too long"), None);
    }

    #[test]
    fn a_line_right_after_a_bullet_continues_it() {
        let r = parse("## Phase 1\n### Week 1\n- **Day 1**: read the\n  first chapter\n");
        assert_eq!(r.phases[0].weeks[0].items[0].text, "read the first chapter");
    }

    #[test]
    fn an_indented_paragraph_after_a_blank_line_belongs_to_the_item() {
        let r = parse("## Phase 1\n### Week 1\n- **Day 1**: read\n\n  slowly\n\nafterwards\n");
        let week = &r.phases[0].weeks[0];
        assert_eq!(week.items[0].notes, ["slowly"]);
        assert_eq!(week.notes, ["afterwards"]);
    }

    #[test]
    fn hard_breaks_and_bold_labels_start_new_lines() {
        let r = parse("## Phase 1\n**Goal**: learn  \nthen build\n**Why**: fun\n");
        assert_eq!(r.phases[0].goal.as_deref(), Some("learn"));
        assert_eq!(r.phases[0].notes, ["then build", "**Why**: fun"]);
    }

    #[test]
    fn an_unclosed_fence_is_closed_at_the_end() {
        let r = parse("## Phase 1\n```\n## Week 1: not a heading\n");
        assert!(r.phases[0].weeks.is_empty());
        assert_eq!(r.phases[0].notes, ["```\n## Week 1: not a heading\n```"]);
    }

    #[test]
    fn a_week_heading_after_another_section_returns_to_the_last_phase() {
        let r = parse(
            "## Phase 1\n### Week 1\n- a\n## Resources\n- [x](https://x.example)\n## Week 2: late\n- b\n",
        );
        assert_eq!(r.phases[0].weeks.len(), 2);
        assert_eq!(
            r.resources[0].resources[0].url.as_deref(),
            Some("https://x.example")
        );
    }

    #[test]
    fn a_goal_heading_sets_the_goal_like_a_goal_line() {
        let r = parse("## Phase 1\n### Goal: ship it\n### Week 1\n- a\n");
        assert_eq!(r.phases[0].goal.as_deref(), Some("ship it"));
    }
}
