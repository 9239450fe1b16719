// Long on purpose: one recursive-descent parser, most of it recognising the SQL the service refuses so that
// each refusal names the construct and points at it; a grammar reads best in one file.
import {
  aggregate,
  aggregateSql,
  and,
  between,
  bucketByCount,
  calendarKey,
  bucketByWidth,
  columnItem,
  columnRef,
  compare,
  from,
  inList,
  isNull,
  join,
  literal,
  not,
  or,
  orderItem,
  outputName,
  sameAggregate,
  type Aggregate,
  type AnalystBounds,
  type AggregateFn,
  type ColumnRef,
  type CompareOp,
  type Direction,
  type From,
  type GroupRef,
  type Join,
  type Literal,
  type OrderItem,
  type ParsedPredicate,
  type Query,
  type SelectItem,
  type TextPos,
} from './ast.js'
import { queryError, tooLarge } from './query-error.js'
import { CALENDAR_UNITS } from '../../dates.js'
import {
  AGGREGATE_SPELLINGS,
  BUCKET_SPELLINGS,
  OTHER_STATEMENTS,
  PATTERN_OPERATORS,
  RESERVED,
  UNSUPPORTED_AGGREGATES,
  UNSUPPORTED_CLAUSES,
  WINDOW_FUNCTIONS,
  type AggregateSpelling,
} from './keywords.js'
import { Lexer, type Token } from './lexer.js'
import { QUERY_LIMITS } from './limits.js'
import { buildQuery } from './shape.js'

/**
 * Recursive-descent parser for
 *
 *   SELECT item, ... FROM dataset [WHERE predicate] [GROUP BY col, ...]
 *     [HAVING predicate over output names] [ORDER BY name [ASC|DESC], ...]
 *     [LIMIT n] [;]
 *
 * It builds the query tree and nothing else. Much of the code recognises SQL
 * the service refuses (joins, subqueries, row-level expressions, ...) so that
 * the refusal names the construct, says why, and points at it.
 */
export function parseQuery(text: string): Query {
  return new Parser(text).statement()
}

/** Joins other than inner ones, refused by name. */
const OTHER_JOINS = new Set(['left', 'right', 'full', 'outer', 'cross', 'natural', 'lateral'])
/** Words that end a FROM item rather than alias it. */
const ALIAS_ENDS = new Set([
  'join',
  'inner',
  'on',
  'using',
  'where',
  'group',
  'having',
  'order',
  'limit',
  ...OTHER_JOINS,
])
const ARITHMETIC = new Set(['+', '-', '*', '/', '%', '||'])
const COMPARISONS = new Set(['=', '<>', '!=', '<', '<=', '>', '>=', '=='])
const FLIP: Record<CompareOp, CompareOp> = { '=': '=', '<>': '<>', '<': '>', '<=': '>=', '>': '<', '>=': '<=' }
const FN_OF: Record<AggregateSpelling, AggregateFn> = {
  count: 'count',
  sum: 'sum',
  avg: 'avg',
  var: 'var',
  variance: 'var',
  stddev: 'stddev',
  median: 'quantile',
  quantile: 'quantile',
}
const CLAUSE_ORDER =
  'clauses go in the order SELECT ... FROM ... WHERE ... GROUP BY ... HAVING ... ORDER BY ... LIMIT ...'
const SUPPORTED_AGGREGATES = 'COUNT(*), COUNT(col), SUM, AVG, VAR, STDDEV, MEDIAN or QUANTILE(col, p)'

/** Where an operand appears decides what is refused and how it is explained. */
type Context = 'select' | 'argument' | 'where'
const WANTED: Record<Context, string> = { select: 'a select item', argument: 'a column', where: 'a condition' }

type Operand =
  | { readonly kind: 'column'; readonly ref: ColumnRef; readonly token: Token }
  | { readonly kind: 'literal'; readonly lit: Literal; readonly token: Token }
  | { readonly kind: 'null'; readonly token: Token }
  | { readonly kind: 'aggregate'; readonly agg: Aggregate; readonly token: Token }

function describe(t: Token): string {
  switch (t.kind) {
    case 'eof':
      return 'the end of the query'
    case 'string':
      return `the string ${t.text.length > 40 ? `${t.text.slice(0, 37)}...` : t.text}`
    case 'number':
      return `the number ${t.text}`
    case 'quoted':
      return `the name ${t.text}`
    case 'symbol':
      return `"${t.text}"`
    case 'word':
      return RESERVED.has(t.value) ? t.text.toUpperCase() : t.text
  }
}

function where(t: TextPos): string {
  return `line ${t.line}, column ${t.column}`
}

class Parser {
  private readonly lx: Lexer
  private depth = 0
  /** While HAVING is parsed: the select list, through which an aggregate call names its output column. */
  private havingItems: readonly SelectItem[] | null = null

  constructor(text: string) {
    this.lx = new Lexer(text)
  }

  // ---- token helpers ----

  private peek(k = 0): Token {
    return this.lx.peek(k)
  }

  private next(): Token {
    return this.lx.next()
  }

  private atWord(w: string, k = 0): boolean {
    const t = this.peek(k)
    return t.kind === 'word' && t.value === w
  }

  private atSymbol(s: string, k = 0): boolean {
    const t = this.peek(k)
    return t.kind === 'symbol' && t.value === s
  }

  private acceptWord(w: string): Token | undefined {
    return this.atWord(w) ? this.next() : undefined
  }

  private acceptSymbol(s: string): Token | undefined {
    return this.atSymbol(s) ? this.next() : undefined
  }

  private syntax(detail: string, t: Token = this.peek()): never {
    throw queryError('VEILBOX_ERR_QUERY_SYNTAX', detail, t.pos)
  }

  private expectWord(w: string, context: string): Token {
    return this.acceptWord(w) ?? this.syntax(`expected ${w.toUpperCase()} ${context}, found ${describe(this.peek())}`)
  }

  private expectSymbol(s: string, context: string): Token {
    return this.acceptSymbol(s) ?? this.syntax(`expected "${s}" ${context}, found ${describe(this.peek())}`)
  }

