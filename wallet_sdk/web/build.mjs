// Build the resident wallet into dist/ (git-ignored): one minified ES module bundle (esbuild), the static
// files, and the service worker stamped with a hash of everything it caches. Run by scripts/_setup.sh.
import { build } from 'esbuild'
import { createHash } from 'node:crypto'
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const out = join(here, 'dist')
rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
cpSync(join(here, 'static'), out, { recursive: true, filter: (p) => !p.endsWith('sw.js') })
await build({
  entryPoints: [join(here, 'src', 'main.js')],
  outdir: out,
  entryNames: 'app',
  chunkNames: 'chunks/[name]-[hash]', // the camera decoder loads only when the camera opens
  splitting: true,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome111', 'safari16.4', 'firefox113'],
  legalComments: 'linked',
  logLevel: 'warning'
})

const files = []
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p)
    else files.push(relative(out, p))
  }
}
walk(out)
const hash = createHash('sha256')
for (const f of files) hash.update(f).update(readFileSync(join(out, f)))
const shell = ['./', ...files.filter((f) => !f.endsWith('.LEGAL.txt')).map((f) => `./${f}`)]
const sw = readFileSync(join(here, 'static', 'sw.js'), 'utf8')
  .replace('__VERSION__', hash.digest('hex').slice(0, 16))
  .replace('__FILES__', JSON.stringify(shell))
writeFileSync(join(out, 'sw.js'), sw)
console.log(`wallet built: ${relative(process.cwd(), out)} (${files.length + 1} files)`)
