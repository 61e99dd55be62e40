// Answer an OpenID4VP 1.0 request, as wallet_sdk/openid4vp.py does: fetch the request object by reference
// (§5.10; GET, or POST with wallet_metadata and a wallet_nonce the request must echo when
// request_uri_method=post, §5.10.1), check it is signed by the client's did:key (decentralized_identifier:
// prefix, RFC 9101) or take an unsigned redirect_uri: request (shown as unverified), match its DCQL query
// against the held SD-JWT VCs, and on consent POST the presentations with a KB-JWT by direct_post (§8.2)
// or, for direct_post.jwt, as a JWE (ECDH-ES, P-256) to the verifier's key (§8.3); declining posts
// access_denied (§8.5).
import { base64url, CompactEncrypt, compactVerify, decodeProtectedHeader, importJWK } from 'jose'
import { disclosuresFor, present, unpack } from './sdjwt.js'
import { holderKey } from './store.js'

const DIRECT_POST = 'direct_post'
const DIRECT_POST_JWT = 'direct_post.jwt'
const ENCS = ['A128GCM', 'A256GCM']
const WALLET_METADATA = {
  vp_formats_supported: { 'dc+sd-jwt': { 'sd-jwt_alg_values': ['ES256'], 'kb-jwt_alg_values': ['ES256'] } },
  response_modes_supported: [DIRECT_POST, DIRECT_POST_JWT],
  authorization_encryption_alg_values_supported: ['ECDH-ES'],
  authorization_encryption_enc_values_supported: ENCS,
  client_id_prefixes_supported: ['decentralized_identifier', 'redirect_uri']
}
const DID = 'decentralized_identifier:'
const REDIRECT = 'redirect_uri:'
const SKEW = 60

export class RequestError extends Error {
  constructor (code, detail = '') { super(detail || code); this.code = code }
}
const bad = (detail) => new RequestError('bad_request', detail)

// did:key with a P-256 key (multicodec 0x1200, varint 0x80 0x24) in base58btc (multibase 'z').
const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
function base58 (text) {
  let n = 0n
  for (const ch of text) {
    const v = B58.indexOf(ch)
    if (v < 0) throw bad('did:key is not base58')
    n = n * 58n + BigInt(v)
  }
  const bytes = []
  while (n > 0n) { bytes.unshift(Number(n & 255n)); n >>= 8n }
  for (const ch of text) { if (ch !== '1') break; bytes.unshift(0) }
  return new Uint8Array(bytes)
}

