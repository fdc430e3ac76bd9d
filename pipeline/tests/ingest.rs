#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

//! Ingest over real GStreamer: files made by videotestsrc + x264enc/x265enc, and an in-process
//! RTSP server that stops and comes back.

use gstreamer as gst;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use roadsight_core::config::{RtspTransport, SourceLocation};
use roadsight_core::{CameraHealth, CameraId, HealthState, SourceMode, SystemClock, Timestamp};
use roadsight_fixtures::{encode_test_clip, truncated_copy, Codec, TestClip};
use roadsight_pipeline::{
    AnalyticsRate, CameraSpec, ChannelOrder, Frame, Ingest, IngestSettings, LetterboxPlacement,
    LiveSettings, Popped, TensorSpec,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const START: &str = "2026-11-23T08:00:00Z";

fn settings(watchdog: Duration) -> IngestSettings {
    IngestSettings {
        tensor: TensorSpec {
            width: 160,
            height: 160,
            channel_order: ChannelOrder::Bgr,
            placement: LetterboxPlacement::TopLeft,
            pad_value: 114,
        },
        queue_depth: 4,
        decoder_threads: 1,
        // Well inside `health_until_final`'s minute, and far above a plugin load on a busy CI.
        open_timeout: Duration::from_secs(30),
        keep_source: false,
        live: LiveSettings {
            watchdog,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_millis(800),
            backoff_jitter: 0.2,
            max_attempts: None,
            rtsp_latency_ms: 100,
            rtsp_transport: RtspTransport::Tcp,
        },
    }
}

fn file_camera(id: &str, path: &Path, rate: AnalyticsRate) -> CameraSpec {
    CameraSpec {
        id: CameraId::new(id),
        source: SourceLocation::File(path.to_path_buf()),
        mode: SourceMode::Recorded,
        rate,
        start_time: Timestamp::parse_rfc3339(START).unwrap(),
    }
}

fn clip(dir: &Path, name: &str, clip: TestClip) -> PathBuf {
    let path = dir.join(name);
    encode_test_clip(&path, &clip).unwrap();
    path
}

/// Frames seen by a consumer thread, with the instant each arrived.
#[derive(Default)]
struct Seen {
    frames: Vec<(Frame, Instant)>,
}

fn consume(ingest: &Ingest) -> (Arc<Mutex<Seen>>, std::thread::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mux = Arc::clone(ingest.frames());
    let sink = Arc::clone(&seen);
    let handle = std::thread::spawn(move || loop {
        match mux.pop(Duration::from_millis(100)) {
            Popped::Frame(frame) => sink.lock().unwrap().frames.push((frame, Instant::now())),
            Popped::TimedOut => {}
            Popped::Finished => break,
        }
    });
    (seen, handle)
}

/// Collects health records until every listed camera reached a final state, or `timeout`.
fn health_until_final(
    ingest: &Ingest,
    cameras: &[&str],
    timeout: Duration,
) -> HashMap<String, Vec<CameraHealth>> {
    let deadline = Instant::now() + timeout;
    let mut by_camera: HashMap<String, Vec<CameraHealth>> = HashMap::new();
    let is_final = |records: &Vec<CameraHealth>| {
        records.last().is_some_and(|h| {
            matches!(
                h.state,
                HealthState::Finished { .. } | HealthState::Failed { .. }
            )
        })
    };
    while Instant::now() < deadline {
        if cameras
            .iter()
            .all(|c| by_camera.get(*c).is_some_and(is_final))
        {
            break;
        }
        if let Ok(record) = ingest.health().recv_timeout(Duration::from_millis(100)) {
            by_camera
                .entry(record.camera.to_string())
                .or_default()
                .push(record);
        }
    }
    by_camera
}

#[test]
fn recorded_files_deliver_every_frame_in_order_with_stream_capture_times() {
    let dir = tempfile::tempdir().unwrap();
    let h264 = clip(dir.path(), "a.mp4", TestClip::h264(320, 240, 25, 75));
    let h265 = clip(
        dir.path(),
        "b.mp4",
        TestClip {
            codec: Codec::H265,
            ..TestClip::h264(352, 288, 25, 50)
        },
    );
    let ingest = Ingest::start(
        vec![
            file_camera("h264", &h264, AnalyticsRate::EveryFrame),
            file_camera("h265", &h265, AnalyticsRate::EveryFrame),
        ],
        settings(Duration::from_secs(10)),
        Arc::new(SystemClock),
    )
    .unwrap();
    let (seen, consumer) = consume(&ingest);
    let health = health_until_final(&ingest, &["h264", "h265"], Duration::from_secs(60));
    consumer.join().unwrap();

    let start = Timestamp::parse_rfc3339(START).unwrap();
    for (camera, expected) in [("h264", 75u64), ("h265", 50u64)] {
        let states: Vec<_> = health[camera].iter().map(|h| h.state.clone()).collect();
        assert_eq!(
            states,
            vec![
                HealthState::Connected,
                HealthState::Finished { frames: expected }
            ],
            "{camera}"
        );
        let seen = seen.lock().unwrap();
        let frames: Vec<&Frame> = seen
            .frames
            .iter()
            .map(|(f, _)| f)
            .filter(|f| f.camera.as_str() == camera)
            .collect();
        assert_eq!(frames.len() as u64, expected, "{camera}: frame count");
        for (index, frame) in frames.iter().enumerate() {
            assert_eq!(frame.seq, index as u64, "{camera}: order");
            // 25 fps: frame n was captured n * 40 ms after the configured start.
            let offset = frame.captured_at.duration_since(start);
            let want = Duration::from_millis(40 * index as u64);
            assert!(
                offset.abs_diff(want) < Duration::from_millis(2),
                "{camera} frame {index}: {offset:?} vs {want:?}"
            );
        }
        assert!(frames
            .windows(2)
            .all(|w| w[0].captured_at < w[1].captured_at));
        // The tensor picture is letterboxed at the top-left: 4:3 into 160x160 leaves 40 rows.
        let image = &frames[0].image;
        assert_eq!(image.planes.len(), 3 * 160 * 160);
        assert_eq!(image.letterbox.offset_y, 0);
        assert!(image.planes[159 * 160..160 * 160].iter().all(|&b| b == 114));
    }
    let stats = ingest.stats();
    assert!(stats
        .iter()
        .all(|s| s.frames_dropped == 0 && s.convert_errors == 0));
}

#[test]
fn analytics_rate_keeps_one_frame_in_five_and_decodes_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path(), "c.mp4", TestClip::h264(320, 240, 25, 100));
    let ingest = Ingest::start(
        vec![file_camera(
            "five-fps",
            &path,
            AnalyticsRate::PerSecond(5.0),
        )],
        settings(Duration::from_secs(10)),
        Arc::new(SystemClock),
    )
    .unwrap();
    let (seen, consumer) = consume(&ingest);
    health_until_final(&ingest, &["five-fps"], Duration::from_secs(60));
    consumer.join().unwrap();
    let seen = seen.lock().unwrap();
    let offsets: Vec<u128> = seen
        .frames
        .iter()
        .map(|(f, _)| {
            f.captured_at
                .duration_since(Timestamp::parse_rfc3339(START).unwrap())
                .as_millis()
        })
        .collect();
    assert_eq!(offsets, (0..20).map(|i| i * 200).collect::<Vec<u128>>());
    let stats = &ingest.stats()[0];
    assert_eq!(stats.frames_decoded, 100);
    assert_eq!(stats.frames_analysed, 20);
}

