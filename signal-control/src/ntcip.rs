//! Timing plans to a signal controller over NTCIP 1202 (SNMP v2c).
//!
//! A plan becomes one coordination pattern of the controller's pattern table:
//!
//! | object | OID (under `asc` = 1.3.6.1.4.1.1206.4.2.1) | written |
//! |---|---|---|
//! | `patternCycleTime.P` | `4.7.1.2.P` | the cycle, s |
//! | `patternOffsetTime.P` | `4.7.1.3.P` | the offset, s |
//! | `patternSplitNumber.P` | `4.7.1.4.P` | read: which split table pattern P uses |
//! | `splitTime.S.φ` | `4.9.1.3.S.φ` | each phase's split: green + yellow + all-red, s |
//! | `systemPatternControl.0` | `4.14.0` | pattern select: P runs from the next cycle |
//!
//! [`NtcipController::send`] writes the pattern, selects it, then reads every value back and
//! compares: a controller that accepted a SET but kept another value is an error too. Every
//! error names the controller's address and the object.

use crate::model::Intersection;
use crate::plan::TimingPlan;
use snmp2::{Oid, SyncSession, Value};
use std::time::Duration;

const ASC: [u64; 10] = [1, 3, 6, 1, 4, 1, 1206, 4, 2, 1];

/// The NTCIP objects roadsight writes, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    PatternCycleTime { pattern: u8 },
    PatternOffsetTime { pattern: u8 },
    PatternSplitNumber { pattern: u8 },
    SplitTime { split: u8, phase: u8 },
    SystemPatternControl,
}

impl Object {
    /// The object's OID arcs.
    pub fn arcs(self) -> Vec<u64> {
        let mut arcs = ASC.to_vec();
        match self {
            Object::PatternCycleTime { pattern } => arcs.extend([4, 7, 1, 2, u64::from(pattern)]),
            Object::PatternOffsetTime { pattern } => arcs.extend([4, 7, 1, 3, u64::from(pattern)]),
            Object::PatternSplitNumber { pattern } => arcs.extend([4, 7, 1, 4, u64::from(pattern)]),
            Object::SplitTime { split, phase } => {
                arcs.extend([4, 9, 1, 3, u64::from(split), u64::from(phase)])
            }
            Object::SystemPatternControl => arcs.extend([4, 14, 0]),
        }
        arcs
    }

    /// `name.index (dotted OID)`, for messages.
    pub fn describe(self) -> String {
        let oid = self
            .arcs()
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".");
        let name = match self {
            Object::PatternCycleTime { pattern } => format!("patternCycleTime.{pattern}"),
            Object::PatternOffsetTime { pattern } => format!("patternOffsetTime.{pattern}"),
            Object::PatternSplitNumber { pattern } => format!("patternSplitNumber.{pattern}"),
            Object::SplitTime { split, phase } => format!("splitTime.{split}.{phase}"),
            Object::SystemPatternControl => "systemPatternControl.0".to_string(),
        };
        format!("{name} ({oid})")
    }
}

/// What went wrong talking to a controller.
#[derive(Debug, thiserror::Error)]
pub enum NtcipError {
    #[error("controller {address}: {what}")]
    Plan { address: String, what: String },
    #[error("controller {address}: {object}: {source}")]
    Transport {
        address: String,
        object: String,
        #[source]
        source: std::io::Error,
    },
    #[error("controller {address}: {object}: {reason}")]
    Protocol {
        address: String,
        object: String,
        reason: String,
    },
    /// The controller does not have the object (SNMP noSuchObject / noSuchInstance /
    /// noSuchName).
    #[error("controller {address}: {object}: no such object")]
    NoSuchObject { address: String, object: String },
    #[error("controller {address} refused {object} = {value}: {status}")]
    Refused {
        address: String,
        object: String,
        value: i64,
        status: String,
    },
    #[error("controller {address}: {object} reads back {read} after {written} was set")]
    Mismatch {
        address: String,
        object: String,
        written: i64,
        read: i64,
    },
}

