//! Bicubic upsampling with Keys' cubic convolution (Keys 1981, a = −0.5), for Algorithm 2, line 6.
//!
//! Written once, in plain Rust, rather than with burn's `interpolate`: the map it upsamples is the
//! small binarized feature map (7×7 for EfficientNet-Lite0), which Otsu's threshold already needs on
//! the CPU, so the same code serves every backend and its numbers do not depend on one.
//!
//! Geometry: pixel centres are aligned as in `align_corners = false` (PyTorch, PIL, TF2):
//! source coordinate = (destination + ½) · (in / out) − ½. Samples outside the map repeat its
//! border (clamped indices), so the weights always sum to one and a constant stays constant.

/// Keys' parameter; −0.5 makes the interpolation third-order accurate.
pub const A: f64 = -0.5;

/// Keys' cubic convolution kernel W(x).
pub fn keys_kernel(x: f64) -> f64 {
    let x = x.abs();
    if x <= 1.0 {
        (A + 2.0) * x * x * x - (A + 3.0) * x * x + 1.0
    } else if x < 2.0 {
        A * x * x * x - 5.0 * A * x * x + 8.0 * A * x - 4.0 * A
    } else {
        0.0
    }
}

/// For each output index along one axis: the four source indices (clamped) and their weights.
fn taps(input: usize, output: usize) -> Vec<([usize; 4], [f64; 4])> {
    let scale = input as f64 / output as f64;
    (0..output)
        .map(|o| {
            let source = (o as f64 + 0.5) * scale - 0.5;
            let base = source.floor();
            let t = source - base;
            let mut indices = [0usize; 4];
            let mut weights = [0f64; 4];
            for k in 0..4 {
                let offset = k as f64 - 1.0; // taps at base−1, base, base+1, base+2
                indices[k] = (base + offset).clamp(0.0, input as f64 - 1.0) as usize;
                weights[k] = keys_kernel(t - offset);
            }
            (indices, weights)
        })
        .collect()
}

/// Upsamples (or resamples) a row-major `height × width` map to `out_height × out_width`.
pub fn resize_bicubic(
    map: &[f32],
    [height, width]: [usize; 2],
    [out_height, out_width]: [usize; 2],
) -> Vec<f32> {
    assert_eq!(map.len(), height * width, "map size does not match its shape");
    assert!(height > 0 && width > 0, "empty map");
    let columns = taps(width, out_width);
    let rows = taps(height, out_height);
    // Separable: along the width first (height × out_width), then along the height.
    let mut horizontal = vec![0f64; height * out_width];
    for y in 0..height {
        for (x, (indices, weights)) in columns.iter().enumerate() {
            horizontal[y * out_width + x] =
                (0..4).map(|k| weights[k] * map[y * width + indices[k]] as f64).sum();
        }
    }
    let mut out = vec![0f32; out_height * out_width];
    for (y, (indices, weights)) in rows.iter().enumerate() {
        for x in 0..out_width {
            out[y * out_width + x] = (0..4)
                .map(|k| weights[k] * horizontal[indices[k] * out_width + x])
                .sum::<f64>() as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_known_values() {
        // Hand-computed from Keys' piecewise cubic with a = −0.5.
        assert_eq!(keys_kernel(0.0), 1.0);
        assert_eq!(keys_kernel(1.0), 0.0);
        assert_eq!(keys_kernel(2.0), 0.0);
        assert_eq!(keys_kernel(2.5), 0.0);
        assert_eq!(keys_kernel(0.5), 0.5625); // 1.5/8 − 2.5/4 + 1
        assert_eq!(keys_kernel(-0.5), 0.5625);
        assert_eq!(keys_kernel(1.5), -0.0625); // −0.5·3.375 + 2.5·2.25 − 4·1.5 + 2
        assert!((keys_kernel(0.25) - 0.8671875).abs() < 1e-15); // 1.5/64 − 2.5/16 + 1
        assert!((keys_kernel(1.25) - -0.0703125).abs() < 1e-15);
        // Partition of unity at any phase.
        for t in [0.0, 0.1, 0.37, 0.5, 0.9] {
            let sum: f64 = (-1..=2).map(|k| keys_kernel(t - k as f64)).sum();
            assert!((sum - 1.0).abs() < 1e-12, "phase {t}: {sum}");
        }
    }

    #[test]
    fn constant_stays_constant() {
        let map = vec![5.0f32; 7 * 7];
        let out = resize_bicubic(&map, [7, 7], [224, 224]);
        assert!(out.iter().all(|&v| (v - 5.0).abs() < 1e-5));
    }

    #[test]
    fn linear_ramp_stays_linear_in_the_interior() {
        // f(y, x) = 2x − 3y + 1 on the 8×8 source grid, upsampled ×4. Away from the border
        // (where clamping repeats edge values) the output is f at the mapped coordinates.
        let (h, w, scale) = (8usize, 8usize, 4usize);
        let map: Vec<f32> =
            (0..h * w).map(|i| 2.0 * (i % w) as f32 - 3.0 * (i / w) as f32 + 1.0).collect();
        let out = resize_bicubic(&map, [h, w], [h * scale, w * scale]);
        let coord = |o: usize| (o as f64 + 0.5) / scale as f64 - 0.5;
        let mut checked = 0;
        for y in 0..h * scale {
            for x in 0..w * scale {
                let (sy, sx) = (coord(y), coord(x));
                if sy < 1.0 || sx < 1.0 || sy > h as f64 - 2.0 || sx > w as f64 - 2.0 {
                    continue;
                }
                let expected = 2.0 * sx - 3.0 * sy + 1.0;
                assert!((out[y * w * scale + x] as f64 - expected).abs() < 1e-4);
                checked += 1;
            }
        }
        assert_eq!(checked, 400); // 20 × 20 interior outputs
    }

    #[test]
    fn same_size_is_identity() {
        let map: Vec<f32> = (0..30).map(|i| (i as f32 * 0.7).sin()).collect();
        let out = resize_bicubic(&map, [5, 6], [5, 6]);
        for (a, b) in map.iter().zip(&out) {
            assert!((a - b).abs() < 1e-6);
        }
    }
}