  /** An unquoted non-reserved word or a "quoted name". */
  private isName(t: Token): boolean {
    return t.kind === 'quoted' || (t.kind === 'word' && !RESERVED.has(t.value))
  }

  private name(what: string): Token {
    const t = this.peek()
    if (this.isName(t)) return this.next()
    if (t.kind === 'word') {
      this.syntax(
        `expected ${what}, found the reserved word ${t.text.toUpperCase()}; to use it as a name, quote it: "${t.value}"`,
      )
    }
    this.syntax(`expected ${what}, found ${describe(t)}`)
  }

  private enter(t: Token): void {
    this.depth++
    if (this.depth > QUERY_LIMITS.maxDepth) throw tooLarge('maxDepth', t.pos)
  }

  // ---- statement ----

  statement(): Query {
    const first = this.peek()
    if (first.kind === 'eof') this.syntax('the query is empty; send one SELECT statement')
    if (!(first.kind === 'word' && first.value === 'select')) this.notSelect(first)
    const q = this.select()
    if (this.acceptSymbol(';')) {
      const t = this.peek()
      if (t.kind !== 'eof') {
        throw queryError(
          'VEILBOX_ERR_QUERY_MULTIPLE_STATEMENTS',
          'only one statement is accepted per query; send each SELECT as a request of its own',
          t.pos,
        )
      }
    } else {
      this.trailing(this.peek())
    }
    return q
  }

  private notSelect(t: Token): never {
    if (t.kind === 'word' && t.value === 'with') {
      throw queryError(
        'VEILBOX_ERR_QUERY_UNSUPPORTED',
        'WITH (common table expressions) is not supported: a query reads one dataset directly; name it in FROM',
        t.pos,
      )
    }
    if (t.kind === 'word' && OTHER_STATEMENTS.has(t.value)) {
      throw queryError(
        'VEILBOX_ERR_QUERY_NOT_SELECT',
        `${t.text.toUpperCase()} statements are not accepted: veilbox answers aggregate SELECT queries only and never changes or describes data through a query`,
        t.pos,
      )
    }
    throw queryError('VEILBOX_ERR_QUERY_NOT_SELECT', `a query starts with SELECT, not ${describe(t)}`, t.pos)
  }

  /** What follows a complete query without a ";" between. */
  private trailing(t: Token): void {
    if (t.kind === 'eof') return
    if (t.kind === 'word') {
      const clause = UNSUPPORTED_CLAUSES.get(t.value)
      if (clause !== undefined) throw queryError('VEILBOX_ERR_QUERY_UNSUPPORTED', clause, t.pos)
      if (t.value === 'select' || OTHER_STATEMENTS.has(t.value)) {
        throw queryError(
          'VEILBOX_ERR_QUERY_MULTIPLE_STATEMENTS',
          `a second statement starts here (${t.text.toUpperCase()}); only one statement is accepted per query`,
          t.pos,
        )
      }
      if (['from', 'where', 'group', 'having', 'order', 'limit'].includes(t.value)) {
        this.syntax(`${t.text.toUpperCase()} is out of place or repeated: ${CLAUSE_ORDER}`, t)
      }
    }
    if (t.kind === 'symbol' && t.value === ')') this.syntax('this ")" closes no "("', t)
    this.syntax(`unexpected ${describe(t)} after the end of the query; ${CLAUSE_ORDER}`, t)
  }

  private select(): Query {
    const selectTok = this.next()
    const mod = this.peek()
    if (mod.kind === 'word' && mod.value === 'distinct') {
      throw queryError(
        'VEILBOX_ERR_QUERY_UNSUPPORTED',
        'SELECT DISTINCT is not supported: distinct rows are row-level data; group by a column with a declared domain and count instead',
        mod.pos,
      )
    }
    if (mod.kind === 'word' && mod.value === 'all') {
      throw queryError('VEILBOX_ERR_QUERY_UNSUPPORTED', 'SELECT ALL is not supported; remove ALL', mod.pos)
    }
    const items: SelectItem[] = []
    for (;;) {
      const t = this.peek()
      if (items.length === QUERY_LIMITS.maxSelectItems) throw tooLarge('maxSelectItems', t.pos)
      items.push(this.selectItem())
      if (!this.acceptSymbol(',')) break
    }
    const fromTok = this.peek()
    if (!this.atWord('from')) {
      const hint = this.isName(fromTok) ? ` (is FROM missing? to name an output column, write AS ${fromTok.text})` : ''
      this.syntax(`expected "," or FROM after the select item, found ${describe(fromTok)}${hint}`)
    }
    this.next()
    const source = this.from()
    let predicate: ParsedPredicate | undefined
    if (this.acceptWord('where')) predicate = this.or()
    const groupBy: GroupRef[] = []
    if (this.atWord('group')) {
      this.next()
      this.expectWord('by', 'after GROUP')
      do groupBy.push(this.groupKey())
      while (this.acceptSymbol(','))
    }
    let having: ParsedPredicate | undefined
    if (this.acceptWord('having')) {
      this.havingItems = items
      try {
        having = this.or()
      } finally {
        this.havingItems = null
      }
    }
    const orderBy: OrderItem[] = []
    if (this.atWord('order')) {
      this.next()
      this.expectWord('by', 'after ORDER')
      do orderBy.push(this.orderKey(items))
      while (this.acceptSymbol(','))
    }
    let limit: number | undefined
    if (this.atWord('limit')) {
      this.next()
      const n = this.peek()
      if (n.kind !== 'number') this.syntax(`LIMIT takes a whole number, found ${describe(n)}`, n)
      this.next()
      limit = n.number!
      if (!Number.isInteger(limit) || limit < 1 || limit > QUERY_LIMITS.maxLimit) {
        throw queryError(
          'VEILBOX_ERR_QUERY_BAD_LIMIT',
          `LIMIT takes a whole number from 1 to ${QUERY_LIMITS.maxLimit}, got ${n.text}`,
          n.pos,
          { limit: n.text },
        )
      }
      if (this.atSymbol(',') || this.atWord('offset'))
        throw queryError(
          'VEILBOX_ERR_QUERY_UNSUPPORTED',
          'OFFSET is not supported: LIMIT keeps the first rows of the released answer; skip rows on your side',
          this.peek().pos,
        )
    }
    return buildQuery({
      select: items,
      from: source,
      where: predicate,
      groupBy,
      orderBy,
      having,
      limit,
      pos: selectTok.pos,
    })
  }

