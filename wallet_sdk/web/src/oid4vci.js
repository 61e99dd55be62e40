// Receive credentials with OpenID4VCI 1.0, pre-authorized code flow, as wallet_sdk/receive.py does:
// offer -> issuer metadata (§12.2) -> AS metadata (RFC 8414) -> token with the transaction code (§6.1)
// -> per configuration a fresh c_nonce (§7) and one openid4vci-proof+jwt per holder key (§8.2, App. F.1):
// one key for the SD-JWT VC, one per CP1 copy. Everything is checked against the city's trust before
// anything is kept; one failure keeps nothing. Where the issuer binds tokens by DPoP (RFC 9449), a
// non-extractable DPoP key of our own signs a proof per request and the refresh token it gives fetches
// new batches later (refill, as wallet_sdk/refresh.py).
import { base64url, calculateJwkThumbprint, CompactSign, decodeProtectedHeader } from 'jose'
import { compressPoint, equalBytes, parseCredential, sigStructure } from './cp1.js'
import { checkIssued } from './sdjwt.js'
import { keysByKid8, refusal } from './trust.js'
import { deleteKeys, holderKey, newHolderKey } from './store.js'

export const PRE_AUTH = 'urn:ietf:params:oauth:grant-type:pre-authorized_code'
export const SD_JWT = 'dc+sd-jwt'
export const CP1 = 'civicpass-cp1'
export const COPIES = 10
export const PROFILE_VCT = { 1: 'urn:civicpass:ResidentCredential:1', 2: 'urn:civicpass:MerchantCredential:1' }
const enc = new TextEncoder()

/** A failure the UI explains: `code` picks the sentence (i18n.js), `detail` is for the log. */
export class ReceiveError extends Error {
  constructor (code, detail = '', problem = null) { super(detail || code); this.code = code; this.problem = problem }
}

export function wellKnown (identifier, suffix) {
  const u = new URL(identifier)
  return `${u.origin}/.well-known/${suffix}${u.pathname.replace(/\/$/, '')}`
}

// The DPoP nonce each issuer origin gave last (RFC 9449 §8, §9): the next proof to it carries it.
const dpopNonces = new Map()

/**
 * One request, its JSON answer or a ReceiveError. With `dpop` (nonce => a proof for this request) the proof goes
 * in the DPoP header with the nonce this origin gave last; a refusal asking for a new one (`use_dpop_nonce`,
 * with a DPoP-Nonce header) is sent once more with a proof carrying it.
 */
async function call (url, what, init = {}, dpop = null) {
  const origin = new URL(url).origin
  let resp, body
  for (let attempt = 1; ; attempt++) {
    const headers = dpop ? { ...init.headers, dpop: await dpop(dpopNonces.get(origin) || null) } : init.headers
    try {
      resp = await fetch(url, { ...init, headers, cache: 'no-store' })
    } catch {
      throw new ReceiveError('unreachable', `${what}: ${url} unreachable`)
    }
    const nonce = resp.headers.get('dpop-nonce')
    if (nonce) dpopNonces.set(origin, nonce)
    body = null
    try { body = await resp.json() } catch { /* some answers have no body */ }
    if (resp.ok || !dpop || attempt === 2 || body?.error !== 'use_dpop_nonce' || !nonce) break
  }
  if (!resp.ok) {
    const error = body && typeof body.error === 'string' ? body.error : `http_${resp.status}`
    throw new ReceiveError(error === 'invalid_grant' ? 'invalid_grant' : 'issuer_refused', `${what}: ${error}`, body)
  }
  return body
}

/** Parse `openid-credential-offer://?credential_offer=...` (or `credential_offer_uri`, fetched). */
export async function resolveOffer (text) {
  let url
  try { url = new URL(text.trim()) } catch { throw new ReceiveError('bad_offer', 'not a URI') }
  if (!['openid-credential-offer:', 'https:', 'http:'].includes(url.protocol)) throw new ReceiveError('bad_offer', 'scheme')
  const byValue = url.searchParams.get('credential_offer')
  const byRef = url.searchParams.get('credential_offer_uri')
  if (Boolean(byValue) === Boolean(byRef)) throw new ReceiveError('bad_offer', 'exactly one of credential_offer(_uri)')
  let offer
  try {
    offer = byValue ? JSON.parse(byValue) : await call(byRef, 'credential offer')
  } catch (err) {
    if (err instanceof ReceiveError) throw err
    throw new ReceiveError('bad_offer', 'offer is not JSON')
  }
  const grant = offer?.grants?.[PRE_AUTH]
  if (typeof offer?.credential_issuer !== 'string' || !Array.isArray(offer.credential_configuration_ids) ||
      !grant || typeof grant['pre-authorized_code'] !== 'string') {
    throw new ReceiveError('bad_offer', 'no pre-authorized code grant')
  }
  return { issuer: offer.credential_issuer, ids: offer.credential_configuration_ids, code: grant['pre-authorized_code'],
    txCode: grant.tx_code || null }
}

