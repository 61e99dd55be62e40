// Cross-check the browser's CP1 code (src/cp1.js) against the shared vectors that credcore made
// (tests/vectors/cp1/cp1_web.json), then make presentations of our own for Python to verify.
// Usage: node cp1_vectors.mjs VECTORS.json  -> prints {"presentations": [{now, nonce, text}]} on success;
// any mismatch throws (exit code 1) naming the case and the field.
import { readFileSync } from 'node:fs'
import { webcrypto } from 'node:crypto'
import { base64url } from 'jose'
import { holderInput, parseCredential, presentationBytes, presentCp1, sha256, sigStructure, timeStep } from '../src/cp1.js'
import { encode as base45 } from 'base45-js'

const subtle = webcrypto.subtle
const hex = (b) => Buffer.from(b).toString('hex')
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'))
function same (what, got, want) {
  if (got !== want) throw new Error(`${what}: got ${got}, want ${want}`)
}

const v = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const raw = base64url.decode(v.credential_b64u)
const c = parseCredential(raw)
same('kid8', hex(c.kid), v.credential.kid8_hex)
same('holder key', hex(c.holderKey), v.credential.holder_key_hex)
for (const k of ['iat', 'exp', 'profile', 'status_list_id', 'status_index']) {
  const got = { iat: c.iat, exp: c.exp, profile: c.profile, status_list_id: c.statusListId, status_index: c.statusIndex }[k]
  same(k, got, v.credential[k])
}
const digest = await sha256(raw)
same('digest', hex(digest), v.credential.digest_hex)
const issuer = await subtle.importKey('jwk', v.issuer_public_jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify'])
if (!await subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, issuer, c.signature, sigStructure(c.protectedBytes, c.payload))) {
  throw new Error('issuer signature does not verify over our Sig_structure')
}
const { d, ...pub } = v.holder_private_jwk
const holderPub = await subtle.importKey('jwk', pub, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify'])
const holder = await subtle.importKey('jwk', v.holder_private_jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
const sign = async (bytes) => new Uint8Array(await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, holder, bytes))

const presentations = []
for (const [i, k] of v.cases.entries()) {
  same(`case ${i} step`, timeStep(k.now), k.step)
  const input = holderInput(digest, k.step, k.nonce)
  same(`case ${i} holder input`, hex(input), k.holder_input_hex)
  const sig = unhex(k.holder_signature_hex)
  if (!await subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, holderPub, sig, input)) {
    throw new Error(`case ${i}: credcore's holder signature does not verify here`)
  }
  const bytes = presentationBytes(raw, k.step, k.nonce, sig)
  same(`case ${i} presentation bytes`, hex(bytes), k.presentation_hex)
  same(`case ${i} text`, 'CP1:' + base45(bytes), k.text)
  presentations.push({ now: k.now, nonce: k.nonce, text: await presentCp1(raw, sign, k.now, { nonce: k.nonce }) })
}
console.log(JSON.stringify({ presentations }))
