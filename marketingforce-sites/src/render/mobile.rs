//! Deriving the mobile (H5) variant from a PC page: one-click PC → mobile.
//!
//! The derivation is a pure transformation of the block tree: sections stack their columns,
//! product grids show at most two per row and their first four specifications, case studies
//! keep their first three. The layout adds a collapsible menu and a sticky call / inquiry bar.

use crate::model::{Block, Page};

/// The most specifications a product card shows on mobile.
pub const MOBILE_SPECS: usize = 4;
/// The most case studies a mobile page shows per block.
pub const MOBILE_CASES: usize = 3;

/// The mobile page derived from a PC page.
///
/// ```
/// use marketingforce_sites::industry::IndustryTemplate;
/// use marketingforce_sites::model::Block;
/// use marketingforce_sites::render::derive_mobile;
///
/// let site = IndustryTemplate::Machinery.site().unwrap();
/// let home = site.page("").unwrap();
/// let mobile = derive_mobile(home);
/// for block in &mobile.blocks {
///     if let Block::Section(s) = block { assert_eq!(s.columns, 1); }
///     if let Block::ProductGrid(g) = block { assert!(g.columns <= 2); }
/// }
/// ```
pub fn derive_mobile(page: &Page) -> Page {
    let mut m = page.clone();
    m.blocks = page.blocks.iter().map(derive_block).collect();
    m
}

fn derive_block(b: &Block) -> Block {
    match b {
        Block::Section(s) => {
            let mut s = s.clone();
            s.columns = 1;
            s.children = s.children.iter().map(derive_block).collect();
            Block::Section(s)
        }
        Block::ProductGrid(g) => {
            let mut g = g.clone();
            g.columns = g.columns.min(2);
            for p in &mut g.products {
                p.specs.truncate(MOBILE_SPECS);
            }
            Block::ProductGrid(g)
        }
        Block::CaseStudies(c) => {
            let mut c = c.clone();
            c.cases.truncate(MOBILE_CASES);
            Block::CaseStudies(c)
        }
        other => other.clone(),
    }
}
