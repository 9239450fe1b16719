/**
 * Route handlers take their types from their zod schemas (fastify-type-provider-zod): request.body, params and
 * query are typed by the request schemas, and what a handler returns or sends is checked against its response
 * schema. A cast in src/api hides the drift between the two, so none is allowed: no `as never`, no `as any`, no
 * `as unknown as` (nor their `<T>x` forms), and no other type assertion either but `as const`. This reads the files
 * with the TypeScript parser, so words in comments and strings ("as any client") do not count.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import ts from 'typescript'

const SRC = fileURLToPath(new URL('../../src/', import.meta.url))
const API = path.join(SRC, 'api')

function files(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
    )
}

interface Cast {
  readonly at: string
  readonly text: string
  /** as never, as any, as unknown as: a cast that turns the checker off rather than narrowing. */
  readonly blind: boolean
}

function castsIn(file: string, text = fs.readFileSync(file, 'utf8')): Cast[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
  const out: Cast[] = []
  const visit = (node: ts.Node): void => {
    if (ts.isAsExpression(node) || ts.isTypeAssertionExpression(node)) {
      const type = node.type
      const isConst = ts.isTypeReferenceNode(type) && type.typeName.getText(source) === 'const'
      if (!isConst) {
        const inner = node.expression
        const viaUnknown =
          (ts.isAsExpression(inner) || ts.isTypeAssertionExpression(inner)) &&
          inner.type.kind === ts.SyntaxKind.UnknownKeyword
        const blind = type.kind === ts.SyntaxKind.NeverKeyword || type.kind === ts.SyntaxKind.AnyKeyword || viaUnknown
        const { line } = source.getLineAndCharacterOfPosition(node.getStart(source))
        out.push({
          at: `src/api/${path.relative(API, file).split(path.sep).join('/')}:${line + 1}`,
          text: node.getText(source).replace(/\s+/g, ' '),
          blind,
        })
        // x as unknown as T is one cast: its `as unknown` half is not counted again.
        if (viaUnknown) {
          ts.forEachChild(inner, visit)
          return
        }
      }
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return out
}

const all = files(API).map((f) => ({ rel: path.relative(API, f).split(path.sep).join('/'), casts: castsIn(f) }))
const checked = all
const show = (casts: readonly Cast[]) => casts.map((c) => `${c.at}: ${c.text}`)

t.test('the checker sees the files it is meant to', async (t) => {
  t.ok(
    checked.some((f) => f.rel === 'routes/datasets.ts'),
    'src/api/routes is read',
  )
  t.ok(
    checked.some((f) => f.rel === 'plugins/console.ts'),
    'src/api/plugins is read',
  )
  const probe = (code: string) => castsIn(path.join(API, 'probe.ts'), code).map((c) => [c.text, c.blind])
  t.same(probe('const a = x as never; const b = y as unknown as Z; const c = <any>w'), [
    ['x as never', true],
    ['y as unknown as Z', true],
    ['<any>w', true],
  ])
  t.same(probe("const a = ['x'] as const; const b = y as Z // as never\nconst s = 'as any client'"), [
    ['y as Z', false],
  ])
})

t.test('no as never, as any or as unknown as in src/api', async (t) => {
  t.same(show(checked.flatMap((f) => f.casts.filter((c) => c.blind))), [])
})

t.test('no other type assertion in src/api either (as const is no cast)', async (t) => {
  t.same(show(checked.flatMap((f) => f.casts.filter((c) => !c.blind))), [])
})
