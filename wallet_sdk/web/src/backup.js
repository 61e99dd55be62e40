// Move to a new phone: an export file holding the credential records, sealed with AES-GCM under a key
// derived (PBKDF2-SHA-256) from a passphrase the resident chooses. Holder keys are non-extractable, so they
// stay on the old phone: imported CP1 copies and SD-JWT VCs cannot be presented with the new phone's keys
// and are marked `foreign`. The refresh token is bound to the old phone's DPoP key, so it stays behind too:
// the new phone gets its own copies from a new offer at the counter.
import { exportKey, PBKDF2_ITERATIONS } from './lock.js'
import { base64url } from 'jose'

export const FORMAT = 'civicpass-web-wallet-export-v1'
const enc = new TextEncoder()

export class BackupError extends Error {
  constructor (code) { super(code); this.code = code }
}

export async function exportRecords (records, passphrase) {
  if (!passphrase || passphrase.length < 8) throw new BackupError('bad_file')
  const salt = crypto.getRandomValues(new Uint8Array(16))
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const key = await exportKey(passphrase, salt)
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: enc.encode(FORMAT) }, key,
    enc.encode(JSON.stringify(records)))
  const doc = { format: FORMAT, kdf: 'PBKDF2-SHA-256', iterations: PBKDF2_ITERATIONS, salt: base64url.encode(salt),
    iv: base64url.encode(iv), ciphertext: base64url.encode(new Uint8Array(ct)) }
  return new Blob([JSON.stringify(doc)], { type: 'application/json' })
}

export async function importRecords (file, passphrase, existing) {
  let records
  try {
    const doc = JSON.parse(await file.text())
    if (doc.format !== FORMAT || !Number.isInteger(doc.iterations) || doc.iterations < 100000) throw new Error('format')
    const key = await exportKey(passphrase, base64url.decode(doc.salt), doc.iterations)
    const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: base64url.decode(doc.iv), additionalData: enc.encode(FORMAT) },
      key, base64url.decode(doc.ciphertext))
    records = JSON.parse(new TextDecoder().decode(pt))
    if (!Array.isArray(records)) throw new Error('format')
  } catch {
    throw new BackupError('bad_file')
  }
  const have = new Set(existing.map((r) => r.id))
  return records.filter((r) => r && typeof r.id === 'string' && !have.has(r.id)).map((r) => ({
    ...r,
    imported: true,
    copies: (r.copies || []).map((c) => ({ ...c, foreign: true })),
    sdJwtKey: null,
    refresh: null // its token is bound to the old phone's DPoP key
  }))
}
