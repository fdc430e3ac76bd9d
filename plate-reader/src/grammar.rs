//! Plate grammars: the Vietnamese civil plate first, then the fixed national formats of
//! [`NATIONAL_FORMATS`], and a generic fallback for everything else.
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
//! recogniser was unsure of it and only up to [`MAX_CORRECTIONS`] per plate, never both
//! characters of the province code. A read that needs more, or a confident character that
//! contradicts the grammar, is not forced into the Vietnamese form: it stays as read, under the
//! generic grammar, flagged `valid: false`.
//!
//! One-row reads that are not Vietnamese are then tried against national formats whose every
//! position is fixed: Slovakia's `BA 123AB` (beginning with a district code), Czechia's
//! `1A2 3456` (the second letter one of the fourteen region letters) and Croatia's
//! `ZG 1234-AB` (an area code, three or four digits, one or two letters); the format needing
//! the fewest corrections wins. Their fonts print `O`/`0` and `I`/`1` with the same glyph, so a
//! `0` or `1` where a letter must be is read as `O` or `I` whatever the recogniser's
//! confidence. No other character is changed: other look-alikes would turn foreign plates
//! into Slovak or Czech ones (a Croatian `ZG 4309-AG` read as `G4309AG` into `GA 309AG`,
//! California's `1ABC234` into `1AB1234`). A read one character too long fits if dropping its
//! first or last character (a frame edge, Slovak) or an `8` or `0` between the groups (the
//! round inspection sticker, Czech) makes it fit. Every other read stays generic.
//!
//! A generic one-row read of a plate under [`NORTH_AMERICAN_MAX_ASPECT`] times as wide as it is
//! high has the shape of a North American plate (12 x 6 inches, 2:1; European and Vietnamese
//! one-row plates are 4.7:1), and its letter `O` is read as the digit `0`
//! ([`read_round_glyph_as_zero`]): US and Canadian plates print one round glyph for both, and
//! their registries write it `0`. `I` is not changed: California issues plates with an `I`
//! (`4PCI264`). The read stays generic, and the changed positions are listed in `corrected`.

use crate::ctc::ReadChar;
use serde::Serialize;

/// Letters used in Vietnamese civil series.
pub const VN_SERIES_LETTERS: &str = "ABCDEFGHKLMNPRSTUVXYZ";
/// The fewest characters of a plate. No civil plate of the formats the reader knows is shorter
/// (Vietnamese plates have 7-9, the development photos' foreign plates 5-8); a shorter read is
/// part of a plate (one row, a fragment of a plate a few pixels high). Such reads are the
/// least plausible of a plate's readings, and the voter never emits one, so rare personalised
/// plates of one to three characters are not emitted either.
pub const MIN_PLATE_CHARS: usize = 4;
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
    /// Slovak plate, `BA 123AB` (district letters, three digits, two letters).
    Sk,
    /// Czech plate, `1A2 3456` (region digit, region letter, a letter or digit, four digits).
    Cz,
    /// Croatian plate, `ZG 1234-AB` (area code, three or four digits, one or two letters).
    Hr,
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
    // Both characters of the province code read as letters: a foreign plate's letter group
    // (Texas `BGB 3282` would become `86B-3282`), not a Vietnamese code.
    if corrected.len() > MAX_CORRECTIONS || corrected.starts_with(&[0, 1]) {
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

/// One position of a national format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Letter,
    Digit,
    Either,
    /// One of the Czech region letters ([`CZ_REGION_LETTERS`]).
    CzRegion,
}

