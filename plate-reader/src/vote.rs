//! Per-track voting: the reads of one tracked vehicle across frames combined into one plate.
//!
//! The vote is over a track's [`VoteConfig::max_reads`] most confident reads. Each candidate
//! text (every distinct read, and the per-position vote of the most common length) is scored
//! by how well the reads agree with it, aligned with the fewest edits, so a read that dropped
//! a character still counts for the rest; see [`consensus`]. Grammar-valid reads weigh double.
//!
//! A track's plate is emitted once: when the track ends, if its confidence reaches
//! [`VoteConfig::emit_confidence`], or while the vehicle is still in view, once it has
//! [`VoteConfig::min_reads`] reads and its confidence reaches the higher
//! [`VoteConfig::early_emit_confidence`]. A vehicle's reads get better as it approaches, so
//! the first few must be sure to decide; otherwise the track's best reads do, at its end.
//! A track that ends with a confidence from [`VoteConfig::candidate_confidence`] up to
//! `emit_confidence` gives a candidate ([`VotedPlate::candidate`]): a plate too unsure to stand
//! alone, which route tracing may use to fill a sure route's missing pass.
//!
//! The voter keeps the evidence (for example a JPEG crop) of the track's best read (highest
//! confidence, grammar-valid reads counting double), asking the caller to make it only when a
//! read becomes the new best.

use crate::ctc::ReadChar;
use crate::grammar::{interpret, PlateText, MIN_PLATE_CHARS};
use roadsight_core::{CameraId, Timestamp, TrackId};
use std::collections::HashMap;

/// When a track's plate is emitted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoteConfig {
    /// Reads a track needs before its plate may be emitted while it is still in view.
    pub min_reads: usize,
    /// Consensus confidence (0-1) a plate needs when its track ends.
    pub emit_confidence: f32,
    /// Consensus confidence (0-1) a plate needs to be emitted before its track ends (the
    /// higher of this and `emit_confidence` applies).
    pub early_emit_confidence: f32,
    /// Consensus confidence (0-1) from which an ended track's plate that misses
    /// `emit_confidence` is still given, as a candidate. At `emit_confidence` or above: none.
    pub candidate_confidence: f32,
    /// The highest confidence of a plate voted from one read: one read alone has no second
    /// opinion. Under `emit_confidence` it makes such a plate a candidate at most.
    pub single_read_confidence: f32,
    /// The confidence from which a plate that fits no known format ([`PlateText::valid`]
    /// false: nothing checks its characters) stands; under it such a plate is capped at
    /// `single_read_confidence`, like a plate read once. A plate of digits only is capped so
    /// whatever its confidence (a two-row plate's bottom row read alone).
    pub formatless_emit_confidence: f32,
    /// Reads kept per track at most (the least confident go first), so the vote is over the
    /// track's best reads.
    pub max_reads: usize,
}

impl From<&roadsight_core::PlatesConfig> for VoteConfig {
    /// The vote settings of a `[plates]` config section.
    fn from(config: &roadsight_core::PlatesConfig) -> Self {
        Self {
            min_reads: config.min_reads.max(1),
            emit_confidence: config.emit_confidence,
            early_emit_confidence: config.early_emit_confidence,
            candidate_confidence: config.candidate_confidence,
            single_read_confidence: config.single_read_confidence,
            formatless_emit_confidence: config.formatless_emit_confidence,
            max_reads: config.vote_reads,
        }
    }
}

