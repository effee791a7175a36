//! Choosing the compute device. One engine code path takes a burn [`Device`]; this module is the
//! only place that knows how each backend is set up.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The backends a2x runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn-wgpu: WebGPU in the browser, Vulkan/Metal/DX12 natively.
    Wgpu,
    /// burn-ndarray on the CPU: the fallback everywhere.
    Ndarray,
    /// burn-flex, burn's newer CPU backend (native builds only).
    Flex,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Wgpu => "wgpu",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Flex => "flex",
        })
    }
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "wgpu" | "webgpu" | "gpu" | "vulkan" => Ok(BackendKind::Wgpu),
            "ndarray" | "cpu" => Ok(BackendKind::Ndarray),
            "flex" => Ok(BackendKind::Flex),
            other => Err(format!("unknown backend `{other}` (expected `wgpu`, `ndarray` or `flex`)")),
        }
    }
}

/// What the GPU adapter reports about itself, for display.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    pub name: String,
    pub driver: String,
    pub backend: String,
    pub max_buffer_size: u64,
    pub max_storage_buffer_binding_size: u64,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroup_storage_size: u32,
}

/// The CPU device, with autodiff.
///
/// burn 0.22 marks ndarray deprecated in favour of its new `flex` backend. a2x keeps ndarray for
/// the native CLI's `--backend ndarray`, the tests that name it, and the page's `#cpu=ndarray`
/// (to measure flex against it); the page's CPU backend is flex ([`flex_device`]).
#[allow(deprecated)]
pub fn cpu_device() -> Device {
    Device::ndarray().autodiff()
}

/// burn's `flex` CPU backend, with autodiff: the study's backend natively, and the page's CPU
/// backend (one thread in wasm; about 31× faster per iteration there than ndarray, issue #23).
pub fn flex_device() -> Device {
    Device::flex().autodiff()
}

/// Initialises burn's wgpu runtime (WebGPU in a browser, the platform's native API elsewhere) and
/// returns the device with autodiff enabled, plus what the adapter reports. Errors, never panics,
/// when no adapter is found. Can only succeed once per process: keep the returned device.
pub async fn init_wgpu() -> Result<(Device, GpuInfo), String> {
    #[cfg(target_arch = "wasm32")]
    let options = Device::wgpu_options().graphics_api(burn::tensor::wgpu::WgpuBackend::WebGpu);
    #[cfg(not(target_arch = "wasm32"))]
    let options = Device::wgpu_options();
    let (device, setup) = options
        .init_with_setup_async()
        .await
        .map_err(|e| format!("{e}"))?;
    let adapter = setup.adapter.get_info();
    let limits = setup.device.limits();
    let info = GpuInfo {
        name: adapter.name,
        driver: [adapter.driver, adapter.driver_info]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        backend: format!("{:?}", adapter.backend),
        max_buffer_size: limits.max_buffer_size,
        max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size as u64,
        max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
        max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
    };
    Ok((device.autodiff(), info))
}
