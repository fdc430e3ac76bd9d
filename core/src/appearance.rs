//! A vehicle's look: what route tracing tells one vehicle from another by at a camera where no
//! read found its plate.
//!
//! An [`Appearance`] is a colour histogram of the middle of the vehicle's box (the central 60 %
//! of its width and height, so little road shows): 4 levels per red, green and blue channel,
//! 64 bins, averaged over the crops of one track and given in basis points (the bins sum to
//! about 10,000). Two looks are compared by [`Appearance::distance`], one minus their
//! Bhattacharyya coefficient: 0 for the same histogram, 1 for colours that never meet.
//!
//! It is the classic signature of vehicle re-identification between detector stations: cheap
//! (the plate stage already has each crop in RGB), steady over a track, and blind to the plate.
//! Lighting that differs between cameras moves it, so route tracing only trusts it together
//! with a fitting travel time and a sure plate elsewhere on the route (see
//! `roadsight_tracking::routes`).

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Bins of an [`Appearance`]: 4 levels of red, green and blue.
pub const APPEARANCE_BINS: usize = 64;

/// Bytes of an [`Appearance`] in its compact form ([`Appearance::to_le_bytes`]): each bin a
/// little-endian `u16`.
pub const APPEARANCE_BYTES: usize = APPEARANCE_BINS * 2;

/// What the bins of an [`Appearance`] sum to.
const BASIS: f64 = 10_000.0;

/// Share of the box's width and height cut from each side before counting colours.
const MARGIN: f64 = 0.2;

/// A vehicle's colour histogram (see the module documentation).
///
/// Cheap to clone (the bins are shared), and quick to compare: the square roots of the bins'
/// shares are taken once, when the look is made, so [`Appearance::distance`] is one dot
/// product. Its JSON form is the array of bins.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Vec<u16>")]
pub struct Appearance {
    look: Arc<Look>,
}

/// The bins, and the square root of each bin's share of their total (all 0 when they sum to 0).
#[derive(Debug)]
struct Look {
    bins: [u16; APPEARANCE_BINS],
    roots: [f32; APPEARANCE_BINS],
}

/// An appearance of the wrong size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppearanceError {
    #[error("an appearance has {APPEARANCE_BINS} bins, found {found}")]
    Bins { found: usize },
    #[error("an appearance is {APPEARANCE_BYTES} bytes, found {found}")]
    Bytes { found: usize },
}

impl PartialEq for Appearance {
    fn eq(&self, other: &Self) -> bool {
        self.look.bins == other.look.bins
    }
}

impl Eq for Appearance {}

impl TryFrom<Vec<u16>> for Appearance {
    type Error = AppearanceError;

    fn try_from(bins: Vec<u16>) -> Result<Self, Self::Error> {
        let found = bins.len();
        let bins: [u16; APPEARANCE_BINS] = bins
            .try_into()
            .map_err(|_| AppearanceError::Bins { found })?;
        Ok(Self::from_bins(bins))
    }
}

impl Serialize for Appearance {
    /// The array of bins, written from where they are.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.look.bins.iter())
    }
}

impl Appearance {
    /// From its bins, in basis points.
    pub fn from_bins(bins: [u16; APPEARANCE_BINS]) -> Self {
        let total: f64 = bins.iter().map(|&b| f64::from(b)).sum();
        let mut roots = [0.0f32; APPEARANCE_BINS];
        if total > 0.0 {
            for (root, &bin) in roots.iter_mut().zip(&bins) {
                *root = (f64::from(bin) / total).sqrt() as f32;
            }
        }
        Self {
            look: Arc::new(Look { bins, roots }),
        }
    }

    /// From its compact form ([`Appearance::to_le_bytes`]).
    pub fn from_le_bytes(bytes: &[u8]) -> Result<Self, AppearanceError> {
        if bytes.len() != APPEARANCE_BYTES {
            return Err(AppearanceError::Bytes { found: bytes.len() });
        }
        let mut bins = [0u16; APPEARANCE_BINS];
        for (bin, pair) in bins.iter_mut().zip(bytes.chunks_exact(2)) {
            *bin = u16::from_le_bytes([pair[0], pair[1]]);
        }
        Ok(Self::from_bins(bins))
    }

