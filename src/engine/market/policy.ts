import { z } from 'zod'
import { VeilboxError } from '../../errors/index.js'
import { identifierSchema, LEVELS, PROTECTIONS, type DatasetSpec, type Level } from '../../schema.js'
import { getSetting, putSetting } from '../../store/market.js'
import { ParsedByText } from '../../store/parsed.js'
import type { AuditActor } from '../../store/audit.js'
import type { Sql } from '../../store/sql.js'

/**
 * The market policy (docs/market.md): scenario categories, what each level
 * of classification allows, the negative list, the platform fee, how an
 * answer's income is shared, how long an application waits, the currency.
 * One JSON setting, checked whole on every write, read on every use.
 */

export const scenarioSchema = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,39}$/,
    'a scenario category is 1-40 lower-case letters, digits and -, starting with a letter',
  )

const levelRuleSchema = z.strictObject({
  /** The protections a column of this level may be used under. */
  protections: z.array(z.enum(PROTECTIONS)).min(1).max(3),
  /** The scenario categories that may use it; null: all. */
  scenarios: z.array(scenarioSchema).max(64).nullable(),
  /** The largest epsilon one answer may spend on a dataset of this level; null: no limit. */
  maxEpsilonPerAnswer: z.number().finite().gt(0).max(1_000_000).nullable(),
})

export type LevelRule = z.infer<typeof levelRuleSchema>

const negativeRuleSchema = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'a rule id is 1-63 lower-case letters, digits, ., _ and -'),
    dataset: identifierSchema,
    column: identifierSchema.optional(),
    scenario: scenarioSchema.optional(),
    reason: z.string().trim().min(3).max(500),
  })
  .refine((r) => r.column !== undefined || r.scenario !== undefined, {
    message: 'a negative-list rule names a column, a scenario category, or both',
  })

export type NegativeRule = z.infer<typeof negativeRuleSchema>

export const policySchema = z
  .strictObject({
    currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code, such as CNY'),
    scenarios: z.array(scenarioSchema).min(1).max(64),
    levels: z.strictObject({ L1: levelRuleSchema, L2: levelRuleSchema, L3: levelRuleSchema, L4: levelRuleSchema }),
    negativeList: z.array(negativeRuleSchema).max(1000),
    /** The platform's fee, in basis points of each answer's price. */
    feeBps: z.number().int().min(0).max(10_000),
    shareRule: z.enum(['epsilon', 'equal']),
    pendingDays: z.number().int().min(1).max(365),
  })
  .superRefine((p, ctx) => {
    const known = new Set(p.scenarios)
    if (known.size !== p.scenarios.length)
      ctx.addIssue({ code: 'custom', path: ['scenarios'], message: 'a scenario category is listed twice' })
    for (const level of LEVELS) {
      for (const s of p.levels[level].scenarios ?? []) {
        if (!known.has(s))
          ctx.addIssue({
            code: 'custom',
            path: ['levels', level, 'scenarios'],
            message: `"${s}" is not one of the scenario categories (${p.scenarios.join(', ')})`,
          })
      }
    }
    const ids = new Set<string>()
    p.negativeList.forEach((r, i) => {
      if (ids.has(r.id))
        ctx.addIssue({ code: 'custom', path: ['negativeList', i, 'id'], message: `rule id "${r.id}" is used twice` })
      ids.add(r.id)
      if (r.scenario !== undefined && !known.has(r.scenario))
        ctx.addIssue({
          code: 'custom',
          path: ['negativeList', i, 'scenario'],
          message: `"${r.scenario}" is not one of the scenario categories`,
        })
    })
  })

export type MarketPolicy = z.infer<typeof policySchema>

const ALL_PROTECTIONS = [...PROTECTIONS]

export const DEFAULT_POLICY: MarketPolicy = Object.freeze({
  currency: 'CNY',
  scenarios: ['public-welfare', 'research', 'industry'],
  levels: {
    L1: { protections: ALL_PROTECTIONS, scenarios: null, maxEpsilonPerAnswer: null },
    L2: { protections: ALL_PROTECTIONS, scenarios: null, maxEpsilonPerAnswer: null },
    L3: { protections: ['dp', 'he'], scenarios: null, maxEpsilonPerAnswer: 1 },
    L4: { protections: ['he'], scenarios: ['public-welfare', 'research'], maxEpsilonPerAnswer: 1 },
  },
  negativeList: [],
  feeBps: 1000,
  shareRule: 'epsilon',
  pendingDays: 30,
}) as MarketPolicy

const POLICY_SETTING = 'market.policy'
const stored = new ParsedByText<MarketPolicy>((text) => policySchema.parse(JSON.parse(text)))

/** The policy in force: the stored one, or the default until an operator sets one. */
export async function readPolicy(db: Sql): Promise<MarketPolicy> {
  const s = await getSetting(db, POLICY_SETTING)
  return s === null ? DEFAULT_POLICY : stored.get(s.value)
}

/** Replaces the policy whole (checked by the route's schema), with its audit record. */
export async function writePolicy(db: Sql, policy: MarketPolicy, actor: AuditActor): Promise<MarketPolicy> {
  const checked = policySchema.parse(policy)
  await putSetting(db, POLICY_SETTING, JSON.stringify(checked), actor, {
    action: 'market.policy.set',
    detail: { policy: checked },
  })
  return checked
}