  // ---- select list ----

  private selectItem(): SelectItem {
    const t = this.peek()
    if (t.kind === 'symbol' && t.value === '*') {
      throw queryError(
        'VEILBOX_ERR_QUERY_NOT_AGGREGATE',
        `SELECT * would release individual rows, and only aggregates leave veilbox; select aggregates such as COUNT(*) or AVG(col), and GROUP BY columns`,
        t.pos,
      )
    }
    const op = this.operand('select')
    this.noOperatorAfter(op, 'select')
    if (op.kind === 'literal' || op.kind === 'null') {
      throw queryError(
        'VEILBOX_ERR_QUERY_NOT_AGGREGATE',
        `the constant ${op.token.text} is not an aggregate; select aggregates (${SUPPORTED_AGGREGATES}) and GROUP BY columns`,
        op.token.pos,
      )
    }
    let alias: string | undefined
    if (this.acceptWord('as')) alias = this.name('an output name after AS').value
    if (op.kind === 'column') return columnItem(op.ref, alias, op.token.pos)
    return alias === undefined ? op.agg : aggregate({ ...op.agg, alias })
  }

  /**
   * One value: a column, a literal or an aggregate call. Everything else that
   * can stand in a value's place is refused here, with the reason that fits
   * the context.
   */
  private operand(ctx: Context): Operand {
    const t = this.peek()
    switch (t.kind) {
      case 'string':
        this.next()
        return { kind: 'literal', lit: literal(t.value, t.pos), token: t }
      case 'number':
        this.next()
        return { kind: 'literal', lit: literal(t.number!, t.pos), token: t }
      case 'quoted':
        this.next()
        return this.columnOperand(t, ctx)
      case 'symbol':
        return this.symbolOperand(t, ctx)
      case 'eof':
        return this.syntax(`expected ${WANTED[ctx]}, found the end of the query`)
      case 'word':
        break
    }
    if ((t.value === 'date' || t.value === 'timestamp') && this.peek(1).kind === 'string') {
      const s = this.peek(1)
      throw queryError(
        'VEILBOX_ERR_QUERY_BAD_LITERAL',
        `write a ${t.value} as a plain string compared with a ${t.value} column, such as d >= ${s.text}, without ${t.text.toUpperCase()} before it`,
        t.pos,
      )
    }
    switch (t.value) {
      case 'true':
      case 'false':
        this.next()
        return { kind: 'literal', lit: literal(t.value === 'true', t.pos), token: t }
      case 'null':
        this.next()
        return { kind: 'null', token: t }
      case 'case':
      case 'cast':
        throw queryError(
          'VEILBOX_ERR_QUERY_ROW_EXPRESSION',
          `${t.text.toUpperCase()} computes a value for each row, which queries cannot do; ${ctx === 'where' ? 'compare a column with literals instead' : 'aggregate a column directly'}`,
          t.pos,
        )
      case 'exists':
      case 'select':
        throw queryError(
          'VEILBOX_ERR_QUERY_SUBQUERY',
          'subqueries are not supported: a query is one SELECT over one dataset',
          t.pos,
        )
      case 'distinct':
        throw queryError(
          'VEILBOX_ERR_QUERY_UNSUPPORTED',
          'DISTINCT is not supported: distinct counts need their own sensitivity analysis',
          t.pos,
        )
    }
    if (this.atSymbol('(', 1)) return this.call(ctx)
    if (RESERVED.has(t.value)) {
      this.syntax(
        `expected ${WANTED[ctx]}, found the reserved word ${t.text.toUpperCase()}; to use it as a name, quote it: "${t.value}"`,
      )
    }
    this.next()
    return this.columnOperand(t, ctx)
  }

  private columnOperand(t: Token, ctx: Context): Operand {
    if (this.atSymbol('.')) {
      // table.column: the binder checks that the table is the dataset or an alias in FROM.
      this.next()
      const col = this.name(`a column name after "${t.text}."`)
      if (this.atSymbol('.'))
        this.syntax(`a column is named as table.column at most; "${t.text}.${col.text}." has one part too many`)
      return { kind: 'column', ref: columnRef(col.value, t.pos, t.value), token: t }
    }
    if (ctx !== 'where' && this.atSymbol('(') && t.kind === 'quoted') {
      this.syntax(
        `${t.text} is a quoted name and cannot be called; write aggregates unquoted, such as SUM(col)`,
        this.peek(),
      )
    }
    return { kind: 'column', ref: columnRef(t.value, t.pos), token: t }
  }

  private symbolOperand(t: Token, ctx: Context): Operand {
    if (t.value === '(') {
      if (this.atWord('select', 1)) {
        throw queryError(
          'VEILBOX_ERR_QUERY_SUBQUERY',
          'subqueries are not supported: a query is one SELECT over one dataset',
          this.peek(1).pos,
        )
      }
      if (ctx === 'where')
        this.syntax('a value in a condition cannot be put in parentheses; write the column or literal alone')
      this.syntax(
        `${ctx === 'select' ? 'select items' : 'aggregate arguments'} cannot be put in parentheses; write the ${ctx === 'select' ? 'aggregate or column' : 'column'} alone`,
      )
    }
    if (t.value === '-' || t.value === '+') {
      const n = this.peek(1)
      if (n.kind === 'number') {
        this.next()
        this.next()
        const value = t.value === '-' ? -n.number! : n.number!
        return { kind: 'literal', lit: literal(value, t.pos), token: { ...n, text: `${t.value}${n.text}`, pos: t.pos } }
      }
      throw queryError(
        'VEILBOX_ERR_QUERY_ROW_EXPRESSION',
        `a sign in front of ${describe(n)} is arithmetic on row values, which queries cannot do; only number literals take a sign`,
        t.pos,
      )
    }
    if (t.value === '*' && ctx === 'argument') this.syntax('only COUNT takes *', t)
    return this.syntax(`expected ${WANTED[ctx]}, found ${describe(t)}`)
  }

