// The maas edge worker: reads a model from an R2 bucket in the store's layout (alias →
// manifest → model) and hands each request to the WebAssembly module (src/lib.rs), where the
// library's router answers exactly as in the Lambda function. This file only does the I/O the
// module cannot: R2 reads, the request's bytes, the clock and random numbers.
//
// Variables (wrangler.toml or `wrangler dev --var`): MAAS_MODEL `[prefix/]name[@version|@alias]`
// in the bucket bound as MODELS; MAAS_REFRESH_SECONDS (alias checks, as in the function);
// MAAS_EDGE_MAX_MODEL_BYTES; and the function's limits (MAAS_MAX_BODY_BYTES, MAAS_MAX_ROWS, …).
import wasm from "./build/edge.wasm";
import { bundled } from "./build/bundle.mjs";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A Worker isolate has 128 MB for everything: the model's bytes, the parsed graph and tract's
 * optimised plan each hold about a copy of the weights, so a model takes ~3× its size. */
const DEFAULT_MAX_MODEL_BYTES = 32 * 1024 * 1024;
/** While no model is loaded, how often a request tries again (the function's 5 s). */
const RETRY_MS = 5000;

let module = null; // the instance's exports
let source = null; // what was loaded: { version, etag }
let loaded = false;
let checkedAt = 0;
let pending = null; // a load or alias check in flight

function instantiate(env) {
  const imports = {
    maas: {
      maas_now_ms: () => performance.now(),
      maas_random: (ptr, len) => {
        // getRandomValues fills at most 64 KiB per call
        for (let at = 0; at < len; at += 65536) {
          const n = Math.min(65536, len - at);
          crypto.getRandomValues(new Uint8Array(module.memory.buffer, ptr + at, n));
        }
      },
    },
  };
  module = new WebAssembly.Instance(wasm, imports).exports;
  const vars = {};
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith("MAAS_") && typeof value === "string") vars[key] = value;
  }
  if (lending([encoder.encode(JSON.stringify(vars))], ([json]) => module.maas_configure(...json)) !== 0) {
    throw new Error(lastError());
  }
}

function memory() {
  return new Uint8Array(module.memory.buffer);
}

/** Copies bytes into the module's memory: [pointer, length], freed by the caller unless the
 * module takes them. */
function put(bytes) {
  const ptr = module.maas_alloc(bytes.length);
  memory().set(bytes, ptr);
  return [ptr, bytes.length];
}

/** Takes bytes the module handed over as (pointer << 32 | length). */
function take(packed) {
  const ptr = Number(packed >> 32n);
  const len = Number(packed & 0xffffffffn);
  const bytes = memory().slice(ptr, ptr + len);
  module.maas_free(ptr, len);
  return bytes;
}

/** Copies `buffers` into the module's memory for `use`, then frees them. */
function lending(buffers, use) {
  const placed = buffers.map(put);
  const result = use(placed);
  for (const [ptr, len] of placed) module.maas_free(ptr, len);
  return result;
}

function lastError() {
  return decoder.decode(take(module.maas_last_error()));
}

/** Hands a model to the module with its background for explanations (empty when it has none);
 * returns the reason when it refused it (checksum, ONNX). */
function install(manifest, model, name, background) {
  // the module takes the model's buffer: no second copy of the weights at load
  const status = lending([manifest, encoder.encode(name), background ?? new Uint8Array(0)], ([m, n, b]) =>
    module.maas_load(...m, ...put(model), ...n, ...b),
  );
  return status === 0 ? null : lastError();
}

function fail(name, reason) {
  console.error(`maas: ${reason}`);
  lending([encoder.encode(name), encoder.encode(reason)], ([n, r]) => module.maas_fail(...n, ...r));
}

/** `[prefix/]name[@version|@alias]` as in a store reference, without the store. */
function parseReference(text) {
  const slash = text.lastIndexOf("/");
  const prefix = slash >= 0 ? text.slice(0, slash + 1) : "";
  const [name, selector = "latest"] = text.slice(slash + 1).split("@");
  const version = /^[0-9]+$/.test(selector) ? Number(selector) : null;
  return { prefix, name, alias: version === null ? selector : null, version, text };
}

class StoreError extends Error {}

/** Reads what the reference names from R2: null when the alias still has ETag `etag`. */
async function read(env, ref, etag) {
  const bucket = env.MODELS;
  if (!bucket) throw new StoreError("the Worker has no R2 binding named MODELS (wrangler.toml [[r2_buckets]])");
  const where = `R2 bucket MODELS${ref.prefix ? ` under ${ref.prefix}` : ""}`;
  let version = ref.version;
  let aliasEtag = null;
  if (version === null) {
    const key = `${ref.prefix}${ref.name}/aliases/${ref.alias}.json`;
    const options = etag ? { onlyIf: { etagDoesNotMatch: etag } } : {};
    const object = await bucket.get(key, options);
    if (object === null) throw new StoreError(`model '${ref.name}' in ${where} has no alias '${ref.alias}' (${key} not found)`);
    if (!("body" in object)) return null; // unchanged since the last read
    version = JSON.parse(await object.text()).version;
    aliasEtag = object.etag;
  }
  const versionKey = `${ref.prefix}${ref.name}/versions/${version}/`;
  const manifestObject = await bucket.get(`${versionKey}manifest.json`);
  if (manifestObject === null) throw new StoreError(`model '${ref.name}' in ${where} has no version ${version} (${versionKey}manifest.json not found)`);
  const manifest = new Uint8Array(await manifestObject.arrayBuffer());
  const described = JSON.parse(decoder.decode(manifest));
  const limit = Number(env.MAAS_EDGE_MAX_MODEL_BYTES || DEFAULT_MAX_MODEL_BYTES);
  const size = described.model.size_bytes;
  if (size > limit) {
    throw new StoreError(
      `${ref.name} version ${version} is ${size} bytes (${mib(size)} MiB); the edge worker takes models up to ` +
        `${limit} bytes (${mib(limit)} MiB, MAAS_EDGE_MAX_MODEL_BYTES): a Worker isolate has 128 MB of memory for ` +
        `the model's bytes, its parsed graph and tract's plan. Serve this model from the Lambda function or maas serve`,
    );
  }
  const modelObject = await bucket.get(`${versionKey}${described.model.file}`);
  if (modelObject === null) throw new StoreError(`model file ${versionKey}${described.model.file} not found in ${where}`);
  const model = new Uint8Array(await modelObject.arrayBuffer());
  let background = null;
  if (described.background) {
    const backgroundObject = await bucket.get(`${versionKey}${described.background.file}`);
    if (backgroundObject === null) throw new StoreError(`background file ${versionKey}${described.background.file} not found in ${where}`);
    background = new Uint8Array(await backgroundObject.arrayBuffer());
  }
  return { version, etag: aliasEtag, manifest, model, background };
}

