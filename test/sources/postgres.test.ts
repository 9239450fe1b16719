/**
 * The PostgreSQL source engine on its own, against a real server: read-only
 * sessions, the statement timeout enforced by the server, the bounded queue,
 * and failures that name the connection, never its URL or password.
 */
import t from 'tap'
import { PostgresSource, SourceError } from '../../src/sources/index.js'
import { startPostgres } from '../helpers/pg.js'

const RUN = { timeoutMs: 10_000 }

t.test('read-only sessions, timeouts, a bounded queue, and no credentials in any error', async (t) => {
  const cluster = await startPostgres(t)
  const url = await cluster.createDatabase('src')
  const source = new PostgresSource({ name: 'bureau', url, poolSize: 1, queueMax: 1 })
  t.teardown(() => source.close())

  t.same(await source.run('SELECT $1::int + 1', [41], RUN), [[42]], 'a statement with a bound value')
  const write = await source.run('CREATE TABLE x (a int)', [], RUN).catch((e: unknown) => e)
  t.ok(write instanceof SourceError && write.kind === 'refused', 'a write is refused by the read-only session')
  t.match((write as Error).message, /read-only transaction/)

  const slow = await source.run('SELECT pg_sleep(5)', [], { timeoutMs: 200 }).catch((e: unknown) => e)
  t.ok(slow instanceof SourceError && slow.kind === 'timeout', 'the server cancels a statement past its timeout')

  // One connection, one waiting: a third statement is refused at once.
  const settle = (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (e: unknown) => (e instanceof SourceError ? e.kind : String(e)),
    )
  const pause = (ms: number) => new Promise((ok) => setTimeout(ok, ms))
  const running = settle(source.run('SELECT pg_sleep(1)', [], RUN))
  await pause(300)
  const waiting = settle(source.run('SELECT 1', [], RUN))
  await pause(100)
  t.equal(await settle(source.run('SELECT 2', [], RUN)), 'busy', 'past the queue, busy at once')
  t.same(await Promise.all([running, waiting]), ['ok', 'ok'], 'the running and the waiting statement finish')

  const password = 'Sup3r-secret-pw'
  const wrong = new PostgresSource({
    name: 'nowhere',
    url: `postgres://reader:${password}@/nodb?host=${encodeURIComponent(cluster.socketDir)}&port=${cluster.port + 1}`,
    poolSize: 1,
  })
  t.teardown(() => wrong.close())
  const down = await wrong.run('SELECT 1', [], RUN).catch((e: unknown) => e)
  t.ok(down instanceof SourceError && down.kind === 'unavailable', 'an unreachable server is unavailable')
  t.match((down as Error).message, /source "nowhere"/)
  t.notMatch(
    (down as Error).message,
    new RegExp(`${password}|reader|nodb|${cluster.socketDir}`),
    'no credentials, host or database named',
  )
})
