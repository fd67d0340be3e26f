//! `trellis bench images` and `trellis bench markdown`: what hostile uploads and Markdown bodies cost.
//!
//! Each image case runs in a child process of its own (this binary again, with a hidden `--case`), because
//! the kernel's peak resident size of a process (VmHWM) only ever grows: measured in one process, every
//! case after the worst would report the worst. The inputs are made by the parent and handed over as files,
//! so making an 8000×8000 test image does not count against the case that reads it.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use crate::config::Settings;
use crate::images;

#[derive(clap::Args, Debug)]
pub struct ImagesArgs {
    /// Runs one case in this process and prints its figures (what the parent asks each child to do).
    #[arg(long, hide = true)]
    case: Option<String>,
    #[arg(long, hide = true, requires = "case")]
    input: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct MarkdownArgs {
    /// Body sizes in characters to try for each shape.
    #[arg(long, value_delimiter = ',', default_values_t = [50_000usize, 100_000])]
    sizes: Vec<usize>,
    /// Also time the sanitizer on bodies past the nesting limit, as it ran before the check (minutes).
    #[arg(long)]
    sanitize: bool,
}

#[derive(Clone, Copy, Debug)]
enum Purpose {
    /// 256-pixel square and 64-pixel thumbnail, PNG (the profile page).
    Avatar,
    /// Fitted within 1200×800 and a 480×270 crop, JPEG (the blog editor).
    Cover,
}

#[derive(Clone, Copy)]
enum Input {
    /// One flat color: compresses to almost nothing whatever the size.
    Flat(u32, u32),
    /// One flat color with an alpha channel: 4 bytes a pixel once decoded.
    FlatRgba(u32, u32),
    /// The same at 16 bits a channel: 8 bytes a pixel.
    FlatRgba16(u32, u32),
    /// Smooth shapes and fine texture, JPEG at quality 90: as big as a camera's file, give or take.
    Photo(u32, u32),
}

impl Input {
    fn file_name(self) -> String {
        match self {
            Input::Flat(w, h) => format!("flat-{w}x{h}.png"),
            Input::FlatRgba(w, h) => format!("flat-rgba-{w}x{h}.png"),
            Input::FlatRgba16(w, h) => format!("flat-rgba16-{w}x{h}.png"),
            Input::Photo(w, h) => format!("photo-{w}x{h}.jpg"),
        }
    }

    fn bytes(self) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        match self {
            Input::Flat(w, h) => {
                image::RgbImage::from_pixel(w, h, image::Rgb([40, 120, 200]))
                    .write_to(&mut out, image::ImageFormat::Png)
                    .expect("encoding to memory");
            }
            Input::FlatRgba(w, h) => {
                image::RgbaImage::from_pixel(w, h, image::Rgba([40, 120, 200, 128]))
                    .write_to(&mut out, image::ImageFormat::Png)
                    .expect("encoding to memory");
            }
            Input::FlatRgba16(w, h) => {
                let pixel = image::Rgba([10_000u16, 30_000, 50_000, 40_000]);
                image::ImageBuffer::from_pixel(w, h, pixel)
                    .write_to(&mut out, image::ImageFormat::Png)
                    .expect("encoding to memory");
            }
            Input::Photo(w, h) => {
                let img = image::RgbImage::from_fn(w, h, |x, y| {
                    let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
                    let wave = ((x as f32 * 0.05).sin() * (y as f32 * 0.031).cos() * 12.0) as i32;
                    let grain = ((x.wrapping_mul(7919) ^ y.wrapping_mul(104_729)) % 9) as i32;
                    let c = |base: f32| (base + wave as f32 + grain as f32).clamp(0.0, 255.0) as u8;
                    image::Rgb([
                        c(60.0 + 150.0 * fx),
                        c(90.0 + 100.0 * fy),
                        c(200.0 - 120.0 * fx * fy),
                    ])
                });
                let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
                img.write_with_encoder(encoder).expect("encoding to memory");
            }
        }
        out.into_inner()
    }
}

struct ImageCase {
    name: &'static str,
    what: &'static str,
    input: Input,
    purpose: Purpose,
    /// Uploads processed at once.
    copies: usize,
}

