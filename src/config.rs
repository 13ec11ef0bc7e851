//! Typed configuration: defaults for the zero-setup case, overridden by an optional TOML file,
//! then by `APP__SECTION__KEY` environment variables.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Where the embedded SQLite database and generated secrets live.
    pub data_dir: PathBuf,
    /// When set, MongoDB is used instead of the embedded store.
    pub mongodb_uri: Option<String>,
    pub mongodb_database: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            mongodb_uri: None,
            mongodb_database: "agora".into(),
        }
    }
}
