//! The Rust side of every `var<immediate>` struct in shaders/, in one place: each struct
//! here has the WGSL struct of the same name as its twin, field for field, and `layouts`
//! lets a test hold the two to the same names, offsets and sizes (tests/suite/shaders.rs).

use bytemuck::{Pod, Zeroable};

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
    /// by the hash counter (seed, step, layer); threshold 0 skips the dropout.
    struct Epilogue {
        relu: u32,
        drop_threshold: u32,
        drop_scale: f32,
        seed: u32,
        step: u32,
        layer: u32,
    }

    /// gather.wgsl
    struct Gather {
        rows: u32,
        index_off: u32,
        out_off: u32,
        label_off: u32,
        mean: f32,
        inv_std: f32,
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
        act: Epilogue,
    }

    /// dropout.wgsl: the epilogue with ReLU off, unfused
    struct Dropout {
        n: u32,
        src_off: u32,
        dst_off: u32,
        mask: Epilogue,
    }

    /// cross_entropy.wgsl
    struct CrossEntropy {
        rows: u32,
        classes: u32,
        logits_off: u32,
        grad_off: u32,
        label_off: u32,
        pred_off: u32,
        slot_off: u32,
        write_grad: u32,
    }

    /// optimizer.wgsl
    struct Optim {
        n: u32,
        param_off: u32,
        state_off: u32,
        lr: f32,
        weight_decay: f32,
        momentum: f32,
        beta1: f32,
        beta2: f32,
        eps: f32,
        bias_correction1: f32,
        bias_correction2_sqrt: f32,
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
        }
    }
}