async function didKey (did) {
  const m = /^did:key:z([1-9A-HJ-NP-Za-km-z]+)$/.exec(did)
  if (!m) throw bad('only did:key client identifiers are supported')
  const bytes = base58(m[1])
  if (bytes[0] !== 0x80 || bytes[1] !== 0x24 || bytes.length !== 35) throw bad('did:key is not a P-256 key')
  return crypto.subtle.importKey('raw', bytes.slice(2), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify'])
}

async function fetchRequestObject (params, signed) {
  if (params.get('request')) return { token: params.get('request'), walletNonce: null }
  const uri = params.get('request_uri')
  if (!uri) return { token: null, walletNonce: null }
  const method = params.get('request_uri_method') || 'get'
  if (method !== 'get' && method !== 'post') throw bad('request_uri_method')
  let walletNonce = null
  const init = { headers: { accept: 'application/oauth-authz-req+jwt' }, cache: 'no-store' }
  if (method === 'post') {
    walletNonce = base64url.encode(crypto.getRandomValues(new Uint8Array(18)))
    const metadata = { ...WALLET_METADATA, ...(signed ? { request_object_signing_alg_values_supported: ['ES256'] } : {}) }
    Object.assign(init, { method: 'POST', body: new URLSearchParams({ wallet_metadata: JSON.stringify(metadata), wallet_nonce: walletNonce }) })
  }
  let resp
  try {
    resp = await fetch(uri, init)
  } catch { throw new RequestError('unreachable') }
  if (!resp.ok) throw new RequestError('verifier_refused', `request object: HTTP ${resp.status}`)
  return { token: (await resp.text()).trim(), walletNonce }
}

function encryption (payload) {
  const meta = payload.client_metadata || {}
  const key = (meta.jwks?.keys || []).find((k) => k && k.kty === 'EC' && k.crv === 'P-256' && k.alg === 'ECDH-ES')
  if (!key) throw bad('direct_post.jwt needs a P-256 ECDH-ES key in client_metadata.jwks')
  const offered = meta.encrypted_response_enc_values_supported || ['A128GCM']
  const enc = Array.isArray(offered) ? offered.find((e) => ENCS.includes(e)) : null
  if (!enc) throw bad('no content encryption in common')
  return { key, enc }
}

function decodeJson (part) { return JSON.parse(new TextDecoder().decode(base64url.decode(part))) }

export async function resolve (text, now) {
  let url
  try { url = new URL(text.trim()) } catch { throw bad('not a URI') }
  const params = url.searchParams
  const clientId = params.get('client_id')
  if (!clientId) throw bad('no client_id')
  const { token, walletNonce } = await fetchRequestObject(params, clientId.startsWith(DID))
  let payload
  let verifier
  let authenticated
  if (clientId.startsWith(DID)) {
    if (!token) throw bad('a decentralized_identifier: client must sign its request')
    const did = clientId.slice(DID.length)
    const header = decodeProtectedHeader(token)
    if (header.typ !== 'oauth-authz-req+jwt' || typeof header.kid !== 'string' || header.kid.split('#')[0] !== did) {
      throw bad('request object kid does not name the client DID')
    }
    try {
      payload = JSON.parse(new TextDecoder().decode((await compactVerify(token, await didKey(did), { algorithms: ['ES256'] })).payload))
    } catch (err) {
      if (err instanceof RequestError) throw err
      throw bad('request object signature does not verify')
    }
    verifier = did
    authenticated = true
  } else if (clientId.startsWith(REDIRECT)) {
    if (token) {
      const [h, p, s] = token.split('.')
      if (s !== '' || decodeJson(h).alg !== 'none') throw bad('a redirect_uri: request must not be signed')
      payload = decodeJson(p)
    } else payload = Object.fromEntries(params)
    verifier = clientId.slice(REDIRECT.length)
    authenticated = false
  } else throw bad('client identifier prefix not supported')
  if (payload.client_id !== clientId) throw bad('client_id differs')
  if (payload.response_type !== 'vp_token') throw bad('response_type')
  if (walletNonce && payload.wallet_nonce !== walletNonce) throw bad('the request does not echo our wallet_nonce')
  if (payload.response_mode !== DIRECT_POST && payload.response_mode !== DIRECT_POST_JWT) throw bad('response_mode')
  const encrypt = payload.response_mode === DIRECT_POST_JWT ? encryption(payload) : null
  if (!authenticated && payload.response_uri !== verifier) throw bad('response_uri must equal the redirect_uri')
  if (typeof payload.nonce !== 'string' || !payload.nonce) throw bad('nonce')
  if (payload.exp != null && payload.exp + SKEW <= now) throw bad('expired')
  const dcql = typeof payload.dcql_query === 'string' ? JSON.parse(payload.dcql_query) : payload.dcql_query
  if (!Array.isArray(dcql?.credentials) || !dcql.credentials.length) throw bad('only DCQL queries are supported')
  const meta = payload.client_metadata || {}
  const name = typeof meta.client_name === 'string' && meta.client_name ? meta.client_name : null
  return { clientId, verifier, authenticated, name, payload, dcql, encrypt, walletNonce }
}

function lookup (claims, path) {
  let node = claims
  for (const p of path) {
    if (node == null) return undefined
    node = p === null ? node : node[p]
  }
  return node
}

/** Match the request against the wallet; returns what the holder must see. Nothing is sent. */
export async function prepare (text, records, { now }) {
  const req = await resolve(text, now)
  const matches = []
  const items = []
  let missing = false
  for (const q of req.dcql.credentials) {
    if (q.format !== 'dc+sd-jwt') { missing = true; continue }
    const vcts = q.meta?.vct_values
    const paths = (q.claims || []).map((c) => c.path)
    let found = null
    for (const r of records) {
      if (!r.sdJwt || !r.sdJwtKey || r.status === 'revoked' || (vcts && !vcts.includes(r.vct))) continue
      const unpacked = await unpack(r.sdJwt)
      if (paths.every((p) => lookup(unpacked.claims, p) !== undefined)) { found = { r, unpacked }; break }
    }
    if (!found) { missing = true; continue }
    const disclose = disclosuresFor(found.unpacked, paths)
    matches.push({ id: q.id, record: found.r, unpacked: found.unpacked, disclose })
    for (const p of paths) items.push({ path: p.map(String), value: lookup(found.unpacked.claims, p) })
  }
  const verifierName = req.name ? `${req.name} (${req.verifier})` : req.verifier
  return { req, matches, items, verifierName, authenticated: req.authenticated, canAnswer: !missing && matches.length > 0 }
}

async function post (uri, form) {
  let resp
  try {
    resp = await fetch(uri, { method: 'POST', body: new URLSearchParams(form) })
  } catch { throw new RequestError('unreachable') }
  let body = {}
  try { body = await resp.json() } catch { /* empty answer */ }
  if (!resp.ok) throw new RequestError('verifier_refused', body?.error || `HTTP ${resp.status}`)
  return body
}

export async function respond (consent, records, { now }) {
  if (!consent.canAnswer) throw new RequestError('no_match')
  const { payload, clientId } = consent.req
  const vpToken = {}
  for (const m of consent.matches) {
    const key = await holderKey(m.record.sdJwtKey)
    vpToken[m.id] = [await present(m.unpacked, m.disclose, { privateKey: key.privateKey, audience: clientId, nonce: payload.nonce, now })]
  }
  let form = { vp_token: JSON.stringify(vpToken) }
  if (payload.state != null) form.state = payload.state
  const { encrypt, walletNonce } = consent.req
  if (encrypt) { // §8.3: the same parameters as one JWE; apu/apv bind it to this exchange
    const inner = { vp_token: vpToken, ...(payload.state != null ? { state: payload.state } : {}) }
    const jwe = new CompactEncrypt(new TextEncoder().encode(JSON.stringify(inner)))
      .setProtectedHeader({ alg: 'ECDH-ES', enc: encrypt.enc, ...(encrypt.key.kid ? { kid: encrypt.key.kid } : {}) })
      .setKeyManagementParameters({ apv: new TextEncoder().encode(payload.nonce), ...(walletNonce ? { apu: new TextEncoder().encode(walletNonce) } : {}) })
    form = { response: await jwe.encrypt(await importJWK(encrypt.key, 'ECDH-ES')) }
  }
  const body = await post(payload.response_uri, form)
  return { body, summary: body.redirect_uri ? body.redirect_uri : 'OK' }
}

export async function decline (consent) {
  const form = { error: 'access_denied', error_description: 'the holder declined' }
  if (consent.req.payload.state != null) form.state = consent.req.payload.state
  await post(consent.req.payload.response_uri, form)
}
