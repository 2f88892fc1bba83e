//! The device the parity tests run their networks on: `VIDCLASS_TEST_DEVICE` (`cpu`, the
//! default, or `cuda`/`cuda:N` in a `--features cuda` build), so the same goldens check the GPU path.

use std::sync::OnceLock;

use candle_core::Device;
use vidclass::device::DeviceChoice;

/// The device, opened once per test binary: every model and input of a test must share it (each
/// opening of a CUDA GPU is a device of its own to candle).
pub fn test_device() -> Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE
        .get_or_init(|| {
            let name = std::env::var("VIDCLASS_TEST_DEVICE").unwrap_or_else(|_| "cpu".into());
            let choice: DeviceChoice = name.parse().unwrap_or_else(|e| panic!("VIDCLASS_TEST_DEVICE: {e}"));
            choice.open().unwrap_or_else(|e| panic!("VIDCLASS_TEST_DEVICE={name}: {e}")).device
        })
        .clone()
}
