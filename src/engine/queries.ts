import { createHash, randomBytes } from 'node:crypto'
import { VeilboxError, isVeilboxError } from '../errors/index.js'
import { appendAudit, canonicalJson, newRecordId, type AuditActor, type AuditEvent } from '../store/audit.js'
import { answerBody, findAnswer, getAnswerRow, insertAnswer, type AnswerRef } from '../store/answers.js'
import { findDatasetBudget } from '../store/budgets.js'
import { findDataset, getVersion, latestVersion, latestVersionNumber, type VersionRecord } from '../store/datasets.js'
import type { Sql, Store } from '../store/db.js'
import type { TxOptions } from '../store/sql.js'
import { ParsedByText } from '../store/parsed.js'
import { getGrant, type GrantRecord } from '../store/grants.js'
import { guardedCharge, type Charge } from '../store/ledger.js'
import type { Principal } from '../store/keys.js'
import type { Executor } from './exec/executor.js'
import type { SigningKey } from '../store/receipt-keys.js'
import { receiptDigest, signReceipt, type Receipt, type ReceiptBody } from './receipts.js'
import {
  INTERVALS_SLOT,
  ROWS_SLOT,
  serializeRelease,
  spliceRelease,
  type SerializedRelease,
} from './release/serialize.js'
import { toMicro } from './dp/index.js'
import { checkGrantUsable, checkQueryInGrant } from './policy/grant.js'
import { deltaToFemto, exhausted, FEMTO, MICRO, PICO, priceOn, type LedgerView, type Price } from './policy/pricing.js'
import {
  bindQuery,
  fromJson,
  parseQuery,
  queryDataset,
  queryHash,
  unknownDatasetError,
  type BoundQuery,
  type Query,
} from './query/index.js'
import { planQuery, type AggregatePrivacy, type MechanismKind, type Plan } from './query/planner.js'
import { admit, type AdmissionLimits } from './admission.js'
import { releaseAnswer, type Cell, type DecryptedMeasure, type ReleasedAnswer } from './release/answer.js'
import type { Custodian } from './he/custodian.js'
import type { HeProfile } from './he/profile.js'
import type { DecryptedAggregate, EncryptedAggregate, ExactValue as HeExactValue } from './he/types.js'
import { findHeKeys } from './he/material.js'
import { uploadEncryption } from '../store/he.js'
import type { ExecResult } from './exec/executor.js'
import type { DatasetSpec } from '../schema.js'

/**
 * A query's way through the engine: parse, check the grant, bind to the
 * dataset, plan and price (refusing early when the grant or the dataset cannot
 * pay), compute the exact aggregates in the sandbox while the noise is drawn,
 * release, and only then, in one write transaction, charge both ledgers with
 * guarded statements, store the answer and append the audit record. The
 * answer leaves after that transaction commits. A repeat of the same
 * canonical query in the same grant returns the stored answer, free.
 */

export interface QueryRequest {
  readonly sql?: string
  readonly query?: unknown
  readonly grant: string
  readonly epsilon: number
  readonly delta?: number
  readonly mechanism?: MechanismKind
  readonly confidence?: number
  readonly weights?: readonly number[]
  readonly version?: number
}

export const DEFAULT_CONFIDENCE = 0.95

/**
 * The largest delta one Gaussian answer may be calibrated to, whatever its
 * grant allows: an (epsilon, delta) guarantee with delta near 1 holds for any
 * mechanism and says nothing. 1e-5 keeps delta below 1/n for datasets of up
 * to 100,000 units; grants usually set less.
 */
export const MAX_ANSWER_DELTA = 1e-5

export interface AnswerBody {
  readonly queryId: string
  readonly grant: string
  readonly dataset: string
  readonly version: number
  /** The version's salted commitment (never the content hash of its rows). */
  readonly datasetCommitment: string
  readonly queryHash: string
  readonly sql: string | null
  readonly columns: readonly string[]
  readonly rows: readonly (readonly Cell[])[]
  readonly intervals: readonly (readonly ([number, number] | null)[])[]
  readonly confidence: number
  readonly privacy: {
    readonly mechanism: MechanismKind
    readonly epsilon: number
    readonly delta: number
    readonly rho?: number
    readonly perAggregate: readonly AggregatePrivacy[]
    /** What this response charged each ledger (zero for a stored answer); for Gaussian answers the zCDP increment, see docs/queries.md. */
    readonly charged: { readonly grant: ChargeView; readonly dataset: ChargeView }
  }
  readonly budget: { readonly remaining: { readonly epsilon: number; readonly delta: number } }
  readonly cached: boolean
  readonly createdAt: string
  /** Signed by the service: checkable offline with the published key (docs/audit.md). */
  readonly receipt: Receipt
}

export interface ChargeView {
  readonly epsilon: number
  readonly delta: number
}

