// A wallet built from third-party libraries answers a civicpass OpenID4VP request, for tests/interop.
// The protocol is the OpenWallet Foundation's @openid4vc/openid4vp (request parsing, JAR checks, response
// building and JWE/JARM submission); the SD-JWT VC presentation with its KB-JWT is @sd-jwt/sd-jwt-vc; the
// JOSE primitives the library asks for through its callbacks are panva's jose. All pinned in package.json.
// stdin:  {"uri", "credential", "holderJwk" (private), "walletMetadata"?: bool, "encNonce"?: string}
// stdout: {"status", "body", "responseMode", "request": {...}, "jweHeader"?: {...}, "postForm"?: {...}}
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign } from "node:crypto";
import { readFileSync } from "node:fs";

import { Openid4vpClient } from "@openid4vc/openid4vp";
import { setGlobalConfig } from "@openid4vc/utils";
import { SDJwtVcInstance } from "@sd-jwt/sd-jwt-vc";
import { CompactEncrypt, compactVerify, decodeProtectedHeader, importJWK } from "jose";

const input = JSON.parse(readFileSync(0, "utf8"));
// The test verifier listens on http://127.0.0.1 (a free port); the library refuses http unless told.
setGlobalConfig({ allowInsecureUrls: true });

const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
function base58btc(text) {
  let n = 0n;
  for (const ch of text) {
    const v = B58.indexOf(ch);
    if (v < 0) throw new Error("not base58btc");
    n = n * 58n + BigInt(v);
  }
  const bytes = [];
  for (; n > 0n; n >>= 8n) bytes.unshift(Number(n & 0xffn));
  for (const ch of text) { if (ch !== "1") break; bytes.unshift(0); }
  return Buffer.from(bytes);
}

// did:key for P-256 (multicodec 0x1200, varint 0x80 0x24, then the compressed point): the wallet's own
// resolver, as the W3C did:key method describes it. Node's SPKI import decompresses the point.
function resolveDidKey(didUrl) {
  const did = didUrl.split("#")[0];
  if (!did.startsWith("did:key:z")) throw new Error("only did:key is resolved here");
  const raw = base58btc(did.slice("did:key:z".length));
  if (raw[0] !== 0x80 || raw[1] !== 0x24 || raw.length !== 35) throw new Error("not a P-256 did:key");
  const spki = Buffer.concat([Buffer.from("3039301306072a8648ce3d020106082a8648ce3d030107032200", "hex"), raw.subarray(2)]);
  return createPublicKey({ key: spki, format: "der", type: "spki" }).export({ format: "jwk" });
}

const hashName = (alg) => ({ "sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512" })[alg.toLowerCase()] ?? alg;
const unused = (what) => () => { throw new Error(`${what} is not used by this wallet`); };
let jweHeader;

const callbacks = {
  hash: (data, alg) => new Uint8Array(createHash(hashName(alg)).update(data).digest()),
  generateRandom: (n) => new Uint8Array(randomBytes(n)),
  verifyJwt: async (signer, { compact }) => {
    if (signer.method !== "did") return { verified: false };
    const jwk = resolveDidKey(signer.didUrl);
    try {
      await compactVerify(compact, await importJWK(jwk, signer.alg));
      return { verified: true, signerJwk: jwk };
    } catch {
      return { verified: false, signerJwk: jwk };
    }
  },
  encryptJwe: async (encryptor, data) => {
    const header = { alg: encryptor.alg, enc: encryptor.enc };
    if (encryptor.publicJwk.kid) header.kid = encryptor.publicJwk.kid;
    const params = {};
    if (encryptor.apu) params.apu = Buffer.from(encryptor.apu, "base64url");
    if (encryptor.apv) params.apv = Buffer.from(encryptor.apv, "base64url");
    const jwe = await new CompactEncrypt(new TextEncoder().encode(data))
      .setProtectedHeader(header)
      .setKeyManagementParameters(params)
      .encrypt(await importJWK(encryptor.publicJwk, encryptor.alg));
    jweHeader = decodeProtectedHeader(jwe);
    return { jwe, encryptionJwk: encryptor.publicJwk };
  },
  decryptJwe: unused("decryptJwe"),
  signJwt: unused("signJwt"),
};

