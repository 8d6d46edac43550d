//! The CPU batch gather in one pass (`csrc/gather.cpp`): crop, flip and normalise a mini-batch
//! from the padded uint8 training set straight into channels-last float memory. The tensor
//! version in `augment` does the same in five passes; on CUDA that one stays.

use anyhow::{anyhow, Result};
use std::os::raw::{c_char, c_int};
use tch::Tensor;
use torch_sys::C_tensor;

extern "C" {
    #[allow(clippy::too_many_arguments)]
    fn clr_gather_normalize(
        padded: *const C_tensor,
        index: *const C_tensor,
        dx: *const C_tensor,
        dy: *const C_tensor,
        flip: *const C_tensor,
        size: i64,
        mean: *const f32,
        inv_std: *const f32,
        out: *mut *mut C_tensor,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
}

/// The crop of a batch: its side and the normalisation of its pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crop {
    pub size: i64,
    pub mean: [f64; 3],
    pub std: [f64; 3],
}

/// Images `index[b]` of `padded` (N×3×H×W uint8 on the CPU) cropped S×S (`crop.size`) at
/// (`dy[b]`, `dx[b]`), mirrored where `flip[b]`, normalised with the crop's mean and std: a
/// B×3×S×S float tensor with NHWC strides, equal to `(crop_flip(..).float() - mean) / std` bit
/// for bit.
pub fn gather_normalize(
    padded: &Tensor,
    index: &Tensor,
    dx: &Tensor,
    dy: &Tensor,
    flip: &Tensor,
    crop: Crop,
) -> Result<Tensor> {
    let Crop { size, mean, std } = crop;
    // The same float values as the tensor path's shift and scale (f64 rounded to f32).
    let mean = mean.map(|m| m as f32);
    let inv_std = std.map(|s| (1.0 / s) as f32);
    let mut out: *mut C_tensor = std::ptr::null_mut();
    // SAFETY: the tensors outlive the call; the shim checks shapes, kinds and ranges, catches
    // every exception (csrc/guarded.h), and on success hands over a new at::Tensor that tch then
    // owns (and frees).
    crate::ffi::call(|err, len| unsafe {
        clr_gather_normalize(
            padded.as_ptr(),
            index.as_ptr(),
            dx.as_ptr(),
            dy.as_ptr(),
            flip.as_ptr(),
            size,
            mean.as_ptr(),
            inv_std.as_ptr(),
            &mut out,
            err,
            len,
        )
    })
    .map_err(|(_, message)| anyhow!("batch gather: {message}"))?;
    // SAFETY: a fresh at::Tensor allocated by the shim for us.
    Ok(unsafe { Tensor::from_ptr(out) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::augment::{crop_flip, EpochPlan};
    use crate::data::cifar::RawSplit;
    use crate::data::Data;
    use tch::{Device, Kind};

    fn crop32() -> Crop {
        Crop { size: 32, mean: [0.0; 3], std: [1.0; 3] }
    }

    /// The one-pass gather equals the tensor path's crop, flip and normalisation, bit for bit.
    fn assert_equal_to_tensor_path(train: &RawSplit, test: &RawSplit) {
        let data = Data::from_raw(train, test, 10, Device::Cpu, "test".into());
        let crop = Crop { size: data.image_size, mean: data.mean, std: data.std };
        for (epoch, augment) in [(0, true), (1, true), (2, false)] {
            let plan = EpochPlan::new(train.len(), 9, epoch, augment, data.pad, Device::Cpu);
            let index = plan.order.narrow(0, 10, 17);
            let (dx, dy, flip) =
                (plan.dx.index_select(0, &index), plan.dy.index_select(0, &index), plan.flip.index_select(0, &index));
            let want = data.normalize(&crop_flip(&data.train.images, &index, &dx, &dy, &flip, data.image_size));
            let got = gather_normalize(&data.train.images, &index, &dx, &dy, &flip, crop).unwrap();
            assert_eq!(got.kind(), Kind::Float);
            assert_eq!(got.size(), [17, 3, data.image_size, data.image_size]);
            assert!(crate::model::layout::is_channels_last(&got), "NHWC strides: {:?}", got.stride());
            assert!(got.equal(&want), "size {} epoch {epoch}", data.image_size);
        }
    }

    #[test]
    fn equals_the_tensor_gather_bit_for_bit_in_channels_last() {
        let _rng = crate::rng_lock();
        let (train, test) = crate::data::synthetic::synthetic(50, 5, 3);
        assert_equal_to_tensor_path(&train, &test);
    }

    #[test]
    fn other_image_sizes_gather_alike() {
        let _rng = crate::rng_lock();
        for size in [28, 64] {
            let (train, test) = crate::data::synthetic::learnable_sized(50, 5, 10, size, 3);
            assert_equal_to_tensor_path(&train, &test);
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_crash() {
        let padded = Tensor::zeros([2, 3, 40, 40], (Kind::Uint8, Device::Cpu));
        let offsets = Tensor::from_slice(&[0i64, 8]);
        let flip = Tensor::from_slice(&[false, true]);
        let ok = gather_normalize(&padded, &Tensor::from_slice(&[1i64, 0]), &offsets, &offsets, &flip, crop32());
        assert_eq!(ok.unwrap().size(), [2, 3, 32, 32]);
        let err = gather_normalize(&padded, &Tensor::from_slice(&[2i64, 0]), &offsets, &offsets, &flip, crop32());
        assert!(err.unwrap_err().to_string().contains("image index out of range"));
        let far = Tensor::from_slice(&[0i64, 9]);
        let err = gather_normalize(&padded, &Tensor::from_slice(&[1i64, 0]), &far, &offsets, &flip, crop32());
        assert!(err.unwrap_err().to_string().contains("crop outside"));
        let floats = Tensor::zeros([2, 3, 40, 40], (Kind::Float, Device::Cpu));
        let err = gather_normalize(&floats, &Tensor::from_slice(&[1i64, 0]), &offsets, &offsets, &flip, crop32());
        assert!(err.unwrap_err().to_string().contains("uint8"));
        let big = Crop { size: 41, ..crop32() };
        let err = gather_normalize(&padded, &Tensor::from_slice(&[1i64, 0]), &offsets, &offsets, &flip, big);
        assert!(err.unwrap_err().to_string().contains("smaller than the crop"));
    }
}