  /** A function call: an aggregate, or the reason why not. */
  private call(ctx: Context): Operand {
    const nameTok = this.peek()
    const fn = nameTok.value
    const upper = nameTok.text.toUpperCase()
    if (WINDOW_FUNCTIONS.has(fn)) {
      throw queryError(
        'VEILBOX_ERR_QUERY_UNSUPPORTED',
        `${upper} is a window function, which computes a value per row; window functions are not supported`,
        nameTok.pos,
      )
    }
    if (BUCKET_SPELLINGS.has(fn) || isCalendar(fn)) {
      if (ctx !== 'select') {
        throw queryError(
          'VEILBOX_ERR_QUERY_ROW_EXPRESSION',
          `${upper} puts rows in buckets for GROUP BY: it stands in the select list and in GROUP BY, not ${ctx === 'where' ? 'in a condition' : 'inside an aggregate'}`,
          nameTok.pos,
        )
      }
      return { kind: 'column', ref: isCalendar(fn) ? this.calendarCall() : this.bucketCall(), token: nameTok }
    }
    if (!AGGREGATE_SPELLINGS.has(fn)) {
      const reason = UNSUPPORTED_AGGREGATES.get(fn)
      if (reason !== undefined) {
        throw queryError('VEILBOX_ERR_QUERY_UNSUPPORTED', `${upper} is not supported: ${reason}`, nameTok.pos)
      }
      throw queryError(
        'VEILBOX_ERR_QUERY_ROW_EXPRESSION',
        `${upper}(...) is not an aggregate veilbox computes, and functions of row values are not allowed; use ${SUPPORTED_AGGREGATES}`,
        nameTok.pos,
      )
    }
    if (ctx === 'argument') {
      throw queryError(
        'VEILBOX_ERR_QUERY_NESTED_AGGREGATE',
        `${upper} cannot be used inside another aggregate; aggregates take a bare column`,
        nameTok.pos,
      )
    }
    if (ctx === 'where' && this.havingItems !== null) {
      // In HAVING an aggregate call stands for its output column: the condition filters released rows.
      const agg = this.aggregateCall()
      const match = this.havingItems.find((i): i is Aggregate => i.kind === 'aggregate' && sameAggregate(i, agg))
      if (match === undefined) {
        throw queryError(
          'VEILBOX_ERR_QUERY_BAD_HAVING',
          `${aggregateSql(agg)} is not in the select list; HAVING filters the released rows by their output columns, so select it (with AS name) and use that`,
          nameTok.pos,
        )
      }
      return { kind: 'column', ref: columnRef(outputName(match), nameTok.pos), token: nameTok }
    }
    if (ctx === 'where') {
      throw queryError(
        'VEILBOX_ERR_QUERY_UNSUPPORTED',
        `aggregates cannot appear in WHERE, which filters rows before they are aggregated; to filter on an aggregate's released value, use HAVING`,
        nameTok.pos,
      )
    }
    const agg = this.aggregateCall()
    return { kind: 'aggregate', agg, token: nameTok }
  }

  private aggregateCall(): Aggregate {
    const nameTok = this.next()
    const spelling = nameTok.value as AggregateSpelling
    const fn = FN_OF[spelling]
    const upper = nameTok.text.toUpperCase()
    const open = this.next()
    const badAggregate: (detail: string, t: Token) => never = (detail, t) => {
      throw queryError('VEILBOX_ERR_QUERY_BAD_AGGREGATE', detail, t.pos)
    }
    const usage =
      fn === 'count'
        ? 'COUNT(*) or COUNT(col)'
        : fn === 'quantile' && spelling === 'quantile'
          ? 'QUANTILE(col, p)'
          : `${upper}(col)`
    let first = this.peek()
    let distinct = false
    if (first.kind === 'word' && first.value === 'distinct' && fn === 'count') {
      // COUNT(DISTINCT unit): the binder checks that the column is the privacy unit.
      this.next()
      distinct = true
      first = this.peek()
      if (first.kind === 'symbol' && first.value === '*')
        badAggregate('COUNT(DISTINCT *) is not SQL: write COUNT(DISTINCT unit), naming the privacy unit column', first)
    }
    if (first.kind === 'word' && (first.value === 'distinct' || first.value === 'all')) {
      throw queryError(
        'VEILBOX_ERR_QUERY_UNSUPPORTED',
        first.value === 'distinct'
          ? `${upper}(DISTINCT ...) is not supported: distinct values need their own sensitivity analysis; COUNT(DISTINCT unit) counts privacy units`
          : `${upper}(ALL ...) is not supported; remove ALL`,
        first.pos,
      )
    }
    if (first.kind === 'symbol' && first.value === ')')
      badAggregate(`${upper}() needs an argument: write ${usage}`, first)
    let column: ColumnRef | null
    if (first.kind === 'symbol' && first.value === '*') {
      if (fn !== 'count') badAggregate(`only COUNT takes *; write ${usage}`, first)
      this.next()
      column = null
    } else {
      const arg = this.operand('argument')
      if (arg.kind !== 'column') {
        const hint = fn === 'count' ? 'write COUNT(*) to count rows' : `write ${usage}`
        badAggregate(`${upper} takes a column, not the constant ${arg.token.text}; ${hint}`, arg.token)
      }
      column = arg.ref
      if (!this.atWord('bounds')) this.noOperatorAfter(arg, 'argument')
    }
    const bounds = column !== null && this.atWord('bounds') ? this.boundsClause(upper) : undefined
    let p: number | undefined
    if (fn === 'quantile' && spelling === 'quantile') {
      if (!this.atSymbol(','))
        badAggregate('QUANTILE needs the probability p as its second argument: write QUANTILE(col, 0.9)', this.peek())
      this.next()
      const pt = this.peek()
      const pv = this.operand('argument')
      if (pv.kind !== 'literal' || typeof pv.lit.value !== 'number') {
        badAggregate(`QUANTILE's p must be a number literal between 0 and 1, not ${describe(pt)}`, pt)
      }
      p = pv.lit.value
      if (!(p > 0 && p < 1)) {
        badAggregate(
          `QUANTILE's p must lie strictly between 0 and 1, not ${pv.token.text}; use MEDIAN(col) or p = 0.5 for the median`,
          pv.token,
        )
      }
    } else if (spelling === 'median') {
      p = 0.5
    }
    const comma = this.peek()
    if (comma.kind === 'symbol' && comma.value === ',') {
      badAggregate(
        `${upper} takes ${spelling === 'quantile' ? 'a column and p' : 'one argument'}: write ${usage}`,
        comma,
      )
    }
    this.expectSymbol(')', `to close ${upper}( at ${where(open.pos)}`)
    return aggregate({
      fn,
      column,
      p,
      display: spelling === 'median' ? 'median' : undefined,
      distinct,
      bounds,
      pos: nameTok.pos,
    })
  }

