// Is the credential still valid? IETF Token Status List: the issuer serves a statuslist+jwt signed with one
// of its keys in the city's trust; when the trust snapshot carries the chain's digest for the list, a list
// that differs is not believed (a server cannot roll a revocation back). Any doubt gives 'unknown', never a guess.
import { base64url, compactVerify, decodeProtectedHeader, importJWK } from 'jose'
import { keyByThumbprint } from './trust.js'

const NAMES = { 0: 'valid', 1: 'revoked', 2: 'suspended' }

async function inflate (bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'))
  return new Uint8Array(await new Response(stream).arrayBuffer())
}

async function sha256hex (text) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)))
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('')
}

function unknown (uri, why) {
  console.info(`status of ${uri} unknown: ${why}`)
  return 'unknown'
}

/** 'valid' | 'revoked' | 'suspended' | 'unknown' for entry `idx` of the list at `uri`. */
export async function statusOf (uri, idx, trust) {
  try {
    const resp = await fetch(uri, { cache: 'no-store', headers: { accept: 'application/statuslist+jwt' } })
    if (!resp.ok) return unknown(uri, `HTTP ${resp.status}`)
    const token = (await resp.text()).trim()
    const header = decodeProtectedHeader(token)
    const entry = keyByThumbprint(trust, header.kid)
    if (!entry || header.typ !== 'statuslist+jwt') return unknown(uri, 'signed by an unknown key')
    const want = trust.statusDigests?.[uri]
    if (want && want !== await sha256hex(token)) return unknown(uri, 'differs from the digest on chain')
    const { payload } = await compactVerify(token, await importJWK(entry.key.jwk, 'ES256'), { algorithms: ['ES256'] })
    const claims = JSON.parse(new TextDecoder().decode(payload))
    if (claims.sub !== uri) return unknown(uri, 'sub is another list')
    const { bits, lst } = claims.status_list || {}
    if (![1, 2, 4, 8].includes(bits)) return unknown(uri, 'bad bits')
    const list = await inflate(base64url.decode(lst))
    const byte = list[Math.floor((idx * bits) / 8)]
    if (byte === undefined) return unknown(uri, 'index out of range')
    const value = (byte >> ((idx * bits) % 8)) & ((1 << bits) - 1)
    return NAMES[value] || 'revoked'
  } catch (err) {
    return unknown(uri, err.message)
  }
}

export function statusRefOf (record) {
  if (record.statusRef?.uri) return { uri: record.statusRef.uri, idx: record.statusRef.idx }
  const copy = record.copies.find((c) => !c.used) || record.copies[0]
  return copy ? { uri: `${record.credentialIssuer.replace(/\/$/, '')}/status-lists/${copy.listId}`, idx: copy.index } : null
}
