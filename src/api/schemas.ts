import { z } from 'zod'
import { CLASSIFICATIONS, COLUMN_TYPES, LEVELS, PROTECTIONS } from '../schema.js'
import { ROLES } from '../store/keys.js'

/** Response and shared schemas of the HTTP API (request schemas live beside their routes). */

export const problemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().regex(/^VEILBOX_ERR_/),
    instance: z.string(),
  })
  .meta({ id: 'Problem', description: 'application/problem+json error body; `code` is stable (docs/errors.md).' })

/** Standard error responses for a route, by status. */
export function problems(...statuses: number[]): Record<number, typeof problemSchema> {
  return Object.fromEntries(statuses.map((s) => [s, problemSchema]))
}

export const principalNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/, 'must be 1-64 letters, digits, _ . @ -, starting with a letter or digit')

export const roleSchema = z.enum(ROLES)

export const keyInfoSchema = z.object({
  keyId: z.string(),
  principalId: z.string(),
  name: z.string(),
  role: roleSchema,
  createdAt: z.string(),
  createdBy: z.string(),
})

export const versionViewSchema = z.object({
  version: z.number().int(),
  commitment: z
    .string()
    .describe(
      "salted commitment to the version's content (HMAC-SHA256 of its sha256 under a secret per-version salt): names exactly one version, reveals nothing of its rows; answers and receipts carry it",
    ),
  sha256: z
    .string()
    .optional()
    .describe('operators only: the content hash of the rows (of a snapshot: of its registration)'),
  createdAt: z.string(),
  rows: z.number().int().optional().describe('operators only'),
  snapshot: z
    .record(z.string(), z.unknown())
    .optional()
    .describe(
      'operators only, sourced datasets: where the snapshot reads its rows, and when a verification found it changed',
    ),
  encryptedBy: z
    .enum(['owner', 'service'])
    .optional()
    .describe(
      'datasets with he columns: who encrypted them, the data owner before upload (veilbox encrypt) or the service on arrival (plaintext upload, the weaker path)',
    ),
})

export const columnViewSchema = z.object({
  name: z.string(),
  type: z.enum(COLUMN_TYPES),
  protection: z.enum(PROTECTIONS),
  description: z.string().optional(),
  nullable: z.boolean(),
  lower: z
    .number()
    .optional()
    .describe(
      'numeric columns: the declared bound; date columns: its day number since 1970-01-01; timestamp columns: its milliseconds since 1970-01-01T00:00:00Z (declared as ISO text, docs/datasets.md)',
    ),
  upper: z.number().optional().describe('as lower'),
  categories: z.array(z.string()).optional(),
  maxKeys: z
    .number()
    .int()
    .optional()
    .describe('a public category without declared categories: its keys are found by DP partition selection'),
  scale: z.number().int().optional(),
  references: z
    .object({ dataset: z.string(), column: z.string(), maxRows: z.number().int().optional() })
    .optional()
    .describe("a foreign key: the other dataset's unit each unit of this one belongs to; queries join on it"),
  level: z
    .enum(LEVELS)
    .describe('classification and grading: L1 public, L2 internal, L3 sensitive, L4 core (docs/market.md)'),
  aggregates: z
    .array(z.string())
    .describe('the aggregates a query may apply to the column; he columns never take quantiles'),
})

export const datasetViewSchema = z
  .object({
    id: z.string(),
    title: z.string(),
    description: z.string().optional(),
    classification: z.enum(CLASSIFICATIONS),
    owner: z
      .object({ id: z.string(), name: z.string() })
      .nullable()
      .describe("the owner principal (role owner) that holds the dataset; null: the platform's own (docs/market.md)"),
    ownerLabel: z.string().optional().describe("the spec's owner text, as registered"),
    level: z.enum(LEVELS).describe("the highest of its columns' levels"),
    prices: z
      .record(z.string(), z.object({ perEpsilon: z.number().int(), perAnswer: z.number().int() }))
      .describe('price list per scenario category, in minor units of the currency; a category not listed is free'),
    privacyUnit: z.string(),
    maxRowsPerUnit: z.number().int(),
    unitSpace: z
      .string()
      .optional()
      .describe('the kind of unit the privacy unit is, shared by datasets of the same units'),
    maxGroupsContributed: z
      .number()
      .int()
      .optional()
      .describe('partition selection: the most keys of a selected GROUP BY column one unit counts in'),
    public: z
      .literal(true)
      .optional()
      .describe(
        'a public reference table: nothing secret, no privacy unit (privacyUnit is its key, one row each); joined on its key without budget',
      ),
    key: z.string().optional().describe("a public table's key column"),
    source: z
      .record(z.string(), z.unknown())
      .optional()
      .describe(
        "sourced datasets: the rows stay in the owner's PostgreSQL or Parquet files (docs/sources.md); analysts see the kind, operators the whole source",
      ),
    columns: z.array(columnViewSchema),
    versions: z.array(versionViewSchema),
    createdAt: z.string(),
    listed: z
      .boolean()
      .describe(
        'shown to every analyst; otherwise only to analysts holding a grant on it (PUT /v1/datasets/{id}/listing)',
      ),
    he: z
      .object({ keys: z.boolean(), profileId: z.string().optional() })
      .optional()
      .describe(
        'datasets with he columns: whether the custodian has made their HE keys (GET /v1/datasets/{id}/he for the parameters)',
      ),
  })
  .meta({ id: 'Dataset' })

const amount = z.object({ total: z.number(), spent: z.number(), remaining: z.number() })

/** A ledger as the API shows it: epsilon and delta (total, spent, remaining), and the zCDP rho spent by Gaussian answers. */
export const ledgerViewSchema = z.object({
  epsilon: amount,
  delta: amount,
  rho: z.object({ spent: z.number() }),
})
