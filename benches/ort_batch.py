"""The Python side of the batch-scoring comparison: what a Lambda-style Python handler does
for one S3 object - boto3 streaming the object, numpy parsing 1024 CSV rows at a time,
onnxruntime scoring them, JSON lines written back to S3 as a multipart upload - on the same
object and model as `maas batch`.

usage: ort_batch.py MODEL.onnx BUCKET KEY OUTPUT_KEY   (AWS_ENDPOINT_URL_S3 points at moto)
Prints JSON: rows, seconds, rows/s; the peak RSS is measured from outside.
"""
import json
import sys
import time

import boto3
import numpy as np
import onnxruntime as ort

PART = 8 << 20
BATCH = 1024


def main():
    model_path, bucket, key, output_key = sys.argv[1:5]
    started = time.perf_counter()
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    s3 = boto3.client("s3")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    lines = body.iter_lines(chunk_size=1 << 20)
    header = next(lines).decode().split(",")
    features = [i for i, name in enumerate(header) if name != "label"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key=output_key)
    parts, buffer, rows = [], bytearray(), 0

    def flush_part(force=False):
        nonlocal buffer
        if buffer and (force or len(buffer) >= PART):
            n = len(parts) + 1
            etag = s3.upload_part(Bucket=bucket, Key=output_key, UploadId=upload["UploadId"],
                                  PartNumber=n, Body=bytes(buffer))["ETag"]
            parts.append({"PartNumber": n, "ETag": etag})
            buffer = bytearray()

    def score(batch):
        nonlocal rows
        x = np.loadtxt(batch, delimiter=",", dtype=np.float32, ndmin=2)[:, features]
        probabilities = session.run(None, {input_name: x})[0]
        for p in probabilities:
            best = int(p.argmax())
            buffer.extend(json.dumps({"label": str(best), "probability": float(p[best]),
                                      "probabilities": p.tolist()}).encode())
            buffer.extend(b"\n")
        rows += len(probabilities)
        flush_part()

    batch = []
    for line in lines:
        if line:
            batch.append(line.decode())
        if len(batch) == BATCH:
            score(batch)
            batch = []
    if batch:
        score(batch)
    flush_part(force=True)
    s3.complete_multipart_upload(Bucket=bucket, Key=output_key, UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": parts})
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": rows, "seconds": seconds, "rows_per_second": rows / seconds}))


if __name__ == "__main__":
    main()
