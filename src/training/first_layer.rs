//! The first layer's product `x · W` as a candle op whose backward pass computes W's gradient
//! only.
//!
//! candle's `matmul` always back-propagates into both operands; for the first layer that is the
//! gradient of the input rows, which training never uses and which costs as much as the
//! forward product (a third of each step's arithmetic for the reference model). The product
//! itself goes through `gemm`, the same GEMM crate candle's CPU matmul calls.

use candle_core::{bail, CpuStorage, CustomOp2, Layout, Shape, Tensor};

/// `x · W` for a batch `x` `[rows, inputs]` and weights `W` `[inputs, outputs]`, both
/// contiguous: `x.apply_op2(&w, InputProduct)`.
pub struct InputProduct;

/// The contiguous float32 values of an operand.
fn values<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    what: &str,
) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(values) = storage else {
        bail!("the first layer's {what} must be float32")
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&values[start..end]),
        None => bail!("the first layer's {what} must be contiguous"),
    }
}

impl CustomOp2 for InputProduct {
    fn name(&self) -> &'static str {
        "input-product"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        weights: &CpuStorage,
        weights_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, inputs) = x_layout.shape().dims2()?;
        let (weight_rows, outputs) = weights_layout.shape().dims2()?;
        if inputs != weight_rows {
            bail!("{inputs} input columns against {weight_rows} weight rows")
        }
        let x = values(x, x_layout, "inputs")?;
        let weights = values(weights, weights_layout, "weights")?;
        let mut product = vec![0f32; rows * outputs];
        let threads = candle_core::utils::get_num_threads();
        let parallelism = if threads > 1 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        // SAFETY: the buffers are live for the call, row-major and sized rows×outputs,
        // rows×inputs and inputs×outputs (checked above); product is only written
        // (read_dst = false).
        unsafe {
            gemm::gemm(
                rows,
                outputs,
                inputs,
                product.as_mut_ptr(),
                1,
                outputs as isize,
                false,
                x.as_ptr(),
                1,
                inputs as isize,
                weights.as_ptr(),
                1,
                outputs as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
        Ok((CpuStorage::F32(product), Shape::from((rows, outputs))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        _weights: &Tensor,
        _product: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((None, Some(x.t()?.matmul(grad)?)))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use super::InputProduct;

    /// Same product and same weight gradient as candle's matmul.
    #[test]
    fn agrees_with_matmul_forward_and_backward() -> candle_core::Result<()> {
        let device = Device::Cpu;
        let x_rows: Vec<f32> = (0..7 * 30)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 40.0)
            .collect();
        let x = Tensor::from_slice(&x_rows, (7, 30), &device)?;
        let w = Var::from_vec(
            (0..30 * 11)
                .map(|i| ((i * 13 % 29) as f32 - 14.0) / 20.0)
                .collect::<Vec<f32>>(),
            (30, 11),
            &device,
        )?;
        let ours = x.apply_op2(w.as_tensor(), InputProduct)?;
        let theirs = x.matmul(w.as_tensor())?;
        let difference = (&ours - &theirs)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(difference < 1e-5, "forward differs by {difference}");
        let our_grad = ours.sqr()?.sum_all()?.backward()?;
        let their_grad = theirs.sqr()?.sum_all()?.backward()?;
        let (ours, theirs) = (
            our_grad.get(&w).expect("grad"),
            their_grad.get(&w).expect("grad"),
        );
        let difference = (ours - theirs)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(difference < 1e-4, "gradient differs by {difference}");
        Ok(())
    }
}
