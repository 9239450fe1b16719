// `npm start` on a checkout whose build is missing (cloned without install
// scripts, or dist/ deleted) builds first; otherwise it starts at once,
// since a full build takes half a minute and `npm install` already did it.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const needed = ['../dist/cli/main.js', '../dist/console/index.html'].map((p) => new URL(p, import.meta.url))
const missing = needed.filter((u) => !existsSync(u))
if (missing.length > 0) {
  process.stdout.write(`veilbox: ${missing.map((u) => u.pathname).join(', ')} missing; running npm run build\n`)
  const r = spawnSync('npm', ['run', 'build'], { stdio: 'inherit', shell: process.platform === 'win32' })
  process.exit(r.status ?? 1)
}
