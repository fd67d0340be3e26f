//! Plan-level checks that produce warnings: gaps and overlaps in the week coverage, duplicate
//! phases and empty sections. They never fail an import, because a plan with a hole in it is
//! still a plan a person wants to see.
//!
//! Ranges are handled as intervals, never expanded week by week, so "Weeks 1-4000000000" costs
//! the same as "Weeks 1-4".

use std::collections::HashMap;

use crate::model::{Roadmap, Warning, weeks_phrase};

pub(crate) fn check(r: &Roadmap) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut first_line: HashMap<u32, usize> = HashMap::new();
    for p in &r.phases {
        match first_line.get(&p.number) {
            Some(&first) => out.push(Warning {
                line: p.line,
                message: format!("Phase {} appears again (first at line {first})", p.number),
            }),
            None => {
                first_line.insert(p.number, p.line);
            }
        }
        for s in &p.weeks {
            if s.items.is_empty() {
                out.push(Warning {
                    line: s.line,
                    message: format!(
                        "{} section has no items",
                        capitalised(&weeks_phrase(s.weeks))
                    ),
                });
            }
        }
        let mut order: Vec<usize> = (0..p.weeks.len()).collect();
        order.sort_by_key(|&i| (p.weeks[i].weeks.0, p.weeks[i].line));
        let mut reach: Option<u32> = None;
        for &i in &order {
            let s = &p.weeks[i];
            if reach.is_some_and(|end| s.weeks.0 <= end) {
                out.push(Warning {
                    line: s.line,
                    message: format!(
                        "{} overlap another section of Phase {}",
                        capitalised(&weeks_phrase(s.weeks)),
                        p.number
                    ),
                });
            }
            reach = Some(reach.map_or(s.weeks.1, |end| end.max(s.weeks.1)));
        }
        match p.week_range {
            Some(range) => coverage(p.number, p.line, range, &p.weeks, &mut out),
            None if p.weeks.is_empty() => out.push(Warning {
                line: p.line,
                message: format!("Phase {} has no week sections", p.number),
            }),
            None => {}
        }
    }
    for pair in r.phases.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (Some(ra), Some(rb)) = (a.week_range, b.week_range) else {
            continue;
        };
        if u64::from(rb.0) > u64::from(ra.1) + 1 {
            out.push(Warning {
                line: b.line,
                message: format!(
                    "{} fall between Phase {} and Phase {} and belong to neither",
                    capitalised(&weeks_phrase((ra.1 + 1, rb.0 - 1))),
                    a.number,
                    b.number
                ),
            });
        } else if rb.0 <= ra.1 {
            out.push(Warning {
                line: b.line,
                message: format!(
                    "Phase {} ({}) overlaps Phase {} ({})",
                    b.number,
                    weeks_phrase(rb),
                    a.number,
                    weeks_phrase(ra)
                ),
            });
        }
    }
    out
}

fn coverage(
    number: u32,
    line: usize,
    (start, end): (u32, u32),
    sections: &[crate::model::WeekSection],
    out: &mut Vec<Warning>,
) {
    let declared = weeks_phrase((start, end));
    let mut spans: Vec<(u32, u32)> = Vec::with_capacity(sections.len());
    for s in sections {
        if s.weeks.0 < start || s.weeks.1 > end {
            out.push(Warning {
                line: s.line,
                message: format!(
                    "{} section lies outside Phase {number} ({declared})",
                    capitalised(&weeks_phrase(s.weeks))
                ),
            });
        }
        let (a, b) = (s.weeks.0.max(start), s.weeks.1.min(end));
        if a <= b {
            spans.push((a, b));
        }
    }
    spans.sort_unstable();
    // u64 so that a section ending at u32::MAX cannot overflow the cursor.
    let mut next = u64::from(start);
    let mut gaps = Vec::new();
    for (a, b) in spans {
        if u64::from(a) > next {
            gaps.push((next as u32, a - 1));
        }
        next = next.max(u64::from(b) + 1);
    }
    if next <= u64::from(end) {
        gaps.push((next as u32, end));
    }
    for gap in gaps {
        let verb = if gap.0 == gap.1 { "has" } else { "have" };
        out.push(Warning {
            line,
            message: format!(
                "Phase {number} covers {declared} but {} {verb} no section",
                weeks_phrase(gap)
            ),
        });
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Item, ItemKind, Phase, Status, WeekSection};

    fn section(weeks: (u32, u32), line: usize) -> WeekSection {
        WeekSection {
            weeks,
            title: "t".into(),
            items: vec![Item {
                key: String::new(),
                kind: ItemKind::Bullet,
                text: "x".into(),
                status: Status::NotStarted,
                notes: vec![],
                resources: vec![],
                line,
            }],
            notes: vec![],
            line,
        }
    }

    fn phase(number: u32, range: Option<(u32, u32)>, weeks: Vec<WeekSection>) -> Phase {
        Phase {
            number,
            title: "p".into(),
            week_range: range,
            goal: None,
            weeks,
            notes: vec![],
            line: 10 * number as usize,
        }
    }

    fn messages(r: &Roadmap) -> Vec<String> {
        check(r).into_iter().map(|w| w.message).collect()
    }

    #[test]
    fn missing_weeks_at_the_end_of_a_phase_are_one_warning() {
        let r = Roadmap {
            phases: vec![phase(
                2,
                Some((5, 10)),
                vec![section((5, 5), 1), section((6, 6), 2), section((7, 7), 3)],
            )],
            ..Roadmap::default()
        };
        assert_eq!(
            messages(&r),
            ["Phase 2 covers weeks 5–10 but weeks 8–10 have no section"]
        );
    }

    #[test]
    fn a_single_missing_week_in_the_middle_is_named() {
        let r = Roadmap {
            phases: vec![phase(
                1,
                Some((1, 3)),
                vec![section((1, 1), 1), section((3, 3), 2)],
            )],
            ..Roadmap::default()
        };
        assert_eq!(
            messages(&r),
            ["Phase 1 covers weeks 1–3 but week 2 has no section"]
        );
    }

    #[test]
    fn overlaps_and_sections_outside_the_range_are_reported() {
        let r = Roadmap {
            phases: vec![phase(
                1,
                Some((1, 4)),
                vec![section((1, 3), 1), section((3, 4), 2), section((5, 5), 3)],
            )],
            ..Roadmap::default()
        };
        assert_eq!(
            messages(&r),
            [
                "Weeks 3–4 overlap another section of Phase 1",
                "Week 5 section lies outside Phase 1 (weeks 1–4)"
            ]
        );
    }

    #[test]
    fn weeks_between_phases_are_reported() {
        let r = Roadmap {
            phases: vec![
                phase(1, Some((1, 1)), vec![section((1, 1), 1)]),
                phase(2, Some((4, 4)), vec![section((4, 4), 2)]),
            ],
            ..Roadmap::default()
        };
        assert_eq!(
            messages(&r),
            ["Weeks 2–3 fall between Phase 1 and Phase 2 and belong to neither"]
        );
    }

    #[test]
    fn huge_ranges_are_checked_without_expanding_them() {
        let r = Roadmap {
            phases: vec![phase(
                1,
                Some((1, u32::MAX)),
                vec![section((1, u32::MAX), 1)],
            )],
            ..Roadmap::default()
        };
        assert!(messages(&r).is_empty());
    }
}
