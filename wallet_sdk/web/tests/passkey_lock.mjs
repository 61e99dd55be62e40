// The passkey half of the lock (src/passkey.js) without a browser: the PRF wrap, the WebAuthn calls it makes
// (through a stand-in for navigator.credentials) and the reasons it gives for not offering passkey unlock.
// Usage: node passkey_lock.mjs PRF_HEX DATA_KEY_HEX -> prints {"wrapped_hex", "checks"} on success, for Python
// to unwrap with its own HKDF and AES-KW; any mismatch throws (exit code 1) naming the check.
import { createPasskey, evaluatePasskey, passkeySupport, unwrapUnderPrf, wrapUnderPrf } from '../src/passkey.js'

const hex = (b) => Buffer.from(b).toString('hex')
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'))
const checks = []
function same (what, got, want) {
  if (got !== want) throw new Error(`${what}: got ${got}, want ${want}`)
  checks.push(what)
}

const [prfHex, dataHex] = process.argv.slice(2)
const prf = unhex(prfHex)
const data = await crypto.subtle.importKey('raw', unhex(dataHex), 'AES-GCM', true, ['encrypt', 'decrypt'])
const wrapped = await wrapUnderPrf(data, prf)
same('wrap length', wrapped.length, 40)
const opened = await unwrapUnderPrf(wrapped, prf)
same('unwrapped key is not extractable', opened.extractable, false)
const iv = new Uint8Array(12)
const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, data, new TextEncoder().encode('record'))
same('unwrapped key opens what the data key sealed',
  new TextDecoder().decode(await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, opened, sealed)), 'record')
const other = prf.slice()
other[0] ^= 1
same('another PRF output does not unwrap', await unwrapUnderPrf(wrapped, other).then(() => 'opened', () => 'refused'), 'refused')

// A stand-in for navigator.credentials that records what it was asked and answers as told.
function authenticator ({ atCreate, atGet }) {
  const asked = []
  const credential = (results) => ({ rawId: new Uint8Array([7, 7, 7]).buffer, getClientExtensionResults: () => results })
  return {
    asked,
    create: async (options) => { asked.push(['create', options.publicKey]); return credential(atCreate) },
    get: async (options) => { asked.push(['get', options.publicKey]); return credential(atGet) }
  }
}
const salt = new Uint8Array(32).fill(9)
const output = new Uint8Array(32).fill(5)

let a = authenticator({ atCreate: { prf: { enabled: true, results: { first: output.buffer } } } })
let made = await createPasskey(salt, { credentials: a })
same('PRF output at creation is used', hex(made.prf), hex(output))
same('no assertion needed then', a.asked.length, 1)
const asked = a.asked[0][1]
same('platform authenticator', asked.authenticatorSelection.authenticatorAttachment, 'platform')
same('user verification required at creation', asked.authenticatorSelection.userVerification, 'required')
same('PRF evaluated at the salt', hex(asked.extensions.prf.eval.first), hex(salt))

a = authenticator({ atCreate: { prf: { enabled: true } }, atGet: { prf: { results: { first: output.buffer } } } })
made = await createPasskey(salt, { credentials: a })
same('PRF enabled without output: evaluated by an assertion', hex(made.prf), hex(output))
const [, get] = a.asked[1]
same('the assertion asks for this credential only', hex(get.allowCredentials[0].id), '070707')
same('user verification required at the assertion', get.userVerification, 'required')
same('the assertion evaluates the salt', hex(get.extensions.prf.eval.first), hex(salt))

a = authenticator({ atCreate: { prf: { enabled: false } } })
made = await createPasskey(salt, { credentials: a })
same('no PRF: no output', made.prf, null)
same('no PRF: no assertion', a.asked.length, 1)
a = authenticator({ atGet: {} })
same('an assertion without PRF output gives none', await evaluatePasskey(new Uint8Array([1]), salt, { credentials: a }), null)

// Reasons not to offer it. Node has no navigator: one is lent for these.
globalThis.navigator = { credentials: {} }
const pkc = (caps, platform) => Object.assign(function PublicKeyCredential () {}, {
  getClientCapabilities: async () => caps, isUserVerifyingPlatformAuthenticatorAvailable: async () => platform
})
same('no WebAuthn', await passkeySupport(undefined, 'wallet.example'), 'passkey_unsupported')
same('an IPv4 address', await passkeySupport(pkc({}, true), '127.0.0.1'), 'passkey_no_domain')
same('an IPv6 address', await passkeySupport(pkc({}, true), '[::1]'), 'passkey_no_domain')
same('no PRF in the browser', await passkeySupport(pkc({ 'extension:prf': false }, true), 'localhost'), 'passkey_unsupported')
same('no platform authenticator', await passkeySupport(pkc({ 'extension:prf': true }, false), 'localhost'), 'passkey_no_platform')
same('capabilities unknown, platform there', await passkeySupport(pkc(undefined, true), 'wallet.example'), 'ok')
console.log(JSON.stringify({ wrapped_hex: hex(wrapped), checks }))
