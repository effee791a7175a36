//! The live curve of a run: ℘, ϱ⁺ and ϱ⁻ per iteration, γ as a dashed line and a mark where
//! refinement ran. Plain SVG, redrawn from the events at every iteration.

use crate::engine::Event;
use yew::prelude::*;

const W: f64 = 520.0;
const H: f64 = 200.0;
const PAD_L: f64 = 34.0;
const PAD_B: f64 = 20.0;

fn x_of(t: usize, iterations: usize) -> f64 {
    PAD_L + (W - PAD_L - 6.0) * t as f64 / iterations.max(1) as f64
}

/// The top of the y axis: the smallest of 0.01, 0.02, 0.05, … 1 above every value, so a run whose
/// ℘ is still small is not a flat line at the bottom.
fn y_top(events: &[Event]) -> f32 {
    let largest = events.iter().flat_map(|e| [e.target_probability, e.rho_plus, e.rho_minus]).filter(|v| v.is_finite()).fold(0f32, f32::max);
    [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0].into_iter().find(|&top| largest <= top).unwrap_or(1.0)
}

fn y_of(v: f32, top: f32) -> f64 {
    let v = if v.is_finite() { (v / top).clamp(0.0, 1.0) } else { 0.0 } as f64;
    6.0 + (H - PAD_B - 6.0) * (1.0 - v)
}

fn polyline(events: &[Event], iterations: usize, top: f32, value: impl Fn(&Event) -> f32) -> String {
    events.iter().map(|e| format!("{:.1},{:.1}", x_of(e.iteration, iterations), y_of(value(e), top))).collect::<Vec<_>>().join(" ")
}

pub fn view(events: &[Event], iterations: usize, gamma: f32) -> Html {
    let top = y_top(events);
    let refined = events.iter().filter(|e| e.refined).map(|e| {
        let x = x_of(e.iteration, iterations);
        html! { <line class="refined" x1={x.to_string()} x2={x.to_string()} y1="6" y2={(H - PAD_B).to_string()} /> }
    });
    let ticks = [0.0f32, 0.25, 0.5, 0.75, 1.0].into_iter().map(|fraction| {
        let v = fraction * top;
        let y = y_of(v, top);
        html! { <>
          <line class="grid" x1={PAD_L.to_string()} x2={(W - 6.0).to_string()} y1={y.to_string()} y2={y.to_string()} />
          <text x={(PAD_L - 4.0).to_string()} y={(y + 4.0).to_string()} text-anchor="end">{ format!("{}", (v * 1e4).round() / 1e4) }</text>
        </> }
    });
    let gamma_y = y_of(gamma, top).to_string();
    html! {
      <figure class="plot">
        <svg id="curve" viewBox={format!("0 0 {W} {H}")} role="img" aria-label="target probability per iteration">
          { for ticks }
          if gamma <= top {
            <line class="gamma" x1={PAD_L.to_string()} x2={(W - 6.0).to_string()} y1={gamma_y.clone()} y2={gamma_y} />
          }
          { for refined }
          <polyline class="rho-plus" points={polyline(events, iterations, top, |e| e.rho_plus)} />
          <polyline class="rho-minus" points={polyline(events, iterations, top, |e| e.rho_minus)} />
          <polyline class="wp" points={polyline(events, iterations, top, |e| e.target_probability)} />
          <text x={PAD_L.to_string()} y={(H - 4.0).to_string()}>{ "0" }</text>
          <text x={(W - 6.0).to_string()} y={(H - 4.0).to_string()} text-anchor="end">{ format!("{iterations} iterations") }</text>
        </svg>
        <figcaption class="legend">
          <span class="wp">{ "℘ (seed + mini-batch + p)" }</span>
          <span class="rho-plus">{ "ϱ⁺" }</span>
          <span class="rho-minus">{ "ϱ⁻" }</span>
          <span class="gamma">{ if gamma <= top { format!("γ = {gamma}") } else { format!("γ = {gamma} (above the axis, which ends at {top})") } }</span>
          <span class="refined">{ "refinement (Algorithm 2)" }</span>
        </figcaption>
      </figure>
    }
}