  /** `BOUNDS lower, upper` after an aggregate's column: two number literals, the analyst's clamp range. */
  private boundsClause(fnName: string): AnalystBounds {
    const kw = this.next()
    const numbers: number[] = []
    for (const what of ['lower', 'upper']) {
      if (what === 'upper') {
        if (!this.atSymbol(','))
          throw queryError(
            'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
            `BOUNDS needs its upper bound: write ${fnName}(col BOUNDS lower, upper)`,
            this.peek().pos,
          )
        this.next()
      }
      const t = this.peek()
      const v = this.operand('argument')
      if (v.kind !== 'literal' || typeof v.lit.value !== 'number') {
        throw queryError(
          'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
          `BOUNDS takes public constants: its ${what} must be a number literal, not ${describe(t)}; write ${fnName}(col BOUNDS lower, upper)`,
          t.pos,
        )
      }
      numbers.push(v.lit.value)
    }
    if (!(numbers[0]! < numbers[1]!)) {
      throw queryError(
        'VEILBOX_ERR_QUERY_BAD_AGGREGATE',
        `BOUNDS ${numbers[0]}, ${numbers[1]}: the lower bound must be less than the upper`,
        kw.pos,
      )
    }
    return { lower: numbers[0]!, upper: numbers[1]! }
  }

  /** YEAR(d), MONTH(d), WEEK(d) or DAY(d): a date or timestamp column's calendar periods, a GROUP BY key (the binder checks the column). */
  private calendarCall(): GroupRef {
    const nameTok = this.next()
    const upper = nameTok.text.toUpperCase()
    this.expectSymbol('(', `after ${upper}`)
    const first = this.peek()
    const arg = this.operand('argument')
    if (arg.kind !== 'column')
      throw queryError(
        'VEILBOX_ERR_QUERY_BAD_BUCKET',
        `${upper} takes one date or timestamp column, not ${describe(first)}: write ${upper}(col)`,
        first.pos,
      )
    this.noOperatorAfter(arg, 'argument')
    if (!this.atSymbol(')'))
      throw queryError(
        'VEILBOX_ERR_QUERY_BAD_BUCKET',
        `${upper} takes one column and nothing else: write ${upper}(col)`,
        this.peek().pos,
      )
    this.next()
    return calendarKey(arg.ref, CALENDAR_UNITS.find((u) => u === nameTok.value)!, nameTok.pos)
  }

  /** BUCKET(col, lower, upper, width) or WIDTH_BUCKET(col, lower, upper, count): a GROUP BY key, also selected. */
  private bucketCall(): GroupRef {
    const nameTok = this.next()
    const upper = nameTok.text.toUpperCase()
    const byCount = nameTok.value === 'width_bucket'
    const usage = byCount ? 'WIDTH_BUCKET(col, lower, upper, count)' : 'BUCKET(col, lower, upper, width)'
    const badBucket: (detail: string, t: Token) => never = (detail, t) => {
      throw queryError('VEILBOX_ERR_QUERY_BAD_BUCKET', detail, t.pos)
    }
    const open = this.expectSymbol('(', `after ${upper}`)
    const first = this.peek()
    const arg = this.operand('argument')
    if (arg.kind !== 'column') badBucket(`${upper} takes a column first, not ${describe(first)}: write ${usage}`, first)
    this.noOperatorAfter(arg, 'argument')
    const numbers: number[] = []
    for (const what of ['lower', 'upper', byCount ? 'count' : 'width']) {
      if (!this.atSymbol(',')) badBucket(`${upper} needs its ${what}: write ${usage}`, this.peek())
      this.next()
      const t = this.peek()
      const v = this.operand('argument')
      if (v.kind !== 'literal' || typeof v.lit.value !== 'number')
        badBucket(`${upper}'s ${what} must be a number literal, not ${describe(t)}: write ${usage}`, t)
      numbers.push(v.lit.value)
    }
    if (this.atSymbol(',')) badBucket(`${upper} takes four arguments: write ${usage}`, this.peek())
    this.expectSymbol(')', `to close ${upper}( at ${where(open.pos)}`)
    const [lower, high, third] = numbers as [number, number, number]
    return byCount
      ? bucketByCount(arg.ref, lower, high, third, QUERY_LIMITS.maxBuckets, nameTok.pos)
      : bucketByWidth(arg.ref, lower, high, third, QUERY_LIMITS.maxBuckets, nameTok.pos)
  }

