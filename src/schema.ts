// Long on purpose: the dataset spec and every rule on it are one declaration (the zod schema and its refinements, per column type), read and changed together.
import { z } from 'zod'
import { parseTemporal, temporalForm } from './dates.js'

/**
 * A dataset's declared schema: what the operator registers before any data
 * arrives. Everything the privacy code relies on (bounds, domains, the privacy
 * unit and how many rows one unit may own) is declared here, never inferred
 * from the data, because anything inferred from the data would itself leak.
 */

export const COLUMN_TYPES = ['id', 'integer', 'number', 'category', 'boolean', 'date', 'timestamp'] as const
export const PROTECTIONS = ['public', 'dp', 'he'] as const
export const CLASSIFICATIONS = ['public', 'internal', 'sensitive', 'core'] as const
/** Classification and grading of a column (docs/market.md): L1 public, L2 internal, L3 sensitive, L4 core. */
export const LEVELS = ['L1', 'L2', 'L3', 'L4'] as const

export type ColumnType = (typeof COLUMN_TYPES)[number]
export type Protection = (typeof PROTECTIONS)[number]
export type Classification = (typeof CLASSIFICATIONS)[number]
export type Level = (typeof LEVELS)[number]

const NAME = /^[a-z_][a-z0-9_]{0,62}$/

export const identifierSchema = z
  .string()
  .regex(NAME, 'must be 1-63 characters of lower-case letters, digits and _, starting with a letter or _')

/**
 * A date or timestamp column's bounds are declared as ISO text (src/dates.ts)
 * and kept as the stored numbers: a date's day number since 1970-01-01, a
 * timestamp's milliseconds since 1970-01-01T00:00:00Z. A stored spec holds
 * the numbers, which read back unchanged. Text that is not a date leaves the
 * field as it is, for the number check to refuse.
 */
function temporalBounds(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input
  const col = input as Record<string, unknown>
  if (col.type !== 'date' && col.type !== 'timestamp') return input
  const out = { ...col }
  for (const f of ['lower', 'upper'] as const) {
    const v = col[f]
    if (typeof v === 'string') out[f] = parseTemporal(col.type, v) ?? v
  }
  return out
}