/// A recorded file that gives no frame at all (a pipe whose writer sent a header and went
/// quiet) is allowed `open_timeout`, not the watchdog, and then failed with where it stood.
#[test]
fn a_recorded_file_gets_the_open_allowance_before_its_first_frame() {
    let dir = tempfile::tempdir().unwrap();
    let good = clip(dir.path(), "good.mp4", TestClip::h264(320, 240, 25, 30));
    let header = std::fs::read(&good).unwrap()[..1024].to_vec();
    let pipe = dir.path().join("quiet.mp4");
    let made = std::process::Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo {}", pipe.display());
    let (close_tx, close_rx) = std::sync::mpsc::channel::<()>();
    let writer = {
        let pipe = pipe.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            // Read and write: Linux opens a pipe so without waiting for a reader.
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&pipe)
                .unwrap();
            file.write_all(&header).unwrap();
            file.flush().unwrap();
            let _ = close_rx.recv_timeout(Duration::from_secs(60));
        })
    };
    let mut config = settings(Duration::from_secs(1));
    config.open_timeout = Duration::from_secs(3);
    let ingest = Ingest::start(
        vec![file_camera("quiet", &pipe, AnalyticsRate::EveryFrame)],
        config,
        Arc::new(SystemClock),
    )
    .unwrap();
    let (_seen, consumer) = consume(&ingest);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut records = Vec::new();
    while Instant::now() < deadline {
        let Ok(record) = ingest.health().recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        // The pipeline cannot reach null while its source waits on the pipe: close it.
        if matches!(record.state, HealthState::Stalled { .. }) {
            let _ = close_tx.send(());
        }
        let last = matches!(record.state, HealthState::Failed { .. });
        records.push(record.state);
        if last {
            break;
        }
    }
    let _ = close_tx.send(());
    drop(ingest);
    consumer.join().unwrap();
    writer.join().unwrap();

    let silent_ms = records
        .iter()
        .find_map(|state| match state {
            HealthState::Stalled { silent_for_ms } => Some(*silent_for_ms),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no stall in {records:?}"));
    assert!(
        (3000..10_000).contains(&silent_ms),
        "the open allowance (3 s), not the watchdog (1 s): {silent_ms} ms"
    );
    let Some(HealthState::Failed { cause }) = records.last() else {
        panic!("not failed: {records:?}");
    };
    assert!(
        cause.starts_with("corrupt or truncated stream: no first frame 3.")
            && cause.contains("elements made: ")
            && cause.contains("source"),
        "{cause}"
    );
}

#[test]
fn bad_sources_fail_with_named_causes_while_a_good_camera_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let good = clip(dir.path(), "good.mp4", TestClip::h264(320, 240, 25, 60));
    let truncated = dir.path().join("truncated.mp4");
    truncated_copy(&good, &truncated, 0.5).unwrap();
    let not_video = dir.path().join("notes.mp4");
    std::fs::write(
        &not_video,
        b"these are not the frames you are looking for\n".repeat(100),
    )
    .unwrap();
    let mut unreachable = file_camera("unreachable", &good, AnalyticsRate::EveryFrame);
    unreachable.source = SourceLocation::Network {
        scheme: "rtsp".into(),
        uri: "rtsp://127.0.0.1:9/nothing-listens-here".into(),
    };
    unreachable.mode = SourceMode::Live;
    let mut config = settings(Duration::from_secs(5));
    config.live.max_attempts = Some(2);
    let ingest = Ingest::start(
        vec![
            file_camera("good", &good, AnalyticsRate::EveryFrame),
            file_camera("truncated", &truncated, AnalyticsRate::EveryFrame),
            file_camera(
                "missing",
                &dir.path().join("missing.mp4"),
                AnalyticsRate::EveryFrame,
            ),
            file_camera("not-video", &not_video, AnalyticsRate::EveryFrame),
            file_camera("folder", dir.path(), AnalyticsRate::EveryFrame),
            unreachable,
        ],
        config,
        Arc::new(SystemClock),
    )
    .unwrap();
    let (seen, consumer) = consume(&ingest);
    let names = [
        "good",
        "truncated",
        "missing",
        "not-video",
        "folder",
        "unreachable",
    ];
    let health = health_until_final(&ingest, &names, Duration::from_secs(60));
    consumer.join().unwrap();

    let last = |camera: &str| health[camera].last().unwrap().state.clone();
    assert_eq!(last("good"), HealthState::Finished { frames: 60 });
    let good_frames = seen
        .lock()
        .unwrap()
        .frames
        .iter()
        .filter(|(f, _)| f.camera.as_str() == "good")
        .count();
    assert_eq!(good_frames, 60);

    let cause = |camera: &str| match last(camera) {
        HealthState::Failed { cause } => cause,
        other => panic!("{camera}: expected failed, got {other:?}"),
    };
    assert!(
        cause("truncated").starts_with("corrupt or truncated stream"),
        "{}",
        cause("truncated")
    );
    assert!(
        cause("missing").starts_with("not found: no such file")
            && cause("missing").contains("missing.mp4"),
        "{}",
        cause("missing")
    );
    assert!(
        cause("folder").starts_with("not found: ")
            && cause("folder").ends_with("is a folder, not a video file"),
        "{}",
        cause("folder")
    );
    assert!(
        cause("not-video").starts_with("unsupported stream"),
        "{}",
        cause("not-video")
    );
    assert!(
        cause("unreachable").starts_with("unreachable")
            && cause("unreachable").contains("gave up after 2 attempts"),
        "{}",
        cause("unreachable")
    );
    let reconnects: Vec<_> = health["unreachable"]
        .iter()
        .filter(|h| matches!(h.state, HealthState::Reconnecting { .. }))
        .collect();
    assert_eq!(reconnects.len(), 2);
}

