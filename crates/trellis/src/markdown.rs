//! Markdown to sanitized HTML, for every app that stores it (post bodies, product descriptions): rendered
//! once when the text is saved (and for previews).
//!
//! The sanitizer (ammonia, on html5ever) does work for each element that grows with how deeply elements
//! are nested when it arrives, so a body of 100,000 nested `>` took it half a minute; parsing and writing
//! the HTML stay linear. So bodies that nest deeper than [`MAX_NESTING`] are refused, twice over: first
//! from the text alone, where a line chains its quote and list markers (microseconds), then exactly, on the
//! HTML that would be sanitized, before the sanitizer sees it. Rendering runs on the blocking pool, at
//! most one body per CPU core at a time, so a slow one never holds up other requests.

use pulldown_cmark::{Event, Options, Parser};

use crate::blocking::Lane;
use crate::error::AppError;

/// How deep elements may nest in a rendered body. A quote is one level, a list two (the list and its
/// item), and HTML written into the body counts as it nests. Hand-written posts stay far below it.
pub const MAX_NESTING: usize = 64;

static RENDERING: Lane = Lane::per_core();

fn too_deep() -> String {
    format!("nests deeper than {MAX_NESTING} levels")
}

/// Renders Markdown to HTML and sanitizes it: no script, event handler or `javascript:` URL survives.
/// No limits: for text of known shape; posts go through [`render_checked`].
pub fn render_markdown(source: &str) -> String {
    sanitize(&unsanitized_html(source))
}

/// Checks Markdown sent as `field` and renders it, off the async threads. Text longer than `max_chars`
/// characters or nesting too deep is a 422 naming `field`.
pub async fn render_checked(
    source: String,
    field: &'static str,
    max_chars: usize,
) -> Result<String, AppError> {
    let refused = |m: String| AppError::invalid(field, m);
    if source.chars().count() > max_chars {
        return Err(refused(format!(
            "is too long (maximum is {max_chars} characters)"
        )));
    }
    check_nesting(&source).map_err(refused)?;
    let rendered = RENDERING
        .run(move || {
            let html = unsanitized_html(&source);
            match nests_deeper_than(&html, MAX_NESTING) {
                true => Err(too_deep()),
                false => Ok(sanitize(&html)),
            }
        })
        .await;
    match rendered {
        Ok(html) => html.map_err(refused),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(AppError::Internal(e.into())),
    }
}

/// The cheap check, on the text alone: no line may open more than [`MAX_NESTING`] levels with the quote
/// and list markers it starts with (`> > - x` is four: two quotes, a list and its item). Nesting by
/// indentation needs a parser; the exact check after rendering catches it.
pub fn check_nesting(source: &str) -> Result<(), String> {
    match source.lines().any(|l| line_levels(l) > MAX_NESTING) {
        true => Err(too_deep()),
        false => Ok(()),
    }
}

/// Levels opened by the markers at the start of a line; stops counting past the limit.
fn line_levels(line: &str) -> usize {
    let b = line.as_bytes();
    let blank = |i: usize| matches!(b.get(i), None | Some(b' ' | b'\t'));
    let (mut i, mut levels) = (0, 0);
    while levels <= MAX_NESTING {
        while matches!(b.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        match b.get(i) {
            Some(b'>') => {
                i += 1;
                levels += 1;
            }
            Some(b'-' | b'+' | b'*') if blank(i + 1) => {
                i += 1;
                levels += 2;
            }
            Some(b'0'..=b'9') => {
                let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits > 9
                    || !matches!(b.get(i + digits), Some(b'.' | b')'))
                    || !blank(i + digits + 1)
                {
                    break;
                }
                i += digits + 1;
                levels += 2;
            }
            _ => break,
        }
    }
    levels
}

/// The Markdown posts are written in: CommonMark with tables, strikethrough, task lists and footnotes.
pub fn markdown_parser(source: &str) -> Parser<'_> {
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_TABLES);
    opts.insert(Options::ENABLE_STRIKETHROUGH);
    opts.insert(Options::ENABLE_TASKLISTS);
    opts.insert(Options::ENABLE_FOOTNOTES);
    Parser::new_ext(source, opts)
}

