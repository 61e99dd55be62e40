// The resident wallet's screens. Plain DOM, no framework: a few screens, each a function that draws itself.
import { base64url } from 'jose'
import { parseCredential, presentCp1, sha256, TIME_STEP, timeStep } from './cp1.js'
import { currentLang, errorText, t, toggleLang } from './i18n.js'
import { createLock, enrolPasskey, hasLock, MIN_PIN, passkeyEnrolled, pinWait, removePasskey, unlock, unlockWithPasskey } from './lock.js'
import { passkeySupport } from './passkey.js'
import { receive, refill } from './oid4vci.js'
import { draw } from './qr.js'
import { statusOf, statusRefOf } from './status.js'
import { allRecords, holderKey, putRecord, signWith } from './store.js'
import { loadTrust } from './trust.js'
import * as vp from './oid4vp.js'
import * as backup from './backup.js'

const LOW = 3
const app = document.getElementById('app')
const state = { dataKey: null, records: [], trust: null, stopQr: null, pending: null }
const now = () => Math.floor(Date.now() / 1000)

function h (tag, attrs = {}, ...kids) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v)
    else if (v !== false && v != null) el.setAttribute(k, v === true ? '' : v)
  }
  for (const kid of kids.flat()) if (kid != null && kid !== false) el.append(kid)
  return el
}

function screen (title, ...body) {
  state.stopQr?.()
  state.stopQr = null
  app.replaceChildren(
    h('header', {},
      h('h1', {}, title),
      h('span', { class: 'net', id: 'net' }, navigator.onLine ? '' : t('offline')),
      h('button', { class: 'lang', id: 'lang', onclick: () => { toggleLang(); rerender() } }, t('lang'))),
    h('main', {}, ...body))
}

let rerender = () => {}
function errorBox () { return h('p', { class: 'error', role: 'alert', id: 'error', hidden: true }) }
function showError (code, vars) {
  const box = document.getElementById('error')
  if (box) { box.textContent = errorText(code, vars); box.hidden = false }
}
function codeOf (err) { return err?.code || 'unknown' }

// --- lock ------------------------------------------------------------------------------------------------
function setupScreen () {
  rerender = setupScreen
  const pin = h('input', { id: 'pin', type: 'password', inputmode: 'numeric', autocomplete: 'new-password', minlength: MIN_PIN })
  const again = h('input', { id: 'pin2', type: 'password', inputmode: 'numeric', autocomplete: 'new-password' })
  screen(t('setup_title'), h('p', {}, t('setup_text')),
    h('form', { onsubmit: async (e) => {
      e.preventDefault()
      if (pin.value !== again.value) return showError('pin_mismatch')
      try { state.dataKey = await createLock(pin.value); await opened() } catch (err) { showError(codeOf(err)) }
    } },
    h('label', {}, t('pin'), pin), h('label', {}, t('pin_again'), again), errorBox(),
    h('button', { type: 'submit', class: 'primary', id: 'create' }, t('create'))))
  pin.focus()
}

