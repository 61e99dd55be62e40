// Draw a QR code onto a canvas. `CP1:` text is Base45, whose alphabet is exactly QR alphanumeric mode, so
// the symbol stays small (DESIGN.md: version 13 or lower at ECC level M), as wallet_sdk/qr.py draws it.
import qrcode from 'qrcode-generator'

export const QUIET = 4

export function symbol (text) {
  const qr = qrcode(0, 'M')
  qr.addData(text, /^[0-9A-Z $%*+\-./:]*$/.test(text) ? 'Alphanumeric' : 'Byte')
  qr.make()
  return qr
}

/** Draw `text` filling `canvas` (square, whole pixels per module, quiet zone included). Returns the version. */
export function draw (canvas, text, cssSize) {
  const qr = symbol(text)
  const n = qr.getModuleCount()
  const total = n + 2 * QUIET
  const ratio = window.devicePixelRatio || 1
  const scale = Math.max(2, Math.floor((cssSize * ratio) / total))
  canvas.width = canvas.height = total * scale
  canvas.style.width = canvas.style.height = `${(total * scale) / ratio}px`
  const ctx = canvas.getContext('2d')
  ctx.fillStyle = '#fff'
  ctx.fillRect(0, 0, canvas.width, canvas.height)
  ctx.fillStyle = '#000'
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (qr.isDark(r, c)) ctx.fillRect((c + QUIET) * scale, (r + QUIET) * scale, scale, scale)
    }
  }
  return (n - 17) / 4
}