const WALLET_METADATA = {
  vp_formats_supported: { "dc+sd-jwt": { "sd-jwt_alg_values": ["ES256"], "kb-jwt_alg_values": ["ES256"] } },
  authorization_encryption_alg_values_supported: ["ECDH-ES"],
  authorization_encryption_enc_values_supported: ["A256GCM", "A128GCM"],
  request_object_signing_alg_values_supported: ["ES256"],
  response_modes_supported: ["direct_post", "direct_post.jwt"],
};

// Record what the library sends to the request URI when it POSTs, so the test can see it.
let postForm;
const realFetch = globalThis.fetch;
callbacks.fetch = async (url, init) => {
  if (init?.method?.toUpperCase() === "POST" && String(url).includes("/request.jwt")) {
    postForm = Object.fromEntries(new URLSearchParams(String(init.body ?? "")));
  }
  return realFetch(url, init);
};

const client = new Openid4vpClient({ callbacks });
const parsed = client.parseOpenid4vpAuthorizationRequest({ authorizationRequest: input.uri });
const resolved = await client.resolveOpenId4vpAuthorizationRequest({
  authorizationRequestPayload: parsed.params,
  responseMode: { type: "direct_post" },
  wallet: input.walletMetadata ? { metadata: WALLET_METADATA } : undefined,
});
const request = resolved.authorizationRequestPayload;

// Disclose exactly the claims the DCQL query names (top-level paths: what civicpass policies ask for).
const [query] = resolved.dcql.query.credentials;
const frame = Object.fromEntries((query.claims ?? []).map((c) => [c.path[0], true]));
const holderKey = createPrivateKey({ key: input.holderJwk, format: "jwk" });
const sdjwt = new SDJwtVcInstance({
  hasher: (data, alg) => new Uint8Array(createHash(hashName(alg)).update(data).digest()),
  kbSignAlg: "ES256",
  kbSigner: (signingInput) => sign("sha256", Buffer.from(signingInput), { key: holderKey, dsaEncoding: "ieee-p1363" })
    .toString("base64url"),
});
const presentation = await sdjwt.present(input.credential, frame, {
  kb: { payload: { aud: request.client_id, nonce: request.nonce, iat: Math.floor(Date.now() / 1000) } },
});

const encrypted = request.response_mode === "direct_post.jwt";
const response = await client.createOpenid4vpAuthorizationResponse({
  authorizationRequestPayload: request,
  authorizationResponsePayload: { vp_token: { [query.id]: [presentation] } },
  jarm: encrypted
    ? {
        encryption: { nonce: input.encNonce ?? "" },
        serverMetadata: {
          authorization_encryption_alg_values_supported: ["ECDH-ES"],
          authorization_encryption_enc_values_supported: ["A256GCM", "A128GCM"],
          authorization_signing_alg_values_supported: ["ES256"],
        },
      }
    : undefined,
});
const submitted = await client.submitOpenid4vpAuthorizationResponse({
  authorizationRequestPayload: request,
  authorizationResponsePayload: response.authorizationResponsePayload,
  jarm: response.jarm ? { responseJwt: response.jarm.responseJwt } : undefined,
});
const http = submitted.response;
process.stdout.write(JSON.stringify({
  status: http.status,
  body: await http.text(),
  responseMode: submitted.responseMode,
  request: { client_id: request.client_id, response_mode: request.response_mode, wallet_nonce: request.wallet_nonce,
             client: resolved.client.prefix, disclosed: Object.keys(frame) },
  jweHeader,
  postForm,
}));
