// A platform passkey as a second way to open the lock (lock.js). WebAuthn's PRF extension makes the
// authenticator compute a secret from the credential and a salt, and only after user verification; HKDF turns
// that secret into an AES-KW key that wraps the same data key the PIN wraps. No server checks the assertion:
// what guards the data key is that only this authenticator, after its owner's fingerprint, face or screen lock,
// gives the secret back. CTAP2's hmac-secret keeps separate secrets with and without user verification, so an
// assertion without it yields a key that does not unwrap. This module speaks WebAuthn and derives the key; the
// lock record and the error codes the resident sees live in lock.js.
import { base64url } from 'jose'

const enc = new TextEncoder()
const HKDF_INFO = enc.encode('civicpass wallet lock: passkey PRF wrap v1')
const CEREMONY_MS = 120 * 1000

/** Why this browser cannot offer passkey unlock, or 'ok'. Never throws. */
export async function passkeySupport (pkc = globalThis.PublicKeyCredential, host = globalThis.location?.hostname) {
  if (typeof pkc !== 'function' || !globalThis.navigator?.credentials) return 'passkey_unsupported'
  // WebAuthn takes a domain as the relying party, never an IP address.
  if (!host || /^[0-9.]+$/.test(host) || host.includes(':') || host.startsWith('[')) return 'passkey_no_domain'
  const caps = await pkc.getClientCapabilities?.().catch(() => null)
  if (caps && caps['extension:prf'] === false) return 'passkey_unsupported'
  const platform = await pkc.isUserVerifyingPlatformAuthenticatorAvailable?.().catch(() => false)
  return platform ? 'ok' : 'passkey_no_platform'
}

/** The AES-KW key a PRF output stands for (HKDF-SHA-256; the PRF output is already uniform, so no salt). */
export async function prfKek (prfOutput) {
  const base = await crypto.subtle.importKey('raw', prfOutput, 'HKDF', false, ['deriveKey'])
  return crypto.subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: HKDF_INFO }, base,
    { name: 'AES-KW', length: 256 }, false, ['wrapKey', 'unwrapKey'])
}

export async function wrapUnderPrf (dataKey, prfOutput) {
  return new Uint8Array(await crypto.subtle.wrapKey('raw', dataKey, await prfKek(prfOutput), 'AES-KW'))
}

/** The data key, non-extractable; throws (AES-KW's integrity check) when the PRF output is not the one it was wrapped under. */
export async function unwrapUnderPrf (wrapped, prfOutput) {
  return crypto.subtle.unwrapKey('raw', wrapped, await prfKek(prfOutput), 'AES-KW',
    { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt'])
}

function prfFirst (credential) {
  const first = credential.getClientExtensionResults?.().prf?.results?.first
  return first ? new Uint8Array(first) : null
}

/**
 * Make a platform credential with PRF asked for and evaluate it at ``salt``. Returns {id, prf}; prf is null when
 * the authenticator has no PRF. WebAuthn's own refusals (cancelled, failed verification) are thrown as they come.
 */
export async function createPasskey (salt, { credentials = navigator.credentials, title = 'civicpass' } = {}) {
  const made = await credentials.create({
    publicKey: {
      rp: { name: title },
      // A random handle: the wallet has no account, and the authenticator learns nothing about the resident.
      user: { id: crypto.getRandomValues(new Uint8Array(16)), name: title, displayName: title },
      // No server verifies the attestation or assertions (see the top of this file); the challenge only has to be fresh.
      challenge: crypto.getRandomValues(new Uint8Array(32)),
      pubKeyCredParams: [{ type: 'public-key', alg: -7 }, { type: 'public-key', alg: -257 }],
      authenticatorSelection: { authenticatorAttachment: 'platform', residentKey: 'preferred', userVerification: 'required' },
      timeout: CEREMONY_MS,
      extensions: { prf: { eval: { first: salt } } }
    }
  })
  const id = new Uint8Array(made.rawId)
  const results = made.getClientExtensionResults?.().prf
  if (!results?.enabled && !results?.results) return { id, prf: null }
  // Some authenticators enable PRF at creation but only evaluate it in an assertion.
  return { id, prf: prfFirst(made) ?? await evaluatePasskey(id, salt, { credentials }) }
}

/** The PRF output of credential ``id`` at ``salt`` after user verification, or null when it gives none. */
export async function evaluatePasskey (id, salt, { credentials = navigator.credentials } = {}) {
  const got = await credentials.get({
    publicKey: {
      challenge: crypto.getRandomValues(new Uint8Array(32)),
      allowCredentials: [{ type: 'public-key', id }],
      userVerification: 'required',
      timeout: CEREMONY_MS,
      extensions: { prf: { eval: { first: salt } } }
    }
  })
  return prfFirst(got)
}

/** Tell the passkey provider a credential is no longer used, where the browser can (best effort). */
export async function forgetPasskey (id, pkc = globalThis.PublicKeyCredential) {
  try {
    await pkc?.signalUnknownCredential?.({ rpId: location.hostname, credentialId: base64url.encode(id) })
  } catch { /* the wrap is gone already; a passkey left in the provider opens nothing */ }
}
