"""The Python + onnxruntime counterpart of `maas predict` for the cold-start row: one process
that resolves an alias in a maas folder store, reads and checks (sha256) the model like maas,
loads it into onnxruntime, answers the rows of a JSON request and prints the labelled answer.

usage: ort_predict.py STORE NAME ALIAS REQUEST.json
"""
import hashlib
import json
import sys

import numpy as np
import onnxruntime as ort


def main():
    store, name, alias, request_path = sys.argv[1:5]
    with open(f"{store}/{name}/aliases/{alias}.json") as f:
        version = json.load(f)["version"]
    folder = f"{store}/{name}/versions/{version}"
    with open(f"{folder}/manifest.json") as f:
        manifest = json.load(f)
    with open(f"{folder}/{manifest['model']['file']}", "rb") as f:
        model = f.read()
    if hashlib.sha256(model).hexdigest() != manifest["model"]["sha256"]:
        sys.exit("checksum mismatch")
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    labels = manifest["labels"]
    with open(request_path) as f:
        rows = np.asarray(json.load(f)["inputs"], dtype=np.float32)
    probabilities = session.run(None, {session.get_inputs()[0].name: rows})[0]
    best = probabilities.argmax(axis=1)
    print(json.dumps({
        "model_name": name,
        "model_version": version,
        "labels": labels,
        "predictions": [
            {"label": labels[b], "probability": float(p[b]), "probabilities": p.tolist()}
            for p, b in zip(probabilities, best)
        ],
    }, indent=2))


if __name__ == "__main__":
    main()