let pinTimer = null
function unlockScreen () {
  rerender = unlockScreen
  performance.mark('unlock-screen') // marks: tests/bench separates the app's time from the resident's
  const pin = h('input', { id: 'pin', type: 'password', inputmode: 'numeric', autocomplete: 'current-password' })
  const button = h('button', { type: 'submit', class: 'primary', id: 'unlock' }, t('unlock'))
  // After too many wrong PINs: the wait counted down on the screen, the button off until it is over. Quiet, it
  // keeps the button off without covering a passkey refusal that is on the screen.
  const hold = (ms, { quiet = false } = {}) => {
    clearInterval(pinTimer)
    const until = Date.now() + ms
    const tick = () => {
      const left = until - Date.now()
      button.disabled = left > 0
      if (left > 0) return quiet || showError('pin_wait', { s: Math.ceil(left / 1000) })
      clearInterval(pinTimer)
      const box = document.getElementById('error')
      if (box && !quiet) box.hidden = true
    }
    tick()
    pinTimer = setInterval(tick, 1000)
  }
  // Shown once the lock record says a passkey is enrolled; a PIN wait does not hold it back (lock.js says why).
  const withPasskey = h('button', { type: 'button', id: 'unlock-passkey', hidden: true, onclick: async () => {
    withPasskey.disabled = true
    clearInterval(pinTimer)
    document.getElementById('error').hidden = true
    try {
      state.dataKey = await unlockWithPasskey()
      await opened()
    } catch (err) {
      withPasskey.disabled = false
      showError(codeOf(err))
      pinWait().then((ms) => { if (ms > 0 && rerender === unlockScreen) hold(ms, { quiet: true }) })
    }
  } }, t('passkey_unlock'))
  screen(t('unlock_title'),
    h('form', { onsubmit: async (e) => {
      e.preventDefault()
      performance.mark('unlock-start')
      document.getElementById('error').hidden = true // the last refusal goes while this PIN is tried
      try {
        state.dataKey = await unlock(pin.value)
        performance.mark('unlock-end')
        await opened()
      } catch (err) {
        pin.value = ''
        if (err.code === 'pin_wait') hold(err.vars.s * 1000)
        else showError(codeOf(err), err.vars)
      }
    } },
    h('label', {}, t('pin'), pin), errorBox(), button, withPasskey))
  clearInterval(pinTimer)
  pinWait().then((ms) => { if (ms > 0 && rerender === unlockScreen) hold(ms) })
  passkeyEnrolled().then((on) => { withPasskey.hidden = !on })
  pin.focus()
}

async function opened () {
  state.records = await allRecords(state.dataKey)
  state.trust = await loadTrust({ online: navigator.onLine })
  const pending = state.pending
  state.pending = null
  if (pending?.kind === 'offer') return receiveScreen(pending.text)
  if (pending?.kind === 'request') return requestScreen(pending.text)
  home()
  if (navigator.onLine) refreshStatuses().then(() => { if (rerender === home) home() })
}

async function refreshStatuses () {
  if (navigator.onLine) state.trust = (await loadTrust()) || state.trust // the chain's newest list digests
  for (const r of state.records) {
    const ref = statusRefOf(r)
    if (!ref || !state.trust) continue
    const s = await statusOf(ref.uri, ref.idx, state.trust)
    if (s !== 'unknown' && s !== r.status) { r.status = s; r.checkedAt = now(); await putRecord(state.dataKey, r) }
  }
}

// --- home and card ---------------------------------------------------------------------------------------
function unused (r) { return r.copies.filter((c) => !c.used && !c.foreign).length }

const CLAIM_LABELS = {
  ko: { given_name: '이름', family_name: '성', birthdate: '생년월일', city: '시', district: '구', age_over_19: '19세 이상', address: '주소', resident_since: '전입일', business_name: '상호', business_number: '사업자등록번호', market: '시장', small_business: '소상공인' },
  en: {}
}
function label (k) { return CLAIM_LABELS[currentLang()]?.[k] || k.replace(/_/g, ' ') }
function fmt (v) {
  if (v === true) return currentLang() === 'ko' ? '예' : 'yes'
  if (v === false) return currentLang() === 'ko' ? '아니요' : 'no'
  if (v && typeof v === 'object') return Object.values(v).map(fmt).join(' ')
  return String(v)
}
function date (t) { return t ? new Date(t * 1000).toLocaleDateString(currentLang() === 'ko' ? 'ko-KR' : 'en-GB') : '-' }

function card (r) {
  const left = unused(r)
  const shown = Object.entries(r.claims || {}).filter(([k]) => !['iss', 'iat', 'exp', 'vct', 'cnf', 'status', 'nbf'].includes(k))
  return h('section', { class: `card status-${r.status}`, 'data-id': r.id },
    h('h2', {}, r.name || r.vct),
    h('p', { class: 'status', 'data-status': r.status }, t(`status_${r.status}`)),
    h('dl', {}, ...shown.flatMap(([k, v]) => [h('dt', {}, label(k)), h('dd', {}, fmt(v))])),
    h('p', { class: 'small' }, t('issued_by', { who: r.issuerTitle || r.issuerName || r.credentialIssuer })),
    h('p', { class: 'small' }, t('expires', { d: date(r.exp) })),
    r.keyRoute === 'agrees' ? h('p', { class: 'small key-route' }, t('key_route_agrees')) : null,
    h('p', { class: 'copies' }, t('copies_left', { n: left })),
    left <= LOW ? h('p', { class: 'warn' }, t('low_copies', { n: left })) : null,
    h('div', { class: 'row' },
      h('button', { class: 'primary show-qr', disabled: r.status === 'revoked' || left === 0, onclick: () => showQr(r).catch((err) => { home(); showError(codeOf(err)) }) }, t('show_qr')),
      h('button', { class: 'check-status', onclick: async () => { await refreshStatuses(); home() } }, t('check_status')),
      r.refresh && r.status !== 'revoked'
        ? h('button', { class: 'refill', onclick: async (e) => { e.target.disabled = true; await refillRecord(r); home() } }, t('refill'))
        : null))
}

