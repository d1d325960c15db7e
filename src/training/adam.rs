//! Adam with each parameter's update fused into one pass over its memory, the L1/L2 penalty's
//! gradient folded in.
//!
//! Hand-written because candle has no fused optimiser: `candle_nn::AdamW` builds about a dozen
//! temporary tensors per parameter per step (each as large as the parameter), which cost the
//! reference model more time than its matrix products. The arithmetic is Adam's (Kingma & Ba,
//! with bias correction), the same as `candle_nn::AdamW` without weight decay.

use std::cell::RefCell;

use candle_core::backprop::GradStore;
use candle_core::{bail, CpuStorage, InplaceOp2, Layout, Tensor, Var};

/// Moments below this many values are updated on one thread; above it the update is split over
/// the cores (it is bound by memory bandwidth, and small layers are not worth a thread).
const PARALLEL_VALUES: usize = 1 << 16;

/// One parameter with its moments and the penalty its gradient carries.
struct Parameter {
    var: Var,
    first_moment: RefCell<Vec<f32>>,
    second_moment: RefCell<Vec<f32>>,
    l1: f32,
    l2: f32,
}

/// Adam over a fixed list of parameters.
pub struct Adam {
    parameters: Vec<Parameter>,
    learning_rate: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    steps: i32,
}

impl Adam {
    /// `parameters` are `(variable, l1, l2)`: the penalty `l1·Σ|w| + l2·Σw²` is added to the
    /// loss of each (zero for biases).
    pub fn new(parameters: Vec<(Var, f64, f64)>, learning_rate: f64) -> Self {
        let parameters = parameters
            .into_iter()
            .map(|(var, l1, l2)| {
                let n = var.elem_count();
                Parameter {
                    var,
                    first_moment: RefCell::new(vec![0.0; n]),
                    second_moment: RefCell::new(vec![0.0; n]),
                    l1: l1 as f32,
                    l2: l2 as f32,
                }
            })
            .collect();
        Adam {
            parameters,
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            steps: 0,
        }
    }

    pub fn set_learning_rate(&mut self, learning_rate: f64) {
        self.learning_rate = learning_rate;
    }

    /// Back-propagates `loss` and updates every parameter in place.
    pub fn backward_step(&mut self, loss: &Tensor) -> candle_core::Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        self.steps = self.steps.saturating_add(1);
        let coefficients = Coefficients {
            learning_rate: self.learning_rate as f32,
            beta1: self.beta1 as f32,
            beta2: self.beta2 as f32,
            eps: self.eps as f32,
            scale_m: (1.0 / (1.0 - self.beta1.powi(self.steps))) as f32,
            scale_v: (1.0 / (1.0 - self.beta2.powi(self.steps))) as f32,
            l1: 0.0,
            l2: 0.0,
        };
        for parameter in &self.parameters {
            let Some(grad) = grads.get(&parameter.var) else {
                continue;
            };
            let update = Update {
                parameter,
                coefficients: Coefficients {
                    l1: parameter.l1,
                    l2: parameter.l2,
                    ..coefficients
                },
            };
            parameter.var.inplace_op2(grad, &update)?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Coefficients {
    learning_rate: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    scale_m: f32,
    scale_v: f32,
    l1: f32,
    l2: f32,
}

impl Coefficients {
    /// Updates a stretch of weights, their moments and gradient in one pass.
    fn apply(&self, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has the features the function is compiled for (checked above)
            unsafe { self.apply_avx2(w, g, m, v) };
            return;
        }
        self.apply_portable(w, g, m, v);
    }

    /// The same loop compiled for AVX2 + FMA (8 lanes instead of SSE2's 4), chosen at run time.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn apply_avx2(&self, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        self.apply_portable(w, g, m, v);
    }

    #[inline(always)]
    fn apply_portable(&self, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        let c = *self;
        let step = |w: &mut f32, g: f32, m: &mut f32, v: &mut f32| {
            *m = c.beta1 * *m + (1.0 - c.beta1) * g;
            *v = c.beta2 * *v + (1.0 - c.beta2) * g * g;
            *w -= c.learning_rate * (*m * c.scale_m) / ((*v * c.scale_v).sqrt() + c.eps);
        };
        let all = w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut());
        if c.l1 == 0.0 && c.l2 == 0.0 {
            // no branch in the loop: this is the path that vectorises
            all.for_each(|(((w, &g), m), v)| step(w, g, m, v));
            return;
        }
        for (((w, &g), m), v) in all {
            let sign = if *w > 0.0 {
                1.0
            } else if *w < 0.0 {
                -1.0
            } else {
                0.0
            };
            let g = g + c.l1 * sign + 2.0 * c.l2 * *w;
            step(w, g, m, v);
        }
    }
}

