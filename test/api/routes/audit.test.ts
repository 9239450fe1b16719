import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { receiptDigest, signReceipt, verifyReceipt } from '../../../src/engine/receipts.js'
import { GENESIS_HASH, recordHash, rowToRecord, type AuditRow } from '../../../src/store/audit.js'
import type { Param, Sql } from '../../../src/store/sql.js'
import { queryApp, type TestApp } from '../../helpers/app.js'
import { runCli } from '../../helpers/cli.js'

const future = () => new Date(Date.now() + 86_400_000).toISOString()

/**
 * What the offline CLI needs to reach the app's store besides --data-dir:
 * nothing on SQLite; on PostgreSQL the database URL and the sealing secret
 * that opens the signing key kept in it.
 */
function cliEnv(ta: TestApp, env: Record<string, string> = {}): Record<string, string> {
  const { databaseUrl, secret } = ta.config
  return { ...(databaseUrl === null ? {} : { VEILBOX_DATABASE_URL: databaseUrl, VEILBOX_SECRET: secret! }), ...env }
}

t.test('every action leaves exactly one record', async (t) => {
  const qa = await queryApp(t)
  const count = async (action: string) =>
    (await qa.app.db.value<number>('SELECT COUNT(*) FROM audit_log WHERE action = $1', [action]))!
  const before = Object.fromEntries(
    await Promise.all(
      [
        'key.create',
        'key.revoke',
        'dataset.create',
        'dataset.version.create',
        'budget.set',
        'grant.create',
        'grant.revoke',
        'query.release',
        'query.cached',
        'query.reread',
        'query.refused',
      ].map(async (a) => [a, await count(a)]),
    ),
  )
  t.same(before, {
    'key.create': 3,
    'key.revoke': 0,
    'dataset.create': 1,
    'dataset.version.create': 1,
    'budget.set': 1,
    'grant.create': 1,
    'grant.revoke': 0,
    'query.release': 0,
    'query.cached': 0,
    'query.reread': 0,
    'query.refused': 0,
  })
  const step = async (action: string, fn: () => Promise<{ statusCode: number }>, status = 200) => {
    const n = await count(action)
    const res = await fn()
    t.equal(res.statusCode, status, action)
    t.equal(await count(action), n + 1, `${action}: one record`)
  }
  await step(
    'key.create',
    () => qa.call('operator', { method: 'POST', url: '/v1/keys', payload: { role: 'analyst', name: 'bob' } }),
    201,
  )
  let grantId = ''
  await step(
    'grant.create',
    async () => {
      const r = await qa.call('operator', {
        method: 'POST',
        url: '/v1/grants',
        payload: { analyst: 'bob', dataset: qa.dataset, purpose: 'road planning', epsilon: 1, expiresAt: future() },
      })
      grantId = r.json().id
      return r
    },
    201,
  )
  await step('grant.revoke', () => qa.call('operator', { method: 'DELETE', url: `/v1/grants/${grantId}` }))
  await step('key.revoke', () => qa.call('operator', { method: 'DELETE', url: '/v1/keys/bob' }))
  await step('budget.set', () =>
    qa.call('operator', {
      method: 'PUT',
      url: `/v1/datasets/${qa.dataset}/budget`,
      payload: { epsilon: 90, delta: 1e-5 },
    }),
  )
  const body = { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: qa.grant, epsilon: 0.1 }
  let queryId = ''
  await step('query.release', async () => {
    const r = await qa.call('analyst', { method: 'POST', url: '/v1/queries', payload: body })
    queryId = r.json().queryId
    return r
  })
  await step('query.cached', () => qa.call('analyst', { method: 'POST', url: '/v1/queries', payload: body }))
  await step('query.reread', () => qa.call('analyst', { method: 'GET', url: `/v1/queries/${queryId}` }))
  await step(
    'query.refused',
    () =>
      qa.call('analyst', {
        method: 'POST',
        url: '/v1/queries',
        payload: { ...body, sql: 'SELECT * FROM binzhou_households' },
      }),
    400,
  )
  await step(
    'query.refused',
    () => qa.call('analyst', { method: 'POST', url: '/v1/queries', payload: { ...body, epsilon: 100 } }),
    403,
  )
  await step(
    'dataset.create',
    () =>
      qa.call('operator', {
        method: 'POST',
        url: '/v1/datasets',
        payload: {
          id: 'tiny',
          title: 'T',
          classification: 'public',
          privacyUnit: 'u',
          maxRowsPerUnit: 1,
          columns: [{ name: 'u', type: 'id', protection: 'public' }],
        },
      }),
    201,
  )
  await step(
    'dataset.version.create',
    () =>
      qa.call('operator', {
        method: 'POST',
        url: '/v1/datasets/tiny/versions',
        headers: { 'content-type': 'text/csv' },
        payload: 'u\na\nb\n',
      }),
    201,
  )

  const refused = await qa.app.db.all<{ outcome: string; detail: string; grant_id: string; actor: string }>(
    "SELECT * FROM audit_log WHERE action = 'query.refused' ORDER BY seq",
  )
  t.same(
    refused.map((r) => r.outcome),
    ['VEILBOX_ERR_QUERY_NOT_AGGREGATE', 'VEILBOX_ERR_BUDGET_EXHAUSTED'],
  )
  t.match(JSON.parse(refused[1]!.detail).reason, /costs epsilon 100/, 'the reason is kept')
  t.equal(refused[0]!.grant_id, qa.grant)
  t.equal(refused[0]!.actor, 'alice')
})