/** New copies by refresh; a refusal that says revoked or suspended is recorded, as wallet_sdk/refresh.py does. */
async function refillRecord (r) {
  try {
    state.trust = (await loadTrust()) || state.trust
    const next = await refill(r, { trust: state.trust, now: now() })
    await putRecord(state.dataKey, next)
    state.records[state.records.indexOf(r)] = next
    return true
  } catch (err) {
    console.warn('refill failed', err)
    const code = err.problem?.code || ''
    if (code === 'refresh_credential_revoked') { r.status = 'revoked'; delete r.refresh }
    if (code === 'refresh_credential_suspended') r.status = 'suspended'
    if (code === 'refresh_credential_revoked' || code === 'refresh_credential_suspended') await putRecord(state.dataKey, r)
    state.lastError = code === 'refresh_limit_reached' ? 'refresh_limit' : code ? 'issuer_refused' : codeOf(err)
    return false
  }
}

function home () {
  rerender = home
  performance.mark('home-shown')
  const pendingError = state.lastError
  state.lastError = null
  queueMicrotask(() => { if (pendingError) showError(pendingError) })
  screen(t('app'),
    ...(state.records.length ? state.records.map(card) : [h('p', { class: 'empty' }, t('home_empty'))]),
    errorBox(),
    h('div', { class: 'actions' },
      h('button', { class: 'primary', id: 'go-receive', onclick: () => receiveScreen('') }, t('receive')),
      h('button', { id: 'go-scan', onclick: scanScreen }, t('scan')),
      h('button', { id: 'go-backup', onclick: backupScreen }, t('backup')),
      h('button', { id: 'go-lock', onclick: lockScreen }, t('lock_settings'))))
}

// --- lock settings: passkey unlock on and off --------------------------------------------------------------
async function lockScreen () {
  rerender = lockScreen
  const [enrolled, support] = await Promise.all([passkeyEnrolled(), passkeySupport()])
  if (rerender !== lockScreen) return
  let body
  if (enrolled) {
    body = [h('p', { id: 'passkey-state' }, t('passkey_is_on')),
      h('button', { id: 'passkey-off', onclick: async () => { await removePasskey(); lockScreen() } }, t('passkey_turn_off'))]
  } else if (support !== 'ok') {
    body = [h('p', { id: 'passkey-state', class: 'warn' }, errorText(support))] // why not here, instead of a button that fails
  } else {
    const pin = h('input', { id: 'passkey-pin', type: 'password', inputmode: 'numeric', autocomplete: 'current-password' })
    const go = h('button', { type: 'submit', class: 'primary', id: 'passkey-on' }, t('passkey_turn_on'))
    body = [h('p', { id: 'passkey-state' }, t('passkey_is_off')),
      h('form', { onsubmit: async (e) => {
        e.preventDefault()
        go.disabled = true
        document.getElementById('error').hidden = true
        try {
          await enrolPasskey(pin.value, { title: t('app') })
          lockScreen()
        } catch (err) {
          pin.value = ''
          go.disabled = false
          showError(codeOf(err), err.vars)
        }
      } }, h('label', {}, t('passkey_confirm_pin'), pin), go)]
  }
  screen(t('lock_settings'), h('p', {}, t('passkey_text')), ...body, errorBox(), h('button', { onclick: home }, t('back')))
}

