//! Checking the user's raw images: present, not empty, not too large, really an image.

use marketingforce_core::adapters::generation::{ImageAsset, ImageFormat};

use crate::error::{ContentError, Result};

/// Largest accepted image, in bytes.
pub const MAX_IMAGE_BYTES: usize = 10 * 1024 * 1024;

/// What the bytes are, by their signature.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        return Some(ImageFormat::Png);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(ImageFormat::Jpeg);
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Some(ImageFormat::Gif);
    }
    if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        return Some(ImageFormat::Webp);
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
    let head = head.trim_start_matches('\u{feff}').trim_start();
    if head.starts_with("<svg") || (head.starts_with("<?xml") && head.contains("<svg")) {
        return Some(ImageFormat::Svg);
    }
    None
}

/// Pixel size of a PNG (from its header), if readable.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let w = u32::from_be_bytes(bytes.get(16..20)?.try_into().ok()?);
    let h = u32::from_be_bytes(bytes.get(20..24)?.try_into().ok()?);
    Some((w, h))
}

/// Check an asset and return its format.
///
/// ```
/// use marketingforce_content::image::assets::check;
/// use marketingforce_core::adapters::generation::ImageAsset;
/// let e = check(&ImageAsset { name: "logo.png".into(), bytes: b"hello".to_vec() }).unwrap_err();
/// assert!(e.to_string().contains("logo.png"));
/// ```
///
/// # Errors
/// [`ContentError::BadImage`] naming the asset: empty, too large, not an image, or a PNG with a
/// broken header.
pub fn check(asset: &ImageAsset) -> Result<ImageFormat> {
    let bad = |reason: String| ContentError::BadImage {
        name: asset.name.clone(),
        reason,
    };
    if asset.bytes.is_empty() {
        return Err(bad("the file is empty".into()));
    }
    if asset.bytes.len() > MAX_IMAGE_BYTES {
        return Err(bad(format!(
            "{} bytes, at most {MAX_IMAGE_BYTES} accepted",
            asset.bytes.len()
        )));
    }
    let format = sniff(&asset.bytes)
        .ok_or_else(|| bad("not an image: PNG, JPEG, GIF, WebP or SVG expected".into()))?;
    if format == ImageFormat::Png {
        match png_size(&asset.bytes) {
            Some((w, h)) if w > 0 && h > 0 && w <= 20_000 && h <= 20_000 => {}
            _ => return Err(bad("a PNG with a missing or broken header".into())),
        }
    }
    Ok(format)
}