/// One pattern to write: whole seconds, as NTCIP carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternWrite {
    pub pattern: u8,
    pub cycle_s: u8,
    pub offset_s: u8,
    /// `(NTCIP phase number, split seconds)`.
    pub splits: Vec<(u8, u8)>,
}

impl PatternWrite {
    /// The pattern for `plan` at `intersection`: phase `i` of the intersection is NTCIP phase
    /// `phase_numbers[i]`; each split is the phase's green plus its yellow and all-red.
    pub fn from_plan(
        plan: &TimingPlan,
        intersection: &Intersection,
        pattern: u8,
        phase_numbers: &[u8],
    ) -> Result<PatternWrite, String> {
        if !(1..=253).contains(&pattern) {
            return Err(format!("pattern {pattern} is outside 1-253"));
        }
        if phase_numbers.len() != intersection.phases.len() {
            return Err(format!(
                "{} NTCIP phase numbers for the {} phases of {}",
                phase_numbers.len(),
                intersection.phases.len(),
                intersection.id
            ));
        }
        let byte = |what: &str, seconds: f64| -> Result<u8, String> {
            let rounded = seconds.round();
            if (0.0..=255.0).contains(&rounded) {
                Ok(rounded as u8)
            } else {
                Err(format!("{what} is {seconds:.1} s, outside NTCIP's 0-255 s"))
            }
        };
        let mut splits = Vec::with_capacity(plan.splits.len());
        for (index, split) in plan.splits.iter().enumerate() {
            let phase = intersection
                .phases
                .iter()
                .position(|phase| phase.id == split.phase)
                .ok_or_else(|| {
                    format!(
                        "plan phase {} is not a phase of {}",
                        split.phase, intersection.id
                    )
                })?;
            let change_s = intersection.phases[phase].lost_s();
            let seconds = byte(
                &format!("splits[{index}] ({})", split.phase),
                split.green_s + change_s,
            )?;
            splits.push((phase_numbers[phase], seconds));
        }
        Ok(PatternWrite {
            pattern,
            cycle_s: byte("cycle", plan.cycle_s)?,
            offset_s: byte("offset", plan.offset_s.rem_euclid(plan.cycle_s.max(1.0)))?,
            splits,
        })
    }
}

/// Where a controller listens and how to write to it.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerTarget {
    /// `host:port` of its SNMP agent.
    pub address: String,
    /// The SNMP v2c community with write access.
    pub community: String,
    /// How long one request may wait for its answer.
    pub timeout: Duration,
}

/// What a controller holds for a pattern, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternReadBack {
    pub cycle_s: i64,
    pub offset_s: i64,
    pub split_table: i64,
    pub splits: Vec<(u8, i64)>,
    pub selected_pattern: i64,
}

/// An SNMP session with one signal controller.
pub struct NtcipController {
    session: SyncSession,
    target: ControllerTarget,
}

impl std::fmt::Debug for NtcipController {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("NtcipController")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// SNMP error-status names (RFC 3416).
fn status_name(status: u32) -> String {
    let name = match status {
        1 => "tooBig",
        2 => "noSuchName",
        3 => "badValue",
        4 => "readOnly",
        5 => "genErr",
        6 => "noAccess",
        7 => "wrongType",
        8 => "wrongLength",
        9 => "wrongEncoding",
        10 => "wrongValue",
        11 => "noCreation",
        12 => "inconsistentValue",
        13 => "resourceUnavailable",
        14 => "commitFailed",
        15 => "undoFailed",
        16 => "authorizationError",
        17 => "notWritable",
        18 => "inconsistentName",
        _ => return format!("error status {status}"),
    };
    format!("{name} ({status})")
}

impl NtcipController {
    /// Opens a session (UDP: nothing is sent until the first request).
    pub fn open(target: ControllerTarget) -> Result<NtcipController, NtcipError> {
        let session = SyncSession::new_v2c(
            target.address.as_str(),
            target.community.as_bytes(),
            Some(target.timeout),
            1,
        )
        .map_err(|source| NtcipError::Transport {
            address: target.address.clone(),
            object: "session".into(),
            source,
        })?;
        Ok(NtcipController { session, target })
    }

    pub fn address(&self) -> &str {
        &self.target.address
    }

