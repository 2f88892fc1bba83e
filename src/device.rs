//! Which processor runs the network: the CPU, or a CUDA GPU when vidclass is built with
//! `--features cuda`.
//!
//! The CPU path is vidclass's own (channels-last kernels, `nn::cpu`); a GPU runs candle's CUDA
//! operations (`nn::generic_conv`). `auto` takes the first GPU when the build has CUDA and one
//! opens, and otherwise the CPU, so that one command line works on every machine; naming `cuda`
//! makes a missing GPU an error instead.

use std::fmt;
use std::str::FromStr;

use candle_core::Device;

use crate::error::{Error, Result};

/// A device as the user names it: `auto`, `cpu`, `cuda` or `cuda:N`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// GPU 0 when built with CUDA and it opens, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// The CUDA GPU with this ordinal.
    Cuda(usize),
}

/// The device a [`DeviceChoice`] opened, with a note for the user when `auto` fell back to the CPU
/// although this build could have used a GPU.
pub struct Opened {
    pub device: Device,
    pub fallback_note: Option<String>,
}

impl DeviceChoice {
    /// Opens the device. A named GPU that cannot be opened, or a GPU asked of a build without CUDA,
    /// is a usage error; `auto` never fails.
    pub fn open(self) -> Result<Opened> {
        match self {
            DeviceChoice::Cpu => Ok(Opened { device: Device::Cpu, fallback_note: None }),
            DeviceChoice::Cuda(ordinal) => Ok(Opened { device: open_cuda(ordinal)?, fallback_note: None }),
            DeviceChoice::Auto if cfg!(feature = "cuda") => match open_cuda(0) {
                Ok(device) => Ok(Opened { device, fallback_note: None }),
                Err(e) => Ok(Opened {
                    device: Device::Cpu,
                    fallback_note: Some(format!("{e}; running on the CPU")),
                }),
            },
            DeviceChoice::Auto => Ok(Opened { device: Device::Cpu, fallback_note: None }),
        }
    }
}

fn open_cuda(ordinal: usize) -> Result<Device> {
    if !cfg!(feature = "cuda") {
        return Err(Error::Usage(format!(
            "cannot use cuda:{ordinal}: this vidclass was built without CUDA support \
             (build it with `cargo build --release --features cuda`)"
        )));
    }
    Device::new_cuda(ordinal)
        .map_err(|e| Error::Usage(format!("cannot open CUDA GPU {ordinal}: {}", first_line(&e.to_string()))))
}

/// candle's CUDA errors carry a backtrace after the first line.
fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or(message)
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| format!("unknown device {s:?}: expected auto, cpu, cuda or cuda:N")),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_prints() {
        for choice in [DeviceChoice::Auto, DeviceChoice::Cpu, DeviceChoice::Cuda(0), DeviceChoice::Cuda(3)] {
            assert_eq!(choice.to_string().parse::<DeviceChoice>(), Ok(choice));
        }
        assert_eq!("cuda".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda(0)));
        for bad in ["gpu", "cuda:", "cuda:x", "CPU", ""] {
            assert!(bad.parse::<DeviceChoice>().unwrap_err().contains("expected auto, cpu, cuda or cuda:N"));
        }
    }

    #[test]
    fn cpu_and_auto_open_without_a_gpu_build() {
        assert!(DeviceChoice::Cpu.open().unwrap().device.is_cpu());
        if !cfg!(feature = "cuda") {
            let auto = DeviceChoice::Auto.open().unwrap();
            assert!(auto.device.is_cpu() && auto.fallback_note.is_none());
            let err = DeviceChoice::Cuda(1).open().err().unwrap().to_string();
            assert!(err.contains("cuda:1") && err.contains("--features cuda"), "{err}");
        }
    }
}
