//! Rendering: industry templates, determinism, escaping, validation paths.

use marketingforce_sites::industry::IndustryTemplate;
use marketingforce_sites::render::{RenderInputs, Renderer};

#[test]
fn industry_templates_render() {
    for t in IndustryTemplate::ALL {
        let site = t.site().unwrap();
        let inputs = RenderInputs::placeholder_assets(&site);
        let out = Renderer::new().render(&site, &inputs).unwrap();
        assert!(out.pages().count() >= 3);
        if std::env::var_os("SITES_DUMP").is_some() {
            out.write_to(&std::path::Path::new("/tmp/sites").join(&site.id))
                .unwrap();
        }
    }
}
