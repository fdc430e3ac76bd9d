//! Greedy CTC decoding restricted to the plate alphabet, with per-character confidence.

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

    /// Greedy CTC over `probabilities` (`steps x classes`, row-major, already softmaxed):
    /// at each step the most likely of the blank and the plate characters; repeats merge
    /// unless a blank or another symbol separates them.
    pub fn decode(&self, probabilities: &[f32], classes: usize) -> Vec<ReadChar> {
        let mut out: Vec<ReadChar> = Vec::new();
        let mut previous = 0usize;
        if classes == 0 {
            return out;
        }
        for (index, step) in probabilities.chunks_exact(classes).enumerate() {
            let mut best = 0usize;
            let mut best_p = step[0];
            for (class, p) in step.iter().enumerate().skip(1) {
                if *p > best_p && self.plate_char.get(class).copied().flatten().is_some() {
                    best = class;
                    best_p = *p;
                }
            }
            if best != 0 {
                if best == previous {
                    if let Some(last) = out.last_mut() {
                        last.confidence = last.confidence.max(best_p);
                    }
                } else if let Some(char) = self.plate_char.get(best).copied().flatten() {
                    out.push(ReadChar {
                        char,
                        confidence: best_p,
                        step: index as u32,
                    });
                }
            }
            previous = best;
        }
        out
    }
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