const temporalBound = z.union([z.number().finite(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v
  ctx.addIssue({
    code: 'custom',
    message: `"${v}" is not a bound: integer and number columns take numbers, date columns YYYY-MM-DD and timestamp columns ${temporalForm('timestamp')}`,
  })
  return z.NEVER
})

const columnObjectSchema = z.strictObject({
  name: identifierSchema,
  type: z.enum(COLUMN_TYPES),
  protection: z.enum(PROTECTIONS),
  description: z.string().max(2000).optional(),
  lower: temporalBound.optional(),
  upper: temporalBound.optional(),
  categories: z.array(z.string().min(1).max(200)).min(1).max(65535).optional(),
  /**
   * A public category column without declared categories: the most distinct
   * values a version may hold (ingest refuses more). Declaring it lets
   * queries GROUP BY the column through DP partition selection: the keys
   * come from the data, and each is released only when its noisy count of
   * units passes a threshold (docs/dp.md).
   */
  maxKeys: z.number().int().min(1).max(65535).optional(),
  /**
   * A foreign key (issue 21): this id column names a unit of another
   * dataset (its privacy unit), and each unit of this dataset belongs to one
   * of them, for example a person to a household. Ingest refuses a unit whose
   * rows name two. Queries join the two datasets on it (docs/dp.md).
   * `maxRows`: the most of this dataset's rows one referenced unit keeps in
   * such a join (for example 8 residents per household); the dataset's
   * maxRowsPerUnit when not given.
   */
  references: z
    .strictObject({
      dataset: identifierSchema,
      column: identifierSchema,
      maxRows: z.number().int().min(1).max(1000).optional(),
    })
    .optional(),
  /** Whether the column may be empty (null). Defaults to false. */
  nullable: z.boolean().optional(),
  /** HE columns: fixed-point scale (values are stored as round(x * 10^scale)). */
  scale: z.number().int().min(0).max(6).optional(),
  /** Its level (docs/market.md); L2 when not given. The operator may change it later. */
  level: z.enum(LEVELS).optional(),
})

export const columnSpecSchema = z.preprocess(temporalBounds, columnObjectSchema)

export type ColumnSpec = z.output<typeof columnObjectSchema>

export const isTemporal = (c: { readonly type: ColumnType }): c is { readonly type: 'date' | 'timestamp' } =>
  c.type === 'date' || c.type === 'timestamp'

/** A PostgreSQL relation as `schema.table` (or a bare table in the role's search path): plain identifiers only. */
export const relationNameSchema = z
  .string()
  .regex(
    /^([a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,62}$/,
    'must be "schema.table" or "table": lower-case letters, digits and _, each part starting with a letter or _',
  )

/** A named source connection: VEILBOX_SOURCE_<NAME>_URL on the server defines <name>. */
export const connectionNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be lower-case letters, digits and _, starting with a letter')

/** A Parquet file or glob, absolute or relative to the server's Parquet root (VEILBOX_PARQUET_ROOT). */
export const parquetPathSchema = z
  .string()
  .min(1)
  .max(1024)
  .refine(
    (p) => !p.split('/').includes('..') && ![...p].some((ch) => ch.charCodeAt(0) < 0x20),
    'must not contain ".." or control characters',
  )

/**
 * Where a sourced dataset's rows live: the owner's PostgreSQL (a named
 * connection and a table or view) or Parquet files read by DuckDB. veilbox
 * stores none of their rows; it sends the source one aggregate statement per
 * query, compiled from the validated plan (docs/sources.md).
 *
 * `rowOrder` names the source columns whose order picks a unit's first
 * maxRowsPerUnit rows (the contribution bound); without it, every declared
 * column in declared order. `unitBounded` declares that no unit has more than
 * maxRowsPerUnit rows (for example a primary key on the unit); registration
 * checks it on every snapshot, and the statement then needs no window.
 */
const sourceCommon = {
  rowOrder: z.array(identifierSchema).min(1).max(16).optional(),
  unitBounded: z.boolean().optional(),
}

export const sourceSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('postgres'),
    connection: connectionNameSchema,
    table: relationNameSchema,
    /**
     * The partition key of a table sharded with postgres_fdw: a column that is a function of the unit, so
     * that a unit's rows live on one shard. Statements then group by it first, and each shard aggregates
     * its own rows (docs/sources.md).
     */
    shardKey: identifierSchema.optional(),
    ...sourceCommon,
  }),
  z.strictObject({ kind: z.literal('parquet'), path: parquetPathSchema, ...sourceCommon }),
])

export type SourceSpec = z.infer<typeof sourceSpecSchema>

/**
 * A public reference table (issue 21): nothing in it is secret and it has no
 * privacy unit, for example a district -> region table or industry codes'
 * names. It is keyed by `key`, one row per key (ingest refuses a repeat),
 * and holds at most PUBLIC_TABLE_MAX_ROWS rows. Queries join it on its key
 * and group and filter by its columns without budget (docs/datasets.md).
 * Stored, its key stands where a private dataset's unit stands, one row each:
 * `privacyUnit` is the key and `maxRowsPerUnit` 1, so nothing downstream
 * needs a second shape.
 */
export const PUBLIC_TABLE_MAX_ROWS = 100_000

function publicTableDefaults(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input
  const spec = input as Record<string, unknown>
  if (spec.public !== true || typeof spec.key !== 'string') return input
  return { privacyUnit: spec.key, maxRowsPerUnit: 1, ...spec }
}

