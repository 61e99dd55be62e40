// CP1 compact QR credentials on the holder's side: read an issued copy, make the holder proof, encode the QR text.
// The byte layout is credcore/cp1's (its package docstring is the specification); tests/vectors/cp1_web.json pins
// the bytes both sides must agree on, checked by the Python tests and by tests/cp1_vectors.mjs here.
import { decode, encode } from 'cborg'
import { encode as base45 } from 'base45-js'

export const PREFIX = 'CP1:'
export const TIME_STEP = 30
export const HOLDER_CONTEXT = 'CP1-holder-proof'
export const PROFILE_NAMES = { 1: 'resident-basic', 2: 'merchant-eligibility' }
const NONCE = /^[A-Za-z0-9._~-]{1,32}$/
const EMPTY = new Uint8Array(0)

export class Cp1Error extends Error {
  constructor (code, message) { super(message); this.code = code }
}

const COSE_SIGN1_TAG = 18
const decodeOpts = { useMaps: true, strict: true, rejectDuplicateMapKeys: true, tags: [] }
decodeOpts.tags[COSE_SIGN1_TAG] = (inner) => inner()

/** Parse an issued CP1 credential (COSE_Sign1 bytes); nothing is verified here. */
export function parseCredential (raw) {
  let sign1, claims, header
  try {
    sign1 = decode(raw, decodeOpts)
    if (raw[0] !== 0xd2 || !Array.isArray(sign1) || sign1.length !== 4) throw new Error('not COSE_Sign1')
    header = decode(sign1[0], decodeOpts)
    claims = decode(sign1[2], decodeOpts)
  } catch (err) {
    throw new Cp1Error('malformed', `CP1 credential cannot be read: ${err.message}`)
  }
  const [protectedBytes, , payload, signature] = sign1
  const kid = header.get(4)
  const status = claims.get(-2)
  const holderKey = claims.get(8)
  if (header.get(1) !== -7 || !(kid instanceof Uint8Array) || kid.length !== 8) {
    throw new Cp1Error('malformed', 'CP1 protected header must be ES256 with an 8-byte kid')
  }
  if (!(holderKey instanceof Uint8Array) || holderKey.length !== 33 || !Array.isArray(status) || status.length !== 2) {
    throw new Cp1Error('malformed', 'CP1 claims are not the expected set')
  }
  return {
    raw,
    protectedBytes,
    payload,
    signature,
    kid,
    iat: claims.get(6),
    exp: claims.get(4),
    holderKey,
    profileId: claims.get(-1),
    profile: PROFILE_NAMES[claims.get(-1)] || null,
    statusListId: status[0],
    statusIndex: status[1],
    claims: claims.get(-3)
  }
}

/** RFC 9052 §4.4 Sig_structure for COSE_Sign1 (external_aad empty): what the issuer signed. */
export function sigStructure (protectedBytes, payload) {
  return encode(['Signature1', protectedBytes, EMPTY, payload])
}

export async function sha256 (bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
}

/** The bytes the holder signs: ["CP1-holder-proof", sha256(credential), time step, nonce / null]. */
export function holderInput (digest, step, nonce) {
  return encode([HOLDER_CONTEXT, digest, step, nonce ?? null])
}

export function timeStep (nowSeconds) {
  return Math.floor(nowSeconds / TIME_STEP)
}

/** The presentation before its holder signature is appended (the last array element). */
export function presentationBytes (raw, step, nonce, signature) {
  return encode([raw, step, nonce ?? null, signature])
}

/**
 * The `CP1:` text for a QR code: `raw` with a holder proof for the time step of `nowSeconds`.
 * `sign(bytes)` returns the 64-byte raw ES256 signature (r || s), as WebCrypto's ECDSA gives it.
 * `digest` may be passed when the caller cached sha256(raw): the redraw each step needs only one signature.
 */
export async function presentCp1 (raw, sign, nowSeconds, { nonce = null, digest = null } = {}) {
  if (nonce !== null && !NONCE.test(nonce)) throw new Cp1Error('bad_nonce', 'nonce must be 1 to 32 URL-safe characters')
  const step = timeStep(nowSeconds)
  const signature = await sign(holderInput(digest || await sha256(raw), step, nonce))
  if (!(signature instanceof Uint8Array) || signature.length !== 64) throw new Cp1Error('bad_signature', 'holder signature is not 64 bytes')
  return PREFIX + base45(presentationBytes(raw, step, nonce, signature))
}

/** A P-256 public key as the 33-byte SEC1 compressed point CP1's cnf claim holds, from its raw (65-byte) form. */
export function compressPoint (uncompressed) {
  if (uncompressed.length !== 65 || uncompressed[0] !== 4) throw new Cp1Error('bad_key', 'not an uncompressed P-256 point')
  const out = new Uint8Array(33)
  out[0] = (uncompressed[64] & 1) ? 3 : 2
  out.set(uncompressed.subarray(1, 33), 1)
  return out
}

export function equalBytes (a, b) {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i]
  return diff === 0
}
