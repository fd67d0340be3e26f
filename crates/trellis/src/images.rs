//! Uploaded images: the content is sniffed (the client's name and type are ignored), size-limited,
//! decoded with bounded memory, and re-encoded, so nothing the client sent is stored as is.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};

/// Why an upload was refused, in words for the user.
#[derive(Debug, PartialEq, Eq)]
pub struct Rejected(pub String);

const MAX_DIMENSION: u32 = 8000;

/// Decodes an image of an accepted format (PNG, JPEG, GIF, WebP) or says why not.
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
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    reader
        .decode()
        .map_err(|_| Rejected("the image could not be read; it may be damaged".into()))
}

/// A square crop of `side` pixels, encoded as PNG.
pub fn square_png(img: &DynamicImage, side: u32) -> Vec<u8> {
    encode_png(&img.resize_to_fill(side, side, FilterType::Lanczos3))
}

/// Fits within `max_w`×`max_h` keeping the aspect ratio (never enlarging), encoded as PNG.
pub fn fit_png(img: &DynamicImage, max_w: u32, max_h: u32) -> Vec<u8> {
    if img.width() <= max_w && img.height() <= max_h {
        return encode_png(img);
    }
    encode_png(&img.resize(max_w, max_h, FilterType::Lanczos3))
}

/// Fits within `max_w`×`max_h` (never enlarging), as JPEG: photos stay small; transparency becomes black.
pub fn fit_jpeg(img: &DynamicImage, max_w: u32, max_h: u32) -> Vec<u8> {
    if img.width() <= max_w && img.height() <= max_h {
        return encode_jpeg(img);
    }
    encode_jpeg(&img.resize(max_w, max_h, FilterType::Lanczos3))
}

/// Exactly `w`×`h`, cropped to fill, as JPEG.
pub fn fill_jpeg(img: &DynamicImage, w: u32, h: u32) -> Vec<u8> {
    encode_jpeg(&img.resize_to_fill(w, h, FilterType::Lanczos3))
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
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        encode_png(&DynamicImage::new_rgb8(w, h))
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
        let out = decode(&square_png(&img, 64), 1 << 20).unwrap();
        assert_eq!((out.width(), out.height()), (64, 64));
        let fitted = decode(&fit_png(&img, 150, 150), 1 << 20).unwrap();
        assert_eq!((fitted.width(), fitted.height()), (150, 100));
    }

    #[test]
    fn truncated_images_are_rejected() {
        let bytes = png(50, 50);
        assert!(decode(&bytes[..40], 1 << 20).is_err());
    }
}
