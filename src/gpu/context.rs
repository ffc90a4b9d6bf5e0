//! Adapter choice, device creation and the limits the model needs.

use std::sync::{Arc, Mutex};

use wgpu::{Adapter, AdapterInfo, DeviceType};

#[derive(Clone, Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter found; on Debian/Ubuntu without a GPU run `apt-get install mesa-vulkan-drivers` for the lavapipe CPU adapter, otherwise install your GPU's Vulkan, Metal or DX12 driver")]
    NoAdapter,
    #[error("--adapter {choice}: no such adapter; `mlp-gpu devices` lists them ({available})")]
    AdapterNotFound { choice: String, available: String },
    #[error("adapter {adapter} lacks {what}, which mlp-gpu needs; pick another with --adapter")]
    Unsupported { adapter: String, what: String },
    #[error("could not open adapter {adapter}: {message}")]
    RequestDevice { adapter: String, message: String },
    #[error("{what} needs {need} bytes but the adapter's {limit} is {have} bytes; {fix}")]
    DoesNotFit {
        what: String,
        need: u64,
        limit: &'static str,
        have: u64,
        fix: String,
    },
    #[error("GPU error: {0}")]
    Device(String),
    #[error("the GPU device was lost ({0}); check the driver (dmesg), then resume the run")]
    DeviceLost(String),
    #[error("GPU out of memory: {0}; try a smaller --batch-size or --hidden")]
    OutOfMemory(String),
}

/// The oldest Mesa whose lavapipe is taken as current (scripts/deps.sh's MESA_MIN): Mesa 22's
/// runs mlp-gpu's epochs about 1.6x slower than Mesa 25's (docs/benchmarks-history.md).
pub const CURRENT_MESA: u32 = 24;

/// The Mesa version of a lavapipe adapter older than `CURRENT_MESA`, from its driver name
/// and info ("llvmpipe", "Mesa 22.3.6 (LLVM 15.0.6)").
pub fn old_lavapipe<'a>(driver: &str, driver_info: &'a str) -> Option<&'a str> {
    if driver != "llvmpipe" {
        return None;
    }
    let version = driver_info.strip_prefix("Mesa ")?.split(' ').next()?;
    let major: u32 = version.split('.').next()?.parse().ok()?;
    (major < CURRENT_MESA).then_some(version)
}

/// Immediate (push-constant) bytes every pipeline may use.
pub const IMMEDIATE_BYTES: u32 = 128;

/// The largest storage binding mlp-gpu uses, whatever the adapter allows (Metal reports
/// more): offsets reach the shaders as u32 words, and checked conversions (`immediates::word`)
/// rely on this cap.
pub const MAX_BINDING_BYTES: u64 = 4 << 30;

/// What mlp-gpu asks of a device: WebGPU's downlevel limits (what GL and mobile adapters
/// promise; none of the graphics limits of `Limits::default()`), raised where the kernels
/// need more (8 storage buffers: common.wgsl's two groups; 256-invocation workgroups;
/// immediates), and the sizes a model grows with as high as the adapter allows.
pub fn required_limits(have: &wgpu::Limits) -> wgpu::Limits {
    wgpu::Limits {
        max_immediate_size: IMMEDIATE_BYTES,
        max_storage_buffers_per_shader_stage: 8,
        max_compute_invocations_per_workgroup: 256,
        max_compute_workgroup_size_x: 256,
        max_storage_buffer_binding_size: have
            .max_storage_buffer_binding_size
            .min(MAX_BINDING_BYTES),
        max_buffer_size: have.max_buffer_size,
        max_compute_workgroups_per_dimension: have.max_compute_workgroups_per_dimension,
        ..wgpu::Limits::downlevel_defaults()
    }
}

pub struct Context {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: AdapterInfo,
    pub limits: wgpu::Limits,
    pub variant: super::MatmulVariant,
    /// Kernels clamp every access into range (`fault::clamped_bounds`; tests only).
    pub clamped_bounds: bool,
    /// The first fault the device reported outside an error scope (a loss replaces any).
    fault: Arc<Mutex<Option<GpuError>>>,
}

