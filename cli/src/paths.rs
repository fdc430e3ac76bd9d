//! Where roadsight finds its runtime library, models and demo clips.
//!
//! Defaults are relative to the repository (found from the executable's location, then the
//! current directory): `.deps/onnxruntime/`, `.deps/models/`, `models/manifest.toml`.
//! Environment variables override them: `ORT_DYLIB_PATH`, `ROADSIGHT_MODELS_DIR`,
//! `ROADSIGHT_HOME` (the repository itself). A city config's `[paths]` overrides the defaults too.

use std::path::{Path, PathBuf};

pub const ONNXRUNTIME_FILE: &str = "libonnxruntime.so.1.31.1";

#[derive(Debug, Clone)]
pub struct Locations {
    pub repo: PathBuf,
    pub manifest: PathBuf,
    pub models_dir: PathBuf,
    pub onnxruntime: PathBuf,
}

fn looks_like_repo(dir: &Path) -> bool {
    dir.join("models/manifest.toml").is_file() && dir.join("Cargo.toml").is_file()
}

/// The repository this binary belongs to.
pub fn repo_root() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("ROADSIGHT_HOME") {
        return Some(PathBuf::from(home));
    }
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .find(|d| looks_like_repo(d))
            .map(Path::to_path_buf)
    });
    from_exe.or_else(|| {
        std::env::current_dir().ok().and_then(|cwd| {
            cwd.ancestors()
                .find(|d| looks_like_repo(d))
                .map(Path::to_path_buf)
        })
    })
}

impl Locations {
    /// Resolves every location; `configured` are a city config's `[paths]` values.
    pub fn resolve(
        configured_models_dir: Option<&Path>,
        configured_onnxruntime: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let repo = repo_root().ok_or_else(|| {
            anyhow::anyhow!(
                "cannot find the roadsight repository (models/manifest.toml) above the executable or the current directory; set ROADSIGHT_HOME"
            )
        })?;
        let models_dir = std::env::var_os("ROADSIGHT_MODELS_DIR")
            .map(PathBuf::from)
            .or_else(|| configured_models_dir.map(Path::to_path_buf))
            .unwrap_or_else(|| repo.join(".deps/models"));
        let onnxruntime = std::env::var_os("ORT_DYLIB_PATH")
            .map(PathBuf::from)
            .or_else(|| configured_onnxruntime.map(Path::to_path_buf))
            .unwrap_or_else(|| repo.join(".deps/onnxruntime").join(ONNXRUNTIME_FILE));
        Ok(Self {
            manifest: repo.join("models/manifest.toml"),
            repo,
            models_dir,
            onnxruntime,
        })
    }
}
