//! How alike two normalised plate texts are, the way an OCR engine errs: edit distance where
//! swapping look-alike characters (O/0, I/1, B/8, S/5, Z/2, G/6, D/0, A/4) costs less than any
//! other edit. Used to find a plate misread by one character, in the store's fuzzy search and
//! in route tracing. Plates are compared in one form, [`normalise_plate`]'s.

/// Upper case, letters and digits only (`51A-961.41` is `51A96141`): how plates are stored,
/// searched and compared.
pub fn normalise_plate(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The cost of substituting look-alikes; every other edit costs 1.
pub const LOOKALIKE_COST: f64 = 0.5;

const LOOKALIKES: [(char, char); 9] = [
    ('O', '0'),
    ('D', '0'),
    ('Q', '0'),
    ('I', '1'),
    ('B', '8'),
    ('S', '5'),
    ('Z', '2'),
    ('G', '6'),
    ('A', '4'),
];

fn substitution_cost(a: char, b: char) -> f64 {
    if a == b {
        0.0
    } else if LOOKALIKES
        .iter()
        .any(|&(x, y)| (x == a && y == b) || (x == b && y == a))
    {
        LOOKALIKE_COST
    } else {
        1.0
    }
}

/// Weighted edit distance (insertions, deletions and substitutions; look-alike
/// substitutions cost [`LOOKALIKE_COST`]).
pub fn weighted_distance(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<f64> = (0..=b.len()).map(|j| j as f64).collect();
    let mut current = vec![0.0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = (i + 1) as f64;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous[j] + substitution_cost(ca, cb);
            let delete = previous[j + 1] + 1.0;
            let insert = current[j] + 1.0;
            current[j + 1] = substitute.min(delete).min(insert);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Plain edit distance, capped: `None` when above `max`.
pub fn within_edits(a: &str, b: &str, max: usize) -> Option<usize> {
    let (la, lb) = (a.chars().count(), b.chars().count());
    if la.abs_diff(lb) > max {
        return None;
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            current[j + 1] = (previous[j] + usize::from(ca != cb))
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    let distance = previous[b.len()];
    (distance <= max).then_some(distance)
}

/// The texts one deletion away from `plate` (SymSpell's deletion neighbourhood). Two plates
/// within one edit of each other share one of these, or one is among the other's.
pub fn single_deletions(plate: &str) -> Vec<String> {
    let chars: Vec<char> = plate.chars().collect();
    let mut variants: Vec<String> = (0..chars.len())
        .map(|skip| {
            chars
                .iter()
                .enumerate()
                .filter(|(index, _)| *index != skip)
                .map(|(_, c)| *c)
                .collect()
        })
        .collect();
    variants.sort();
    variants.dedup();
    variants
}

/// Digits of a plate's number that a read of its bottom row alone gives: the last 4 and the
/// last 5 characters of `plate` where they are digits and at least 3 characters (a province
/// code and a series) come before them. A Vietnamese two-row plate prints its number, 4 or 5
/// digits, on the bottom row (`59-S2 299.69`), and a reader that misses the top row reads
/// `29969`. Normalised plates in, normalised texts out.
pub fn bottom_row_reads(plate: &str) -> impl Iterator<Item = &str> {
    [4, 5]
        .into_iter()
        .filter(move |&digits| plate.len() >= digits + 3)
        .filter_map(move |digits| plate.get(plate.len() - digits..))
        .filter(|tail| tail.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `read` is what `plate`'s bottom row gives read alone ([`bottom_row_reads`]).
pub fn is_bottom_row_of(read: &str, plate: &str) -> bool {
    bottom_row_reads(plate).any(|tail| tail == read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bottom_row_read_alone_is_the_plate_s_number() {
        assert_eq!(
            bottom_row_reads("59S229969").collect::<Vec<_>>(),
            ["9969", "29969"]
        );
        assert!(is_bottom_row_of("29969", "59S229969"));
        assert!(is_bottom_row_of("1795", "30A1795"));
        // Not the number's end, or a letter in it, or nothing left for the top row.
        assert!(!is_bottom_row_of("22996", "59S229969"));
        assert!(!is_bottom_row_of("880TV", "ZG880TV"));
        assert_eq!(bottom_row_reads("ZG880TV").count(), 0);
        assert!(!is_bottom_row_of("29969", "929969"));
        assert!(!is_bottom_row_of("29969", "29969"));
    }

    #[test]
    fn plates_compare_without_separators_or_case() {
        assert_eq!(normalise_plate("51a-961.41"), "51A96141");
        assert_eq!(normalise_plate("ZG 880-TV"), "ZG880TV");
        assert_eq!(normalise_plate("-. "), "");
    }

    #[test]
    fn lookalike_swaps_cost_less_than_other_edits() {
        assert_eq!(weighted_distance("51G12345", "51G12345"), 0.0);
        assert_eq!(weighted_distance("51G12345", "5IG12345"), LOOKALIKE_COST);
        assert_eq!(weighted_distance("51G12345", "51G12346"), 1.0);
        assert_eq!(weighted_distance("51G12345", "51G1234"), 1.0);
        assert_eq!(weighted_distance("30A12345", "3OA12345"), LOOKALIKE_COST);
        assert_eq!(within_edits("51G12345", "51G1234", 1), Some(1));
        assert_eq!(within_edits("51G12345", "52G12346", 1), None);
    }

    #[test]
    fn one_edit_apart_plates_share_a_deletion() {
        let deletes = |p: &str| single_deletions(p);
        let related = |a: &str, b: &str| {
            let da = deletes(a);
            let db = deletes(b);
            a == b
                || da.contains(&b.to_string())
                || db.contains(&a.to_string())
                || da.iter().any(|x| db.contains(x))
        };
        assert!(related("51G12345", "51G12346"), "substitution");
        assert!(related("51G12345", "51G1234"), "deletion");
        assert!(related("51G1234", "51G12345"), "insertion");
        assert!(!related("51G12345", "52G12346"));
        assert_eq!(
            single_deletions("AAB"),
            vec!["AA".to_string(), "AB".to_string()]
        );
    }
}
