import { answerPrice, fitsCap, priceView, spendingCapError } from './market/charge.js'
import { isVeilboxError, VeilboxError } from '../errors/index.js'
import { answerBody, findAnswer, findAnswerAtLatest, getAnswerRow } from '../store/answers.js'
import { appendAudit, type AuditActor } from '../store/audit.js'
import { latestVersionNumber } from '../store/datasets.js'
import type { Store } from '../store/db.js'
import { getGrant } from '../store/grants.js'
import type { Principal } from '../store/keys.js'
import type { SigningKey } from '../store/receipt-keys.js'
import type { AdmissionLimits } from './admission.js'
import type { Executor } from './exec/executor.js'
import type { Custodian } from './he/types.js'
import type { SourceService } from './pushdown/source.js'
import { admit, admitWork, DEFAULT_LIMITS } from './pipeline/admit.js'
import { cachedCatalog, readLedgers, type CatalogSource } from './pipeline/catalog.js'
import { commit, commitDeadline, reread, subjectOf } from './pipeline/commit.js'
import { compute } from './pipeline/compute.js'
import { prepare } from './pipeline/prepare.js'
import { publicComputeError, recordRefusal } from './pipeline/refusals.js'
import { privacyOf, release } from './pipeline/release.js'
import type {
  Admission,
  Answer,
  PreparedQuery,
  Preview,
  QueryRequest,
  ReleasedAnswer,
  Selects,
} from './pipeline/types.js'
import { checkGrantUsable } from './policy/grant.js'
import { chargeView, priceOn, remainingAfter, type Charge } from './policy/pricing.js'
import { datasetPrice } from './pipeline/joined.js'
import { parse, toNumber } from './dp/budget.js'
import { epsilonForTarget, type AccuracyTarget } from './pipeline/accuracy.js'
import { previewBatch, type BatchPreview, type BatchRequest } from './pipeline/batch.js'
import { NO_OBSERVER, type QueryObserver } from './observer.js'
import { dryRun, type DryRunResult, type DummyColumns } from './pipeline/dry-run.js'

export { DEFAULT_LIMITS } from './pipeline/admit.js'
export { publicComputeError } from './pipeline/refusals.js'
export * from './pipeline/types.js'
export type { BatchPreview, BatchRequest, SplitRule } from './pipeline/batch.js'

/**
 * A query's way through the engine, as five steps over plain values
 * (src/engine/pipeline/, walked in docs/architecture.md):
 *
 *   prepare -> admit -> compute (while the noise is drawn) -> release -> commit
 *
 * This class only composes them, holds what they need (store, executor,
 * signer, custodian, limits, clock) and records refusals. Serialization and
 * the repeat caches live at the route (api/routes/queries.ts).
 */

export interface QueryEngineOptions {
  readonly db: Store
  readonly executor: Executor
  readonly signer: SigningKey
  /** Decrypts encrypted aggregates; null or left out when the service has none (HE queries then fail with 503). */
  readonly custodian?: Custodian | null
  /** Sourced datasets' statements (pushdown/source.ts); null or left out when the service reaches no source. */
  readonly sources?: SourceService | null
  /** What one query may cost (admission.ts); default DEFAULT_LIMITS. */
  readonly limits?: AdmissionLimits
  /** The clock (tests inject one). */
  readonly now?: () => Date
  /** Told each release, stored answer, refusal and dataset charge (the API's metrics); default: nobody. */
  readonly observer?: QueryObserver
}

export class QueryEngine {
  private readonly db: Store
  private readonly executor: Executor
  private readonly signer: SigningKey
  private readonly custodian: Custodian | null
  private readonly sources: SourceService | null
  private readonly limits: AdmissionLimits
  private readonly now: () => Date
  private readonly catalogs: CatalogSource
  private readonly observer: QueryObserver

