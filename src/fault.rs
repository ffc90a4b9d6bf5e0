//! Fault injection, for tests only: `MLP_GPU_FAULT=<kind>@<epoch>` makes a fault happen in
//! that epoch (1-based) of every run of the process, so the recovery paths run for real.
//! Kinds: `device-lost` destroys the device before the epoch's work; `oom` makes the epoch's
//! out-of-memory error scope report an error; `stall` blocks the process at the epoch's
//! start until it is killed (a test kills it at a known point however fast the adapter); `disk-full@0` sends every result file written
//! to /dev/full; `clamp-bounds@0` compiles the kernels with clamped accesses (Metal's
//! behaviour) on Vulkan; `skew@<op>` makes that op's results in `mlp-gpu check` slightly wrong
//! (src/check).

/// The epoch at which fault `kind` is injected, if it is.
pub fn at(kind: &str) -> Option<usize> {
    let v = std::env::var("MLP_GPU_FAULT").ok()?;
    let (k, epoch) = v.split_once('@')?;
    (k == kind).then(|| epoch.parse().ok()).flatten()
}

/// The op (or the start of its name) whose `mlp-gpu check` results are made slightly
/// wrong, if one is.
pub fn skewed_op() -> Option<String> {
    let v = std::env::var("MLP_GPU_FAULT").ok()?;
    v.strip_prefix("skew@").map(str::to_owned)
}

/// Whether the kernels are compiled with every buffer and index access clamped into range
/// (MLP_GPU_FAULT=clamp-bounds@0): what wgpu does on Metal and on Vulkan drivers without
/// robustness2, where an access past a binding reads or writes its last element instead.
/// On a Vulkan adapter with robustness2, which wgpu leaves unchecked, this is the only way
/// to run that behaviour (naga's SPIR-V with `BoundsCheckPolicy::Restrict`, passed through).
pub fn clamped_bounds() -> bool {
    at("clamp-bounds").is_some()
}

/// The faults a trainer injects into its epochs (1-based), read once from MLP_GPU_FAULT by
/// whoever makes the trainer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EpochFaults {
    pub device_lost: Option<usize>,
    pub oom: Option<usize>,
    pub stall: Option<usize>,
}

impl EpochFaults {
    pub fn from_env() -> Self {
        EpochFaults {
            device_lost: at("device-lost"),
            oom: at("oom"),
            stall: at("stall"),
        }
    }
}

/// Blocks the calling thread for good (`stall`): only a signal ends the process.
pub fn stall() -> ! {
    loop {
        std::thread::park();
    }
}
