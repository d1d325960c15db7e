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

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::dummy::Dummy;
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
            let patch = match node.op.declutter_with_session(session, model, node) {
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