/// The district codes that begin a Slovak plate (the 2023 nationwide series without a district
/// is not included: its plates read as generic).
pub const SK_DISTRICTS: [&str; 83] = [
    "BA", "BL", "BB", "BC", "BJ", "BN", "BR", "BS", "BT", "BY", "CA", "DK", "DS", "DT", "GA", "GL",
    "HC", "HE", "IL", "KA", "KC", "KE", "KK", "KM", "KN", "KS", "LC", "LE", "LM", "LV", "MA", "MI",
    "ML", "MT", "MY", "NI", "NM", "NO", "NR", "NS", "NZ", "PB", "PD", "PE", "PK", "PN", "PO", "PP",
    "PS", "PT", "PU", "PV", "RA", "RK", "RS", "RV", "SA", "SB", "SC", "SE", "SI", "SK", "SL", "SN",
    "SO", "SP", "SV", "TA", "TC", "TN", "TO", "TR", "TS", "TT", "TV", "VK", "VT", "ZA", "ZC", "ZH",
    "ZI", "ZM", "ZV",
];

/// The codes of the Croatian registration areas, as the recogniser reads them (its alphabet has
/// no diacritics): `ČK` Čakovec is `CK`, `ŠI` Šibenik `SI`, `ŽU` Županja `ZU`.
pub const HR_AREAS: [&str; 34] = [
    "BJ", "BM", "CK", "DA", "DE", "DJ", "DU", "GS", "IM", "KA", "KC", "KR", "KT", "KZ", "MA", "NA",
    "NG", "OG", "OS", "PU", "PZ", "RI", "SB", "SI", "SK", "SL", "ST", "VK", "VT", "VU", "VZ", "ZD",
    "ZG", "ZU",
];

/// The letters of the fourteen Czech regions (A Praha, S Středočeský, ... T Moravskoslezský).
pub const CZ_REGION_LETTERS: &str = "ABCEHJKLMPSTUZ";

/// A national one-row format: its groups of positions, printed with a space between groups.
#[derive(Debug)]
pub struct NationalFormat {
    pub grammar: Grammar,
    groups: &'static [&'static [Slot]],
    /// Whether a read one too long may lose its first or last character (a frame edge).
    drops_edges: bool,
    /// The codes the first group must be, when the format has a list of them.
    first_group_codes: &'static [&'static str],
    /// What a mark between the first two groups reads as (Czech plates carry the round
    /// inspection sticker there, read as `8` or `0`): a read one too long may lose one of these
    /// characters at that place.
    gap_marks: &'static str,
    /// Printed between consecutive groups.
    separators: &'static [char],
}

use Slot::{CzRegion as R, Digit as D, Either as X, Letter as L};

/// The fixed national formats tried after the Vietnamese grammar.
pub const NATIONAL_FORMATS: [NationalFormat; 6] = [
    NationalFormat {
        grammar: Grammar::Sk,
        groups: &[&[L, L], &[D, D, D, L, L]],
        drops_edges: true,
        first_group_codes: &SK_DISTRICTS,
        gap_marks: "",
        separators: &[' '],
    },
    // No edge is dropped: California's `1ABC234` is one character away from this form.
    NationalFormat {
        grammar: Grammar::Cz,
        groups: &[&[D, R, X], &[D, D, D, D]],
        drops_edges: false,
        first_group_codes: &[],
        gap_marks: "80",
        separators: &[' '],
    },
    // Croatia: the area code, three or four digits, one or two letters. A plate of the Slovak
    // form whose first letters are a code of both countries (`SK`, `VK`, ...) reads as Slovak,
    // the same characters either way.
    croatian(&[&[L, L], &[D, D, D], &[L, L]]),
    croatian(&[&[L, L], &[D, D, D, D], &[L]]),
    croatian(&[&[L, L], &[D, D, D, D], &[L, L]]),
    croatian(&[&[L, L], &[D, D, D], &[L]]),
];

/// A Croatian format of these groups: the area code, then (after the coat of arms, which is
/// no character) the digits, a hyphen and the letters.
const fn croatian(groups: &'static [&'static [Slot]]) -> NationalFormat {
    NationalFormat {
        grammar: Grammar::Hr,
        groups,
        drops_edges: false,
        first_group_codes: &HR_AREAS,
        gap_marks: "",
        separators: &[' ', '-'],
    }
}