fn type_rank(t: DeviceType) -> u8 {
    match t {
        DeviceType::DiscreteGpu => 0,
        DeviceType::IntegratedGpu => 1,
        DeviceType::VirtualGpu => 2,
        DeviceType::Cpu => 3,
        DeviceType::Other => 4,
    }
}

fn backend_rank(b: wgpu::Backend) -> u8 {
    match b {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    }
}

/// Every adapter wgpu offers, best first: discrete, integrated, virtual, then software;
/// native APIs before GL for the same kind.
pub fn adapters() -> Vec<Adapter> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let mut list = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    list.sort_by_key(|a| {
        let i = a.get_info();
        (type_rank(i.device_type), backend_rank(i.backend))
    });
    list
}

pub fn describe(info: &AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}

/// Where `choice` is in `list` (adapters' info, best first): an index, a backend
/// (`vulkan`, `gl`, `metal`, `dx12`: the best adapter of it), or a case-insensitive part of
/// an adapter's name (the first that has it).
pub fn position(list: &[AdapterInfo], choice: &str) -> Option<usize> {
    if let Ok(i) = choice.parse::<usize>() {
        return (i < list.len()).then_some(i);
    }
    let needle = choice.to_lowercase();
    let backend = |i: &AdapterInfo| format!("{:?}", i.backend).to_lowercase();
    list.iter().position(|i| backend(i) == needle).or_else(|| {
        list.iter()
            .position(|i| i.name.to_lowercase().contains(&needle))
    })
}

