// SD-JWT VC (RFC 9901 + SD-JWT VC) on the holder's side: read and check what the issuer sent, pick the
// disclosures for a request, and add the key-binding JWT. JWS parts go through jose; the SD-JWT layer
// (disclosure digests, KB-JWT sd_hash) is a few lines that no small browser library does with a
// non-extractable key, so it is here.
import { base64url, CompactSign, compactVerify, decodeProtectedHeader, importJWK } from 'jose'
import { keyByThumbprint, refusal } from './trust.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

export class SdJwtError extends Error {
  constructor (code, message) { super(message); this.code = code }
}

async function digest (text) {
  return base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(text))))
}

export function split (sdJwt) {
  const parts = sdJwt.split('~')
  if (parts.length < 2) throw new SdJwtError('malformed', 'not an SD-JWT')
  const jwt = parts[0]
  const last = parts[parts.length - 1]
  const kb = last.includes('.') ? last : null
  return { jwt, disclosures: parts.slice(1, kb ? -1 : parts.length).filter(Boolean), kb }
}

function payloadOf (jwt) {
  return JSON.parse(dec.decode(base64url.decode(jwt.split('.')[1])))
}

/**
 * Rebuild the claims from the issuer JWT and its disclosures. Returns the claims and, for each
 * disclosure, the claim path it reveals (so a request for a path can name the disclosures it needs).
 */
export async function unpack (sdJwt) {
  const { jwt, disclosures } = split(sdJwt)
  const payload = payloadOf(jwt)
  const byDigest = new Map()
  for (const d of disclosures) {
    const arr = JSON.parse(dec.decode(base64url.decode(d)))
    if (!Array.isArray(arr) || (arr.length !== 2 && arr.length !== 3)) throw new SdJwtError('malformed', 'bad disclosure')
    byDigest.set(await digest(d), { text: d, arr })
  }
  const paths = new Map() // disclosure text -> path (array)
  const walk = (node, path) => {
    if (Array.isArray(node)) {
      const out = []
      node.forEach((item, i) => {
        if (item && typeof item === 'object' && !Array.isArray(item) && Object.keys(item).length === 1 && '...' in item) {
          const found = byDigest.get(item['...'])
          if (found) { paths.set(found.text, [...path, i]); out.push(walk(found.arr[1], [...path, out.length])) }
        } else out.push(walk(item, [...path, out.length]))
      })
      return out
    }
    if (node && typeof node === 'object') {
      const out = {}
      for (const [k, v] of Object.entries(node)) {
        if (k === '_sd' || k === '_sd_alg') continue
        out[k] = walk(v, [...path, k])
      }
      for (const dg of node._sd || []) {
        const found = byDigest.get(dg)
        if (found && found.arr.length === 3) {
          paths.set(found.text, [...path, found.arr[1]])
          out[found.arr[1]] = walk(found.arr[2], [...path, found.arr[1]])
        }
      }
      return out
    }
    return node
  }
  return { payload, claims: walk(payload, []), paths, jwt, disclosures }
}

/** Check an issued SD-JWT VC against the trust and our key; returns its unpacked form. */
export async function checkIssued (sdJwt, { trust, holderJwk, now, expectedVct }) {
  if (typeof sdJwt !== 'string') throw new SdJwtError('malformed', 'SD-JWT VC is not text')
  const { jwt } = split(sdJwt)
  const header = decodeProtectedHeader(jwt)
  if (header.typ !== 'dc+sd-jwt' || header.alg !== 'ES256') throw new SdJwtError('format', 'not an ES256 dc+sd-jwt')
  const entry = keyByThumbprint(trust, header.kid)
  if (!entry) throw new SdJwtError('issuer_untrusted', 'signed by a key the city does not trust')
  try {
    await compactVerify(jwt, await importJWK(entry.key.jwk, 'ES256'), { algorithms: ['ES256'] })
  } catch {
    throw new SdJwtError('signature_invalid', 'issuer signature does not verify')
  }
  const unpacked = await unpack(sdJwt)
  const p = unpacked.payload
  const why = refusal(entry, p.iat, p.vct)
  if (why) throw new SdJwtError(why, 'issuer key or accreditation not valid for this credential')
  if (p.exp != null && p.exp <= now) throw new SdJwtError('credential_expired', 'credential has expired')
  const cnf = p.cnf?.jwk
  if (!cnf || cnf.x !== holderJwk.x || cnf.y !== holderJwk.y) throw new SdJwtError('key_binding_invalid', 'not bound to our key')
  if (expectedVct && p.vct !== expectedVct) throw new SdJwtError('wrong_type', 'not of the offered type')
  return { ...unpacked, issuerEntry: entry }
}

/** The disclosures revealing the claim paths `wanted` (names/indices; null = every element), with their parents. */
export function disclosuresFor (unpacked, wanted) {
  const keep = new Set()
  for (const want of wanted) {
    for (const [text, path] of unpacked.paths) {
      const n = Math.min(path.length, want.length)
      let ok = true
      for (let i = 0; i < n; i++) if (want[i] !== null && want[i] !== path[i]) { ok = false; break }
      if (ok) keep.add(text) // a parent of the claim, the claim, or a part of it
    }
  }
  return unpacked.disclosures.filter((d) => keep.has(d))
}

/** `<jwt>~<disclosures>~<kb-jwt>` with a KB-JWT signed by the holder's key (RFC 9901 §4.3). */
export async function present (unpacked, disclosures, { privateKey, audience, nonce, now }) {
  const base = [unpacked.jwt, ...disclosures].join('~') + '~'
  const payload = { iat: now, aud: audience, nonce, sd_hash: await digest(base) }
  const kb = await new CompactSign(enc.encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ES256', typ: 'kb+jwt' })
    .sign(privateKey)
  return base + kb
}