  constructor(options: QueryEngineOptions) {
    this.db = options.db
    this.executor = options.executor
    this.signer = options.signer
    this.custodian = options.custodian ?? null
    this.sources = options.sources ?? null
    this.limits = options.limits ?? DEFAULT_LIMITS
    this.now = options.now ?? (() => new Date())
    this.catalogs = cachedCatalog(this.db, this.now)
    this.observer = options.observer ?? NO_OBSERVER
  }

  /** Nothing of its own to close: releases in flight finish in the store, which closes after the engine. */
  async close(): Promise<void> {}

  /**
   * What a query would charge and how precise it would be; reads no data,
   * spends nothing. With a target (pipeline/accuracy.ts), req.epsilon is the
   * most to spend: the preview is of the smallest epsilon meeting the target
   * (or of that ceiling when none does), and per-answer caps become its
   * refusal rather than an error, so it says whether the grant can pay.
   */
  async preview(principal: Principal, req: QueryRequest, target?: AccuracyTarget): Promise<Preview> {
    if (target === undefined) return this.previewAt(principal, req)
    const catalog = await this.catalogs.current()
    const ceiling = parse('epsilon', req.epsilon, 'up')
    const found = epsilonForTarget(await prepare(principal, req, catalog, []), target, ceiling, req.weights)
    const epsilon = toNumber('epsilon', found.epsilon ?? ceiling)
    const preview = await this.previewAt(principal, { ...req, epsilon }, [])
    return {
      ...preview,
      target: {
        ...target,
        ceiling: toNumber('epsilon', ceiling),
        met: found.epsilon !== null,
        epsilon: found.epsilon === null ? null : epsilon,
        aggregates: found.aggregates,
      },
    }
  }

  /** A batch preview (pipeline/batch.ts): a total epsilon split across queries, each previewed at its part. */
  async previewBatch(principal: Principal, req: BatchRequest): Promise<BatchPreview> {
    const catalog = await this.catalogs.current()
    return previewBatch(
      req,
      (q) => prepare(principal, q, catalog, []),
      (q) => this.previewAt(principal, q, []),
    )
  }

  private async previewAt(principal: Principal, req: QueryRequest, deferredCaps?: VeilboxError[]): Promise<Preview> {
    const p = await prepare(principal, req, await this.catalogs.current(), deferredCaps)
    // Over a limit: refused here as a run would be, on public facts alone.
    admitWork(p, this.limits)
    const cached = (await findAnswer(this.db, p.grant.id, p.cacheKey)) !== null
    const ledgers = await readLedgers(
      this.db,
      p.grant,
      p.spec.id,
      false,
      p.joined.map((j) => j.record.spec.id),
    )
    let grantCharge: Charge | null = null
    let datasetCharge: Charge | null = null
    let joinedCharges: Charge[] = []
    let refusal: Preview['refusal']
    if (!cached) {
      try {
        grantCharge = priceOn(ledgers.grant, p.price)
        datasetCharge = priceOn(ledgers.dataset, datasetPrice(p, ledgers.dataset.id))
        // A join's other datasets must pay too: a preview says so before anything runs.
        joinedCharges = ledgers.joined.map((view) => priceOn(view, datasetPrice(p, view.id)))
      } catch (err) {
        if (!isVeilboxError(err)) throw err
        refusal = { code: err.code, detail: err.detail, scope: String(err.extra.scope ?? '') }
      }
    }
    // What the answer would cost in money (nothing for a stored one), and whether the grant's cap can take it.
    const amount =
      cached || datasetCharge === null
        ? 0n
        : p.joinedMoney.reduce(
            (sum, m, k) => sum + answerPrice(m, joinedCharges[k]?.epsilon ?? 0n),
            answerPrice(p.money, datasetCharge.epsilon),
          )
    // A per-answer cap an accuracy preview deferred comes first: the answer could not be asked for at all.
    const capped = deferredCaps?.[0]
    if (capped !== undefined)
      refusal = { code: capped.code, detail: capped.detail, scope: String(capped.extra.scope ?? '') }
    if (refusal === undefined && !fitsCap(p.grant, amount)) {
      const err = spendingCapError(p.grant, amount, p.money.currency)
      refusal = { code: err.code, detail: err.detail, scope: 'grant' }
    }
    return {
      dataset: p.spec.id,
      version: p.version.version,
      grant: p.grant.id,
      confidence: p.plan.confidence,
      cached,
      privacy: privacyOf(p),
      charge: { grant: chargeView(grantCharge), dataset: chargeView(datasetCharge) },
      budget: {
        remaining: remainingAfter(ledgers.grant.ledger, null),
        remainingAfter: remainingAfter(ledgers.grant.ledger, grantCharge),
        dataset: {
          remaining: remainingAfter(ledgers.dataset.ledger, null),
          remainingAfter: remainingAfter(ledgers.dataset.ledger, datasetCharge),
        },
      },
      price: priceView(p.money, amount),
      affordable: refusal === undefined,
      ...(refusal ? { refusal } : {}),
    }
  }

