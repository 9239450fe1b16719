/**
 * test/ mirrors src/ (test/README.md): a test of src/<area>/<path>/<file>.ts
 * lives in test/<area>/<path>/. For the areas whose tests are unit tests of
 * their modules, every folder that holds a *.test.ts file must be a folder of
 * src/, so a test cannot settle in a folder of its own (test/engine/planner/,
 * test/store/postgres/) or stay behind when its module moves. The folders of
 * tests that span several modules on purpose are listed in ALLOWED, and each
 * must still exist, hold tests and not be a source folder after all.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SRC = path.join(ROOT, 'src')
const TEST = path.join(ROOT, 'test')

/** The areas whose test folders must be source folders. */
const AREAS = ['engine', 'store', 'ingest', 'sandbox', 'http', 'config', 'custodian', 'cli'] as const

/** Test folders (relative to test/) that mirror no source folder, and why. */
const ALLOWED: ReadonlyMap<string, string> = new Map([
  ['engine/properties', 'properties of the engine as a whole: coverage, neighbouring datasets, bounds'],
])

/** Every *.test.ts file under `dir`, as a path relative to `base` with / separators. */
function testFiles(dir: string, base: string): string[] {
  if (!fs.existsSync(dir)) return []
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => {
      const full = path.join(dir, e.name)
      if (e.isDirectory()) return testFiles(full, base)
      return e.name.endsWith('.test.ts') ? [path.relative(base, full).split(path.sep).join('/')] : []
    })
    .sort()
}

/**
 * The test files (relative to test/) whose folder is neither a folder of src/
 * nor allowed. `isSourceDir` answers for a folder relative to src/.
 */
function misplaced(
  files: readonly string[],
  isSourceDir: (dir: string) => boolean,
  allowed: ReadonlyMap<string, string>,
): string[] {
  return files.filter((f) => {
    const dir = path.posix.dirname(f)
    return !allowed.has(dir) && !isSourceDir(dir)
  })
}

const isSourceDir = (dir: string): boolean => {
  const full = path.join(SRC, ...dir.split('/'))
  return fs.existsSync(full) && fs.statSync(full).isDirectory()
}

const FILES = AREAS.flatMap((area) => testFiles(path.join(TEST, area), TEST))

t.test('every area checked is an area of src/, and has tests', async (t) => {
  for (const area of AREAS) {
    t.ok(isSourceDir(area), `src/${area} exists`)
    t.ok(
      FILES.some((f) => f.startsWith(`${area}/`)),
      `test/${area} holds tests`,
    )
  }
})

t.test('every folder of tests in these areas is a folder of src/, or allowed', async (t) => {
  // Nested folders are read: a test deep in engine/ is found.
  t.ok(
    FILES.some((f) => f.split('/').length >= 3),
    'test files in subfolders are read',
  )
  t.same(
    misplaced(FILES, isSourceDir, ALLOWED),
    [],
    'move these to test/<area>/<path>/ mirroring their subject in src/ (or list the folder in ALLOWED, saying why)',
  )
})

t.test('the allowed folders exist, hold tests, and are no source folders', async (t) => {
  for (const [dir, why] of ALLOWED) {
    t.ok(
      FILES.some((f) => path.posix.dirname(f) === dir),
      `test/${dir} holds tests (${why})`,
    )
    t.notOk(isSourceDir(dir), `src/${dir} does not exist, so test/${dir} needs its place in ALLOWED`)
  }
})

t.test('the rule catches what it is for', async (t) => {
  const cases = [
    'engine/plan/index.test.ts',
    'engine/planner/budget.test.ts',
    'engine/properties/coverage.test.ts',
    'store/postgres/harness.test.ts',
    'store/db.test.ts',
    'engine/dp/budget.test.ts',
    'engine/dp/extra/budget.test.ts',
  ]
  t.same(misplaced(cases, isSourceDir, ALLOWED), [
    'engine/planner/budget.test.ts',
    'store/postgres/harness.test.ts',
    'engine/dp/extra/budget.test.ts',
  ])
  // Without its allowance the property-test folder would be flagged.
  t.same(misplaced(cases, isSourceDir, new Map()), [
    'engine/planner/budget.test.ts',
    'engine/properties/coverage.test.ts',
    'store/postgres/harness.test.ts',
    'engine/dp/extra/budget.test.ts',
  ])
})
