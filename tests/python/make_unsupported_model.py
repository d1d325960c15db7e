"""Writes a valid ONNX classifier that tract cannot run: its only node is the ai.onnx.ml
Scaler operator. For the test that such a model gets an error naming the operator.

usage: make_unsupported_model.py OUT.onnx   (prints {"path": OUT.onnx})
"""
import json
import sys

import onnx
from onnx import TensorProto, helper


def main() -> None:
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 4])
    node = helper.make_node("Scaler", ["input"], ["probabilities"], domain="ai.onnx.ml", offset=[0.0] * 4, scale=[1.0] * 4)
    graph = helper.make_graph([node], "scaler", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 3)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, sys.argv[1])
    print(json.dumps({"path": sys.argv[1]}))


if __name__ == "__main__":
    main()
