//! Inline-level helpers shared by the parser and the exporter: ranges, labels, links, status
//! markers and paragraph escaping.

use crate::model::{Link, Status};

/// Case-insensitive `strip_prefix` for an ASCII prefix.
pub(crate) fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let n = prefix.len();
    // Comparing bytes first means we only slice when the prefix (ASCII) matched, which is
    // always on a char boundary.
    (s.len() >= n && s.as_bytes()[..n].eq_ignore_ascii_case(prefix.as_bytes())).then(|| &s[n..])
}

fn number_prefix(s: &str) -> Option<(u32, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let n = s[..digits].parse().ok()?;
    Some((n, &s[digits..]))
}

/// "3", "3-4", "3 – 4", "3 to 4" at the start of `s`. The range is returned as written, even
/// backwards, so the caller can report it.
pub(crate) fn range_prefix(s: &str) -> Option<((u32, u32), &str)> {
    let (from, rest) = number_prefix(s)?;
    let spaced = rest.trim_start();
    let after_sep = spaced
        .strip_prefix(['-', '–', '—'])
        .or_else(|| strip_prefix_ci(spaced, "to").filter(|r| r.starts_with(char::is_whitespace)));
    if let Some(after) = after_sep
        && let Some((to, rest)) = number_prefix(after.trim_start())
    {
        return Some(((from, to), rest));
    }
    Some(((from, from), rest))
}

/// A whole string that is a range.
pub(crate) fn range_exact(s: &str) -> Option<(u32, u32)> {
    let (r, rest) = range_prefix(s.trim())?;
    rest.trim().is_empty().then_some(r)
}

/// "Week 3", "Weeks 8-10", "week 3 – 4" at the start of `s`.
pub(crate) fn week_prefix(s: &str) -> Option<((u32, u32), &str)> {
    let rest = strip_prefix_ci(s, "weeks").or_else(|| strip_prefix_ci(s, "week"))?;
    // "Weekly" and "Weekend" are words, not week numbers.
    if !rest.starts_with(|c: char| c.is_whitespace() || c.is_ascii_digit()) {
        return None;
    }
    range_prefix(rest.trim_start())
}

/// A Week cell of a tracker table: "1", "11-14", "Week 3".
pub(crate) fn week_cell(s: &str) -> Option<(u32, u32)> {
    let s = s.trim();
    if let Some((r, rest)) = week_prefix(s) {
        return rest.trim().is_empty().then_some(r);
    }
    range_exact(s)
}

/// "Day 3" / "Days 3-4" as a whole label.
pub(crate) fn day_label(label: &str) -> Option<(u32, u32)> {
    let rest =
        strip_prefix_ci(label.trim(), "days").or_else(|| strip_prefix_ci(label.trim(), "day"))?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    range_exact(rest)
}

fn strip_separator(s: &str) -> &str {
    let s = s.trim_start();
    s.strip_prefix([':', '.', '-', '–', '—', ')'])
        .unwrap_or(s)
        .trim()
}

pub(crate) struct PhaseHeading {
    pub number: u32,
    pub title: String,
    /// As written, possibly backwards.
    pub weeks: Option<(u32, u32)>,
}

/// "Phase 1: Basics of Django (Weeks 1-4)" (emphasis already removed).
pub(crate) fn phase_heading(text: &str) -> Option<PhaseHeading> {
    let rest = strip_prefix_ci(text.trim(), "phase")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let (number, rest) = number_prefix(rest.trim_start())?;
    // "Phase 1a" is not phase 1.
    if rest.starts_with(char::is_alphanumeric) {
        return None;
    }
    let rest = strip_separator(rest);
    let (title, weeks) = split_week_suffix(rest);
    Some(PhaseHeading {
        number,
        title: title.to_string(),
        weeks,
    })
}

/// Splits a trailing "(Weeks 1-4)" off a title.
fn split_week_suffix(s: &str) -> (&str, Option<(u32, u32)>) {
    if let Some(inner) = s.strip_suffix(')')
        && let Some(open) = inner.rfind('(')
        && let Some((range, tail)) = week_prefix(inner[open + 1..].trim())
        && tail.trim().is_empty()
    {
        return (inner[..open].trim_end(), Some(range));
    }
    (s, None)
}

