"""Checks an ONNX file with onnx.checker (full_check) and runs it with onnxruntime.

usage: onnx_reference.py MODEL.onnx INPUTS.json
INPUTS.json is {"inputs": [[...], ...]}. Prints JSON: the graph's interface, metadata and
onnxruntime's outputs for the rows, for the Rust tests to compare with maas.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main() -> None:
    model_path, inputs_path = sys.argv[1], sys.argv[2]
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    with open(inputs_path) as f:
        rows = np.asarray(json.load(f)["inputs"], dtype=np.float32)
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    outputs = session.run(None, {inp.name: rows})

    def shape(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    print(json.dumps({
        "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "inputs": [{"name": i.name, "elem_type": i.type.tensor_type.elem_type, "shape": shape(i)}
                   for i in model.graph.input],
        "outputs": [{"name": o.name, "elem_type": o.type.tensor_type.elem_type, "shape": shape(o)}
                    for o in model.graph.output],
        "metadata": {p.key: p.value for p in model.metadata_props},
        "results": {o.name: outputs[k].tolist() for k, o in enumerate(session.get_outputs())},
    }))


if __name__ == "__main__":
    main()
