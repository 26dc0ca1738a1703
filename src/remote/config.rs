//! Named remote endpoints from the user's config file (`$HEARTH_CONFIG`, else
//! `$XDG_CONFIG_HOME/hearth/config.toml`, else `~/.config/hearth/config.toml`):
//!
//! ```toml
//! [remotes.gpu]
//! url = "http://gpu-box:8000/v1"
//! model = "Qwen/Qwen3-Coder-30B-A3B-Instruct"   # optional: else the first listed
//! api_key_env = "GPU_BOX_KEY"                     # optional: the variable with the key
//! ```
//!
//! `--remote gpu` and `/escalate gpu` name one; a URL works without any config. Naming
//! an endpoint sends nothing: turns go remote only when a command or `/escalate` says so.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::{Endpoint, API_KEY_ENV};
use crate::error::{Error, Result};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    remotes: BTreeMap<String, Named>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Named {
    url: String,
    model: Option<String>,
    api_key_env: Option<String>,
}

/// Where the config file is looked for.
pub fn config_path() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(file) = var("HEARTH_CONFIG") {
        return Some(file);
    }
    if let Some(dir) = var("XDG_CONFIG_HOME") {
        return Some(dir.join("hearth/config.toml"));
    }
    var("HOME").map(|h| h.join(".config/hearth/config.toml"))
}

/// The endpoint `spec` names: a URL as it is, or a name from the config file. `model`
/// (`--remote-model`) wins over the config's.
pub fn resolve(spec: &str, model: Option<String>) -> Result<Endpoint> {
    if spec.contains("://") {
        return Endpoint::new(spec, model);
    }
    let path = config_path().ok_or_else(|| {
        Error::usage(format!("--remote {spec}: not a URL, and no config file (set HOME)"))
    })?;
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::usage(format!(
                "--remote {spec}: not a URL, and {} does not exist to name it",
                path.display()
            )))
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    let file: File = toml::from_str(&text).map_err(|e| {
        let first = e.to_string().lines().next().unwrap_or_default().to_string();
        Error::bad_input(first).with_file(&path)
    })?;
    let Some(named) = file.remotes.get(spec) else {
        let names: Vec<&str> = file.remotes.keys().map(String::as_str).collect();
        return Err(Error::usage(format!(
            "no remote named '{spec}' in {} (it names: {})",
            path.display(),
            if names.is_empty() { "none".to_string() } else { names.join(", ") }
        )));
    };
    let mut endpoint = Endpoint::new(&named.url, model.or_else(|| named.model.clone()))
        .map_err(|e| Error::bad_input(format!("remotes.{spec}.url: {e}")).with_file(&path))?;
    if let Some(var) = &named.api_key_env {
        endpoint.api_key = std::env::var(var).ok().filter(|k| !k.is_empty());
        if endpoint.api_key.is_none() {
            return Err(Error::usage(format!(
                "remote '{spec}' takes its key from ${var}, which is not set ({API_KEY_ENV} is not used for it)"
            )));
        }
    }
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` with `HEARTH_CONFIG` naming a file holding `text`.
    fn with_config<T>(text: &str, f: impl FnOnce() -> T) -> T {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        // SAFETY: this module's tests are the only ones touching these variables.
        unsafe { std::env::set_var("HEARTH_CONFIG", &path) };
        let out = f();
        unsafe { std::env::remove_var("HEARTH_CONFIG") };
        out
    }

    #[test]
    fn names_urls_keys_and_mistakes() {
        let text = "[remotes.gpu]\nurl = \"http://gpu-box:8000/v1\"\nmodel = \"big\"\napi_key_env = \"HEARTH_TEST_GPU_KEY\"\n\n[remotes.lan]\nurl = \"http://10.0.0.2:8080\"\n";
        with_config(text, || {
            let lan = resolve("lan", None).unwrap();
            assert_eq!(
                (lan.base.as_str(), lan.model.as_deref()),
                ("http://10.0.0.2:8080/v1", None)
            );
            let err = resolve("gpu", None).unwrap_err().to_string();
            assert!(err.contains("$HEARTH_TEST_GPU_KEY"), "{err}");
            unsafe { std::env::set_var("HEARTH_TEST_GPU_KEY", "k") };
            let gpu = resolve("gpu", Some("small".into())).unwrap();
            unsafe { std::env::remove_var("HEARTH_TEST_GPU_KEY") };
            assert_eq!((gpu.api_key.as_deref(), gpu.model.as_deref()), (Some("k"), Some("small")));
            let err = resolve("cloud", None).unwrap_err().to_string();
            assert!(err.contains("no remote named 'cloud'") && err.contains("gpu, lan"), "{err}");
            assert_eq!(resolve("http://x:1", None).unwrap().base, "http://x:1/v1");
        });
        with_config("[remotes.a]\nurl = 3\n", || {
            let err = resolve("a", None).unwrap_err().to_string();
            assert!(err.contains("config.toml") && err.lines().count() == 1, "{err}");
        });
    }
}
