"""Writes tests/corpus/hostile-requests.json: malformed requests for every route, each with the
status and the error text the API must answer with (tests/hostile.rs sends them to the router,
functions/predict/tests/hostile_events.rs wraps them in every Lambda event type); and
tests/corpus/hostile-generation.json: the same for the text-generation routes, sent by
tests/text_serving.rs to a router serving the Llama fixture (onnx/decoders/llama, a context of
128 tokens) with MAAS_MAX_TOKENS=100. Their errors are in each protocol's shape: OpenAI's
`{"error": {"message", "param", ...}}` (`param` the field the case must name, when it names
one) and KServe's `{"error": "..."}`.

A case: name, method (POST), path, content_type ("application/json"; null sends none), and
the body as `body` (text), `body_hex` (raw bytes) or `body_repeat` ({head, unit, times,
tail}: head + unit * times + tail, for the large ones); `headers` (more request headers, e.g.
Inference-Header-Content-Length for the KServe binary extension); status; error (a substring of
the JSON error message).

usage: python3 tests/python/make_hostile_corpus.py
"""
import json
import pathlib

ROW = [0.0] * 64
ROW_TEXT = ", ".join(["0"] * 64)


def native(name, body, error, status=400, **extra):
    return dict(name=name, path="/predict", body=body, status=status, error=error, **extra)


def kserve_body(data, shape=(1, 64), datatype="FP32", name="input", **extra):
    return json.dumps({"inputs": [{"name": name, "shape": list(shape), "datatype": datatype, "data": data}], **extra})


def kserve(name, body, error, status=400, path="/v2/models/digits/infer", **extra):
    """`body` is JSON text, or a binary_case() dict (body_hex and headers; `extra` headers win)."""
    if isinstance(body, dict):
        headers = {**body.get("headers", {}), **extra.pop("headers", {})}
        return dict(name=name, path=path, body_hex=body["body_hex"], headers=headers, status=status, error=error, **extra)
    return dict(name=name, path=path, body=body, status=status, error=error, **extra)


def tf(name, body, error, status=400, path="/v1/models/digits:predict", **extra):
    return dict(name=name, path=path, body=body, status=status, error=error, **extra)


def binary_case(parameters, nbytes, shape=(1, 64)):
    """A body with the binary tensor data extension: the JSON header, then `nbytes` zero bytes.
    Returns (body_hex, headers) for kserve(): Inference-Header-Content-Length is the header's
    length unless the case overrides it."""
    header = json.dumps({"inputs": [{"name": "input", "shape": list(shape), "datatype": "FP32", "parameters": p} for p in parameters]}).encode()
    return {"body_hex": (header + bytes(nbytes)).hex(), "headers": {"Inference-Header-Content-Length": str(len(header))}}


