//! Uploaded images: the content is sniffed (the client's name and type are ignored), size-limited, checked
//! against pixel limits read from its header before anything is decoded, decoded with bounded memory, and
//! re-encoded, so nothing the client sent is stored as is.
//!
//! Memory, per upload: the decoded pixels are at most [`MAX_PIXELS`] and [`DECODE_BUDGET`] bytes (96 MB for
//! an 8-bit RGBA image at the pixel limit, 72 MB for an RGB photo); the PNG and GIF decoders count their own
//! buffers against that budget too. Resizing crops to the target's shape first and averages big images
//! down to twice the target before the Lanczos pass, so its working memory follows the output, not the
//! upload: about 45 MB for a 1200×800 cover, under 5 MB for an avatar. Measured by `trellis bench images`,
//! the process grows by about 115 MB for a 24-megapixel photo as a cover and by at most about 145 MB for
//! an image at the limits (24-megapixel RGBA, 13-megapixel 16-bit RGBA); an 8000×1 strip costs 3 MB.
//! [`process`] runs at most one upload per CPU core at a time, so image work holds at most that many
//! times as much.

use std::io::Cursor;

use image::imageops::{self, FilterType};
use image::{
    DynamicImage, GenericImageView, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits,
};

use crate::blocking::Lane;

/// Why an upload was refused, in words for the user.
#[derive(Debug, PartialEq, Eq)]
pub struct Rejected(pub String);

/// Longest side accepted, in pixels.
pub const MAX_SIDE: u32 = 8000;

/// Most pixels accepted: a 6000×4000 camera frame. Real photos that large rarely fit the upload's byte
/// limit anyway; what this stops is flat or synthetic images, which compress to almost nothing.
pub const MAX_PIXELS: u64 = 24_000_000;

/// What decoding may allocate: the pixels of an 8-bit RGBA image at [`MAX_PIXELS`], plus 8 MiB for the
/// decoder's own buffers. Images with more bytes per pixel (16-bit PNG) get correspondingly fewer pixels.
pub const DECODE_BUDGET: u64 = MAX_PIXELS * 4 + (8 << 20);

/// Images much bigger than the target are first averaged down to this many times its size: cheap, and
/// enough margin for the Lanczos pass that follows to stay sharp.
const PRESHRINK: u32 = 2;

static WORK: Lane = Lane::per_core();

/// Runs image work (decode, resize, encode) on the blocking pool, at most one job per CPU core at a time.
pub async fn process<T, F>(work: F) -> Result<T, tokio::task::JoinError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    WORK.run(work).await
}

/// Decodes an image of an accepted format (PNG, JPEG, GIF, WebP) or says why not. Size limits are checked
/// on the header, before any pixel is decoded.
pub fn decode(bytes: &[u8], max_bytes: usize) -> Result<DynamicImage, Rejected> {
    if bytes.is_empty() {
        return Err(Rejected("the file is empty".into()));
    }
    if bytes.len() > max_bytes {
        return Err(Rejected(format!(
            "the file is larger than {} KB",
            max_bytes / 1024
        )));
    }
    let format = image::guess_format(bytes)
        .ok()
        .filter(|f| {
            matches!(
                f,
                ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP
            )
        })
        .ok_or_else(|| Rejected("the file is not a PNG, JPEG, GIF or WebP image".into()))?;
    let damaged = |_| Rejected("the image could not be read; it may be damaged".into());
    let mut limits = Limits::default();
    limits.max_alloc = Some(DECODE_BUDGET);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // No size limits yet: reading them from the header ourselves lets the message say which one was passed.
    reader.limits(limits.clone());
    let mut decoder = reader.into_decoder().map_err(damaged)?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(Rejected("the image has no pixels".into()));
    }
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(Rejected(format!(
            "the image is wider or taller than {MAX_SIDE} pixels"
        )));
    }
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(Rejected(format!(
            "the image is larger than {} megapixels",
            MAX_PIXELS / 1_000_000
        )));
    }
    let needed = decoder.total_bytes();
    if needed > DECODE_BUDGET {
        let color = decoder.color_type();
        let per_pixel = u64::from(color.bytes_per_pixel());
        return Err(Rejected(format!(
            "the image is larger than {} megapixels at {} bits per channel",
            DECODE_BUDGET / per_pixel / 1_000_000,
            color.bits_per_pixel() / u16::from(color.channel_count())
        )));
    }
    // The pixels count against the budget, and the decoder gets what is left, as `ImageReader::decode` does.
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.reserve(needed).map_err(damaged)?;
    decoder.set_limits(limits).map_err(damaged)?;
    DynamicImage::from_decoder(decoder).map_err(|e| match e {
        ImageError::Limits(_) => Rejected(format!(
            "the image needs more than {} MB of memory to decode",
            DECODE_BUDGET >> 20
        )),
        e => damaged(e),
    })
}

/// A square crop of `side` pixels, encoded as PNG.
pub fn square_png(img: &DynamicImage, side: u32) -> Vec<u8> {
    encode_png(&fill(img, side, side))
}

