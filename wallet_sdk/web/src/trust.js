// The city's trust, as the wallet host serves it (trust.json: the verifier's trust snapshot format, made
// from the chain's TrustRegistry by `civicpass wallet serve`). Kept in IndexedDB so checks work offline.
import { base64url, calculateJwkThumbprint } from 'jose'
import { getMeta, setMeta } from './store.js'

export const FORMAT = 'civicpass-trust-snapshot-v1'

export async function loadTrust ({ online = true } = {}) {
  if (online) {
    try {
      const resp = await fetch('trust.json', { cache: 'no-store' })
      if (resp.ok) {
        const data = await resp.json()
        if (data && data.format === FORMAT && Array.isArray(data.issuers)) {
          const trust = await index(data)
          await setMeta('trust', data)
          return trust
        }
      }
    } catch { /* offline: the last copy below */ }
  }
  const kept = await getMeta('trust')
  return kept ? index(kept) : null
}

async function index (data) {
  const byThumb = new Map()
  for (const issuer of data.issuers) {
    for (const key of issuer.keys || []) {
      const thumb = await calculateJwkThumbprint(key.jwk, 'sha256')
      byThumb.set(thumb, { issuer, key, thumb, kid8: base64url.decode(thumb).slice(0, 8) })
    }
  }
  return { data, byThumb, statusDigests: data.status_digests || {} }
}

export function keyByThumbprint (trust, thumb) { return trust?.byThumb.get(thumb) || null }

export function keysByKid8 (trust, kid8) {
  const out = []
  for (const entry of trust?.byThumb.values() || []) {
    if (entry.kid8.every((b, i) => b === kid8[i])) out.push(entry)
  }
  return out
}

/** Is `entry`'s key in force at `t`, its issuer not suspended, and allowed to issue `vct`? ('' when fine) */
export function refusal (entry, t, vct) {
  const { issuer, key } = entry
  if (t < (key.valid_from || 0) || (key.valid_until != null && t >= key.valid_until) ||
      (key.revoked_at != null && t >= key.revoked_at)) return 'key_not_valid'
  if (issuer.suspended_at != null && t >= issuer.suspended_at) return 'issuer_suspended'
  const types = issuer.credential_types || []
  if (vct && !types.includes(vct) && !types.includes('*')) return 'issuer_not_accredited'
  return ''
}
