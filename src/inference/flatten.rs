//! ONNX `Flatten` for tract with any number of symbolic dimensions.
//!
//! tract-hir's Flatten refuses an input with more than one symbolic dimension ("Can not compute a
//! shape with square of symbols"), although its shape is a plain product that tract's `TDim`
//! holds. Hugging Face's GPT-2 export flattens the attention mask, `[batch_size,
//! past_sequence_length + sequence_length]`, so with tract's op the graph types only with
//! concrete shapes: a plan per sequence length. This is the same operator without that check,
//! registered in place of tract's (no crate offers it; the rest is tract's own machinery).

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::expandable::{expand, Expansion};

/// `Flatten(axis)`: `[d0, …, dn]` to `[d0 × … × d(axis-1), d(axis) × … × dn]`.
#[derive(Debug, Clone, Default, Hash, PartialEq, Eq)]
pub(super) struct Flatten {
    axis: i64,
}

impl Flatten {
    fn compute_shape(&self, shape: &[TDim]) -> TractResult<[TDim; 2]> {
        let rank = shape.len() as i64;
        let axis = if self.axis >= 0 {
            self.axis
        } else {
            self.axis + rank
        };
        if !(0..=rank).contains(&axis) {
            bail!("Flatten: axis {} is outside a rank {rank} input", self.axis);
        }
        let (head, tail) = shape.split_at(axis as usize);
        Ok([
            head.iter().cloned().product::<TDim>(),
            tail.iter().cloned().product::<TDim>(),
        ])
    }
}

impl Expansion for Flatten {
    fn name(&self) -> StaticName {
        "Flatten".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.given(&inputs[0].shape, move |s, shape| {
            let [head, tail] = self.compute_shape(&shape)?;
            s.equals(&outputs[0].shape, ShapeFactoid::from(vec![head, tail]))
        })
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let input_shape = model.outlet_fact(inputs[0])?.shape.to_tvec();
        let output_shape = self.compute_shape(&input_shape)?;
        let mut wire = tvec!(inputs[0]);
        for (ix, op) in
            tract_onnx::tract_hir::tract_core::ops::change_axes::to_axis_ops_with_tf_rules(
                &input_shape,
                &output_shape,
            )?
            .into_iter()
            .enumerate()
        {
            wire = model.wire_node(format!("{prefix}.{ix}"), op, &wire)?;
        }
        Ok(wire)
    }
}

/// The ONNX node's builder, as tract's operator register takes it.
pub(super) fn flatten(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let axis: i64 = node.get_attr_opt("axis")?.unwrap_or(1);
    Ok((expand(Flatten { axis }), vec![]))
}

/// tract's ONNX reader with maas' operators in place of tract's.
pub(super) fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    onnx.op_register.insert("Flatten", flatten);
    onnx
}
