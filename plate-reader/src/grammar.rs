//! Plate grammars: the Vietnamese civil plate first, a generic fallback for everything else.
//!
//! Vietnamese civil plates, normalised (upper case, letters and digits only):
//!
//! | part | form | examples |
//! |---|---|---|
//! | province | two digits, 11-99 | `51`, `29`, `59` |
//! | series | a letter; two letters; a letter and a digit; two letters and a digit | `G`, `LD`, `L2`, `MD1` (MĐ1) |
//! | number | four digits (older plates) or five, printed `123.45` | `1234`, `12345` |
//!
//! One-row plates (cars) print `51G-123.45`; two-row plates (motorbikes, some cars) print
//! province and series on the top row and the number below: `59-L2 149.99`. Series letters
//! in use exclude I, J, O, Q and W.
//!
//! Correction is confusion-aware and guided by the position in the grammar: a character whose
//! class (letter or digit) is wrong for its place may be swapped for its look-alike
//! (`O`/`0`, `I`/`1`, `B`/`8`, `S`/`5`, `Z`/`2`, `G`/`6`, `D`/`0`, `A`/`4`), but only when the
//! recogniser was unsure of it and only up to [`MAX_CORRECTIONS`] per plate. A read that needs
//! more, or a confident character that contradicts the grammar, is not forced into the
//! Vietnamese form: it stays as read, under the generic grammar, flagged `valid: false`.

use crate::ctc::ReadChar;
use serde::Serialize;

/// Letters used in Vietnamese civil series.
pub const VN_SERIES_LETTERS: &str = "ABCDEFGHKLMNPRSTUVXYZ";
/// Most characters corrected in one plate.
pub const MAX_CORRECTIONS: usize = 2;
/// A character the recogniser gave at least this probability is never corrected.
pub const CORRECTION_MAX_CONFIDENCE: f32 = 0.9;

/// Which grammar a read satisfied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grammar {
    /// Vietnamese civil plate.
    Vn,
    /// No known grammar: the text as read.
    Generic,
}

/// A plate read, interpreted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlateText {
    /// Normalised: upper case, letters and digits only.
    pub text: String,
    /// As printed on the plate (`59-L2 149.99`), or the normalised text for generic reads.
    pub formatted: String,
    /// The lowest per-character confidence (0 for an empty read).
    pub confidence: f32,
    /// Per-character confidence, aligned with `text`.
    pub char_confidence: Vec<f32>,
    pub rows: u8,
    /// True when the text satisfies the grammar named in `grammar` (never for generic).
    pub valid: bool,
    pub grammar: Grammar,
    /// Positions in `text` that correction changed.
    pub corrected: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Digit,
    SeriesLetter,
}

fn digit_for(c: char) -> Option<char> {
    Some(match c {
        'O' | 'D' | 'Q' | 'U' => '0',
        'I' | 'J' | 'L' => '1',
        'Z' => '2',
        'A' => '4',
        'S' => '5',
        'G' => '6',
        'B' => '8',
        _ => return None,
    })
}

fn letter_for(c: char) -> Option<char> {
    Some(match c {
        '0' | 'O' => 'D',
        '2' => 'Z',
        '4' => 'A',
        '5' => 'S',
        '6' => 'G',
        '8' => 'B',
        _ => return None,
    })
}

fn fits(c: char, class: Class) -> bool {
    match class {
        Class::Digit => c.is_ascii_digit(),
        Class::SeriesLetter => VN_SERIES_LETTERS.contains(c),
    }
}

/// A Vietnamese layout: series form and number length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    series: &'static [Class],
    number_digits: usize,
}

const SERIES_FORMS: [&[Class]; 4] = [
    &[Class::SeriesLetter],
    &[Class::SeriesLetter, Class::Digit],
    &[Class::SeriesLetter, Class::SeriesLetter],
    &[Class::SeriesLetter, Class::SeriesLetter, Class::Digit],
];

impl Layout {
    fn classes(&self) -> Vec<Class> {
        let mut classes = vec![Class::Digit, Class::Digit];
        classes.extend_from_slice(self.series);
        classes.extend(std::iter::repeat_n(Class::Digit, self.number_digits));
        classes
    }

    fn top_len(&self) -> usize {
        2 + self.series.len()
    }

