"""Makes the third-party ONNX fixture: a scikit-learn LogisticRegression trained on the bundled
digits, converted by skl2onnx (ai.onnx.ml LinearClassifier), with onnxruntime's outputs on five
rows. (No StandardScaler: tract does not implement the ai.onnx.ml Scaler operator.) Run from the repository root; writes into onnx/.

usage: python3 tests/python/make_sklearn_fixture.py   (needs scikit-learn, skl2onnx, onnxruntime)
"""
import json

import numpy as np
import onnxruntime as ort
import skl2onnx
import sklearn
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression

data = np.loadtxt("tests/data/digits.csv", delimiter=",", skiprows=1, dtype=np.float32)
x, y = data[:, 1:], data[:, 0].astype(np.int64)
model = LogisticRegression(max_iter=5000, random_state=0).fit(x, y)
onnx_model = to_onnx(model, x[:1], target_opset=13, options={id(model): {"zipmap": False}})
onnx_model.producer_name = "skl2onnx"
path = "onnx/digits_sklearn_logreg.onnx"
with open(path, "wb") as f:
    f.write(onnx_model.SerializeToString())

session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
rows = x[:5]
outputs = {o.name: v for o, v in zip(session.get_outputs(), session.run(None, {session.get_inputs()[0].name: rows}))}
with open("onnx/digits_sklearn_logreg.expected.json", "w") as f:
    json.dump({
        "model": "digits_sklearn_logreg.onnx",
        "produced_by": f"scikit-learn {sklearn.__version__} LogisticRegression, skl2onnx {skl2onnx.__version__} (zipmap off, opset 13)",
        "reference": f"onnxruntime {ort.__version__} CPUExecutionProvider",
        "outputs": [o.name for o in session.get_outputs()],
        "labels": [str(int(v)) for v in y[:5]],
        "inputs": rows.tolist(),
        "probabilities": outputs["probabilities"].tolist(),
    }, f, indent=1)
print(path, [(o.name, o.type, o.shape) for o in session.get_outputs()])