export interface Preview {
  readonly dataset: string
  readonly version: number
  readonly grant: string
  readonly confidence: number
  readonly cached: boolean
  readonly privacy: {
    readonly mechanism: MechanismKind
    readonly epsilon: number
    readonly delta: number
    readonly rho?: number
    readonly perAggregate: readonly AggregatePrivacy[]
  }
  readonly charge: { readonly grant: ChargeView; readonly dataset: ChargeView }
  readonly budget: {
    readonly remaining: { readonly epsilon: number; readonly delta: number }
    readonly remainingAfter: { readonly epsilon: number; readonly delta: number }
    readonly dataset: {
      readonly remaining: { readonly epsilon: number; readonly delta: number }
      readonly remainingAfter: { readonly epsilon: number; readonly delta: number }
    }
  }
  /** False when the grant or the dataset cannot pay; `refusal` says which. */
  readonly affordable: boolean
  readonly refusal?: { readonly code: string; readonly detail: string; readonly scope: string }
}

interface Prepared {
  /** Who asked: the grant is checked against this principal again at the release. */
  readonly principal: Principal
  readonly query: Query
  readonly grant: GrantRecord
  readonly spec: DatasetSpec
  readonly bound: BoundQuery
  readonly version: VersionRecord
  readonly plan: Plan
  readonly price: Price
  readonly queryHash: string
  readonly cacheKey: string
  /** The query's own privacy parameters: pure epsilon (Laplace), or the (epsilon, delta) its rho is calibrated to (Gaussian). */
  readonly epsilon: number
  readonly delta: number
  /** The query text as sent, or null for the JSON form. */
  readonly sql: string | null
}

const ZERO: ChargeView = Object.freeze({ epsilon: 0, delta: 0 })

function chargeView(c: Charge): ChargeView {
  return { epsilon: c.epsilon / MICRO, delta: c.delta / FEMTO }
}

function remainingOf(view: LedgerView, c: Charge | null) {
  const l = view.ledger
  const eps = l.epsilonTotal - l.epsilonSpent - (c?.epsilon ?? 0)
  const delta = l.deltaTotal - l.deltaSpent - (c?.delta ?? 0)
  return { epsilon: eps / MICRO, delta: delta / FEMTO }
}

/** What a query's audit records name: its dataset and version, grant and purpose, and canonical query. */
function subjectOf(p: Prepared): Pick<AuditEvent, 'dataset' | 'version' | 'grant' | 'purpose' | 'queryHash'> {
  return {
    dataset: p.spec.id,
    version: p.version.version,
    grant: p.grant.id,
    purpose: p.grant.purpose,
    queryHash: p.queryHash,
  }
}

/** Byte-identical repeats remembered for the fast path. */
const REPEAT_CACHE_SIZE = 10_000
/** Stored answers kept parsed and serialized for repeats. */
const STORED_CACHE_SIZE = 2_000
/** Parsed SQL per text: the AST is immutable and depends on the text alone; a text that does not parse throws and is not kept. */
const parsedSql = new ParsedByText<Query>(parseQuery, 1_000)

export interface QueryEngineOptions {
  readonly db: Store
  readonly executor: Executor
  readonly signer: SigningKey
  /** Decrypts encrypted aggregates; null or left out when the service has none (HE queries then fail with 503). */
  readonly custodian?: Custodian | null
  /** What one query may cost (admission.ts); default DEFAULT_LIMITS. */
  readonly limits?: AdmissionLimits
  /** The clock (tests inject one). */
  readonly now?: () => Date
}

/** The defaults of VEILBOX_TASK_MAX_CELLS, VEILBOX_HE_MAX_WORK and VEILBOX_MAX_RELEASE_VALUES. */
export const DEFAULT_LIMITS: AdmissionLimits = Object.freeze({
  maxCells: 8_000_000_000,
  heMaxWork: 1_000,
  maxReleaseValues: 100_000,
})

export class QueryEngine {
  private readonly repeats = new Map<string, { cacheKey: string; version: number }>()
  private readonly stored = new Map<string, { body: AnswerBody; prefix: string }>()
  /** A fresh answer's JSON, made once for the answers table and sent as it is. */
  private readonly freshJson = new WeakMap<AnswerBody, string>()
  private readonly db: Store
  private readonly executor: Executor
  private readonly signer: SigningKey
  private readonly custodian: Custodian | null
  private readonly limits: AdmissionLimits
  private readonly now: () => Date

  constructor(options: QueryEngineOptions) {
    this.db = options.db
    this.executor = options.executor
    this.signer = options.signer
    this.custodian = options.custodian ?? null
    this.limits = options.limits ?? DEFAULT_LIMITS
    this.now = options.now ?? (() => new Date())
  }

  /** Nothing of its own to close: releases in flight finish in the store, which closes after the engine. */
  async close(): Promise<void> {}