/// "Week 1: Setting Up" / "Weeks 11-14 - Project" (emphasis already removed).
pub(crate) fn week_heading(text: &str) -> Option<((u32, u32), String)> {
    let (range, rest) = week_prefix(text.trim())?;
    if rest.starts_with(char::is_alphanumeric) {
        return None;
    }
    Some((range, strip_separator(rest).to_string()))
}

/// Heading text without bold markers: titles are plain text in the model.
pub(crate) fn clean_heading(text: &str) -> String {
    let t = text.replace("**", "");
    let t = t.trim();
    let t = t
        .strip_prefix("__")
        .and_then(|x| x.strip_suffix("__"))
        .unwrap_or(t);
    t.trim().to_string()
}

/// "1. Simple Blog" → "Simple Blog".
pub(crate) fn strip_numbering(text: &str) -> &str {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0
        && let Some(rest) = text[digits..].strip_prefix(['.', ')'])
        && (rest.is_empty() || rest.starts_with(char::is_whitespace))
    {
        return rest.trim_start();
    }
    text
}

/// The sections a roadmap has besides its phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SectionKind {
    Tracker,
    Resources,
    Ideas,
    Notes,
}

pub(crate) fn section_kind(heading: &str) -> Option<SectionKind> {
    let lower = heading.trim().trim_end_matches(':').trim().to_lowercase();
    let name = strip_numbering(&lower);
    // Exact names only: an idea called "Resources Hub" must stay an idea.
    match name {
        "progress tracker" | "tracker" | "progress" | "progress tracking" | "tracking" => {
            Some(SectionKind::Tracker)
        }
        "resources"
        | "learning resources"
        | "useful resources"
        | "references"
        | "further reading"
        | "links"
        | "resources and links" => Some(SectionKind::Resources),
        "project ideas" | "projects" | "ideas" | "practice projects" => Some(SectionKind::Ideas),
        "notes" => Some(SectionKind::Notes),
        _ => None,
    }
}

/// `**Label**: rest`, `**Label:** rest`, `**Label**` or `Label: rest`.
pub(crate) struct Label<'a> {
    pub name: &'a str,
    pub rest: &'a str,
    /// Written in bold.
    pub bold: bool,
    /// Followed by a colon or dash, or by nothing at all.
    pub separated: bool,
}

pub(crate) fn split_label(text: &str) -> Option<Label<'_>> {
    let t = text.trim();
    if let Some(inner) = t.strip_prefix("**") {
        let end = inner.find("**")?;
        let name = inner[..end].trim();
        let after = inner[end + 2..].trim_start();
        let (name, colon_inside) = match name.strip_suffix(':') {
            Some(n) => (n.trim_end(), true),
            None => (name, false),
        };
        if name.is_empty() {
            return None;
        }
        if colon_inside {
            return Some(Label {
                name,
                rest: after,
                bold: true,
                separated: true,
            });
        }
        if let Some(r) = after.strip_prefix([':', '-', '–', '—']) {
            return Some(Label {
                name,
                rest: r.trim_start(),
                bold: true,
                separated: true,
            });
        }
        return Some(Label {
            name,
            rest: after,
            bold: true,
            separated: after.is_empty(),
        });
    }
    let colon = t.find(':')?;
    let name = t[..colon].trim();
    let rest = &t[colon + 1..];
    // Links, code and emphasis in the label mean this colon is part of a sentence; "//" means
    // it is a URL's.
    if name.is_empty()
        || name.chars().count() > 40
        || name.contains(['[', ']', '(', ')', '`', '*', '<', '>', '|'])
        || rest.starts_with("//")
    {
        return None;
    }
    Some(Label {
        name,
        rest: rest.trim_start(),
        bold: false,
        separated: true,
    })
}

/// The text of a `**Goal**: ...` line.
pub(crate) fn goal_text(text: &str) -> Option<&str> {
    let label = split_label(text)?;
    let name = label.name.to_ascii_lowercase();
    (label.separated && (name == "goal" || name == "goals")).then_some(label.rest)
}

