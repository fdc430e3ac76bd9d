//! ONNX Runtime: one environment per process, loaded from the shared library set-up fetched,
//! and sessions opened with explicit thread settings.

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("ONNX Runtime library {file} could not be loaded: {message} (run scripts/setup.sh, or set ORT_DYLIB_PATH)")]
    Load { file: PathBuf, message: String },
    #[error("ONNX Runtime was already loaded from {loaded}; cannot switch to {requested}")]
    AlreadyLoaded { loaded: PathBuf, requested: PathBuf },
    #[error("model `{model}`: ONNX Runtime could not open {file}: {message}")]
    Session {
        model: String,
        file: PathBuf,
        message: String,
    },
}

/// How a session runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Threads inside one operator (`intra_op_num_threads`).
    pub intra_threads: usize,
    /// Let idle intra-op threads spin (ONNX Runtime's default). Off saves CPU between runs.
    pub spinning: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            intra_threads: 1,
            spinning: false,
        }
    }
}

static ENVIRONMENT: OnceLock<Result<(PathBuf, Environment), String>> = OnceLock::new();

/// The process's ONNX Runtime environment, loading `library` the first time.
pub fn environment(library: &Path) -> Result<&'static Environment, RuntimeError> {
    let loaded = ENVIRONMENT.get_or_init(|| {
        if !library.is_file() {
            return Err(format!("no such file {}", library.display()));
        }
        ort::init_from(library)
            .map_err(|e| e.to_string())
            .and_then(|builder| {
                builder
                    .with_name("roadsight")
                    .build()
                    .map_err(|e| e.to_string())
            })
            .map(|env| (library.to_path_buf(), env))
    });
    match loaded {
        Ok((path, env)) if path == library => Ok(env),
        Ok((path, _)) => Err(RuntimeError::AlreadyLoaded {
            loaded: path.clone(),
            requested: library.to_path_buf(),
        }),
        Err(message) => Err(RuntimeError::Load {
            file: library.to_path_buf(),
            message: message.clone(),
        }),
    }
}

/// Opens `file` as a session with `options`.
pub fn open_session(
    env: &Environment,
    model: &str,
    file: &Path,
    options: SessionOptions,
) -> Result<Session, RuntimeError> {
    let fail = |message: String| RuntimeError::Session {
        model: model.to_string(),
        file: file.to_path_buf(),
        message,
    };
    Session::builder(env)
        .map_err(|e| fail(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| fail(e.to_string()))?
        .with_intra_threads(options.intra_threads.max(1))
        .map_err(|e| fail(e.to_string()))?
        .with_inter_threads(1)
        .map_err(|e| fail(e.to_string()))?
        .with_intra_op_spinning(options.spinning)
        .map_err(|e| fail(e.to_string()))?
        .commit_from_file(file)
        .map_err(|e| fail(e.to_string()))
}
