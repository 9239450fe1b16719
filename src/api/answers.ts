import type { Answer, QueryRequest, Selects } from '../engine/queries.js'
import { moneyText } from '../engine/market/money.js'
import { DEFAULT_CONFIDENCE } from '../engine/queries.js'

/** Byte-identical repeats remembered for the fast path. */
const REPEAT_CACHE_SIZE = 10_000
/** Stored answers kept serialized for repeats. */
const STORED_CACHE_SIZE = 2_000

/**
 * The query routes' memory: which stored answer a request sent before
 * selects (so a repeat skips parsing and planning), and each stored answer's
 * JSON as a repeat sends it (cached: true, nothing charged), all but the
 * grant's remaining budget, which is spliced in per response.
 */
export class AnswerCache {
  private readonly repeats = new Map<string, Selects>()
  private readonly stored = new Map<string, string>()

  /** What a request sent before selected, if it is remembered. */
  selectsFor(req: QueryRequest): Selects | undefined {
    return this.repeats.get(requestKey(req))
  }

  remember(req: QueryRequest, selects: Selects | null): void {
    if (selects === null) return
    const key = requestKey(req)
    if (this.repeats.size >= REPEAT_CACHE_SIZE && !this.repeats.has(key))
      this.repeats.delete(this.repeats.keys().next().value!)
    this.repeats.set(key, selects)
  }

  /** The answer's JSON: a fresh one as committed, a stored one from its stored form (`load` reads it on a miss). */
  async json(answer: Answer, load: (queryId: string) => Promise<string>): Promise<string> {
    if (answer.kind === 'fresh') return answer.json
    const id = answer.ref.query_id
    let prefix = this.stored.get(id)
    if (prefix === undefined) {
      const original: StoredAnswerJson = JSON.parse(await load(id))
      const { budget: _budget, ...rest } = {
        ...original,
        privacy: { ...original.privacy, charged: { grant: ZERO, dataset: ZERO } },
        // A repeat is free in money too; an answer from before the data market has no price.
        ...(original.price === undefined
          ? {}
          : { price: { ...original.price, amount: 0, text: freeText(original.price) } }),
        cached: true,
      }
      prefix = JSON.stringify(rest).slice(0, -1)
      if (this.stored.size >= STORED_CACHE_SIZE) this.stored.delete(this.stored.keys().next().value!)
      this.stored.set(id, prefix)
    }
    return `${prefix},"budget":${JSON.stringify({ remaining: answer.remaining })}}`
  }
}

const ZERO = Object.freeze({ epsilon: 0, delta: 0 })

function freeText(price: { currency?: unknown }): string {
  return moneyText(0n, String(price.currency ?? ''))
}

/** The parts of a stored answer's JSON a repeat changes; the rest is sent as it was. */
interface StoredAnswerJson {
  readonly privacy: Record<string, unknown>
  readonly budget?: unknown
  readonly price?: { readonly currency?: unknown; readonly [field: string]: unknown }
  readonly [field: string]: unknown
}

/**
 * Every field that selects the answer, in a fixed order. Not canonical: a
 * JSON query with its keys in another order is a different key, which only
 * costs a miss (the full path then finds the stored answer by its cache key).
 */
function requestKey(req: QueryRequest): string {
  return JSON.stringify([
    req.grant,
    req.sql ?? null,
    req.query ?? null,
    req.epsilon,
    req.delta ?? null,
    req.mechanism ?? 'laplace',
    req.confidence ?? DEFAULT_CONFIDENCE,
    req.weights ?? null,
    req.version ?? null,
  ])
}
