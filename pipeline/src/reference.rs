//! The decode-only reference that ingest benchmarks measure themselves against.
//!
//! `uridecodebin uri=... ! fakesink`, decoder threads set as in ingest, run to end of stream.

use gstreamer as gst;
use gstreamer::prelude::*;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("GStreamer: {0}")]
    Gstreamer(String),
    #[error("decoding {file}: {message}")]
    Decode { file: String, message: String },
}

/// Decodes `file` to `fakesink` as fast as possible; returns the number of frames.
pub fn decode_to_fakesink(file: &Path, decoder_threads: u32) -> Result<u64, ReferenceError> {
    gst::init().map_err(|e| ReferenceError::Gstreamer(e.to_string()))?;
    let fail = |message: String| ReferenceError::Decode {
        file: file.display().to_string(),
        message,
    };
    let absolute = std::path::absolute(file).map_err(|e| fail(e.to_string()))?;
    let uri = gst::glib::filename_to_uri(&absolute, None).map_err(|e| fail(e.to_string()))?;
    let pipeline = gst::Pipeline::new();
    let decode = gst::ElementFactory::make("uridecodebin")
        .property("uri", uri.as_str())
        .property(
            "caps",
            gst::Caps::builder("video/x-raw").any_features().build(),
        )
        .property("expose-all-streams", false)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let sink = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    pipeline
        .add_many([&decode, &sink])
        .map_err(|e| fail(e.to_string()))?;
    let frames = Arc::new(AtomicU64::new(0));
    if let Some(pad) = sink.static_pad("sink") {
        let frames = Arc::clone(&frames);
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            frames.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    }
    crate::ingest::set_decoder_threads(&decode, decoder_threads);
    let sink_weak = sink.downgrade();
    decode.connect_pad_added(move |_, pad| {
        if let Some(sink_pad) = sink_weak.upgrade().and_then(|s| s.static_pad("sink")) {
            if !sink_pad.is_linked() {
                let _ = pad.link(&sink_pad);
            }
        }
    });
    let bus = pipeline.bus().ok_or_else(|| fail("no bus".into()))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| fail(e.to_string()))?;
    let result = loop {
        let Some(message) = bus.timed_pop(gst::ClockTime::NONE) else {
            break Err(fail("bus closed".into()));
        };
        match message.view() {
            gst::MessageView::Eos(_) => break Ok(frames.load(Ordering::Relaxed)),
            gst::MessageView::Error(error) => break Err(fail(error.error().to_string())),
            _ => {}
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result
}