/// The letter a digit stands for where a national format needs a letter: only the pairs these
/// fonts print with one glyph (`0`/`O`, `1`/`I`). No other look-alike is swapped: a Croatian
/// `ZG 4309-AG` read as `G4309AG` must not become the Slovak `GA 309AG`.
fn same_glyph_letter(c: char) -> Option<char> {
    match c {
        '0' => Some('O'),
        '1' => Some('I'),
        _ => None,
    }
}

impl NationalFormat {
    fn slots(&self) -> impl Iterator<Item = Slot> + '_ {
        self.groups.iter().flat_map(|g| g.iter().copied())
    }

    fn len(&self) -> usize {
        self.groups.iter().map(|g| g.len()).sum()
    }

    /// Fits `chars` to this format: the corrected reads (confidences kept) and the corrected
    /// positions.
    fn fit(&self, chars: &[ReadChar]) -> Option<(Vec<ReadChar>, Vec<usize>)> {
        if chars.len() != self.len() {
            return None;
        }
        let mut out = Vec::with_capacity(chars.len());
        let mut corrected = Vec::new();
        for (i, (read, slot)) in chars.iter().zip(self.slots()).enumerate() {
            let c = read.char;
            let fits = match slot {
                Slot::Letter => c.is_ascii_uppercase(),
                Slot::Digit => c.is_ascii_digit(),
                Slot::Either => c.is_ascii_alphanumeric(),
                Slot::CzRegion => CZ_REGION_LETTERS.contains(c),
            };
            if fits {
                out.push(*read);
                continue;
            }
            let swapped = match slot {
                Slot::Letter => same_glyph_letter(c),
                // O and I are no region letters.
                Slot::CzRegion | Slot::Digit | Slot::Either => None,
            }?;
            out.push(ReadChar {
                char: swapped,
                ..*read
            });
            corrected.push(i);
        }
        let first: String = out[..self.groups[0].len()].iter().map(|r| r.char).collect();
        let known_code =
            self.first_group_codes.is_empty() || self.first_group_codes.contains(&first.as_str());
        (known_code && corrected.len() <= MAX_CORRECTIONS).then_some((out, corrected))
    }

    fn format(&self, text: &[char]) -> String {
        let mut formatted = String::with_capacity(text.len() + self.groups.len());
        let mut rest = text;
        for (i, group) in self.groups.iter().enumerate() {
            if i > 0 {
                formatted.push(self.separators.get(i - 1).copied().unwrap_or(' '));
            }
            let (head, tail) = rest.split_at(group.len().min(rest.len()));
            formatted.extend(head);
            rest = tail;
        }
        formatted
    }
}

/// The national format a one-row read fits with the fewest corrections (the first listed on a
/// tie), as read or else with one character dropped where the format allows it.
/// `(format, kept characters, corrected positions)`.
fn fit_national(
    chars: &[ReadChar],
) -> Option<(&'static NationalFormat, Vec<ReadChar>, Vec<usize>)> {
    let as_read = NATIONAL_FORMATS
        .iter()
        .filter_map(|format| {
            format
                .fit(chars)
                .map(|(kept, corrected)| (format, kept, corrected))
        })
        .min_by_key(|(_, _, corrected)| corrected.len());
    if as_read.is_some() {
        return as_read;
    }
    for format in &NATIONAL_FORMATS {
        if chars.len() != format.len() + 1 {
            continue;
        }
        let gap = format.groups[0].len();
        let edges = [0, format.len()].into_iter().filter(|_| format.drops_edges);
        let mark = format.gap_marks.contains(chars[gap].char).then_some(gap);
        for drop in edges.chain(mark) {
            let mut shorter = chars.to_vec();
            shorter.remove(drop);
            if let Some((kept, corrected)) = format.fit(&shorter) {
                return Some((format, kept, corrected));
            }
        }
    }
    None
}

