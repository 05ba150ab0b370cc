//! T-image: posters, banners and product images from themed templates, filled with the user's
//! text and pictures, rendered to SVG and (feature `raster`) rasterised to PNG.
//!
//! Themes are data ([`Themes`]) chosen by industry, scenario and occasion (Spring Festival,
//! Mid-Autumn, Double 11, …). Text that does not fit its box is wrapped, then shrunk down to a
//! minimum size; text that still does not fit is refused with
//! [`ContentError::TextDoesNotFit`] — never cut. Every adjustment is listed in
//! [`GeneratedImage::notes`].

pub mod assets;
pub mod layout;
#[cfg(feature = "raster")]
pub mod raster;
pub mod svg;
pub mod theme;

use std::sync::Arc;

use async_trait::async_trait;
use marketingforce_core::adapters::generation::{
    GeneratedImage, ImageFormat, ImageGenerator, ImageRequest, Provenance,
};

use crate::error::{ContentError, Result};
pub use theme::{Theme, Themes};

/// The backend name recorded in provenance.
pub const TEMPLATE_IMAGE_BACKEND: &str = "svg-template";

/// Most pictures one request may carry.
pub const MAX_IMAGES: usize = 6;

/// Makes images from themes; SVG always, PNG with a `raster::Rasterizer` (feature `raster`).
///
/// ```
/// use marketingforce_content::image::TemplateImageGenerator;
/// use marketingforce_core::adapters::generation::ImageRequest;
///
/// let g = TemplateImageGenerator::new();
/// let mut req = ImageRequest::poster("industrial-machinery", "XK-850 立式加工中心 春季订货会");
/// req.occasion = Some("spring-festival".into());
/// req.body = vec!["定位精度 ±0.005 mm".into(), "长三角 48 小时上门".into()];
/// req.call_to_action = Some("扫码预约现场演示".into());
/// let img = g.generate_image(&req).unwrap();
/// let svg = String::from_utf8(img.bytes).unwrap();
/// assert!(svg.contains("新春快乐") && svg.contains("扫码预约现场演示"));
/// assert_eq!(img.provenance.template.as_deref(), Some("spring-festival"));
/// ```
#[derive(Debug, Clone)]
pub struct TemplateImageGenerator {
    themes: Arc<Themes>,
    #[cfg(feature = "raster")]
    rasterizer: Option<Arc<raster::Rasterizer>>,
}

impl Default for TemplateImageGenerator {
    fn default() -> Self {
        TemplateImageGenerator::new()
    }
}

impl TemplateImageGenerator {
    /// With the built-in themes, SVG only.
    pub fn new() -> TemplateImageGenerator {
        TemplateImageGenerator::with_themes(Themes::builtin())
    }

    /// With custom themes.
    pub fn with_themes(themes: Themes) -> TemplateImageGenerator {
        TemplateImageGenerator {
            themes: Arc::new(themes),
            #[cfg(feature = "raster")]
            rasterizer: None,
        }
    }

    /// Rasterise PNG requests with `rasterizer`.
    #[cfg(feature = "raster")]
    #[must_use]
    pub fn with_rasterizer(mut self, rasterizer: raster::Rasterizer) -> TemplateImageGenerator {
        self.rasterizer = Some(Arc::new(rasterizer));
        self
    }

    /// Make the image (synchronous; the trait method calls this).
    ///
    /// # Errors
    /// [`ContentError::BadImage`] for missing, empty, oversized or non-image pictures;
    /// [`ContentError::TextDoesNotFit`]; a validation error for PNG without a rasteriser;
    /// [`ContentError::FontsMissing`] from the rasteriser.
    pub fn generate_image(&self, req: &ImageRequest) -> Result<GeneratedImage> {
        if req.images.len() > MAX_IMAGES {
            return Err(marketingforce_core::Error::limit_exceeded(
                "images",
                req.images.len(),
                MAX_IMAGES,
            )
            .into());
        }
        let mut pics: Vec<(String, &[u8])> = Vec::with_capacity(req.images.len());
        for (i, a) in req.images.iter().enumerate() {
            let named = marketingforce_core::adapters::generation::ImageAsset {
                name: format!("images[{i}] ({})", a.name),
                bytes: Vec::new(),
            };
            assets::check(a).map_err(|e| match e {
                ContentError::BadImage { reason, .. } => ContentError::BadImage {
                    name: named.name.clone(),
                    reason,
                },
                other => other,
            })?;
            pics.push((a.name.clone(), a.bytes.as_slice()));
        }
        let theme = self.themes.select(
            req.template.as_deref(),
            &req.industry,
            req.scenario.as_deref(),
            req.occasion.as_deref(),
        )?;
        let seed = req.seed.unwrap_or(0);
        let (svg, w, h, notes) = svg::render(req, theme, &pics, seed)?;
        let provenance = Provenance {
            backend: TEMPLATE_IMAGE_BACKEND.into(),
            template: Some(theme.id.clone()),
            model: None,
            seed: req.seed,
            usage: None,
        };
        match req.format {
            ImageFormat::Svg => Ok(GeneratedImage {
                format: ImageFormat::Svg,
                width: w,
                height: h,
                bytes: svg.into_bytes(),
                notes,
                provenance,
            }),
            ImageFormat::Png => self.rasterise(svg, notes, provenance),
            other => Err(ContentError::validation(
                "format",
                format!("{other:?} output is not supported: choose svg or png"),
            )),
        }
    }

    #[cfg(feature = "raster")]
    fn rasterise(
        &self,
        svg: String,
        notes: Vec<String>,
        provenance: Provenance,
    ) -> Result<GeneratedImage> {
        let r = match &self.rasterizer {
            Some(r) => r.clone(),
            None => Arc::new(raster::Rasterizer::system()?),
        };
        let (png, width, height) = r.render_png(&svg)?;
        Ok(GeneratedImage {
            format: ImageFormat::Png,
            width,
            height,
            bytes: png,
            notes,
            provenance: Provenance {
                backend: format!("{}+resvg", provenance.backend),
                ..provenance
            },
        })
    }

    #[cfg(not(feature = "raster"))]
    fn rasterise(
        &self,
        _svg: String,
        _notes: Vec<String>,
        _provenance: Provenance,
    ) -> Result<GeneratedImage> {
        Err(ContentError::validation(
            "format",
            "PNG output needs the `raster` feature of marketingforce-content",
        ))
    }
}

#[async_trait]
impl ImageGenerator for TemplateImageGenerator {
    fn backend(&self) -> &str {
        TEMPLATE_IMAGE_BACKEND
    }

    async fn generate(
        &self,
        request: &ImageRequest,
    ) -> marketingforce_core::Result<GeneratedImage> {
        self.generate_image(request).map_err(Into::into)
    }
}
