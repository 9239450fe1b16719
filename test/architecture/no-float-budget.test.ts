/**
 * Privacy amounts are exact integers of fixed units (src/engine/dp/budget.ts),
 * and the code that charges, splits and checks them never turns them into
 * doubles to compute with. Floating point crept in before as `x * 1e6` and
 * `Math.ceil(...)` conversions spread over the planner and the pricing; this
 * test reads the source and fails on them:
 *
 * - in budget.ts, zcdp.ts, policy/ and plan/: a number literal worth one of
 *   the unit scales (1e6, 1e12, 1e15 in any spelling: `1e6`, `1_000_000`,
 *   `1000000`, `1e+6`, ... but not the bigint `1_000_000n`), `10 ** 6` (12,
 *   15) and `Math.pow(10, 6)`;
 * - in budget.ts, policy/ and plan/: also the inverse scales (1e-6, 1e-12,
 *   1e-15), `Math.ceil(`, `Math.floor(`, `Math.round(`, and a double made
 *   with `Number(...)` that is then multiplied or divided. zcdp.ts is the
 *   floating-point conversion (CKS20), pushed outward and entering the
 *   ledgers through budget.fromDouble: it may use Math.* and its tolerances
 *   (a relative 1e-12, a margin of 1e-9 * 1e-6), but not the scales;
 * - anywhere in src/: an identifier spelled MICRO, FEMTO or PICO (the old
 *   scale constants, gone since budget.ts has SCALE).
 *
 * Comments and the text of string literals are not code and are not read.
 *
 * One line is allowed: budget.ts `toNumber`, the display conversion for
 * people (responses, errors, audit text), `Number(amount) / Number(SCALE[kind])`.
 * Nothing computes with its result. The test checks that this line is still
 * there, once, and that the rule would flag it without the allowance.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

import t from 'tap'

const root = fileURLToPath(new URL('../../', import.meta.url))
const SRC = join(root, 'src')
const BUDGET = 'src/engine/dp/budget.ts'
const ZCDP = 'src/engine/dp/zcdp.ts'

/** The one allowed float conversion of an amount: budget.ts toNumber, for display. */
const ALLOWED = new Map([[BUDGET, ['return Number(amount) / Number(SCALE[kind])']]])

function* files(dir: string, ext = /\.(?:[cm]?[jt]s|tsx?)$/): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) yield* files(path, ext)
    else if (ext.test(name)) yield path
  }
}

/**
 * The source with comments and the text of string and template literals
 * (not their `${...}` expressions) blanked out, newlines kept so that line
 * numbers still hold. Regular expression literals are blanked too, told from
 * division by what precedes the slash.
 */
