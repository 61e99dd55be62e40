// The app lock. A random AES-GCM data key seals every credential record; it is stored only wrapped
// (AES-KW) under a key derived from the resident's PIN with PBKDF2-SHA-256. Unlocking unwraps it as a
// non-extractable key that lives in memory until the page closes. A wrong PIN fails AES-KW's integrity
// check, so nothing about the PIN is stored. Limits (README "Resident web wallet"): a 6-digit PIN is
// 10^6 guesses; someone who copies the browser profile can try them offline at PBKDF2's cost each.
import { getMeta, setMeta } from './store.js'

export const PBKDF2_ITERATIONS = 600000 // OWASP's figure for PBKDF2-HMAC-SHA256
export const MIN_PIN = 6
const enc = new TextEncoder()

export class LockError extends Error {
  constructor (code, message) { super(message); this.code = code }
}

async function kek (pin, salt, iterations) {
  const base = await crypto.subtle.importKey('raw', enc.encode(pin), 'PBKDF2', false, ['deriveKey'])
  return crypto.subtle.deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, base,
    { name: 'AES-KW', length: 256 }, false, ['wrapKey', 'unwrapKey'])
}

function checkPin (pin) {
  if (typeof pin !== 'string' || !/^[0-9]+$/.test(pin) || pin.length < MIN_PIN) {
    throw new LockError('pin_format', `PIN must be at least ${MIN_PIN} digits`)
  }
}

export async function hasLock () { return Boolean(await getMeta('lock')) }

/** Make the lock for a new wallet; returns the data key (non-extractable). */
export async function createLock (pin) {
  checkPin(pin)
  const salt = crypto.getRandomValues(new Uint8Array(16))
  const data = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt'])
  const wrapped = new Uint8Array(await crypto.subtle.wrapKey('raw', data, await kek(pin, salt, PBKDF2_ITERATIONS), 'AES-KW'))
  await setMeta('lock', { v: 1, kdf: 'PBKDF2-SHA-256', iterations: PBKDF2_ITERATIONS, salt, wrapped })
  return unwrap(pin, { salt, wrapped, iterations: PBKDF2_ITERATIONS })
}

async function unwrap (pin, lock) {
  try {
    return await crypto.subtle.unwrapKey('raw', lock.wrapped, await kek(pin, lock.salt, lock.iterations), 'AES-KW',
      { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt'])
  } catch {
    throw new LockError('wrong_pin', 'wrong PIN')
  }
}

export async function unlock (pin) {
  const lock = await getMeta('lock')
  if (!lock) throw new LockError('no_wallet', 'no wallet on this device yet')
  return unwrap(pin, lock)
}

/** Key for an export file: PBKDF2 over the export passphrase, AES-GCM. */
export async function exportKey (passphrase, salt, iterations = PBKDF2_ITERATIONS) {
  const base = await crypto.subtle.importKey('raw', enc.encode(passphrase), 'PBKDF2', false, ['deriveKey'])
  return crypto.subtle.deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, base,
    { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt'])
}
