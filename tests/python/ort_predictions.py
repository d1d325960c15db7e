"""onnxruntime's predicted class of every row of a labelled CSV: the reference for `maas eval`.

usage: ort_predictions.py MODEL.onnx DATA.csv LABEL_COLUMN
Prints JSON {"labels": [true label of each row], "predicted": [argmax of the probabilities]}.
"""
import csv
import json
import sys

import numpy as np
import onnxruntime as ort


def main() -> None:
    model_path, data_path, label_column = sys.argv[1:4]
    with open(data_path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    at = header.index(label_column)
    labels = [r[at] for r in body]
    x = np.asarray([[float(v) for j, v in enumerate(r) if j != at] for r in body], dtype=np.float32)
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    wanted = "probabilities" if "probabilities" in names else names[-1]
    (probabilities,) = session.run([wanted], {session.get_inputs()[0].name: x})
    print(json.dumps({"labels": labels, "predicted": probabilities.argmax(axis=1).tolist()}))


if __name__ == "__main__":
    main()
