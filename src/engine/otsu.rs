//! Otsu's threshold (Otsu 1979) for Algorithm 2, line 4.
//!
//! **Open choice O4** (the paper applies Otsu to a float map): the values are binned into
//! [`BINS`] = 256 equal bins between the map's minimum and maximum — the classical 8-bit Otsu,
//! independent of the map's scale. The threshold τ is the bin edge that maximises the
//! between-class variance; on ties the lowest such edge wins. A value is foreground when it lies in
//! a bin at or above τ's edge, which for every value not exactly on an edge is `value > τ`.

/// Number of histogram bins.
pub const BINS: usize = 256;

/// The result of thresholding a map.
#[derive(Clone, Debug, PartialEq)]
pub struct Otsu {
    /// τ: values above it are foreground.
    pub threshold: f32,
    /// `true` where the value is foreground (same order as the input).
    pub foreground: Vec<bool>,
    /// The between-class variance reached at τ (in the map's units squared).
    pub between_class_variance: f64,
}

/// Otsu's threshold of `values`. Returns `None` for an empty or constant map (no split exists)
/// or one containing a non-finite value.
pub fn otsu(values: &[f32]) -> Option<Otsu> {
    if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let min = values.iter().copied().fold(f32::INFINITY, f32::min) as f64;
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    if max <= min {
        return None;
    }
    let width = (max - min) / BINS as f64;
    let bin_of = |v: f32| (((v as f64 - min) / width) as usize).min(BINS - 1);
    let mut histogram = [0u64; BINS];
    let mut bin_sum = [0f64; BINS];
    for &v in values {
        histogram[bin_of(v)] += 1;
        bin_sum[bin_of(v)] += v as f64;
    }
    let total = values.len() as f64;
    let total_sum: f64 = bin_sum.iter().sum();
    // Sweep the split k: class 0 = bins [0, k), class 1 = bins [k, BINS). Class means use the
    // actual values, not bin centres, so a two-valued map gets its exact between-class variance.
    let (mut count0, mut sum0) = (0f64, 0f64);
    let mut best: Option<(usize, f64)> = None;
    for k in 1..BINS {
        count0 += histogram[k - 1] as f64;
        sum0 += bin_sum[k - 1];
        let count1 = total - count0;
        if count0 == 0.0 || count1 == 0.0 {
            continue;
        }
        let mean0 = sum0 / count0;
        let mean1 = (total_sum - sum0) / count1;
        let variance = (count0 / total) * (count1 / total) * (mean0 - mean1).powi(2);
        if best.is_none_or(|(_, v)| variance > v) {
            best = Some((k, variance));
        }
    }
    let (k, between_class_variance) = best?;
    Some(Otsu {
        threshold: (min + k as f64 * width) as f32,
        foreground: values.iter().map(|&v| bin_of(v) >= k).collect(),
        between_class_variance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Between-class variance of splitting `values` into `foreground` / the rest, from scratch.
    fn between_class_variance(values: &[f32], foreground: &[bool]) -> f64 {
        let n = values.len() as f64;
        let (mut c1, mut s1, mut c0, mut s0) = (0.0, 0.0, 0.0, 0.0);
        for (&v, &f) in values.iter().zip(foreground) {
            if f { c1 += 1.0; s1 += v as f64 } else { c0 += 1.0; s0 += v as f64 }
        }
        if c0 == 0.0 || c1 == 0.0 { return 0.0; }
        (c0 / n) * (c1 / n) * (s0 / c0 - s1 / c1).powi(2)
    }

    #[test]
    fn bimodal_map_splits_between_the_modes() {
        // Hand-worked: {0,0,0,1,1} vs {9,10,10}. Bin width 10/256 = 0.0390625; the value 1 falls
        // in bin 25, 9 in bin 230, so every edge from bin 26 to 230 gives the same split and the
        // first, 26 · 0.0390625 = 1.015625, is τ. Class means 0.4 and 29/3, weights 5/8 and 3/8:
        // σ_B² = (5/8)(3/8)(0.4 − 29/3)² = (15/64)(772.84/9) = 20.126041666….
        let values = [0.0, 0.0, 10.0, 1.0, 9.0, 0.0, 1.0, 10.0];
        let result = otsu(&values).unwrap();
        assert_eq!(result.threshold, 1.015625);
        assert_eq!(result.foreground, [false, false, true, false, true, false, false, true]);
        let expected = (5.0 / 8.0) * (3.0 / 8.0) * (0.4f64 - 29.0 / 3.0).powi(2);
        assert!((result.between_class_variance - expected).abs() < 1e-9);
        assert!((expected - 20.126_041_666_666).abs() < 1e-9);
    }

    #[test]
    fn constant_map_has_no_threshold() {
        assert_eq!(otsu(&[0.3; 49]), None);
        assert_eq!(otsu(&[]), None);
        assert_eq!(otsu(&[0.0, f32::NAN]), None);
    }

    #[test]
    fn two_values_split_exactly() {
        // Four ones and two fives: weights 2/3 and 1/3, means 1 and 5: σ_B² = (2/9)·16 = 32/9.
        let values = [1.0, 5.0, 1.0, 1.0, 5.0, 1.0];
        let result = otsu(&values).unwrap();
        assert_eq!(result.foreground, [false, true, false, false, true, false]);
        assert!(result.threshold > 1.0 && result.threshold < 5.0);
        assert!((result.between_class_variance - 32.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn agrees_with_brute_force_search() {
        // A skewed, three-bump map with a deterministic pseudo-random spread.
        let values: Vec<f32> = (0..997)
            .map(|i| {
                let jitter = ((i as f32 * 12.9898).sin() * 43758.547).fract();
                match i % 5 { 0 | 1 => jitter * 0.8, 2 | 3 => 2.0 + jitter, _ => 6.0 + 2.0 * jitter }
            })
            .collect();
        let result = otsu(&values).unwrap();
        // Brute force: every threshold between two consecutive distinct sorted values.
        let mut sorted = values.clone();
        sorted.sort_by(f32::total_cmp);
        sorted.dedup();
        let best = sorted
            .windows(2)
            .map(|w| {
                let t = 0.5 * (w[0] + w[1]);
                let fg: Vec<bool> = values.iter().map(|&v| v > t).collect();
                between_class_variance(&values, &fg)
            })
            .fold(0.0, f64::max);
        let ours = between_class_variance(&values, &result.foreground);
        assert!((ours - result.between_class_variance).abs() < 1e-9);
        // 256 bins can only miss the exact optimum by what one bin's worth of values moves.
        assert!(ours <= best + 1e-12);
        assert!(ours >= best * 0.999, "binned Otsu {ours} vs brute force {best}");
    }
}
