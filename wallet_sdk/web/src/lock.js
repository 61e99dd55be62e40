// The app lock. A random AES-GCM data key seals every credential record; it is stored only wrapped
// (AES-KW) under a key derived from the resident's PIN with PBKDF2-SHA-256. Unlocking unwraps it as a
// non-extractable key that lives in memory until the page closes. A wrong PIN fails AES-KW's integrity
// check, so nothing about the PIN is stored. Wrong PINs are counted on the device: after FREE_TRIES in a row,
// each further try waits, doubling from 30 s up to an hour; the right PIN clears the count. The count is
// written before each try, so reloading the page during the slow derivation does not undo it. Limits (README
// "Resident web wallet"): this slows someone holding the phone; someone who copies the browser profile can
// try the 10^6 six-digit PINs offline at PBKDF2's cost each.
// A platform passkey can open the lock too (passkey.js): the lock record then holds a second wrap of the same
// data key, under its PRF output. The record's `v` says which: 1, the PIN wrap alone; 2, with `passkey`
// ({kdf, id, salt, wrapped}) beside it. The PIN wrap stays in both, so the PIN always opens the wallet.
import { createPasskey, evaluatePasskey, forgetPasskey, unwrapUnderPrf, wrapUnderPrf } from './passkey.js'
import { getMeta, setMeta } from './store.js'

export const PBKDF2_ITERATIONS = 600000 // OWASP's figure for PBKDF2-HMAC-SHA256
export const MIN_PIN = 6
export const FREE_TRIES = 5
const FIRST_WAIT_MS = 30 * 1000
const LONGEST_WAIT_MS = 60 * 60 * 1000
const enc = new TextEncoder()

export class LockError extends Error {
  constructor (code, message, vars = {}) { super(message); this.code = code; this.vars = vars }
}

/** How long the wallet waits after ``failures`` wrong PINs in a row before taking the next try (ms). */
export function waitAfter (failures) {
  return failures < FREE_TRIES ? 0 : Math.min(LONGEST_WAIT_MS, FIRST_WAIT_MS * 2 ** (failures - FREE_TRIES))
}

/** The wrong-PIN count and when the last one was; a clock turned back past it restarts the wait from `now`. */
async function pinTries (now) {
  const tries = (await getMeta('pin_tries')) || { failures: 0, at: 0 }
  if (now >= tries.at) return tries
  const restarted = { ...tries, at: now }
  await setMeta('pin_tries', restarted)
  return restarted
}

function waitLeft (tries, now) { return Math.max(0, tries.at + waitAfter(tries.failures) - now) }

/** Milliseconds until the next PIN is taken (0: now). */
export async function pinWait (now = Date.now()) { return waitLeft(await pinTries(now), now) }

function waitError (ms) {
  return new LockError('pin_wait', 'too many wrong PINs', { s: Math.ceil(ms / 1000) })
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

async function unwrap (pin, lock, extractable = false) {
  try {
    return await crypto.subtle.unwrapKey('raw', lock.wrapped, await kek(pin, lock.salt, lock.iterations), 'AES-KW',
      { name: 'AES-GCM', length: 256 }, extractable, ['encrypt', 'decrypt'])
  } catch {
    throw new LockError('wrong_pin', 'wrong PIN')
  }
}

/** One counted PIN try: refused while a wait is due, a wrong PIN adds to the count, the right one clears it. */
async function pinTry (pin, extractable = false) {
  const lock = await getMeta('lock')
  if (!lock) throw new LockError('no_wallet', 'no wallet on this device yet')
  const now = Date.now()
  const tries = await pinTries(now)
  const wait = waitLeft(tries, now)
  if (wait > 0) throw waitError(wait)
  const failures = tries.failures + 1
  await setMeta('pin_tries', { failures, at: now })
  let key
  try {
    key = await unwrap(pin, lock, extractable)
  } catch (err) {
    if (waitAfter(failures) > 0) throw waitError(waitAfter(failures))
    err.vars = { n: FREE_TRIES - failures }
    throw err
  }
  await setMeta('pin_tries', { failures: 0, at: 0 })
  return { key, lock }
}

export async function unlock (pin) { return (await pinTry(pin)).key }

// --- passkey ----------------------------------------------------------------------------------------------
export async function passkeyEnrolled () { return Boolean((await getMeta('lock'))?.passkey) }

/** WebAuthn's refusals as the resident's sentences: not confirmed (cancelled, verification failed, timed out) or not possible here. */
async function ceremony (run) {
  try {
    return await run()
  } catch (err) {
    if (err?.name === 'SecurityError' || err?.name === 'NotSupportedError') throw new LockError('passkey_unsupported', `passkey refused: ${err.name}`)
    throw new LockError('passkey_cancelled', `passkey not confirmed: ${err?.name}`)
  }
}

/**
 * Turn on passkey unlock. The PIN, typed again to confirm (a counted try like any other), releases the data key
 * once as extractable so that it can be wrapped under the passkey's PRF output; it is dropped right after.
 */
export async function enrolPasskey (pin, { title } = {}) {
  const { key, lock } = await pinTry(pin, true)
  const salt = crypto.getRandomValues(new Uint8Array(32))
  const { id, prf } = await ceremony(() => createPasskey(salt, { title }))
  if (!prf) {
    await forgetPasskey(id)
    throw new LockError('passkey_no_prf', 'the authenticator gives no PRF output')
  }
  const wrapped = await wrapUnderPrf(key, prf)
  await setMeta('lock', { ...lock, v: 2, passkey: { kdf: 'WebAuthn-PRF+HKDF-SHA-256', id, salt, wrapped } })
}

/**
 * Open with the passkey. It is not a PIN try: a PIN wait does not hold it back and a failure does not count, as
 * the authenticator limits its own verification tries. Success clears the wrong-PIN count as the right PIN does:
 * it proves the owner just as well, and whoever passes it could open the wallet anyway.
 */
export async function unlockWithPasskey () {
  const lock = await getMeta('lock')
  if (!lock?.passkey) throw new LockError('passkey_none', 'no passkey for this wallet')
  const prf = await ceremony(() => evaluatePasskey(lock.passkey.id, lock.passkey.salt))
  if (!prf) throw new LockError('passkey_no_prf', 'the authenticator gave no PRF output')
  let key
  try {
    key = await unwrapUnderPrf(lock.passkey.wrapped, prf)
  } catch {
    throw new LockError('passkey_wrong', 'the passkey does not open this wallet')
  }
  await setMeta('pin_tries', { failures: 0, at: 0 })
  return key
}

/** Turn passkey unlock off: the record goes back to the PIN wrap alone. */
export async function removePasskey () {
  const lock = await getMeta('lock')
  if (!lock?.passkey) return
  const { passkey, ...pinOnly } = lock
  await setMeta('lock', { ...pinOnly, v: 1 })
  await forgetPasskey(passkey.id)
}

/** Key for an export file: PBKDF2 over the export passphrase, AES-GCM. */
export async function exportKey (passphrase, salt, iterations = PBKDF2_ITERATIONS) {
  const base = await crypto.subtle.importKey('raw', enc.encode(passphrase), 'PBKDF2', false, ['deriveKey'])
  return crypto.subtle.deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, base,
    { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt'])
}
