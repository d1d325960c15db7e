"""The Python counterpart of the `predict` Lambda function, for the Runtime API harness
(benches/lambda_compare.py), run by the official runtime interface client:
`python -m awslambdaric ort_lambda.handler` from benches/.

At init, as the function does: MAAS_MODEL=s3://bucket/prefix/name@alias → the alias document →
the version's manifest → the model (boto3, three GETs), sha256 checked, onnxruntime session;
MAAS_MODEL=/folder/store/name@alias reads the same three files from a folder store (the model
shipped inside the deployment).
Each invocation: an API Gateway v2 / function URL event with `{"inputs": [[...]]}` → labelled
probabilities, the same JSON as the function's.
"""
import hashlib
import json
import os

import boto3
import numpy as np
import onnxruntime as ort

_reference = os.environ["MAAS_MODEL"]
_on_s3 = _reference.startswith("s3://")
if _on_s3:
    _bucket, _, _path = _reference[len("s3://"):].partition("/")
else:
    _bucket, _path = None, _reference
_prefix, _, _last = _path.rpartition("/")
_name, _, _alias = _last.partition("@")
_alias = _alias or "latest"
_root = f"{_prefix}/{_name}" if _prefix else _name
_s3 = boto3.client("s3") if _on_s3 else None


def _get(key):
    if not _on_s3:
        with open(key, "rb") as f:
            return f.read()
    return _s3.get_object(Bucket=_bucket, Key=key)["Body"].read()


_version = json.loads(_get(f"{_root}/aliases/{_alias}.json"))["version"]
_manifest = json.loads(_get(f"{_root}/versions/{_version}/manifest.json"))
_model = _get(f"{_root}/versions/{_version}/{_manifest['model']['file']}")
if hashlib.sha256(_model).hexdigest() != _manifest["model"]["sha256"]:
    raise RuntimeError("checksum mismatch")
_options = ort.SessionOptions()
_options.intra_op_num_threads = 1
_session = ort.InferenceSession(_model, _options, providers=["CPUExecutionProvider"])
_input = _session.get_inputs()[0].name
_labels = _manifest.get("description", {}).get("labels") or [
    str(i) for i in range(_session.get_outputs()[0].shape[-1])
]


def handler(event, context):
    rows = np.asarray(json.loads(event["body"])["inputs"], dtype=np.float32)
    probabilities = _session.run(None, {_input: rows})[0]
    answer = {
        "model_name": _name,
        "model_version": _version,
        "labels": _labels,
        "predictions": [
            {"label": _labels[int(p.argmax())], "probability": float(p.max()), "probabilities": p.tolist()}
            for p in probabilities
        ],
    }
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(answer)}