  /** Runs a query: a fresh answer is charged and stored before it is returned; a repeat is the stored answer, free. */
  async run(principal: Principal, req: QueryRequest): Promise<Answer> {
    const actor = actorOf(principal)
    let p: PreparedQuery | null = null
    try {
      p = await prepare(principal, req, await this.catalogs.current())
      const stored = await findAnswer(this.db, p.grant.id, p.cacheKey)
      if (stored) {
        const again = await reread(this.db, actor, stored, 'query.cached')
        this.observer.reread()
        return again
      }
      const admission = admit(
        p,
        await readLedgers(
          this.db,
          p.grant,
          p.spec.id,
          false,
          p.joined.map((j) => j.record.spec.id),
        ),
        this.limits,
      )
      return await this.answer(admission)
    } catch (err) {
      this.observer.refused(isVeilboxError(err) ? err.code : 'VEILBOX_ERR_INTERNAL')
      await recordRefusal(this.db, actor, p, req, err)
      throw err
    }
  }

  /** compute, release, commit: the noise is reserved and drawn while the sandbox computes, and ended whatever happens. */
  private async answer(admission: Admission): Promise<Answer> {
    const p = admission.prepared
    const noise = p.plan.reserveNoise()
    try {
      let released: ReleasedAnswer
      try {
        const [exact, reserved] = await Promise.all([
          compute(admission, {
            executor: this.executor,
            sources: this.sources,
            custodian: this.custodian,
            recordDecryption: (detail) => this.recordDecryption(admission, detail),
          }),
          noise,
        ])
        released = await release(admission, exact, reserved, this.signer, this.now())
      } catch (err) {
        // A deadline hit is charged like an answer: whether an answer comes back must not depend on the data.
        if (isVeilboxError(err) && err.code === 'VEILBOX_ERR_SANDBOX_TIMEOUT') {
          const charged = await commitDeadline(this.db, admission, err, this.now)
          this.charged(admission)
          throw charged
        }
        throw publicComputeError(err)
      }
      const answer = await commit(this.db, released, this.now)
      if (answer.kind === 'fresh') {
        this.observer.released()
        this.charged(admission)
      } else this.observer.reread()
      return answer
    } finally {
      void noise.then(
        (reserved) => reserved.end(),
        () => {},
      )
    }
  }

  /** Each dataset's charge as admitted (the committed one, up to a zCDP price recomputed under the row locks). */
  private charged(admission: Admission): void {
    const p = admission.prepared
    this.observer.charged(p.spec.id, toNumber('epsilon', admission.charges.dataset.epsilon))
    for (let k = 0; k < p.joined.length; k++) {
      const c = admission.charges.joined[k]
      if (c !== undefined) this.observer.charged(p.joined[k]!.record.spec.id, toNumber('epsilon', c.epsilon))
    }
  }