    /// Preference among layouts that fit equally well: one-row plates usually carry a plain
    /// letter series and five digits; two-row (motorbike) plates a letter and a digit.
    fn rank(&self, rows: u8) -> u8 {
        let with_digit = self.series.last() == Some(&Class::Digit);
        let five = self.number_digits == 5;
        match (rows >= 2, with_digit, five) {
            (false, false, true) => 0,
            (false, false, false) => 1,
            (false, true, _) => 2,
            (true, true, true) => 0,
            (true, true, false) => 1,
            (true, false, _) => 2,
        }
    }
}

fn layouts() -> impl Iterator<Item = Layout> {
    SERIES_FORMS.into_iter().flat_map(|series| {
        [4, 5].into_iter().map(move |number_digits| Layout {
            series,
            number_digits,
        })
    })
}

/// Fits `chars` to `layout`: the corrected characters and the corrected positions, or `None`.
fn fit(chars: &[ReadChar], layout: &Layout) -> Option<(Vec<char>, Vec<usize>)> {
    let classes = layout.classes();
    if classes.len() != chars.len() {
        return None;
    }
    let mut out = Vec::with_capacity(chars.len());
    let mut corrected = Vec::new();
    for (i, (read, class)) in chars.iter().zip(&classes).enumerate() {
        if fits(read.char, *class) {
            out.push(read.char);
            continue;
        }
        if read.confidence >= CORRECTION_MAX_CONFIDENCE {
            return None;
        }
        let swapped = match class {
            Class::Digit => digit_for(read.char),
            Class::SeriesLetter => letter_for(read.char),
        }?;
        out.push(swapped);
        corrected.push(i);
    }
    if corrected.len() > MAX_CORRECTIONS {
        return None;
    }
    let province = (out[0] as u8 - b'0') * 10 + (out[1] as u8 - b'0');
    (province >= 11).then_some((out, corrected))
}

fn format_vn(text: &[char], layout: &Layout, rows: u8) -> String {
    let province: String = text[..2].iter().collect();
    let series: String = text[2..layout.top_len()].iter().collect();
    let digits: String = text[layout.top_len()..].iter().collect();
    let number = if digits.len() == 5 {
        format!("{}.{}", &digits[..3], &digits[3..])
    } else {
        digits
    };
    if rows >= 2 {
        format!("{province}-{series} {number}")
    } else {
        format!("{province}{series}-{number}")
    }
}

/// A layout a read fits: (corrections + row-split mismatch, layout rank), the corrected
/// characters and the corrected positions.
struct Fitted {
    key: (usize, u8),
    layout: Layout,
    text: Vec<char>,
    corrected: Vec<usize>,
}

/// Interprets a recogniser read of a plate with `rows` rows. For two-row plates,
/// `top_row_chars` (how many characters were read on the top row) picks among layouts that
/// would otherwise tie.
pub fn interpret(chars: &[ReadChar], rows: u8, top_row_chars: Option<usize>) -> PlateText {
    let char_confidence: Vec<f32> = chars.iter().map(|c| c.confidence).collect();
    let confidence = if chars.is_empty() {
        0.0
    } else {
        char_confidence
            .iter()
            .copied()
            .fold(f32::INFINITY, f32::min)
    };
    let mut best: Option<Fitted> = None;
    for layout in layouts() {
        let Some((text, corrected)) = fit(chars, &layout) else {
            continue;
        };
        let top_mismatch = match top_row_chars {
            Some(top) if rows >= 2 => usize::from(top != layout.top_len()),
            _ => 0,
        };
        let key = (corrected.len() + top_mismatch, layout.rank(rows));
        if best.as_ref().is_none_or(|b| key < b.key) {
            best = Some(Fitted {
                key,
                layout,
                text,
                corrected,
            });
        }
    }
    match best {
        Some(Fitted {
            layout,
            text,
            corrected,
            ..
        }) => PlateText {
            formatted: format_vn(&text, &layout, rows),
            text: text.into_iter().collect(),
            confidence,
            char_confidence,
            rows,
            valid: true,
            grammar: Grammar::Vn,
            corrected,
        },
        None => {
            let text: String = chars.iter().map(|c| c.char).collect();
            PlateText {
                formatted: text.clone(),
                text,
                confidence,
                char_confidence,
                rows,
                valid: false,
                grammar: Grammar::Generic,
                corrected: Vec::new(),
            }
        }
    }
}

