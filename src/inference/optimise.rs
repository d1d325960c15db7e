//! tract's optimisation of a typed graph, with one pass made tolerant of symbolic constants.
//!
//! tract 0.23's per-node `declutter` of a binary operator compares a constant operand with the
//! operator's neutral element by casting it to f32, which fails for a constant that holds a
//! symbolic dimension ("Undetermined symbol in expression: past_sequence_length +
//! sequence_length"): Hugging Face's decoder exports multiply by `Shape(attention_mask)[1]`. The
//! whole optimisation then fails, and such a graph could only run with a plan per input shape.
//! Declutter rewrites are simplifications, so a node whose rewrite cannot be decided yet is left
//! as it is (it runs unsimplified, its symbols resolved at run time) and the pass goes on; every
//! other pass is tract's own. No crate offers this, and tract's own pass type is private.
//!
//! The same pass also looks for the tanh form of GELU (GPT-2's `gelu_new`: `0.5 x (1 + tanh(√(2/π)
//! (x + 0.044715 x³)))`) before tract's own rewrite of `Pow`: tract 0.23's `Pow` declutter turns a
//! constant exponent into its `PowConst` (a `powf` an element) and returns before calling its own
//! GELU detection, so the fused `GeluApproximate` kernel is never chosen and the prompt's run of a
//! GPT-2 spends about half its time in `x³`.
//!
//! And it moves a constant scalar factor of a matrix product from the larger operand to the
//! smaller one. Exports of scaled dot-product attention scale both the queries and the
//! transposed keys by `√(1/√d)`; with a KV cache the keys are the whole context, so that scaling
//! multiplies every cached key at every decoding step while the query is one row. tract has no
//! such rewrite.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::change_axes::wire_with_rank_broadcast;
use tract_onnx::tract_core::ops::dummy::Dummy;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::math::{Mul, Pow};
use tract_onnx::tract_core::ops::nn::gelu_approximate::detect_gelu_approx;
use tract_onnx::tract_core::optim::{Optimizer, OptimizerSession, TypedPass};

/// The per-node declutter pass, skipping nodes whose rewrite needs a symbol's value.
#[derive(Debug, Clone, Default)]
struct TolerantDeclutter {
    /// The first node the next full pass looks at (as tract's pass: a rewrite restarts there).
    from: usize,
}

/// Whether an error is tract's "needs a concrete value" (a symbol not yet known).
fn too_early(error: &TractError) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<tract_onnx::tract_core::tract_data::TooEarly>()
            .is_some()
    })
}

impl TypedPass for TolerantDeclutter {
    fn reset(&mut self) -> TractResult<()> {
        self.from = 0;
        Ok(())
    }

    fn next(
        &mut self,
        session: &mut OptimizerSession,
        model: &TypedModel,
    ) -> TractResult<Option<TypedModelPatch>> {
        for node in model.nodes.iter().skip(self.from) {
            if node.op_is::<Dummy>() {
                continue;
            }
            let patch = match declutter_node(session, model, node) {
                Ok(patch) => patch,
                Err(e) if too_early(&e) => None,
                Err(e) => return Err(e.context(format!("declutter node {node}"))),
            };
            if let Some(mut patch) = patch {
                patch.push_context(format!("declutter {node}"));
                self.from = node.id + patch.dont_apply_twice.is_some() as usize;
                return Ok(Some(patch));
            }
        }
        Ok(None)
    }
}

/// One node's declutter rewrite: GELU's fusion for a `Pow` that starts one, else tract's own.
fn declutter_node(
    session: &mut OptimizerSession,
    model: &TypedModel,
    node: &TypedNode,
) -> TractResult<Option<TypedModelPatch>> {
    if let Some(pow) = node
        .op_as::<TypedBinOp>()
        .and_then(|op| op.0.downcast_ref::<Pow>())
    {
        if let Some(patch) = detect_gelu_approx(pow, model, node)? {
            return Ok(Some(patch));
        }
    }
    if let Some(patch) = scale_the_smaller_operand(model, node)? {
        return Ok(Some(patch));
    }
    node.op.declutter_with_session(session, model, node)
}