/// Fits within `max_w`×`max_h` keeping the aspect ratio (never enlarging), encoded as PNG.
pub fn fit_png(img: &DynamicImage, max_w: u32, max_h: u32) -> Vec<u8> {
    match fit(img, max_w, max_h) {
        Some(smaller) => encode_png(&smaller),
        None => encode_png(img),
    }
}

/// Fits within `max_w`×`max_h` (never enlarging), as JPEG: photos stay small; transparency becomes black.
pub fn fit_jpeg(img: &DynamicImage, max_w: u32, max_h: u32) -> Vec<u8> {
    match fit(img, max_w, max_h) {
        Some(smaller) => encode_jpeg(&smaller),
        None => encode_jpeg(img),
    }
}

/// Exactly `w`×`h`, cropped to fill, as JPEG.
pub fn fill_jpeg(img: &DynamicImage, w: u32, h: u32) -> Vec<u8> {
    encode_jpeg(&fill(img, w, h))
}

/// Exactly `w`×`h`: the largest centred part of the image with the target's shape, resized. Cropping
/// first keeps the work proportional to the output; resizing to cover first would enlarge the whole
/// image (an 8000×1 strip filling 240×240 became 1,920,000×240 pixels).
fn fill(img: &DynamicImage, w: u32, h: u32) -> DynamicImage {
    let (iw, ih) = img.dimensions();
    let (cw, ch) = if u64::from(iw) * u64::from(h) > u64::from(ih) * u64::from(w) {
        (scaled(ih, w, h).min(iw), ih)
    } else {
        (iw, scaled(iw, h, w).min(ih))
    };
    resize_part(img, ((iw - cw) / 2, (ih - ch) / 2, cw, ch), w, h)
}

/// Scaled down to fit within `max_w`×`max_h` with the same shape; `None` when it already fits.
fn fit(img: &DynamicImage, max_w: u32, max_h: u32) -> Option<DynamicImage> {
    let (iw, ih) = img.dimensions();
    if iw <= max_w && ih <= max_h {
        return None;
    }
    let (w, h) = if u64::from(iw) * u64::from(max_h) >= u64::from(ih) * u64::from(max_w) {
        (max_w, scaled(ih, max_w, iw))
    } else {
        (scaled(iw, max_h, ih), max_h)
    };
    Some(resize_part(img, (0, 0, iw, ih), w, h))
}

/// `n * num / den`, rounded, at least 1.
fn scaled(n: u32, num: u32, den: u32) -> u32 {
    let v = (u64::from(n) * u64::from(num) + u64::from(den) / 2) / u64::from(den);
    v.clamp(1, u64::from(u32::MAX)) as u32
}

/// The `(x, y, width, height)` part of `img`, resized to exactly `w`×`h`. The part is read in place (no
/// copy); only the averaged-down image, at most twice the target, meets the Lanczos filter.
fn resize_part(
    img: &DynamicImage,
    (x, y, cw, ch): (u32, u32, u32, u32),
    w: u32,
    h: u32,
) -> DynamicImage {
    let (pw, ph) = (
        cw.min(w.saturating_mul(PRESHRINK)),
        ch.min(h.saturating_mul(PRESHRINK)),
    );
    macro_rules! resize {
        ($buffer:expr) => {{
            let part = imageops::crop_imm($buffer, x, y, cw, ch);
            let out = if (pw, ph) == (cw, ch) {
                imageops::resize(&*part, w, h, FilterType::Lanczos3)
            } else {
                imageops::resize(
                    &imageops::thumbnail(&*part, pw, ph),
                    w,
                    h,
                    FilterType::Lanczos3,
                )
            };
            DynamicImage::from(out)
        }};
    }
    match img {
        DynamicImage::ImageLuma8(b) => resize!(b),
        DynamicImage::ImageLumaA8(b) => resize!(b),
        DynamicImage::ImageRgb8(b) => resize!(b),
        DynamicImage::ImageRgba8(b) => resize!(b),
        DynamicImage::ImageLuma16(b) => resize!(b),
        DynamicImage::ImageLumaA16(b) => resize!(b),
        DynamicImage::ImageRgb16(b) => resize!(b),
        DynamicImage::ImageRgba16(b) => resize!(b),
        // Floating-point images: none of the accepted formats decodes to one.
        other => {
            let rgba = other.to_rgba8();
            resize!(&rgba)
        }
    }
}

fn encode_jpeg(img: &DynamicImage) -> Vec<u8> {
    let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
    let mut out = Cursor::new(Vec::new());
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
    rgb.write_with_encoder(encoder)
        .expect("encoding JPEG to memory cannot fail");
    out.into_inner()
}