/// An RTSP server on loopback that can be stopped (the stream goes silent and new connections
/// are refused) and started again on the same port.
struct RtspServer {
    port: u16,
    main_loop: gst::glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
    source: Option<gst::glib::Source>,
    valves: Arc<Mutex<Vec<gst::Element>>>,
}

impl RtspServer {
    fn start(port: u16, mounts: &[&str]) -> Self {
        gst::init().unwrap();
        let context = gst::glib::MainContext::new();
        let main_loop = gst::glib::MainLoop::new(Some(&context), false);
        let server = rtsp::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&port.to_string());
        let mount_points = server.mount_points().unwrap();
        let valves = Arc::new(Mutex::new(Vec::new()));
        for mount in mounts {
            let factory = rtsp::RTSPMediaFactory::new();
            factory.set_launch(
                "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1 \
                 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 \
                 ! valve name=gate ! rtph264pay name=pay0 pt=96 config-interval=1 )",
            );
            factory.set_shared(true);
            let valves = Arc::clone(&valves);
            factory.connect_media_configure(move |_, media| {
                let element = media.element();
                if let Some(bin) = element.downcast_ref::<gst::Bin>() {
                    if let Some(gate) = bin.by_name("gate") {
                        valves.lock().unwrap().push(gate);
                    }
                }
            });
            mount_points.add_factory(mount, factory);
        }
        let source = server.create_source(rtsp::gio::Cancellable::NONE).unwrap();
        source.attach(Some(&context));
        let thread = {
            let main_loop = main_loop.clone();
            std::thread::spawn(move || {
                context.with_thread_default(|| main_loop.run()).unwrap();
            })
        };
        Self {
            port,
            main_loop,
            thread: Some(thread),
            source: Some(source),
            valves,
        }
    }

    fn uri(&self, mount: &str) -> String {
        format!("rtsp://127.0.0.1:{}{mount}", self.port)
    }

    /// The streams go silent (connections stay open) and the port stops accepting.
    fn stop(&mut self) {
        for valve in self.valves.lock().unwrap().iter() {
            valve.set_property("drop", true);
        }
        if let Some(source) = self.source.take() {
            source.destroy();
        }
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.stop();
        self.main_loop.quit();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn live_cameras_stall_reconnect_and_resume_while_a_file_camera_keeps_flowing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = RtspServer::start(port, &["/cam1", "/cam2"]);
    let paced_file = clip(dir.path(), "paced.mp4", TestClip::h264(320, 240, 25, 100));
    let live = |id: &str, uri: String| CameraSpec {
        id: CameraId::new(id),
        source: SourceLocation::Network {
            scheme: "rtsp".into(),
            uri,
        },
        mode: SourceMode::Live,
        rate: AnalyticsRate::EveryFrame,
        start_time: Timestamp::UNIX_EPOCH,
    };
    let mut replayed = file_camera("file", &paced_file, AnalyticsRate::EveryFrame);
    replayed.mode = SourceMode::Live;
    let config = settings(Duration::from_secs(1));
    let backoff_bound = config
        .live
        .backoff_max
        .mul_f64(1.0 + config.live.backoff_jitter);
    let ingest = Ingest::start(
        vec![
            live("rtsp-1", server.uri("/cam1")),
            live("rtsp-2", server.uri("/cam2")),
            replayed,
        ],
        config,
        Arc::new(SystemClock),
    )
    .unwrap();
    let (seen, _consumer) = consume(&ingest);
    let frames_of = |camera: &str, after: Instant| {
        seen.lock()
            .unwrap()
            .frames
            .iter()
            .filter(|(f, at)| f.camera.as_str() == camera && *at > after)
            .count()
    };
    let mut health: Vec<CameraHealth> = Vec::new();
    let wait_for = |health: &mut Vec<CameraHealth>,
                    what: &dyn Fn(&[CameraHealth]) -> bool,
                    timeout: Duration| {
        let deadline = Instant::now() + timeout;
        while !what(health) {
            assert!(
                Instant::now() < deadline,
                "timed out; health so far: {health:#?}"
            );
            if let Ok(record) = ingest.health().recv_timeout(Duration::from_millis(50)) {
                health.push(record);
            }
        }
    };
    let state_of = |health: &[CameraHealth], camera: &str| -> Vec<&'static str> {
        health
            .iter()
            .filter(|h| h.camera.as_str() == camera)
            .map(|h| h.state.name())
            .collect()
    };

    // Both RTSP cameras connect and deliver.
    wait_for(
        &mut health,
        &|h| {
            state_of(h, "rtsp-1").contains(&"connected")
                && state_of(h, "rtsp-2").contains(&"connected")
        },
        Duration::from_secs(20),
    );
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    assert!(frames_of("rtsp-1", started) > 5 && frames_of("rtsp-2", started) > 5);

    // Stop the server: each RTSP camera reports stalled, then reconnecting.
    server.stop();
    let stopped = Instant::now();
    let stalled_then_reconnecting = |h: &[CameraHealth], camera: &str| {
        let states = state_of(h, camera);
        let stalled = states.iter().position(|s| *s == "stalled");
        let reconnecting = states.iter().rposition(|s| *s == "reconnecting");
        matches!((stalled, reconnecting), (Some(s), Some(r)) if r > s)
            && states.iter().filter(|s| **s == "reconnecting").count() >= 2
    };
    wait_for(
        &mut health,
        &|h| stalled_then_reconnecting(h, "rtsp-1") && stalled_then_reconnecting(h, "rtsp-2"),
        Duration::from_secs(20),
    );
    // Meanwhile the file camera kept flowing, at its real-time pace.
    let outage = stopped.elapsed();
    let file_frames = frames_of("file", stopped);
    assert!(
        file_frames as f64 >= outage.as_secs_f64() * 25.0 * 0.5,
        "file camera delivered {file_frames} frames in {outage:?}"
    );

    // Restart: frames resume within the backoff bound (plus connection set-up).
    let connected_before = |h: &[CameraHealth], camera: &str| {
        state_of(h, camera)
            .iter()
            .filter(|s| **s == "connected")
            .count()
    };
    let (before_1, before_2) = (
        connected_before(&health, "rtsp-1"),
        connected_before(&health, "rtsp-2"),
    );
    drop(server);
    let _server = RtspServer::start(port, &["/cam1", "/cam2"]);
    let restarted = Instant::now();
    let bound = backoff_bound + Duration::from_secs(4);
    wait_for(
        &mut health,
        &|h| connected_before(h, "rtsp-1") > before_1 && connected_before(h, "rtsp-2") > before_2,
        bound,
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(frames_of("rtsp-1", restarted) > 0 && frames_of("rtsp-2", restarted) > 0);
    let stats = ingest.stats();
    for camera in ["rtsp-1", "rtsp-2"] {
        let s = stats.iter().find(|s| s.camera.as_str() == camera).unwrap();
        assert!(s.reconnects >= 2, "{s:?}");
        assert_eq!(s.state, "connected");
    }
    // Sequence numbers stay unique and increasing across the reconnect.
    let seen = seen.lock().unwrap();
    let seqs: Vec<u64> = seen
        .frames
        .iter()
        .filter(|(f, _)| f.camera.as_str() == "rtsp-1")
        .map(|(f, _)| f.seq)
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

/// A minimal HTTP/1.1 file server on loopback with byte ranges (qtdemux seeks to the moov).
fn serve_file_over_http(file: PathBuf) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/clip.mp4", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let bytes = std::fs::read(&file).unwrap();
        // Serves every connection until the test process ends (the thread is detached).
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            stream
                .set_read_timeout(Some(Duration::from_secs(3)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut range: Option<(usize, Option<usize>)> = None;
            let mut line = String::new();
            let mut request_seen = false;
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                request_seen = true;
                let lower = line.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("range: bytes=") {
                    let (start, end) = value.trim().split_once('-').unwrap_or(("0", ""));
                    range = Some((start.parse().unwrap_or(0), end.parse().ok()));
                }
            }
            if !request_seen {
                continue;
            }
            let total = bytes.len();
            let (start, end) = match range {
                Some((start, end)) => (start.min(total), end.map_or(total, |e| (e + 1).min(total))),
                None => (0, total),
            };
            let head = if range.is_some() {
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Type: video/mp4\r\nAccept-Ranges: bytes\r\nContent-Range: bytes {start}-{}/{total}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    end.saturating_sub(1),
                    end - start
                )
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nAccept-Ranges: bytes\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n"
                )
            };
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&bytes[start..end]);
        }
    });
    (url, handle)
}