/// Resource labels that may precede links without the sentence carrying meaning of its own.
fn is_resource_label(name: &str) -> bool {
    matches!(
        name.trim().to_lowercase().as_str(),
        "resources"
            | "resource"
            | "links"
            | "link"
            | "docs"
            | "documentation"
            | "reading"
            | "references"
            | "reference"
            | "see"
            | "video"
            | "videos"
            | "tutorial"
            | "tutorials"
            | "guide"
            | "guides"
            | "article"
            | "articles"
            | "course"
            | "courses"
            | "book"
            | "books"
            | "watch"
            | "read"
            | "source"
            | "sources"
    )
}

/// A markdown link `[title](url)`, an autolink `<https://…>` or a bare `https://…` URL, with
/// the byte range it occupies.
pub(crate) fn find_links(text: &str) -> Vec<(std::ops::Range<usize>, Link)> {
    let bytes = text.as_bytes();
    // Bracket pairs are matched once up front: scanning forward from every '[' would be
    // quadratic on a line full of unmatched brackets.
    let square = matching(bytes, b'[', b']');
    let round = matching(bytes, b'(', b')');
    let mut found = Vec::new();
    let mut autolinks = true;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'['
            && let Some(&close) = square.get(&i)
            && bytes.get(close + 1) == Some(&b'(')
            && let Some(&end) = round.get(&(close + 1))
        {
            let target = text[close + 2..end].trim();
            // `[t](url "title")`: the URL is the first word.
            let url = target.split_whitespace().next().unwrap_or("");
            let url = url
                .strip_prefix('<')
                .and_then(|u| u.strip_suffix('>'))
                .unwrap_or(url);
            if !url.is_empty() {
                let title = text[i + 1..close].trim().to_string();
                found.push((
                    i..end + 1,
                    Link {
                        title,
                        url: url.to_string(),
                    },
                ));
                i = end + 1;
                continue;
            }
        }
        if autolinks
            && bytes[i] == b'<'
            && (bytes[i + 1..].starts_with(b"http://") || bytes[i + 1..].starts_with(b"https://"))
        {
            match text[i..].find(['>', ' ', '\t']) {
                Some(close) if bytes[i + close] == b'>' => {
                    let url = &text[i + 1..i + close];
                    found.push((
                        i..i + close + 1,
                        Link {
                            title: url.into(),
                            url: url.into(),
                        },
                    ));
                    i += close + 1;
                    continue;
                }
                // Every '<' before that blank would stop at it too; skip them rather than
                // rescanning (quadratic on hostile input).
                Some(blank) => {
                    i += blank;
                    continue;
                }
                None => autolinks = false,
            }
        }
        let at_word_start = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if at_word_start
            && (bytes[i..].starts_with(b"http://") || bytes[i..].starts_with(b"https://"))
        {
            let len = text[i..]
                .find(char::is_whitespace)
                .unwrap_or(text.len() - i);
            // Sentence punctuation after a URL is not part of it.
            let url = text[i..i + len].trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
            if url.len() > "https://".len() {
                found.push((
                    i..i + url.len(),
                    Link {
                        title: url.into(),
                        url: url.into(),
                    },
                ));
                i += url.len();
                continue;
            }
            i += len.max(1);
            continue;
        }
        i += 1;
    }
    found
}

/// For each `open` byte, the position of the `close` byte that pairs with it (innermost first).
fn matching(bytes: &[u8], open: u8, close: u8) -> std::collections::HashMap<usize, usize> {
    let mut pairs = std::collections::HashMap::new();
    let mut stack = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        if b == open {
            stack.push(i);
        } else if b == close
            && let Some(o) = stack.pop()
        {
            pairs.insert(o, i);
        }
    }
    pairs
}

/// What a sub-bullet with links amounts to.
pub(crate) enum LinkLine {
    /// Nothing but links, separators and perhaps a label like "Resources:".
    Pure(Vec<Link>),
    /// Links inside a sentence: the sentence is kept as a note too.
    Mixed(Vec<Link>),
    None,
}