fn encode_png(img: &DynamicImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png)
        .expect("encoding PNG to memory cannot fail");
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        encode_png(&DynamicImage::new_rgb8(w, h))
    }

    fn size_of(encoded: &[u8]) -> (u32, u32) {
        let img = decode(encoded, 1 << 20).unwrap();
        (img.width(), img.height())
    }

    /// A PNG whose header claims `w`×`h` (and the given bit depth and colour type) but that holds the pixel
    /// data of a 1×1 image: refusals must come from the header, before any decoding.
    fn png_header(w: u32, h: u32, bit_depth: u8, colour_type: u8) -> Vec<u8> {
        let mut bytes = png(1, 1);
        // IHDR's fields follow the 8-byte signature, the chunk's length and its type; its CRC covers type and data.
        bytes[16..20].copy_from_slice(&w.to_be_bytes());
        bytes[20..24].copy_from_slice(&h.to_be_bytes());
        bytes[24] = bit_depth;
        bytes[25] = colour_type;
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn text_renamed_as_png_is_rejected() {
        let err = decode(b"hello, I am plain text", 1 << 20).unwrap_err();
        assert!(err.0.contains("not a PNG"));
    }

    #[test]
    fn oversized_files_are_rejected() {
        let bytes = png(64, 64);
        assert!(decode(&bytes, 10).unwrap_err().0.contains("larger than"));
    }

    #[test]
    fn a_real_image_is_reencoded_to_the_requested_size() {
        let img = decode(&png(300, 200), 1 << 20).unwrap();
        assert_eq!(size_of(&square_png(&img, 64)), (64, 64));
        assert_eq!(size_of(&fit_png(&img, 150, 150)), (150, 100));
        assert_eq!(
            size_of(&fit_jpeg(&img, 400, 400)),
            (300, 200),
            "never enlarged"
        );
        assert_eq!(size_of(&fill_jpeg(&img, 48, 27)), (48, 27));
    }

    #[test]
    fn truncated_images_are_rejected() {
        let bytes = png(50, 50);
        assert!(decode(&bytes[..40], 1 << 20).is_err());
    }

    #[test]
    fn a_strip_8000_pixels_wide_is_cheap_at_every_size() {
        let bomb = png(8000, 1);
        assert!(bomb.len() < 400, "compresses to {} bytes", bomb.len());
        let started = Instant::now();
        let img = decode(&bomb, 1 << 20).unwrap();
        assert_eq!(size_of(&square_png(&img, 256)), (256, 256));
        assert_eq!(size_of(&square_png(&img, 64)), (64, 64));
        assert_eq!(size_of(&fit_jpeg(&img, 1200, 800)), (1200, 1));
        assert_eq!(size_of(&fill_jpeg(&img, 480, 270)), (480, 270));
        let tall = decode(&png(1, 8000), 1 << 20).unwrap();
        assert_eq!(size_of(&fill_jpeg(&tall, 480, 270)), (480, 270));
        // Resizing to cover first took seconds and gigabytes here; cropping first takes milliseconds.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn dimensions_past_the_limit_are_refused_from_the_header() {
        for (w, h) in [(MAX_SIDE + 1, 10), (10, 100_000)] {
            let err = decode(&png_header(w, h, 8, 2), 1 << 20).unwrap_err();
            assert_eq!(err.0, "the image is wider or taller than 8000 pixels");
        }
    }

    #[test]
    fn pixel_counts_past_the_limit_are_refused_from_the_header() {
        let err = decode(&png_header(8000, 8000, 8, 2), 1 << 20).unwrap_err();
        assert_eq!(err.0, "the image is larger than 24 megapixels");
        // At the limit the header passes, and it is the missing pixel data that fails.
        let err = decode(&png_header(6000, 4000, 8, 6), 1 << 20).unwrap_err();
        assert!(err.0.contains("could not be read"), "{}", err.0);
    }

    #[test]
    fn deep_colour_gets_fewer_pixels() {
        // 16-bit RGBA is 8 bytes a pixel: 160 MB for these 20 megapixels.
        let err = decode(&png_header(5000, 4000, 16, 6), 1 << 20).unwrap_err();
        assert_eq!(
            err.0,
            "the image is larger than 13 megapixels at 16 bits per channel"
        );
    }

    #[test]
    fn fill_crops_the_middle_then_resizes() {
        // Left third red, middle third green, right third blue: a square from the middle is all green.
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(3000, 1000, |x, _| {
            match x / 1000 {
                0 => image::Rgb([255, 0, 0]),
                1 => image::Rgb([0, 255, 0]),
                _ => image::Rgb([0, 0, 255]),
            }
        }));
        let out = fill(&img, 100, 100);
        assert_eq!(out.dimensions(), (100, 100));
        let rgb = out.to_rgb8();
        for p in [
            rgb.get_pixel(0, 0),
            rgb.get_pixel(99, 99),
            rgb.get_pixel(50, 50),
        ] {
            assert!(p[1] > 240 && p[0] < 15 && p[2] < 15, "{p:?}");
        }
        // Big downscales average first: a 2400×1600 image fitted into 120×80 keeps its shape.
        let big = DynamicImage::new_rgb8(2400, 1600);
        assert_eq!(fit(&big, 120, 120).unwrap().dimensions(), (120, 80));
        assert!(fit(&big, 2400, 1600).is_none());
    }

    #[tokio::test]
    async fn process_runs_the_work_off_the_async_threads() {
        let name = process(|| std::thread::current().name().map(str::to_string))
            .await
            .unwrap();
        assert_ne!(name.as_deref(), std::thread::current().name());
    }
}