impl Default for VoteConfig {
    /// The `[plates]` section's defaults.
    fn default() -> Self {
        Self::from(&roadsight_core::PlatesConfig::default())
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
    /// Below `emit_confidence`: a candidate, given only at the track's end.
    pub candidate: bool,
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

/// How a read lines up with a candidate text: for each candidate position, the read's
/// character there (`Some((index, same))`) or none (the read dropped it), and how similar
/// the two are: matches over the candidate's length plus twice the read's extra characters.
/// A character the read lacks costs it less than one it has and the candidate does not: a
/// recogniser drops characters (repeats merged, a blurred glyph) far more often than it
/// confidently reads one that is not there.
struct Alignment {
    at: Vec<Option<(usize, bool)>>,
    similarity: f32,
}

/// Aligns `read` to `candidate` with the fewest edits (substitutions, drops and extras each
/// cost one), preferring a character against a character where edits tie.
fn align(read: &[char], candidate: &[char]) -> Alignment {
    let (n, m) = (read.len(), candidate.len());
    let mut cost = vec![vec![0u32; m + 1]; n + 1];
    for (i, row) in cost.iter_mut().enumerate() {
        row[0] = i as u32;
    }
    for (j, cell) in cost[0].iter_mut().enumerate() {
        *cell = j as u32;
    }
    for i in 1..=n {
        for j in 1..=m {
            let diagonal = cost[i - 1][j - 1] + u32::from(read[i - 1] != candidate[j - 1]);
            cost[i][j] = diagonal.min(cost[i - 1][j] + 1).min(cost[i][j - 1] + 1);
        }
    }
    let mut at = vec![None; m];
    let (mut matches, mut extras) = (0usize, 0usize);
    let (mut i, mut j) = (n, m);
    while i > 0 && j > 0 {
        let same = read[i - 1] == candidate[j - 1];
        if cost[i][j] == cost[i - 1][j - 1] + u32::from(!same) {
            at[j - 1] = Some((i - 1, same));
            matches += usize::from(same);
            i -= 1;
            j -= 1;
        } else if cost[i][j] == cost[i - 1][j] + 1 {
            extras += 1;
            i -= 1;
        } else {
            j -= 1;
        }
    }
    extras += i;
    let span = m + 2 * extras;
    let similarity = if span == 0 {
        0.0
    } else {
        matches as f32 / span as f32
    };
    Alignment { at, similarity }
}

/// The per-position vote among reads of the most supported length and row count: each
/// position takes the character with the most confidence-weighted support. It can recover a
/// plate that no single read got right (each with a different error).
fn positional_vote(reads: &[(&PlateText, Vec<char>, f32)]) -> Option<(Vec<char>, u8)> {
    let mut by_shape: HashMap<(usize, u8), f32> = HashMap::new();
    for (plate, chars, w) in reads {
        *by_shape.entry((chars.len(), plate.rows)).or_default() += w;
    }
    let (&(length, rows), _) = by_shape
        .iter()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))?;
    let mut voted = Vec::with_capacity(length);
    for position in 0..length {
        let mut support: Vec<(char, f32)> = Vec::new();
        for (plate, chars, _) in reads
            .iter()
            .filter(|(p, c, _)| c.len() == length && p.rows == rows)
        {
            let c = chars[position];
            let confidence = plate.char_confidence.get(position).copied().unwrap_or(0.0);
            let w = weight(plate, confidence);
            match support.iter_mut().find(|s| s.0 == c) {
                Some(entry) => entry.1 += w,
                None => support.push((c, w)),
            }
        }
        let (char, _) = support
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))?;
        voted.push(char);
    }
    Some((voted, rows))
}