pub(crate) fn link_line(text: &str) -> LinkLine {
    let links = find_links(text);
    if links.is_empty() {
        return LinkLine::None;
    }
    let mut residue = String::new();
    let mut last = 0;
    for (range, _) in &links {
        residue.push_str(&text[last..range.start]);
        residue.push(' ');
        last = range.end;
    }
    residue.push_str(&text[last..]);
    let mut rest = residue.trim();
    if let Some(label) = split_label(rest)
        && is_resource_label(label.name)
    {
        rest = label.rest;
    }
    let only_glue = rest.split_whitespace().all(|word| {
        let w = word.trim_matches(|c: char| ",;|/&-–—·•*_:".contains(c));
        w.is_empty() || w.eq_ignore_ascii_case("and") || w.eq_ignore_ascii_case("or")
    });
    let links = links.into_iter().map(|(_, l)| l).collect();
    if only_glue {
        LinkLine::Pure(links)
    } else {
        LinkLine::Mixed(links)
    }
}

const STATUS_MARKERS: [(&str, Status); 12] = [
    ("✅", Status::Done),
    ("✔", Status::Done),
    ("☑", Status::Done),
    ("✓", Status::Done),
    ("🚧", Status::Learning),
    ("⏳", Status::Learning),
    ("🔄", Status::Learning),
    ("❌", Status::Pending),
    ("✖", Status::Pending),
    ("✗", Status::Pending),
    ("⏭", Status::Skipped),
    ("➖", Status::Skipped),
];

/// A status marker at the start of an item's text: an emoji or a task-list checkbox.
pub(crate) fn leading_status(text: &str) -> Option<(Status, &str)> {
    let t = text.trim_start();
    for (marker, status) in STATUS_MARKERS {
        if let Some(rest) = t.strip_prefix(marker) {
            let rest = rest.strip_prefix('\u{FE0F}').unwrap_or(rest);
            if rest.is_empty() || rest.starts_with(char::is_whitespace) {
                return Some((status, rest.trim_start()));
            }
        }
    }
    for (box_, status) in [
        ("[x]", Status::Done),
        ("[X]", Status::Done),
        ("[ ]", Status::NotStarted),
    ] {
        if let Some(rest) = t.strip_prefix(box_)
            && (rest.is_empty() || rest.starts_with(char::is_whitespace))
        {
            return Some((status, rest.trim_start()));
        }
    }
    None
}

/// A tracker Status cell. `Err` carries the cell for the warning when it names no status or
/// several.
pub(crate) fn status_cell(cell: &str) -> Result<Status, String> {
    let t = cell.trim();
    if t.is_empty() {
        return Ok(Status::NotStarted);
    }
    let mut seen: Option<Status> = None;
    for (marker, status) in STATUS_MARKERS {
        if t.contains(marker) {
            match seen {
                Some(s) if s != status => return Err(t.to_string()),
                _ => seen = Some(status),
            }
        }
    }
    if let Some(s) = seen {
        return Ok(s);
    }
    let words: String = t
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let words = words.split_whitespace().collect::<Vec<_>>().join(" ");
    match words.as_str() {
        "done" | "complete" | "completed" | "finished" | "x" | "yes" => Ok(Status::Done),
        "in progress" | "learning" | "wip" | "doing" | "started" | "ongoing" => {
            Ok(Status::Learning)
        }
        "not done" | "pending" | "todo" | "to do" | "no" => Ok(Status::Pending),
        "skipped" | "skip" | "n a" | "na" => Ok(Status::Skipped),
        "not started" | "" => Ok(Status::NotStarted),
        _ => Err(t.to_string()),
    }
}

