//! Per-track voting: the reads of one tracked vehicle across frames combined into one plate.
//!
//! Reads are aligned by position: the plate length (and row count) with the most
//! confidence-weighted support wins, then each position takes the character with the most
//! confidence-weighted support among reads of that length. Grammar-valid reads weigh double.
//! A track's plate is emitted once, as soon as it has [`VoteConfig::min_reads`] reads and its
//! confidence reaches [`VoteConfig::emit_confidence`]; a track that ends before that is
//! emitted at its end if it reaches the threshold with the reads it has.
//!
//! The voter keeps the evidence (for example a JPEG crop) of the track's best read (highest
//! confidence, grammar-valid reads counting double), asking the caller to make it only when a
//! read becomes the new best.

use crate::ctc::ReadChar;
use crate::grammar::{interpret, PlateText};
use roadsight_core::{CameraId, Timestamp, TrackId};
use std::collections::HashMap;

/// When a track's plate is emitted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoteConfig {
    pub min_reads: usize,
    /// Consensus confidence (0-1) a plate needs.
    pub emit_confidence: f32,
    /// Reads kept per track at most (the least confident go first), so the vote is over the
    /// track's best reads.
    pub max_reads: usize,
}

impl Default for VoteConfig {
    fn default() -> Self {
        Self {
            min_reads: 3,
            emit_confidence: 0.6,
            max_reads: 5,
        }
    }
}

/// One read of a track.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackRead {
    pub plate: PlateText,
    pub at: Timestamp,
}

/// A track's voted plate.
#[derive(Debug, Clone, PartialEq)]
pub struct VotedPlate<E> {
    pub camera: CameraId,
    pub track: TrackId,
    pub plate: PlateText,
    /// Reads voted over, and how many of them agree with the result exactly.
    pub reads: usize,
    pub agreeing: usize,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// The best read's evidence, and when it was taken.
    pub evidence: Option<(Timestamp, E)>,
}

#[derive(Debug)]
struct TrackVotes<E> {
    reads: Vec<TrackRead>,
    /// The best read's score, time and evidence.
    best_evidence: Option<(f32, Timestamp, E)>,
    emitted: bool,
}

/// Votes for every live track.
#[derive(Debug)]
pub struct PlateVoter<E> {
    config: VoteConfig,
    tracks: HashMap<(CameraId, TrackId), TrackVotes<E>>,
}

fn weight(plate: &PlateText, confidence: f32) -> f32 {
    if plate.valid {
        2.0 * confidence
    } else {
        confidence
    }
}

fn mean(values: &[f32]) -> f32 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f32>() / values.len() as f32
    }
}

/// The consensus of `reads`: the voted plate text, interpreted by the grammar, with its
/// confidence (the weakest position's support share times its mean confidence, times the
/// share of the winning length). `None` without reads.
pub fn consensus(reads: &[TrackRead]) -> Option<PlateText> {
    let mut by_shape: HashMap<(usize, u8), f32> = HashMap::new();
    let mut total = 0.0;
    for read in reads {
        if read.plate.text.is_empty() {
            continue;
        }
        let w = weight(&read.plate, mean(&read.plate.char_confidence));
        *by_shape
            .entry((read.plate.text.chars().count(), read.plate.rows))
            .or_default() += w;
        total += w;
    }
    let (&(length, rows), &shape_weight) = by_shape
        .iter()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))?;
    let shape_share = if total > 0.0 {
        shape_weight / total
    } else {
        0.0
    };
    let same_shape: Vec<(&PlateText, Vec<char>)> = reads
        .iter()
        .map(|r| (&r.plate, r.plate.text.chars().collect::<Vec<char>>()))
        .filter(|(p, chars)| chars.len() == length && p.rows == rows)
        .collect();
    let mut voted = Vec::with_capacity(length);
    for position in 0..length {
        let mut support: Vec<(char, f32, Vec<f32>)> = Vec::new();
        let mut position_total = 0.0;
        for (plate, chars) in &same_shape {
            let c = chars[position];
            let confidence = plate.char_confidence.get(position).copied().unwrap_or(0.0);
            let w = weight(plate, confidence);
            position_total += w;
            match support.iter_mut().find(|s| s.0 == c) {
                Some(entry) => {
                    entry.1 += w;
                    entry.2.push(confidence);
                }
                None => support.push((c, w, vec![confidence])),
            }
        }
        let (char, w, confidences) = support
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))?;
        let share = if position_total > 0.0 {
            w / position_total
        } else {
            0.0
        };
        voted.push(ReadChar {
            char,
            confidence: share * mean(&confidences) * shape_share,
            step: position as u32,
        });
    }
    let top_row = same_shape
        .iter()
        .find(|(p, _)| p.valid && p.rows >= 2)
        .map(|(p, _)| top_row_of(&p.formatted));
    Some(interpret(&voted, rows, top_row))
}