    fn oid(&self, object: Object) -> Result<Oid<'static>, NtcipError> {
        Oid::from(&object.arcs()).map_err(|error| NtcipError::Protocol {
            address: self.target.address.clone(),
            object: object.describe(),
            reason: format!("cannot encode OID: {error:?}"),
        })
    }

    fn protocol(&self, object: Object, reason: String) -> NtcipError {
        NtcipError::Protocol {
            address: self.target.address.clone(),
            object: object.describe(),
            reason,
        }
    }

    /// A request about `object` that got no usable answer.
    fn unanswered(&self, object: Object, error: snmp2::Error) -> NtcipError {
        self.protocol(object, snmp_failure(error, self.target.timeout))
    }

    /// Reads one integer object.
    pub fn get(&mut self, object: Object) -> Result<i64, NtcipError> {
        let oid = self.oid(object)?;
        let no_such_object = || NtcipError::NoSuchObject {
            address: self.target.address.clone(),
            object: object.describe(),
        };
        let value = match self.session.get(&oid) {
            Err(error) => return Err(self.unanswered(object, error)),
            // noSuchName: SNMP v1's way, which some agents still answer v2c requests with.
            Ok(response) if response.error_status == 2 => return Err(no_such_object()),
            Ok(response) if response.error_status != 0 => {
                let status = status_name(response.error_status);
                return Err(self.protocol(object, format!("GET answered {status}")));
            }
            Ok(mut response) => response.varbinds.next().map(|(_, value)| match value {
                Value::Integer(number) => Ok(number),
                Value::Unsigned32(number) | Value::Counter32(number) => Ok(i64::from(number)),
                Value::NoSuchObject | Value::NoSuchInstance => Err(None),
                other => Err(Some(format!("not an integer: {other:?}"))),
            }),
        };
        match value {
            Some(Ok(number)) => Ok(number),
            Some(Err(None)) => Err(no_such_object()),
            Some(Err(Some(reason))) => Err(self.protocol(object, reason)),
            None => Err(self.protocol(object, "empty answer".into())),
        }
    }

    /// Writes one integer object.
    pub fn set(&mut self, object: Object, value: i64) -> Result<(), NtcipError> {
        let oid = self.oid(object)?;
        let response = match self.session.set(&[(&oid, Value::Integer(value))]) {
            Ok(response) => response,
            Err(error) => return Err(self.unanswered(object, error)),
        };
        if response.error_status != 0 {
            return Err(NtcipError::Refused {
                address: self.target.address.clone(),
                object: object.describe(),
                value,
                status: status_name(response.error_status),
            });
        }
        Ok(())
    }

    /// The split table `pattern` uses (its own number when the controller has none to say).
    fn split_table(&mut self, pattern: u8) -> Result<u8, NtcipError> {
        match self.get(Object::PatternSplitNumber { pattern }) {
            Ok(split) if (1..=255).contains(&split) => Ok(split as u8),
            Ok(_) => Ok(pattern),
            Err(NtcipError::NoSuchObject { .. }) => Ok(pattern),
            Err(error) => Err(error),
        }
    }

    /// Writes the pattern, selects it, reads it back and checks every value.
    pub fn send(&mut self, write: &PatternWrite) -> Result<PatternReadBack, NtcipError> {
        let pattern = write.pattern;
        let split = self.split_table(pattern)?;
        let mut written: Vec<(Object, i64)> = vec![
            (
                Object::PatternCycleTime { pattern },
                i64::from(write.cycle_s),
            ),
            (
                Object::PatternOffsetTime { pattern },
                i64::from(write.offset_s),
            ),
        ];
        for (phase, seconds) in &write.splits {
            written.push((
                Object::SplitTime {
                    split,
                    phase: *phase,
                },
                i64::from(*seconds),
            ));
        }
        written.push((Object::SystemPatternControl, i64::from(pattern)));
        for (object, value) in &written {
            self.set(*object, *value)?;
        }
        let mut read_back = PatternReadBack {
            cycle_s: 0,
            offset_s: 0,
            split_table: i64::from(split),
            splits: Vec::with_capacity(write.splits.len()),
            selected_pattern: 0,
        };
        for (object, value) in written {
            let read = self.get(object)?;
            if read != value {
                return Err(NtcipError::Mismatch {
                    address: self.target.address.clone(),
                    object: object.describe(),
                    written: value,
                    read,
                });
            }
            match object {
                Object::PatternCycleTime { .. } => read_back.cycle_s = read,
                Object::PatternOffsetTime { .. } => read_back.offset_s = read,
                Object::SplitTime { phase, .. } => read_back.splits.push((phase, read)),
                Object::SystemPatternControl => read_back.selected_pattern = read,
                Object::PatternSplitNumber { .. } => {}
            }
        }
        Ok(read_back)
    }
}

