//! The profile JSON Schema in the repository is the one the code generates.

#[test]
fn committed_schema_matches_the_types() {
    let committed = std::fs::read_to_string("schema/profile.schema.json")
        .expect("schema/profile.schema.json exists");
    let generated = tokenstorm::profile::json_schema();
    assert!(
        committed == generated,
        "schema/profile.schema.json is stale: run `cargo run -- schema > schema/profile.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&generated).unwrap();
    for key in [
        "duration",
        "load",
        "variant",
        "server",
        "target",
        "thresholds",
        "sessions",
    ] {
        assert!(schema["properties"][key].is_object(), "{key}");
    }
    assert_eq!(schema["additionalProperties"], false);
}

#[test]
fn every_shipped_profile_validates() {
    let mut seen = 0;
    for entry in std::fs::read_dir("profiles").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            tokenstorm::app::validate(&path).unwrap_or_else(|e| panic!("{e}"));
            seen += 1;
        }
    }
    assert!(seen >= 6, "profiles/ holds the shipped profiles");
}
