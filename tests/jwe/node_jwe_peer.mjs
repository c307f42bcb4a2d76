// jose@6 (Node) as a JWE peer for jotgate's tests: one process per pytest
// session, one JSON request per line on stdin, one JSON reply per line on
// stdout, in order.
//
//   {"op": "version"}
//   {"op": "encrypt", "jwk": {...}, "alg": "ECDH-ES+A256KW", "enc": "A256GCM",
//    "plaintext": "<base64url>", "header": {...extra protected members}}
//   {"op": "decrypt", "jwk": {...}, "alg": ..., "enc": ..., "token": "..."}
//
// Replies: {"ok": true, "token"} | {"ok": true, "plaintext", "header"} |
// {"ok": true, "version"} | {"ok": false, "code", "message"}.
// Only 'jose' is used, imported from the interop tests' pinned install.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const joseDir = join(here, "..", "interop", "node", "node_modules", "jose");
const manifest = JSON.parse(readFileSync(join(joseDir, "package.json"), "utf8"));
const jose = await import(pathToFileURL(join(joseDir, manifest.exports["."].default)).href);

// PBES2 passwords and dir/KW secrets are raw bytes; everything else is a JWK
// imported for the exact algorithm (jose refuses a key imported for another).
async function keyFor(jwk, alg) {
  if (jwk.kty === "oct") return Buffer.from(jwk.k, "base64url");
  return jose.importJWK(jwk, alg);
}

async function handle(request) {
  if (request.op === "version") return { version: manifest.version };
  const key = await keyFor(request.jwk, request.alg);
  if (request.op === "encrypt") {
    const plaintext = Buffer.from(request.plaintext, "base64url");
    // jose takes p2c, apu and apv as key-management parameters, not header members.
    const { p2c, apu, apv, ...header } = request.header ?? {};
    const encrypter = new jose.CompactEncrypt(plaintext).setProtectedHeader({
      alg: request.alg,
      enc: request.enc,
      ...header,
    });
    const parameters = {};
    if (p2c !== undefined) parameters.p2c = p2c;
    if (apu !== undefined) parameters.apu = Buffer.from(apu, "base64url");
    if (apv !== undefined) parameters.apv = Buffer.from(apv, "base64url");
    encrypter.setKeyManagementParameters(parameters);
    return { token: await encrypter.encrypt(key) };
  }
  if (request.op === "decrypt") {
    const { plaintext, protectedHeader } = await jose.compactDecrypt(request.token, key, {
      keyManagementAlgorithms: [request.alg],
      contentEncryptionAlgorithms: [request.enc],
    });
    return { plaintext: Buffer.from(plaintext).toString("base64url"), header: protectedHeader };
  }
  throw new Error(`unknown op ${request.op}`);
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  let reply;
  try {
    reply = { ok: true, ...(await handle(JSON.parse(line))) };
  } catch (error) {
    reply = { ok: false, code: error.code ?? error.name, message: String(error.message) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
}