t.test('GET /v1/audit filters and pages; GET /v1/audit/verify says the chain holds', async (t) => {
  const qa = await queryApp(t)
  for (let i = 0; i < 3; i++) {
    await qa.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: { sql: `SELECT COUNT(*) FROM binzhou_households WHERE age > ${30 + i}`, grant: qa.grant, epsilon: 0.1 },
    })
  }
  const all = (await qa.call('operator', { method: 'GET', url: '/v1/audit?limit=1000' })).json()
  t.equal(all.next, null)
  t.same(
    all.records.map((r: { seq: number }) => r.seq),
    all.records.map((_: unknown, i: number) => i + 1),
  )
  const releases = (await qa.call('operator', { method: 'GET', url: '/v1/audit?action=query.release' })).json().records
  t.equal(releases.length, 3)
  for (const r of releases) {
    t.match(r, {
      actor: { principal: 'alice', role: 'analyst' },
      dataset: qa.dataset,
      version: 1,
      grant: qa.grant,
      purpose: 'test: household statistics',
      charged: { epsilon: '0.1', delta: '0' },
      outcome: 'ok',
    })
    t.match(r.queryHash, /^[0-9a-f]{64}$/)
  }
  t.equal(
    (await qa.call('operator', { method: 'GET', url: '/v1/audit?action=query' })).json().records.length,
    3,
    'an action prefix matches',
  )
  t.equal((await qa.call('operator', { method: 'GET', url: '/v1/audit?actor=alice' })).json().records.length, 3)
  t.equal(
    (await qa.call('operator', { method: 'GET', url: `/v1/audit?dataset=${qa.dataset}&action=budget.set` })).json()
      .records.length,
    1,
  )
  const future = (
    await qa.call('operator', {
      method: 'GET',
      url: `/v1/audit?from=${encodeURIComponent(new Date(Date.now() + 3600_000).toISOString())}`,
    })
  ).json()
  t.same(future.records, [])
  // Pages of 4 walk the whole chain once.
  const seen: number[] = []
  let after = 0
  for (;;) {
    const page = (await qa.call('operator', { method: 'GET', url: `/v1/audit?limit=4&after=${after}` })).json()
    seen.push(...page.records.map((r: { seq: number }) => r.seq))
    if (page.next === null) break
    after = page.next
  }
  t.same(
    seen,
    all.records.map((r: { seq: number }) => r.seq),
  )
  const verify = (await qa.call('operator', { method: 'GET', url: '/v1/audit/verify' })).json()
  t.match(verify, { ok: true, records: all.records.length, head: { seq: all.records.length } })
  t.equal((await qa.call('analyst', { method: 'GET', url: '/v1/audit' })).statusCode, 403)
})

