import { z } from 'zod'
import { VeilboxError } from '../errors/index.js'
import type { DatasetSpec } from '../schema.js'
import { literal, parseQuery, type Literal, type Query } from './query/index.js'

/**
 * Query templates (issue 24, docs/queries.md "Templates"). An owner or
 * operator approves SQL with named parameters (`:name`) of declared types
 * and ranges; an analyst runs it with values. The values never touch the
 * text: each `:name` of the approved SQL is read as a placeholder string
 * literal (the only text ever rewritten is the approved template's own), the
 * SQL is parsed once, and each placeholder literal of the AST is replaced by
 * a literal node holding the checked value. The run then goes through the
 * normal pipeline from that AST.
 */

const NAME = /^[a-z_][a-z0-9_]{0,62}$/

export const templateParamSchema = z.discriminatedUnion('type', [
  z.strictObject({
    name: z.string().regex(NAME, 'a parameter name is lower-case letters, digits and _'),
    type: z.literal('integer'),
    min: z.number().int().min(Number.MIN_SAFE_INTEGER),
    max: z.number().int().max(Number.MAX_SAFE_INTEGER),
  }),
  z.strictObject({
    name: z.string().regex(NAME, 'a parameter name is lower-case letters, digits and _'),
    type: z.literal('number'),
    min: z.number().finite(),
    max: z.number().finite(),
  }),
  z.strictObject({
    name: z.string().regex(NAME, 'a parameter name is lower-case letters, digits and _'),
    type: z.literal('category'),
    column: z.string().regex(NAME).describe('a category column of the dataset: its declared categories are the range'),
  }),
])

export type TemplateParam = z.infer<typeof templateParamSchema>

/** A placeholder: a string literal no analyst's value can equal (values are bound as nodes, never matched). */
const MARK = '\u0000veilbox-template-parameter:'

function badTemplate(message: string, extra: Record<string, unknown> = {}): VeilboxError {
  return new VeilboxError('VEILBOX_ERR_POLICY_BAD_TEMPLATE', message, extra)
}

/**
 * The approved SQL with each `:name` outside quotes read as a placeholder
 * literal, and the names in order of first use. `::` is left alone.
 */
export function placeholders(sql: string): { text: string; names: string[] } {
  const chars = Array.from(sql)
  let out = ''
  const names: string[] = []
  let quote: string | null = null
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!
    if (quote !== null) {
      out += c
      if (c === quote) quote = null
      continue
    }
    if (c === "'" || c === '"') {
      quote = c
      out += c
      continue
    }
    if (c === ':' && chars[i + 1] === ':') {
      out += '::'
      i++
      continue
    }
    if (c === ':' && /[a-z_]/.test(chars[i + 1] ?? '')) {
      let name = ''
      while (/[a-z0-9_]/.test(chars[i + 1] ?? '')) name += chars[++i]
      if (!names.includes(name)) names.push(name)
      out += `'${MARK}${name}'`
      continue
    }
    out += c
  }
  return { text: out, names }
}

/** Checks an approved template against its dataset: it parses, and its parameters are exactly those declared. */
export function checkTemplate(sql: string, params: readonly TemplateParam[], spec: DatasetSpec): Query {
  const { text, names } = placeholders(sql)
  const declared = params.map((p) => p.name)
  if (new Set(declared).size !== declared.length) throw badTemplate('each parameter is declared once')
  for (const n of names) {
    if (!declared.includes(n))
      throw badTemplate(`the SQL uses :${n}, which is not declared in params`, { parameter: n })
  }
  for (const p of params) {
    if (!names.includes(p.name))
      throw badTemplate(`parameter ${p.name} is declared but the SQL never uses :${p.name}`, { parameter: p.name })
    if (p.type !== 'category' && p.min > p.max)
      throw badTemplate(`parameter ${p.name}: min ${p.min} is above max ${p.max}`, { parameter: p.name })
    if (p.type === 'category') {
      const col = spec.columns.find((c) => c.name === p.column)
      if (col === undefined || col.type !== 'category' || col.categories === undefined)
        throw badTemplate(
          `parameter ${p.name}: ${p.column} is not a category column of ${spec.id} with declared categories`,
          { parameter: p.name },
        )
    }
  }
  return parseQuery(text)
}

/**
 * The template's AST with the analyst's values bound, each checked against
 * its declaration first; a refusal names the parameter.
 */
export function bindTemplate(
  sql: string,
  params: readonly TemplateParam[],
  values: Readonly<Record<string, unknown>>,
  spec: DatasetSpec,
): Query {
  const bound = new Map<string, string | number>()
  for (const k of Object.keys(values)) {
    if (!params.some((p) => p.name === k)) throw badParam(k, 'is not a parameter of this template')
  }
  for (const p of params) bound.set(p.name, checkValue(p, values[p.name], spec))
  const query = parseQuery(placeholders(sql).text)
  return substitute(query, bound)
}

function badParam(name: string, why: string, extra: Record<string, unknown> = {}): VeilboxError {
  return new VeilboxError('VEILBOX_ERR_POLICY_BAD_TEMPLATE_PARAMETER', `parameter ${name} ${why}`, {
    parameter: name,
    ...extra,
  })
}

function checkValue(p: TemplateParam, v: unknown, spec: DatasetSpec): string | number {
  if (v === undefined) throw badParam(p.name, 'is missing')
  switch (p.type) {
    case 'integer':
    case 'number': {
      if (typeof v !== 'number' || !Number.isFinite(v) || (p.type === 'integer' && !Number.isSafeInteger(v)))
        throw badParam(p.name, `must be ${p.type === 'integer' ? 'an integer' : 'a number'}`, { value: v })
      if (v < p.min || v > p.max)
        throw badParam(p.name, `must lie in [${p.min}, ${p.max}], got ${v}`, { value: v, min: p.min, max: p.max })
      return v
    }
    case 'category': {
      const categories = spec.columns.find((c) => c.name === p.column)?.categories ?? []
      if (typeof v !== 'string' || !categories.includes(v))
        throw badParam(p.name, `must be one of the declared categories of ${p.column}`, { value: v })
      return v
    }
  }
}

/** A copy of the AST with each placeholder literal replaced by its value's literal node. */
function substitute(query: Query, values: ReadonlyMap<string, string | number>): Query {
  const walk = (x: unknown): unknown => {
    if (Array.isArray(x)) return Object.freeze(x.map(walk))
    if (x === null || typeof x !== 'object') return x
    if (isPlaceholder(x)) {
      const name = x.value.slice(MARK.length)
      const v = values.get(name)
      if (v === undefined) throw new Error(`bindTemplate: no value for ${name}`)
      return literal(v, x.pos)
    }
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(x)) out[k] = k === 'pos' ? v : walk(v)
    return Object.freeze(out)
  }
  return walk(query) as Query
}

function isPlaceholder(x: object): x is Literal & { value: string } {
  return 'kind' in x && x.kind === 'literal' && 'value' in x && typeof x.value === 'string' && x.value.startsWith(MARK)
}