export async function fetchMetadata (offer) {
  const meta = await call(wellKnown(offer.issuer, 'openid-credential-issuer'), 'issuer metadata')
  if (meta?.credential_issuer !== offer.issuer) throw new ReceiveError('issuer_refused', 'metadata names another issuer')
  const server = meta.authorization_servers?.[0] || offer.issuer
  const as = await call(wellKnown(server, 'oauth-authorization-server'), 'AS metadata')
  const batch = meta.batch_credential_issuance?.batch_size
  return {
    issuer: offer.issuer,
    name: meta.display?.[0]?.name || '',
    credentialEndpoint: meta.credential_endpoint,
    nonceEndpoint: meta.nonce_endpoint || null,
    tokenEndpoint: as.token_endpoint,
    batchSize: Number.isInteger(batch) && batch > 0 ? batch : 1,
    dpop: (as.dpop_signing_alg_values_supported || []).includes('ES256'),
    configs: meta.credential_configurations_supported || {}
  }
}

export async function keyProof (key, audience, nonce, now) {
  const payload = { aud: audience, iat: now, ...(nonce ? { nonce } : {}) }
  return new CompactSign(enc.encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ES256', typ: 'openid4vci-proof+jwt', jwk: key.publicJwk })
    .sign(key.privateKey)
}

/**
 * RFC 9449 §4: one proof per request, naming it (htm, htu), with `ath` when a token goes with it and the
 * server's `nonce` when it gave one (§8, §9).
 */
export async function dpopProof (key, url, now, accessToken = null, nonce = null) {
  const claims = { jti: crypto.randomUUID(), htm: 'POST', htu: url.split(/[?#]/)[0], iat: now }
  if (accessToken) {
    claims.ath = base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(accessToken))))
  }
  if (nonce) claims.nonce = nonce
  return new CompactSign(enc.encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk })
    .sign(key.privateKey)
}

async function tokenRequest (meta, form, dpopKey, now) {
  const proofs = dpopKey ? (nonce) => dpopProof(dpopKey, meta.tokenEndpoint, now, null, nonce) : null
  const body = await call(meta.tokenEndpoint, 'token', { method: 'POST', body: form }, proofs)
  const kind = String(body?.token_type || '').toLowerCase()
  if (typeof body?.access_token !== 'string' || !['bearer', 'dpop'].includes(kind)) {
    throw new ReceiveError('issuer_refused', 'no access token')
  }
  if (kind === 'dpop' && !dpopKey) throw new ReceiveError('issuer_refused', 'DPoP-bound token without our proof')
  return { access: body.access_token, dpopKey: kind === 'dpop' ? dpopKey : null,
    refreshToken: kind === 'dpop' && typeof body.refresh_token === 'string' ? body.refresh_token : null }
}

function authorization (token) {
  return { authorization: `${token.dpopKey ? 'DPoP' : 'Bearer'} ${token.access}` }
}

/** DPoP proofs for one request presenting `token`, given the server's nonce; null for a bearer token. */
function tokenProofs (token, url, now) {
  return token.dpopKey ? (nonce) => dpopProof(token.dpopKey, url, now, token.access, nonce) : null
}

async function redeem (meta, offer, txCode, dpopKey, now) {
  if (offer.txCode && !txCode) throw new ReceiveError('tx_code_needed')
  const form = new URLSearchParams({ grant_type: PRE_AUTH, 'pre-authorized_code': offer.code })
  if (offer.txCode) form.set('tx_code', txCode)
  return tokenRequest(meta, form, dpopKey, now)
}

