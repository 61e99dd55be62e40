// Read a QR code with the camera: BarcodeDetector where the browser has it, else the bundled jsQR.
import jsQR from 'jsqr'

export async function scanOnce (video, { signal } = {}) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false })
  video.srcObject = stream
  await video.play()
  const detector = 'BarcodeDetector' in window ? new window.BarcodeDetector({ formats: ['qr_code'] }) : null
  const canvas = document.createElement('canvas')
  const ctx = canvas.getContext('2d', { willReadFrequently: true })
  try {
    while (!signal?.aborted) {
      await new Promise((resolve) => setTimeout(resolve, 120))
      if (!video.videoWidth) continue
      if (detector) {
        const found = await detector.detect(video)
        if (found.length) return found[0].rawValue
        continue
      }
      canvas.width = video.videoWidth
      canvas.height = video.videoHeight
      ctx.drawImage(video, 0, 0)
      const img = ctx.getImageData(0, 0, canvas.width, canvas.height)
      const code = jsQR(img.data, img.width, img.height, { inversionAttempts: 'dontInvert' })
      if (code?.data) return code.data
    }
    return null
  } finally {
    stream.getTracks().forEach((tr) => tr.stop())
    video.srcObject = null
  }
}