JSON_HINT = "invalid JSON body"
cases = [
    # --- native /predict: JSON that is not JSON
    native("truncated mid-row", '{"inputs": [[1, 2', "EOF while parsing a list"),
    native("truncated after the key", '{"inputs":', "EOF while parsing a value"),
    native("a lone brace", "{", "EOF while parsing an object"),
    native("not JSON at all", "hello", "expected value at line 1 column 1"),
    native("whitespace only", "   \n\t ", "the request body is empty"),
    native("trailing garbage", '{"inputs": [[%s]]} xyz' % ROW_TEXT, "trailing characters"),
    native("two documents", '{"inputs": [[%s]]}{"inputs": []}' % ROW_TEXT, "trailing characters"),
    native("byte order mark", "\ufeff" + json.dumps({"inputs": [ROW]}), "expected value at line 1 column 1"),
    dict(name="invalid UTF-8", path="/predict", body_hex=b"\xff\xfe\xfd{".hex(), status=400, error="expected value at line 1 column 1"),
    native("NUL bytes", '{"inputs": [[0\u0000]]}', JSON_HINT),
    native("single quotes", "{'inputs': [[1]]}", "key must be a string"),
    native("comment", '{"inputs": [[1]] /* x */}', JSON_HINT),
    # wrong types
    native("null document", "null", "invalid type: null, expected struct PredictRequest"),
    native("array document", "[[1, 2]]", "invalid type: integer `1`, expected a sequence"),
    native("string document", '"inputs"', 'invalid type: string "inputs"'),
    native("inputs is a number", '{"inputs": 5}', "invalid type: integer `5`, expected a sequence"),
    native("inputs is a string", '{"inputs": "1,2,3"}', 'invalid type: string "1,2,3", expected a sequence'),
    native("inputs is null", '{"inputs": null}', "invalid type: null, expected a sequence"),
    native("a row is an object", '{"inputs": [{"a": 1}]}', "invalid type: map, expected a sequence"),
    native("strings for numbers", json.dumps({"inputs": [["1"] * 64]}), 'invalid type: string "1", expected f64'),
    native("booleans for numbers", json.dumps({"inputs": [[True] * 64]}), "invalid type: boolean `true`, expected f64"),
    native("null for a number", '{"inputs": [[null, %s]]}' % ROW_TEXT, "invalid type: null, expected f64"),
    native("unicode digits", json.dumps({"inputs": [["\u0661\u0662"] * 64]}, ensure_ascii=False), "expected f64"),
    native("rows nested one level too deep", json.dumps({"inputs": [[ROW]]}), "invalid type: sequence, expected f64"),
    native("unknown field", json.dumps({"instances": [ROW]}), "unknown field `instances`, expected `inputs`"),
    native("duplicate key", '{"inputs": [[%s]], "inputs": [[%s]]}' % (ROW_TEXT, ROW_TEXT), "duplicate field `inputs`"),
    # numbers that are not float32
    native("NaN literal", '{"inputs": [[NaN]]}', "expected value"),
    native("Infinity literal", '{"inputs": [[Infinity]]}', "expected value"),
    native("-Infinity literal", '{"inputs": [[-Infinity]]}', "invalid number"),
    native("1e39 overflows float32", json.dumps({"inputs": [[1e39] + ROW[1:]]}), "row 0, feature 0: 1000000000000000000000000000000000000000 is not a finite float32 number"),
    native("-1e39 overflows float32", json.dumps({"inputs": [ROW[:5] + [-1e39] + ROW[6:]]}), "row 0, feature 5: -1000000000000000000000000000000000000000 is not a finite float32 number"),
    native("1e400 overflows float64", '{"inputs": [[1e400]]}', "number out of range"),
    dict(name="a 5000-digit number", path="/predict", body_repeat={"head": '{"inputs": [[', "unit": "9", "times": 5000, "tail": "]]}"}, status=400, error="number out of range"),
    # shapes
    native("63 features", json.dumps({"inputs": [ROW[:63]]}), "row 0 has 63 features, the model expects 64"),
    native("65 features", json.dumps({"inputs": [ROW + [0.0]]}), "row 0 has 65 features, the model expects 64"),
    native("an empty row", '{"inputs": [[]]}', "row 0 has 0 features, the model expects 64"),
    native("ragged rows", json.dumps({"inputs": [ROW, ROW[:10]]}), "row 1 has 10 features, the model expects 64"),
    native("empty batch", '{"inputs": []}', "the batch is empty"),
    native("empty object", "{}", "missing field `inputs`"),
    native("empty body", "", "the request body is empty"),
    dict(name="1025 rows, over MAAS_MAX_ROWS", path="/predict", body_repeat={"head": '{"inputs": [', "unit": "[%s]," % ROW_TEXT, "times": 1024, "tail": "[%s]]}" % ROW_TEXT}, status=413, error="1025 rows exceed the limit of 1024 rows per request (MAAS_MAX_ROWS)"),
    dict(name="7 MB body", path="/predict", body_repeat={"head": '{"inputs": [[', "unit": "0.000000000000, ", "times": 7 * 1024 * 1024 // 16, "tail": "0]]}"}, status=413, error="the request body exceeds the limit of 6291456 bytes"),
    dict(name="100000 nested arrays", path="/predict", body_repeat={"head": '{"inputs": ', "unit": "[", "times": 100000, "tail": "]}"}, status=400, error="invalid type: sequence, expected f64"),
    # content types
    native("text/plain", json.dumps({"inputs": [ROW]}), "Content-Type must be application/json, got 'text/plain'", status=415, content_type="text/plain"),
    native("form encoded", "inputs=1", "invalid JSON body", content_type="application/x-www-form-urlencoded"),
    native("multipart", "--x\r\n\r\n--x--", "Content-Type must be application/json", status=415, content_type="multipart/form-data; boundary=x"),
    native("unicode junk content type", json.dumps({"inputs": [ROW]}), "Content-Type must be application/json", status=415, content_type="\u00e9\u00e9/\u00e9"),
    # --- KServe V2
    kserve("truncated", '{"inputs": [{"name": "input", "shape": [1, 64]', "EOF while parsing"),
    kserve("BYTES datatype", kserve_body(["a"] * 64, datatype="BYTES"), "datatype 'BYTES' is not supported"),
    kserve("unknown input", kserve_body(ROW, name="pixels"), "unknown input 'pixels': the model's inputs are 'input'"),
    kserve("wrong width", kserve_body(ROW[:63], shape=(1, 63)), "input 'input' has shape [1, 63]; dimension 1 must be 64"),
    kserve("shape and data disagree", kserve_body(ROW, shape=(2, 64)), "has 64 values but its shape [2, 64] needs 128"),
    kserve("negative dimension", kserve_body(ROW, shape=(-1, 64)), "input 'input': shape [-1, 64] has a negative dimension"),
    kserve("overflowing shape", kserve_body([1, 2], shape=(9223372036854775807, 2)), "elements, more than the limit of 6291456 per request"),
    kserve("shape product overflowing usize", kserve_body([1, 2], shape=(4294967296, 4294967296, 2)), "has more elements than can be counted"),
    kserve("huge rows", kserve_body(ROW, shape=(4294967296, 64)), "has 274877906944 elements, more than the limit of 6291456 per request"),
    kserve("string in data", json.dumps({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [[0.0, "x"]]}]}), "data[0][1]: is a string, expected a number"),
    kserve("1e39 in data", kserve_body([1e39] + ROW[1:]), "is not a finite FP32 number"),
    kserve("NaN in data", '{"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [NaN]}]}', "expected value"),
    kserve("no inputs", '{"inputs": []}', "missing input 'input': the model takes 'input'"),
    kserve("two inputs", json.dumps({"inputs": [json.loads(kserve_body(ROW))["inputs"][0]] * 2}), "input 'input' is given twice"),
    kserve("missing data", json.dumps({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32"}]}), "input 'input' has no data: send 'data' or binary data with binary_data_size"),
    kserve("wrong datatype", kserve_body([0] * 64, datatype="INT64"), "input 'input' is INT64 but the model takes FP32"),
    kserve("wrong rank", kserve_body(ROW, shape=(64,)), "input 'input' has shape [64] (rank 1) but the model takes rank 2"),
    kserve("data and binary_data_size", json.dumps({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": ROW, "parameters": {"binary_data_size": 256}}]}), "has both data and binary_data_size"),
    kserve("binary_data_size is negative", binary_case([{"binary_data_size": -1}], 0), "binary_data_size must be a whole number of bytes, got -1"),
    kserve("binary header length beyond the body", binary_case([{"binary_data_size": 256}], 256), "Inference-Header-Content-Length is 99999 but the body has", headers={"Inference-Header-Content-Length": "99999"}),
    kserve("binary header length not a number", binary_case([{"binary_data_size": 256}], 256), "Inference-Header-Content-Length 'abc' is not a byte count", headers={"Inference-Header-Content-Length": "abc"}),
    kserve("binary size disagrees with the shape", binary_case([{"binary_data_size": 255}], 255), "input 'input': 255 bytes of binary data but shape [1, 64] of FP32 needs 256"),
    kserve("binary size beyond the binary part", binary_case([{"binary_data_size": 256}], 10), "binary_data_size 256 goes past the 10 bytes of binary data"),
    kserve("binary part longer than the sizes", binary_case([{"binary_data_size": 256}], 300), "the binary part has 300 bytes but the inputs' binary_data_size add up to 256"),
    kserve("binary huge shape", binary_case([{"binary_data_size": 256}], 256, shape=(4294967296, 64)), "more than the limit of 6291456 per request"),
    kserve("binary output flag not a boolean", kserve_body(ROW, outputs=[{"name": "probabilities", "parameters": {"binary_data": "yes"}}]), "parameter binary_data must be true or false"),
    kserve("output asked twice", kserve_body(ROW, outputs=[{"name": "probabilities"}, {"name": "probabilities"}]), "output 'probabilities' is asked for twice"),
    kserve("unknown output", kserve_body(ROW, outputs=[{"name": "logits"}]), "unknown output 'logits'"),
    kserve("duplicate inputs key", '{"inputs": [], "inputs": []}', "duplicate field `inputs`"),
    dict(name="KServe data nested 100000 deep", path="/v2/models/digits/infer", body_repeat={"head": '{"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": ', "unit": "[", "times": 100000, "tail": "]}]}"}, status=400, error="recursion limit exceeded"),
    kserve("KServe unknown model", kserve_body(ROW), "unknown model 'cats'; this server serves 'digits'", status=404, path="/v2/models/cats/infer"),
    kserve("path traversal in the model name", kserve_body(ROW), "unknown model '../../etc/passwd'", status=404, path="/v2/models/..%2F..%2Fetc%2Fpasswd/infer"),
    kserve("unknown version", kserve_body(ROW), "model 'digits' has no version '999' here; this server serves version 1", status=404, path="/v2/models/digits/versions/999/infer"),
    kserve("path traversal in the version", kserve_body(ROW), "has no version '../1'", status=404, path="/v2/models/digits/versions/..%2F1/infer"),
    kserve("emoji model name", kserve_body(ROW), "unknown model '\U0001f4a3'", status=404, path="/v2/models/%F0%9F%92%A3/infer"),
    kserve("KServe model name not UTF-8", kserve_body(ROW), "Invalid UTF-8", path="/v2/models/%FF/infer"),
    kserve("version not UTF-8", kserve_body(ROW), "Invalid UTF-8", path="/v2/models/digits/versions/%FF/infer"),
    # --- TF Serving
    tf("instances and inputs", json.dumps({"instances": [ROW], "inputs": [ROW]}), "not both"),
    tf("neither instances nor inputs", json.dumps({"signature_name": "x"}), "needs 'instances' (row format) or 'inputs' (columnar format)"),
    tf("instances is a string", json.dumps({"instances": "all"}), "'instances' must be a list"),
    tf("wrong input name", json.dumps({"instances": [{"pixels": ROW}]}), "the model has one input, 'input'"),
    tf("nested lists for numbers", json.dumps({"instances": [[[1]] * 64]}), "instances[0][0] is a list, expected a number"),
    tf("a number for a row", json.dumps({"inputs": [ROW, 5]}), "inputs[1] is a number, expected a list of rows"),
    tf("ragged instances", json.dumps({"instances": [ROW, ROW[:3]]}), "row 1 has 3 features, the model expects 64"),
    tf("duplicate instances key", '{"instances": [[%s]], "instances": [[%s]]}' % (ROW_TEXT, ROW_TEXT), "duplicate field `instances`"),
    dict(name="TF instances nested 100000 deep", path="/v1/models/digits:predict", body_repeat={"head": '{"instances": ', "unit": "[", "times": 100000, "tail": "}"}, status=400, error="recursion limit exceeded"),
    tf("TF unknown model", json.dumps({"instances": [ROW]}), "unknown model 'cats'", status=404, path="/v1/models/cats:predict"),
    tf("classify is not served", json.dumps({"instances": [ROW]}), "':classify' is not supported", status=404, path="/v1/models/digits:classify"),
    tf("extra path segments", json.dumps({"instances": [ROW]}), "use /v1/models/<name>[/versions/<n>]:predict", status=404, path="/v1/models/digits/extra/path:predict"),
    tf("version is not a number", json.dumps({"instances": [ROW]}), "has no version 'abc'", status=404, path="/v1/models/digits/versions/abc:predict"),
    tf("path traversal", json.dumps({"instances": [ROW]}), "no route for /v1/models/../../etc:predict; use /v1/models/<name>[/versions/<n>]:predict", status=404, path="/v1/models/..%2F..%2Fetc:predict"),
    tf("TF model name not UTF-8", json.dumps({"instances": [ROW]}), "Invalid UTF-8", path="/v1/models/%FF:predict"),
    # --- methods and routes
    dict(name="GET /predict", method="GET", path="/predict", body="", status=405, error="GET is not allowed on /predict"),
    dict(name="PUT infer", method="PUT", path="/v2/models/digits/infer", body=kserve_body(ROW), status=405, error="PUT is not allowed"),
    dict(name="DELETE predict", method="DELETE", path="/v1/models/digits:predict", body="", status=405, error="DELETE is not allowed"),
    dict(name="POST to health", method="POST", path="/v2/health/ready", body="{}", status=405, error="POST is not allowed on /v2/health/ready"),
    dict(name="no such route", path="/admin", body="{}", status=404, error="no route for POST /admin"),
    dict(name="a 4000-byte path", path="/" + "a" * 4000, body="{}", status=404, error="no route for POST /aaaa"),
    dict(name="GET metadata of another model", method="GET", path="/v2/models/cats", body="", status=404, error="unknown model 'cats'"),
]



def completions(name, body, error, status=400, param=None, path="/v1/completions"):
    return dict(name=name, path=path, body=body if isinstance(body, str) else json.dumps(body),
                status=status, error=error, param=param)


def chat(name, body, error, status=400, param=None, path="/openai/v1/chat/completions"):
    return completions(name, body, error, status, param, path)


def generate(name, body, error, status=400, path="/v2/models/llama/generate"):
    return dict(name=name, path=path, body=body if isinstance(body, str) else json.dumps(body),
                status=status, error=error)


HI = [{"role": "user", "content": "Hello"}]
SONNET = "Shall I compare thee to a summer's day? Thou art more lovely and more temperate. " * 5
generation_cases = [
    # --- malformed bodies and wrong types
    completions("truncated JSON", '{"prompt": "hi",', "EOF while parsing a value"),
    completions("empty body", "", "the request body is empty"),
    completions("no prompt", {"max_tokens": 4}, "missing field `prompt`"),
    completions("prompt is a number", {"prompt": 5}, "prompt must be a string or a list of strings", param="prompt"),
    completions("prompt of token ids", {"prompt": [1, 2, 3]}, "token ids are not taken", param="prompt"),
    completions("max_tokens is a string", {"prompt": "hi", "max_tokens": "ten"}, "invalid type: string \"ten\""),
    completions("temperature is a string", {"prompt": "hi", "temperature": "hot"}, "invalid type: string \"hot\""),
    completions("stream is a string", {"prompt": "hi", "stream": "yes"}, "invalid type: string \"yes\""),
    completions("stop is a number", {"prompt": "hi", "stop": 7}, "data did not match any variant"),
    # --- values out of range
    completions("max_tokens 0", {"prompt": "hi", "max_tokens": 0}, "max_tokens is 0: ask for at least 1 token", param="max_tokens"),
    completions("max_tokens negative", {"prompt": "hi", "max_tokens": -1}, "max_tokens is -1", param="max_tokens"),
    completions("max_tokens over the cap", {"prompt": "hi", "max_tokens": 101}, "over this server's cap of 100 (MAAS_MAX_TOKENS)", param="max_tokens"),
    completions("max_tokens over the context", {"prompt": SONNET[:300], "max_tokens": 100}, "over the model's context of 128 tokens", param="max_tokens"),
    completions("prompt over the context", {"prompt": SONNET}, "over the model's context of 128 tokens", param="max_tokens"),
    dict(name="a 1 MB prompt", path="/v1/completions", body_repeat={"head": '{"prompt": "', "unit": "a", "times": 1 << 20, "tail": '"}'},
         status=400, error="the prompt of 1048576 bytes is longer than the model's context of 128 tokens can hold", param="prompt"),
    completions("temperature -1", {"prompt": "hi", "temperature": -1}, "temperature is -1", param="temperature"),
    completions("top_p 0", {"prompt": "hi", "top_p": 0}, "top_p is 0", param="top_p"),
    completions("top_p 1.5", {"prompt": "hi", "top_p": 1.5}, "top_p is 1.5", param="top_p"),
    completions("top_k -2", {"prompt": "hi", "top_k": -2}, "top_k is -2", param="top_k"),
    completions("five stop strings", {"prompt": "hi", "stop": ["a", "b", "c", "d", "e"]}, "send at most 4", param="stop"),
    completions("n 2", {"prompt": "hi", "n": 2}, "one choice per prompt", param="n"),
    completions("logprobs", {"prompt": "hi", "logprobs": 3}, "does not return log probabilities", param="logprobs"),
    completions("echo", {"prompt": "hi", "echo": True}, "does not echo the prompt", param="echo"),
    completions("an empty prompt", {"prompt": ""}, "the prompt is empty", param="prompt"),
    completions("seventeen prompts", {"prompt": ["a"] * 17}, "send at most 16 per request", param="prompt"),
    completions("unknown model", {"model": "gpt-4", "prompt": "hi"}, "unknown model 'gpt-4'; this server serves 'llama'", status=404, param="model"),
    completions("the /openai prefix refuses alike", {"prompt": "hi", "top_p": 0}, "top_p is 0", param="top_p", path="/openai/v1/completions"),
    # --- chat
    chat("empty messages", {"messages": []}, "messages is empty", param="messages"),
    chat("messages is a string", {"messages": "hello"}, "invalid type: string \"hello\""),
    chat("a message without a role", {"messages": [{"content": "hi"}]}, "missing field `role`"),
    chat("a role the template rejects", {"messages": [{"role": "robot", "content": "beep"}]}, "the chat template refused the messages: unknown role: robot", param="messages"),
    chat("an image part", {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}, "reads text parts only", param="messages"),
    chat("tools", {"messages": HI, "tools": [{"type": "function"}]}, "does not call tools", param="tools"),
    chat("json response format", {"messages": HI, "response_format": {"type": "json_object"}}, "answers plain text", param="response_format"),
    chat("max_completion_tokens 0", {"messages": HI, "max_completion_tokens": 0}, "max_tokens is 0", param="max_tokens"),
    chat("chat temperature -1", {"messages": HI, "temperature": -1}, "temperature is -1", param="temperature", path="/v1/chat/completions"),
    chat("chat unknown model", {"model": "gpt-4", "messages": HI}, "unknown model 'gpt-4'", status=404, param="model"),
    # --- KServe generate
    generate("generate without text_input", {"parameters": {"max_tokens": 4}}, "missing field `text_input`"),
    generate("text_input is a number", {"text_input": 5}, "invalid type: integer `5`"),
    generate("generate max_tokens 0", {"text_input": "hi", "parameters": {"max_tokens": 0}}, "max_tokens is 0"),
    generate("generate top_p 1.5", {"text_input": "hi", "top_p": 1.5}, "top_p is 1.5"),
    generate("generate over the cap", {"text_input": "hi", "max_tokens": 500}, "over this server's cap of 100"),
    generate("generate truncated", '{"text_input": ', "EOF while parsing a value"),
    generate("generate another model", {"text_input": "hi"}, "unknown model 'cats'", status=404, path="/v2/models/cats/generate"),
    generate("generate another version", {"text_input": "hi"}, "has no version '9'", status=404, path="/v2/models/llama/versions/9/generate_stream"),
    generate("stream refuses before streaming", {"text_input": "hi", "temperature": -1}, "temperature is -1", path="/v2/models/llama/generate_stream"),
]


def write(cases, file):
    for case in cases:
        case.setdefault("method", "POST")
        case.setdefault("content_type", "application/json")
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    out = pathlib.Path(__file__).resolve().parents[1] / "corpus" / file
    out.write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(cases)} cases -> {out}")


write(cases, "hostile-requests.json")
write(generation_cases, "hostile-generation.json")