const IMAGE_CASES: &[ImageCase] = &[
    ImageCase {
        name: "avatar-8000x1",
        what: "8000×1 PNG as an avatar",
        input: Input::Flat(8000, 1),
        purpose: Purpose::Avatar,
        copies: 1,
    },
    ImageCase {
        name: "cover-8000x1",
        what: "8000×1 PNG as a cover",
        input: Input::Flat(8000, 1),
        purpose: Purpose::Cover,
        copies: 1,
    },
    ImageCase {
        name: "avatar-8000x1-x3",
        what: "8000×1 PNG avatars, 3 at once",
        input: Input::Flat(8000, 1),
        purpose: Purpose::Avatar,
        copies: 3,
    },
    ImageCase {
        name: "cover-8000x8000",
        what: "8000×8000 flat PNG as a cover",
        input: Input::Flat(8000, 8000),
        purpose: Purpose::Cover,
        copies: 1,
    },
    ImageCase {
        name: "cover-rgba-24mp",
        what: "6000×4000 flat RGBA PNG as a cover",
        input: Input::FlatRgba(6000, 4000),
        purpose: Purpose::Cover,
        copies: 1,
    },
    ImageCase {
        name: "cover-rgba16-13mp",
        what: "3600×3600 flat 16-bit RGBA PNG as a cover",
        input: Input::FlatRgba16(3600, 3600),
        purpose: Purpose::Cover,
        copies: 1,
    },
    ImageCase {
        name: "avatar-photo-12mp",
        what: "4032×3024 JPEG photo as an avatar",
        input: Input::Photo(4032, 3024),
        purpose: Purpose::Avatar,
        copies: 1,
    },
    ImageCase {
        name: "cover-photo-24mp",
        what: "6000×4000 JPEG photo as a cover",
        input: Input::Photo(6000, 4000),
        purpose: Purpose::Cover,
        copies: 1,
    },
    ImageCase {
        name: "cover-photo-24mp-x3",
        what: "6000×4000 JPEG covers, 3 at once",
        input: Input::Photo(6000, 4000),
        purpose: Purpose::Cover,
        copies: 3,
    },
];

pub async fn images(settings: Settings, args: ImagesArgs) -> anyhow::Result<ExitCode> {
    if let Some(name) = args.case {
        let case = IMAGE_CASES
            .iter()
            .find(|c| c.name == name)
            .with_context(|| format!("no image case {name}"))?;
        let input = args.input.context("--input is required with --case")?;
        run_case(&settings, case, &input).await?;
        return Ok(ExitCode::SUCCESS);
    }

    let dir = std::env::temp_dir().join(format!(
        "trellis-bench-images-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    let result = run_children(&settings, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    Ok(ExitCode::SUCCESS)
}

fn run_children(settings: &Settings, dir: &Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding this program to run the cases")?;
    println!(
        "uploads of at most {} KB; {} CPU cores",
        settings.max_image_bytes / 1024,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "each case runs in a fresh child process: peak = its VmHWM (highest resident set); \
         growth = peak minus the resident set just before the case started (runtime and input file)"
    );
    println!();
    println!("| case | input | outcome | wall ms | peak MB | growth MB |");
    println!("|---|---:|---|---:|---:|---:|");
    for case in IMAGE_CASES {
        let path = dir.join(case.input.file_name());
        if !path.exists() {
            std::fs::write(&path, case.input.bytes())?;
        }
        let input = match std::fs::metadata(&path)?.len() {
            n if n < 10 * 1024 => format!("{n} B"),
            n => format!("{} KB", n.div_ceil(1024)),
        };
        let out = std::process::Command::new(&exe)
            .args(["bench", "images", "--case", case.name, "--input"])
            .arg(&path)
            .output()
            .with_context(|| format!("running case {}", case.name))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().find_map(|l| l.strip_prefix(RESULT));
        match line.map(|l| l.split('\t').collect::<Vec<_>>()) {
            Some(f) if f.len() == 4 => {
                let mb = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN) / 1024.0;
                println!(
                    "| {} | {input} | {} | {} | {:.0} | {:.0} |",
                    case.what,
                    f[3],
                    f[0],
                    mb(f[1]),
                    mb(f[1]) - mb(f[2])
                );
            }
            _ => println!(
                "| {} | {input} | failed ({}): {} | | | |",
                case.what,
                out.status,
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ),
        }
    }
    Ok(())
}

const RESULT: &str = "case-result\t";

async fn run_case(settings: &Settings, case: &ImageCase, input: &Path) -> anyhow::Result<()> {
    let bytes = Arc::new(std::fs::read(input)?);
    let max = settings.max_image_bytes;
    let before = status_kb("VmRSS:");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..case.copies {
        tasks.push(tokio::spawn(process(case.purpose, bytes.clone(), max)));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await??);
    }
    let wall_ms = started.elapsed().as_millis();
    let peak = status_kb("VmHWM:");
    outcomes.dedup();
    let outcome = match &outcomes[..] {
        [one] => one.clone(),
        many => many.join("; "),
    };
    let kb = |v: Option<u64>| v.map_or("nan".to_string(), |v| v.to_string());
    println!("{RESULT}{wall_ms}\t{}\t{}\t{outcome}", kb(peak), kb(before));
    Ok(())
}

