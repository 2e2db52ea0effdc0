//! Every shipped `config/*.example.toml` parses into its component's Config
//! and validates.

use std::path::Path;

#[test]
fn every_example_config_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("config dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !name.ends_with(".example.toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let checked = match name.as_str() {
            "hub.example.toml" => {
                common::config::parse::<hub::Config>(&text, &path).map(|c| c.validate())
            }
            "edge.example.toml" => {
                common::config::parse::<edge::Config>(&text, &path).map(|c| c.validate())
            }
            "gateway.example.toml" => {
                common::config::parse::<gateway::Config>(&text, &path).map(|c| c.validate())
            }
            "alerts.example.toml" => {
                common::config::parse::<alerts::Config>(&text, &path).map(|c| c.validate())
            }
            "agent.example.toml" => {
                common::config::parse::<agent::Config>(&text, &path).map(|c| c.validate())
            }
            other => panic!("{other}: no test knows which Config it belongs to"),
        };
        checked
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        seen += 1;
    }
    assert_eq!(seen, 5, "expected the five example configs");
}
