"""A minimal Python + onnxruntime prediction server: the cold-start counterpart of `maas serve`.

usage: ort_server.py MODEL.onnx PORT
Imports onnxruntime, loads the model, answers POST /predict like the handler benchmark.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import onnxruntime as ort

session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name
labels = [f"class{c}" for c in range(session.get_outputs()[0].shape[-1])]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        rows = np.asarray(json.loads(body)["inputs"], dtype=np.float32)
        probabilities = session.run(None, {input_name: rows})[0]
        answer = json.dumps({"predictions": [
            {"label": labels[int(p.argmax())], "probabilities": p.tolist()} for p in probabilities
        ]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
