// Draw a QR code onto a canvas. `CP1:` text is Base45, whose alphabet is exactly QR alphanumeric mode, so
// the symbol stays small (the CP1 budget: version 13 or lower at ECC level M), as wallet_sdk/qr.py draws it.
// lean-qr chooses the mask by the standard's penalty rules; the canvas holds one pixel per module and CSS
// scales it with crisp edges, so a redraw writes a few thousand pixels, not a phone screen's worth.
import { correction, generate, mode } from 'lean-qr'

export const QUIET = 4
const ALPHANUMERIC = /^[0-9A-Z $%*+\-./:]*$/
const BLACK = [0, 0, 0, 255]
const WHITE = [255, 255, 255, 255]

export function symbol (text) {
  return generate(ALPHANUMERIC.test(text) ? mode.alphaNumeric(text) : mode.bytes(text),
    { minCorrectionLevel: correction.M, maxCorrectionLevel: correction.M })
}

/** Draw `text` into `canvas`, shown at most `cssSize` CSS pixels wide in whole device pixels per module. */
export function draw (canvas, text, cssSize) {
  const code = symbol(text)
  code.toCanvas(canvas, { on: BLACK, off: WHITE, padX: QUIET, padY: QUIET })
  const total = code.size + 2 * QUIET
  const ratio = window.devicePixelRatio || 1
  const css = `${(Math.max(2, Math.floor((cssSize * ratio) / total)) * total) / ratio}px`
  if (canvas.style.width !== css) canvas.style.width = canvas.style.height = css
  return (code.size - 17) / 4
}