  /** A write that may share its durable commit with others arriving together (the store's group commit). */
  private write<T>(fn: (tx: Sql) => Promise<T>, locks?: TxOptions['locks']): Promise<T> {
    return this.db.transaction(fn, { group: true, ...(locks ? { locks } : {}) })
  }

  /** The rows a release or a deadline charge locks: its grant's, then its dataset's budget (declared for the group commit). */
  private releaseLocks(p: Prepared): TxOptions['locks'] {
    return { grants: [p.grant.id], budgets: [p.spec.id] }
  }

  /** What a query would charge and how precise it would be; reads no data, spends nothing. */
  async preview(principal: Principal, req: QueryRequest): Promise<Preview> {
    const p = await this.prepare(principal, req)
    const cached = (await findAnswer(this.db, p.grant.id, p.cacheKey)) !== null
    const views = await this.ledgers(this.db, p, p.grant)
    let grantCharge: Charge | null = null
    let datasetCharge: Charge | null = null
    let refusal: Preview['refusal']
    if (!cached) {
      try {
        grantCharge = priceOn(views.grant, p.price)
        datasetCharge = priceOn(views.dataset, p.price)
      } catch (err) {
        if (!isVeilboxError(err)) throw err
        refusal = { code: err.code, detail: err.detail, scope: String(err.extra.scope ?? '') }
      }
    }
    return {
      dataset: p.spec.id,
      version: p.version.version,
      grant: p.grant.id,
      confidence: p.plan.confidence,
      cached,
      privacy: this.privacyOf(p),
      charge: {
        grant: grantCharge ? chargeView(grantCharge) : ZERO,
        dataset: datasetCharge ? chargeView(datasetCharge) : ZERO,
      },
      budget: {
        remaining: remainingOf(views.grant, null),
        remainingAfter: remainingOf(views.grant, grantCharge),
        dataset: {
          remaining: remainingOf(views.dataset, null),
          remainingAfter: remainingOf(views.dataset, datasetCharge),
        },
      },
      affordable: refusal === undefined,
      ...(refusal ? { refusal } : {}),
    }
  }

  /** Runs a query: a fresh answer is charged and stored before it is returned; a repeat is free. */
  async run(principal: Principal, req: QueryRequest): Promise<AnswerBody> {
    const actor: AuditActor = { principal: principal.name, role: principal.role }
    let p: Prepared | null = null
    try {
      const repeat = await this.repeatOf(principal, req)
      if (repeat) return await this.reread(actor, repeat, 'query.cached')
      p = await this.prepare(principal, req)
      this.remember(req, p)
      const stored = await findAnswer(this.db, p.grant.id, p.cacheKey)
      if (stored) return await this.reread(actor, stored, 'query.cached')
      // Refuse before computing anything when either ledger cannot pay (the grant as prepare read it).
      const views = await this.ledgers(this.db, p, p.grant)
      priceOn(views.grant, p.price)
      priceOn(views.dataset, p.price)
      const plan = p.plan
      // Named now: the custodian's release request and its audit record carry it.
      const queryId = `q_${randomBytes(12).toString('hex')}`
      // The noise is reserved and drawn while the sandbox computes; the reservation ends once the release is over, whatever happened.
      const noise = plan.prepare()
      const prepared = p
      try {
        let released: ReleasedAnswer
        let serialized: SerializedRelease
        try {
          const [exact] = await Promise.all([
            this.executor.execute({ dataset: p.spec.id, version: p.version.version, ...plan.exec }),
            noise,
          ])
          const decrypted = plan.exec.encrypted === undefined ? [] : await this.decrypt(actor, p, queryId, exact)
          released = await releaseAnswer(plan, exact, decrypted)
          serialized = await serializeRelease(released, plan.confidence)
          // Never charge for something that is not a number: Infinity would be released as null.
          if (!serialized.finite)
            throw new VeilboxError(
              'VEILBOX_ERR_DP_NOT_FINITE',
              'a released value or interval was not a finite number; nothing was released or charged',
            )
        } catch (err) {
          // A deadline hit is charged like an answer: whether an answer comes back must not depend on the data.
          if (isVeilboxError(err) && err.code === 'VEILBOX_ERR_SANDBOX_TIMEOUT')
            throw await this.write(
              (tx) => this.chargeDeadline(tx, actor, prepared, queryId, err),
              this.releaseLocks(prepared),
            )
          throw publicComputeError(err)
        }
        return await this.write(
          (tx) => this.commit(tx, actor, prepared, released, serialized, queryId),
          this.releaseLocks(prepared),
        )
      } finally {
        void noise.then(
          (end) => end(),
          () => {},
        )
      }
    } catch (err) {
      await this.recordRefusal(actor, p, req, err)
      throw err
    }
  }