function mib(bytes) {
  return (bytes / 1048576).toFixed(1);
}

/** Loads the model when none is, or when the alias moved; a warm isolate keeps its model when
 * a new version cannot be read or loaded, as the function does. */
async function refresh(env, ref) {
  checkedAt = Date.now();
  try {
    const found = await read(env, ref, loaded ? source?.etag : null);
    if (found === null) return;
    if (loaded && found.version === source.version) {
      source = { version: found.version, etag: found.etag };
      return;
    }
    const refused = install(found.manifest, found.model, ref.name, found.background);
    if (refused === null) {
      loaded = true;
      source = { version: found.version, etag: found.etag };
      console.log(`maas: ${ref.name} version ${found.version} loaded`);
    } else {
      // not tried again until the alias moves, as in the function
      if (loaded) source = { version: source.version, etag: found.etag };
      console.error(`maas: ${ref.name} version ${found.version} refused: ${refused}`);
    }
  } catch (e) {
    fail(ref.name, e instanceof StoreError ? e.message : `cannot read the model from R2: ${e}`);
  }
}

/** Makes sure a model is loaded (waiting for it while there is none) and starts an alias check
 * in the background when one is due. */
async function ready(env, ctx) {
  if (module === null) {
    instantiate(env);
    if (bundled) {
      const name = JSON.parse(bundled.manifest).name;
      const background = bundled.background ? new Uint8Array(bundled.background) : null;
      const refused = install(encoder.encode(bundled.manifest), new Uint8Array(bundled.model), name, background);
      if (refused !== null) fail(name, refused);
      loaded = refused === null;
      return;
    }
  }
  if (bundled) return;
  const ref = parseReference(env.MAAS_MODEL || "");
  if (!ref.name) {
    fail("model", "MAAS_MODEL is not set: name the model as [prefix/]name[@version|@alias] in the bucket bound as MODELS");
    return;
  }
  const now = Date.now();
  const every = Number(env.MAAS_REFRESH_SECONDS || 0) * 1000;
  let due;
  if (checkedAt === 0) due = true;
  else if (!loaded) due = now - checkedAt >= (every > 0 ? Math.min(every, RETRY_MS) : RETRY_MS);
  else due = every > 0 && ref.version === null && now - checkedAt >= every;
  if (pending === null && due) {
    pending = refresh(env, ref).finally(() => {
      pending = null;
    });
    // a warm isolate answers with the model it has while this request's context finishes the
    // check; only the request that started it may keep it (waitUntil from another request's
    // context would hold that request's connection open)
    if (loaded) {
      ctx.waitUntil(pending);
      return;
    }
  }
  if (pending !== null && !loaded) await pending;
}

/** The request's body, read up to one byte over the limit (the router then answers 413). */
async function body(request, limit) {
  if (request.body === null) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks = [];
  let total = 0;
  while (total <= limit) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    total += value.length;
  }
  if (total > limit) await reader.cancel();
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

export default {
  async fetch(request, env, ctx) {
    try {
      await ready(env, ctx);
    } catch (e) {
      return Response.json({ error: `the edge worker cannot start: ${e.message}` }, { status: 500 });
    }
    const url = new URL(request.url);
    const limit = module.maas_max_body_bytes();
    const declared = Number(request.headers.get("content-length") || 0);
    // a declared body over the limit is not read: the router answers 413 from the header
    const bytes = declared > limit ? new Uint8Array() : await body(request, limit);
    const head = encoder.encode(
      JSON.stringify({ method: request.method, path: url.pathname + url.search, headers: [...request.headers] }) + "\n",
    );
    const envelope = new Uint8Array(head.length + bytes.length);
    envelope.set(head);
    envelope.set(bytes, head.length);
    let answer;
    try {
      // the module takes the request's buffer
      answer = take(module.maas_handle(...put(envelope)));
    } catch (e) {
      // A bug in the module traps (wasm32 has no unwinding): answer this request with a JSON
      // error and start a fresh instance on the next one, rather than reuse a broken memory.
      console.error(`maas: the module trapped: ${e}`);
      module = null;
      loaded = false;
      source = null;
      checkedAt = 0;
      return Response.json({ error: "internal error: the edge worker failed on this request" }, { status: 500 });
    }
    const split = answer.indexOf(10);
    const { status, headers } = JSON.parse(decoder.decode(answer.subarray(0, split)));
    const empty = status === 204 || status === 304 || request.method === "HEAD";
    return new Response(empty ? null : answer.subarray(split + 1), { status, headers });
  },
};