/// The lowest of `confidences`, 0 for none: a plate is as sure as its least sure character.
pub(crate) fn lowest(confidences: &[f32]) -> f32 {
    confidences.iter().copied().reduce(f32::min).unwrap_or(0.0)
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
    let confidence = lowest(&char_confidence);
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
            if rows < 2 {
                if let Some((format, kept, corrected)) = fit_national(chars) {
                    let text: Vec<char> = kept.iter().map(|c| c.char).collect();
                    let char_confidence: Vec<f32> = kept.iter().map(|c| c.confidence).collect();
                    return PlateText {
                        formatted: format.format(&text),
                        text: text.into_iter().collect(),
                        confidence: lowest(&char_confidence),
                        char_confidence,
                        rows,
                        valid: true,
                        grammar: format.grammar,
                        corrected,
                    };
                }
            }
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

/// The widest a one-row plate is, in heights, for its generic read to be taken as a North
/// American plate's. A North American plate is 2:1 and European and Vietnamese one-row plates
/// 4.7:1; the plate detector's corners put the US development photos' one-row plates at
/// 1.8-2.9 (nine in ten under 2.9) and the European ones at 2.0-5.1 (nine in ten over 3.1).
pub const NORTH_AMERICAN_MAX_ASPECT: f32 = 3.0;

/// Whether a plate `width_per_height` times as wide as high is shaped like a North American
/// one (under [`NORTH_AMERICAN_MAX_ASPECT`]). False for a shape that could not be measured
/// (NaN).
pub fn north_american_shape(width_per_height: f32) -> bool {
    width_per_height < NORTH_AMERICAN_MAX_ASPECT
}

/// Reads the letter `O` of a generic one-row read as the digit `0` when the plate is shaped like
/// a North American one ([`north_american_shape`]); see the module doc. Vietnamese and
/// national-format reads, two-row reads and long plates are left alone.
pub fn read_round_glyph_as_zero(plate: &mut PlateText, width_per_height: f32) {
    if plate.grammar != Grammar::Generic
        || plate.rows != 1
        || !north_american_shape(width_per_height)
        || !plate.text.contains('O')
    {
        return;
    }
    let rounds = plate.text.chars().enumerate().filter(|&(_, c)| c == 'O');
    plate.corrected.extend(rounds.map(|(i, _)| i));
    plate.text = plate.text.replace('O', "0");
    // A generic read is formatted as its text.
    plate.formatted.clone_from(&plate.text);
}

/// Whether `plate` is a grammar-valid Vietnamese read that the plate's shape allows. A
/// Vietnamese one-row plate is 4.7:1, so a one-row Vietnamese read of a plate shaped like a
/// North American one ([`north_american_shape`] of `width_per_height`) is not taken as one: it
/// is more likely a North American plate (2:1) whose letters and digits the
/// Vietnamese-trained recogniser fitted into a province code and series (`BSB0399` read as
/// `39B0399`). Two-row reads, and plates whose shape could not be measured (NaN), are judged by
/// their grammar alone.
pub fn vietnamese_in_shape(plate: &PlateText, width_per_height: f32) -> bool {
    plate.grammar == Grammar::Vn
        && plate.valid
        && !(plate.rows == 1 && north_american_shape(width_per_height))
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
    fn a_plate_shaped_like_a_north_american_one_reads_its_round_glyph_as_zero() {
        let mut us = interpret(&read("CHOP8Y", 0.9), 1, None);
        assert_eq!(us.grammar, Grammar::Generic);
        read_round_glyph_as_zero(&mut us, 2.2);
        assert_eq!(
            (us.text.as_str(), us.formatted.as_str()),
            ("CH0P8Y", "CH0P8Y")
        );
        assert_eq!(us.corrected, vec![2]);
        assert!(!us.valid, "the read stays generic and flagged");
        // California prints I: it stays.
        let mut california = interpret(&read("4PCI264", 0.9), 1, None);
        read_round_glyph_as_zero(&mut california, 2.0);
        assert_eq!(california.text, "4PCI264");
        assert!(california.corrected.is_empty());
        // A long plate (European, 4.7:1) keeps its O.
        let mut long = interpret(&read("OYO9FEU", 0.9), 1, None);
        read_round_glyph_as_zero(&mut long, 4.2);
        assert_eq!(long.text, "OYO9FEU");
        // A Slovak read (its O fixed by its format) and a two-row read are not touched.
        let mut slovak = interpret(&read("RK340AO", 0.9), 1, None);
        assert_eq!(slovak.grammar, Grammar::Sk);
        read_round_glyph_as_zero(&mut slovak, 2.0);
        assert_eq!(slovak.text, "RK340AO");
        let mut two_rows = interpret(&read("ABOC123", 0.9), 2, None);
        read_round_glyph_as_zero(&mut two_rows, 1.5);
        assert_eq!(two_rows.text, "ABOC123");
        // A shape that cannot be measured changes nothing.
        let mut unmeasured = interpret(&read("CHOP8Y", 0.9), 1, None);
        read_round_glyph_as_zero(&mut unmeasured, f32::NAN);
        assert_eq!(unmeasured.text, "CHOP8Y");
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
        // Croatian plate ZG 5561-K: forcing it into the Vietnamese form would need "ZG" ->
        // province; it is read as Croatian, unchanged (not as ZG 556-IK, a correction away).
        let plate = interpret(&read("ZG5561K", 0.99), 1, None);
        assert_eq!(plate.grammar, Grammar::Hr);
        assert_eq!(plate.text, "ZG5561K");
        assert_eq!(plate.formatted, "ZG 5561-K");
        assert!(plate.corrected.is_empty());
        // A plate of no known format stays as read, flagged.
        let unknown = interpret(&read("QZ5561K", 0.99), 1, None);
        assert!(!unknown.valid);
        assert_eq!(unknown.grammar, Grammar::Generic);
        assert_eq!(unknown.text, "QZ5561K");
        assert!(unknown.corrected.is_empty());
        // Czech plate 8B5 3308: not forced into the Vietnamese form ("8B" -> province, "5" ->
        // letter), read as Czech, unchanged.
        let czech = interpret(&read("8B53308", 0.99), 1, None);
        assert_eq!(czech.grammar, Grammar::Cz);
        assert_eq!(czech.text, "8B53308");
        assert_eq!(czech.formatted, "8B5 3308");
        assert!(czech.corrected.is_empty());
    }

    #[test]
    fn slovak_plates_read_zero_and_one_as_letters_where_letters_belong() {
        // The Slovak font prints 1 and I (0 and O) alike: confident or not, the last two
        // places are letters.
        let plate = interpret(&read("LM298A1", 0.99), 1, None);
        assert_eq!(plate.grammar, Grammar::Sk);
        assert!(plate.valid);
        assert_eq!(plate.text, "LM298AI");
        assert_eq!(plate.formatted, "LM 298AI");
        assert_eq!(plate.corrected, vec![6]);
        assert_eq!(interpret(&read("RK340A0", 0.99), 1, None).text, "RK340AO");
        // No other look-alike, sure or unsure: a Croatian ZG 4309-AG that lost its Z is not
        // made the Slovak GA 309AG.
        let mut croatian = read("G4309AG", 0.99);
        croatian[1].confidence = 0.5;
        let plate = interpret(&croatian, 1, None);
        assert_eq!(plate.grammar, Grammar::Generic);
        assert_eq!(plate.text, "G4309AG");
        // A frame edge read as a leading character is dropped.
        let edged = interpret(&read("HRK708A1", 0.99), 1, None);
        assert_eq!(edged.text, "RK708AI");
        assert_eq!(edged.char_confidence.len(), 7);
    }

    #[test]
    fn croatian_plates_need_an_area_code_and_read_zero_as_a_letter_only_where_letters_belong() {
        for (read_as, text, formatted) in [
            ("ZG3227N", "ZG3227N", "ZG 3227-N"),
            ("ZG880TV", "ZG880TV", "ZG 880-TV"),
            ("ZG4309AG", "ZG4309AG", "ZG 4309-AG"),
            ("VU767C", "VU767C", "VU 767-C"),
            // The last group is letters: a 0 there is the letter O.
            ("RI1020M0", "RI1020MO", "RI 1020-MO"),
        ] {
            let plate = interpret(&read(read_as, 0.99), 1, None);
            assert_eq!(plate.grammar, Grammar::Hr, "{read_as}");
            assert!(plate.valid);
            assert_eq!(
                (plate.text.as_str(), plate.formatted.as_str()),
                (text, formatted)
            );
        }
        // An unknown area code, a Z read as 7, a letter group of three: not Croatian.
        for read_as in ["ZX3227N", "7G3227N", "ZG3227NAB"] {
            assert_eq!(
                interpret(&read(read_as, 0.99), 1, None).grammar,
                Grammar::Generic,
                "{read_as}"
            );
        }
        // A code both countries use, in the Slovak form, reads as Slovak.
        assert_eq!(
            interpret(&read("SK123AB", 0.99), 1, None).grammar,
            Grammar::Sk
        );
    }

    #[test]
    fn every_national_format_prints_one_separator_between_each_two_groups() {
        for format in &NATIONAL_FORMATS {
            assert_eq!(
                format.separators.len(),
                format.groups.len() - 1,
                "{:?} {:?}",
                format.grammar,
                format.groups
            );
        }
    }

    #[test]
    fn czech_plates_lose_the_sticker_but_californian_plates_are_never_made_czech() {
        // The round inspection sticker between the groups, read as an 8.
        let plate = interpret(&read("4B480262", 0.99), 1, None);
        assert_eq!(plate.grammar, Grammar::Cz);
        assert_eq!(plate.text, "4B40262");
        assert_eq!(plate.formatted, "4B4 0262");
        // California 4PCI264 differs from the Czech form in one place: even an unsure I stays.
        let mut californian = read("4PCI264", 0.99);
        californian[3].confidence = 0.5;
        let plate = interpret(&californian, 1, None);
        assert_eq!(plate.grammar, Grammar::Generic);
        assert_eq!(plate.text, "4PCI264");
        // The region letter must be one of the fourteen regions.
        assert_eq!(
            interpret(&read("9I85914", 0.99), 1, None).grammar,
            Grammar::Generic
        );
        // Only a one-row read is tried against national formats.
        assert_eq!(
            interpret(&read("8B53308", 0.99), 2, None).grammar,
            Grammar::Generic
        );
    }

    #[test]
    fn too_many_corrections_fall_back_to_generic() {
        // Vietnamese would need Z -> 2, Q -> 0 and 5 -> S; ZQ is no area or district code.
        let plate = interpret(&read("ZQ556KJ", 0.5), 1, None);
        assert!(!plate.valid);
        assert_eq!(plate.text, "ZQ556KJ");
        assert_eq!(plate.formatted, "ZQ556KJ");
    }

    #[test]
    fn a_province_code_read_as_two_letters_is_not_corrected_into_one() {
        // Texas `BGB 3282`, read unsure: B -> 8 and G -> 6 would make it `86B-3282`.
        let plate = interpret(&read("BGB3282", 0.5), 1, None);
        assert!(!plate.valid);
        assert_eq!(plate.text, "BGB3282");
        // One letter of the code is still a look-alike of its digit.
        let plate = interpret(&read("5BG12345", 0.5), 1, None);
        assert!(plate.valid);
        assert_eq!(plate.text, "58G12345");
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