  /**
   * The fast path for a request sent again byte for byte: the stored answer,
   * found without parsing or planning. Keyed by everything that selects the
   * answer (grant, query text, privacy parameters, the version it resolves
   * to); the grant is checked as on the full path.
   */
  private async repeatOf(principal: Principal, req: QueryRequest): Promise<AnswerRef | null> {
    if (typeof req.grant !== 'string') return null
    const key = this.requestKey(req)
    const hit = this.repeats.get(key)
    if (hit === undefined) return null
    const grant = await getGrant(this.db, req.grant)
    checkGrantUsable(grant, principal, this.now())
    const version = req.version ?? (await latestVersionNumber(this.db, grant.dataset))
    if (version !== hit.version) return null
    return findAnswer(this.db, grant.id, hit.cacheKey)
  }

  /**
   * Every field that selects the answer, in a fixed order. Not canonical: a
   * JSON query with its keys in another order is a different key, which only
   * costs a miss (the full path then finds the stored answer by its cache key).
   */
  private requestKey(req: QueryRequest): string {
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

  private remember(req: QueryRequest, p: Prepared): void {
    if (this.repeats.size >= REPEAT_CACHE_SIZE) this.repeats.delete(this.repeats.keys().next().value!)
    this.repeats.set(this.requestKey(req), { cacheKey: p.cacheKey, version: p.version.version })
  }

  /** A released answer again, free. Analysts read their own; operators read any. */
  async get(principal: Principal, queryId: string): Promise<AnswerBody> {
    const row = await getAnswerRow(this.db, queryId)
    if (principal.role !== 'operator' && row.analyst_id !== principal.id) {
      throw new VeilboxError('VEILBOX_ERR_ANSWER_NOT_FOUND', `no answer ${queryId} of yours`, { queryId })
    }
    return this.reread({ principal: principal.name, role: principal.role }, row, 'query.reread')
  }

  /** A stored answer, returned once its audit record is on disk. */
  private reread(actor: AuditActor, row: AnswerRef, action: string): Promise<AnswerBody> {
    return this.write((tx) => this.rereadInTransaction(tx, actor, row, action))
  }

  private async rereadInTransaction(tx: Sql, actor: AuditActor, row: AnswerRef, action: string): Promise<AnswerBody> {
    const stored = await this.storedAnswer(row)
    const grant = await getGrant(tx, row.grant_id)
    await appendAudit(tx, {
      actor,
      action,
      outcome: 'ok',
      dataset: row.dataset_id,
      version: row.version,
      grant: row.grant_id,
      purpose: grant.purpose,
      queryHash: row.query_hash,
      charged: { epsilon: '0', delta: '0' },
      detail: { queryId: row.query_id },
    })
    const remaining = remainingOf({ scope: 'grant', id: grant.id, ledger: grant.ledger }, null)
    return { ...stored.body, budget: { remaining } }
  }

  /**
   * A stored answer as a repeat returns it (cached, nothing charged), parsed
   * and serialized once: everything but the grant's remaining budget is fixed.
   */
  private async storedAnswer(row: AnswerRef): Promise<{ body: AnswerBody; prefix: string }> {
    const hit = this.stored.get(row.query_id)
    if (hit) return hit
    const original = JSON.parse(await answerBody(this.db, row.query_id)) as AnswerBody
    const { budget: _budget, ...rest } = {
      ...original,
      privacy: { ...original.privacy, charged: { grant: ZERO, dataset: ZERO } },
      cached: true,
    }
    const body = { ...rest, budget: original.budget } as AnswerBody
    const entry = { body, prefix: JSON.stringify(rest).slice(0, -1) }
    if (this.stored.size >= STORED_CACHE_SIZE) this.stored.delete(this.stored.keys().next().value!)
    this.stored.set(row.query_id, entry)
    return entry
  }

  /** The answer as JSON; a stored answer is spliced from its serialized form. */
  serialize(body: AnswerBody): string {
    const fresh = this.freshJson.get(body)
    if (fresh !== undefined) return fresh
    const stored = body.cached ? this.stored.get(body.queryId) : undefined
    return stored ? `${stored.prefix},"budget":${JSON.stringify(body.budget)}}` : JSON.stringify(body)
  }

  private async prepare(principal: Principal, req: QueryRequest): Promise<Prepared> {
    if ((req.sql === undefined) === (req.query === undefined)) {
      throw new VeilboxError(
        'VEILBOX_ERR_REQUEST_VALIDATION',
        'send the query either as "sql" (text) or as "query" (JSON), exactly one of the two',
        {
          errors: [{ path: 'body', message: 'exactly one of sql and query' }],
        },
      )
    }
    const query = req.sql !== undefined ? parsedSql.get(req.sql) : fromJson(req.query, { path: '/query' })
    const grant = await getGrant(this.db, req.grant)
    checkGrantUsable(grant, principal, this.now())
    const name = queryDataset(query)
    const record = await findDataset(this.db, name)
    if (!record) {
      if (name !== grant.dataset) checkQueryInGrant(grant, name, null)
      throw unknownDatasetError(query, [grant.dataset])
    }
    checkQueryInGrant(grant, name, null)
    const bound = bindQuery(query, record.spec)
    checkQueryInGrant(grant, name, bound)
    const version =
      req.version !== undefined ? await getVersion(this.db, name, req.version) : await latestVersion(this.db, name)
    if (!version) {
      throw new VeilboxError(
        'VEILBOX_ERR_DATASET_NO_VERSION',
        `dataset ${name} has no version loaded yet; an operator uploads one first`,
        { dataset: name },
      )
    }
    const mechanism = req.mechanism ?? 'laplace'
    let delta = 0
    if (mechanism === 'laplace') {
      if (req.delta !== undefined && req.delta !== 0) {
        throw new VeilboxError(
          'VEILBOX_ERR_DP_INVALID_PARAMETER',
          'delta applies to the gaussian mechanism only; the laplace mechanism is pure epsilon-DP (leave delta out)',
          { delta: req.delta },
        )
      }
    } else {
      const grantDelta = grant.ledger.deltaTotal / FEMTO
      delta = req.delta ?? Math.min(grantDelta, MAX_ANSWER_DELTA)
      if (!(delta > 0 && delta < 1)) {
        throw new VeilboxError(
          'VEILBOX_ERR_DP_INVALID_PARAMETER',
          `the gaussian mechanism needs a delta strictly between 0 and 1${req.delta === undefined ? `; grant ${grant.id} has no delta budget, so pass one or use laplace` : `, got ${delta}`}`,
          { delta },
        )
      }
      // An answer may not state a weaker guarantee than its grant was given, nor one that means nothing (docs/dp.md).
      const limit = Math.min(grantDelta, MAX_ANSWER_DELTA)
      if (delta > limit) {
        throw new VeilboxError(
          'VEILBOX_ERR_DP_DELTA_TOO_LARGE',
          `delta ${delta} is above what one answer may use: at most ${limit} (the smaller of grant ${grant.id}'s delta, ${grantDelta}, and the service's ceiling of ${MAX_ANSWER_DELTA}); ask for a smaller delta or leave it out`,
          { delta, max: limit, grantDelta, ceiling: MAX_ANSWER_DELTA },
        )
      }
    }
    const confidence = req.confidence ?? DEFAULT_CONFIDENCE
    const heProfile = await this.heProfileFor(record.spec, version)
    const plan = planQuery(bound, {
      mechanism,
      epsilon: req.epsilon,
      delta,
      confidence,
      heProfile,
      ...(req.weights ? { weights: req.weights } : {}),
    })
    // Over a limit: refused here, before anything runs, on public facts alone; preview refuses it alike.
    admit(plan, version.rows, heProfile, this.limits)
    const hash = queryHash(query)
    const cacheKey = createHash('sha256')
      .update(
        canonicalJson({
          queryHash: hash,
          version: version.version,
          mechanism,
          epsilonMicro: toMicro(req.epsilon).toString(),
          deltaFemto: mechanism === 'gaussian' ? deltaToFemto(delta) : 0,
          confidence,
          weights: req.weights ?? null,
        }),
      )
      .digest('hex')
    const price: Price = { mechanism, epsilonMicro: Number(plan.epsilonMicro), rhoPico: Number(plan.rhoPico) }
    return {
      principal,
      query,
      grant,
      spec: record.spec,
      bound,
      version,
      plan,
      price,
      queryHash: hash,
      cacheKey,
      epsilon: Number(toMicro(req.epsilon)) / MICRO,
      delta,
      sql: req.sql ?? null,
    }
  }

  /**
   * The HE profile a version's ciphertexts were made under, for a dataset
   * with he columns (null otherwise, or when it has no keys: the planner
   * refuses he aggregates then). A version loaded before the keys existed
   * has no ciphertexts, and its he columns cannot be aggregated.
   */
  private async heProfileFor(spec: DatasetSpec, version: VersionRecord): Promise<HeProfile | null> {
    if (!spec.columns.some((c) => c.protection === 'he')) return null
    const keys = await findHeKeys(this.db, spec.id)
    if (keys === null) return null
    const enc = await uploadEncryption(this.db, version.uploadId)
    return enc !== null && enc.profileId === keys.profile.id ? keys.profile : null
  }

  /**
   * The release of encrypted aggregates: the result ciphertexts go to the
   * custodian with the admitted query's id, and come back as exact values
   * (never noised yet); an audit record of the decryption follows in its own
   * transaction. The values stay in this process: releaseAnswer rounds them
   * to each mechanism's grid and adds the noise before anything leaves.
   */
  private async decrypt(
    actor: AuditActor,
    p: Prepared,
    queryId: string,
    exact: ExecResult,
  ): Promise<DecryptedMeasure[]> {
    const measures = p.plan.exec.encrypted ?? []
    const results = exact.encrypted ?? []
    if (
      results.length !== measures.length ||
      results.some((r, i) => r.column !== measures[i]!.column || r.counts.some((c, g) => c !== exact.count[g]))
    ) {
      throw new VeilboxError(
        'VEILBOX_ERR_SANDBOX_CRASHED',
        'the sandbox returned encrypted aggregates that do not match the task; nothing was released',
        {},
      )
    }
    // Every group's aggregate, empty or not: the custodian call, its audit record and the time they take never depend on the selection.
    const aggregates = results.flatMap((r) => [...r.sums, ...(r.sumSquares ?? [])])
    if (this.custodian === null) {
      throw new VeilboxError(
        'VEILBOX_ERR_CUSTODIAN_UNAVAILABLE',
        'this service has no key custodian configured, so encrypted aggregates cannot be released; nothing was charged',
        {},
        { headers: { 'retry-after': '5' } },
      )
    }
    const profileId = results[0]!.profileId
    const response = await this.custodian.decryptAggregates({ dataset: p.spec.id, profileId, queryId, aggregates })
    if (response.queryId !== queryId || response.values.length !== aggregates.length) {
      throw new VeilboxError(
        'VEILBOX_ERR_CUSTODIAN_REFUSED',
        'the custodian answered for another release; nothing was released',
        {},
      )
    }
    const values = new Map<string, DecryptedAggregate>()
    for (const v of response.values) values.set(`${v.column}\t${v.kind}\t${v.group}`, v)
    await this.write((tx) =>
      appendAudit(tx, {
        actor,
        action: 'custodian.decrypt',
        outcome: 'ok',
        ...subjectOf(p),
        charged: { epsilon: '0', delta: '0' },
        detail: { queryId, profileId, aggregates: aggregates.length, columns: results.map((r) => r.column) },
      }),
    )
    const valueOf = (a: EncryptedAggregate): HeExactValue => {
      const v = values.get(`${a.column}\t${a.kind}\t${a.group}`)
      if (v === undefined || v.rows !== a.rows)
        throw new VeilboxError(
          'VEILBOX_ERR_CUSTODIAN_REFUSED',
          `the custodian left out the ${a.kind} of ${a.column}, group ${a.group}; nothing was released`,
          {},
        )
      return v.value
    }
    return results.map((r) => ({
      sums: r.sums.map(valueOf),
      sumSquares: r.sumSquares === null ? null : r.sumSquares.map(valueOf),
    }))
  }

  /**
   * The two ledgers a query is priced on: the grant's (as read by the caller)
   * and its dataset's; inside the release transaction, the budget row is held
   * (FOR UPDATE, after the grant's row).
   */
  private async ledgers(
    db: Sql,
    p: Prepared,
    grant: GrantRecord,
    forUpdate = false,
  ): Promise<{ grant: LedgerView; dataset: LedgerView }> {
    const budget = await findDatasetBudget(db, p.spec.id, { forUpdate })
    if (!budget) {
      throw new VeilboxError(
        'VEILBOX_ERR_BUDGET_NOT_SET',
        `dataset ${p.spec.id} has no privacy budget yet; an operator sets one with PUT /v1/datasets/${p.spec.id}/budget`,
        {
          dataset: p.spec.id,
        },
      )
    }
    return {
      grant: { scope: 'grant', id: grant.id, ledger: grant.ledger },
      dataset: { scope: 'dataset', id: p.spec.id, ledger: budget },
    }
  }

  private privacyOf(p: Prepared): Preview['privacy'] {
    const gaussian = p.plan.mechanism === 'gaussian'
    return {
      mechanism: p.plan.mechanism,
      epsilon: p.epsilon,
      delta: p.delta,
      ...(gaussian ? { rho: Number(p.plan.rhoPico) / PICO } : {}),
      perAggregate: p.plan.perAggregate,
    }
  }

  /**
   * Both ledgers charged with guarded statements, inside the caller's write
   * transaction, the grant's row already held (lockGrant). The grant is read
   * again under its lock: it may have been charged, revoked or expired while
   * the sandbox computed. The dataset's budget row is locked next; the audit
   * chain's head, last (appendAudit).
   */
  private async charge(
    tx: Sql,
    p: Prepared,
    grant: GrantRecord,
  ): Promise<{ views: { grant: LedgerView; dataset: LedgerView }; gc: Charge; dc: Charge }> {
    const views = await this.ledgers(tx, p, grant, true)
    checkGrantUsable(grant, p.principal, this.now())
    const gc = priceOn(views.grant, p.price)
    const dc = priceOn(views.dataset, p.price)
    if (!(await guardedCharge(tx, 'grants', p.grant.id, gc, 'AND revoked_at IS NULL'))) throw exhausted(views.grant, gc)
    if (!(await guardedCharge(tx, 'dataset_budgets', p.spec.id, dc))) throw exhausted(views.dataset, dc)
    return { views, gc, dc }
  }

  /** The release's first lock: the grant's row, held to the commit. Every release takes its locks in this order: grant, budget, chain head. */
  private lockGrant(tx: Sql, p: Prepared): Promise<GrantRecord> {
    return getGrant(tx, p.grant.id, { forUpdate: true })
  }

  /** The release: runs inside a (group) commit; nothing leaves before that commit is on disk. */
  private async commit(
    tx: Sql,
    actor: AuditActor,
    p: Prepared,
    released: ReleasedAnswer,
    serialized: SerializedRelease,
    queryId: string,
  ): Promise<AnswerBody> {
    {
      const grant = await this.lockGrant(tx, p)
      // A twin of this query may have committed while we computed, on this node or another: its answer wins, free.
      // Checked under the grant's lock, which every release of this grant takes first.
      const twin = await findAnswer(tx, p.grant.id, p.cacheKey)
      if (twin) return this.rereadInTransaction(tx, actor, twin, 'query.cached')
      const { views, gc, dc } = await this.charge(tx, p, grant)
      const createdAt = this.now().toISOString()
      const gaussian = p.plan.mechanism === 'gaussian'
      const privacy = {
        mechanism: p.plan.mechanism,
        epsilon: p.epsilon,
        delta: p.delta,
        ...(gaussian ? { rho: Number(p.plan.rhoPico) / PICO } : {}),
        perAggregate: p.plan.perAggregate,
      }
      // The receipt names its release record by a random id, and the record carries the receipt's digest:
      // inclusion is provable to an auditor without the receipt revealing a position in the chain.
      const receiptBody: ReceiptBody = {
        queryId,
        dataset: p.spec.id,
        version: p.version.version,
        datasetCommitment: p.version.commitment,
        queryHash: p.queryHash,
        resultHash: serialized.resultHash,
        privacy,
        time: createdAt,
        auditRecord: newRecordId(),
        keyId: this.signer.keyId,
      }
      const receipt = signReceipt(receiptBody, this.signer.privateKey)
      const body: AnswerBody = {
        queryId,
        grant: p.grant.id,
        dataset: p.spec.id,
        version: p.version.version,
        datasetCommitment: p.version.commitment,
        queryHash: p.queryHash,
        sql: p.sql,
        columns: released.columns,
        rows: released.rows,
        intervals: released.intervals,
        confidence: p.plan.confidence,
        privacy: { ...privacy, charged: { grant: chargeView(gc), dataset: chargeView(dc) } },
        budget: { remaining: remainingOf(views.grant, gc) },
        cached: false,
        createdAt,
        receipt,
      }
      // The rows and intervals were serialized before the transaction (serialize.ts); only the small rest is stringified here.
      const json = spliceRelease(JSON.stringify({ ...body, rows: ROWS_SLOT, intervals: INTERVALS_SLOT }), serialized)
      await insertAnswer(tx, {
        query_id: queryId,
        grant_id: p.grant.id,
        analyst: actor.principal,
        analyst_id: p.principal.id,
        dataset_id: p.spec.id,
        version: p.version.version,
        cache_key: p.cacheKey,
        query_hash: p.queryHash,
        body: json,
        epsilon_micro: gc.epsilon,
        delta_femto: gc.delta,
        created_at: createdAt,
      })
      // The chain's head is locked last and held for the least time: after the answer is stored.
      await appendAudit(tx, {
        id: receiptBody.auditRecord,
        actor,
        action: 'query.release',
        outcome: 'ok',
        ...subjectOf(p),
        charged: { epsilon: String(gc.epsilon / MICRO), delta: String(gc.delta / FEMTO) },
        detail: {
          queryId,
          mechanism: p.plan.mechanism,
          dataset: { epsilon: dc.epsilon / MICRO, delta: dc.delta / FEMTO },
          receipt: receiptDigest(receiptBody),
        },
      })
      Object.freeze(body)
      this.freshJson.set(body, json)
      return body
    }
  }

  /**
   * A query stopped at its deadline, charged as if it had been answered, in
   * one transaction with its audit record (query.deadline). Admission and
   * constant-shape execution make a deadline hit depend on load, never on the
   * rows; charging it as well means that whether an answer comes back cannot
   * be bought for free either way, nor a worker held for nothing. Returns the
   * error to send; throws the budget refusal when the grant cannot pay, as an
   * answer would get.
   */
  private async chargeDeadline(
    tx: Sql,
    actor: AuditActor,
    p: Prepared,
    queryId: string,
    timeout: VeilboxError,
  ): Promise<VeilboxError> {
    const { views, gc, dc } = await this.charge(tx, p, await this.lockGrant(tx, p))
    const charged = chargeView(gc)
    await appendAudit(tx, {
      actor,
      action: 'query.deadline',
      outcome: timeout.code,
      ...subjectOf(p),
      charged: { epsilon: String(gc.epsilon / MICRO), delta: String(gc.delta / FEMTO) },
      detail: {
        queryId,
        mechanism: p.plan.mechanism,
        dataset: { epsilon: dc.epsilon / MICRO, delta: dc.delta / FEMTO },
        reason: timeout.detail,
      },
    })
    return new VeilboxError(
      'VEILBOX_ERR_SANDBOX_TIMEOUT',
      `${timeout.detail}; its privacy cost (epsilon ${charged.epsilon}${charged.delta > 0 ? `, delta ${charged.delta}` : ''}) was charged as if it had been answered, because whether an answer comes back must not depend on the data (docs/privacy-model.md). Retry when the service is less busy, or with a smaller query`,
      { ...timeout.extra, charged, remaining: remainingOf(views.grant, gc) },
      { cause: timeout, headers: { 'retry-after': '5' } },
    )
  }

  private async recordRefusal(actor: AuditActor, p: Prepared | null, req: QueryRequest, err: unknown): Promise<void> {
    // A deadline hit was charged and recorded (query.deadline) with its charge.
    if (isVeilboxError(err) && err.code === 'VEILBOX_ERR_SANDBOX_TIMEOUT' && err.extra.charged !== undefined) return
    const code = isVeilboxError(err) ? err.code : 'VEILBOX_ERR_INTERNAL'
    // The operator's record keeps what the analyst's error leaves out (publicComputeError).
    const inner = isVeilboxError(err) && publicized.has(err) && isVeilboxError(err.cause) ? err.cause : null
    const detail =
      inner !== null
        ? inner.detail
        : isVeilboxError(err) && err.status < 500
          ? err.detail
          : 'internal failure; nothing was released or charged'
    let grant: GrantRecord | null = p?.grant ?? null
    if (grant === null) {
      try {
        grant = typeof req.grant === 'string' ? await getGrant(this.db, req.grant) : null
      } catch {
        grant = null
      }
    }
    try {
      await this.write((tx) =>
        appendAudit(tx, {
          actor,
          action: isVeilboxError(err) && err.status < 500 ? 'query.refused' : 'query.failed',
          outcome: code,
          dataset: p?.spec.id ?? grant?.dataset ?? null,
          version: p?.version.version ?? null,
          grant: grant?.id ?? null,
          purpose: grant?.purpose ?? null,
          queryHash: p?.queryHash ?? null,
          charged: { epsilon: '0', delta: '0' },
          detail: { reason: detail },
        }),
      )
    } catch (auditErr) {
      // The refusal itself stands; a failure to record it must not mask it.
      void auditErr
    }
  }
}

/**
 * What an analyst is told when computing a query failed after admission: the
 * code and a fixed sentence, never the worker's or custodian's own detail,
 * which may carry counts taken from the data (rows in a group, batches,
 * values). The operator's audit record keeps the original (recordRefusal).
 * Refusals for load (busy) and an unreachable custodian keep their own words.
 */
export function publicComputeError(err: unknown): VeilboxError {
  // Load and configuration, not data: their own words say what to do.
  if (
    isVeilboxError(err) &&
    (err.code === 'VEILBOX_ERR_SANDBOX_BUSY' || err.code === 'VEILBOX_ERR_CUSTODIAN_UNAVAILABLE')
  )
    return err
  const code = isVeilboxError(err) ? err.code : 'VEILBOX_ERR_INTERNAL'
  const headers = isVeilboxError(err) ? { ...err.headers } : {}
  const detail =
    PUBLIC_DETAIL[code] ??
    'computing the query failed; nothing was released or charged. The operator has the details in the audit chain'
  const out = new VeilboxError(code, detail, {}, { cause: err, headers })
  publicized.add(out)
  return out
}

/** Errors made by publicComputeError, whose cause holds the detail for the operator's record. */
const publicized = new WeakSet<VeilboxError>()

const PUBLIC_DETAIL: Partial<Record<string, string>> = {
  VEILBOX_ERR_SANDBOX_TOO_LARGE:
    'the query is larger than this service computes in one task; nothing was charged. Touch fewer columns or group by fewer keys',
  VEILBOX_ERR_SANDBOX_OUT_OF_MEMORY:
    'the query ran out of sandbox memory and was stopped; nothing was released or charged',
  VEILBOX_ERR_SANDBOX_CRASHED: 'the sandbox running the query failed; nothing was released or charged',
  VEILBOX_ERR_DP_NOT_FINITE:
    'a released value was not a finite number, so nothing was released or charged. The operator has the details in the audit chain',
  VEILBOX_ERR_CUSTODIAN_REFUSED:
    'the key custodian refused to decrypt the aggregates; nothing was released or charged. The operator has the details in the audit chain',
}