/// The consensus of `reads`, interpreted by the grammar; `None` without reads with text.
///
/// Candidates are the distinct texts read and the per-position vote of the most supported
/// length. Each read is aligned to each candidate with the fewest edits, so a read that
/// dropped a character (or read only the bottom row) still supports the rest. A candidate
/// scores the reads' weights (mean character confidence, grammar-valid reads double) times
/// their similarity to it, and the best scoring one wins.
///
/// Its confidence at each position is the support there (reads with the same character)
/// over support plus dissent (reads with another character), times the supporters' mean
/// confidence, times the share of all read weight that agrees with the candidate. Reads
/// weigh in proportion to their similarity to the candidate: a read of something else
/// entirely (another vehicle's plate, a sticker) neither supports a position nor disputes
/// it, but it does lower the agreement. A dropped character is neither. The plate's
/// confidence is its weakest position's.
pub fn consensus(reads: &[TrackRead]) -> Option<PlateText> {
    let weighted: Vec<(&PlateText, Vec<char>, f32)> = reads
        .iter()
        .filter(|r| !r.plate.text.is_empty())
        .map(|r| {
            let w = weight(&r.plate, mean(&r.plate.char_confidence));
            (&r.plate, r.plate.text.chars().collect(), w)
        })
        .collect();
    let total: f32 = weighted.iter().map(|(_, _, w)| w).sum();
    let mut candidates: Vec<(Vec<char>, u8)> = Vec::new();
    for (plate, chars, _) in &weighted {
        if !candidates
            .iter()
            .any(|(c, r)| c == chars && *r == plate.rows)
        {
            candidates.push((chars.clone(), plate.rows));
        }
    }
    if let Some(voted) = positional_vote(&weighted) {
        if !candidates.contains(&voted) {
            candidates.push(voted);
        }
    }
    // The winner's score is the read weight that agrees with it.
    let (winner, rows, alignments, agreeing) = candidates
        .into_iter()
        .map(|(candidate, rows)| {
            let alignments: Vec<Alignment> = weighted
                .iter()
                .map(|(_, chars, _)| align(chars, &candidate))
                .collect();
            let score: f32 = weighted
                .iter()
                .zip(&alignments)
                .map(|((_, _, w), a)| w * a.similarity)
                .sum();
            (candidate, rows, alignments, score)
        })
        // The best score; on a tie the earlier candidate (reads before the positional vote).
        .reduce(|best, next| if next.3 > best.3 { next } else { best })?;
    let agreement = if total > 0.0 { agreeing / total } else { 0.0 };
    let voted: Vec<ReadChar> = winner
        .iter()
        .enumerate()
        .map(|(position, &char)| {
            let (mut support, mut dissent, mut confidence_sum) = (0.0f32, 0.0f32, 0.0f32);
            for ((plate, _, _), alignment) in weighted.iter().zip(&alignments) {
                let Some((index, same)) = alignment.at[position] else {
                    continue;
                };
                let confidence = plate.char_confidence.get(index).copied().unwrap_or(0.0);
                let w = weight(plate, confidence) * alignment.similarity;
                if same {
                    support += w;
                    confidence_sum += w * confidence;
                } else {
                    dissent += w;
                }
            }
            let confidence = if support > 0.0 {
                support / (support + dissent) * (confidence_sum / support) * agreement
            } else {
                0.0
            };
            ReadChar {
                char,
                confidence,
                step: position as u32,
            }
        })
        .collect();
    let top_row = weighted
        .iter()
        .find(|(p, chars, _)| {
            p.valid && p.rows >= 2 && p.rows == rows && chars.len() == winner.len()
        })
        .map(|(p, _, _)| top_row_of(&p.formatted));
    Some(interpret(&voted, rows, top_row))
}

/// Whether `plate` is digits only, fitting no known format (every format has a letter): what a
/// Vietnamese two-row plate's bottom row gives when it is read without its top row (`39373`
/// for 77-C1 393.73, voted 0.66 by four reads of five at a corridor camera). However sure,
/// it is then capped like a single read: at most a candidate, which route tracing joins to
/// the route of the plate it is the number of (over a fitting link) or to its vehicle's route
/// by look, never a sure plate of its own.
fn digits_only(plate: &PlateText) -> bool {
    !plate.valid && plate.text.chars().all(|c| c.is_ascii_digit())
}