    /// The compact form a store keeps: each bin a little-endian `u16`, in order.
    pub fn to_le_bytes(&self) -> [u8; APPEARANCE_BYTES] {
        let mut bytes = [0u8; APPEARANCE_BYTES];
        for (pair, bin) in bytes.chunks_exact_mut(2).zip(&self.look.bins) {
            pair.copy_from_slice(&bin.to_le_bytes());
        }
        bytes
    }

    pub fn bins(&self) -> &[u16] {
        &self.look.bins
    }

    /// One minus the Bhattacharyya coefficient of the two histograms: 0 alike, 1 nothing in
    /// common. An empty histogram is nothing like anything.
    pub fn distance(&self, other: &Appearance) -> f32 {
        // Eight running sums, so the compiler keeps them in vector lanes.
        let mut lanes = [0.0f32; 8];
        for (mine, theirs) in self
            .look
            .roots
            .chunks_exact(8)
            .zip(other.look.roots.chunks_exact(8))
        {
            for ((lane, a), b) in lanes.iter_mut().zip(mine).zip(theirs) {
                *lane += a * b;
            }
        }
        let coefficient: f32 = lanes.iter().sum();
        (1.0 - coefficient).clamp(0.0, 1.0)
    }
}

/// Adds up the looks of one track, crop by crop.
#[derive(Debug, Clone, PartialEq)]
pub struct AppearanceSum {
    shares: [f64; APPEARANCE_BINS],
    looks: u32,
}

impl Default for AppearanceSum {
    fn default() -> Self {
        Self {
            shares: [0.0; APPEARANCE_BINS],
            looks: 0,
        }
    }
}

impl AppearanceSum {
    /// Adds the look of one RGB crop (`width * height * 3` bytes, rows packed). Whether it
    /// counted: a crop too small to have a middle, or of the wrong length, does not.
    pub fn add_rgb(&mut self, rgb: &[u8], width: u32, height: u32) -> bool {
        let (w, h) = (width as usize, height as usize);
        if rgb.len() != w * h * 3 {
            return false;
        }
        let cut = |size: usize| (size as f64 * MARGIN).floor() as usize;
        let (x0, x1) = (cut(w), w - cut(w));
        let (y0, y1) = (cut(h), h - cut(h));
        if x1 <= x0 || y1 <= y0 {
            return false;
        }
        let mut counts = [0u32; APPEARANCE_BINS];
        for row in rgb.chunks_exact(w * 3).take(y1).skip(y0) {
            for pixel in row[x0 * 3..x1 * 3].chunks_exact(3) {
                let bin = usize::from(pixel[0] >> 6) * 16
                    + usize::from(pixel[1] >> 6) * 4
                    + usize::from(pixel[2] >> 6);
                counts[bin] += 1;
            }
        }
        let pixels = ((x1 - x0) * (y1 - y0)) as f64;
        for (share, count) in self.shares.iter_mut().zip(counts) {
            *share += f64::from(count) / pixels;
        }
        self.looks += 1;
        true
    }

    /// Crops added.
    pub fn looks(&self) -> u32 {
        self.looks
    }

