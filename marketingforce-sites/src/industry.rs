//! Industry templates as data: a complete starter site per industry, in `data/templates/`,
//! to copy and edit (their shape is the [`Site`] schema).

use crate::error::Result;
use crate::model::Site;

/// A built-in starter site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IndustryTemplate {
    /// Machinery and industrial equipment (B2B): products with specifications, case studies,
    /// an inquiry form, bilingual (zh-CN, en).
    Machinery,
    /// Retail and consumer goods: banners, posters, a product grid, store locations.
    Retail,
}

impl IndustryTemplate {
    /// Every template.
    pub const ALL: [IndustryTemplate; 2] = [IndustryTemplate::Machinery, IndustryTemplate::Retail];

    /// The template's JSON document.
    pub fn json(self) -> &'static str {
        match self {
            IndustryTemplate::Machinery => include_str!("../data/templates/machinery.json"),
            IndustryTemplate::Retail => include_str!("../data/templates/retail.json"),
        }
    }

    /// The template as a validated [`Site`].
    ///
    /// # Errors
    /// Never for the built-in documents (the tests load them); the type allows edited copies.
    pub fn site(self) -> Result<Site> {
        Site::from_json(self.json())
    }
}
