//! Still images for `detect` and `plates read`: decoding by content, and one JSON line per image.

use roadsight_plate_reader::RgbView;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// An image decoded to packed RGB.
pub struct Decoded {
    pub rgb: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

impl Decoded {
    pub fn open(path: &Path) -> Result<Self, String> {
        // The format comes from the content: files named .jpg may hold PNG.
        let image = image::ImageReader::open(path)
            .and_then(|r| r.with_guessed_format())
            .map_err(|e| format!("cannot read image: {e}"))?
            .decode()
            .map_err(|e| format!("cannot read image: {e}"))?;
        let rgb = image.to_rgb8();
        let (width, height) = rgb.dimensions();
        if width == 0 || height == 0 {
            return Err("the image is empty".to_string());
        }
        Ok(Self {
            rgb: rgb.into_raw(),
            width,
            height,
        })
    }

    pub fn view(&self) -> Option<RgbView<'_>> {
        RgbView::new(&self.rgb, self.width, self.height)
    }
}

/// Prints one JSON line per image: `{"image": PATH, KEY: RESULT}`, or `{"image": PATH, "error":
/// MESSAGE}` for an image that cannot be decoded or read; the rest go on. Exit code 1 if any
/// failed.
pub fn print_per_image<T: Serialize>(
    images: &[PathBuf],
    key: &str,
    mut read: impl FnMut(&Decoded) -> Result<T, String>,
) -> anyhow::Result<ExitCode> {
    let mut failures = 0usize;
    for path in images {
        let mut line = serde_json::Map::new();
        line.insert("image".into(), path.display().to_string().into());
        match Decoded::open(path).and_then(|decoded| read(&decoded)) {
            Ok(result) => {
                line.insert(key.into(), serde_json::to_value(result)?);
            }
            Err(message) => {
                failures += 1;
                line.insert("error".into(), message.into());
            }
        }
        outln!("{}", serde_json::Value::Object(line));
    }
    Ok(if failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