/// Splits "a, b, and c." into items; commas inside parentheses stay.
pub(crate) fn split_list(text: &str) -> Vec<String> {
    let t = text.trim();
    let t = t.strip_suffix('.').unwrap_or(t);
    let mut items = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in t.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' | ';' if depth <= 0 => {
                items.push(&t[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&t[start..]);
    items
        .into_iter()
        .map(|item| {
            let item = item.trim();
            strip_prefix_ci(item, "and ")
                .or_else(|| strip_prefix_ci(item, "or "))
                .unwrap_or(item)
                .trim()
                .to_string()
        })
        .filter(|item| !item.is_empty())
        .collect()
}

/// Undoes [`escape_paragraph`] at the start of a paragraph: `\#`, `\-`, `1\.`.
pub(crate) fn unescape_paragraph(text: &str) -> String {
    if let Some(rest) = text.strip_prefix('\\')
        && rest.starts_with(|c: char| c.is_ascii_punctuation())
    {
        return rest.to_string();
    }
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0
        && let Some(rest) = text[digits..].strip_prefix('\\')
        && rest.starts_with(['.', ')'])
    {
        return format!("{}{}", &text[..digits], rest);
    }
    text.to_string()
}

/// Makes a note safe to write as a paragraph: anything starting with markdown syntax would be
/// read back as a heading, bullet, table or rule.
pub(crate) fn escape_paragraph(text: &str) -> String {
    if text.starts_with(|c: char| c.is_ascii_punctuation()) {
        return format!("\\{text}");
    }
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && text[digits..].starts_with(['.', ')']) {
        return format!("{}\\{}", &text[..digits], &text[digits..]);
    }
    text.to_string()
}

/// Cells of a `| a | b |` row; `\|` is a literal pipe.
pub(crate) fn split_cells(line: &str) -> Vec<String> {
    let t = line.trim();
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = match t.strip_suffix('|') {
        Some(inner) if !inner.ends_with('\\') => inner,
        _ => t,
    };
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut cell).trim().to_string()),
            _ => cell.push(c),
        }
    }
    cells.push(cell.trim().to_string());
    cells
}

/// The (week, task, status) column indexes when a table header is a progress tracker's: it
/// needs Task and Status columns; Week is optional.
pub(crate) fn tracker_columns(header: &[String]) -> Option<(Option<usize>, usize, usize)> {
    let names: Vec<String> = header
        .iter()
        .map(|h| clean_heading(h).to_lowercase())
        .collect();
    let column = |prefix: &str| names.iter().position(|n| n.starts_with(prefix));
    Some((column("week"), column("task")?, column("status")?))
}