/// One upload through the same steps as the handlers take.
async fn process(purpose: Purpose, bytes: Arc<Vec<u8>>, max: usize) -> anyhow::Result<String> {
    let out = images::process(move || {
        images::decode(&bytes, max).map(|img| match purpose {
            Purpose::Avatar => (images::square_png(&img, 256), images::square_png(&img, 64)),
            Purpose::Cover => (
                images::fit_jpeg(&img, 1200, 800),
                images::fill_jpeg(&img, 480, 270),
            ),
        })
    })
    .await?;
    Ok(match out {
        Ok((full, small)) => format!("stored {} + {}", dimensions(&full), dimensions(&small)),
        Err(images::Rejected(m)) => format!("refused: {m}"),
    })
}

fn dimensions(encoded: &[u8]) -> String {
    image::ImageReader::new(Cursor::new(encoded))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_dimensions().ok())
        .map_or("?".into(), |(w, h)| format!("{w}×{h}"))
}

/// A figure in kB from /proc/self/status (Linux); `None` elsewhere.
fn status_kb(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Bodies made to be expensive, as (name, unit): each unit is repeated up to the size asked. The last
/// ones are as deep as allowed, over and over: the most work a body that is accepted can ask for.
fn shapes() -> Vec<(&'static str, String)> {
    let at_limit = |unit: &str, times: usize| format!("{}x\n\n", unit.repeat(times));
    vec![
        ("nested `>`", ">".into()),
        ("nested `> `", "> ".into()),
        ("nested `- * `", "- * ".into()),
        ("nested `1. `", "1. ".into()),
        ("nested `> - `", "> - ".into()),
        ("nested `<div>`", "<div>".into()),
        ("`<div></x>`", "<div></x>".into()),
        ("nested `<b>`", "<b>".into()),
        ("nested `<table>`", "<table>".into()),
        ("`*` run", "*".into()),
        ("`[` run", "[".into()),
        ("64 quotes deep, repeated", at_limit("> ", 64)),
        ("32 lists deep, repeated", at_limit("- * ", 16)),
        (
            "64 `<div>` deep, repeated",
            format!("{}{}\n\n", "<div>".repeat(64), "</div>".repeat(64)),
        ),
    ]
}

pub async fn markdown(args: MarkdownArgs) -> anyhow::Result<ExitCode> {
    println!(
        "parse = pulldown-cmark events only; html = events to HTML; depth = the nesting check on that"
    );
    println!(
        "HTML; sanitize = ammonia on it, unguarded, on one thread (left out past the limit unless"
    );
    println!("--sanitize); render_checked = what saving or previewing a post runs now, end to end");
    println!();
    println!(
        "| body | chars | parse ms | html ms | depth ms | sanitize ms | render_checked ms | outcome |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    for (name, unit) in shapes() {
        for &size in &args.sizes {
            let body = unit.repeat((size / unit.len()).max(1));
            let row = tokio::task::spawn_blocking({
                let body = body.clone();
                let sanitize = args.sanitize;
                move || phases(&body, sanitize)
            })
            .await?;
            let t = Instant::now();
            let outcome = match crate::blog::render_checked(body.clone()).await {
                Ok(_) => "rendered".to_string(),
                Err(crate::error::AppError::Validation(e)) => {
                    format!("refused: {}", e.get("body").join("; "))
                }
                Err(e) => format!("failed: {e}"),
            };
            println!(
                "| {name} | {} | {row} | {:.1} | {outcome} |",
                body.chars().count(),
                t.elapsed().as_secs_f64() * 1000.0
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Times each phase of rendering on its own, as table cells.
fn phases(body: &str, sanitize_all: bool) -> String {
    let ms = |t: Instant| format!("{:.1}", t.elapsed().as_secs_f64() * 1000.0);
    let t = Instant::now();
    let events = crate::markdown::markdown_parser(body).count();
    let parse = ms(t);
    let t = Instant::now();
    let html = crate::markdown::unsanitized_html(body);
    let to_html = ms(t);
    let t = Instant::now();
    let too_deep = crate::markdown::nests_deeper_than(&html, crate::markdown::MAX_NESTING);
    let depth = ms(t);
    let sanitized = if too_deep && !sanitize_all {
        "–".to_string()
    } else {
        let t = Instant::now();
        std::hint::black_box(crate::markdown::sanitize(&html));
        ms(t)
    };
    std::hint::black_box(events);
    format!("{parse} | {to_html} | {depth} | {sanitized}")
}
