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

/// Bins of an [`Appearance`]: 4 levels of red, green and blue.
pub const APPEARANCE_BINS: usize = 64;

/// What the bins of an [`Appearance`] sum to.
const BASIS: f64 = 10_000.0;

/// Share of the box's width and height cut from each side before counting colours.
const MARGIN: f64 = 0.2;

/// A vehicle's colour histogram (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<u16>", into = "Vec<u16>")]
pub struct Appearance {
    bins: Vec<u16>,
}

/// An appearance of the wrong size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an appearance has {APPEARANCE_BINS} bins, found {found}")]
pub struct AppearanceError {
    pub found: usize,
}

impl TryFrom<Vec<u16>> for Appearance {
    type Error = AppearanceError;

    fn try_from(bins: Vec<u16>) -> Result<Self, Self::Error> {
        if bins.len() == APPEARANCE_BINS {
            Ok(Self { bins })
        } else {
            Err(AppearanceError { found: bins.len() })
        }
    }
}

impl From<Appearance> for Vec<u16> {
    fn from(appearance: Appearance) -> Self {
        appearance.bins
    }
}

impl Appearance {
    /// From its bins, in basis points.
    pub fn from_bins(bins: [u16; APPEARANCE_BINS]) -> Self {
        Self {
            bins: bins.to_vec(),
        }
    }

    pub fn bins(&self) -> &[u16] {
        &self.bins
    }

    /// One minus the Bhattacharyya coefficient of the two histograms: 0 alike, 1 nothing in
    /// common. An empty histogram is nothing like anything.
    pub fn distance(&self, other: &Appearance) -> f32 {
        let total = |bins: &[u16]| bins.iter().map(|&b| f64::from(b)).sum::<f64>();
        let (mine, theirs) = (total(&self.bins), total(&other.bins));
        if mine <= 0.0 || theirs <= 0.0 {
            return 1.0;
        }
        let coefficient: f64 = self
            .bins
            .iter()
            .zip(&other.bins)
            .map(|(&a, &b)| (f64::from(a) / mine * f64::from(b) / theirs).sqrt())
            .sum();
        (1.0 - coefficient).clamp(0.0, 1.0) as f32
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
        let bins = self
            .shares
            .iter()
            .map(|share| (share / looks * BASIS).round() as u16)
            .collect();
        Some(Appearance { bins })
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
}
