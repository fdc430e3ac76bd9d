//! The development-data split: which labelled images the plate recogniser may train on.
//!
//! An image is held out when the FNV-1a hash of its file name is 0 modulo 5 (a fifth of them).
//! `roadsight eval plates --dump-lines` marks them in `lines.csv`, `scripts/plate_rec/train.py`
//! never trains on them, and the accuracy tests and `roadsight eval plates --split holdout`
//! measure on them.

/// True for the held-out fifth.
pub fn is_held_out(file_name: &str) -> bool {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in file_name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash.is_multiple_of(5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_a_fifth_is_held_out_and_the_rule_is_stable() {
        let held = (0..10_000)
            .filter(|i| is_held_out(&format!("image{i}.jpg")))
            .count();
        assert!((1_800..2_200).contains(&held), "{held}");
        // Pinned values, computed independently (in Python).
        for held_out in ["10xemay1270.jpg", "10xemay1510.jpg", "10xemay330.jpg"] {
            assert!(is_held_out(held_out), "{held_out}");
        }
        for trained in [
            "10PlateBaza299.jpg",
            "10xemay1329.jpg",
            "a",
            "synth00000.jpg",
        ] {
            assert!(!is_held_out(trained), "{trained}");
        }
    }
}