/// For a two-operand float `EinSum` one of whose operands is `Mul(x, c)` (`c` a constant of
/// one element, the product read by nothing else): the product rewired as the `EinSum` of `x`
/// and the other operand times `c`, when the other operand is provably no larger (and not the
/// same size). A product is linear in each operand, so the result is the same up to rounding.
/// `c` must broadcast into both operands without changing their shapes (no higher rank, the
/// same type), so the `EinSum`'s axes still fit.
fn scale_the_smaller_operand(
    model: &TypedModel,
    node: &TypedNode,
) -> TractResult<Option<TypedModelPatch>> {
    let Some(einsum) = node.op_as::<EinSum>() else {
        return Ok(None);
    };
    if einsum.q_params.is_some() || node.inputs.len() != 2 {
        return Ok(None);
    }
    for (scaled, other) in [(0, 1), (1, 0)] {
        let producer = model.node(node.inputs[scaled].node);
        let Some(binary) = producer.op_as::<TypedBinOp>() else {
            continue;
        };
        if !binary.0.is::<Mul>()
            || producer.outputs.len() != 1
            || producer.outputs[0].successors.len() != 1
            || model.output_outlets()?.contains(&node.inputs[scaled])
        {
            continue;
        }
        let facts = model.node_input_facts(producer.id)?;
        let other_fact = model.outlet_fact(node.inputs[other])?;
        let Some(factor) = (0..2).find(|&i| {
            let c = facts[i];
            c.datum_type.is_float()
                && c.konst.as_ref().is_some_and(|k| k.len() == 1)
                && facts[1 - i].konst.is_none()
                && c.rank() <= facts[1 - i].rank()
                && c.rank() <= other_fact.rank()
                && c.datum_type == other_fact.datum_type
        }) else {
            continue;
        };
        let scaled_volume = model.outlet_fact(node.inputs[scaled])?.shape.volume();
        let other_volume = other_fact.shape.volume();
        let larger_by = (scaled_volume - other_volume).simplify();
        // zero excluded: two operands of one size would trade the factor back and forth
        if larger_by == TDim::Val(0) || !surely_not_negative(&larger_by) {
            continue;
        }
        let mut patch = TypedModelPatch::new(format!("scale the smaller operand of {node}"));
        let x = patch.tap_model(model, producer.inputs[1 - factor])?;
        let c = patch.tap_model(model, producer.inputs[factor])?;
        let smaller = patch.tap_model(model, node.inputs[other])?;
        let rescaled = wire_with_rank_broadcast(
            format!("{}.scaled", producer.name),
            &mut patch,
            binary.clone(),
            &[smaller, c],
        )?[0];
        let mut operands = [x, x];
        operands[other] = rescaled;
        let out = patch.wire_node(&node.name, einsum.clone(), &operands)?;
        patch.shunt_outside(model, node.id.into(), out[0])?;
        return Ok(Some(patch));
    }
    Ok(None)
}

/// Whether a dimension expression is a sum of products of dimensions with non-negative
/// coefficients (so never negative, dimensions being sizes). tract's own proof needs the
/// symbols' bounds declared as assertions, which a loaded model does not have.
fn surely_not_negative(dim: &TDim) -> bool {
    match dim {
        TDim::Val(v) => *v >= 0,
        TDim::Sym(_) => true,
        TDim::Add(terms) | TDim::Mul(terms) => terms.iter().all(surely_not_negative),
        TDim::MulInt(k, term) => *k >= 0 && surely_not_negative(term),
        _ => false,
    }
}

/// `optimizer` with its per-node declutter pass (tract names it `declutter`) replaced.
fn tolerant(mut optimizer: Optimizer) -> Optimizer {
    for pass in optimizer.passes.iter_mut() {
        if format!("{pass:?}") == "declutter" {
            *pass = Box::<TolerantDeclutter>::default();
        }
    }
    optimizer
}