// --- receive ---------------------------------------------------------------------------------------------
function receiveScreen (prefill) {
  rerender = () => receiveScreen(link.value)
  const link = h('textarea', { id: 'offer', rows: 3, autocapitalize: 'off', spellcheck: 'false' })
  link.value = prefill || ''
  const code = h('input', { id: 'tx-code', inputmode: 'numeric', autocomplete: 'one-time-code' })
  const go = h('button', { type: 'submit', class: 'primary', id: 'receive' }, t('receive_go'))
  screen(t('receive'),
    h('form', { onsubmit: async (e) => {
      e.preventDefault()
      go.disabled = true
      go.textContent = t('receiving')
      try {
        state.trust = (await loadTrust()) || state.trust
        const { record } = await receive(link.value, code.value.trim(), { trust: state.trust, now: now() })
        await putRecord(state.dataKey, record)
        state.records.push(record)
        home()
        refreshStatuses().then(() => { if (rerender === home) home() })
      } catch (err) {
        console.warn('receive failed', err)
        showError(codeOf(err))
        go.disabled = false
        go.textContent = t('receive_go')
      }
    } },
    h('label', {}, t('offer_link'), link), h('label', {}, t('tx_code'), code), errorBox(), go,
    h('button', { type: 'button', onclick: home }, t('back'))))
}

// --- show at a counter -----------------------------------------------------------------------------------
async function showQr (r) {
  performance.mark('qr-start')
  const copy = r.copies.find((c) => !c.used && !c.foreign)
  if (!copy) return showError('no_copies')
  copy.used = true // spent before the QR exists: a crash after this point wastes a copy, never reuses one
  copy.usedAt = now()
  await putRecord(state.dataKey, r)
  const raw = base64url.decode(copy.b64)
  const key = await holderKey(copy.keyId)
  const digest = await sha256(raw)
  const canvas = h('canvas', { id: 'qr', role: 'img', 'aria-label': 'QR' })
  const count = h('p', { class: 'countdown', id: 'countdown' })
  rerender = () => {}
  screen(r.name || r.vct, h('div', { class: 'qr-box' }, canvas), count,
    h('p', { class: 'hint' }, t('qr_hint')),
    h('p', { class: 'copies' }, t('copies_left', { n: unused(r) })),
    h('button', { class: 'primary', id: 'close-qr', onclick: home }, t('close')))
  const size = Math.min(window.innerWidth, window.innerHeight - 200, 640) - 24
  let step = -1
  const tick = async () => {
    const s = now()
    if (timeStep(s) !== step) {
      step = timeStep(s)
      const started = performance.now()
      const text = await presentCp1(raw, (bytes) => signWith(key.privateKey, bytes), s, { digest })
      draw(canvas, text, size)
      performance.measure('qr-draw', { start: started, end: performance.now() })
      performance.mark('qr-shown')
      canvas.dataset.step = String(step)
      canvas.dataset.text = text
      window.dispatchEvent(new CustomEvent('qr-drawn', { detail: { step } }))
    }
    count.textContent = t('countdown', { s: TIME_STEP - (s % TIME_STEP) })
  }
  await tick()
  const timer = setInterval(tick, 250)
  state.stopQr = () => clearInterval(timer)
  // "By itself": when copies run low and the phone is online, fetch the next batch in the background.
  if (navigator.onLine && r.refresh && unused(r) <= LOW) {
    refillRecord(r).then(() => { if (rerender === home) home() }) // the card shows the new count when it is back
  }
}

// --- scan, OpenID4VP and backup live in their own modules; the screens are here ----------------------------
async function scanScreen () {
  rerender = scanScreen
  const { scanOnce } = await import('./scan.js')
  const video = h('video', { id: 'camera', playsinline: true, muted: true })
  const abort = new AbortController()
  screen(t('scan'), h('p', {}, t('scan_hint')), h('div', { class: 'camera' }, video), errorBox(),
    h('button', { onclick: () => { abort.abort(); home() } }, t('back')))
  try {
    const text = await scanOnce(video, { signal: abort.signal })
    if (!text) return
    route(text)
  } catch (err) {
    console.warn('camera', err)
    showError('camera')
  }
}

function route (text) {
  if (/^openid4vp:|^haip-vp:/.test(text) || /[?&]request_uri=/.test(text)) return requestScreen(text)
  return receiveScreen(text)
}

