//! CTC decoding restricted to the plate alphabet (prefix beam search), with per-character
//! confidence.

/// The recogniser's symbols, index 0 being the CTC blank, and which of them a plate may hold.
#[derive(Debug, Clone)]
pub struct Charset {
    /// Plate character per model class, `None` for the blank and for symbols no plate holds.
    plate_char: Vec<Option<char>>,
}

/// A decoded character and the probability the model gave it (the highest over the frames it
/// spans).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ReadChar {
    pub char: char,
    pub confidence: f32,
    /// Index of the step where the character first wins (its place along the line).
    pub step: u32,
}

/// The character a model symbol stands for on a plate: digits and Latin capitals as they are,
/// `Đ` as `D` (Vietnamese plates print the series letter Đ; plates are compared without the
/// stroke). Everything else (separators, lower case, other scripts) is not a plate character.
pub fn plate_char_of(symbol: &str) -> Option<char> {
    let mut chars = symbol.chars();
    let first = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    match first {
        '0'..='9' | 'A'..='Z' => Some(first),
        'Đ' => Some('D'),
        _ => None,
    }
}

impl Charset {
    /// `symbols` are the model's classes after the blank (class `i + 1` is `symbols[i]`);
    /// `classes` is the model's output width (a trailing class, such as PP-OCR's space, may
    /// be absent from the list).
    pub fn new(symbols: &[String], classes: usize) -> Self {
        let mut plate_char = vec![None; classes.max(symbols.len() + 1)];
        for (i, symbol) in symbols.iter().enumerate() {
            plate_char[i + 1] = plate_char_of(symbol);
        }
        Self { plate_char }
    }

    /// Output classes the charset covers (blank included).
    pub fn classes(&self) -> usize {
        self.plate_char.len()
    }

    /// CTC decoding over `probabilities` (`steps x classes`, row-major, already softmaxed),
    /// among the blank and the plate characters (other symbols are never emitted; a step
    /// they win goes to the likeliest of the rest). The text is the likeliest over all its
    /// alignments (prefix beam search, [`BEAM_WIDTH`] beams), not the best single path: a
    /// character the model spreads over two steps at 0.4 each, with the blank at 0.6, is
    /// dropped by the best path but is the likelier text. Each character's confidence and
    /// step come from the text's best alignment (the highest probability over the steps it
    /// spans, and the first of them).
    pub fn decode(&self, probabilities: &[f32], classes: usize) -> Vec<ReadChar> {
        if classes == 0 {
            return Vec::new();
        }
        let steps: Vec<&[f32]> = probabilities.chunks_exact(classes).collect();
        let text = self.likeliest_text(&steps);
        if text.is_empty() {
            return Vec::new();
        }
        best_alignment(&steps, &text)
            .into_iter()
            .zip(&text)
            .filter_map(|((step, confidence), &class)| {
                Some(ReadChar {
                    char: self.plate_char(class)?,
                    confidence,
                    step,
                })
            })
            .collect()
    }

    /// The plate character of model class `class`, if it is one.
    fn plate_char(&self, class: usize) -> Option<char> {
        self.plate_char.get(class).copied().flatten()
    }

