#!/usr/bin/env node
// The `veilbox` command. Runs the compiled CLI (npm install builds it).
import { existsSync } from 'node:fs'

const entry = new URL('../dist/cli/main.js', import.meta.url)
if (!existsSync(entry)) {
  process.stderr.write('veilbox: dist/ is missing; run `npm install` (or `npm run build`) first\n')
  process.exit(1)
}
const { main } = await import(entry.href)
await main()
