import { createHash } from 'node:crypto'
import { VeilboxError } from '../../errors/index.js'
import { canonicalJson } from '../../store/audit.js'
import type { Principal } from '../../store/keys.js'
import { ParsedByText } from '../../store/parsed.js'
import { parse, SCALE, toNumber, ZERO_DELTA, type Delta } from '../dp/budget.js'
import { planQuery } from '../plan/index.js'
import { selectedKey } from '../plan/selection.js'
import { moneyFor } from '../market/charge.js'
import { recordLevels } from '../market/dataset.js'
import { checkEpsilonPerAnswer } from '../market/policy.js'
import { checkGrantUsable, checkQueryInGrant, usedAggregates } from '../policy/grant.js'
import { checkGrantEpsilonPerAnswer } from '../policy/window.js'
import { checkBoundInGrant, joinedDatasets, publicTableSpec } from './joined.js'
import type { Price } from '../policy/pricing.js'
import {
  bindQuery,
  fromJson,
  parseQuery,
  queryDataset,
  queryHash,
  unknownDatasetError,
  type Query,
} from '../query/index.js'
import type { Catalog } from './catalog.js'
import { DEFAULT_CONFIDENCE, MAX_ANSWER_DELTA, type PreparedQuery, type QueryRequest } from './types.js'

/** Parsed SQL per text: the AST is immutable and depends on the text alone; a text that does not parse throws and is not kept. */
const parsedSql = new ParsedByText<Query>(parseQuery, 1_000)

const MAX_ANSWER_DELTA_UNITS = parse('delta', MAX_ANSWER_DELTA, 'down')

/**
 * Step 1 of a query (docs/architecture.md): parse the SQL or JSON form, check
 * the grant is the principal's and usable, bind to the dataset through the
 * grant (a dataset outside it is refused the same whether it exists or not),
 * pick the version, check the privacy parameters against the grant, plan and
 * price. Reads only the catalog; nothing is computed or spent.
 */
export async function prepare(
  principal: Principal,
  req: QueryRequest,
  catalog: Catalog,
  /** Given, the per-answer epsilon caps (market policy, grant) are collected here rather than thrown (accuracy previews). */
  deferredCaps?: VeilboxError[],
): Promise<PreparedQuery> {
  const cap = (check: () => void): void => {
    try {
      check()
    } catch (err) {
      if (deferredCaps === undefined || !(err instanceof VeilboxError)) throw err
      deferredCaps.push(err)
    }
  }
  if ([req.sql, req.query, req.ast].filter((x) => x !== undefined).length !== 1) {
    throw new VeilboxError(
      'VEILBOX_ERR_REQUEST_VALIDATION',
      'send the query either as "sql" (text) or as "query" (JSON), exactly one of the two',
      { errors: [{ path: 'body', message: 'exactly one of sql and query' }] },
    )
  }
  const query = req.ast ?? (req.sql !== undefined ? parsedSql.get(req.sql) : fromJson(req.query, { path: '/query' }))
  const grant = await catalog.grant(req.grant)
  checkGrantUsable(grant, principal, catalog.now())
  if (grant.templatesOnly && req.template === undefined) throw templatesOnly(grant.id)
  const name = queryDataset(query)
  const record = await catalog.dataset(name)
  if (!record) {
    if (!grant.datasets.includes(name)) checkQueryInGrant(grant, name, null)
    throw unknownDatasetError(query, grant.datasets)
  }
  // A public table needs no grant; FROM one is refused by the binder, saying how to join it instead.
  if (record.spec.public !== true) checkQueryInGrant(grant, name, null)
  const read = await joinedDatasets(query, grant, catalog)
  const bound = bindQuery(query, record.spec, await Promise.all(read.map((j) => publicTableSpec(j, catalog))))
  checkBoundInGrant(grant, bound)
  // Public tables are read, never charged: only the private datasets pay, and only they meet the market policy.
  const joined = read.filter((j) => j.record.spec.public !== true)
  // A sourced dataset meets a public table at its source: the table's rows go with the statement.
  const publicJoined = await Promise.all(
    read
      .filter((j) => j.record.spec.public === true)
      .map(async (j) => (record.spec.source === undefined ? j : { ...j, rows: await catalog.publicRows(j.version) })),
  )
  const policy = await catalog.policy()
  for (const r of [record, ...joined.map((j) => j.record)])
    cap(() => checkEpsilonPerAnswer(policy, r.spec, recordLevels(r), req.epsilon))
  const version = await catalog.version(name, req.version)
  if (!version) {
    throw new VeilboxError(
      'VEILBOX_ERR_DATASET_NO_VERSION',
      `dataset ${name} has no version loaded yet; an operator uploads one first`,
      { dataset: name },
    )
  }
  const mechanism = req.mechanism ?? 'laplace'
  const epsilon = parse('epsilon', req.epsilon, 'up')
  cap(() => checkGrantEpsilonPerAnswer(grant, epsilon))
  // Partition selection is (epsilon, delta)-DP under the laplace mechanism too: its delta is asked and checked as a gaussian one is.
  const selection = selectedKey(bound)
  const delta =
    mechanism === 'laplace' && selection === null
      ? laplaceDelta(req)
      : answerDelta(
          req,
          grant.id,
          grant.ledger.deltaTotal,
          selection === null ? 'the gaussian mechanism' : `partition selection (GROUP BY ${selection.column})`,
        )
  const confidence = req.confidence ?? DEFAULT_CONFIDENCE
  const heProfile = await catalog.heProfile(record.spec, version)
  const plan = planQuery(bound, {
    mechanism,
    epsilon,
    delta,
    confidence,
    heProfile,
    ...(req.weights ? { weights: req.weights } : {}),
    ...(grant.maxGroupsContributed === null ? {} : { maxGroupsContributed: grant.maxGroupsContributed }),
  })
  const hash = queryHash(query)
  const cacheKey = createHash('sha256')
    .update(
      canonicalJson({
        queryHash: hash,
        version: version.version,
        ...(read.length === 0 ? {} : { joined: read.map((j) => [j.record.spec.id, j.version.version]) }),
        mechanism,
        epsilonMicro: epsilon.toString(),
        deltaFemto: Number(delta),
        confidence,
        weights: req.weights ?? null,
      }),
    )
    .digest('hex')
  const price: Price = { mechanism, epsilon: plan.epsilon, rho: plan.rho, delta: plan.selectionDelta }
  return {
    principal,
    query,
    grant,
    spec: record.spec,
    bound,
    version,
    joined,
    publicJoined,
    heProfile,
    plan,
    price,
    queryHash: hash,
    cacheKey,
    epsilon,
    delta,
    sql: req.sql ?? null,
    template: req.template ?? null,
    money: moneyFor(policy, record, grant),
    joinedMoney: joined.map((j) => moneyFor(policy, j.record, grant)),
    scope: { columns: bound.columns, aggregates: usedAggregates(bound) },
  }
}

