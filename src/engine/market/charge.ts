import { VeilboxError } from '../../errors/index.js'
import type { DatasetRecord } from '../../store/datasets.js'
import type { GrantRecord } from '../../store/grants.js'
import type { MoneyLine } from '../../store/market.js'
import { priceFor, type PriceList } from './dataset.js'
import { feeOf, moneyNumber, moneyText, priceOf, splitByWeights } from './money.js'
import type { MarketPolicy } from './policy.js'

/**
 * What a fresh answer costs in money and where the money goes: fixed when
 * the query is prepared (the price list the preview showed), charged in the
 * answer's transaction beside its privacy charge (pipeline/commit.ts).
 */
export interface QueryMoney {
  readonly scenario: string
  readonly currency: string
  readonly price: PriceList
  readonly dataset: string
  /** The dataset's owner principal; null: the platform's own. */
  readonly ownerId: string | null
  readonly feeBps: number
  readonly shareRule: 'epsilon' | 'equal'
}

export function moneyFor(policy: MarketPolicy, record: DatasetRecord, grant: GrantRecord): QueryMoney {
  return {
    scenario: grant.scenario,
    currency: policy.currency,
    price: priceFor(record, grant.scenario),
    dataset: record.spec.id,
    ownerId: record.owner?.id ?? null,
    feeBps: policy.feeBps,
    shareRule: policy.shareRule,
  }
}

/** The answer's price: its dataset's price list applied to the epsilon charged to the dataset (micro-units). */
export function answerPrice(m: QueryMoney, datasetEpsilonMicro: bigint): bigint {
  return priceOf(m.price, datasetEpsilonMicro)
}

export interface PriceView {
  readonly amount: number
  readonly currency: string
  readonly text: string
  readonly scenario: string
  readonly perEpsilon: number
  readonly perAnswer: number
}

export function priceView(m: QueryMoney, amount: bigint): PriceView {
  return {
    amount: moneyNumber(amount),
    currency: m.currency,
    text: moneyText(amount, m.currency),
    scenario: m.scenario,
    perEpsilon: m.price.perEpsilon,
    perAnswer: m.price.perAnswer,
  }
}

/** Whether the grant's cap (if any) can take `amount` more, as read now (the store's guard decides at the commit). */
export function fitsCap(grant: GrantRecord, amount: bigint): boolean {
  return grant.moneyCap === null || grant.moneySpent + amount <= grant.moneyCap
}

export function spendingCapError(grant: GrantRecord, amount: bigint, currency: string): VeilboxError {
  const cap = grant.moneyCap ?? 0n
  return new VeilboxError(
    'VEILBOX_ERR_MARKET_SPENDING_CAP',
    `this answer costs ${moneyText(amount, currency)}, and grant ${grant.id} has ${moneyText(cap - grant.moneySpent, currency)} of its ${moneyText(cap, currency)} cap left; nothing was computed or charged. Ask for less epsilon, or apply for a larger cap`,
    {
      grant: grant.id,
      price: moneyNumber(amount),
      spent: moneyNumber(grant.moneySpent),
      cap: moneyNumber(cap),
      currency,
    },
  )
}

/** One dataset's part of an answer: its epsilon charge and price. */
export interface PricedDataset {
  readonly dataset: string
  readonly ownerId: string | null
  readonly epsilonMicro: bigint
  readonly amount: bigint
}

/**
 * The money ledger's lines for one fresh answer: a price line per dataset,
 * the platform's fee, and each dataset's owner's share of the rest, split by
 * the share rule (epsilon charged, or equal) with largest remainders. Lines
 * of zero fee or share are left out; the price lines are always written, so
 * that statements list every answer.
 */
export function answerLines(input: {
  readonly queryId: string
  readonly time: string
  readonly grant: GrantRecord
  readonly analyst: { readonly id: string; readonly name: string }
  readonly currency: string
  readonly feeBps: number
  readonly shareRule: 'epsilon' | 'equal'
  readonly datasets: readonly PricedDataset[]
}): MoneyLine[] {
  const { grant } = input
  const common = {
    queryId: input.queryId,
    time: input.time,
    grant: grant.id,
    analystId: input.analyst.id,
    analyst: input.analyst.name,
    organization: grant.organization,
    scenario: grant.scenario,
    currency: input.currency,
  }
  const lines: MoneyLine[] = []
  let line = 0
  let total = 0n
  for (const d of input.datasets) {
    total += d.amount
    lines.push({
      ...common,
      line: line++,
      kind: 'price',
      dataset: d.dataset,
      ownerId: d.ownerId,
      epsilonMicro: d.epsilonMicro,
      amount: d.amount,
    })
  }
  const fee = feeOf(total, input.feeBps)
  if (fee > 0n)
    lines.push({ ...common, line: line++, kind: 'fee', dataset: null, ownerId: null, epsilonMicro: 0n, amount: fee })
  const weights = input.datasets.map((d) => (input.shareRule === 'equal' ? 1n : d.epsilonMicro))
  const shares = splitByWeights(total - fee, weights)
  input.datasets.forEach((d, i) => {
    const amount = shares[i]!
    if (amount > 0n)
      lines.push({
        ...common,
        line: line++,
        kind: 'share',
        dataset: d.dataset,
        ownerId: d.ownerId,
        epsilonMicro: d.epsilonMicro,
        amount,
      })
  })
  return lines
}
