"""Third-party-style ONNX models for the any-model tests, built with the `onnx` package, and
onnxruntime's answers for a fixed request to each: the fixtures under onnx/tensor/.

usage: python3 tests/python/make_tensor_models.py [OUT_DIR]   (default: onnx/tensor)
       python3 tests/python/make_tensor_models.py --keras [OUT_DIR]
         (the Keras 3 NHWC convnet, exported with model.export(format="onnx"); needs
         tensorflow-cpu and tf2onnx, e.g. in a venv of its own)

Each model NAME gets NAME.onnx and NAME.case.json:
{"inputs": {input: {"datatype", "shape", "data"}}, "outputs": {output: {"datatype", "shape", "data"}}}
with the data flat and row-major, as KServe V2 sends it. Weights and inputs come from a fixed
seed, so the files are the same on every run.
"""
import json
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parents[2]
OPSET = [helper.make_opsetid("", 13)]
DATATYPES = {
    np.dtype("bool"): "BOOL", np.dtype("uint8"): "UINT8", np.dtype("int8"): "INT8",
    np.dtype("int16"): "INT16", np.dtype("int32"): "INT32", np.dtype("int64"): "INT64",
    np.dtype("float16"): "FP16", np.dtype("float32"): "FP32", np.dtype("float64"): "FP64",
}


def tensor(value):
    return {"datatype": DATATYPES[value.dtype], "shape": list(value.shape),
            "data": value.reshape(-1).tolist()}


def model(name, nodes, inputs, outputs, initializers, doc):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    m = helper.make_model(graph, opset_imports=OPSET, producer_name="maas-tests", doc_string=doc)
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def init(name, array):
    return numpy_helper.from_array(array, name)


def convnet_nchw(rng):
    """An image classifier as PyTorch exports them: NCHW input, Conv, Relu, pooling, Gemm, Softmax."""
    w = rng.normal(0, 0.5, (4, 3, 3, 3)).astype(np.float32)
    b = rng.normal(0, 0.1, (4,)).astype(np.float32)
    fc = rng.normal(0, 0.5, (3, 4)).astype(np.float32)
    fcb = rng.normal(0, 0.1, (3,)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["image", "conv.w", "conv.b"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    m = model("convnet_nchw", nodes,
              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 8, 8])],
              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])],
              [init("conv.w", w), init("conv.b", b), init("fc.w", fc), init("fc.b", fcb)],
              "3-class convnet on 3x8x8 NCHW images")
    return m, {"image": rng.normal(0, 1, (2, 3, 8, 8)).astype(np.float32)}


def two_inputs(rng):
    """Numeric features and int64 category ids through an embedding (Gather), concatenated."""
    table = rng.normal(0, 1, (10, 3)).astype(np.float32)
    w = rng.normal(0, 0.5, (10, 2)).astype(np.float32)
    b = rng.normal(0, 0.1, (2,)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["embedding", "ids"], ["embedded"], axis=0),
        helper.make_node("Flatten", ["embedded"], ["embedded_flat"], axis=1),
        helper.make_node("Concat", ["features", "embedded_flat"], ["joined"], axis=1),
        helper.make_node("MatMul", ["joined", "w"], ["product"]),
        helper.make_node("Add", ["product", "b"], ["score"]),
    ]
    m = model("two_inputs", nodes,
              [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 4]),
               helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 2])],
              [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch", 2])],
              [init("embedding", table), init("w", w), init("b", b)],
              "float32 features and int64 ids (embedding through Gather)")
    return m, {"features": rng.normal(0, 1, (3, 4)).astype(np.float32),
               "ids": rng.integers(0, 10, (3, 2)).astype(np.int64)}


def regressor(rng):
    """A linear regressor with one [batch, 1] output (not a one-class classifier)."""
    w = rng.normal(0, 1, (5, 1)).astype(np.float32)
    b = np.array([100.0], dtype=np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"]),
             helper.make_node("Add", ["xw", "b"], ["y"])]
    m = model("regressor", nodes,
              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 5])],
              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
              [init("w", w), init("b", b)], "linear regressor, target around 100")
    return m, {"x": rng.normal(0, 1, (4, 5)).astype(np.float32)}