  /** Refuses an operator after a complete operand where no operator may stand. */
  private noOperatorAfter(op: Operand, ctx: Context): void {
    const t = this.peek()
    if (t.kind === 'word' && op.kind === 'aggregate' && (t.value === 'over' || t.value === 'filter')) {
      throw queryError(
        'VEILBOX_ERR_QUERY_UNSUPPORTED',
        t.value === 'over'
          ? 'window functions (OVER) are not supported: they compute a value per row'
          : 'FILTER (WHERE ...) is not supported; put the condition in the WHERE clause',
        t.pos,
      )
    }
    if (t.kind !== 'symbol') return
    if (t.value === '::') {
      throw queryError(
        'VEILBOX_ERR_QUERY_ROW_EXPRESSION',
        'casts (::) compute a value per row, which queries cannot do',
        t.pos,
      )
    }
    const comparison = COMPARISONS.has(t.value)
    if (!ARITHMETIC.has(t.value) && !(comparison && ctx !== 'where')) return
    if (op.kind === 'aggregate') {
      throw queryError(
        'VEILBOX_ERR_QUERY_UNSUPPORTED',
        `arithmetic on aggregates ("${t.value}" after ${aggregateSql(op.agg)}) is not supported: each aggregate is released with its own noise; compute ratios and sums of the released values on your side`,
        t.pos,
      )
    }
    const subject = op.kind === 'column' ? `the column ${op.token.text}` : op.token.text
    const fix =
      ctx === 'where'
        ? 'a condition compares a column with literals'
        : ctx === 'select'
          ? 'select aggregates of bare columns and GROUP BY columns'
          : 'an aggregate takes a bare column'
    throw queryError(
      'VEILBOX_ERR_QUERY_ROW_EXPRESSION',
      `"${t.value}" after ${subject} makes an expression over individual rows, which queries cannot compute; ${fix}`,
      t.pos,
    )
  }

  // ---- FROM ----

  private from(): From {
    const t = this.peek()
    if (t.kind === 'symbol' && t.value === '(') {
      if (this.atWord('select', 1)) {
        throw queryError(
          'VEILBOX_ERR_QUERY_SUBQUERY',
          'subqueries are not supported: FROM names one dataset',
          this.peek(1).pos,
        )
      }
      this.syntax('expected a dataset name after FROM, found "("')
    }
    if (t.kind === 'word' && !RESERVED.has(t.value) && this.atSymbol('(', 1)) {
      throw queryError(
        'VEILBOX_ERR_QUERY_UNSUPPORTED',
        `table functions are not supported: FROM names one dataset, not ${t.text}(...)`,
        t.pos,
      )
    }
    const nameTok = this.name('a dataset name after FROM')
    const after = this.peek()
    if (after.kind === 'symbol' && after.value === '.') {
      throw queryError(
        'VEILBOX_ERR_QUERY_UNSUPPORTED',
        `qualified names are not supported: write the dataset id alone, without "${nameTok.text}."`,
        after.pos,
      )
    }
    const alias = this.tableAlias()
    const joins: Join[] = []
    for (;;) {
      const t = this.peek()
      if (t.kind === 'symbol' && t.value === ',') {
        throw queryError(
          'VEILBOX_ERR_QUERY_JOIN',
          'a comma in FROM pairs every row with every row (a cross join); join on the privacy unit with JOIN dataset USING (unit), or on a declared key with JOIN dataset ON a.key = b.key',
          t.pos,
        )
      }
      if (t.kind === 'word' && OTHER_JOINS.has(t.value)) {
        throw queryError(
          'VEILBOX_ERR_QUERY_JOIN',
          `${t.text.toUpperCase()} JOIN is not supported: only inner joins, on the privacy unit (USING (unit)) or on a declared key (ON a.key = b.key); an outer join would release rows that match nothing`,
          t.pos,
        )
      }
      if (this.acceptWord('inner')) this.expectWord('join', 'after INNER')
      else if (!this.acceptWord('join')) break
      const joinTok = this.peek()
      const dataset = this.name('a dataset name after JOIN')
      const joinAlias = this.tableAlias()
      if (this.acceptWord('using')) {
        const open = this.expectSymbol('(', 'after USING')
        const col = this.name('a column name in USING (...)')
        if (this.atSymbol(','))
          throw queryError(
            'VEILBOX_ERR_QUERY_JOIN',
            'USING takes one column: the privacy unit both datasets share',
            this.peek().pos,
          )
        this.expectSymbol(')', `to close USING ( at ${where(open.pos)}`)
        joins.push(join({ dataset: dataset.value, alias: joinAlias, using: col.value, pos: joinTok.pos }))
      } else if (this.acceptWord('on')) {
        const left = this.operand('where')
        const eq = this.peek()
        if (left.kind !== 'column' || !(eq.kind === 'symbol' && eq.value === '='))
          this.syntax(
            'ON takes one equality of two columns: ON a.key = b.key',
            left.kind === 'column' ? eq : left.token,
          )
        this.next()
        const right = this.operand('where')
        if (right.kind !== 'column') this.syntax('ON takes one equality of two columns: ON a.key = b.key', right.token)
        if (this.atWord('and') || this.atWord('or'))
          throw queryError(
            'VEILBOX_ERR_QUERY_JOIN',
            'ON takes one equality of two columns; put other conditions in WHERE',
            this.peek().pos,
          )
        joins.push(join({ dataset: dataset.value, alias: joinAlias, on: [left.ref, right.ref], pos: joinTok.pos }))
      } else {
        this.syntax(
          `expected USING (column) or ON a.key = b.key after JOIN ${dataset.text}, found ${describe(this.peek())}`,
        )
      }
    }
    const end = this.peek()
    if (this.isName(end) && !(end.kind === 'word' && OTHER_STATEMENTS.has(end.value))) {
      this.syntax(`unexpected ${describe(end)} after FROM; ${CLAUSE_ORDER}`, end)
    }
    return from(nameTok.value, nameTok.pos, alias, joins)
  }

  /** `AS alias` or a bare alias after a dataset name in FROM; undefined without one. */
  private tableAlias(): string | undefined {
    if (this.acceptWord('as')) return this.name('an alias after AS').value
    const t = this.peek()
    const bare =
      t.kind === 'quoted' ||
      (t.kind === 'word' && !RESERVED.has(t.value) && !ALIAS_ENDS.has(t.value) && !OTHER_STATEMENTS.has(t.value))
    if (!bare) return undefined
    // A bare alias is followed by a clause, a join, ";" or the end; anything else means the word was no alias
    // (a misspelt WHERE, say), and the error points at it.
    const next = this.peek(1)
    const ends =
      next.kind === 'eof' ||
      (next.kind === 'symbol' && next.value === ';') ||
      (next.kind === 'word' && (ALIAS_ENDS.has(next.value) || RESERVED.has(next.value)))
    if (!ends) this.syntax(`unexpected ${describe(t)} after the dataset name; ${CLAUSE_ORDER}`, t)
    return this.name('an alias').value
  }