/** A grant limited to templates refuses ad-hoc SQL and JSON queries (and their previews), before anything runs. */
function templatesOnly(grant: string): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_POLICY_TEMPLATES_ONLY',
    `grant ${grant} runs approved templates only: run one with POST /v1/templates/{id}/run (GET /v1/templates lists them)`,
    { grant },
  )
}

function laplaceDelta(req: QueryRequest): Delta {
  if (req.delta !== undefined && req.delta !== 0) {
    throw new VeilboxError(
      'VEILBOX_ERR_DP_INVALID_PARAMETER',
      'delta applies to the gaussian mechanism only; the laplace mechanism is pure epsilon-DP (leave delta out)',
      { delta: req.delta },
    )
  }
  return ZERO_DELTA
}

/**
 * The delta a Gaussian answer is calibrated to, or a partition selection
 * spends: asked for, or the smaller of the grant's and the ceiling; never
 * above either.
 */
function answerDelta(req: QueryRequest, grantId: string, grantDeltaTotal: bigint, what: string): Delta {
  const grantDelta = toNumber('delta', grantDeltaTotal)
  const limit = grantDeltaTotal < MAX_ANSWER_DELTA_UNITS ? grantDeltaTotal : MAX_ANSWER_DELTA_UNITS
  const delta = req.delta ?? toNumber('delta', limit)
  if (!(delta > 0 && delta < 1)) {
    throw new VeilboxError(
      'VEILBOX_ERR_DP_INVALID_PARAMETER',
      `${what} needs a delta strictly between 0 and 1${req.delta === undefined ? `; grant ${grantId} has no delta budget: ask an operator for a grant with delta${what === 'the gaussian mechanism' ? ', or use laplace' : ''}` : `, got ${delta}`}`,
      { delta },
    )
  }
  const units = parse('delta', delta, 'up')
  // An answer may not state a weaker guarantee than its grant was given, nor one that means nothing (docs/dp.md).
  if (units > limit || units >= SCALE.delta) {
    const max = toNumber('delta', limit)
    throw new VeilboxError(
      'VEILBOX_ERR_DP_DELTA_TOO_LARGE',
      `delta ${delta} is above what one answer may use: at most ${max} (the smaller of grant ${grantId}'s delta, ${grantDelta}, and the service's ceiling of ${MAX_ANSWER_DELTA}); ask for a smaller delta or leave it out`,
      { delta, max, grantDelta, ceiling: MAX_ANSWER_DELTA },
    )
  }
  return units
}