async function requestCredentials (meta, token, configId, keys, now) {
  for (let attempt = 1; ; attempt++) {
    const nonce = meta.nonceEndpoint ? (await call(meta.nonceEndpoint, 'nonce', { method: 'POST' })).c_nonce : null
    const proofs = await Promise.all(keys.map((k) => keyProof(k, meta.issuer, nonce, now)))
    try {
      const body = await call(meta.credentialEndpoint, 'credential', {
        method: 'POST',
        headers: { ...authorization(token), 'content-type': 'application/json' },
        body: JSON.stringify({ credential_configuration_id: configId, proofs: { jwt: proofs } })
      }, tokenProofs(token, meta.credentialEndpoint, now))
      if (!Array.isArray(body?.credentials) || body.credentials.length !== keys.length) {
        throw new ReceiveError('issuer_refused', 'not one credential per proof')
      }
      return body.credentials.map((c) => c.credential)
    } catch (err) {
      // §8.3.1.2: invalid_nonce means "fetch a fresh c_nonce and try again".
      if (attempt === 2 || !String(err.message).includes('invalid_nonce')) throw err
    }
  }
}

/**
 * SD-JWT VC §3.5's standard route, beside the chain: an issuer whose `iss` is an HTTP(S) URL publishes
 * JWT VC Issuer Metadata, and its key set must hold the key that signed (a set that disagrees with the
 * chain's trust is refused). An issuer named by a DID publishes none; then the chain's trust alone decides.
 */
export async function checkJwtVcIssuer (iss, kid) {
  if (!/^https?:\/\//.test(iss)) return 'did'
  let resp
  try {
    resp = await fetch(wellKnown(iss, 'jwt-vc-issuer'), { cache: 'no-store' })
  } catch {
    throw new ReceiveError('unreachable', 'JWT VC Issuer Metadata unreachable')
  }
  if (resp.status === 404) return 'absent'
  const body = resp.ok ? await resp.json().catch(() => null) : null
  if (body?.issuer !== iss) throw new ReceiveError('credential_rejected', 'JWT VC Issuer Metadata names another issuer')
  for (const key of body.jwks?.keys || []) {
    if (await calculateJwkThumbprint(key, 'sha256').catch(() => null) === kid) return 'agrees'
  }
  throw new ReceiveError('credential_rejected', "the issuer's published keys do not hold the key it signed with")
}

/** Check one issued CP1 copy: trusted issuer key by kid, issuer signature, bound to `key`. */
export async function checkCp1Copy (b64, key, trust, now) {
  let cred
  try { cred = parseCredential(base64url.decode(b64)) } catch { throw new ReceiveError('credential_rejected', 'CP1 unreadable') }
  const vct = PROFILE_VCT[cred.profileId]
  if (!vct) throw new ReceiveError('credential_rejected', 'unknown CP1 profile')
  for (const entry of keysByKid8(trust, cred.kid)) {
    const pub = await crypto.subtle.importKey('jwk', entry.key.jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify'])
    const ok = await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, pub, cred.signature,
      sigStructure(cred.protectedBytes, cred.payload))
    if (!ok) continue
    const why = refusal(entry, cred.iat, vct)
    if (why) throw new ReceiveError('credential_rejected', why)
    if (cred.exp <= now) throw new ReceiveError('credential_rejected', 'expired')
    if (!equalBytes(cred.holderKey, compressPoint(key.publicRaw))) throw new ReceiveError('credential_rejected', 'not our key')
    return { cred, entry, vct }
  }
  throw new ReceiveError('credential_rejected', 'CP1 copy is not signed by a key the city trusts')
}

/**
 * The whole flow. Returns a record ready to seal (the caller stores it). Keys made for credentials that
 * were refused are deleted again.
 */
export async function receive (offerText, txCode, { trust, now, copies = COPIES }) {
  if (!trust) throw new ReceiveError('no_trust')
  const offer = await resolveOffer(offerText)
  const meta = await fetchMetadata(offer)
  const byFormat = {}
  for (const id of offer.ids) {
    const cfg = meta.configs[id]
    if (cfg && !byFormat[cfg.format]) byFormat[cfg.format] = id
  }
  if (!byFormat[SD_JWT] && !byFormat[CP1]) throw new ReceiveError('issuer_refused', 'no format this wallet keeps')
  const dpopKey = meta.dpop ? await newHolderKey() : null
  let token
  try {
    token = await redeem(meta, offer, txCode, dpopKey, now)
  } catch (err) {
    if (dpopKey) await deleteKeys([dpopKey.id])
    throw err
  }
  const record = { id: crypto.randomUUID(), credentialIssuer: meta.issuer, issuerName: meta.name, receivedAt: now,
    copies: [], status: 'unknown' }
  let fresh
  try {
    fresh = await fetchBatch(meta, token, byFormat, record, { trust, now, copies })
  } catch (err) {
    if (dpopKey) await deleteKeys([dpopKey.id])
    throw err
  }
  if (token.refreshToken) {
    record.refresh = { token: token.refreshToken, dpopKeyId: dpopKey.id, tokenEndpoint: meta.tokenEndpoint,
      credentialEndpoint: meta.credentialEndpoint, nonceEndpoint: meta.nonceEndpoint, issuer: meta.issuer,
      byFormat, copies: fresh.copies.length || copies }
  } else if (dpopKey) await deleteKeys([dpopKey.id])
  return { record }
}

/**
 * A new batch by refresh (RFC 6749 §6, DPoP-bound): the same credential on new keys, all copies unused.
 * Returns the refreshed record; the old holder keys are deleted. On refusal the error's `problem.code`
 * says why (refresh_credential_revoked, refresh_credential_suspended, refresh_limit_reached...).
 */
export async function refill (record, { trust, now }) {
  const state = record.refresh
  if (!state) throw new ReceiveError('refresh_unsupported')
  const dpopKey = await holderKey(state.dpopKeyId)
  const meta = { issuer: state.issuer, tokenEndpoint: state.tokenEndpoint, credentialEndpoint: state.credentialEndpoint,
    nonceEndpoint: state.nonceEndpoint, configs: {} }
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: state.token })
  const token = await tokenRequest(meta, form, dpopKey, now)
  const next = { ...record, copies: [] }
  const oldKeys = [record.sdJwtKey, ...record.copies.map((c) => c.keyId)].filter(Boolean)
  await fetchBatch(meta, token, state.byFormat, next, { trust, now, copies: state.copies })
  if (next.vct !== record.vct) throw new ReceiveError('credential_rejected', 'refreshed credential of another type')
  if (token.refreshToken) next.refresh = { ...state, token: token.refreshToken }
  next.refilledAt = now
  await deleteKeys(oldKeys)
  return next
}