/// The in-place op candle runs on a parameter's storage with its gradient beside it.
struct Update<'a> {
    parameter: &'a Parameter,
    coefficients: Coefficients,
}

impl InplaceOp2 for Update<'_> {
    fn name(&self) -> &'static str {
        "fused-adam"
    }

    fn cpu_fwd(
        &self,
        weights: &mut CpuStorage,
        weights_layout: &Layout,
        grad: &CpuStorage,
        grad_layout: &Layout,
    ) -> candle_core::Result<()> {
        let (CpuStorage::F32(weights), CpuStorage::F32(grad)) = (weights, grad) else {
            bail!("fused Adam updates float32 parameters only")
        };
        let (Some((w0, w1)), Some((g0, g1))) = (
            weights_layout.contiguous_offsets(),
            grad_layout.contiguous_offsets(),
        ) else {
            bail!("fused Adam needs contiguous parameters and gradients")
        };
        let (w, g) = (&mut weights[w0..w1], &grad[g0..g1]);
        let mut m = self.parameter.first_moment.borrow_mut();
        let mut v = self.parameter.second_moment.borrow_mut();
        if w.len() != g.len() || w.len() != m.len() || w.len() != v.len() {
            bail!("fused Adam: parameter, gradient and moments differ in size")
        }
        let threads = candle_core::utils::get_num_threads().max(1);
        if threads == 1 || w.len() < PARALLEL_VALUES {
            self.coefficients.apply(w, g, &mut m, &mut v);
            return Ok(());
        }
        let chunk = w.len().div_ceil(threads);
        let coefficients = self.coefficients;
        std::thread::scope(|scope| {
            for (((w, g), m), v) in w
                .chunks_mut(chunk)
                .zip(g.chunks(chunk))
                .zip(m.chunks_mut(chunk))
                .zip(v.chunks_mut(chunk))
            {
                scope.spawn(move || coefficients.apply(w, g, m, v));
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};
    use candle_nn::{AdamW, Optimizer, ParamsAdamW};

    use super::Adam;

    fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max)
    }

    /// Several steps on the same losses give the same weights as candle's own (unfused) Adam.
    #[test]
    fn matches_candle_adam() -> candle_core::Result<()> {
        let device = Device::Cpu;
        let start: Vec<f32> = (0..200_000)
            .map(|i| ((i % 97) as f32 - 48.0) / 50.0)
            .collect();
        let target = Tensor::from_vec(
            (0..200_000)
                .map(|i| (i % 13) as f32 / 7.0)
                .collect::<Vec<f32>>(),
            200_000,
            &device,
        )?;
        let ours = Var::from_slice(&start, 200_000, &device)?;
        let theirs = Var::from_slice(&start, 200_000, &device)?;
        let mut fused = Adam::new(vec![(ours.clone(), 0.0, 0.0)], 0.01);
        let mut reference = AdamW::new(
            vec![theirs.clone()],
            ParamsAdamW {
                lr: 0.01,
                weight_decay: 0.0,
                ..Default::default()
            },
        )?;
        for _ in 0..5 {
            fused.backward_step(&(ours.as_tensor() - &target)?.sqr()?.sum_all()?)?;
            reference.backward_step(&(theirs.as_tensor() - &target)?.sqr()?.sum_all()?)?;
        }
        let (ours, theirs): (Vec<f32>, Vec<f32>) = (ours.to_vec1()?, theirs.to_vec1()?);
        let worst = largest_difference(&ours, &theirs);
        assert!(worst < 1e-5, "largest difference {worst}");
        assert_ne!(ours, start, "the weights moved");
        Ok(())
    }

    /// The folded L2 gradient equals the autodiff gradient of `l2·Σw²` added to the loss.
    #[test]
    fn folded_penalty_matches_the_penalised_loss() -> candle_core::Result<()> {
        let device = Device::Cpu;
        let start: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 300.0).collect();
        let ours = Var::from_slice(&start, 1000, &device)?;
        let theirs = Var::from_slice(&start, 1000, &device)?;
        let mut folded = Adam::new(vec![(ours.clone(), 0.0, 0.3)], 0.01);
        let mut explicit = Adam::new(vec![(theirs.clone(), 0.0, 0.0)], 0.01);
        for _ in 0..3 {
            folded.backward_step(&ours.as_tensor().sum_all()?)?;
            let penalty = (theirs.as_tensor().sqr()?.sum_all()? * 0.3)?;
            explicit.backward_step(&(theirs.as_tensor().sum_all()? + penalty)?)?;
        }
        let (ours, theirs): (Vec<f32>, Vec<f32>) = (ours.to_vec1()?, theirs.to_vec1()?);
        let worst = largest_difference(&ours, &theirs);
        assert!(worst < 1e-6, "largest difference {worst}");
        Ok(())
    }
}