/// Upper case, letters and digits only (`Đ` counts as `D`): the form plates are compared in.
pub fn normalise(text: &str) -> String {
    text.chars()
        .filter_map(|c| {
            let upper = c.to_uppercase().next().unwrap_or(c);
            match upper {
                '0'..='9' | 'A'..='Z' => Some(upper),
                'Đ' => Some('D'),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, confidence: f32) -> Vec<ReadChar> {
        text.chars()
            .enumerate()
            .map(|(i, char)| ReadChar {
                char,
                confidence,
                step: i as u32,
            })
            .collect()
    }

    #[test]
    fn one_row_car_plates() {
        let plate = interpret(&read("51G12345", 0.99), 1, None);
        assert!(plate.valid);
        assert_eq!(plate.grammar, Grammar::Vn);
        assert_eq!(plate.formatted, "51G-123.45");
        let old = interpret(&read("30A1234", 0.99), 1, None);
        assert_eq!(old.formatted, "30A-1234");
        let two_letters = interpret(&read("51LD12345", 0.99), 1, None);
        assert_eq!(two_letters.formatted, "51LD-123.45");
    }

    #[test]
    fn two_row_motorbike_plates() {
        let plate = interpret(&read("59L214999", 0.99), 2, None);
        assert_eq!(plate.formatted, "59-L2 149.99");
        assert_eq!(plate.text, "59L214999");
        let electric = interpret(&read("29MD105200", 0.99), 2, None);
        assert_eq!(electric.formatted, "29-MD1 052.00");
        let old = interpret(&read("54V81990", 0.99), 2, None);
        assert_eq!(old.formatted, "54-V8 1990");
    }

    #[test]
    fn row_split_breaks_ties() {
        // "51G12345" on two rows: top "51G1" and bottom "2345", or top "51G" and "123.45".
        let guess = interpret(&read("51G12345", 0.99), 2, None);
        assert_eq!(guess.formatted, "51-G1 2345");
        let seen = interpret(&read("51G12345", 0.99), 2, Some(3));
        assert_eq!(seen.formatted, "51-G 123.45");
    }

    #[test]
    fn unsure_look_alikes_are_corrected_by_position() {
        let mut chars = read("59L2I4999", 0.99);
        chars[4].confidence = 0.6; // "I" where a digit must be
        let plate = interpret(&chars, 2, None);
        assert!(plate.valid);
        assert_eq!(plate.text, "59L214999");
        assert_eq!(plate.corrected, vec![4]);

        let mut chars = read("5982149", 0.99); // "8" where the series letter must be
        chars[2].confidence = 0.5;
        let plate = interpret(&chars, 1, None);
        assert_eq!(plate.text, "59B2149");
        assert_eq!(plate.corrected, vec![2]);

        let mut zero = read("510123.45", 0.99);
        zero.retain(|c| c.char != '.');
        zero[2].confidence = 0.4;
        assert_eq!(interpret(&zero, 1, None).formatted, "51D-123.45");
    }

    #[test]
    fn confident_contradictions_are_flagged_not_corrected() {
        // Czech plate 8B5 3308: forcing it would need "8B" -> province and "5" -> letter.
        let plate = interpret(&read("8B53308", 0.99), 1, None);
        assert!(!plate.valid);
        assert_eq!(plate.grammar, Grammar::Generic);
        assert_eq!(plate.text, "8B53308");
        assert!(plate.corrected.is_empty());
    }

    #[test]
    fn too_many_corrections_fall_back_to_generic() {
        let plate = interpret(&read("ZG556KJ", 0.5), 1, None);
        assert!(!plate.valid);
        assert_eq!(plate.text, "ZG556KJ");
        assert_eq!(plate.formatted, "ZG556KJ");
    }

    #[test]
    fn invalid_province_and_letters_are_not_vietnamese() {
        assert!(!interpret(&read("05A12345", 0.99), 1, None).valid);
        assert!(!interpret(&read("51W12345", 0.99), 1, None).valid);
        assert!(!interpret(&read("51A123", 0.99), 1, None).valid);
    }

    #[test]
    fn empty_read_is_generic_with_no_confidence() {
        let plate = interpret(&[], 1, None);
        assert!(!plate.valid);
        assert_eq!(plate.confidence, 0.0);
        assert_eq!(plate.text, "");
    }

    #[test]
    fn normalising_drops_separators() {
        assert_eq!(normalise("59-L2 149.99"), "59L214999");
        assert_eq!(normalise("29-mđ1 052.00"), "29MD105200");
    }
}