    /// The mean look, if any crop counted.
    pub fn appearance(&self) -> Option<Appearance> {
        if self.looks == 0 {
            return None;
        }
        let looks = f64::from(self.looks);
        let mut bins = [0u16; APPEARANCE_BINS];
        for (bin, share) in bins.iter_mut().zip(&self.shares) {
            *bin = (share / looks * BASIS).round() as u16;
        }
        Some(Appearance::from_bins(bins))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crop of one colour with a border of another (the road round the vehicle).
    fn crop(fill: [u8; 3], border: [u8; 3], width: u32, height: u32) -> Vec<u8> {
        let mut rgb = Vec::new();
        for y in 0..height {
            for x in 0..width {
                let edge = x < width / 5
                    || x >= width - width / 5
                    || y < height / 5
                    || y >= height - height / 5;
                rgb.extend_from_slice(if edge { &border } else { &fill });
            }
        }
        rgb
    }

    fn look(crops: &[Vec<u8>], width: u32, height: u32) -> Appearance {
        let mut sum = AppearanceSum::default();
        for rgb in crops {
            assert!(sum.add_rgb(rgb, width, height));
        }
        sum.appearance().expect("a look")
    }

    #[test]
    fn the_middle_of_the_box_is_what_counts() {
        let red_on_grey = look(&[crop([200, 20, 20], [128, 128, 128], 50, 40)], 50, 40);
        let red_on_green = look(&[crop([200, 20, 20], [20, 160, 20], 50, 40)], 50, 40);
        let blue_on_grey = look(&[crop([20, 20, 200], [128, 128, 128], 50, 40)], 50, 40);
        assert!(red_on_grey.distance(&red_on_green) < 1e-6);
        assert!((red_on_grey.distance(&blue_on_grey) - 1.0).abs() < 1e-6);
        let total: u32 = red_on_grey.bins().iter().map(|&b| u32::from(b)).sum();
        assert_eq!(total, 10_000);
    }

    #[test]
    fn a_track_looks_like_the_mean_of_its_crops() {
        let red = crop([200, 20, 20], [0, 0, 0], 30, 30);
        let blue = crop([20, 20, 200], [0, 0, 0], 30, 30);
        let half_and_half = look(&[red.clone(), blue.clone()], 30, 30);
        let all_red = look(&[red], 30, 30);
        // Bhattacharyya of (1/2, 1/2) against (1, 0): 1 - sqrt(1/2).
        let expected = 1.0 - 0.5f32.sqrt();
        assert!((half_and_half.distance(&all_red) - expected).abs() < 1e-3);
        assert!((all_red.distance(&half_and_half) - expected).abs() < 1e-3);
    }

    #[test]
    fn bad_crops_do_not_count_and_bad_bins_do_not_parse() {
        let mut sum = AppearanceSum::default();
        assert!(!sum.add_rgb(&[0; 10], 4, 4), "wrong length");
        assert!(!sum.add_rgb(&[], 0, 0), "empty");
        assert_eq!(sum.appearance(), None);
        assert!(serde_json::from_str::<Appearance>("[1, 2, 3]").is_err());
        let parsed: Appearance =
            serde_json::from_str(&serde_json::to_string(&vec![156u16; 64]).expect("json"))
                .expect("64 bins parse");
        assert_eq!(parsed.distance(&parsed), 0.0);
        let empty = Appearance::try_from(vec![0u16; 64]).expect("64 bins");
        assert_eq!(empty.distance(&parsed), 1.0);
    }

    #[test]
    fn the_compact_form_gives_the_same_look_back() {
        let mut bins = [0u16; APPEARANCE_BINS];
        for (i, bin) in bins.iter_mut().enumerate() {
            *bin = (i as u16 * 977) % 700 + if i == 5 { 60_000 } else { 0 };
        }
        let look = Appearance::from_bins(bins);
        let bytes = look.to_le_bytes();
        assert_eq!(&bytes[10..12], &(60_000u16 + 5 * 977 % 700).to_le_bytes());
        assert_eq!(Appearance::from_le_bytes(&bytes), Ok(look));
        assert_eq!(
            Appearance::from_le_bytes(&bytes[..127]),
            Err(AppearanceError::Bytes { found: 127 })
        );
        assert_eq!(
            Appearance::try_from(vec![1u16; 3]),
            Err(AppearanceError::Bins { found: 3 })
        );
    }

    #[test]
    fn the_distance_is_one_minus_the_bhattacharyya_coefficient() {
        // Against the definition in f64, on looks made of a cheap deterministic mix.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next_look = || {
            let mut bins = [0u16; APPEARANCE_BINS];
            for bin in bins.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Mostly empty bins, as a vehicle's look has.
                *bin = if state.is_multiple_of(3) {
                    (state >> 40) as u16 % 2_000
                } else {
                    0
                };
            }
            bins
        };
        for _ in 0..200 {
            let (a, b) = (next_look(), next_look());
            let total =
                |bins: &[u16; APPEARANCE_BINS]| bins.iter().map(|&x| f64::from(x)).sum::<f64>();
            let (ta, tb) = (total(&a), total(&b));
            let coefficient: f64 = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| (f64::from(x) / ta * f64::from(y) / tb).sqrt())
                .sum();
            let expected = (1.0 - coefficient).clamp(0.0, 1.0);
            let found = Appearance::from_bins(a).distance(&Appearance::from_bins(b));
            assert!(
                (f64::from(found) - expected).abs() < 1e-5,
                "{found} against {expected}"
            );
        }
    }
}