t.test('tampering with the database file is detected by the API and by the offline CLI', async (t) => {
  const qa = await queryApp(t)
  await qa.call('analyst', {
    method: 'POST',
    url: '/v1/queries',
    payload: { sql: 'SELECT COUNT(*) FROM binzhou_households', grant: qa.grant, epsilon: 0.5 },
  })
  const head = (await runCli(['audit', 'head', '--data-dir', qa.dataDir], cliEnv(qa))).stdout
  const { seq, hash, signature, keyId } = JSON.parse(head) as {
    seq: number
    hash: string
    signature: string
    keyId: string
  }
  t.ok(seq > 5)
  t.match(signature, /^[A-Za-z0-9+/]+=*$/, 'the head comes signed')
  t.equal(keyId, qa.app.signingKey.keyId)
  const ok = await runCli(['audit', 'verify', '--data-dir', qa.dataDir, '--head', hash], cliEnv(qa))
  t.equal(ok.code, 0, ok.stdout + ok.stderr)
  t.match(ok.stdout, new RegExp(`^ok: ${seq} records`))

  // Someone lowers the recorded charge of the release.
  await qa.app.db.run("UPDATE audit_log SET charged_epsilon = '0.05' WHERE action = 'query.release'")
  const releaseSeq = (await qa.app.db.value<number>("SELECT seq FROM audit_log WHERE action = 'query.release'"))!
  const api = (await qa.call('operator', { method: 'GET', url: '/v1/audit/verify' })).json()
  t.match(api, { ok: false, badSeq: releaseSeq })
  const cli = await runCli(['audit', 'verify', '--data-dir', qa.dataDir], cliEnv(qa))
  t.equal(cli.code, 1)
  t.match(cli.stdout, new RegExp(`BROKEN: record ${releaseSeq}: hash does not match`))
  await qa.app.db.run("UPDATE audit_log SET charged_epsilon = '0.5' WHERE action = 'query.release'")

  // Someone deletes the last records: the signed head at that position is gone, so it shows.
  await qa.app.db.run('DELETE FROM audit_log WHERE seq > $1', [seq - 2])
  const cutNoHead = await runCli(['audit', 'verify', '--data-dir', qa.dataDir], cliEnv(qa))
  t.equal(cutNoHead.code, 1)
  t.match(cutNoHead.stdout, new RegExp(`record ${seq}, signed as a head, is gone`))
  const cut = await runCli(['audit', 'verify', '--data-dir', qa.dataDir, '--head', hash], cliEnv(qa))
  t.equal(cut.code, 1)
  t.match(cut.stdout, /published head is not in the chain/)
  t.match((await qa.call('operator', { method: 'GET', url: `/v1/audit/verify?head=${hash}` })).json(), {
    ok: false,
    badSeq: seq - 1,
  })
  await qa.app.db.run('DELETE FROM audit_heads')
  // The teardown checks every test's chain; an empty one holds, a cut one would not.
  await qa.app.db.run('DELETE FROM audit_log')
  t.pass('cleared')
})