const datasetObjectSchema = z
  .strictObject({
    id: identifierSchema,
    title: z.string().min(1).max(200),
    description: z.string().max(5000).optional(),
    classification: z.enum(CLASSIFICATIONS),
    /** The owner principal's name (role owner) when one holds an active key: registration binds it (docs/market.md). */
    owner: z.string().min(1).max(200).optional(),
    privacyUnit: identifierSchema,
    /**
     * The kind of unit the privacy unit is, shared by datasets whose units are
     * the same people, households or firms (for example "household"): two
     * datasets of one unit space can be joined on their units (docs/datasets.md).
     */
    unitSpace: identifierSchema.optional(),
    maxRowsPerUnit: z.number().int().min(1).max(1000),
    /**
     * Partition selection: the most keys of a selected GROUP BY column one
     * unit's rows may count in (each unit keeps its first ones in row order);
     * 1 when not given. The selection's sensitivity.
     */
    maxGroupsContributed: z.number().int().min(1).max(100).optional(),
    columns: z.array(columnSpecSchema).min(1).max(256),
    /** Rows stay in the owner's database or files; versions are registered snapshots (docs/sources.md). */
    source: sourceSpecSchema.optional(),
    /** A public reference table: no privacy unit, nothing secret, joined on `key` without budget. */
    public: z.boolean().optional(),
    /** A public table's key column: one row per value. */
    key: identifierSchema.optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.public === true) publicTableIssues(spec, ctx)
    else if (spec.key !== undefined)
      ctx.addIssue({ code: 'custom', path: ['key'], message: '"key" applies only to public tables ("public": true)' })
    const seen = new Set<string>()
    spec.columns.forEach((col, i) => {
      const at = (field: string) => ['columns', i, field]
      if (seen.has(col.name)) {
        ctx.addIssue({ code: 'custom', path: at('name'), message: `column name "${col.name}" is used twice` })
      }
      seen.add(col.name)
      const numeric = col.type === 'integer' || col.type === 'number'
      if (numeric && col.protection !== 'public') {
        if (col.lower === undefined || col.upper === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: at(col.lower === undefined ? 'lower' : 'upper'),
            message: `a ${col.protection} ${col.type} column needs finite "lower" and "upper" bounds`,
          })
        }
      }
      if (col.lower !== undefined && col.upper !== undefined && !(col.lower < col.upper)) {
        ctx.addIssue({ code: 'custom', path: at('upper'), message: '"upper" must be greater than "lower"' })
      }
      const temporal = col.type === 'date' || col.type === 'timestamp'
      if (temporal) temporalIssues(col, at, spec.source !== undefined, ctx)
      if (!numeric && !temporal && (col.lower !== undefined || col.upper !== undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: at('lower'),
          message: `bounds apply only to integer, number, date and timestamp columns, not ${col.type}`,
        })
      }
      if (col.type === 'integer') {
        for (const f of ['lower', 'upper'] as const) {
          const v = col[f]
          if (v !== undefined && !Number.isSafeInteger(v)) {
            ctx.addIssue({ code: 'custom', path: at(f), message: `an integer column's "${f}" must be a safe integer` })
          }
        }
      }
      if (col.categories !== undefined) {
        if (col.type !== 'category') {
          ctx.addIssue({
            code: 'custom',
            path: at('categories'),
            message: `"categories" applies only to category columns, not ${col.type}`,
          })
        } else if (new Set(col.categories).size !== col.categories.length) {
          ctx.addIssue({ code: 'custom', path: at('categories'), message: 'categories must be distinct' })
        }
      }
      if (
        col.maxKeys !== undefined &&
        !(col.type === 'category' && col.categories === undefined && col.protection === 'public')
      ) {
        ctx.addIssue({
          code: 'custom',
          path: at('maxKeys'),
          message: '"maxKeys" applies only to public category columns without declared categories',
        })
      }
      if (
        col.references !== undefined &&
        (col.type !== 'id' || col.protection !== 'public' || col.nullable === true || col.name === spec.privacyUnit)
      ) {
        ctx.addIssue({
          code: 'custom',
          path: at('references'),
          message:
            '"references" applies to a public id column that is never empty and is not the privacy unit: the unit of another dataset each unit of this one belongs to',
        })
      }
      if (col.protection === 'he' && col.type !== 'integer' && col.type !== 'number') {
        ctx.addIssue({
          code: 'custom',
          path: at('protection'),
          message: `${col.type} columns cannot be he; only integer and number columns can be encrypted`,
        })
      }
      if (col.type === 'id' && col.protection !== 'public' && col.name !== spec.privacyUnit) {
        ctx.addIssue({
          code: 'custom',
          path: at('protection'),
          message: 'id columns are never released; declare them public (they can only be counted per unit)',
        })
      }
      if (col.protection === 'he' && spec.source !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: at('protection'),
          message:
            "he columns are not available on sourced datasets: their rows stay in the owner's database, unencrypted, and veilbox cannot hold their ciphertexts; declare the column dp, or upload the dataset with the column encrypted by its custodian",
        })
      }
      if (col.scale !== undefined && col.protection !== 'he') {
        ctx.addIssue({ code: 'custom', path: at('scale'), message: '"scale" applies only to he columns' })
      }
    })
    const order = spec.source?.rowOrder ?? []
    if (new Set(order).size !== order.length)
      ctx.addIssue({ code: 'custom', path: ['source', 'rowOrder'], message: 'rowOrder names a column twice' })
    const unit = spec.columns.find((c) => c.name === spec.privacyUnit)
    if (!unit) {
      ctx.addIssue({
        code: 'custom',
        path: ['privacyUnit'],
        message: `privacy unit column "${spec.privacyUnit}" is not among the columns`,
      })
    } else if (unit.type !== 'id' && spec.public !== true) {
      ctx.addIssue({
        code: 'custom',
        path: ['privacyUnit'],
        message: `privacy unit column "${spec.privacyUnit}" must be of type id, not ${unit.type}`,
      })
    } else if (unit.nullable) {
      ctx.addIssue({ code: 'custom', path: ['privacyUnit'], message: 'the privacy unit column cannot be nullable' })
    }
  })

