// The wallet's storage: IndexedDB through idb. Holder keys are non-extractable WebCrypto keys stored as
// CryptoKey objects (the browser keeps their bytes; script can use them, never read them). Credential
// records are sealed with AES-GCM under the data key that the app lock releases (lock.js).
import { openDB } from 'idb'

const DB_NAME = 'civicpass-wallet'
let dbPromise = null

export function db () {
  dbPromise ??= openDB(DB_NAME, 1, {
    upgrade (d) {
      d.createObjectStore('meta')
      d.createObjectStore('keys')
      d.createObjectStore('creds')
    }
  })
  return dbPromise
}

export async function getMeta (key) { return (await db()).get('meta', key) }
export async function setMeta (key, value) { return (await db()).put('meta', value, key) }

/** A new P-256 holder key; the private half is non-extractable. Returns its id and public JWK. */
export async function newHolderKey () {
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
  const jwk = await crypto.subtle.exportKey('jwk', pair.publicKey)
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey))
  const id = crypto.randomUUID()
  const publicJwk = { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }
  await (await db()).put('keys', { id, privateKey: pair.privateKey, publicJwk, publicRaw: raw }, id)
  return { id, privateKey: pair.privateKey, publicJwk, publicRaw: raw }
}

export async function holderKey (id) {
  const k = await (await db()).get('keys', id)
  if (!k) throw Object.assign(new Error('holder key missing'), { code: 'key_missing' })
  return k
}

export async function deleteKeys (ids) {
  const tx = (await db()).transaction('keys', 'readwrite')
  await Promise.all([...ids.map((id) => tx.store.delete(id)), tx.done])
}

/** Raw r||s ES256 signature with a stored key. */
export async function signWith (privateKey, bytes) {
  return new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, bytes))
}

// --- sealed credential records ------------------------------------------------------------------------
const enc = new TextEncoder()
const dec = new TextDecoder()

export async function seal (dataKey, id, value) {
  const iv = crypto.getRandomValues(new Uint8Array(12))
  // The record id is the associated data: a sealed record moved to another slot does not open.
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: enc.encode(id) }, dataKey,
    enc.encode(JSON.stringify(value)))
  return { id, iv, ct: new Uint8Array(ct) }
}

export async function unseal (dataKey, sealed) {
  const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: sealed.iv, additionalData: enc.encode(sealed.id) },
    dataKey, sealed.ct)
  return JSON.parse(dec.decode(pt))
}

export async function putRecord (dataKey, record) {
  await (await db()).put('creds', await seal(dataKey, record.id, record), record.id)
}

export async function allRecords (dataKey) {
  const sealed = await (await db()).getAll('creds')
  return Promise.all(sealed.map((s) => unseal(dataKey, s)))
}

export async function deleteRecord (id) { await (await db()).delete('creds', id) }