def two_outputs(rng):
    """A classifier that answers logits, probabilities and the int64 label."""
    w = rng.normal(0, 1, (4, 3)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
             helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0)]
    m = model("two_outputs", nodes,
              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3]),
               helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3]),
               helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"])],
              [init("w", w)], "logits, probabilities and the label")
    return m, {"x": rng.normal(0, 1, (3, 4)).astype(np.float32)}


def bool_uint8(rng):
    """A bool mask and uint8 pixels, cast and combined: integer and boolean inputs."""
    nodes = [helper.make_node("Cast", ["mask"], ["mask_f"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["pixels"], ["pixels_f"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["mask_f", "pixels_f"], ["kept"]),
             helper.make_node("ReduceSum", ["kept", "axes"], ["total"], keepdims=1),
             helper.make_node("Cast", ["total"], ["total_i"], to=TensorProto.INT32)]
    m = model("bool_uint8", nodes,
              [helper.make_tensor_value_info("mask", TensorProto.BOOL, ["batch", 4]),
               helper.make_tensor_value_info("pixels", TensorProto.UINT8, ["batch", 4])],
              [helper.make_tensor_value_info("total", TensorProto.FLOAT, ["batch", 1]),
               helper.make_tensor_value_info("total_i", TensorProto.INT32, ["batch", 1])],
              [init("axes", np.array([1], dtype=np.int64))], "sum of the pixels the mask keeps")
    return m, {"mask": rng.integers(0, 2, (3, 4)).astype(bool),
               "pixels": rng.integers(0, 256, (3, 4)).astype(np.uint8)}


BUILDERS = [convnet_nchw, two_inputs, regressor, two_outputs, bool_uint8]


def keras_convnet_nhwc(out):
    """A Keras 3 convnet on NHWC images, exported as Keras exports it: its Flatten becomes
    Shape -> Reshape with a computed shape."""
    import keras

    keras.utils.set_random_seed(7)
    model = keras.Sequential([
        keras.Input(shape=(8, 8, 3), name="image"),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    rng = np.random.default_rng(7)
    images = rng.normal(0, 1, (2, 8, 8, 3)).astype(np.float32)
    model(images)  # Keras exports only a model that has run
    path = out / "keras_convnet_nhwc.onnx"
    model.export(str(path), format="onnx")
    return path, images


def write_case(path, inputs):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    results = session.run(names, inputs)
    case = {"inputs": {k: tensor(v) for k, v in inputs.items()},
            "outputs": {n: tensor(np.asarray(r)) for n, r in zip(names, results)}}
    path.with_suffix(".case.json").write_text(json.dumps(case, indent=1) + "\n")
    print(f"{path.name}: {[i.name for i in session.get_inputs()]} -> {names}")


def main():
    args = sys.argv[1:]
    keras_only = "--keras" in args
    args = [a for a in args if a != "--keras"]
    out = pathlib.Path(args[0]) if args else ROOT / "onnx" / "tensor"
    out.mkdir(parents=True, exist_ok=True)
    if keras_only:
        path, images = keras_convnet_nhwc(out)
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
        input_name = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()[0].name
        write_case(path, {input_name: images})
        return
    for build in BUILDERS:
        rng = np.random.default_rng(7)
        m, inputs = build(rng)
        path = out / f"{build.__name__}.onnx"
        path.write_bytes(m.SerializeToString())
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        results = session.run(names, inputs)
        case = {"inputs": {k: tensor(v) for k, v in inputs.items()},
                "outputs": {n: tensor(np.asarray(r)) for n, r in zip(names, results)}}
        (out / f"{build.__name__}.case.json").write_text(json.dumps(case, indent=1) + "\n")
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
              f"{[i.name for i in session.get_inputs()]} -> {names}")


if __name__ == "__main__":
    main()
