import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const RESULTS_DIR = path.join(ROOT, 'benchmarks', 'results')

export function envInt(name: string, fallback: number, min = 1): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw.replace(/_/g, ''))
  if (!Number.isSafeInteger(n) || n < min)
    throw new Error(`${name} must be a whole number of at least ${min}, got ${raw}`)
  return n
}

/**
 * A CPU list for taskset ("0-3", "0,2,4-5") from an environment variable, or
 * null when it is unset. Checked against the CPUs this machine has, so a typo
 * fails before anything starts.
 */
export function envCpus(name: string, cpus = os.cpus().length): string | null {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return null
  const list = raw.replace(/\s+/g, '')
  const bad = (why: string) =>
    new Error(
      `${name} must be a CPU list such as 0-3 or 0,2,4-5 (this machine has CPUs 0-${cpus - 1}); ${why}, in ${JSON.stringify(raw)}`,
    )
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(list)) throw bad('it is not one')
  for (const [first, last] of ranges(list)) {
    if (last < first) throw bad(`the range ${first}-${last} runs backwards`)
    if (last >= cpus) throw bad(`CPU ${last} does not exist`)
  }
  return list
}

const NO_TASKSET =
  'pinning to CPUs needs taskset (Debian and Ubuntu: the util-linux package); install it, or unset SERVER_CPUS and CLIENT_CPUS'

/** `command args`, run on `cpus` only when given (taskset sets the affinity, then becomes the command: same pid). */
export function pinnedCommand(cpus: string | null, command: string, args: readonly string[]): [string, string[]] {
  if (cpus === null) return [command, [...args]]
  if (spawnSync('taskset', ['--version'], { stdio: 'ignore' }).error) throw new Error(NO_TASKSET)
  return ['taskset', ['--cpu-list', cpus, command, ...args]]
}