  // ---- WHERE ----

  private or(): ParsedPredicate {
    const first = this.and()
    if (!this.atWord('or')) return first
    const operands = [first]
    while (this.acceptWord('or')) operands.push(this.and())
    return or(operands)
  }

  private and(): ParsedPredicate {
    const first = this.not()
    if (!this.atWord('and')) return first
    const operands = [first]
    while (this.acceptWord('and')) operands.push(this.not())
    return and(operands)
  }

  /** NOT chains are read in a loop, not by recursion, so their length cannot exhaust the stack. */
  private not(): ParsedPredicate {
    const saved = this.depth
    const nots: Token[] = []
    while (this.atWord('not')) {
      const t = this.next()
      this.enter(t)
      nots.push(t)
    }
    let p = this.primary()
    for (let k = nots.length - 1; k >= 0; k--) p = not(p, nots[k]!.pos)
    this.depth = saved
    return p
  }

  private primary(): ParsedPredicate {
    const t = this.peek()
    if (t.kind === 'symbol' && t.value === '(') {
      if (this.atWord('select', 1)) {
        throw queryError(
          'VEILBOX_ERR_QUERY_SUBQUERY',
          'subqueries are not supported: a query is one SELECT over one dataset',
          this.peek(1).pos,
        )
      }
      this.next()
      this.enter(t)
      const p = this.or()
      this.expectSymbol(')', `to close the "(" at ${where(t.pos)}`)
      this.depth--
      return p
    }
    return this.condition()
  }

  private condition(): ParsedPredicate {
    const left = this.operand('where')
    this.noOperatorAfter(left, 'where')
    const t = this.peek()
    if (t.kind === 'symbol' && COMPARISONS.has(t.value)) return this.comparison(left)
    let negated = false
    if (t.kind === 'word' && t.value === 'not') {
      const n = this.peek(1)
      if (n.kind === 'word' && (n.value === 'in' || n.value === 'between' || PATTERN_OPERATORS.has(n.value))) {
        this.next()
        negated = true
      }
    }
    const kw = this.peek()
    if (kw.kind === 'word') {
      if (PATTERN_OPERATORS.has(kw.value)) {
        throw queryError(
          'VEILBOX_ERR_QUERY_UNSUPPORTED',
          `${kw.text.toUpperCase()} pattern matching is not supported; list the values you want with IN ('a', 'b', ...)`,
          kw.pos,
        )
      }
      if (kw.value === 'in' || kw.value === 'between' || kw.value === 'is') {
        const column = this.conditionColumn(left, kw)
        this.next()
        if (kw.value === 'in') return this.inRest(column, negated, left.token.pos)
        if (kw.value === 'between') return this.betweenRest(column, negated, left.token.pos)
        return this.isRest(column, left.token.pos)
      }
    }
    if (left.kind === 'column') {
      this.syntax(
        `expected a comparison after the column ${left.token.text} (=, <>, <, <=, >, >=, IN, BETWEEN or IS NULL), found ${describe(kw)}` +
          ' (a boolean column is tested with = TRUE)',
        kw,
      )
    }
    this.syntax(`expected a comparison after ${left.token.text}, found ${describe(kw)}`, kw)
  }

  private conditionColumn(left: Operand, kw: Token): ColumnRef {
    if (left.kind === 'column') return left.ref
    this.syntax(
      `${kw.text.toUpperCase()} tests a column: write col ${kw.text.toUpperCase()} ..., with the column on the left`,
      left.token,
    )
  }

  private comparison(left: Operand): ParsedPredicate {
    const opTok = this.next()
    if (opTok.value === '==') this.syntax('"==" is not an operator; test equality with "="', opTok)
    const right = this.operand('where')
    this.noOperatorAfter(right, 'where')
    const op: CompareOp = opTok.value === '!=' ? '<>' : (opTok.value as CompareOp)
    for (const side of [left, right]) {
      if (side.kind === 'null') {
        this.syntax(
          `comparing with NULL is never true; test for missing values with IS ${op === '<>' ? 'NOT ' : ''}NULL`,
          side.token,
        )
      }
    }
    if (left.kind === 'column' && right.kind === 'column') {
      throw queryError(
        'VEILBOX_ERR_QUERY_ROW_EXPRESSION',
        `comparing two columns (${left.token.text} ${opTok.text} ${right.token.text}) is an expression over individual rows, which queries cannot compute; compare a column with a literal`,
        opTok.pos,
      )
    }
    if (left.kind === 'column' && right.kind === 'literal') return compare(left.ref, op, right.lit, left.token.pos)
    if (left.kind === 'literal' && right.kind === 'column')
      return compare(right.ref, FLIP[op], left.lit, left.token.pos)
    this.syntax(
      `a condition compares a column with a literal; ${left.token.text} ${opTok.text} ${right.token.text} has no column`,
      left.token,
    )
  }

  private literalValue(what: string): Literal {
    const t = this.peek()
    const v = this.operand('where')
    if (v.kind === 'literal') return v.lit
    if (v.kind === 'null') this.syntax(`NULL never matches ${what}; test for missing values with IS NULL`, v.token)
    if (v.kind === 'column') {
      throw queryError(
        'VEILBOX_ERR_QUERY_ROW_EXPRESSION',
        `${what} takes literal values, not the column ${v.token.text}: comparing columns is an expression over individual rows`,
        t.pos,
      )
    }
    this.syntax(`${what} takes literal values, not ${describe(t)}`, t)
  }