function codeOnly(src: string): string {
  const out = src.split('')
  const blank = (from: number, to: number): void => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' '
  }
  // Each open template literal's brace depth at its `${`.
  const templates: number[] = []
  let depth = 0
  let prev = '' // the last significant code character
  let i = 0
  const n = src.length
  const scanTemplate = (start: number): number => {
    // From just after a backtick or a closing `}` of `${...}`: literal text until ` or ${.
    let j = start
    while (j < n) {
      if (src[j] === '\\') j += 2
      else if (src[j] === '`') {
        blank(start, j)
        return j + 1
      } else if (src[j] === '$' && src[j + 1] === '{') {
        blank(start, j)
        templates.push(depth)
        depth += 1
        return j + 2
      } else j += 1
    }
    blank(start, n)
    return n
  }
  while (i < n) {
    const c = src[i]!
    const d = src[i + 1]
    if (c === '/' && d === '/') {
      const end = src.indexOf('\n', i)
      const stop = end < 0 ? n : end
      blank(i, stop)
      i = stop
    } else if (c === '/' && d === '*') {
      const end = src.indexOf('*/', i + 2)
      const stop = end < 0 ? n : end + 2
      blank(i, stop)
      i = stop
    } else if (c === "'" || c === '"') {
      let j = i + 1
      while (j < n && src[j] !== c && src[j] !== '\n') j += src[j] === '\\' ? 2 : 1
      blank(i + 1, j)
      i = j + 1
      prev = 'a'
    } else if (c === '`') {
      i = scanTemplate(i + 1)
      prev = 'a'
    } else if (c === '}' && templates.length > 0 && templates[templates.length - 1] === depth - 1) {
      templates.pop()
      depth -= 1
      i = scanTemplate(i + 1)
      prev = 'a'
    } else if (c === '/' && (prev === '' || /[(,=:[!&|?{};+\-*%<>~^]/.test(prev))) {
      // A regular expression literal.
      let j = i + 1
      let inClass = false
      while (j < n && src[j] !== '\n') {
        if (src[j] === '\\') j += 1
        else if (src[j] === '[') inClass = true
        else if (src[j] === ']') inClass = false
        else if (src[j] === '/' && !inClass) break
        j += 1
      }
      blank(i + 1, j)
      i = j + 1
      prev = 'a'
    } else {
      if (c === '{') depth += 1
      else if (c === '}') depth -= 1
      if (!/\s/.test(c)) prev = c
      i += 1
    }
  }
  return out.join('')
}

const NUMBER = /(?<![\w$.])(\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)([eE][+-]?\d[\d_]*)?(n?)(?![\w$])/g
const SCALES = new Set([1e6, 1e12, 1e15])
const INVERSE_SCALES = new Set([1e-6, 1e-12, 1e-15])

/** Number literals (not bigints) worth one of the given values. */
function literalsOf(line: string, values: ReadonlySet<number>): string[] {
  const found: string[] = []
  for (const m of line.matchAll(NUMBER)) {
    if (m[3] === 'n') continue
    const value = Number((m[1]! + (m[2] ?? '')).replace(/_/g, ''))
    if (values.has(value)) found.push(m[0])
  }
  return found
}

const POWER_OF_TEN = /\b10\s*\*\*\s*\(?\s*(?:6|12|15)\b|\bMath\s*\.\s*pow\s*\(\s*10\s*,\s*(?:6|12|15)\s*\)/
const ROUNDING = /\bMath\s*\.\s*(?:ceil|floor|round)\s*\(/
/** A double made with Number(...) and then multiplied or divided (or a product divided into a Number). */
const NUMBER_ARITHMETIC = /\bNumber\s*\((?:[^()]|\([^()]*\))*\)\s*[*/]|[*/]\s*Number\s*\(/
const SCALE_NAMES = /\b[A-Z0-9_]*(?:MICRO|FEMTO|PICO)[A-Z0-9_]*\b/

interface Rules {
  readonly scales: boolean
  readonly strict: boolean
}

/** What the rules find in one file's source: `path:line: rule: code`. */
function findings(path: string, source: string, rules: Rules): string[] {
  const out: string[] = []
  const allowed = ALLOWED.get(path) ?? []
  codeOnly(source)
    .split('\n')
    .forEach((line, i) => {
      const code = line.trim()
      const report = (rule: string): void => {
        out.push(`${path}:${i + 1}: ${rule}: ${code}`)
      }
      if (rules.scales) {
        for (const lit of literalsOf(line, SCALES)) report(`unit-scale literal ${lit}`)
        if (POWER_OF_TEN.test(line)) report('unit scale as a power of ten')
      }
      if (rules.strict) {
        for (const lit of literalsOf(line, INVERSE_SCALES)) report(`inverse unit-scale literal ${lit}`)
        if (ROUNDING.test(line)) report('Math rounding')
        if (NUMBER_ARITHMETIC.test(line) && !allowed.includes(code)) report('float arithmetic on Number(...)')
      }
      if (SCALE_NAMES.test(line)) report('MICRO/FEMTO/PICO identifier')
    })
  return out
}

/** The files of the budget rules, each with the rules that apply to it. */
function budgetFiles(): [string, Rules][] {
  const list: [string, Rules][] = [
    [BUDGET, { scales: true, strict: true }],
    [ZCDP, { scales: true, strict: false }],
  ]
  for (const dir of ['src/engine/policy', 'src/engine/plan']) {
    for (const path of files(join(root, dir))) list.push([relative(root, path), { scales: true, strict: true }])
  }
  return list
}

const read = (path: string): string => readFileSync(join(root, path), 'utf8')

t.test('no float arithmetic on privacy amounts in budget.ts, zcdp.ts, policy/ and plan/', async (t) => {
  const list = budgetFiles()
  const names = list.map(([p]) => p)
  for (const known of [
    'src/engine/policy/pricing.ts',
    'src/engine/plan/index.ts',
    'src/engine/plan/check.ts',
    'src/engine/plan/aggregates/avg.ts',
  ])
    t.ok(names.includes(known), `scans ${known}`)
  t.ok(list.length >= 10, `scanned ${list.length} files`)
  const found = list.flatMap(([path, rules]) => findings(path, read(path), rules))
  t.same(found, [], 'no unit-scale literals, Math rounding or float conversions of amounts')
})

t.test('no MICRO, FEMTO or PICO identifier anywhere in src/', async (t) => {
  let scanned = 0
  const found: string[] = []
  for (const path of files(SRC, /\.(?:[cm]?[jt]s|tsx?|cc|cpp|h)$/)) {
    scanned++
    const rel = relative(root, path)
    for (const line of codeOnly(readFileSync(path, 'utf8')).split('\n').entries()) {
      if (SCALE_NAMES.test(line[1])) found.push(`${rel}:${line[0] + 1}: ${line[1].trim()}`)
    }
  }
  t.ok(scanned > 50, `scanned ${scanned} files`)
  t.same(found, [])
})

t.test("the one allowed conversion is budget.ts toNumber's, and only the allowance lets it through", async (t) => {
  const source = read(BUDGET)
  const [line] = ALLOWED.get(BUDGET)!
  const lines = source.split('\n').map((l) => l.trim())
  t.equal(lines.filter((l) => l === line).length, 1, 'the allowed line is in budget.ts, once')
  const at = lines.indexOf(line!)
  t.match(
    lines
      .slice(0, at)
      .reverse()
      .find((l) => l.startsWith('export function')) ?? '',
    /^export function toNumber\(/,
  )
  t.ok(NUMBER_ARITHMETIC.test(line!), 'the rule would flag it')
  t.same(
    findings('src/engine/dp/other.ts', `function f(amount: bigint) {\n  ${line}\n}\n`, { scales: true, strict: true }),
    [`src/engine/dp/other.ts:2: float arithmetic on Number(...): ${line}`],
  )
})

t.test('the rules catch the spellings they are meant to, in code only', async (t) => {
  const strict = { scales: true, strict: true }
  const flagged = (code: string, rules: Rules = strict): boolean => findings('x.ts', code, rules).length > 0
  for (const code of [
    'const u = x * 1e6',
    'const u = x * 1E6',
    'const u = x * 1e+6',
    'const u = x * 1.0e6',
    'const u = x * 1_000_000',
    'const u = x * 1000000',
    'const u = x * 1e12',
    'const u = x * 1e15',
    'const u = x / 1_000_000_000_000_000',
    'const u = x * 10 ** 6',
    'const u = x * 10**15',
    'const u = x * Math.pow(10, 12)',
    'const u = x * 1e-6',
    'const u = x / 1e-15',
    'const u = Math.ceil(x)',
    'const u = Math . floor (x)',
    'const u = Math.round(x)',
    'const u = Number(a) / Number(b)',
    'const u = Number(a.b(c)) * 3',
    'const u = 3 * Number(a)',
    'const MICRO = 1n',
    'x = EPS_FEMTO_UNITS',
    'return PICO',
    'const s = `${x * 1e6}`',
  ])
    t.ok(flagged(code), code)
  for (const code of [
    'const u = 1_000_000n',
    'const u = 1000000n',
    'const u = 1_000_000_000_000_000n',
    'const u = 2e6',
    'const u = 1e9',
    'const u = 100_000',
    '// x * 1e6, Math.ceil(x), MICRO',
    '/* Math.round(x) * 1e12 */',
    "const s = 'rho < 1e-12 (MICRO)'",
    'const s = `${name} needs 1e6 units`',
    'const u = Number(x)',
    'const u = toNumber(kind, x)',
    'const re = /1e6|MICRO/',
    'const microUnits = epsilon_micro',
  ])
    t.notOk(flagged(code), code)
  const zcdpRules = { scales: true, strict: false }
  t.notOk(
    flagged('const m = Math.max(0, e) * (1 + MARGIN) + MARGIN * 1e-6', zcdpRules),
    'zcdp.ts: Math.* and tolerances',
  )
  t.ok(flagged('const u = rho * 1e12', zcdpRules), 'zcdp.ts: not the scales')
  t.same(codeOnly('a // b\nc'), 'a     \nc', 'line numbers hold')
  t.same(codeOnly('f(`x${g(`y${1e6}`)}z`)').replace(/\s+/g, ' '), 'f(` ${g(` ${1e6}`)} `)')
})

t.test('x * 1e6 added to pricing.ts would fail the scan', async (t) => {
  const path = 'src/engine/policy/pricing.ts'
  const source = read(path)
  t.same(findings(path, source, { scales: true, strict: true }), [], 'pricing.ts is clean as it is')
  const lines = source.split('\n').length
  t.same(findings(path, `${source}\nconst bad = (x: number) => x * 1e6\n`, { scales: true, strict: true }), [
    `${path}:${lines + 1}: unit-scale literal 1e6: const bad = (x: number) => x * 1e6`,
  ])
})