#[test]
fn an_http_source_delivers_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path(), "web.mp4", TestClip::h264(320, 240, 25, 40));
    let (url, _server) = serve_file_over_http(path);
    let mut camera = file_camera("http", Path::new("/unused"), AnalyticsRate::EveryFrame);
    camera.source = SourceLocation::Network {
        scheme: "http".into(),
        uri: url,
    };
    // An HTTP file is a recording: every frame, then end of stream.
    camera.mode = SourceMode::Recorded;
    let ingest = Ingest::start(
        vec![camera],
        settings(Duration::from_secs(10)),
        Arc::new(SystemClock),
    )
    .unwrap();
    let (seen, consumer) = consume(&ingest);
    let health = health_until_final(&ingest, &["http"], Duration::from_secs(60));
    consumer.join().unwrap();
    assert_eq!(
        health["http"].last().unwrap().state,
        HealthState::Finished { frames: 40 },
        "{:?}",
        health["http"]
    );
    assert_eq!(seen.lock().unwrap().frames.len(), 40);
}

#[test]
fn a_slow_consumer_is_backpressure_not_a_stall_for_recorded_cameras() {
    let dir = tempfile::tempdir().unwrap();
    let path = clip(dir.path(), "slow.mp4", TestClip::h264(320, 240, 25, 30));
    // Watchdog 1 s; the consumer pauses 2.5 s with the lane full.
    let ingest = Ingest::start(
        vec![file_camera("slow", &path, AnalyticsRate::EveryFrame)],
        settings(Duration::from_secs(1)),
        Arc::new(SystemClock),
    )
    .unwrap();
    let mut frames = 0;
    loop {
        match ingest.frames().pop(Duration::from_secs(10)) {
            Popped::Frame(_) => {
                frames += 1;
                if frames == 1 {
                    std::thread::sleep(Duration::from_millis(2500));
                }
            }
            Popped::TimedOut => panic!("ingest stalled"),
            Popped::Finished => break,
        }
    }
    assert_eq!(frames, 30);
    let states: Vec<&'static str> = ingest.health().try_iter().map(|h| h.state.name()).collect();
    assert_eq!(states, vec!["connected", "finished"]);
}