  private inRest(column: ColumnRef, negated: boolean, pos: TextPos): ParsedPredicate {
    const open = this.expectSymbol('(', 'after IN')
    if (this.atWord('select')) {
      throw queryError(
        'VEILBOX_ERR_QUERY_SUBQUERY',
        "subqueries are not supported: list the values, IN ('a', 'b')",
        this.peek().pos,
      )
    }
    if (this.atSymbol(')')) this.syntax('an IN list needs at least one value')
    const values: Literal[] = []
    do {
      const t = this.peek()
      if (values.length === QUERY_LIMITS.maxInList) throw tooLarge('maxInList', t.pos)
      values.push(this.literalValue('an IN list'))
    } while (this.acceptSymbol(','))
    this.expectSymbol(')', `to close the IN list opened at ${where(open.pos)}`)
    return inList(column, values, negated, pos)
  }

  private betweenRest(column: ColumnRef, negated: boolean, pos: TextPos): ParsedPredicate {
    const low = this.literalValue('BETWEEN')
    this.expectWord('and', 'between the bounds of BETWEEN')
    const high = this.literalValue('BETWEEN')
    return between(column, low, high, negated, pos)
  }

  private isRest(column: ColumnRef, pos: TextPos): ParsedPredicate {
    const negated = this.acceptWord('not') !== undefined
    const t = this.peek()
    if (t.kind === 'word' && t.value === 'null') {
      this.next()
      return isNull(column, negated, pos)
    }
    if (t.kind === 'word' && (t.value === 'true' || t.value === 'false')) {
      this.syntax(`IS takes NULL only; test a boolean column with ${negated ? '<>' : '='} ${t.text.toUpperCase()}`, t)
    }
    this.syntax(`expected NULL after IS${negated ? ' NOT' : ''}, found ${describe(t)}`, t)
  }

  // ---- GROUP BY and ORDER BY ----

  private groupKey(): GroupRef {
    const t = this.peek()
    if (t.kind === 'number') {
      throw queryError(
        'VEILBOX_ERR_QUERY_BAD_GROUP_BY',
        `GROUP BY positions (${t.text}) are not supported; name the column`,
        t.pos,
      )
    }
    if (t.kind === 'word' && this.atSymbol('(', 1)) {
      if (BUCKET_SPELLINGS.has(t.value)) return this.bucketCall()
      if (isCalendar(t.value)) return this.calendarCall()
      if (AGGREGATE_SPELLINGS.has(t.value)) {
        throw queryError(
          'VEILBOX_ERR_QUERY_BAD_GROUP_BY',
          `cannot group by an aggregate (${t.text.toUpperCase()}); GROUP BY names columns`,
          t.pos,
        )
      }
      const reason = UNSUPPORTED_AGGREGATES.get(t.value)
      if (reason !== undefined && (t.value === 'rollup' || t.value === 'cube' || t.value === 'grouping')) {
        throw queryError('VEILBOX_ERR_QUERY_UNSUPPORTED', `${t.text.toUpperCase()} is not supported: ${reason}`, t.pos)
      }
      throw queryError(
        'VEILBOX_ERR_QUERY_ROW_EXPRESSION',
        `grouping by ${t.text}(...) groups on a value computed per row, which queries cannot do; GROUP BY names columns, or buckets a number with BUCKET(col, lower, upper, width)`,
        t.pos,
      )
    }
    if (t.kind === 'symbol' && t.value === '(') this.syntax('GROUP BY names columns, without parentheses', t)
    const nameTok = this.name('a column name in GROUP BY')
    let table: string | undefined
    let column = nameTok
    if (this.atSymbol('.')) {
      this.next()
      table = nameTok.value
      column = this.name(`a column name after "${nameTok.text}."`)
    }
    const op = this.peek()
    if (op.kind === 'symbol' && (ARITHMETIC.has(op.value) || op.value === '::')) {
      throw queryError(
        'VEILBOX_ERR_QUERY_ROW_EXPRESSION',
        `"${op.value}" after ${nameTok.text} groups on a value computed per row, which queries cannot do; GROUP BY names columns`,
        op.pos,
      )
    }
    return columnRef(column.value, nameTok.pos, table)
  }

  private orderKey(items: readonly SelectItem[]): OrderItem {
    const t = this.peek()
    if (t.kind === 'number') {
      throw queryError(
        'VEILBOX_ERR_QUERY_BAD_ORDER_BY',
        `ORDER BY positions (${t.text}) are not supported; use the output column's name`,
        t.pos,
      )
    }
    let name: string
    if (t.kind === 'word' && this.atSymbol('(', 1)) {
      const op = this.operand('select')
      if (op.kind !== 'aggregate') throw new Error('unreachable: a call is an aggregate or refused')
      const match = items.find((i): i is Aggregate => i.kind === 'aggregate' && sameAggregate(i, op.agg))
      if (match === undefined) {
        throw queryError(
          'VEILBOX_ERR_QUERY_BAD_ORDER_BY',
          `${aggregateSql(op.agg)} is not in the select list; ORDER BY sorts by output columns, so select it (with AS name) and order by that`,
          t.pos,
        )
      }
      name = outputName(match)
    } else {
      name = this.name('an output column name in ORDER BY').value
      if (this.atSymbol('.')) {
        throw queryError(
          'VEILBOX_ERR_QUERY_UNSUPPORTED',
          `qualified names are not supported: write the output name alone`,
          this.peek().pos,
        )
      }
      const op = this.peek()
      if (op.kind === 'symbol' && (ARITHMETIC.has(op.value) || op.value === '::')) {
        throw queryError(
          'VEILBOX_ERR_QUERY_BAD_ORDER_BY',
          `ORDER BY takes output column names, not expressions ("${op.value}")`,
          op.pos,
        )
      }
    }
    let direction: Direction = 'asc'
    if (this.acceptWord('desc')) direction = 'desc'
    else this.acceptWord('asc')
    const nulls = this.peek()
    if (nulls.kind === 'word' && nulls.value === 'nulls') {
      throw queryError(
        'VEILBOX_ERR_QUERY_UNSUPPORTED',
        'NULLS FIRST/LAST is not supported: released aggregates are never null',
        nulls.pos,
      )
    }
    return orderItem(name, direction, t.pos)
  }
}

const isCalendar = (fn: string): boolean => (CALENDAR_UNITS as readonly string[]).includes(fn)
