/**
 * The layers point one way: api -> engine -> store, with the dataset schema
 * (src/schema.ts) a leaf both use, ingest above the store, and the sandbox
 * implementing the engine's executor. This walks the import graph of src/
 * (type imports included) and holds it to that.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const SRC = fileURLToPath(new URL('../../src/', import.meta.url))

function files(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
    )
}

/** The src-relative path of each module a file imports (relative specifiers only). */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8')
  const out: string[] = []
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'|import\('(\.[^']+)'\)/g)) {
    const spec = (m[1] ?? m[2])!
    out.push(path.relative(SRC, path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'))))
  }
  return out
}

const graph = new Map(files(SRC).map((f) => [path.relative(SRC, f), importsOf(f)]))
const area = (p: string) => p.split(path.sep)[0]!

t.test('the store imports nothing from the engine, the api, the sandbox or ingest', async (t) => {
  const bad = [...graph].flatMap(([f, deps]) =>
    area(f) === 'store'
      ? deps.filter((d) => ['engine', 'api', 'sandbox', 'ingest'].includes(area(d))).map((d) => `${f} -> ${d}`)
      : [],
  )
  t.same(bad, [])
})

t.test("sources run statements and know nothing of veilbox's own areas", async (t) => {
  const bad = [...graph].flatMap(([f, deps]) =>
    area(f) === 'sources' ? deps.filter((d) => area(d) !== 'sources').map((d) => `${f} -> ${d}`) : [],
  )
  t.ok(
    [...graph.keys()].some((f) => area(f) === 'sources'),
    'src/sources is walked',
  )
  t.same(bad, [])
})

t.test('the sandbox does not import the store; the engine does not import the api or ingest', async (t) => {
  const bad = [...graph].flatMap(([f, deps]) =>
    deps
      .filter(
        (d) =>
          (area(f) === 'sandbox' && area(d) === 'store') ||
          (area(f) === 'engine' && ['api', 'ingest', 'cli', 'demo'].includes(area(d))),
      )
      .map((d) => `${f} -> ${d}`),
  )
  t.same(bad, [])
})

t.test('the schema is a leaf', async (t) => {
  // Its only import is the reading of date and timestamp text (issue 24), itself a leaf.
  t.same(graph.get('schema.ts'), ['dates.ts'])
  t.same(graph.get('dates.ts'), [])
})

t.test('no import circles between the areas of src/', async (t) => {
  // Area-level graph: store, engine, api, ... and the cycles in it.
  const edges = new Map<string, Set<string>>()
  for (const [f, deps] of graph)
    for (const d of deps)
      if (area(d) !== area(f) && area(d).endsWith('.ts') === false)
        (edges.get(area(f)) ?? edges.set(area(f), new Set()).get(area(f))!).add(area(d))
  const cycles: string[] = []
  const visit = (node: string, trail: string[]): void => {
    for (const next of edges.get(node) ?? []) {
      if (trail.includes(next)) cycles.push([...trail.slice(trail.indexOf(next)), next].join(' -> '))
      else visit(next, [...trail, next])
    }
  }
  for (const a of edges.keys()) visit(a, [a])
  t.same([...new Set(cycles)], [], 'no area reaches back to itself')
})

t.test('the engine does not import the sandbox: it defines Executor, the sandbox implements it', async (t) => {
  const bad = [...graph].flatMap(([f, deps]) =>
    area(f) === 'engine' ? deps.filter((d) => area(d) === 'sandbox').map((d) => `${f} -> ${d}`) : [],
  )
  t.same(bad, [])
})

t.test('no import circles between the files of src/ (type imports included)', async (t) => {
  // Tarjan's strongly connected components: any component of more than one file is a circle.
  let next = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const circles: string[][] = []
  const visit = (v: string): void => {
    index.set(v, next)
    low.set(v, next)
    next += 1
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue
      if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        component.push(w)
      } while (w !== v)
      if (component.length > 1) circles.push(component.sort())
    }
  }
  for (const v of graph.keys()) if (!index.has(v)) visit(v)
  t.same(circles, [], 'files that import each other, directly or around a circle')
  t.ok(graph.size > 100, 'the walk sees the whole of src/')
})