t.test('receipts verify offline with only the published key; any change is caught', async (t) => {
  const qa = await queryApp(t)
  const answer = (
    await qa.call('analyst', {
      method: 'POST',
      url: '/v1/queries',
      payload: {
        sql: 'SELECT district, AVG(income) FROM binzhou_households GROUP BY district',
        grant: qa.grant,
        epsilon: 0.4,
      },
    })
  ).json()
  const keys = await qa.call(null, { method: 'GET', url: '/v1/receipts/keys' })
  t.equal(keys.statusCode, 200, 'no key needed to read the public keys')
  const { publicKey, keyId, algorithm } = keys.json().keys[0]
  t.equal(algorithm, 'Ed25519')
  const r = answer.receipt
  t.match(r, {
    queryId: answer.queryId,
    dataset: qa.dataset,
    version: 1,
    datasetCommitment: answer.datasetCommitment,
    queryHash: answer.queryHash,
    keyId,
  })
  const release = (await qa.app.db.get<{ record_id: string; detail: string }>(
    "SELECT record_id, detail FROM audit_log WHERE action = 'query.release'",
  ))!
  t.equal(r.auditRecord, release.record_id, 'the receipt names its release record by its opaque id')
  t.match(r.auditRecord, /^a_[0-9a-f]{32}$/)
  t.equal(JSON.parse(release.detail).receipt, receiptDigest(r), "the release record carries the receipt's digest")
  t.same(verifyReceipt(r, publicKey, answer), { ok: true })

  const tampered: [string, unknown][] = [
    ['queryId', `q_${'0'.repeat(24)}`],
    ['dataset', 'other'],
    ['version', 2],
    ['datasetCommitment', '0'.repeat(64)],
    ['queryHash', '1'.repeat(64)],
    ['resultHash', '2'.repeat(64)],
    ['privacy', { ...r.privacy, epsilon: 0.01 }],
    ['time', '2020-01-01T00:00:00.000Z'],
    ['auditRecord', `a_${'0'.repeat(32)}`],
    ['signature', Buffer.alloc(64).toString('base64')],
  ]
  for (const [field, value] of tampered)
    t.equal(verifyReceipt({ ...r, [field]: value }, publicKey).ok, false, `changed ${field}`)
  const altered = {
    ...answer,
    rows: answer.rows.map((row: unknown[], i: number) => (i === 0 ? [row[0], (row[1] as number) + 1] : row)),
  }
  t.match(verifyReceipt(r, publicKey, altered), { ok: false, problem: /answer does not match/ })
  t.match(verifyReceipt({ ...r, keyId: 'ffffffffffffffff' }, publicKey), { ok: false, problem: /signed with key/ })

  // Against the chain (operators, or an auditor with a copy): the record the receipt names carries its digest.
  const inChain = await qa.call('operator', {
    method: 'POST',
    url: '/v1/audit/receipts/verify',
    payload: { receipt: r },
  })
  t.equal(inChain.statusCode, 200, inChain.body)
  t.match(inChain.json(), { ok: true, signature: true, record: { id: r.auditRecord }, chain: { ok: true } })
  t.equal(
    (await qa.call('analyst', { method: 'POST', url: '/v1/audit/receipts/verify', payload: { receipt: r } }))
      .statusCode,
    403,
    'operators only',
  )
  // A receipt the service signed but that names another record, or a record whose digest differs: not in the chain.
  const other = (await qa.app.db.value<string>(
    "SELECT record_id FROM audit_log WHERE action <> 'query.release' AND record_id IS NOT NULL LIMIT 1",
  ))!
  const { signature: _sig, ...unsigned } = r
  const misnamed = signReceipt({ ...unsigned, auditRecord: other }, qa.app.signingKey.privateKey)
  t.match(
    (
      await qa.call('operator', { method: 'POST', url: '/v1/audit/receipts/verify', payload: { receipt: misnamed } })
    ).json(),
    { ok: false, signature: true, problem: /not a query.release/ },
  )
  const reworded = signReceipt({ ...unsigned, time: '2020-01-01T00:00:00.000Z' }, qa.app.signingKey.privateKey)
  t.match(
    (
      await qa.call('operator', { method: 'POST', url: '/v1/audit/receipts/verify', payload: { receipt: reworded } })
    ).json(),
    { ok: false, signature: true, problem: /digest does not match/ },
  )
  const unknown = signReceipt({ ...unsigned, auditRecord: `a_${'f'.repeat(32)}` }, qa.app.signingKey.privateKey)
  t.match(
    (
      await qa.call('operator', { method: 'POST', url: '/v1/audit/receipts/verify', payload: { receipt: unknown } })
    ).json(),
    { ok: false, record: null, problem: /no audit record/ },
  )

  // Offline, with the CLI and only the public key.
  const dir = fs.mkdtempSync(path.join(qa.dataDir, 'receipts-'))
  const files = {
    answer: path.join(dir, 'answer.json'),
    receipt: path.join(dir, 'receipt.json'),
    keys: path.join(dir, 'keys.json'),
    pem: path.join(dir, 'key.pem'),
    altered: path.join(dir, 'altered.json'),
    forged: path.join(dir, 'forged.json'),
  }
  fs.writeFileSync(files.answer, JSON.stringify(answer))
  fs.writeFileSync(files.receipt, JSON.stringify(r))
  fs.writeFileSync(files.keys, keys.body)
  fs.writeFileSync(files.pem, publicKey)
  fs.writeFileSync(files.altered, JSON.stringify(altered))
  fs.writeFileSync(files.forged, JSON.stringify({ ...r, privacy: { ...r.privacy, epsilon: 0.01 } }))
  const good = await runCli(['receipt', 'verify', files.receipt, '--result', files.answer, '--public-key', files.keys])
  t.equal(good.code, 0, good.stdout + good.stderr)
  t.match(good.stdout, /^ok: receipt q_[0-9a-f]{24} signed by key [0-9a-f]{16}; the answer matches it/)
  t.equal(
    (await runCli(['receipt', 'verify', files.answer, '--public-key', files.pem])).code,
    0,
    'a whole answer file carries its receipt',
  )
  const bad = await runCli(['receipt', 'verify', files.receipt, '--result', files.altered, '--public-key', files.pem])
  t.equal(bad.code, 1)
  t.match(bad.stdout, /INVALID: the answer does not match/)
  const forged = await runCli(['receipt', 'verify', files.forged, '--public-key', files.pem])
  t.equal(forged.code, 1)
  t.match(forged.stdout, /INVALID: the signature does not match/)
  const stored = (await qa.call('analyst', { method: 'GET', url: `/v1/queries/${answer.queryId}` })).json()
  t.same(stored.receipt, r, 'a re-read carries the same receipt')
  const keyFile = path.join(qa.dataDir, 'receipt-signing-key.pem')
  if (qa.config.databaseUrl === null) t.equal(fs.statSync(keyFile).mode & 0o777, 0o600)
  else {
    // PostgreSQL: every node shares the key, kept in the database sealed under the cluster's secret; no file.
    t.notOk(fs.existsSync(keyFile), 'no signing key file in the data directory')
    const sealed = await qa.app.db.value<Buffer>("SELECT sealed FROM service_keys WHERE name = 'receipt-signing-key'")
    t.ok(Buffer.isBuffer(sealed) && sealed.length > 0, 'the key is stored in the database')
    t.equal(sealed!.indexOf('PRIVATE KEY'), -1, 'sealed: the database holds no readable private key')
  }
})

