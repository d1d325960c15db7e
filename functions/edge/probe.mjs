// A probe of the edge module in node (not the Worker yet): instantiate, load the digits
// model, answer /predict, KServe metadata and a bad body, time warm requests.
// usage: node functions/edge/probe.mjs path/to/edge.wasm
import fs from "node:fs";
let instance_ref; const instance_mem = () => instance_ref.exports.memory;
const bytes = fs.readFileSync(process.argv[2]);
const t0 = performance.now();
let x0; const { instance } = await WebAssembly.instantiate(bytes, { maas: { maas_now_ms: () => performance.now(), maas_random: (p, n) => crypto.getRandomValues(new Uint8Array(instance_mem().buffer, p, n)) } });
instance_ref = instance; const x = instance.exports;
const mem = () => new Uint8Array(x.memory.buffer);
function put(data) { const p = x.maas_alloc(data.length); mem().set(data, p); return [p, data.length]; }
function take(packed) { const p = Number(packed >> 32n), n = Number(packed & 0xffffffffn); const out = mem().slice(p, p + n); x.maas_free(p, n); return out; }
const model = fs.readFileSync(new URL("../../onnx/digits.onnx", import.meta.url));
const [mp, ml] = put(model); const [np, nl] = put(new TextEncoder().encode("digits"));
const t1 = performance.now();
const rc = x.maas_load(0, 0, mp, ml, np, nl);
const t2 = performance.now();
if (rc !== 0) { console.log("load failed", new TextDecoder().decode(take(x.maas_last_error()))); process.exit(1); }
function call(method, path, body) {
  const head = new TextEncoder().encode(JSON.stringify({ method, path, headers: [["content-type", "application/json"]] }) + "\n");
  const req = new Uint8Array(head.length + body.length); req.set(head); req.set(body, head.length);
  const [rp, rl] = put(req);
  const out = take(x.maas_handle(rp, rl)); x.maas_free(rp, rl);
  const i = out.indexOf(10);
  return [JSON.parse(new TextDecoder().decode(out.slice(0, i))), new TextDecoder().decode(out.slice(i + 1))];
}
const rows = fs.readFileSync(new URL("../../tests/data/digits.csv", import.meta.url), "utf8").split("\n").slice(1, 33).map(l => l.split(",").slice(1).map(Number));
const body = new TextEncoder().encode(JSON.stringify({ inputs: rows.slice(0, 1) }));
let [h, b] = call("POST", "/predict", body);
console.log(h.status, b.slice(0, 200));
[h, b] = call("GET", "/v2/models/digits", new Uint8Array());
console.log(h.status, b.slice(0, 120));
[h, b] = call("POST", "/predict", new TextEncoder().encode("{bad"));
console.log(h.status, b);
const t3 = performance.now();
for (let i = 0; i < 100; i++) call("POST", "/predict", body);
const t4 = performance.now();
const b32 = new TextEncoder().encode(JSON.stringify({ inputs: rows }));
for (let i = 0; i < 100; i++) call("POST", "/predict", b32);
const t5 = performance.now();
console.log(JSON.stringify({ instantiate_ms: t1 - t0, load_ms: t2 - t1, batch1_ms: (t4 - t3) / 100, batch32_ms: (t5 - t4) / 100 }));
