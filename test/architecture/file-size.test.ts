/**
 * No file in src/ is over 400 lines unless it says at its top why it is
 * long (a first line starting `// Long on purpose:`): a long file is either
 * split or explained.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const SRC = fileURLToPath(new URL('../../src/', import.meta.url))
const LIMIT = 400

function files(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
    )
}

t.test(`every file of src/ over ${LIMIT} lines says at its top why it is long`, async (t) => {
  const unexplained: string[] = []
  let long = 0
  for (const f of files(SRC)) {
    const text = fs.readFileSync(f, 'utf8')
    const lines = text.split('\n').length
    if (lines <= LIMIT) continue
    long += 1
    if (!text.startsWith('// Long on purpose: ')) unexplained.push(`${path.relative(SRC, f)} (${lines} lines)`)
  }
  t.same(unexplained, [], 'split them, or say at the top why they are long')
  t.ok(long > 0, 'the walk sees the long files (the parser is one)')
})
