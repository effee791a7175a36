//! How far a task's picture stayed what it started from (issue #33): the structural similarity of
//! grey levels (a sketch must stay the sketch) and the error inside a hole (inpainting). Plain
//! Rust on CHW values in [0, 1], the same natively and in the browser.

/// The grey level of every pixel of a CHW picture (ITU-R BT.601 luma, as `image`'s `to_luma8`).
pub fn grey(image: &[f32]) -> Vec<f32> {
    let pixels = image.len() / 3;
    (0..pixels).map(|i| 0.299 * image[i] + 0.587 * image[pixels + i] + 0.114 * image[2 * pixels + i]).collect()
}

/// SSIM (Wang et al. 2004) of two grey `size`² pictures in [0, 1], as scikit-image's
/// `structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
/// data_range=1)` computes it: local means, variances and covariance under an 11×11 Gaussian
/// window of σ 1.5 (truncated at 3.5σ), C₁ = (0.01)², C₂ = (0.03)², averaged over the pixels
/// whose window lies inside the picture.
pub fn ssim(a: &[f32], b: &[f32], size: usize) -> f64 {
    assert_eq!(a.len(), size * size);
    assert_eq!(b.len(), size * size);
    let sigma = 1.5f64;
    let radius = (3.5 * sigma + 0.5) as usize; // 5: an 11×11 window
    let kernel: Vec<f64> = (0..=2 * radius).map(|i| (-((i as f64 - radius as f64).powi(2)) / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = kernel.iter().sum();
    let kernel: Vec<f64> = kernel.iter().map(|k| k / total).collect();
    // Separable filtering of the five maps, valid region only (every window inside).
    let inner = size.saturating_sub(2 * radius);
    if inner == 0 {
        return f64::NAN;
    }
    let filter = |map: &dyn Fn(usize) -> f64| -> Vec<f64> {
        let mut rows = vec![0f64; size * inner];
        for y in 0..size {
            for x in 0..inner {
                rows[y * inner + x] = (0..kernel.len()).map(|k| kernel[k] * map(y * size + x + k)).sum();
            }
        }
        let mut out = vec![0f64; inner * inner];
        for y in 0..inner {
            for x in 0..inner {
                out[y * inner + x] = (0..kernel.len()).map(|k| kernel[k] * rows[(y + k) * inner + x]).sum();
            }
        }
        out
    };
    let (a64, b64) = (|i: usize| a[i] as f64, |i: usize| b[i] as f64);
    let mean_a = filter(&a64);
    let mean_b = filter(&b64);
    let aa = filter(&|i| a64(i) * a64(i));
    let bb = filter(&|i| b64(i) * b64(i));
    let ab = filter(&|i| a64(i) * b64(i));
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let mut sum = 0f64;
    for i in 0..inner * inner {
        let (ma, mb) = (mean_a[i], mean_b[i]);
        let (va, vb, cov) = (aa[i] - ma * ma, bb[i] - mb * mb, ab[i] - ma * mb);
        sum += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
    }
    sum / (inner * inner) as f64
}

/// SSIM of the grey levels of two CHW pictures of `size`².
pub fn ssim_of_grey(a: &[f32], b: &[f32], size: usize) -> f64 {
    ssim(&grey(a), &grey(b), size)
}

/// Mean squared error between `image` and `truth` (CHW) over the hole's values, all channels.
pub fn hole_mse(image: &[f32], truth: &[f32], hole: &[f32]) -> f64 {
    let pixels = hole.len();
    let mut sum = 0f64;
    let mut count = 0usize;
    for c in 0..3 {
        for i in 0..pixels {
            if hole[i] >= 0.5 {
                sum += ((image[c * pixels + i] - truth[c * pixels + i]) as f64).powi(2);
                count += 1;
            }
        }
    }
    sum / count.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 32² picture that says where it is, and a changed copy.
    fn pictures() -> (Vec<f32>, Vec<f32>) {
        let size = 32;
        let a: Vec<f32> = (0..size * size).map(|i| (((i % size) * 7 + (i / size) * 3) % 17) as f32 / 16.0).collect();
        let b: Vec<f32> = a.iter().enumerate().map(|(i, v)| (v * 0.8 + 0.1 + if i % 5 == 0 { 0.05 } else { 0.0 }).min(1.0)).collect();
        (a, b)
    }

    /// The same numbers from scikit-image 0.25's `structural_similarity(a, b, data_range=1,
    /// gaussian_weights=True, sigma=1.5, use_sample_covariance=False)` on these two pictures
    /// (tests/data/ssim-reference.json, written by scripts/ssim_reference.py).
    #[test]
    fn ssim_matches_scikit_image() {
        let reference: serde_json::Value =
            serde_json::from_str(include_str!("../tests/data/ssim-reference.json")).expect("the reference parses");
        let (a, b) = pictures();
        assert_eq!(ssim(&a, &a, 32), 1.0);
        for case in reference["cases"].as_array().expect("cases") {
            let (first, second) = match case["pair"].as_str() {
                Some("a-b") => (&a, &b),
                Some("b-a") => (&b, &a),
                Some("a-a") => (&a, &a),
                other => panic!("unknown pair {other:?}"),
            };
            let want = case["ssim"].as_f64().expect("a number");
            let got = ssim(first, second, 32);
            assert!((got - want).abs() < 1e-6, "{}: {got} against scikit-image's {want}", case["pair"]);
        }
    }

    #[test]
    fn hole_error_counts_only_the_hole() {
        let hole = [1.0f32, 0.0];
        let truth = [0.5f32, 0.5, 0.5, 0.5, 0.5, 0.5];
        let image = [0.7f32, 0.0, 0.3, 0.0, 0.5, 9.0];
        // Inside: (0.2², 0.2², 0) / 3.
        assert!((hole_mse(&image, &truth, &hole) - 0.08 / 3.0).abs() < 1e-7);
    }
}