/// Lowers the plate's confidence, and each character's, to at most `cap`.
fn cap_confidence(plate: &mut PlateText, cap: f32) {
    plate.confidence = plate.confidence.min(cap);
    for confidence in &mut plate.char_confidence {
        *confidence = confidence.min(cap);
    }
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
        let early = config.early_emit_confidence.max(config.emit_confidence);
        let result = Self::result(camera, track, votes, early, config)?;
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
        Self::final_result(camera, track, &votes, self.config)
    }

    /// Ends every track (the stream is over): the plates that qualify with the reads they
    /// have, as [`PlateVoter::finish`] gives them one by one.
    pub fn finish_all(&mut self) -> Vec<VotedPlate<E>>
    where
        E: Clone,
    {
        let config = self.config;
        self.tracks
            .drain()
            .filter_map(|((camera, track), votes)| {
                Self::final_result(&camera, track, &votes, config)
            })
            .collect()
    }

    /// An ended track's plate: sure from `emit_confidence`, a candidate from
    /// `candidate_confidence`.
    fn final_result(
        camera: &CameraId,
        track: TrackId,
        votes: &TrackVotes<E>,
        config: VoteConfig,
    ) -> Option<VotedPlate<E>>
    where
        E: Clone,
    {
        let floor = config.candidate_confidence.min(config.emit_confidence);
        let mut result = Self::result(camera, track, votes, floor, config)?;
        result.candidate = result.plate.confidence < config.emit_confidence;
        Some(result)
    }

    /// The track's plate if it has not been emitted yet and its vote reaches `min_confidence`
    /// (a vote of one read, a plate of no known format voted under
    /// `formatless_emit_confidence`, or one of digits only, at most `single_read_confidence`).
    fn result(
        camera: &CameraId,
        track: TrackId,
        votes: &TrackVotes<E>,
        min_confidence: f32,
        config: VoteConfig,
    ) -> Option<VotedPlate<E>>
    where
        E: Clone,
    {
        if votes.emitted {
            return None;
        }
        let mut plate = consensus(&votes.reads)?;
        let formatless_and_unsure =
            !plate.valid && plate.confidence < config.formatless_emit_confidence;
        if votes.reads.len() == 1 || formatless_and_unsure || digits_only(&plate) {
            cap_confidence(&mut plate, config.single_read_confidence);
        }
        if plate.confidence < min_confidence || plate.text.chars().count() < MIN_PLATE_CHARS {
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
            candidate: false,
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

    /// Adds one one-row read, without evidence, of `text` for `track` at `seconds`.
    fn add_read<E: Clone>(
        voter: &mut PlateVoter<E>,
        camera: &CameraId,
        track: u64,
        text: &str,
        confidence: f32,
        seconds: i64,
    ) -> Option<VotedPlate<E>> {
        voter.add(
            camera,
            TrackId(track),
            plate(text, confidence, 1),
            at(seconds),
            || None,
        )
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
        // At the weakest positions three reads agree and one dissents (share 0.76), and the
        // reads agree with the plate to 0.92 overall: 0.76 x 0.95 x 0.92 = 0.66. The short
        // read dissents nowhere.
        assert!(voted.confidence < 0.95 * 0.7, "{}", voted.confidence);
        assert!(voted.confidence > 0.6, "{}", voted.confidence);
        let unanimous = consensus(&reads[..1]).expect("consensus");
        assert!(unanimous.confidence > voted.confidence);
    }

    /// Two sure reads of a two-row plate, one of them without a character, and three poor
    /// reads of something else: the full plate wins, and the reads of something else do not
    /// keep it from the threshold.
    #[test]
    fn a_read_that_dropped_a_character_supports_the_rest() {
        let reads: Vec<TrackRead> = [
            ("HR5153007", 0.25),
            ("59152040", 0.5),
            ("59K143840", 0.98),
            ("59K13840", 0.99),
            ("59E1340", 0.5),
        ]
        .iter()
        .enumerate()
        .map(|(i, (text, confidence))| TrackRead {
            plate: plate(text, *confidence, 2),
            at: at(i as i64),
        })
        .collect();
        let voted = consensus(&reads).expect("consensus");
        assert_eq!(voted.text, "59K143840");
        assert!(voted.confidence >= 0.6, "{}", voted.confidence);
        assert!(voted.confidence < 0.98, "{}", voted.confidence);
    }

    #[test]
    fn the_alignment_marks_drops_and_substitutions() {
        let chars = |t: &str| t.chars().collect::<Vec<char>>();
        let dropped = align(&chars("59K13840"), &chars("59K143840"));
        assert_eq!(dropped.at.iter().filter(|a| a.is_none()).count(), 1);
        assert!(dropped.at.iter().flatten().all(|(_, same)| *same));
        assert!((dropped.similarity - 8.0 / 9.0).abs() < 1e-6);
        // The same two texts the other way round: an extra character costs twice a drop.
        let extra = align(&chars("59K143840"), &chars("59K13840"));
        assert!((extra.similarity - 8.0 / 10.0).abs() < 1e-6);
        let substituted = align(&chars("7G3227N"), &chars("ZG3227N"));
        assert_eq!(substituted.at[0], Some((0, false)));
        assert!((substituted.similarity - 6.0 / 7.0).abs() < 1e-6);
        assert_eq!(align(&[], &chars("51G")).similarity, 0.0);
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
                plate("51G12345", 0.95, 1),
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
            plate("51G12345", 0.9, 1),
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
        assert!(add_read(&mut voter, &camera, 7, "51G12345", 0.99, 3).is_none());
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
        add_read(&mut voter, &camera, 1, "51G12345", 0.9, 0);
        add_read(&mut voter, &camera, 1, "51G12345", 0.9, 1);
        add_read(&mut voter, &camera, 2, "51G12345", 0.3, 0);
        add_read(&mut voter, &camera, 4, "51G12345", 0.1, 0);
        let confident = voter
            .finish(&camera, TrackId(1))
            .expect("two confident reads");
        assert_eq!(confident.reads, 2);
        assert!(!confident.candidate);
        // 0.3 is under emit_confidence (0.45) but not under candidate_confidence (0.2).
        let unsure = voter.finish(&camera, TrackId(2)).expect("a candidate");
        assert!(unsure.candidate);
        assert!(voter.finish(&camera, TrackId(4)).is_none());
        assert!(voter.finish(&camera, TrackId(3)).is_none());
        // With candidate_confidence at emit_confidence there are no candidates.
        let mut no_candidates: PlateVoter<()> = PlateVoter::new(VoteConfig {
            candidate_confidence: 0.45,
            ..VoteConfig::default()
        });
        add_read(&mut no_candidates, &camera, 2, "51G12345", 0.3, 0);
        assert!(no_candidates.finish(&camera, TrackId(2)).is_none());
    }

    #[test]
    fn a_plate_read_once_is_a_candidate_however_sure_the_read() {
        let camera = CameraId::new("cam-1");
        let mut voter: PlateVoter<()> = PlateVoter::new(VoteConfig::default());
        add_read(&mut voter, &camera, 1, "51G12345", 0.99, 0);
        let once = voter.finish(&camera, TrackId(1)).expect("a candidate");
        assert!(once.candidate);
        assert_eq!(once.plate.text, "51G12345");
        assert!((once.plate.confidence - 0.4).abs() < 1e-6);
        assert!(once.plate.char_confidence.iter().all(|&c| c <= 0.4));
        // A second read that agrees makes it sure.
        add_read(&mut voter, &camera, 2, "51G12345", 0.99, 0);
        add_read(&mut voter, &camera, 2, "51G12345", 0.95, 1);
        assert!(!voter.finish(&camera, TrackId(2)).expect("sure").candidate);
        // A cap under candidate_confidence drops it; a cap of 1 leaves it sure.
        for (cap, expected) in [(0.1, None), (1.0, Some(false))] {
            let mut capped: PlateVoter<()> = PlateVoter::new(VoteConfig {
                single_read_confidence: cap,
                ..VoteConfig::default()
            });
            add_read(&mut capped, &camera, 3, "51G12345", 0.99, 0);
            let result = capped.finish(&camera, TrackId(3)).map(|p| p.candidate);
            assert_eq!(result, expected, "single_read_confidence {cap}");
        }
    }

    #[test]
    fn a_plate_of_no_known_format_needs_a_surer_vote() {
        let camera = CameraId::new("cam-1");
        let mut voter: PlateVoter<()> = PlateVoter::new(VoteConfig::default());
        for at_s in 0..4 {
            add_read(&mut voter, &camera, 1, "2DA044", 0.55, at_s);
            add_read(&mut voter, &camera, 2, "51G12345", 0.55, at_s);
            add_read(&mut voter, &camera, 3, "2DA044", 0.7, at_s);
        }
        // Four agreeing reads at 0.55: sure for a Vietnamese plate the grammar checks ...
        let vietnamese = voter.finish(&camera, TrackId(2)).expect("sure");
        assert!(vietnamese.plate.valid);
        assert!(!vietnamese.candidate);
        assert!((vietnamese.plate.confidence - 0.55).abs() < 1e-6);
        // ... a candidate, capped like a single read, for one that fits no format ...
        let unsure = voter.finish(&camera, TrackId(1)).expect("a candidate");
        assert!(!unsure.plate.valid);
        assert!(unsure.candidate);
        assert!((unsure.plate.confidence - 0.4).abs() < 1e-6);
        assert!(unsure.plate.char_confidence.iter().all(|&c| c <= 0.4));
        // ... and sure from formatless_emit_confidence (0.6).
        let sure = voter.finish(&camera, TrackId(3)).expect("sure");
        assert!(!sure.candidate);
        assert!((sure.plate.confidence - 0.7).abs() < 1e-6);
        // At the plain emit bar the formatless plate is sure at 0.55 too.
        let mut plain: PlateVoter<()> = PlateVoter::new(VoteConfig {
            formatless_emit_confidence: 0.45,
            ..VoteConfig::default()
        });
        for at_s in 0..4 {
            add_read(&mut plain, &camera, 1, "2DA044", 0.55, at_s);
        }
        assert!(!plain.finish(&camera, TrackId(1)).expect("sure").candidate);
    }

    #[test]
    fn a_plate_of_digits_only_is_never_sure() {
        let camera = CameraId::new("cam-1");
        let mut voter: PlateVoter<()> = PlateVoter::new(VoteConfig::default());
        for at_s in 0..5 {
            // The bottom row of 77-C1 393.73 read alone, surely; and a plate with a letter.
            assert!(add_read(&mut voter, &camera, 1, "39373", 0.95, at_s).is_none());
            add_read(&mut voter, &camera, 2, "FMG547", 0.7, at_s);
        }
        let bottom_row = voter.finish(&camera, TrackId(1)).expect("a candidate");
        assert_eq!(bottom_row.plate.text, "39373");
        assert!(!bottom_row.plate.valid);
        assert!(bottom_row.candidate);
        assert!((bottom_row.plate.confidence - 0.4).abs() < 1e-6);
        // A plate of no known format with a letter stands from formatless_emit_confidence.
        let lettered = voter.finish(&camera, TrackId(2)).expect("sure");
        assert!(!lettered.plate.valid);
        assert!(!lettered.candidate);
    }

    #[test]
    fn a_candidate_is_never_emitted_before_its_track_ends() {
        let camera = CameraId::new("cam-1");
        let mut voter: PlateVoter<()> = PlateVoter::new(VoteConfig::default());
        for at_s in 0..6 {
            assert!(add_read(&mut voter, &camera, 1, "59T173281", 0.35, at_s).is_none());
        }
        let ended = voter
            .finish(&camera, TrackId(1))
            .expect("a candidate at the end");
        assert!(ended.candidate);
        assert_eq!(ended.plate.text, "59T173281");
        assert!(ended.plate.confidence < 0.45);
    }

    #[test]
    fn a_fragment_shorter_than_any_plate_is_never_emitted() {
        let camera = CameraId::new("cam-1");
        let mut voter: PlateVoter<()> = PlateVoter::new(VoteConfig::default());
        // A corridor track read only as "90" (a fragment of a plate a few pixels high), surely.
        for at_s in 0..3 {
            assert!(add_read(&mut voter, &camera, 1, "90", 0.99, at_s).is_none());
        }
        assert!(voter.finish(&camera, TrackId(1)).is_none());
        add_read(&mut voter, &camera, 2, "B123", 0.99, 0);
        assert_eq!(
            voter
                .finish(&camera, TrackId(2))
                .expect("four characters")
                .plate
                .text,
            "B123"
        );
    }

    #[test]
    fn finishing_all_tracks_emits_those_that_qualify_and_forgets_every_one() {
        let camera = CameraId::new("cam-1");
        let mut voter: PlateVoter<()> = PlateVoter::new(VoteConfig::default());
        // Track 1: one confident read; 2: one unsure read; 3: emitted early already.
        add_read(&mut voter, &camera, 1, "51G12345", 0.9, 0);
        add_read(&mut voter, &camera, 2, "30A67890", 0.1, 0);
        let early: Vec<_> = (0..3)
            .filter_map(|i| add_read(&mut voter, &camera, 3, "29B11111", 0.97, i))
            .collect();
        assert_eq!(early.len(), 1);
        let ended = voter.finish_all();
        assert_eq!(ended.len(), 1, "{ended:?}");
        assert_eq!(
            (ended[0].track, ended[0].plate.text.as_str()),
            (TrackId(1), "51G12345")
        );
        assert_eq!(voter.tracks(), 0);
    }

    #[test]
    fn disagreeing_reads_do_not_reach_the_threshold() {
        let camera = CameraId::new("cam-1");
        let mut voter: PlateVoter<()> = PlateVoter::new(VoteConfig::default());
        for (i, text) in ["51G12345", "30A67890", "29B11111"].iter().enumerate() {
            let emitted = add_read(&mut voter, &camera, 4, text, 0.9, i as i64);
            assert!(emitted.is_none(), "no consensus after {text}");
        }
    }

    /// A vehicle far away gives many poor reads before it gives a few good ones; the vote over
    /// the best `max_reads` is decided by the good ones, the vote over all of them is not
    /// when the poor ones keep making the same mistake.
    #[test]
    fn the_vote_is_over_the_most_confident_reads() {
        let camera = CameraId::new("cam-1");
        let reads = |voter: &mut PlateVoter<()>| {
            let mut emitted = None;
            let poor = ["51G72345"; 6];
            let good = ["51G12345"; 3];
            for (i, (text, confidence)) in poor
                .iter()
                .map(|t| (*t, 0.5))
                .chain(good.iter().map(|t| (*t, 0.97)))
                .enumerate()
            {
                let result = add_read(voter, &camera, 9, text, confidence, i as i64);
                emitted = emitted.or(result);
            }
            emitted.or_else(|| voter.finish(&camera, TrackId(9)))
        };
        // Without candidates: the claim is that no plate qualifies.
        let all = VoteConfig {
            max_reads: 32,
            candidate_confidence: VoteConfig::default().emit_confidence,
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

    /// Early reads that agree but are not sure wait for the track's end, when the better reads
    /// of the vehicle near the camera can still change the plate; sure ones go at once.
    #[test]
    fn only_a_sure_vote_is_emitted_before_the_track_ends() {
        let camera = CameraId::new("cam-1");
        let mut voter: PlateVoter<()> = PlateVoter::new(VoteConfig::default());
        for (i, (text, confidence)) in [
            ("7G3227N", 0.8),
            ("7G3227N", 0.8),
            ("7G3227N", 0.8),
            ("ZG3227N", 0.99),
            ("ZG3227N", 0.99),
            ("ZG3227N", 0.99),
        ]
        .iter()
        .enumerate()
        {
            let early = add_read(&mut voter, &camera, 4, text, *confidence, i as i64);
            assert!(early.is_none(), "emitted early after {} reads", i + 1);
        }
        let voted = voter
            .finish(&camera, TrackId(4))
            .expect("emitted at the end");
        assert_eq!(voted.plate.text, "ZG3227N");
        assert_eq!(voted.reads, 5);

        let mut sure: PlateVoter<()> = PlateVoter::new(VoteConfig::default());
        let emitted: Vec<_> = (0..3)
            .filter_map(|i| add_read(&mut sure, &camera, 5, "51G12345", 0.97, i))
            .collect();
        assert_eq!(emitted.len(), 1, "a sure vote is emitted at its third read");
        assert!(sure.finish(&camera, TrackId(5)).is_none(), "and only once");
    }
}
