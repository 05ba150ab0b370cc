//! The JSON Schemas of the configuration files are generated from the types (schemars) and
//! committed under `schemas/`; this test fails when they are stale. Regenerate with
//! `UPDATE_SCHEMAS=1 cargo test -p marketingforce-modules --test schemas`.

use marketingforce_modules::catalog::Catalog;
use marketingforce_modules::paas::ModuleManifest;
use marketingforce_modules::products::Products;

fn check(file: &str, generated: String) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(file);
    let generated = generated + "\n";
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: run UPDATE_SCHEMAS=1 cargo test -p marketingforce-modules --test schemas",
        path.display()
    );
}

#[test]
fn committed_schemas_are_up_to_date() {
    check("catalog.schema.json", Catalog::json_schema());
    check("products.schema.json", Products::json_schema());
    check("module-manifest.schema.json", ModuleManifest::json_schema());
}

#[test]
fn shipped_data_names_its_schema_shape() {
    // The shipped data parses as the schema's types (the loaders validate the rest).
    let catalog: serde_json::Value =
        serde_json::from_str(include_str!("../data/catalog.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&Catalog::json_schema()).unwrap();
    let required = schema["required"].as_array().unwrap();
    for r in required {
        assert!(
            catalog.get(r.as_str().unwrap()).is_some(),
            "catalog.json lacks {r}"
        );
    }
}