async function fetchBatch (meta, token, byFormat, record, { trust, now, copies }) {
  const made = []
  const newKey = async () => { const k = await newHolderKey(); made.push(k.id); return k }
  try {
    if (byFormat[SD_JWT]) {
      const cfg = meta.configs[byFormat[SD_JWT]] || { vct: record.vct }
      const key = await newKey()
      const [sdJwt] = await requestCredentials(meta, token, byFormat[SD_JWT], [key], now)
      let checked
      try {
        checked = await checkIssued(sdJwt, { trust, holderJwk: key.publicJwk, now, expectedVct: cfg.vct })
      } catch (err) {
        throw new ReceiveError('credential_rejected', `SD-JWT VC: ${err.code || err.message}`)
      }
      record.keyRoute = await checkJwtVcIssuer(checked.payload.iss, decodeProtectedHeader(sdJwt.split('~')[0]).kid)
      Object.assign(record, { sdJwt, sdJwtKey: key.id, vct: checked.payload.vct, claims: checked.claims,
        issuer: checked.payload.iss, iat: checked.payload.iat, exp: checked.payload.exp ?? null,
        statusRef: checked.payload.status?.status_list || null,
        name: cfg.credential_metadata?.display?.[0]?.name || cfg.display?.[0]?.name || record.name || '',
        issuerTitle: checked.issuerEntry.issuer.name })
    }
    if (byFormat[CP1]) {
      const n = Math.max(1, Math.min(copies, meta.batchSize || copies))
      const keys = []
      for (let i = 0; i < n; i++) keys.push(await newKey())
      const creds = await requestCredentials(meta, token, byFormat[CP1], keys, now)
      for (let i = 0; i < n; i++) {
        const { cred, entry, vct } = await checkCp1Copy(creds[i], keys[i], trust, now)
        if (record.vct && record.vct !== vct) throw new ReceiveError('credential_rejected', 'copies of another type')
        record.vct = vct
        record.issuerTitle ??= entry.issuer.name
        record.iat ??= cred.iat
        record.exp ??= cred.exp
        record.copies.push({ b64: creds[i], keyId: keys[i].id, profile: cred.profile, listId: cred.statusListId,
          index: cred.statusIndex, used: false })
      }
    }
    return record
  } catch (err) {
    await deleteKeys(made)
    throw err
  }
}
