/**
 * PRIVACY-NOTES section 1 and ARCHITECTURE invariant 3: noise comes only from
 * node:crypto. No file under src/ may call the non-cryptographic generator,
 * in any spelling a reviewer would recognise.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

import t from 'tap'

const root = fileURLToPath(new URL('../../', import.meta.url))
const SRC = join(root, 'src')
const FORBIDDEN = /\bMath\s*(?:\.\s*random\b|\[\s*['"`]random['"`]\s*\])/

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) yield* files(path)
    else if (/\.(?:[cm]?[jt]s|tsx?|cc|cpp|h)$/.test(name)) yield path
  }
}

t.test('no file under src/ uses Math.random', async (t) => {
  const offenders: string[] = []
  let scanned = 0
  for (const path of files(SRC)) {
    scanned++
    const lines = readFileSync(path, 'utf8').split('\n')
    lines.forEach((line, i) => {
      if (FORBIDDEN.test(line)) offenders.push(`${relative(root, path)}:${i + 1}: ${line.trim()}`)
    })
  }
  t.ok(scanned > 10, `scanned ${scanned} files`)
  t.same(offenders, [], 'no Math.random in src/')
})

t.test('the pattern catches the spellings it is meant to', async (t) => {
  for (const s of ['Math.random()', 'Math . random()', "Math['random']()", 'x = Math.random'])
    t.ok(FORBIDDEN.test(s), s)
  for (const s of ['randomFillSync(buf)', 'crypto.randomInt(3)', 'MathRandom']) t.notOk(FORBIDDEN.test(s), s)
})

t.test('the seeded generator (mulberry32) is used only where reproducibility is the point', async (t) => {
  // Demo data, dummy data (made from the schema alone), the kernels' self-check and the generator itself; never the
  // DP, release, planner or sandbox code.
  const allowed = new Set([
    'src/engine/mulberry32.ts',
    'src/demo/binzhou.ts',
    'src/demo/subsidies.ts',
    'src/demo/claims.ts',
    'src/engine/dummy.ts',
    'src/engine/exec/loader.ts',
    'src/engine/exec/loops-check.ts',
  ])
  const users: string[] = []
  for (const path of files(SRC)) {
    if (/mulberry32/.test(readFileSync(path, 'utf8'))) users.push(relative(root, path))
  }
  t.ok(users.includes('src/demo/binzhou.ts'), 'the scan finds a known user')
  t.same(
    users.filter((u) => !allowed.has(u)),
    [],
    'no other file of src/ uses it',
  )
})
