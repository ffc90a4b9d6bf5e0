//! The Rust side of every `var<immediate>` struct in shaders/, in one place: each struct
//! here has the WGSL struct of the same name as its twin, field for field, and `layouts`
//! lets a test hold the two to the same names, offsets and sizes (tests/suite/shaders.rs).

use bytemuck::{Pod, Zeroable};

/// A size or word offset as the u32 the shaders take. Every binding is checked against
/// `context::MAX_BINDING_BYTES` (4 GiB, 2^30 words) before anything is allocated, so this
/// never fails in a run; if a new path skips that check it stops here, never wraps.
pub fn word(x: usize) -> u32 {
    u32::try_from(x).unwrap_or_else(|_| {
        panic!("{x} does not fit a u32 word offset: a binding skipped Context::check_binding")
    })
}

/// One struct's layout: its WGSL name, size and fields (name, byte offset, byte size).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructLayout {
    pub wgsl: &'static str,
    pub size: usize,
    pub fields: Vec<(&'static str, usize, usize)>,
}

macro_rules! immediates {
    ($($(#[doc = $doc:literal])* struct $name:ident { $($field:ident: $ty:ty,)* })*) => {
        $(
            $(#[doc = $doc])*
            #[repr(C)]
            #[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
            pub(crate) struct $name {
                $(pub(crate) $field: $ty,)*
            }
        )*

        /// Every immediates struct's layout, as Rust lays it out.
        pub fn layouts() -> Vec<StructLayout> {
            vec![$(StructLayout {
                wgsl: stringify!($name),
                size: std::mem::size_of::<$name>(),
                fields: vec![$((
                    stringify!($field),
                    std::mem::offset_of!($name, $field),
                    std::mem::size_of::<$ty>(),
                )),*],
            }),*]
        }
    };
}

immediates! {
    /// The fused epilogue of a product or a batch norm (common.wgsl): ReLU, then dropout
    /// by the hash counter (seed, step, layer); threshold 0 skips the dropout. With
    /// per_member != 0 (and dropout on), threshold, scale and seed are the member's, from
    /// its settings (`Member`, at the end of its region of ints, `ints_ms` words apart).
    struct Epilogue {
        relu: u32,
        drop_threshold: u32,
        drop_scale: f32,
        seed: u32,
        step: u32,
        layer: u32,
        per_member: u32,
        ints_ms: u32,
    }

    /// A pack member's own settings, the last MEMBER_WORDS words of its region of the ints
    /// buffer (u32, so that no float's bits pass through a float load).
    struct Member {
        drop_threshold: u32,
        drop_scale: f32,
        seed: u32,
        kind: u32,
        lr: f32,
        momentum: f32,
        weight_decay: f32,
        pad: u32,
    }

    /// gather.wgsl
    struct Gather {
        rows: u32,
        index_off: u32,
        out_off: u32,
        label_off: u32,
        inputs: u32,
        f32_values: u32,
        wide: u32,
        columns: u32,
        divisor: f32,
        mean: f32,
        inv_std: f32,
        index_ms: u32,
        acts_ms: u32,
        ints_ms: u32,
    }

    /// linear.wgsl and linear_subgroup.wgsl
    struct Linear {
        m: u32,
        n: u32,
        k: u32,
        a_off: u32,
        a_sm: u32,
        a_sk: u32,
        b_off: u32,
        b_sk: u32,
        b_sn: u32,
        c_off: u32,
        aux_off: u32,
        a_ms: u32,
        b_ms: u32,
        c_ms: u32,
        aux_ms: u32,
        act: Epilogue,
    }

    /// batch_norm.wgsl
    struct BatchNorm {
        rows: u32,
        features: u32,
        z_off: u32,
        y_off: u32,
        gamma_off: u32,
        stats_off: u32,
        use_running: u32,
        momentum: f32,
        eps: f32,
        acts_ms: u32,
        params_ms: u32,
        state_ms: u32,
        act: Epilogue,
    }

    /// dropout.wgsl: the epilogue with ReLU off, unfused
    struct Dropout {
        n: u32,
        src_off: u32,
        dst_off: u32,
        acts_ms: u32,
        mask: Epilogue,
    }

    /// cross_entropy.wgsl
    struct CrossEntropy {
        rows: u32,
        classes: u32,
        logits_off: u32,
        out_off: u32,
        label_off: u32,
        pred_off: u32,
        slot_off: u32,
        output: u32,
        acts_ms: u32,
        ints_ms: u32,
        state_ms: u32,
    }

    /// optimizer.wgsl; with per_member != 0, kind, lr, momentum and weight decay are the
    /// member's (`Member`)
    struct Optim {
        n: u32,
        param_off: u32,
        state_off: u32,
        kind: u32,
        lr: f32,
        weight_decay: f32,
        momentum: f32,
        adam_beta1: f32,
        adam_beta2: f32,
        rmsprop_alpha: f32,
        eps: f32,
        bias_correction1: f32,
        bias_correction2_sqrt: f32,
        params_ms: u32,
        state_ms: u32,
        ints_ms: u32,
        per_member: u32,
    }
}

/// Words of a member's settings record.
pub const MEMBER_WORDS: usize = std::mem::size_of::<Member>() / 4;

/// How a dispatch covers the members of a pack: their count (the grid's z), per buffer the
/// words from one member's region to the next, and whether each member's settings come from
/// its `Member` record (a pack of several) or from the immediates (one network alone, which
/// then pays no loads for them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pack {
    pub members: u32,
    pub params: u32,
    pub acts: u32,
    pub state: u32,
    pub ints: u32,
    pub indices: u32,
    pub per_member: bool,
}

impl Pack {
    /// One network whose every tensor sits at the offsets given.
    pub const SOLO: Pack = Pack {
        members: 1,
        params: 0,
        acts: 0,
        state: 0,
        ints: 0,
        indices: 0,
        per_member: false,
    };
}

impl Epilogue {
    /// The words of `a` for the members of `pack`.
    pub(crate) fn new(a: crate::ops::Activation, pack: &Pack) -> Self {
        Epilogue {
            per_member: u32::from(pack.per_member),
            ints_ms: pack.ints,
            ..a.into()
        }
    }
}

impl From<crate::ops::Activation> for Epilogue {
    /// p = 0 and no dropout both give threshold 0, which skips the hash.
    fn from(a: crate::ops::Activation) -> Self {
        let d = a.dropout.unwrap_or(crate::ops::DropoutMask {
            p: 0.0,
            seed: 0,
            step: 0,
            layer: 0,
        });
        Epilogue {
            relu: u32::from(a.relu),
            drop_threshold: d.threshold(),
            drop_scale: d.scale(),
            seed: d.seed,
            step: d.step,
            layer: d.layer,
            per_member: 0,
            ints_ms: 0,
        }
    }
}