  private recordDecryption(admission: Admission, detail: Record<string, unknown>): Promise<void> {
    const p = admission.prepared
    return this.db.transaction(
      (tx) =>
        appendAudit(tx, {
          actor: actorOf(p.principal),
          action: 'custodian.decrypt',
          outcome: 'ok',
          ...subjectOf(p),
          charged: { epsilon: '0', delta: '0' },
          detail,
        }),
      { group: true },
    )
  }

  /**
   * The fast path for a request a caller has seen answered before: the stored
   * answer `selects` names, found without parsing or planning, the grant
   * checked as on the full path. Null when the request now resolves to
   * another version (or the answer is gone): then run it.
   */
  async repeat(principal: Principal, req: QueryRequest, selects: Selects): Promise<Answer | null> {
    const actor = actorOf(principal)
    try {
      const grant = await getGrant(this.db, req.grant)
      checkGrantUsable(grant, principal, this.now())
      // The dataset the answer read, which the grant must still cover; its latest version, when none is asked for.
      if (!grant.datasets.includes(selects.dataset)) return null
      if (req.version === undefined && selects.joined.length === 0) {
        // The common repeat: the stored answer and the latest version in one read.
        const at = await findAnswerAtLatest(this.db, grant.id, selects.cacheKey, selects.dataset)
        if (at.latest !== selects.version || at.ref === null) return null
        return this.counted(await reread(this.db, actor, at.ref, 'query.cached', grant))
      }
      const version = req.version ?? (await latestVersionNumber(this.db, selects.dataset))
      if (version !== selects.version) return null
      // A join reads its other datasets' latest versions: one loaded since makes it another query.
      for (const j of selects.joined) {
        if (j.public !== true && !grant.datasets.includes(j.dataset)) return null
        if ((await latestVersionNumber(this.db, j.dataset)) !== j.version) return null
      }
      const ref = await findAnswer(this.db, grant.id, selects.cacheKey)
      if (ref === null) return null
      return this.counted(await reread(this.db, actor, ref, 'query.cached', grant))
    } catch (err) {
      this.observer.refused(isVeilboxError(err) ? err.code : 'VEILBOX_ERR_INTERNAL')
      await recordRefusal(this.db, actor, null, req, err)
      throw err
    }
  }

  private counted(answer: Answer): Answer {
    this.observer.reread()
    return answer
  }

  /** A released answer again, free. Analysts read their own; operators read any. */
  async get(principal: Principal, queryId: string): Promise<Answer> {
    const ref = await getAnswerRow(this.db, queryId)
    if (principal.role !== 'operator' && ref.analyst_id !== principal.id) {
      throw new VeilboxError('VEILBOX_ERR_ANSWER_NOT_FOUND', `no answer ${queryId} of yours`, { queryId })
    }
    return reread(this.db, actorOf(principal), ref, 'query.reread')
  }

  /** A stored answer's JSON as it was first sent. */
  storedJson(queryId: string): Promise<string> {
    return answerBody(this.db, queryId)
  }

  /** A dry run: the query's plan on dummy rows (pipeline/dry-run.ts); free, marked as dummy, audited, never stored. */
  async dryRun(principal: Principal, req: QueryRequest, columnsOf: DummyColumns): Promise<DryRunResult> {
    const actor = actorOf(principal)
    let p: PreparedQuery | null = null
    try {
      p = await prepare(principal, req, await this.catalogs.current())
      admitWork(p, this.limits)
      return await dryRun(this.db, actor, p, columnsOf, req.sql ?? null, this.now())
    } catch (err) {
      this.observer.refused(isVeilboxError(err) ? err.code : 'VEILBOX_ERR_INTERNAL')
      await recordRefusal(this.db, actor, p, req, err)
      throw err
    }
  }
}

function actorOf(principal: Principal): AuditActor {
  return { principal: principal.name, role: principal.role }
}
