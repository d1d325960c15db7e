"""Seeds for the fuzz targets from the project's own inputs: the hostile-request corpus (each
case in the byte layout of http_request and as a Lambda event for lambda_event) and the sample
data files (data_files). Cases over 64 KiB are left out; the fuzzer grows inputs itself.

usage: python3 tests/fuzz/seeds.py OUT_DIR   (writes OUT_DIR/<target>/<n>)
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
# the byte layout of fuzz_targets/http_request.rs: the first byte's low 5 bits pick a route of
# maas::server::routes::ROUTES (for model digits, version 1; tests/routes.rs checks this list
# against the table, in order), bits 5-6 a content type, bit 7 swaps GET and POST
ROUTES = [
    ("POST", "/predict"),
    ("POST", "/explain"),
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/v2"),
    ("GET", "/v2/models/digits"),
    ("GET", "/v2/models/digits/versions/1"),
    ("GET", "/v2/models/digits/ready"),
    ("GET", "/v2/models/digits/versions/1/ready"),
    ("POST", "/v2/models/digits/infer"),
    ("POST", "/v2/models/digits/versions/1/infer"),
    ("POST", "/v2/models/digits/explain"),
    ("POST", "/v2/models/digits/versions/1/explain"),
    ("POST", "/v1/models/digits:predict"),
    ("POST", "/v1/models/digits/versions/1:predict"),
    ("POST", "/v1/models/digits:explain"),
    ("POST", "/v1/models/digits/versions/1:explain"),
    ("GET", "/v1/models/digits"),
    ("GET", "/v1/models/digits/versions/1"),
    ("POST", "/openai/v1/completions"),
    ("POST", "/openai/v1/chat/completions"),
    ("GET", "/openai/v1/models"),
    ("GET", "/openai/v1/models/digits"),
    ("POST", "/v1/completions"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v2/models/digits/generate"),
    ("POST", "/v2/models/digits/versions/1/generate"),
    ("POST", "/v2/models/digits/generate_stream"),
    ("POST", "/v2/models/digits/versions/1/generate_stream"),
]
SWAPPED = {"GET": "POST", "POST": "GET"}
CONTENT_TYPES = ["application/json", None, "application/json; charset=utf-8", "text/plain"]
LIMIT = 64 * 1024


def body_of(case):
    if "body_hex" in case:
        return bytes.fromhex(case["body_hex"])
    if "body_repeat" in case:
        r = case["body_repeat"]
        if len(r["unit"]) * r["times"] > LIMIT:
            return None
        return (r["head"] + r["unit"] * r["times"] + r["tail"]).encode()
    return case.get("body", "").encode()


def main():
    out = pathlib.Path(sys.argv[1])
    for target in ("http_request", "lambda_event", "data_files"):
        (out / target).mkdir(parents=True, exist_ok=True)
    cases = json.loads((ROOT / "tests/corpus/hostile-requests.json").read_text())
    events = [json.loads((ROOT / "functions/predict/events" / f).read_text())
              for f in ("apigw-v1.json", "apigw-v2.json", "function-url.json", "direct.json")]
    n = 0
    for case in cases:
        body = body_of(case)
        if body is None:
            continue
        route = (case["method"], case["path"])
        swapped = (SWAPPED.get(case["method"], case["method"]), case["path"])
        r, swap = 0, 0
        if route in ROUTES:
            r = ROUTES.index(route)
        elif swapped in ROUTES:
            r, swap = ROUTES.index(swapped), 1
        ct = CONTENT_TYPES.index(case["content_type"]) if case["content_type"] in CONTENT_TYPES else 0
        (out / "http_request" / f"case-{n}").write_bytes(bytes([r | (ct << 5) | (swap << 7)]) + body)
        event = json.loads(json.dumps(events[1]))
        event["rawPath"] = case["path"]
        event["requestContext"]["http"]["path"] = case["path"]
        event["requestContext"]["http"]["method"] = case["method"]
        try:
            event["body"] = body.decode()
        except UnicodeDecodeError:
            continue
        (out / "lambda_event" / f"case-{n}").write_text(json.dumps(event))
        n += 1
    for i, event in enumerate(events):
        (out / "lambda_event" / f"event-{i}").write_text(json.dumps(event))
    for i, path in enumerate(["tests/data/digits-sample.csv"]):
        (out / "data_files" / f"file-{i}").write_bytes((ROOT / path).read_bytes())
    digits = (ROOT / "tests/data/digits.csv").read_text().splitlines()
    (out / "data_files" / "digits-head").write_text("\n".join(digits[:20]) + "\n")
    (out / "data_files" / "small").write_text("label,a,b,c\nx,1,2,3\ny,4,5,6\n")
    (out / "data_files" / "json").write_text('{"inputs": [[1, 2, 3]]}')
    print(f"{n} request seeds, {len(events)} events, 4 data files -> {out}")


if __name__ == "__main__":
    main()
