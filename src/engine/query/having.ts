import type { CompareOp, Literal, LiteralValue, ParsedPredicate } from './ast.js'
import { queryError } from './query-error.js'

/**
 * HAVING bound to the outputs: a condition evaluated on each released
 * (noisy) row, after noise, so it is post-processing and costs nothing.
 */
export type BoundHaving =
  | { readonly kind: 'cmp'; readonly output: number; readonly op: CompareOp; readonly value: LiteralValue }
  | {
      readonly kind: 'in'
      readonly output: number
      readonly values: readonly LiteralValue[]
      readonly negated: boolean
    }
  | {
      readonly kind: 'between'
      readonly output: number
      readonly low: LiteralValue
      readonly high: LiteralValue
      readonly negated: boolean
    }
  | { readonly kind: 'isNull'; readonly output: number; readonly negated: boolean }
  | { readonly kind: 'and'; readonly operands: readonly BoundHaving[] }
  | { readonly kind: 'or'; readonly operands: readonly BoundHaving[] }
  | { readonly kind: 'not'; readonly operand: BoundHaving }

/** HAVING's conditions on outputs, their literals checked against what each output releases. */
/** What HAVING needs of an output (binder.ts's BoundOutput, structurally: no import back to the binder). */
export interface HavingOutput {
  readonly kind: string
  readonly name: string
  readonly column?: { readonly type: string } | null
}

export function bindHaving(p: ParsedPredicate, outputs: readonly HavingOutput[]): BoundHaving {
  if (p.kind === 'and' || p.kind === 'or') {
    const operands = Object.freeze(p.operands.map((o) => bindHaving(o, outputs)))
    return Object.freeze(p.kind === 'and' ? { kind: 'and' as const, operands } : { kind: 'or' as const, operands })
  }
  if (p.kind === 'not') return Object.freeze({ kind: 'not', operand: bindHaving(p.operand, outputs) })
  const output = outputs.findIndex((o) => o.name === p.column.name)
  const out = outputs[output]!
  const check = (lit: Literal): LiteralValue => {
    const v = lit.value
    const want =
      out.kind !== 'group'
        ? 'number'
        : out.column?.type === 'boolean'
          ? 'boolean'
          : out.column?.type === 'integer' || out.column?.type === 'number'
            ? 'number'
            : 'string'
    if (typeof v !== want) {
      throw queryError(
        'VEILBOX_ERR_QUERY_BAD_HAVING',
        `HAVING compares ${out.name} with ${typeof v === 'string' ? `'${v}'` : String(v)}, but ${out.name} releases ${want === 'number' ? 'numbers' : want === 'boolean' ? 'TRUE or FALSE' : 'text'}`,
        lit.pos,
        { name: out.name },
      )
    }
    return v
  }
  switch (p.kind) {
    case 'compare':
      return Object.freeze({ kind: 'cmp', output, op: p.op, value: check(p.value) })
    case 'in':
      return Object.freeze({ kind: 'in', output, values: Object.freeze(p.values.map(check)), negated: p.negated })
    case 'between':
      return Object.freeze({ kind: 'between', output, low: check(p.low), high: check(p.high), negated: p.negated })
    case 'isNull':
      return Object.freeze({ kind: 'isNull', output, negated: p.negated })
  }
}