    /// The likeliest class sequence (blank-free, repeats collapsed) under CTC, by prefix beam
    /// search over the blank and the plate characters.
    fn likeliest_text(&self, steps: &[&[f32]]) -> Vec<usize> {
        let mut beams: Vec<Beam> = vec![(Vec::new(), 1.0, 0.0)];
        let mut next: Vec<Beam> = Vec::new();
        let mut candidates: Vec<(usize, f64)> = Vec::new();
        for step in steps {
            let blank = f64::from(step.first().copied().unwrap_or(0.0));
            // The plate characters worth trying here: those over the floor, else the likeliest.
            candidates.clear();
            let mut best: Option<(usize, f64)> = None;
            for (class, &p) in step.iter().enumerate().skip(1) {
                if self.plate_char(class).is_none() {
                    continue;
                }
                let p = f64::from(p);
                if p >= CANDIDATE_FLOOR {
                    candidates.push((class, p));
                }
                if best.is_none_or(|(_, q)| p > q) {
                    best = Some((class, p));
                }
            }
            if candidates.is_empty() {
                candidates.extend(best);
            }
            next.clear();
            for (text, pb, pnb) in &beams {
                let total = pb + pnb;
                extend(&mut next, text, None, total * blank, 0.0);
                for &(class, p) in &candidates {
                    if text.last() == Some(&class) {
                        // The same character again: the same text unless a blank came between.
                        extend(&mut next, text, None, 0.0, pnb * p);
                        extend(&mut next, text, Some(class), 0.0, pb * p);
                    } else {
                        extend(&mut next, text, Some(class), 0.0, total * p);
                    }
                }
            }
            next.sort_by(|a, b| (b.1 + b.2).total_cmp(&(a.1 + a.2)));
            next.truncate(BEAM_WIDTH);
            // Only the beams' ratios matter: rescaled at every step, they never underflow.
            let scale: f64 = next.iter().map(|beam| beam.1 + beam.2).sum();
            if scale > 0.0 {
                for beam in &mut next {
                    beam.1 /= scale;
                    beam.2 /= scale;
                }
            }
            std::mem::swap(&mut beams, &mut next);
        }
        beams
            .into_iter()
            .max_by(|a, b| (a.1 + a.2).total_cmp(&(b.1 + b.2)))
            .map(|beam| beam.0)
            .unwrap_or_default()
    }
}

/// A beam of the prefix search: its text (model classes), and the probability of its
/// alignments ending in a blank and in its last character.
type Beam = (Vec<usize>, f64, f64);

/// Adds the probabilities to the beam of `text` followed by `extra` in `next`, making that beam
/// (the only allocation) when it is not there yet.
fn extend(next: &mut Vec<Beam>, text: &[usize], extra: Option<usize>, pb: f64, pnb: f64) {
    let is_target = |beam: &[usize]| match extra {
        None => beam == text,
        Some(class) => beam
            .split_last()
            .is_some_and(|(last, head)| *last == class && head == text),
    };
    if let Some(beam) = next.iter_mut().find(|beam| is_target(&beam.0)) {
        beam.1 += pb;
        beam.2 += pnb;
    } else {
        let mut target = Vec::with_capacity(text.len() + 1);
        target.extend_from_slice(text);
        target.extend(extra);
        next.push((target, pb, pnb));
    }
}

/// Beams kept at each step of the prefix search.
const BEAM_WIDTH: usize = 8;

/// A plate character under this probability at a step is not tried there (the step's likeliest
/// character always is).
const CANDIDATE_FLOOR: f64 = 0.01;