/** Moves every thread of a running process (and the threads it starts later) onto `cpus`. */
export function pinProcess(pid: number, cpus: string): void {
  const r = spawnSync('taskset', ['--all-tasks', '--cpu-list', '--pid', cpus, String(pid)], { encoding: 'utf8' })
  if (r.error)
    throw new Error(
      (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? NO_TASKSET : `taskset failed: ${r.error.message}`,
    )
  // With --all-tasks, taskset succeeds on a process that does not exist (it has no tasks to move): check the result.
  const now = allowedCpus(pid)
  if (r.status !== 0 || now === null || !sameCpus(now, cpus)) {
    throw new Error(
      `taskset could not move process ${pid} onto CPUs ${cpus}: ${r.stderr.trim() || (now === null ? 'no such process' : `it runs on CPUs ${now}`)}`,
    )
  }
}

function sameCpus(a: string, b: string): boolean {
  return expandCpus(a).join(',') === expandCpus(b).join(',')
}

/** The CPUs a CPU list names, each once, in ascending order ("3,0-1" is [0, 1, 3]). */
export function expandCpus(list: string): number[] {
  const all = ranges(list).flatMap(([first, last]) => Array.from({ length: last - first + 1 }, (_, i) => first + i))
  return [...new Set(all)].sort((x, y) => x - y)
}

/** A CPU list's parts as [first, last] ("0-3,5" is [[0, 3], [5, 5]]). */
function ranges(list: string): [number, number][] {
  return list.split(',').map((part) => {
    const [first, last = first] = part.split('-').map(Number) as [number, number?]
    return [first, last]
  })
}

/** The CPUs a process may run on, as Linux lists them (Cpus_allowed_list), or null without /proc. */
export function allowedCpus(pid: number): string | null {
  try {
    return /^Cpus_allowed_list:\s*(\S+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? null
  } catch {
    return null
  }
}

export function machine() {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    date: new Date().toISOString(),
  }
}

export function writeResult(name: string, result: unknown): string {
  fs.mkdirSync(RESULTS_DIR, { recursive: true })
  const file = path.join(RESULTS_DIR, `${name}.json`)
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`)
  return file
}

/** Resident memory of a process from /proc (Linux): current and peak (high-water mark), in bytes. */
export function processMemory(pid: number): { rss: number; peakRss: number } | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024
    return { rss: kb('VmRSS'), peakRss: kb('VmHWM') }
  } catch {
    return null
  }
}

/**
 * CPU time a process has used so far, all its threads, user plus system, in
 * seconds, from /proc (Linux; null elsewhere). Clock ticks are USER_HZ, which
 * Linux fixes at 100 for user space.
 */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name may hold spaces and parentheses: fields are counted after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return null
  }
}

/** The machine's CPU time so far, all cores (ticks of /proc/stat; Linux, null elsewhere). */
export interface SystemCpu {
  readonly total: number
  /** Time the hypervisor ran something else while this machine wanted to run (a virtual machine's host was busy). */
  readonly steal: number
}

export function systemCpu(): SystemCpu | null {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!
    // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user)
    const f = line.trim().split(/\s+/).slice(1, 9).map(Number)
    if (f.length < 8 || f.some((v) => !Number.isFinite(v))) return null
    return { total: f.reduce((a, b) => a + b, 0), steal: f[7]! }
  } catch {
    return null
  }
}

/** The share of the machine's CPU time the hypervisor took between two readings, in percent (null without /proc/stat). */
export function stealPercent(before: SystemCpu | null, after: SystemCpu | null): number | null {
  if (before === null || after === null || after.total <= before.total) return null
  return Number(((100 * (after.steal - before.steal)) / (after.total - before.total)).toFixed(1))
}

export interface ServerProcess {
  readonly child: ChildProcess
  readonly url: string
  readonly dataDir: string
  stop(): Promise<void>
}

/** The URL a server process prints ("listening on http://..."), or the exit it made instead. */
export function listeningUrl(child: ChildProcess, exited: (code: number | null) => string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m) resolve(m[1]!)
    })
    child.on('exit', (code) => reject(new Error(exited(code))))
  })
}

/**
 * Starts a real veilbox server as its own process on an ephemeral port (or
 * `port`), with a fresh data directory unless one is given. `from: 'dist'`
 * runs the compiled CLI, as `npm start` does (benchmarks build first); the
 * default runs the sources through tsx, so tests never meet a stale build.
 * `databaseUrl` keeps the durable state in that PostgreSQL database
 * (`serve --database-url`) instead of SQLite in the data directory; the data
 * directory still holds the node's own files.
 */
export async function startServerProcess(
  options: {
    demo?: boolean
    env?: Record<string, string>
    dataDir?: string
    keepDataDir?: boolean
    from?: 'src' | 'dist'
    cpus?: string | null
    databaseUrl?: string
    port?: number
    /** Options for node itself, before the script (--cpu-prof, ...). */
    nodeArgs?: readonly string[]
  } = {},
): Promise<ServerProcess> {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'veilbox-bench-'))
  const args =
    options.from === 'dist'
      ? [path.join(ROOT, 'bin', 'veilbox.js')]
      : ['--import', 'tsx', path.join(ROOT, 'test', 'helpers', 'cli-entry.ts')]
  // Each server gets a custodian key directory of its own, beside (never inside) its data directory.
  const custodianDir = `${dataDir}-custodian`
  const [command, argv] = pinnedCommand(options.cpus ?? null, process.execPath, [
    ...(options.nodeArgs ?? []),
    ...args,
    'serve',
    ...(options.demo ? ['--demo'] : []),
    '--port',
    String(options.port ?? 0),
    '--data-dir',
    dataDir,
    ...(options.databaseUrl === undefined ? [] : ['--database-url', options.databaseUrl]),
  ])
  const child = spawn(command, argv, {
    env: {
      ...process.env,
      VEILBOX_LOG_LEVEL: 'warn',
      VEILBOX_RATE_LIMIT: '10000000',
      VEILBOX_CUSTODIAN_DIR: custodianDir,
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const url = await listeningUrl(child, (code) => `server exited with ${code}: ${stderr}`)
  return {
    child,
    url,
    dataDir,
    stop: async () => {
      // A child killed by a signal (kill -9 in the fault and cluster tests) has no exit code, only a signal code.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGTERM')
        await exited
      }
      if (!options.keepDataDir && !options.dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
      if (!options.env?.VEILBOX_CUSTODIAN_DIR) fs.rmSync(custodianDir, { recursive: true, force: true })
    },
  }
}

/** One JSON API call with a bearer key; throws with the status and the start of the body unless it is 2xx. */
export async function api<T>(
  base: string,
  key: string,
  method: string,
  route: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<T> {
  const res = await fetch(new URL(route, base), {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': contentType }) },
    ...(body === undefined
      ? {}
      : {
          body: typeof body === 'string' || body instanceof ReadableStream ? body : JSON.stringify(body),
          duplex: 'half',
        }),
  } as RequestInit)
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${text.slice(0, 300)}`)
  return JSON.parse(text) as T
}

/** Prints a small aligned table. */
export function table(rows: Record<string, string | number>[]): string {
  if (rows.length === 0) return ''
  const cols = Object.keys(rows[0]!)
  const cell = (v: string | number) =>
    typeof v === 'number' ? v.toLocaleString('en-US', { maximumFractionDigits: 2 }) : v
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(cell(r[c] ?? '')).length)))
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ')
  return [
    line(cols),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map((r) => line(cols.map((c) => String(cell(r[c] ?? ''))))),
  ].join('\n')
}

export * from './lib-goals.js'
export * from './lib-healthz.js'
