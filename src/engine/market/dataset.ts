import { z } from 'zod'
import { VeilboxError } from '../../errors/index.js'
import { identifierSchema, LEVELS, type Level } from '../../schema.js'
import type { AuditActor } from '../../store/audit.js'
import { getDataset, type DatasetRecord } from '../../store/datasets.js'
import { setDatasetMarket } from '../../store/market.js'
import { ParsedByText } from '../../store/parsed.js'
import type { Sql } from '../../store/sql.js'
import { levelsOf, scenarioSchema, type MarketPolicy } from './policy.js'

/**
 * A dataset's market settings: the operator's column levels (over the
 * spec's) and its price list per scenario category, in integer minor units
 * of the platform's currency (fen for CNY).
 */

/**
 * The most one price field may be: 10^9 minor units (10 million yuan). With
 * any charge a ledger can hold (epsilon up to 10^6), one answer's price stays
 * below 2^53, so every amount is an exact JSON number.
 */
export const MAX_PRICE = 1_000_000_000

/** The largest money cap: 10^15 minor units, still an exact JSON number. */
export const MAX_MONEY_CAP = 1_000_000_000_000_000

export const priceSchema = z.strictObject({
  /** Minor units per unit of epsilon charged to the dataset. */
  perEpsilon: z.number().int().min(0).max(MAX_PRICE),
  /** Minor units per fresh answer. */
  perAnswer: z.number().int().min(0).max(MAX_PRICE),
})

export type PriceList = z.infer<typeof priceSchema>

export const marketSettingsSchema = z.strictObject({
  levels: z.record(identifierSchema, z.enum(LEVELS)),
  prices: z.record(scenarioSchema, priceSchema),
})

export type MarketSettings = z.infer<typeof marketSettingsSchema>

const EMPTY: MarketSettings = Object.freeze({ levels: {}, prices: {} })
const parsed = new ParsedByText<MarketSettings>((text) => marketSettingsSchema.parse(JSON.parse(text)))

export function settingsOf(record: DatasetRecord): MarketSettings {
  return settingsOfText(record.market)
}

function settingsOfText(text: string | null): MarketSettings {
  return text === null ? EMPTY : parsed.get(text)
}

/** Every column's level, as set now. */
export function recordLevels(record: DatasetRecord): Record<string, Level> {
  return levelsOf(record.spec, settingsOf(record).levels)
}

/** What a scenario category pays for this dataset: its entry, or free. */
export function priceFor(record: DatasetRecord, scenario: string): PriceList {
  return settingsOf(record).prices[scenario] ?? { perEpsilon: 0, perAnswer: 0 }
}

/** Sets some columns' levels (the others keep theirs), with its audit record. */
export async function setLevels(
  db: Sql,
  dataset: string,
  levels: Readonly<Record<string, Level>>,
  actor: AuditActor,
): Promise<void> {
  const record = await getDataset(db, dataset)
  const known = new Set(record.spec.columns.map((c) => c.name))
  for (const name of Object.keys(levels)) {
    if (!known.has(name))
      throw new VeilboxError(
        'VEILBOX_ERR_MARKET_BAD_POLICY',
        `dataset ${dataset} has no column ${name} (it has: ${[...known].join(', ')})`,
        { field: 'levels', column: name },
      )
  }
  const update = (text: string | null): string => {
    const current = settingsOfText(text)
    return JSON.stringify({ ...current, levels: { ...current.levels, ...levels } } satisfies MarketSettings)
  }
  await setDatasetMarket(db, dataset, update, actor, {
    action: 'dataset.levels.set',
    detail: { levels },
  })
}

/** Replaces a dataset's price list, with its audit record; every category must be the policy's. */
export async function setPrices(
  db: Sql,
  dataset: string,
  prices: Readonly<Record<string, PriceList>>,
  policy: MarketPolicy,
  actor: AuditActor,
): Promise<void> {
  await getDataset(db, dataset)
  for (const s of Object.keys(prices)) {
    if (!policy.scenarios.includes(s))
      throw new VeilboxError(
        'VEILBOX_ERR_MARKET_BAD_POLICY',
        `"${s}" is not a scenario category of this platform (it has: ${policy.scenarios.join(', ')})`,
        { field: 'prices', scenario: s },
      )
  }
  const update = (text: string | null): string =>
    JSON.stringify({ ...settingsOfText(text), prices: { ...prices } } satisfies MarketSettings)
  await setDatasetMarket(db, dataset, update, actor, {
    action: 'dataset.prices.set',
    detail: { prices, currency: policy.currency },
  })
}