/// Keeps only safe HTML from rendered Markdown; links get `rel="nofollow noopener noreferrer"`.
///
/// Task lists keep their boxes, forced to disabled checkboxes whatever the source said. Footnotes keep
/// their links: every `id` gets a prefix (so a post cannot take over an id the page itself uses), and
/// in-page links get the same prefix so they still arrive.
pub fn sanitize(html: &str) -> String {
    ammonia::Builder::default()
        .link_rel(Some("nofollow noopener noreferrer"))
        .add_tags(["input"])
        .add_tag_attributes("input", ["checked", "aria-label"])
        .set_tag_attribute_value("input", "type", "checkbox")
        .set_tag_attribute_value("input", "disabled", "")
        .add_tag_attributes("div", ["id"])
        // A code block that scrolls sideways must be reachable from the keyboard to be scrolled.
        .set_tag_attribute_value("pre", "tabindex", "0")
        .add_allowed_classes("div", ["footnote-definition"])
        .add_allowed_classes("sup", ["footnote-reference", "footnote-definition-label"])
        .add_allowed_classes("li", ["task-list-item"])
        .id_prefix(Some(ID_PREFIX))
        .attribute_filter(|element, attribute, value| match (element, attribute) {
            ("a", "href") if value.starts_with('#') => {
                Some(format!("#{ID_PREFIX}{}", &value[1..]).into())
            }
            _ => Some(value.into()),
        })
        .clean(html)
        .to_string()
}

/// Put before every id that rendered Markdown carries.
const ID_PREFIX: &str = "md-";

/// Markdown to HTML, not yet sanitized, with SVG and MathML taken out of their namespaces (see `foreign_off`).
pub fn unsanitized_html(source: &str) -> String {
    let mut html = String::with_capacity(source.len() * 3 / 2);
    // A task's box gets words, so a screen reader says more than "checkbox".
    let events = markdown_parser(source).map(|event| match event {
        Event::TaskListMarker(done) => Event::InlineHtml(
            match done {
                true => r#"<input type="checkbox" disabled checked aria-label="Done"> "#,
                false => r#"<input type="checkbox" disabled aria-label="Not done"> "#,
            }
            .into(),
        ),
        other => other,
    });
    pulldown_cmark::html::push_html(&mut html, events);
    foreign_off(html)
}