// ---------------------------------------------------------------- levels

/** A column's level: the operator's setting, else its spec's, else L2. */
export function columnLevel(spec: DatasetSpec, levels: Readonly<Record<string, Level>>, column: string): Level {
  return levels[column] ?? spec.columns.find((c) => c.name === column)?.level ?? 'L2'
}

/** Every column's level, in spec order. */
export function levelsOf(spec: DatasetSpec, levels: Readonly<Record<string, Level>>): Record<string, Level> {
  return Object.fromEntries(spec.columns.map((c) => [c.name, columnLevel(spec, levels, c.name)]))
}

/** The highest level of a dataset's columns. */
export function datasetLevel(spec: DatasetSpec, levels: Readonly<Record<string, Level>>): Level {
  let top = 0
  for (const c of spec.columns) top = Math.max(top, LEVELS.indexOf(columnLevel(spec, levels, c.name)))
  return LEVELS[top]!
}

/** A use of one dataset to check: its columns (null: all of them) for a scenario category. */
export interface UseOfDataset {
  readonly spec: DatasetSpec
  readonly levels: Readonly<Record<string, Level>>
  readonly columns: readonly string[] | null
  readonly scenario: string
}

/**
 * The negative list and the level policy for one use, or the refusal naming
 * the rule it breaks. Checked at submission, at a direct grant, and for each
 * approval's narrowed result.
 */
export function checkUse(policy: MarketPolicy, use: UseOfDataset): void {
  const { spec, scenario } = use
  if (!policy.scenarios.includes(scenario)) {
    throw new VeilboxError(
      'VEILBOX_ERR_MARKET_BAD_APPLICATION',
      `"${scenario}" is not a scenario category of this platform (it has: ${policy.scenarios.join(', ')})`,
      { field: 'scenario', scenario, scenarios: policy.scenarios },
    )
  }
  const columns = use.columns ?? spec.columns.map((c) => c.name)
  for (const rule of policy.negativeList) {
    if (rule.dataset !== spec.id) continue
    const columnHit = rule.column === undefined || columns.includes(rule.column)
    const scenarioHit = rule.scenario === undefined || rule.scenario === scenario
    if (columnHit && scenarioHit) {
      const what =
        rule.column !== undefined && rule.scenario !== undefined
          ? `column ${spec.id}.${rule.column} for ${rule.scenario} use`
          : rule.column !== undefined
            ? `column ${spec.id}.${rule.column}`
            : `dataset ${spec.id} for ${rule.scenario} use`
      throw new VeilboxError(
        'VEILBOX_ERR_MARKET_NEGATIVE_LIST',
        `negative-list rule "${rule.id}" forbids granting ${what}: ${rule.reason}${use.columns === null && rule.column !== undefined ? ' (the request asks for every column; list the columns it needs)' : ''}`,
        { rule: rule.id, reason: rule.reason, dataset: spec.id, column: rule.column, scenario: rule.scenario },
      )
    }
  }
  for (const name of columns) {
    const col = spec.columns.find((c) => c.name === name)
    if (col === undefined) continue
    const level = columnLevel(spec, use.levels, name)
    const rule = policy.levels[level]
    if (!rule.protections.includes(col.protection)) {
      throw new VeilboxError(
        'VEILBOX_ERR_MARKET_LEVEL_POLICY',
        `level policy ${level}.protections: ${level} columns only as ${rule.protections.join(' or ')}, but column ${spec.id}.${name} is ${col.protection}; leave it out of the request, or ask the operator to encrypt or regrade it`,
        { rule: `${level}.protections`, level, dataset: spec.id, column: name, protection: col.protection },
      )
    }
    if (rule.scenarios !== null && !rule.scenarios.includes(scenario)) {
      throw new VeilboxError(
        'VEILBOX_ERR_MARKET_LEVEL_POLICY',
        `level policy ${level}.scenarios: ${level} data only for ${rule.scenarios.join(', ')} use, but column ${spec.id}.${name} is requested for ${scenario}`,
        { rule: `${level}.scenarios`, level, dataset: spec.id, column: name, scenario },
      )
    }
  }
}

/** The refusal for a query whose epsilon passes its dataset's level limit; nothing runs, nothing is charged. */
export function checkEpsilonPerAnswer(
  policy: MarketPolicy,
  spec: DatasetSpec,
  levels: Readonly<Record<string, Level>>,
  epsilon: number,
): void {
  const level = datasetLevel(spec, levels)
  const max = policy.levels[level].maxEpsilonPerAnswer
  if (max !== null && epsilon > max) {
    throw new VeilboxError(
      'VEILBOX_ERR_MARKET_EPSILON_PER_ANSWER',
      `dataset ${spec.id} is ${level}: one answer may spend at most epsilon ${max} on it (level policy ${level}.maxEpsilonPerAnswer), and this query asks for ${epsilon}; lower epsilon`,
      { rule: `${level}.maxEpsilonPerAnswer`, level, max, epsilon, dataset: spec.id },
    )
  }
}
