//! What the native test crates share: printing past libtest's capture, and skips that are counted
//! and, where the run says so, refused.
//!
//! A test that cannot run here calls [`skip`] and returns. The skip is printed, appended to the file
//! `$A2X_SKIP_LOG` (the Makefile counts it in `make test`'s summary), and it fails the test instead
//! when `$A2X_REQUIRE` names what was missing (`.ci/run` requires the wgpu adapter and the PyPI
//! wheels always, and `../shared` whenever the clone has one beside it).
#![allow(dead_code)]

use std::io::Write;

/// Prints past libtest's output capture, so skips and measured numbers show in `make test`.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// What a test needs that a machine may lack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// A wgpu adapter (natively, SwiftShader's Vulkan driver from Debian's chromium).
    Adapter,
    /// `../shared` beside the clone: the ImageNet photos, CIFAR-10, the PyTorch reference numbers.
    Shared,
    /// The PyPI wheels that `scripts/wheels.sh` downloads.
    Wheels,
}

impl Need {
    pub fn name(self) -> &'static str {
        match self {
            Need::Adapter => "adapter",
            Need::Shared => "shared",
            Need::Wheels => "wheels",
        }
    }
}

/// Whether `$A2X_REQUIRE` (a comma-separated list of [`Need::name`]s) names `need`.
pub fn required(need: Need, require: Option<&str>) -> bool {
    require.is_some_and(|list| list.split(',').any(|n| n.trim() == need.name()))
}

/// Records that the running test skips because `need` is missing (`reason` says how), or panics
/// when this run requires `need`.
pub fn skip(need: Need, reason: &str) {
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let require = std::env::var("A2X_REQUIRE").ok();
    if required(need, require.as_deref()) {
        panic!("{test} may not skip in this run (A2X_REQUIRE={}): {reason}", require.unwrap_or_default());
    }
    say!("SKIPPED {test}: {reason}");
    if let Ok(log) = std::env::var("A2X_SKIP_LOG") {
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(file, "{}\t{test}\t{reason}", need.name());
        }
    }
}

#[test]
fn a_required_need_is_named_in_the_list() {
    assert!(required(Need::Adapter, Some("adapter,wheels")));
    assert!(required(Need::Wheels, Some("adapter, wheels")));
    assert!(!required(Need::Shared, Some("adapter,wheels")));
    assert!(!required(Need::Shared, None));
    assert!(!required(Need::Adapter, Some("adapters")));
}
