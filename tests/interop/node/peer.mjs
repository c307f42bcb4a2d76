// The Node side of jotgate's interop tests: one long-lived process per pytest
// session, so each case costs a pipe round trip instead of a Node start-up.
//
// Protocol: one JSON object per line on stdin, one JSON reply per line on
// stdout, answered in order. Requests:
//   {"id": 1, "op": "versions"}
//   {"id": 2, "op": "sign",   "lib": "jose"|"jsonwebtoken", "alg": "ES256",
//    "key": {"jwk": {...}} | {"pem": "..."} | {"secret": "<base64url>"},
//    "payload": {...}, "header": {...}}
//   {"id": 3, "op": "verify", "lib": ..., "alg": ..., "key": ..., "token": "...",
//    "options": {"audience": ..., "issuer": ..., "typ": ..., "now": <seconds>}}
// Replies: {"id", "ok": true, "token"} or {"id", "ok": true, "header", "payload"},
// or {"id", "ok": false, "error": {"name", "code", "claim", "message"}}.
// The script stays dumb on purpose: it reports what the library said, and the
// Python side decides what that means.

import { createPrivateKey, createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import * as jose from "jose";

// jsonwebtoken is CommonJS only.
const jsonwebtoken = createRequire(import.meta.url)("jsonwebtoken");

const here = dirname(fileURLToPath(import.meta.url));

function installedVersion(name) {
  const manifest = join(here, "node_modules", name, "package.json");
  return JSON.parse(readFileSync(manifest, "utf8")).version;
}

// jsonwebtoken takes PEM (or a KeyObject) for asymmetric keys and a Buffer
// for HMAC secrets; jose takes a JWK, imported for the exact alg.
function jsonwebtokenKey(key, purpose) {
  if (key.secret !== undefined) return Buffer.from(key.secret, "base64url");
  if (key.pem !== undefined) {
    return purpose === "sign" ? createPrivateKey(key.pem) : createPublicKey(key.pem);
  }
  throw new TypeError("jsonwebtoken needs a pem or a secret");
}

async function joseKey(key, alg) {
  if (key.jwk === undefined) throw new TypeError("jose needs a jwk");
  return jose.importJWK(key.jwk, alg);
}

async function sign(req) {
  const header = { alg: req.alg, typ: "JWT", ...(req.header ?? {}) };
  if (req.lib === "jose") {
    const key = await joseKey(req.key, req.alg);
    return { token: await new jose.SignJWT(req.payload).setProtectedHeader(header).sign(key) };
  }
  if (req.lib === "jsonwebtoken") {
    const key = jsonwebtokenKey(req.key, "sign");
    // jsonwebtoken keeps an iat the payload already has, so claims round-trip as given.
    const token = jsonwebtoken.sign(req.payload, key, { algorithm: req.alg, header });
    return { token };
  }
  throw new TypeError(`unknown lib ${req.lib}`);
}

async function verify(req) {
  const opts = req.options ?? {};
  if (req.lib === "jose") {
    const key = await joseKey(req.key, req.alg);
    const options = { algorithms: [req.alg] };
    if (opts.audience !== undefined) options.audience = opts.audience;
    if (opts.issuer !== undefined) options.issuer = opts.issuer;
    if (opts.typ !== undefined) options.typ = opts.typ;
    if (opts.now !== undefined) options.currentDate = new Date(opts.now * 1000);
    const { payload, protectedHeader } = await jose.jwtVerify(req.token, key, options);
    return { header: protectedHeader, payload };
  }
  if (req.lib === "jsonwebtoken") {
    const key = jsonwebtokenKey(req.key, "verify");
    const options = { algorithms: [req.alg], complete: true };
    if (opts.audience !== undefined) options.audience = opts.audience;
    if (opts.issuer !== undefined) options.issuer = opts.issuer;
    if (opts.now !== undefined) options.clockTimestamp = opts.now;
    if (opts.typ !== undefined) throw new TypeError("jsonwebtoken has no typ check");
    const { header, payload } = jsonwebtoken.verify(req.token, key, options);
    return { header, payload };
  }
  throw new TypeError(`unknown lib ${req.lib}`);
}

async function handle(req) {
  switch (req.op) {
    case "versions":
      return {
        node: process.versions.node,
        jose: installedVersion("jose"),
        jsonwebtoken: installedVersion("jsonwebtoken"),
      };
    case "sign":
      return sign(req);
    case "verify":
      return verify(req);
    default:
      throw new TypeError(`unknown op ${req.op}`);
  }
}

function describe(err) {
  return {
    name: err?.name ?? "Error",
    code: err?.code ?? null,
    claim: err?.claim ?? null,
    message: String(err?.message ?? err),
  };
}

// Requests are handled one after another so replies keep request order even
// though jose is async.
let queue = Promise.resolve();
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  queue = queue.then(async () => {
    let id = null;
    let reply;
    try {
      const req = JSON.parse(line);
      id = req.id ?? null;
      reply = { id, ok: true, ...(await handle(req)) };
    } catch (err) {
      reply = { id, ok: false, error: describe(err) };
    }
    process.stdout.write(`${JSON.stringify(reply)}\n`);
  });
});
// stdin closing is the session's way of saying it is done.
lines.on("close", () => {
  queue.then(() => process.exit(0));
});