t.test('usage views come from the chain and agree with the ledgers', async (t) => {
  const qa = await queryApp(t)
  const run = (sql: string, epsilon: number, mechanism = 'laplace') =>
    qa.call('analyst', { method: 'POST', url: '/v1/queries', payload: { sql, grant: qa.grant, epsilon, mechanism } })
  await run('SELECT COUNT(*) FROM binzhou_households', 0.3)
  await run('SELECT COUNT(*) FROM binzhou_households', 0.3) // cached
  await run('SELECT SUM(age) FROM binzhou_households', 0.2)
  await run('SELECT AVG(age) FROM binzhou_households', 0.5, 'gaussian')
  await run('SELECT * FROM binzhou_households', 0.1)
  const me = (await qa.call('analyst', { method: 'GET', url: '/v1/me/usage' })).json()
  t.equal(me.analyst, 'alice')
  t.equal(me.grants.length, 1)
  const g = me.grants[0]
  t.match(g, {
    id: qa.grant,
    purpose: 'test: household statistics',
    status: 'active',
    queries: { released: 3, cached: 1, refused: 1 },
  })
  t.ok(g.expiresAt)
  t.same(me.queries, { released: 3, cached: 1, refused: 1 })
  const grant = (await qa.call('analyst', { method: 'GET', url: `/v1/grants/${qa.grant}` })).json()
  t.same(g.budget, grant.budget)

  const usage = (await qa.call('operator', { method: 'GET', url: `/v1/datasets/${qa.dataset}/usage` })).json()
  t.equal(usage.byGrant.length, 1)
  t.match(usage.byGrant[0], { grant: qa.grant, analyst: 'alice', purpose: 'test: household statistics', queries: 3 })
  t.equal(
    Math.round(usage.byGrant[0].epsilon * 1e6),
    Math.round(grant.budget.epsilon.spent * 1e6),
    'the chain sums to what the grant spent',
  )
  const ds = (await qa.call('operator', { method: 'GET', url: `/v1/datasets/${qa.dataset}/budget` })).json()
  t.equal(
    Math.round(usage.byGrant[0].datasetEpsilon * 1e6),
    Math.round(ds.epsilon.spent * 1e6),
    'and to what the dataset spent',
  )
  t.equal(usage.byPurpose[0].purpose, 'test: household statistics')
  t.match(usage.timeline[0].day, /^\d{4}-\d\d-\d\d$/)
  t.equal((await qa.call('analyst', { method: 'GET', url: `/v1/datasets/${qa.dataset}/usage` })).statusCode, 403)
})

