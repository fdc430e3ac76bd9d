#![allow(clippy::expect_used)] // Test code: a failed expect is a failed test.
//! Plans to a real net-snmp `snmpd` on loopback, whose `pass_persist` script
//! (`tests/support/ntcip_store.py`) stands in for a controller's NTCIP 1202 storage: SET, then
//! GET back; a refused SET; a controller that stops answering, retried with backoff until it
//! is back. Needs `snmpd` (scripts/setup.sh installs it); without it this test fails.

use roadsight_core::Timestamp;
use roadsight_signal_control::dispatch::{Backoff, DispatchOutcome, Dispatcher};
use roadsight_signal_control::ntcip::{
    ControllerTarget, NtcipController, NtcipError, Object, PatternWrite,
};
use roadsight_signal_control::{validate, webster_plan, Intersection};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SNMPD: &str = "/usr/sbin/snmpd";

struct Agent {
    child: Option<Child>,
    config: PathBuf,
    state: PathBuf,
    port: u16,
}

impl Agent {
    fn start(directory: &Path) -> Agent {
        assert!(
            Path::new(SNMPD).is_file(),
            "{SNMPD} not found (run scripts/setup.sh, which installs net-snmp's snmpd)"
        );
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|socket| socket.local_addr())
            .expect("free UDP port")
            .port();
        let state = directory.join("controller-state.json");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ntcip_store.py");
        let config = directory.join("snmpd.conf");
        std::fs::write(
            &config,
            format!(
                "agentAddress udp:127.0.0.1:{port}\nrwcommunity private 127.0.0.1\n\
                 pass_persist .1.3.6.1.4.1.1206.4.2.1 /usr/bin/python3 {} {}\n",
                script.display(),
                state.display()
            ),
        )
        .expect("write snmpd.conf");
        let mut agent = Agent {
            child: None,
            config,
            state,
            port,
        };
        agent.resume();
        agent
    }

    fn resume(&mut self) {
        let child = Command::new(SNMPD)
            .args(["-f", "-Lo", "-C", "-c"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start snmpd");
        self.child = Some(child);
        // Ready when it answers a GET.
        let mut controller =
            NtcipController::open(self.target(Duration::from_millis(200))).expect("session");
        for _ in 0..50 {
            if controller.get(Object::SystemPatternControl).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("snmpd on port {} did not answer within 10 s", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn target(&self, timeout: Duration) -> ControllerTarget {
        ControllerTarget {
            address: format!("127.0.0.1:{}", self.port),
            community: "private".into(),
            timeout,
        }
    }

    fn stored(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(&self.state).expect("controller state");
        serde_json::from_str(&text).expect("state JSON")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
    }
}

fn intersection() -> Intersection {
    toml::from_str(
        r#"
        id = "ben-thanh"
        movements = [
          { id = "n-through", from = "north", turn = "through", lanes = 2 },
          { id = "s-through", from = "south", turn = "through", lanes = 2 },
          { id = "e-through", from = "east", turn = "through", lanes = 1 },
          { id = "w-through", from = "west", turn = "through", lanes = 1 },
        ]
        phases = [
          { id = "ns", movements = ["n-through", "s-through"], min_green_s = 10, max_green_s = 60, yellow_s = 3, all_red_s = 2 },
          { id = "ew", movements = ["e-through", "w-through"], min_green_s = 8, max_green_s = 50, yellow_s = 3, all_red_s = 2 },
        ]
        "#,
    )
    .expect("intersection")
}

fn plan_write() -> PatternWrite {
    let intersection = intersection();
    let flows: HashMap<String, f64> = [
        ("n-through", 1400.0),
        ("s-through", 1100.0),
        ("e-through", 500.0),
        ("w-through", 350.0),
    ]
    .into_iter()
    .map(|(id, flow)| (id.to_string(), flow))
    .collect();
    let mut plan = webster_plan(&intersection, &flows, Timestamp::UNIX_EPOCH);
    plan.offset_s = 17.0;
    validate(&plan, &intersection).expect("a valid plan");
    PatternWrite::from_plan(&plan, &intersection, 2, &[2, 4]).expect("fits NTCIP")
}

#[test]
fn a_plan_is_set_selected_and_read_back_from_a_real_snmpd() {
    let directory = tempfile::tempdir().expect("temp dir");
    let agent = Agent::start(directory.path());
    let write = plan_write();
    let mut controller =
        NtcipController::open(agent.target(Duration::from_secs(2))).expect("session");
    let read_back = controller.send(&write).expect("sent");
    assert_eq!(read_back.cycle_s, i64::from(write.cycle_s));
    assert_eq!(read_back.offset_s, 17);
    assert_eq!(read_back.selected_pattern, 2);
    assert_eq!(
        read_back.split_table, 2,
        "pattern 2 uses split table 2 in the stand-in"
    );
    // An object the controller does not have is named as such, not as a protocol failure.
    match controller.get(Object::PatternCycleTime { pattern: 200 }) {
        Err(NtcipError::NoSuchObject { object, .. }) => {
            assert!(object.starts_with("patternCycleTime.200"), "{object}")
        }
        other => panic!("expected NoSuchObject, got {other:?}"),
    }
    // The controller's own storage holds the plan (read without our client).
    let stored = agent.stored();
    let value = |oid: &str| stored["values"][oid].as_i64();
    assert_eq!(
        value(".1.3.6.1.4.1.1206.4.2.1.4.7.1.2.2"),
        Some(i64::from(write.cycle_s))
    );
    assert_eq!(value(".1.3.6.1.4.1.1206.4.2.1.4.7.1.3.2"), Some(17));
    for (phase, seconds) in &write.splits {
        assert_eq!(
            value(&format!(".1.3.6.1.4.1.1206.4.2.1.4.9.1.3.2.{phase}")),
            Some(i64::from(*seconds))
        );
    }
    assert_eq!(value(".1.3.6.1.4.1.1206.4.2.1.4.14.0"), Some(2));
    let split_sum: u32 = write
        .splits
        .iter()
        .map(|(_, seconds)| u32::from(*seconds))
        .sum();
    assert_eq!(split_sum, u32::from(write.cycle_s), "splits fill the cycle");
}

#[test]
fn a_refused_set_is_reported_and_an_unanswering_controller_is_retried_until_it_is_back() {
    let directory = tempfile::tempdir().expect("temp dir");
    let mut agent = Agent::start(directory.path());
    let write = plan_write();

    // The controller refuses one split (as one in local control would).
    std::fs::write(
        &agent.state,
        r#"{"refuse": [".1.3.6.1.4.1.1206.4.2.1.4.9.1.3.2.4"]}"#,
    )
    .expect("refuse");
    let mut controller =
        NtcipController::open(agent.target(Duration::from_millis(500))).expect("session");
    match controller.send(&write) {
        Err(NtcipError::Refused {
            object,
            status,
            address,
            ..
        }) => {
            assert!(object.starts_with("splitTime.2.4"), "{object}");
            assert!(status.contains("notWritable"), "{status}");
            assert_eq!(address, format!("127.0.0.1:{}", agent.port));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    std::fs::write(&agent.state, "{}").expect("accept again");

    // The controller goes silent: sends fail by timeout and are retried with backoff.
    agent.stop();
    let backoff = Backoff {
        initial: Duration::from_secs(2),
        max: Duration::from_secs(8),
    };
    let mut dispatcher = Dispatcher::new(backoff);
    let mut now = Timestamp::UNIX_EPOCH;
    let mut plan = webster_plan(&intersection(), &HashMap::new(), now);
    plan.intersection = "ben-thanh".into();
    dispatcher.submit(plan, now);
    let mut failures = 0;
    let mut outcome = None;
    for round in 0..6 {
        if round == 3 {
            agent.resume();
        }
        let due: Vec<String> = dispatcher
            .due(now)
            .iter()
            .map(|plan| plan.intersection.clone())
            .collect();
        for intersection in due {
            let result = controller
                .send(&write)
                .map(|_| ())
                .map_err(|error| error.to_string());
            if let Err(error) = &result {
                assert!(
                    error.contains(&agent.target(Duration::ZERO).address),
                    "{error}"
                );
                failures += 1;
            }
            outcome = dispatcher.report(&intersection, result, now);
        }
        if let Some(DispatchOutcome::Failed { retry_at, .. }) = &outcome {
            now = *retry_at;
        }
    }
    assert_eq!(failures, 3, "three rounds while the agent was down");
    assert_eq!(
        outcome,
        Some(DispatchOutcome::Sent {
            intersection: "ben-thanh".into(),
            attempts: 4
        })
    );
    assert_eq!(
        now.duration_since(Timestamp::UNIX_EPOCH),
        Duration::from_secs(2 + 4 + 8)
    );
    assert_eq!(
        agent.stored()["values"][".1.3.6.1.4.1.1206.4.2.1.4.14.0"].as_i64(),
        Some(2)
    );
}