/// For each class of `text`, the first step of its best (Viterbi) CTC alignment over `steps`
/// and its highest probability over the steps that alignment gives it.
fn best_alignment(steps: &[&[f32]], text: &[usize]) -> Vec<(u32, f32)> {
    // States: blank, text[0], blank, text[1], ..., blank (2n + 1).
    let states = 2 * text.len() + 1;
    let class_of = |state: usize| {
        if state.is_multiple_of(2) {
            0
        } else {
            text[state / 2]
        }
    };
    let log = |p: f32| f64::from(p).max(1e-30).ln();
    let mut score = vec![f64::NEG_INFINITY; states];
    let mut next = vec![f64::NEG_INFINITY; states];
    // The move into each state at each step: stay (0), from the state before (1), or a
    // skipped blank between two different characters (2).
    let mut from = vec![0u8; steps.len() * states];
    for (t, (step, back)) in steps.iter().zip(from.chunks_exact_mut(states)).enumerate() {
        let p = |state: usize| log(step.get(class_of(state)).copied().unwrap_or(0.0));
        next.fill(f64::NEG_INFINITY);
        for state in 0..states {
            if t == 0 {
                if state < 2 {
                    next[state] = p(state);
                }
                continue;
            }
            let mut best = (score[state], 0u8);
            if state >= 1 && score[state - 1] > best.0 {
                best = (score[state - 1], 1);
            }
            if state >= 2
                && state % 2 == 1
                && class_of(state) != class_of(state - 2)
                && score[state - 2] > best.0
            {
                best = (score[state - 2], 2);
            }
            if best.0 > f64::NEG_INFINITY {
                next[state] = best.0 + p(state);
                back[state] = best.1;
            }
        }
        std::mem::swap(&mut score, &mut next);
    }
    let mut state = if states >= 2 && score[states - 2] > score[states - 1] {
        states - 2
    } else {
        states - 1
    };
    let mut out = vec![(u32::MAX, 0.0f32); text.len()];
    for t in (0..steps.len()).rev() {
        if state % 2 == 1 {
            let slot = &mut out[state / 2];
            slot.0 = t as u32;
            slot.1 = slot
                .1
                .max(steps[t].get(text[state / 2]).copied().unwrap_or(0.0));
        }
        state -= usize::from(from[t * states + state]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charset() -> Charset {
        let symbols: Vec<String> = ["A", "1", "-", "a", "Đ"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        Charset::new(&symbols, 7)
    }

    /// One step with probability `p` on `class` and the rest spread evenly.
    fn step(class: usize, p: f32) -> [f32; 7] {
        let mut s = [(1.0 - p) / 6.0; 7];
        s[class] = p;
        s
    }

    #[test]
    fn repeats_merge_and_blanks_separate() {
        let steps: Vec<f32> = [
            step(1, 0.9),
            step(1, 0.95),
            step(0, 0.8),
            step(1, 0.7),
            step(2, 0.6),
        ]
        .concat();
        let read = charset().decode(&steps, 7);
        let text: String = read.iter().map(|c| c.char).collect();
        assert_eq!(text, "AA1");
        assert_eq!(read[0].confidence, 0.95);
        assert_eq!(read[1].confidence, 0.7);
        assert_eq!(read.iter().map(|c| c.step).collect::<Vec<_>>(), [0, 3, 4]);
    }

    #[test]
    fn a_character_spread_over_two_steps_is_kept_though_the_blank_wins_each() {
        // "A" at 0.4 in two steps, the blank at 0.6: the best single path is blank-blank (0.36),
        // but the text "A" has the alignments A-A, A-blank and blank-A (0.16 + 0.24 + 0.24).
        let mut spread = [0.0f32; 7];
        spread[0] = 0.6;
        spread[1] = 0.4;
        let steps: Vec<f32> =
            [step(2, 0.99), spread, spread, step(0, 0.99), step(2, 0.99)].concat();
        let read = charset().decode(&steps, 7);
        let text: String = read.iter().map(|c| c.char).collect();
        assert_eq!(text, "1A1");
        assert!((read[1].confidence - 0.4).abs() < 1e-6);
        assert_eq!(read.iter().map(|c| c.step).collect::<Vec<_>>(), [0, 1, 4]);
    }

    #[test]
    fn a_blank_the_model_is_sure_of_drops_a_faint_character() {
        let mut faint = [0.0f32; 7];
        faint[0] = 0.8;
        faint[1] = 0.2;
        let steps: Vec<f32> = [step(2, 0.99), faint, step(0, 0.99), step(2, 0.99)].concat();
        let text: String = charset().decode(&steps, 7).iter().map(|c| c.char).collect();
        assert_eq!(text, "11");
    }

    #[test]
    fn symbols_outside_the_plate_alphabet_are_never_emitted() {
        // "-" (class 3) and "a" (class 4) win their steps but are not plate characters: the
        // runner-up among the blank and plate characters is taken instead.
        let mut dash = step(3, 0.7);
        dash[2] = 0.2;
        dash[0] = 0.05;
        let lower = step(4, 0.9);
        let read = charset().decode(&[dash, lower].concat(), 7);
        let text: String = read.iter().map(|c| c.char).collect();
        assert_eq!(text, "1");
        assert!((read[0].confidence - 0.2).abs() < 1e-6);
    }

    #[test]
    fn d_with_stroke_reads_as_d() {
        let read = charset().decode(&step(5, 0.9), 7);
        assert_eq!(read[0].char, 'D');
        assert_eq!(plate_char_of("Z"), Some('Z'));
        assert_eq!(plate_char_of("z"), None);
        assert_eq!(plate_char_of("AB"), None);
    }
}