export const datasetSpecSchema = z.preprocess(publicTableDefaults, datasetObjectSchema)

export type DatasetSpec = z.infer<typeof datasetObjectSchema>

/**
 * A date or timestamp column declares both bounds (its calendar buckets are
 * every period between them), and is not served by sourced datasets yet:
 * their statements would need the buckets compiled per SQL dialect.
 */
function temporalIssues(
  col: ColumnSpec,
  at: (field: string) => (string | number)[],
  sourced: boolean,
  ctx: z.RefinementCtx,
): void {
  const form = col.type === 'date' ? 'YYYY-MM-DD' : temporalForm('timestamp')
  for (const f of ['lower', 'upper'] as const) {
    const v = col[f]
    if (v === undefined)
      ctx.addIssue({
        code: 'custom',
        path: at(f),
        message: `a ${col.type} column declares "lower" and "upper" as ${form}: its calendar buckets are every period between them`,
      })
    else if (!Number.isSafeInteger(v) || (col.type === 'date' && Math.abs(v) > 2_932_896))
      ctx.addIssue({ code: 'custom', path: at(f), message: `"${f}" must be a ${col.type} written ${form}` })
  }
  if (sourced)
    ctx.addIssue({
      code: 'custom',
      path: at('type'),
      message: `${col.type} columns are not available on sourced datasets yet (their calendar buckets are not compiled for PostgreSQL or DuckDB); declare the column on an uploaded dataset, or as an integer of days`,
    })
}