/// Characters on the top row of a formatted two-row plate (`59-L2 149.99` -> 4).
fn top_row_of(formatted: &str) -> usize {
    formatted.split(' ').next().map_or(0, |top| {
        top.chars().filter(char::is_ascii_alphanumeric).count()
    })
}

impl<E> PlateVoter<E> {
    pub fn new(config: VoteConfig) -> Self {
        Self {
            config,
            tracks: HashMap::new(),
        }
    }

    /// Tracks with votes in progress or emitted but not yet finished.
    pub fn tracks(&self) -> usize {
        self.tracks.len()
    }

    /// Adds a read of `track` taken at `at`. `evidence` is called only if this read becomes
    /// the track's best. Returns the track's plate the first time it qualifies.
    pub fn add(
        &mut self,
        camera: &CameraId,
        track: TrackId,
        plate: PlateText,
        at: Timestamp,
        evidence: impl FnOnce() -> Option<E>,
    ) -> Option<VotedPlate<E>>
    where
        E: Clone,
    {
        let config = self.config;
        let votes = self
            .tracks
            .entry((camera.clone(), track))
            .or_insert_with(|| TrackVotes {
                reads: Vec::new(),
                best_evidence: None,
                emitted: false,
            });
        if votes.emitted || plate.text.is_empty() {
            return None;
        }
        let score = weight(&plate, plate.confidence);
        if votes.best_evidence.as_ref().is_none_or(|b| score > b.0) {
            if let Some(made) = evidence() {
                votes.best_evidence = Some((score, at, made));
            }
        }
        votes.reads.push(TrackRead { plate, at });
        if votes.reads.len() > config.max_reads {
            if let Some(weakest) = votes
                .reads
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.plate.confidence.total_cmp(&b.1.plate.confidence))
                .map(|(i, _)| i)
            {
                votes.reads.remove(weakest);
            }
        }
        if votes.reads.len() < config.min_reads {
            return None;
        }
        let result = Self::result(camera, track, votes, config.emit_confidence)?;
        votes.emitted = true;
        Some(result)
    }

    /// The track has ended: its plate if it never qualified before but does now with the reads
    /// it has (fewer than `min_reads` allowed). Forgets the track either way.
    pub fn finish(&mut self, camera: &CameraId, track: TrackId) -> Option<VotedPlate<E>>
    where
        E: Clone,
    {
        let votes = self.tracks.remove(&(camera.clone(), track))?;
        if votes.emitted {
            return None;
        }
        Self::result(camera, track, &votes, self.config.emit_confidence)
    }

    fn result(
        camera: &CameraId,
        track: TrackId,
        votes: &TrackVotes<E>,
        emit_confidence: f32,
    ) -> Option<VotedPlate<E>>
    where
        E: Clone,
    {
        let plate = consensus(&votes.reads)?;
        if plate.confidence < emit_confidence {
            return None;
        }
        let agreeing = votes
            .reads
            .iter()
            .filter(|r| r.plate.text == plate.text)
            .count();
        let first_seen = votes.reads.iter().map(|r| r.at).min()?;
        let last_seen = votes.reads.iter().map(|r| r.at).max()?;
        let evidence = votes
            .best_evidence
            .as_ref()
            .map(|(_, at, e)| (*at, e.clone()));
        Some(VotedPlate {
            camera: camera.clone(),
            track,
            plate,
            reads: votes.reads.len(),
            agreeing,
            first_seen,
            last_seen,
            evidence,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plate(text: &str, confidence: f32, rows: u8) -> PlateText {
        let chars: Vec<ReadChar> = text
            .chars()
            .enumerate()
            .map(|(i, char)| ReadChar {
                char,
                confidence,
                step: i as u32,
            })
            .collect();
        interpret(&chars, rows, None)
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_nanos(seconds * 1_000_000_000)
    }

    #[test]
    fn majority_per_position_beats_single_errors() {
        let reads = vec![
            TrackRead {
                plate: plate("59L214999", 0.95, 2),
                at: at(0),
            },
            TrackRead {
                plate: plate("59L214990", 0.95, 2),
                at: at(1),
            },
            TrackRead {
                plate: plate("58L214999", 0.95, 2),
                at: at(2),
            },
            TrackRead {
                plate: plate("59L21499", 0.95, 2),
                at: at(3),
            },
        ];
        let voted = consensus(&reads).expect("consensus");
        assert_eq!(voted.text, "59L214999");
        assert_eq!(voted.formatted, "59-L2 149.99");
        assert!(voted.valid);
        // Two of three same-length reads agree at the weakest positions; the short read
        // takes a quarter of the length support.
        assert!(voted.confidence < 0.95 * 0.7, "{}", voted.confidence);
        assert!(voted.confidence > 0.4, "{}", voted.confidence);
    }

    #[test]
    fn confident_reads_outvote_unsure_ones() {
        let reads = vec![
            TrackRead {
                plate: plate("51G12345", 0.98, 1),
                at: at(0),
            },
            TrackRead {
                plate: plate("51G12346", 0.3, 1),
                at: at(1),
            },
            TrackRead {
                plate: plate("51G12346", 0.3, 1),
                at: at(2),
            },
        ];
        assert_eq!(consensus(&reads).expect("consensus").text, "51G12345");
    }

    #[test]
    fn emits_once_with_the_best_evidence() {
        let camera = CameraId::new("cam-1");
        let mut voter: PlateVoter<String> = PlateVoter::new(VoteConfig::default());
        let mut made = 0;
        assert!(voter
            .add(
                &camera,
                TrackId(7),
                plate("51G12345", 0.8, 1),
                at(0),
                || {
                    made += 1;
                    Some("crop-0".to_string())
                }
            )
            .is_none());
        assert!(voter
            .add(
                &camera,
                TrackId(7),
                plate("51G12345", 0.99, 1),
                at(1),
                || {
                    made += 1;
                    Some("crop-1".to_string())
                }
            )
            .is_none());
        let weaker = voter.add(
            &camera,
            TrackId(7),
            plate("51G12345", 0.7, 1),
            at(2),
            || {
                made += 1;
                Some("crop-2".to_string())
            },
        );
        let voted = weaker.expect("third read qualifies");
        assert_eq!(made, 2, "evidence is made only for new bests");
        assert_eq!(voted.plate.formatted, "51G-123.45");
        assert_eq!(voted.reads, 3);
        assert_eq!(voted.agreeing, 3);
        assert_eq!(voted.evidence, Some((at(1), "crop-1".to_string())));
        assert_eq!((voted.first_seen, voted.last_seen), (at(0), at(2)));
        assert!(voter
            .add(
                &camera,
                TrackId(7),
                plate("51G12345", 0.99, 1),
                at(3),
                || None
            )
            .is_none());
        assert!(
            voter.finish(&camera, TrackId(7)).is_none(),
            "already emitted"
        );
        assert_eq!(voter.tracks(), 0);
    }

    #[test]
    fn short_track_is_emitted_at_its_end_only_if_confident() {
        let camera = CameraId::new("cam-1");
        let mut voter: PlateVoter<()> = PlateVoter::new(VoteConfig::default());
        voter.add(
            &camera,
            TrackId(1),
            plate("51G12345", 0.9, 1),
            at(0),
            || None,
        );
        voter.add(
            &camera,
            TrackId(2),
            plate("51G12345", 0.2, 1),
            at(0),
            || None,
        );
        let confident = voter
            .finish(&camera, TrackId(1))
            .expect("confident single read");
        assert_eq!(confident.reads, 1);
        assert!(voter.finish(&camera, TrackId(2)).is_none());
        assert!(voter.finish(&camera, TrackId(3)).is_none());
    }

    #[test]
    fn disagreeing_reads_do_not_reach_the_threshold() {
        let camera = CameraId::new("cam-1");
        let mut voter: PlateVoter<()> = PlateVoter::new(VoteConfig::default());
        for (i, text) in ["51G12345", "30A67890", "29B11111"].iter().enumerate() {
            let emitted = voter.add(
                &camera,
                TrackId(4),
                plate(text, 0.9, 1),
                at(i as i64),
                || None,
            );
            assert!(emitted.is_none(), "no consensus after {text}");
        }
    }

    /// A vehicle far away gives many poor reads before it gives a few good ones; the vote over
    /// the best `max_reads` is decided by the good ones, the vote over all of them is not.
    #[test]
    fn the_vote_is_over_the_most_confident_reads() {
        let camera = CameraId::new("cam-1");
        let reads = |voter: &mut PlateVoter<()>| {
            let mut emitted = None;
            let poor = [
                "51C12845", "57G12346", "51G72345", "31G12345", "51G1234B", "54G12395",
            ];
            let good = ["51G12345"; 3];
            for (i, (text, confidence)) in poor
                .iter()
                .map(|t| (*t, 0.5))
                .chain(good.iter().map(|t| (*t, 0.97)))
                .enumerate()
            {
                let result = voter.add(
                    &camera,
                    TrackId(9),
                    plate(text, confidence, 1),
                    at(i as i64),
                    || None,
                );
                emitted = emitted.or(result);
            }
            emitted.or_else(|| voter.finish(&camera, TrackId(9)))
        };
        let all = VoteConfig {
            max_reads: 32,
            ..VoteConfig::default()
        };
        assert!(reads(&mut PlateVoter::new(all)).is_none());
        let best_five = VoteConfig {
            max_reads: 5,
            ..VoteConfig::default()
        };
        let voted = reads(&mut PlateVoter::new(best_five)).expect("the good reads decide");
        assert_eq!(voted.plate.text, "51G12345");
    }
}