/**
 * What someone with write access to the database but not the key can do:
 * recompute every hash, and move the chain's head row to the new last hash.
 */
async function rehash(db: Sql): Promise<void> {
  await db.transaction(async (tx) => {
    let prev = GENESIS_HASH
    let last: { seq: number; hash: string } | null = null
    const rows = await tx.all<AuditRow>(
      `SELECT record_id, seq, time, actor, role, action, dataset, version, grant_id, purpose, query_hash, charged_epsilon, charged_delta, outcome, detail,
         ${tx.hashColumn('prev_hash')} AS prev_hash, ${tx.hashColumn('hash')} AS hash FROM audit_log ORDER BY seq`,
    )
    for (const row of rows) {
      const { hash: _old, ...rest } = rowToRecord({ ...row, prev_hash: prev })
      const hash = recordHash(rest)
      await tx.run('UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE seq = $3', [
        tx.hashParam(prev),
        tx.hashParam(hash),
        row.seq,
      ])
      prev = hash
      last = { seq: row.seq, hash }
    }
    if (last !== null)
      await tx.run('UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE id = 1', [last.seq, tx.hashParam(last.hash)])
  })
}

t.test(
  'finding 14: a rewritten charge with every later hash recomputed fails on the signed head; ledgers and answers are checked against the chain',
  async (t) => {
    const qa = await queryApp(t)
    const ask = (i: number) =>
      qa.call('analyst', {
        method: 'POST',
        url: '/v1/queries',
        payload: {
          sql: `SELECT COUNT(*) FROM binzhou_households WHERE age > ${30 + i}`,
          grant: qa.grant,
          epsilon: 0.5,
        },
      })
    for (let i = 0; i < 3; i++) t.equal((await ask(i)).statusCode, 200)
    t.equal((await runCli(['audit', 'head', '--data-dir', qa.dataDir], cliEnv(qa))).code, 0)
    const verify = () => runCli(['audit', 'verify', '--data-dir', qa.dataDir], cliEnv(qa))
    const clean = await verify()
    t.equal(clean.code, 0, clean.stdout + clean.stderr)
    t.match(clean.stdout, /1 grant and 1 dataset ledgers and 3 answers agree with the chain/)
    t.match((await qa.call('operator', { method: 'GET', url: '/v1/audit/verify' })).json(), {
      ok: true,
      ledgers: { ok: true, answers: 3 },
      signedHeads: { count: 1, unsignedTail: 0 },
    })
    const db = qa.app.db
    // Rows as stored (hashes as text on SQLite, bytea on PostgreSQL), written back as they were read.
    const snapshot = {
      log: await db.all<Record<string, Param>>('SELECT * FROM audit_log ORDER BY seq'),
      head: (await db.get<Record<string, Param>>('SELECT seq, hash FROM audit_chain_head WHERE id = 1'))!,
      grant: (await db.value<number>('SELECT epsilon_spent FROM grants'))!,
    }
    const restore = () =>
      db.transaction(async (tx) => {
        await tx.run('DELETE FROM audit_log')
        const cols = Object.keys(snapshot.log[0]!)
        for (const r of snapshot.log)
          await tx.run(
            `INSERT INTO audit_log (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
            cols.map((c) => r[c]!),
          )
        await tx.run('UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE id = 1', [
          snapshot.head.seq!,
          snapshot.head.hash!,
        ])
        await tx.run('UPDATE grants SET epsilon_spent = $1', [snapshot.grant])
      })

    // 1. A charge lowered and every later hash recomputed: the hash links hold, the signed head does not.
    await db.run(
      "UPDATE audit_log SET charged_epsilon = '0.05' WHERE seq = (SELECT MIN(seq) FROM audit_log WHERE action = 'query.release')",
    )
    await db.run('UPDATE grants SET epsilon_spent = epsilon_spent - 450000')
    await rehash(db)
    const rewritten = await verify()
    t.equal(rewritten.code, 1)
    t.match(rewritten.stdout, /no longer has the hash signed for it: records up to it were rewritten/)
    await restore()
    t.equal((await verify()).code, 0, 'restored')

    // 2. A ledger reset by hand: the chain's charges no longer add up to it.
    await db.run('UPDATE grants SET epsilon_spent = 0')
    const reset = await verify()
    t.equal(reset.code, 1)
    t.match(
      reset.stdout,
      new RegExp(
        `grant ${qa.grant}: spent epsilon 0 and delta 0 \\(units\\), but its charges in the chain add up to 1500000 and 0`,
      ),
    )
    t.match((await qa.call('operator', { method: 'GET', url: '/v1/audit/verify' })).json(), {
      ok: false,
      ledgers: { ok: false, problems: [{ scope: 'grant', id: qa.grant }] },
    })
    await restore()

    // 3. An answer slipped into the answers table has no release record.
    await db.run(
      "INSERT INTO answers (query_id, grant_id, analyst, dataset_id, version, cache_key, query_hash, body, epsilon_micro, delta_femto, created_at) SELECT 'q_ffffffffffffffffffffffff', grant_id, analyst, dataset_id, version, 'forged', query_hash, body, 0, 0, created_at FROM answers LIMIT 1",
    )
    const forged = await verify()
    t.equal(forged.code, 1)
    t.match(forged.stdout, /answer q_ffffffffffffffffffffffff: the stored answer has no query.release record/)
    await db.run("DELETE FROM answers WHERE query_id = 'q_ffffffffffffffffffffffff'")

    // 4. The signatures removed: records older than two signing intervals with no signed head over them.
    await db.run('DELETE FROM audit_heads')
    await new Promise((r) => setTimeout(r, 2200))
    t.equal((await ask(9)).statusCode, 200)
    const unsigned = await runCli(
      ['audit', 'verify', '--data-dir', qa.dataDir],
      cliEnv(qa, { VEILBOX_AUDIT_SIGN_INTERVAL_MS: '1000' }),
    )
    t.equal(unsigned.code, 1)
    t.match(unsigned.stdout, /no signed head covers it: signed heads were removed/)
    t.equal((await runCli(['audit', 'head', '--data-dir', qa.dataDir], cliEnv(qa))).code, 0)
    t.equal(
      (
        await runCli(
          ['audit', 'verify', '--data-dir', qa.dataDir],
          cliEnv(qa, { VEILBOX_AUDIT_SIGN_INTERVAL_MS: '1000' }),
        )
      ).code,
      0,
      'signed again: whole',
    )
  },
)