fn snmp_failure(error: snmp2::Error, timeout: Duration) -> String {
    match error {
        snmp2::Error::Receive => format!("no answer within {:.1} s", timeout.as_secs_f64()),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Bearing, Movement, Phase, Turn};
    use crate::plan::Split;
    use roadsight_core::Timestamp;

    fn two_phase() -> Intersection {
        let movement = |id: &str, from| Movement {
            id: id.into(),
            from,
            turn: Turn::Through,
            lanes: 1,
            saturation_per_lane: 1800.0,
        };
        let phase = |id: &str, movement: &str| Phase {
            id: id.into(),
            movements: vec![movement.into()],
            min_green_s: 7.0,
            max_green_s: 60.0,
            yellow_s: 3.0,
            all_red_s: 2.0,
            pedestrian_min_s: 0.0,
        };
        Intersection {
            id: "x".into(),
            movements: vec![
                movement("ns", Bearing::North),
                movement("ew", Bearing::East),
            ],
            phases: vec![phase("a", "ns"), phase("b", "ew")],
            min_cycle_s: 40.0,
            max_cycle_s: 150.0,
        }
    }

    fn plan(cycle_s: f64, offset_s: f64, greens: [f64; 2]) -> TimingPlan {
        TimingPlan {
            intersection: "x".into(),
            cycle_s,
            offset_s,
            splits: vec![
                Split {
                    phase: "a".into(),
                    green_s: greens[0],
                },
                Split {
                    phase: "b".into(),
                    green_s: greens[1],
                },
            ],
            valid_from: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn splits_carry_green_and_change_interval_on_ntcip_phase_numbers() {
        let write =
            PatternWrite::from_plan(&plan(70.0, 75.0, [35.4, 24.6]), &two_phase(), 3, &[2, 4])
                .expect("valid");
        assert_eq!(
            write,
            PatternWrite {
                pattern: 3,
                cycle_s: 70,
                offset_s: 5,
                splits: vec![(2, 40), (4, 30)],
            }
        );
    }

    #[test]
    fn values_outside_one_byte_and_wrong_mappings_are_refused() {
        let error =
            PatternWrite::from_plan(&plan(300.0, 0.0, [140.0, 150.0]), &two_phase(), 1, &[2, 4])
                .expect_err("too long");
        assert!(error.contains("255"), "{error}");
        let error = PatternWrite::from_plan(&plan(70.0, 0.0, [35.0, 25.0]), &two_phase(), 1, &[2])
            .expect_err("one phase number for two phases");
        assert!(error.contains("phase numbers"), "{error}");
        let error =
            PatternWrite::from_plan(&plan(70.0, 0.0, [35.0, 25.0]), &two_phase(), 0, &[2, 4])
                .expect_err("pattern 0");
        assert!(error.contains("1-253"), "{error}");
    }

    #[test]
    fn objects_have_the_ntcip_1202_oids() {
        let dotted = |object: Object| {
            object
                .arcs()
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(".")
        };
        assert_eq!(
            dotted(Object::PatternCycleTime { pattern: 2 }),
            "1.3.6.1.4.1.1206.4.2.1.4.7.1.2.2"
        );
        assert_eq!(
            dotted(Object::SplitTime { split: 2, phase: 6 }),
            "1.3.6.1.4.1.1206.4.2.1.4.9.1.3.2.6"
        );
        assert_eq!(
            dotted(Object::SystemPatternControl),
            "1.3.6.1.4.1.1206.4.2.1.4.14.0"
        );
    }
}