/// As tract's `TypedModel::into_optimized`: declutter, then codegen.
pub(super) fn optimised(mut model: TypedModel) -> TractResult<TypedModel> {
    tolerant(Optimizer::declutter())
        .session()
        .optimize(&mut model)?;
    model.optimize_with_session(&mut tolerant(Optimizer::codegen()).session())?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::ops::math::{add, mul, pow, tanh};

    /// GPT-2's `gelu_new` as its ONNX export spells it, on a [2, 4] input.
    fn gelu_new_graph() -> TractResult<TypedModel> {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([2, 4]))?;
        let mut konst = |name: &str, v: f32| model.add_const(name, tensor2(&[[v]]));
        let (three, coef, scale, one, half) = (
            konst("three", 3.0)?,
            konst("coef", 0.044715)?,
            konst("scale", (2.0 / std::f32::consts::PI).sqrt())?,
            konst("one", 1.0)?,
            konst("half", 0.5)?,
        );
        let cube = model.wire_node("pow", pow(), &[x, three])?[0];
        let small = model.wire_node("mul_coef", mul(), &[cube, coef])?[0];
        let inner = model.wire_node("add_x", add(), &[x, small])?[0];
        let scaled = model.wire_node("mul_scale", mul(), &[inner, scale])?[0];
        let t = model.wire_node("tanh", tanh(), &[scaled])?[0];
        let t1 = model.wire_node("add_one", add(), &[t, one])?[0];
        let xt = model.wire_node("mul_x", mul(), &[x, t1])?[0];
        let out = model.wire_node("mul_half", mul(), &[xt, half])?[0];
        model.select_output_outlets(&[out])?;
        Ok(model)
    }

    #[test]
    fn gelu_new_becomes_one_fused_operator_with_the_same_values() -> TractResult<()> {
        let optimised = optimised(gelu_new_graph()?)?;
        let ops: Vec<String> = optimised
            .nodes
            .iter()
            .map(|n| n.op.name().to_string())
            .collect();
        assert!(
            ops.iter().any(|op| op.contains("GeluApproximate")),
            "{ops:?}"
        );
        assert!(!ops.iter().any(|op| op.contains("Pow")), "{ops:?}");

        let xs = [-3.0f32, -1.0, -0.25, 0.0, 0.1, 0.7, 2.0, 5.0];
        let input = tensor1(&xs).into_shape(&[2, 4])?;
        let plan = optimised.into_runnable()?;
        let out = plan.run(tvec!(input.into_tvalue()))?;
        let got: Vec<f32> = out[0]
            .to_plain_array_view::<f32>()?
            .iter()
            .copied()
            .collect();
        for (x, y) in xs.iter().map(|&x| x as f64).zip(&got) {
            let want = 0.5
                * x
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh());
            assert!(
                (want - *y as f64).abs() < 1e-5,
                "gelu({x}) = {y}, want {want}"
            );
        }
        Ok(())
    }

    /// `q · (kᵀ × c)` with a one-row query and a five-column key matrix.
    fn scaled_keys_graph() -> TractResult<TypedModel> {
        let mut model = TypedModel::default();
        let q = model.add_source("q", f32::fact([1, 8]))?;
        let kt = model.add_source("kt", f32::fact([8, 5]))?;
        let c = model.add_const("c", tensor2(&[[0.25f32]]))?;
        let scaled = model.wire_node("scale_keys", mul(), &[kt, c])?[0];
        let axes: tract_onnx::tract_core::axes::AxesMapping = "mk,kn->mn".parse()?;
        let einsum = EinSum::new(axes, f32::datum_type());
        let out = model.wire_node("scores", einsum, &[q, scaled])?[0];
        model.select_output_outlets(&[out])?;
        Ok(model)
    }

    #[test]
    fn a_scalar_factor_moves_to_the_smaller_operand_of_a_product() -> TractResult<()> {
        let mut decluttered = scaled_keys_graph()?;
        tolerant(Optimizer::declutter())
            .session()
            .optimize(&mut decluttered)?;
        let muls: Vec<&TypedNode> = decluttered
            .nodes
            .iter()
            .filter(|n| n.op_as::<TypedBinOp>().is_some_and(|b| b.0.is::<Mul>()))
            .collect();
        assert_eq!(muls.len(), 1, "{decluttered}");
        let scaled = decluttered.node(muls[0].inputs[0].node);
        assert_eq!(
            scaled.name, "q",
            "the factor applies to the query: {decluttered}"
        );

        let q: Vec<f32> = (0..8).map(|i| i as f32 - 3.5).collect();
        let kt: Vec<f32> = (0..40).map(|i| (i as f32 * 0.37).sin()).collect();
        let inputs = || -> TractResult<TVec<TValue>> {
            Ok(tvec!(
                tensor1(&q).into_shape(&[1, 8])?.into_tvalue(),
                tensor1(&kt).into_shape(&[8, 5])?.into_tvalue()
            ))
        };
        let got = optimised(scaled_keys_graph()?)?
            .into_runnable()?
            .run(inputs()?)?;
        let got: Vec<f32> = got[0]
            .to_plain_array_view::<f32>()?
            .iter()
            .copied()
            .collect();
        for (n, value) in got.iter().enumerate() {
            let want: f32 = (0..8).map(|k| q[k] * kt[k * 5 + n] * 0.25).sum();
            assert!(
                (want - value).abs() < 1e-5,
                "column {n}: {value}, want {want}"
            );
        }
        Ok(())
    }

    #[test]
    fn a_factor_of_higher_rank_than_the_other_operand_stays_where_it_is() -> TractResult<()> {
        let mut model = TypedModel::default();
        let q = model.add_source("q", f32::fact([8]))?;
        let kt = model.add_source("kt", f32::fact([8, 5]))?;
        let c = model.add_const("c", tensor2(&[[0.25f32]]))?;
        let scaled = model.wire_node("scale_keys", mul(), &[kt, c])?[0];
        let axes: tract_onnx::tract_core::axes::AxesMapping = "k,kn->n".parse()?;
        let out = model.wire_node("scores", EinSum::new(axes, f32::datum_type()), &[q, scaled])?;
        model.select_output_outlets(&out)?;
        let q: Vec<f32> = (0..8).map(|i| i as f32 - 3.5).collect();
        let kt: Vec<f32> = (0..40).map(|i| (i as f32 * 0.37).sin()).collect();
        let got = optimised(model)?.into_runnable()?.run(tvec!(
            tensor1(&q).into_tvalue(),
            tensor1(&kt).into_shape(&[8, 5])?.into_tvalue()
        ))?;
        let got: Vec<f32> = got[0]
            .to_plain_array_view::<f32>()?
            .iter()
            .copied()
            .collect();
        for (n, value) in got.iter().enumerate() {
            let want: f32 = (0..8).map(|k| q[k] * kt[k * 5 + n] * 0.25).sum();
            assert!(
                (want - value).abs() < 1e-5,
                "column {n}: {value}, want {want}"
            );
        }
        Ok(())
    }
}