pub(crate) fn is_delimiter_row(cells: &[String]) -> bool {
    cells.iter().all(|c| {
        let inner = c.strip_prefix(':').unwrap_or(c);
        let inner = inner.strip_suffix(':').unwrap_or(inner);
        !inner.is_empty() && inner.bytes().all(|b| b == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_accept_dashes_and_to() {
        assert_eq!(range_exact("3"), Some((3, 3)));
        assert_eq!(range_exact("3-4"), Some((3, 4)));
        assert_eq!(range_exact("3 – 4"), Some((3, 4)));
        assert_eq!(range_exact("3 to 4"), Some((3, 4)));
        assert_eq!(range_exact("5-3"), Some((5, 3)));
        assert_eq!(range_exact("3-"), None);
        assert_eq!(range_exact("99999999999"), None);
    }

    #[test]
    fn phase_headings_yield_number_title_and_weeks() {
        let p = phase_heading("Phase 1: Basics of Django (Weeks 1-4)").unwrap();
        assert_eq!(
            (p.number, p.title.as_str(), p.weeks),
            (1, "Basics of Django", Some((1, 4)))
        );
        let p = phase_heading("Phase 3 — Final (Week 12)").unwrap();
        assert_eq!(
            (p.number, p.title.as_str(), p.weeks),
            (3, "Final", Some((12, 12)))
        );
        let p = phase_heading("Phase 2 (Final Project)").unwrap();
        assert_eq!((p.title.as_str(), p.weeks), ("(Final Project)", None));
        assert!(phase_heading("Phase 1a: nope").is_none());
        assert!(phase_heading("Phases of the moon").is_none());
    }

    #[test]
    fn week_headings_accept_ranges_and_separators() {
        assert_eq!(
            week_heading("Week 1: Setting Up & Basics"),
            Some(((1, 1), "Setting Up & Basics".into()))
        );
        assert_eq!(
            week_heading("Weeks 11-14: Project"),
            Some(((11, 14), "Project".into()))
        );
        assert_eq!(
            week_heading("Week 8 - 10 — Review"),
            Some(((8, 10), "Review".into()))
        );
        assert_eq!(
            week_heading("Week 3 - Setup"),
            Some(((3, 3), "Setup".into()))
        );
        assert_eq!(week_heading("Week 2"), Some(((2, 2), String::new())));
        assert!(week_heading("Weekly review").is_none());
    }

    #[test]
    fn labels_come_in_bold_and_plain_forms() {
        let l = split_label("**Day 3-4**: Understand **URLs**.").unwrap();
        assert_eq!((l.name, l.rest), ("Day 3-4", "Understand **URLs**."));
        let l = split_label("**Goal:** learn").unwrap();
        assert_eq!((l.name, l.rest, l.separated), ("Goal", "learn", true));
        let l = split_label("**Django for Beginners** by W. S. Vincent").unwrap();
        assert!(!l.separated);
        assert!(split_label("see https://example.com").is_none());
        assert_eq!(day_label("Day 5-6"), Some((5, 6)));
        assert_eq!(day_label("Daylight"), None);
    }

    #[test]
    fn links_are_found_in_all_three_forms() {
        let links = find_links(
            "[Guide](https://a.example/x_(y)) and <https://b.example> or https://c.example/z.",
        );
        let urls: Vec<&str> = links.iter().map(|(_, l)| l.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://a.example/x_(y)",
                "https://b.example",
                "https://c.example/z"
            ]
        );
        assert_eq!(links[0].1.title, "Guide");
    }

    #[test]
    fn a_resources_label_with_links_is_a_pure_link_line() {
        assert!(
            matches!(link_line("Resources: [A](https://a), [B](https://b)"), LinkLine::Pure(l) if l.len() == 2)
        );
        assert!(matches!(
            link_line("Read [A](https://a) before day 3"),
            LinkLine::Mixed(_)
        ));
        assert!(matches!(link_line("no links here"), LinkLine::None));
    }

    #[test]
    fn status_cells_read_emoji_and_words() {
        assert_eq!(status_cell(""), Ok(Status::NotStarted));
        assert_eq!(status_cell("✅"), Ok(Status::Done));
        assert_eq!(status_cell("🚧 halfway"), Ok(Status::Learning));
        assert_eq!(status_cell("❌"), Ok(Status::Pending));
        assert_eq!(status_cell("✔️ Done"), Ok(Status::Done));
        assert_eq!(status_cell("In progress"), Ok(Status::Learning));
        assert!(status_cell("✅/🚧/❌").is_err());
        assert!(status_cell("maybe").is_err());
    }

    #[test]
    fn leading_status_reads_emoji_and_checkboxes() {
        assert_eq!(
            leading_status("✅ done it"),
            Some((Status::Done, "done it"))
        );
        assert_eq!(leading_status("⏭️ later"), Some((Status::Skipped, "later")));
        assert_eq!(leading_status("[x] ticked"), Some((Status::Done, "ticked")));
        assert_eq!(leading_status("✅done"), None);
    }

    #[test]
    fn lists_split_on_commas_outside_parentheses() {
        assert_eq!(
            split_list("Product catalog, user orders (cart, checkout), and role-based access."),
            [
                "Product catalog",
                "user orders (cart, checkout)",
                "role-based access"
            ]
        );
        assert_eq!(
            split_list("Django, SQLite, Bootstrap."),
            ["Django", "SQLite", "Bootstrap"]
        );
    }

    #[test]
    fn escaping_a_paragraph_round_trips() {
        for text in [
            "# not a heading",
            "- not a bullet",
            "| not a table",
            "12. not a list",
            "\\n literal",
            "plain",
        ] {
            assert_eq!(unescape_paragraph(&escape_paragraph(text)), text);
        }
    }

    #[test]
    fn cells_split_on_unescaped_pipes() {
        assert_eq!(split_cells("| 1 | a \\| b |  |"), ["1", "a | b", ""]);
        assert!(is_delimiter_row(&split_cells("|------|:---:|---|")));
    }
}
