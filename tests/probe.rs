//! The proof-of-life computation on the native backends, against the independent f64 reference.

#[macro_use]
mod common;
use common::{skip, Need};
use a2x::device;
use a2x::probe::{self, ProbeResult, TOLERANCE};



fn assert_matches_reference(result: &ProbeResult, backend: &str) {
    let reference = probe::reference();
    let error = result.max_abs_diff(&reference);
    assert!(
        error <= TOLERANCE,
        "{backend}: max |error| {error:.3e} against the f64 reference exceeds {TOLERANCE:.0e}"
    );
}

#[test]
fn reference_gradient_is_a_true_derivative() {
    // The reference's finite differences, checked along a random-looking direction d:
    // (f(x + h d) − f(x − h d)) / 2h must equal ∇f · d.
    let reference = probe::reference();
    let x: Vec<f64> = (0..reference.gradient.len()).map(|i| (1.7 * i as f64 + 0.3).sin()).collect();
    let d: Vec<f64> = (0..x.len()).map(|i| (0.37 * i as f64).cos()).collect();
    let h = 1e-5;
    let shifted = |s: f64| -> Vec<f64> { x.iter().zip(&d).map(|(a, b)| a + s * b).collect() };
    let directional =
        (probe::forward_f64(&shifted(h)) - probe::forward_f64(&shifted(-h))) / (2.0 * h);
    let dot: f64 = reference.gradient.iter().zip(&d).map(|(g, v)| g * v).sum();
    assert!((directional - dot).abs() < 1e-8, "directional {directional} vs ∇f·d {dot}");
    assert!(reference.gradient_norm() > 1e-2, "the probe's gradient should not vanish");
    assert!((reference.output - probe::forward_f64(&x)).abs() < 1e-15);
}

#[test]
fn ndarray_gradient_matches_reference() {
    let result = pollster::block_on(probe::run(&device::cpu_device())).expect("probe on ndarray");
    assert_matches_reference(&result, "ndarray");
}

#[test]
fn wgpu_gradient_matches_reference() {
    let device = match pollster::block_on(device::init_wgpu()) {
        Ok((device, info)) => {
            say!("wgpu adapter: {} ({}, {})", info.name, info.backend, info.driver);
            device
        }
        Err(reason) => {
            skip(Need::Adapter, &format!("no wgpu adapter ({reason})"));
            return;
        }
    };
    let result = pollster::block_on(probe::run(&device)).expect("probe on wgpu");
    assert_matches_reference(&result, "wgpu");
}
