//! Frames as they leave ingest: letterboxed, tensor-ready pixels plus where they came from.

use crate::buffer_pool::PlaneBuffer;
use crate::{CameraId, Timestamp};
use std::sync::Arc;
use std::time::Duration;

/// Channel order of the tensor the detector wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

/// Where the scaled image sits inside the tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LetterboxPlacement {
    /// Image at (0, 0); padding right and bottom (YOLOX).
    TopLeft,
    /// Image centred; padding split on both sides (YOLOv5/v8, HyperLPR).
    Centre,
}

/// The detector's input picture: size, channel order, letterbox placement and pad value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorSpec {
    pub width: u32,
    pub height: u32,
    pub channel_order: ChannelOrder,
    pub placement: LetterboxPlacement,
    pub pad_value: u8,
}

/// How a source image maps into the tensor: `tensor = image * scale + offset`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub source_width: u32,
    pub source_height: u32,
    /// Size of the scaled image inside the tensor.
    pub scaled_width: u32,
    pub scaled_height: u32,
    pub scale: f32,
    pub offset_x: u32,
    pub offset_y: u32,
}

impl Letterbox {
    /// The letterbox that fits a `source_width` x `source_height` image into `spec`.
    pub fn fit(source_width: u32, source_height: u32, spec: &TensorSpec) -> Self {
        let scale = (spec.width as f32 / source_width.max(1) as f32)
            .min(spec.height as f32 / source_height.max(1) as f32);
        let scaled_width = ((source_width as f32 * scale).round() as u32).clamp(1, spec.width);
        let scaled_height = ((source_height as f32 * scale).round() as u32).clamp(1, spec.height);
        let (offset_x, offset_y) = match spec.placement {
            LetterboxPlacement::TopLeft => (0, 0),
            LetterboxPlacement::Centre => (
                (spec.width - scaled_width) / 2,
                (spec.height - scaled_height) / 2,
            ),
        };
        Self {
            source_width,
            source_height,
            scaled_width,
            scaled_height,
            scale,
            offset_x,
            offset_y,
        }
    }

    /// Maps a point in tensor pixels back to source-image pixels.
    pub fn image_from_tensor(&self, x_tensor: f32, y_tensor: f32) -> (f32, f32) {
        (
            (x_tensor - self.offset_x as f32) / self.scale,
            (y_tensor - self.offset_y as f32) / self.scale,
        )
    }

    /// Fills with `spec.pad_value` everything of `planes` (three `spec`-sized planes) outside
    /// the scaled picture, and all of it when `picture_drawn` is false. The picture area is
    /// left alone, so a reused buffer is only written where it must be.
    pub fn fill_padding(&self, spec: &TensorSpec, planes: &mut [u8], picture_drawn: bool) {
        let width = spec.width as usize;
        let plane_len = width * spec.height as usize;
        let (scaled_width, scaled_height) = if picture_drawn {
            (self.scaled_width as usize, self.scaled_height as usize)
        } else {
            (0, 0)
        };
        let (left, top) = (self.offset_x as usize, self.offset_y as usize);
        for plane in planes.chunks_exact_mut(plane_len.max(1)).take(3) {
            plane[..top * width].fill(spec.pad_value);
            plane[(top + scaled_height) * width..].fill(spec.pad_value);
            for row in top..top + scaled_height {
                let start = row * width;
                plane[start..start + left].fill(spec.pad_value);
                plane[start + left + scaled_width..start + width].fill(spec.pad_value);
            }
        }
    }

    /// Maps a point in source-image pixels into tensor pixels.
    pub fn tensor_from_image(&self, x_image: f32, y_image: f32) -> (f32, f32) {
        (
            x_image * self.scale + self.offset_x as f32,
            y_image * self.scale + self.offset_y as f32,
        )
    }
}

/// A letterboxed picture in planar (CHW) `u8`, channel order per its spec.
#[derive(Clone, PartialEq)]
pub struct TensorImage {
    pub spec: TensorSpec,
    pub letterbox: Letterbox,
    /// `3 * height * width` bytes: plane 0, plane 1, plane 2.
    pub planes: PlaneBuffer,
}

impl std::fmt::Debug for TensorImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorImage")
            .field("spec", &self.spec)
            .field("letterbox", &self.letterbox)
            .field("bytes", &self.planes.len())
            .finish()
    }
}

/// The decoded picture a frame was made from, at source resolution, for stages that need more
/// detail than the detector's tensor (plate reading). Ingest hands over the decoder's buffer
/// itself, without a copy; a stage converts only the region it reads.
pub trait SourcePicture: Send + Sync + std::fmt::Debug {
    fn width(&self) -> u32;
    fn height(&self) -> u32;
    /// The region `x, y, width, height` (clipped to the picture) as packed RGB into `out`;
    /// its size, or `None` when nothing of it is inside the picture or it cannot be read.
    fn crop_rgb(&self, region: [u32; 4], out: &mut Vec<u8>) -> Option<(u32, u32)>;
}

/// One analysed frame of one camera.
#[derive(Debug, Clone)]
pub struct Frame {
    pub camera: CameraId,
    /// Position among this camera's analysed frames, from 0, across reconnects.
    pub seq: u64,
    /// Stream time: the position in the stream (restarts per connection for live sources).
    pub pts: Option<Duration>,
    pub captured_at: Timestamp,
    pub image: TensorImage,
    /// The full-resolution picture, when ingest was asked to keep it.
    pub source: Option<Arc<dyn SourcePicture>>,
}