async function requestScreen (text) {
  rerender = () => {}
  screen(t('request_title'), h('p', {}, t('receiving')), errorBox())
  let consent
  try {
    consent = await vp.prepare(text, state.records, { now: now() })
  } catch (err) {
    console.warn('request', err)
    screen(t('request_title'), errorBox(), h('button', { onclick: home }, t('back')))
    return showError(codeOf(err))
  }
  const out = h('p', { id: 'outcome', role: 'status' })
  const buttons = h('div', { class: 'row' },
    h('button', { class: 'primary', id: 'accept', disabled: !consent.canAnswer, onclick: async () => {
      buttons.remove()
      try {
        const answer = await vp.respond(consent, state.records, { now: now() })
        out.textContent = t('sent', { r: answer.summary })
      } catch (err) { showError(codeOf(err)) }
    } }, t('accept')),
    h('button', { id: 'decline', onclick: async () => {
      buttons.remove()
      try { await vp.decline(consent); out.textContent = t('declined') } catch (err) { showError(codeOf(err)) }
    } }, t('decline')))
  screen(t('request_title'),
    h('p', { class: 'who', id: 'verifier' }, t('request_who', { who: consent.verifierName })),
    consent.authenticated ? null : h('p', { class: 'warn' }, t('request_unverified')),
    h('p', {}, t('request_claims')),
    h('ul', { id: 'claims' }, ...consent.items.map((i) => h('li', {}, `${label(i.path.join('.'))}: ${fmt(i.value)}`))),
    consent.canAnswer ? null : h('p', { class: 'error' }, errorText('no_match')),
    errorBox(), buttons, out, h('button', { onclick: home }, t('back')))
}

function backupScreen () {
  rerender = backupScreen
  const pass = h('input', { id: 'export-pass', type: 'password', autocomplete: 'new-password' })
  const file = h('input', { id: 'import-file', type: 'file', accept: '.civicpass,application/json' })
  const pass2 = h('input', { id: 'import-pass', type: 'password', autocomplete: 'current-password' })
  const msg = h('p', { id: 'backup-msg', role: 'status' })
  screen(t('backup'),
    h('form', { onsubmit: async (e) => {
      e.preventDefault()
      try {
        const blob = await backup.exportRecords(state.records, pass.value)
        const a = h('a', { href: URL.createObjectURL(blob), download: 'civicpass-wallet.civicpass' })
        document.body.append(a); a.click(); a.remove()
      } catch (err) { showError(codeOf(err)) }
    } }, h('label', {}, t('export_pass'), pass), h('button', { type: 'submit', class: 'primary', id: 'export' }, t('export_go'))),
    h('form', { onsubmit: async (e) => {
      e.preventDefault()
      try {
        const records = await backup.importRecords(file.files[0], pass2.value, state.records)
        for (const r of records) { await putRecord(state.dataKey, r); state.records.push(r) }
        msg.textContent = `${t('imported', { n: records.length })} ${t('imported_note')}`
      } catch (err) { showError(codeOf(err)) }
    } }, h('label', {}, t('import_file'), file), h('label', {}, t('export_pass'), pass2),
    h('button', { type: 'submit', id: 'import' }, t('import_go'))),
    msg, errorBox(), h('button', { onclick: home }, t('back')))
}

// --- start -----------------------------------------------------------------------------------------------
function pendingFromUrl () {
  const q = new URLSearchParams(location.hash.slice(1))
  const offer = q.get('offer')
  const request = q.get('request')
  if (offer || request) history.replaceState(null, '', location.pathname)
  return offer ? { kind: 'offer', text: offer } : request ? { kind: 'request', text: request } : null
}

async function start () {
  document.documentElement.lang = currentLang()
  state.pending = pendingFromUrl()
  window.addEventListener('online', () => { const n = document.getElementById('net'); if (n) n.textContent = '' })
  window.addEventListener('offline', () => { const n = document.getElementById('net'); if (n) n.textContent = t('offline') })
  window.addEventListener('hashchange', () => { // a same-device link while the app is open
    const pending = pendingFromUrl()
    if (!pending) return
    if (state.dataKey) route(pending.text)
    else state.pending = pending
  })
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('sw.js').catch(() => {})
  if (await hasLock()) unlockScreen()
  else setupScreen()
}

export const _test = { state, parseCredential }
window.civicpass = _test
start()