/// Renames `svg` and `math` tags so the HTML parser never enters SVG or MathML parsing, whose rules
/// (elements that never close implicitly, CDATA, breaking back out) the depth count below does not model.
/// The sanitizer never lets either element through; renamed, what they contain is sanitized as the plain
/// HTML it then is.
fn foreign_off(html: String) -> String {
    let lower = html.to_ascii_lowercase();
    let mut cuts = Vec::new();
    for name in ["svg", "math"] {
        for (at, _) in lower.match_indices(name) {
            let before = &lower[..at];
            let opens = before.ends_with('<') || before.ends_with("</");
            let ends = matches!(
                lower.as_bytes().get(at + name.len()),
                None | Some(b'>' | b'/' | b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
            );
            if opens && ends {
                cuts.push(at + name.len());
            }
        }
    }
    if cuts.is_empty() {
        return html;
    }
    cuts.sort_unstable();
    let mut out = String::with_capacity(html.len() + cuts.len() * 4);
    let mut from = 0;
    for at in cuts {
        out.push_str(&html[from..at]);
        out.push_str("-off");
        from = at;
    }
    out.push_str(&html[from..]);
    out
}

/// Whether the elements of `html` nest deeper than `limit`, as an HTML parser would build them, give or
/// take: where it cannot tell, it counts too many. Linear in the text; `p` is not counted, since the
/// parser never nests one paragraph directly in another.
pub fn nests_deeper_than(html: &str, limit: usize) -> bool {
    let b = html.as_bytes();
    let mut open: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        let at = i + off;
        i = at + 1;
        match b.get(i) {
            Some(b'!') if b[i..].starts_with(b"!--") => i = comment_end(b, at),
            Some(b'!' | b'?') => i = find(b, i, b">").map_or(b.len(), |e| e + 1),
            Some(b'/') => {
                let Some(c) = b.get(i + 1) else { break };
                if !c.is_ascii_alphabetic() {
                    i = find(b, i, b">").map_or(b.len(), |e| e + 1);
                    continue;
                }
                let (name, end) = tag(b, i + 1);
                i = end;
                close(&mut open, &name);
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let (name, end) = tag(b, i);
                i = end;
                match name.as_str() {
                    "area" | "base" | "basefont" | "bgsound" | "br" | "col" | "embed" | "frame"
                    | "hr" | "img" | "input" | "keygen" | "link" | "meta" | "param" | "source"
                    | "track" | "wbr" | "p" => {}
                    // Their content is text to the parser, up to their own end tag.
                    "script" | "style" | "textarea" | "title" | "xmp" | "iframe" | "noembed"
                    | "noframes" | "noscript" => {
                        i = raw_text_end(b, name.as_bytes(), i);
                    }
                    // Everything after it is text.
                    "plaintext" => break,
                    _ => {
                        implied_ends(&mut open, &name);
                        open.push(name);
                        if open.len() > limit {
                            return true;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    false
}

/// Just past the end of the comment whose `<!--` is at `at`. Searching from the opening dashes finds
/// `<!-->` and `<!--->`, which end there, as in HTML; `--!>` ends a comment too.
fn comment_end(b: &[u8], at: usize) -> usize {
    let mut i = at + 2;
    while let Some(dashes) = find(b, i, b"--") {
        match b.get(dashes + 2) {
            Some(b'>') => return dashes + 3,
            Some(b'!') if b.get(dashes + 3) == Some(&b'>') => return dashes + 4,
            _ => i = dashes + 1,
        }
    }
    b.len()
}

/// Start of `needle` in `hay` at or after `from`.
fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// A tag's lowercase name, starting at `from`, and where the tag ends (after its `>`). Attribute values
/// are skipped as the HTML tokenizer does: quotes only count right after an `=`.
fn tag(b: &[u8], from: usize) -> (String, usize) {
    let mut i = from;
    while i < b.len() && !matches!(b[i], b'\t' | b'\n' | b'\x0c' | b'\r' | b' ' | b'/' | b'>') {
        i += 1;
    }
    let name = String::from_utf8_lossy(&b[from..i]).to_ascii_lowercase();
    let space = |c: u8| matches!(c, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ');
    loop {
        while i < b.len() && (space(b[i]) || b[i] == b'/') {
            i += 1;
        }
        match b.get(i) {
            None => return (name, i),
            Some(b'>') => return (name, i + 1),
            _ => {}
        }
        // An attribute name: its first character may be anything, `=` included.
        i += 1;
        while i < b.len() && !(space(b[i]) || matches!(b[i], b'/' | b'>' | b'=')) {
            i += 1;
        }
        while i < b.len() && space(b[i]) {
            i += 1;
        }
        if b.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while i < b.len() && space(b[i]) {
            i += 1;
        }
        match b.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                i = b[i + 1..]
                    .iter()
                    .position(|&c| c == q)
                    .map_or(b.len(), |p| i + 1 + p + 1);
            }
            _ => {
                while i < b.len() && !(space(b[i]) || b[i] == b'>') {
                    i += 1;
                }
            }
        }
    }
}

/// Where the text content of a `script`, `style` and the like ends: at the start of `</name` followed by
/// a character that ends a tag name (the end tag itself is then read as an end tag of nothing open).
fn raw_text_end(b: &[u8], name: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(at) = find(b, i, b"</") {
        let after = at + 2 + name.len();
        if b.len() >= after
            && b[at + 2..after].eq_ignore_ascii_case(name)
            && matches!(
                b.get(after),
                None | Some(b'\t' | b'\n' | b'\x0c' | b'\r' | b' ' | b'/' | b'>')
            )
        {
            return at;
        }
        i = at + 2;
    }
    b.len()
}

/// Elements whose end tag may be left out, which the parser closes for any end tag that closes their
/// parent.
const IMPLIED_END: &[&str] = &[
    "li", "dd", "dt", "option", "optgroup", "rb", "rp", "rt", "rtc",
];

/// An end tag closes the element it names if only elements with implied ends are open inside it;
/// otherwise it is kept open (the parser might ignore the end tag).
fn close(open: &mut Vec<String>, name: &str) {
    for k in (0..open.len()).rev() {
        if open[k] == name {
            open.truncate(k);
            return;
        }
        if !IMPLIED_END.contains(&open[k].as_str()) {
            return;
        }
    }
}

/// The usual implicit closes of a start tag: a list item or table cell ends the one before it.
fn implied_ends(open: &mut Vec<String>, name: &str) {
    let closes: &[&str] = match name {
        "li" => &["li"],
        "dd" | "dt" => &["dd", "dt"],
        "option" => &["option"],
        "optgroup" => &["option", "optgroup"],
        "td" | "th" => &["td", "th"],
        "tr" => &["td", "th", "tr"],
        "tbody" | "thead" | "tfoot" => &["td", "th", "tr", "tbody", "thead", "tfoot"],
        _ => return,
    };
    while open
        .last()
        .is_some_and(|top| closes.contains(&top.as_str()))
    {
        open.pop();
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn refused(body: &str) -> bool {
        let html = unsanitized_html(body);
        check_nesting(body).is_err() || nests_deeper_than(&html, MAX_NESTING)
    }

    #[test]
    fn markdown_is_rendered_and_scripts_removed() {
        let html = render_markdown(
            "# Hi\n\n**bold** <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>",
        );
        assert!(html.contains("<h1>Hi</h1>") && html.contains("<strong>bold</strong>"));
        assert!(
            !html.contains("<script") && !html.contains("javascript:") && !html.contains("onerror")
        );
    }

    #[test]
    fn task_lists_keep_their_boxes_as_disabled_checkboxes() {
        let html = render_markdown("- [x] done\n- [ ] to do\n");
        assert_eq!(html.matches("type=\"checkbox\"").count(), 2, "{html}");
        assert_eq!(html.matches("disabled").count(), 2, "{html}");
        assert_eq!(html.matches("checked").count(), 1, "{html}");
        assert!(
            html.contains("aria-label=\"Done\"") && html.contains("aria-label=\"Not done\""),
            "each box is named: {html}"
        );
        // A code block can be scrolled from the keyboard.
        assert!(render_markdown("```\nx\n```\n").contains("<pre tabindex=\"0\">"));
        // Raw HTML cannot use the allowance for anything but an inert checkbox.
        let raw =
            render_markdown("<input type=\"text\" name=\"password\" onfocus=\"x()\" value=\"v\">");
        assert!(
            raw.contains("type=\"checkbox\"") && raw.contains("disabled"),
            "{raw}"
        );
        assert!(
            !raw.contains("text") && !raw.contains("onfocus") && !raw.contains("name="),
            "{raw}"
        );
    }

    #[test]
    fn footnote_links_arrive_at_their_notes_and_ids_are_prefixed() {
        let html = render_markdown("A claim.[^src]\n\n[^src]: Where it comes from.\n");
        assert!(html.contains("href=\"#md-src\""), "{html}");
        assert!(html.contains("id=\"md-src\""), "{html}");
        let raw = render_markdown("<div id=\"main\">x</div>\n\n[top](#main)\n");
        assert!(
            raw.contains("id=\"md-main\"") && raw.contains("href=\"#md-main\""),
            "{raw}"
        );
    }

    #[test]
    fn fifty_thousand_nested_quotes_are_refused_at_once() {
        let bomb = ">".repeat(50_000);
        let started = Instant::now();
        assert_eq!(
            check_nesting(&bomb),
            Err("nests deeper than 64 levels".into())
        );
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn render_checked_refuses_with_a_message_for_the_field() {
        const MAX: usize = 100_000;
        for (body, message) in [
            (">".repeat(50_000), too_deep()),
            ("<div>".repeat(1000), too_deep()),
            (
                "a".repeat(MAX + 1),
                "is too long (maximum is 100000 characters)".into(),
            ),
        ] {
            match render_checked(body, "body", MAX).await {
                Err(AppError::Validation(e)) => assert_eq!(e.get("body"), [message]),
                other => panic!("{other:?}"),
            }
        }
        let html = render_checked("*fine*".into(), "body", MAX).await.unwrap();
        assert_eq!(html.trim(), "<p><em>fine</em></p>");
    }

    #[test]
    fn twenty_levels_are_fine() {
        let quotes = format!("{}deep", "> ".repeat(20));
        assert!(!refused(&quotes));
        assert_eq!(render_markdown(&quotes).matches("<blockquote>").count(), 20);
        let lists: String = (0..20)
            .map(|i| format!("{}- item\n", "  ".repeat(i)))
            .collect();
        assert!(!refused(&lists));
        assert!(!refused(&format!("{}x", "- * ".repeat(10))), "twenty lists");
    }

    #[test]
    fn the_limit_counts_quotes_once_and_lists_twice() {
        assert!(!refused(&format!("{}x", "> ".repeat(64))));
        assert!(refused(&format!("{}x", "> ".repeat(65))));
        assert!(!refused(&format!("{}x", "- * ".repeat(16))));
        assert!(refused(&format!("{}x", "- * ".repeat(17))));
        assert!(refused(&format!("{}x", "1. ".repeat(33))));
    }

    #[test]
    fn nesting_the_text_scan_cannot_see_is_caught_on_the_html() {
        // Lists nested by indentation, and HTML written into the body.
        let lists: String = (0..40)
            .map(|i| format!("{}- item\n", "  ".repeat(i)))
            .collect();
        assert!(check_nesting(&lists).is_ok());
        assert!(refused(&lists));
        assert!(refused(&"<div>".repeat(65)));
        assert!(!refused(&"<div>".repeat(64)));
        // End tags that close nothing open do not lower the count.
        assert!(refused(&"<div></span>".repeat(65)));
        assert!(refused(&"<div><object></div>".repeat(40)));
    }

    #[test]
    fn ordinary_html_is_counted_as_the_parser_builds_it() {
        let closed =
            "<div><p>one<p>two<ul><li>a<li>b<li>c</ul><br><img src=x></div>\n\n".repeat(100);
        assert!(!refused(&closed));
        let table = format!("<table>{}</table>", "<tr><td>a<td>b".repeat(200));
        assert!(!refused(&table));
        // Comments, attribute values and script text are not elements.
        let hidden = format!(
            "<!-- {} --><span title=\"{}\"></span><script>{}</script>",
            "<div>".repeat(100),
            "<div>".repeat(100),
            "<div>".repeat(100)
        );
        assert!(!refused(&hidden));
        // `--!>` ends a comment as `-->` does, and many comments cost no more than one.
        assert!(refused(&format!("<!-- x --!>{}", "<div>".repeat(65))));
        let comments = "<!---->".repeat(14_000);
        let started = Instant::now();
        assert!(!nests_deeper_than(&comments, MAX_NESTING));
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        // ...but a comment that closes at once hides nothing.
        assert!(refused(&format!("<!-->{}-->", "<div>".repeat(65))));
        // A quote before an `=` does not start a value that could hide tags.
        assert!(refused(&format!("<div a\"b>{}\"", "<div>".repeat(65))));
    }

    #[test]
    fn svg_and_math_are_renamed_before_parsing() {
        assert_eq!(
            foreign_off("<SVG><g></g></svg > <math/> <svgx> svg".into()),
            "<SVG-off><g></g></svg-off > <math-off/> <svgx> svg"
        );
        // Inside SVG nothing closes implicitly, so the cells below would nest; renamed, they are HTML,
        // where a cell outside a table is ignored, as the count assumes.
        assert!(!refused(&format!("<svg>{}", "<td>".repeat(70))));
        assert!(refused(&format!("<svg>{}", "<g>".repeat(70))));
        assert!(
            !render_markdown("<svg><text>kept</text></svg>").contains("svg"),
            "the sanitizer drops the element and keeps its text"
        );
    }
}