/// Picks the adapter `choice` names (`position`), or the best one.
pub fn choose(choice: Option<&str>) -> Result<Adapter, GpuError> {
    let mut list = adapters();
    if list.is_empty() {
        return Err(GpuError::NoAdapter);
    }
    let Some(choice) = choice else {
        return Ok(list.remove(0));
    };
    let infos: Vec<AdapterInfo> = list.iter().map(Adapter::get_info).collect();
    match position(&infos, choice) {
        Some(i) => Ok(list.remove(i)),
        None => Err(GpuError::AdapterNotFound {
            choice: choice.to_string(),
            available: infos
                .iter()
                .enumerate()
                .map(|(i, a)| format!("{i}: {:?} {}", a.backend, a.name))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Each limit of `required_limits` an adapter with limits `have` falls short of, named with
/// what mlp-gpu needs and what the adapter has.
pub fn missing_limits(have: &wgpu::Limits) -> Vec<String> {
    let mut lacks = Vec::new();
    required_limits(have).check_limits_with_fail_fn(have, false, |name, need, has| {
        lacks.push(format!("{name} {need} (it has {has})"));
    });
    lacks
}

impl Context {
    /// Opens the chosen adapter; a software adapter gets a one-line notice on stderr, and
    /// an old lavapipe one more.
    pub fn new(choice: Option<&str>) -> Result<Context, GpuError> {
        let adapter = choose(choice)?;
        let info = adapter.get_info();
        if info.device_type == DeviceType::Cpu && choice.is_none() {
            eprintln!(
                "notice: no GPU found, using the software adapter {}",
                describe(&info)
            );
        }
        if let Some(version) = old_lavapipe(&info.driver, &info.driver_info) {
            eprintln!(
                "notice: this lavapipe is Mesa {version}; the lavapipe of Mesa {CURRENT_MESA} or newer runs mlp-gpu about 1.6x faster (on Debian 12: scripts/deps.sh installs it from bookworm-backports)"
            );
        }
        Self::open(adapter)
    }

    pub fn open(adapter: Adapter) -> Result<Context, GpuError> {
        let info = adapter.get_info();
        let have = adapter.limits();
        let unsupported = |what: &str| GpuError::Unsupported {
            adapter: describe(&info),
            what: what.into(),
        };
        if !adapter.features().contains(wgpu::Features::IMMEDIATES) {
            return Err(unsupported("immediates (push constants)"));
        }
        let lacks = missing_limits(&have);
        if !lacks.is_empty() {
            return Err(unsupported(&lacks.join(", ")));
        }
        let limits = required_limits(&have);
        // Timestamps inside passes are optional: only `bench --profile` uses them.
        let timing =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES;
        // Subgroups are optional too: only the subgroup8 matmul variant uses them.
        let optional = timing | wgpu::Features::SUBGROUP;
        let clamped_bounds = crate::fault::clamped_bounds();
        let passthrough = wgpu::Features::PASSTHROUGH_SHADERS;
        if clamped_bounds
            && (info.backend != wgpu::Backend::Vulkan || !adapter.features().contains(passthrough))
        {
            return Err(unsupported("SPIR-V passthrough, for clamp-bounds"));
        }
        let clamping = if clamped_bounds {
            passthrough
        } else {
            wgpu::Features::empty()
        };
        let desc = wgpu::DeviceDescriptor {
            label: Some("mlp-gpu"),
            required_features: wgpu::Features::IMMEDIATES
                | clamping
                | (adapter.features() & optional),
            required_limits: limits.clone(),
            ..Default::default()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc)).map_err(|e| {
            GpuError::RequestDevice {
                adapter: describe(&info),
                message: e.to_string(),
            }
        })?;
        let variant = super::MatmulVariant::for_adapter(&info, device.features());
        // Faults are recorded, not panicked on, and turned into errors by `check`.
        let fault = Arc::new(Mutex::new(None));
        let record = |fault: &Mutex<Option<GpuError>>, e: GpuError| {
            let mut f = fault.lock().unwrap_or_else(|p| p.into_inner());
            if f.is_none() || matches!(e, GpuError::DeviceLost(_)) {
                *f = Some(e);
            }
        };
        let f = fault.clone();
        device.set_device_lost_callback(move |reason, message| {
            record(&f, GpuError::DeviceLost(format!("{reason:?}: {message}")))
        });
        let f = fault.clone();
        device.on_uncaptured_error(Arc::new(move |e| {
            record(&f, GpuError::Device(e.to_string()))
        }));
        Ok(Context {
            device,
            queue,
            info,
            limits,
            variant,
            clamped_bounds,
            fault,
        })
    }

    /// The device's first recorded fault as an error: device loss before anything else.
    pub fn check(&self) -> Result<(), GpuError> {
        let f = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        f.clone().map_or(Ok(()), Err)
    }

    /// `e`, or device loss where that is the cause behind it.
    pub fn explain(&self, e: GpuError) -> GpuError {
        // A destroyed device reports its loss from the next poll.
        let _ = self.device.poll(wgpu::PollType::Poll);
        self.check()
            .err()
            .filter(|f| matches!(f, GpuError::DeviceLost(_)))
            .unwrap_or(e)
    }

    pub fn adapter_name(&self) -> String {
        describe(&self.info)
    }

    /// The matmul variants this device can run.
    pub fn variants(&self) -> Vec<super::MatmulVariant> {
        super::MatmulVariant::ALL
            .into_iter()
            .filter(|v| v.runs_on(&self.info, self.device.features()))
            .collect()
    }

    /// Checks that one storage binding of `bytes` fits, before anything is allocated.
    pub fn check_binding(&self, what: &str, bytes: u64, fix: &str) -> Result<(), GpuError> {
        let have = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        if bytes > have {
            let limit = if have == MAX_BINDING_BYTES {
                "limit on one binding (4 GiB: offsets reach the shaders as u32)"
            } else {
                "max_storage_buffer_binding_size"
            };
            return Err(GpuError::DoesNotFit {
                what: what.into(),
                need: bytes,
                limit,
                have,
                fix: fix.into(),
            });
        }
        Ok(())
    }
}
