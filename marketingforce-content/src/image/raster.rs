//! Rasterising SVG to PNG with `resvg` (feature `raster`), with CJK fonts.

use std::path::PathBuf;
use std::sync::Arc;

use resvg::tiny_skia;
use resvg::usvg::{self, fontdb};

use crate::error::{ContentError, Result};

/// Families known to cover Simplified Chinese, most preferred first.
pub const CJK_FAMILIES: &[&str] = &[
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Noto Serif CJK SC",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "PingFang SC",
    "Microsoft YaHei",
    "SimHei",
];

/// Renders SVG to PNG with a loaded font database (load it once; it is shared).
#[derive(Debug, Clone)]
pub struct Rasterizer {
    fontdb: Arc<fontdb::Database>,
    family: String,
    searched: String,
}

impl Rasterizer {
    /// Use the system's fonts.
    ///
    /// # Errors
    /// [`ContentError::FontsMissing`] when no CJK font is installed.
    pub fn system() -> Result<Rasterizer> {
        let mut db = fontdb::Database::new();
        db.load_system_fonts();
        Rasterizer::from_db(db, "system font directories".into())
    }

    /// Use only the given font files or directories.
    ///
    /// # Errors
    /// [`ContentError::FontsMissing`] when none of them is a CJK font.
    pub fn with_fonts(paths: &[PathBuf]) -> Result<Rasterizer> {
        let mut db = fontdb::Database::new();
        for p in paths {
            if p.is_dir() {
                db.load_fonts_dir(p);
            } else {
                // Unreadable or non-font files are skipped; a missing CJK face is reported below.
                let _ = db.load_font_file(p);
            }
        }
        Rasterizer::from_db(
            db,
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        )
    }

    fn from_db(db: fontdb::Database, searched: String) -> Result<Rasterizer> {
        let families: Vec<String> = db
            .faces()
            .flat_map(|f| f.families.iter().map(|(n, _)| n.clone()))
            .collect();
        let family = CJK_FAMILIES
            .iter()
            .find(|want| families.iter().any(|f| f.eq_ignore_ascii_case(want)))
            .map(|s| (*s).to_string())
            .ok_or_else(|| ContentError::FontsMissing {
                needed: format!("CJK text (one of {})", CJK_FAMILIES.join(", ")),
                searched: searched.clone(),
            })?;
        Ok(Rasterizer {
            fontdb: Arc::new(db),
            family,
            searched,
        })
    }

    /// The CJK family used for text.
    pub fn family(&self) -> &str {
        &self.family
    }

    /// Render `svg` to PNG bytes.
    ///
    /// # Errors
    /// A validation error on `svg` when it does not parse, or a backend error when the image
    /// cannot be allocated or encoded.
    pub fn render_png(&self, svg: &str) -> Result<(Vec<u8>, u32, u32)> {
        let opt = usvg::Options {
            fontdb: self.fontdb.clone(),
            font_family: self.family.clone(),
            ..usvg::Options::default()
        };
        let tree = usvg::Tree::from_str(svg, &opt)
            .map_err(|e| ContentError::validation("svg", format!("does not parse: {e}")))?;
        let size = tree.size().to_int_size();
        let (w, h) = (size.width(), size.height());
        let mut pixmap = tiny_skia::Pixmap::new(w, h).ok_or_else(|| {
            marketingforce_core::Error::backend_message(
                "resvg",
                false,
                format!("cannot allocate {w}x{h} pixels"),
            )
        })?;
        resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
        let png = pixmap.encode_png().map_err(|e| {
            marketingforce_core::Error::backend_message(
                "resvg",
                false,
                format!("PNG encoding failed: {e}"),
            )
        })?;
        Ok((png, w, h))
    }

    /// Where fonts were looked for.
    pub fn searched(&self) -> &str {
        &self.searched
    }
}
