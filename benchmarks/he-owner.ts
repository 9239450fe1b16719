import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { columnPlan, type HeProfile } from '../src/engine/he/profile.js'
import { mod, toUnits } from '../src/engine/he/units.js'
import type { ReferenceBatch } from './he-reference.js'
import { processCpuSeconds, processMemory, ROOT } from './lib.js'

/**
 * The data owner's side of bench:he: the slot arrays the bare node-seal
 * reference encrypts (he-reference.ts), and `veilbox encrypt` run as its
 * users run it, the built command in a process of its own.
 */

/**
 * The full batches of one BFV column as SEAL's batch encoder takes them, as
 * veilbox's owner encodes them: the values' fixed-point units (signed), and
 * for each square context the squares modulo its t. Made before the clock
 * starts: the reference is encoding and encryption alone.
 */
export function referenceBatches(profile: HeProfile, column: string, values: ArrayLike<number>): ReferenceBatch[] {
  const plan = columnPlan(profile, column)
  const slots = profile.contexts[plan.sumContexts[0]!]!.polyModulusDegree
  const out: ReferenceBatch[] = []
  for (let start = 0; start < values.length; start += slots) {
    const units = Array.from({ length: slots }, (_, i) =>
      start + i < values.length ? toUnits(values[start + i]!, plan.scale) : 0n,
    )
    for (const c of plan.sumContexts) out.push({ context: c, slots: Int32Array.from(units, Number) })
    for (const c of plan.squareContexts ?? []) {
      const p = profile.contexts[c]!
      if (p.scheme !== 'bfv') throw new Error('the reference batches are BFV')
      out.push({ context: c, slots: BigUint64Array.from(units, (u) => mod(u * u, p.plainModulus)) })
    }
  }
  return out
}

export interface CliRun {
  /** Wall time from spawn to exit: node's start, loading the command, reading, encrypting, writing. */
  readonly ms: number
  /** CPU time of every thread of the process, seconds, to its last reading (every 20 ms; null off Linux). */
  readonly cpuSeconds: number | null
  /** Peak resident memory of all its threads, bytes (VmHWM, read every 20 ms; null off Linux). */
  readonly peakRss: number | null
  readonly stdout: string
}

/** `veilbox encrypt` from the build (dist/), as a user runs it. */
export async function runEncryptCli(args: {
  keysDir: string
  dataset: string
  input: string
  output: string
  workers?: number
}): Promise<CliRun> {
  const bin = path.join(ROOT, 'bin', 'veilbox.js')
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js')))
    throw new Error('bench:he runs the built veilbox encrypt: run npm run build first (npm run bench:he does)')
  const argv = [
    bin,
    'encrypt',
    '--dataset',
    args.dataset,
    '--keys',
    args.keysDir,
    args.input,
    '-o',
    args.output,
    '--no-progress',
    ...(args.workers === undefined ? [] : ['--workers', String(args.workers)]),
  ]
  const started = performance.now()
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  let peakRss: number | null = null
  let cpuSeconds: number | null = null
  const poll = setInterval(() => {
    const m = processMemory(child.pid!)
    // A process that has exited (a zombie) reads as 0: keep the highest reading.
    if (m !== null && m.peakRss > (peakRss ?? 0)) peakRss = m.peakRss
    const cpu = processCpuSeconds(child.pid!)
    if (cpu !== null && cpu > (cpuSeconds ?? 0)) cpuSeconds = cpu
  }, 20)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (c) => resolve(c))
  })
  const ms = performance.now() - started
  clearInterval(poll)
  if (code !== 0) throw new Error(`veilbox encrypt exited with ${code}: ${stderr.trim()}`)
  return { ms, cpuSeconds, peakRss, stdout }
}
