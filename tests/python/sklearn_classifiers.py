"""scikit-learn classifiers as users export them: skl2onnx with its default outputs (`label`
int64 and `probabilities`, with zipmap off so that the probabilities are a tensor), trained on
the bundled digits, and onnxruntime's answers on a few rows: the judge of tests/sklearn.rs.

usage: python3 tests/python/sklearn_classifiers.py OUT_DIR
writes OUT_DIR/NAME.onnx for each model and prints
{"rows": [[...]], "models": {NAME: {"labels": [...], "probabilities": [[...]]}}}
"""
import json
import pathlib
import sys

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

ROOT = pathlib.Path(__file__).resolve().parents[2]
out = pathlib.Path(sys.argv[1])
data = np.loadtxt(ROOT / "tests/data/digits.csv", delimiter=",", skiprows=1, dtype=np.float32)
x, y = data[:, 1:], data[:, 0].astype(np.int64)
models = {
    "mlp": MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0),
    "random_forest": RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0),
    "gradient_boosting": GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0),
    # ai.onnx.ml SVMClassifier, an operator tract lacks: refused at publish
    "svm": SVC(),
}
rows = x[::97][:12]
answers = {}
for name, model in models.items():
    model.fit(x[:600], y[:600])
    onnx_model = to_onnx(model, x[:1], target_opset={"": 13, "ai.onnx.ml": 3},
                         options={id(model): {"zipmap": False}})
    path = out / f"{name}.onnx"
    path.write_bytes(onnx_model.SerializeToString())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    values = dict(zip(names, session.run(None, {session.get_inputs()[0].name: rows})))
    answers[name] = {"outputs": names, "labels": values["label"].tolist(),
                     "probabilities": values["probabilities"].tolist()}
print(json.dumps({"rows": rows.tolist(), "models": answers}))