/** What a public table may not have: a unit of its own, secret columns, a source, settings of private data. */
function publicTableIssues(spec: z.infer<typeof datasetObjectSchema>, ctx: z.RefinementCtx): void {
  const key = spec.columns.find((c) => c.name === spec.key)
  if (spec.key === undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['key'],
      message: 'a public table names its key column ("key"): one row per value',
    })
  else if (key === undefined)
    ctx.addIssue({ code: 'custom', path: ['key'], message: `key column "${spec.key}" is not among the columns` })
  else if (!['category', 'id', 'integer'].includes(key.type) || key.nullable)
    ctx.addIssue({
      code: 'custom',
      path: ['key'],
      message: `a public table's key is a category, id or integer column that is never empty, not ${key.nullable ? 'a nullable one' : key.type}`,
    })
  if (spec.privacyUnit !== spec.key)
    ctx.addIssue({
      code: 'custom',
      path: ['privacyUnit'],
      message: 'a public table has no privacy unit: leave "privacyUnit" out',
    })
  if (spec.maxRowsPerUnit !== 1)
    ctx.addIssue({
      code: 'custom',
      path: ['maxRowsPerUnit'],
      message: 'a public table has one row per key: leave "maxRowsPerUnit" out',
    })
  for (const field of ['unitSpace', 'maxGroupsContributed', 'source'] as const)
    if (spec[field] !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: [field],
        message: `"${field}" does not apply to a public table${field === 'source' ? ': public tables are uploaded to veilbox' : ''}`,
      })
  if (spec.classification !== 'public')
    ctx.addIssue({ code: 'custom', path: ['classification'], message: 'a public table is classified "public"' })
  spec.columns.forEach((c, i) => {
    if (c.protection !== 'public')
      ctx.addIssue({
        code: 'custom',
        path: ['columns', i, 'protection'],
        message: `every column of a public table is public; ${c.name} is ${c.protection}`,
      })
  })
}

/**
 * The bounds whose grid, sensitivity and noise arithmetic stay exact and
 * finite for every aggregate and both mechanisms, at any epsilon a request
 * may carry (1e-6 to 1e6) and maxRowsPerUnit up to 1000: the larger of
 * |lower| and |upper| lies in [1e-9, 1e15]. Outside it, a sum of squares'
 * variance overflows a double (1e154 and up), a release can be Infinity
 * (near 1.7e308), and the quantum of the exact kernels underflows (1e-299).
 * test/engine/properties/bounds.test.ts runs every aggregate at both ends.
 */
export const BOUND_MIN_MAGNITUDE = 1e-9
export const BOUND_MAX_MAGNITUDE = 1e15

/** Why a column's bounds cannot be served, or null when they can (or it has none). */
export function boundsProblem(col: ColumnSpec): string | null {
  if (col.lower === undefined || col.upper === undefined) return null
  const m = Math.max(Math.abs(col.lower), Math.abs(col.upper))
  if (m >= BOUND_MIN_MAGNITUDE && m <= BOUND_MAX_MAGNITUDE) return null
  return `the larger of |lower| and |upper| must lie between ${BOUND_MIN_MAGNITUDE} and ${BOUND_MAX_MAGNITUDE} (the range in which every aggregate's grid, sensitivity and noise are exact and finite), got ${m}; rescale the column (for example to thousands or to millionths) and declare bounds in range`
}

/**
 * What a new dataset is registered with: the stored spec's rules, and bounds
 * the engine can serve. (Specs stored before the bounds rule still load;
 * the planner refuses aggregates over their out-of-range columns.)
 */
export const registrationSpecSchema = datasetSpecSchema.superRefine((spec, ctx) => {
  spec.columns.forEach((col, i) => {
    const problem = boundsProblem(col)
    if (problem !== null)
      ctx.addIssue({
        code: 'custom',
        path: ['columns', i, Math.abs(col.upper!) >= Math.abs(col.lower!) ? 'upper' : 'lower'],
        message: problem,
      })
  })
})

/** A column can be grouped on when its domain is declared and public. */
export function hasDeclaredDomain(col: ColumnSpec): boolean {
  return (
    col.protection === 'public' && ((col.type === 'category' && col.categories !== undefined) || col.type === 'boolean')
  )
}

/** The declared domain of a groupable column, in declared order. */
export function declaredDomain(col: ColumnSpec): readonly (string | boolean)[] {
  if (col.type === 'boolean') return [false, true]
  if (col.type === 'category' && col.categories) return col.categories
  throw new Error(`column ${col.name} has no declared domain`)
}
