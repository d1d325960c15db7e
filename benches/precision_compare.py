"""A lower-precision variant of the models, measured before maas offers one: onnxruntime's own
dynamic int8 quantisation (int8 weights per output column, or per tensor; uint8 activations
quantised per request: DynamicQuantizeLinear → MatMulInteger) of the reference model and of
the committed digits model; the accuracy change on the bundled digits (all 1,797 rows) and
onnxruntime's rows/s, f32 against int8. tract's rows/s on the same int8 file
(reference-int8.onnx, per column) come from the criterion group `inference_int8`.

usage: precision_compare.py BENCH_DIR DIGITS_ONNX DIGITS_CSV
Writes BENCH_DIR/reference-int8.onnx and digits-int8*.onnx; prints JSON.
"""
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic

bench, digits_onnx, digits_csv = sys.argv[1:4]
reference = os.path.join(bench, "reference.onnx")
quantized = {}
for name, source, per_channel in (("reference", reference, True), ("digits", digits_onnx, True),
                                  ("digits-per-tensor", digits_onnx, False)):
    target = os.path.join(bench, f"{name}-int8.onnx")
    quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=per_channel)
    quantized[name] = target


def session(path, threads=0):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def accuracy(path, x, y):
    s = session(path)
    probabilities = s.run(None, {s.get_inputs()[0].name: x})[0]
    return float((probabilities.argmax(axis=1) == y).mean())


data = np.loadtxt(digits_csv, delimiter=",", skiprows=1, dtype=np.float32)
x, y = data[:, 1:], data[:, 0].astype(np.int64)
f32, int8 = accuracy(digits_onnx, x, y), accuracy(quantized["digits"], x, y)
per_tensor = accuracy(quantized["digits-per-tensor"], x, y)


def rows_per_second(path, batch):
    s = session(path)
    name = s.get_inputs()[0].name
    rng = np.random.default_rng(batch)
    rows = rng.uniform(-3, 3, size=(batch, 1000)).astype(np.float32)
    for _ in range(20):
        s.run(None, {name: rows})
    times = []
    for _ in range(30 if batch == 256 else 200):
        started = time.perf_counter()
        s.run(None, {name: rows})
        times.append(time.perf_counter() - started)
    return batch / float(np.median(times))


print(json.dumps({
    "digits_rows": int(len(y)),
    "digits_accuracy_f32": f32,
    "digits_accuracy_int8": int8,
    "accuracy_change_points": (int8 - f32) * 100,
    "digits_accuracy_int8_per_tensor": per_tensor,
    "accuracy_change_points_per_tensor": (per_tensor - f32) * 100,
    "reference_bytes": {"f32": os.path.getsize(reference), "int8": os.path.getsize(quantized["reference"])},
    "ort_rows_per_second": {
        precision: {str(b): rows_per_second(path, b) for b in (1, 32, 256)}
        for precision, path in (("f32", reference), ("int8", quantized["reference"]))
    },
}, indent=1))
