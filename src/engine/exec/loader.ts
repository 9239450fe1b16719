import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { readSwitch } from '../../config/switch.js'
import { VeilboxError, isVeilboxError } from '../../errors/index.js'
import { tsKernel, type Kernel } from './kernel.js'
import { tsLoops, type Loops } from './loops.js'
import { selfCheckLoops } from './loops-check.js'
import { asNativeBinding, createNativeKernel, createNativeLoops, type NativeInfo } from './native.js'
import { pow2, quantumFor } from './quantum.js'
import type { AggregateRequest, AggregateResult, CodeArray, Measure, NumericColumn } from './types.js'
import { mulberry32 } from '../mulberry32.js'

/**
 * Picks the aggregate kernel a process (or a worker thread) runs: the native
 * addon when it loads and passes a self-check against the TypeScript kernel,
 * else the TypeScript kernel, with the reason. Never throws: a missing or
 * broken addon costs speed, not service. The choice carries the loops that
 * build requests (loops.ts) too: the addon's when its kernel is chosen (they
 * pass their own self-check against the TypeScript loops first), else the
 * TypeScript ones.
 *
 *   const choice = loadKernel({ native: config.native })
 *   log.info(kernelReport(choice), 'aggregate kernel')   // and /healthz
 *   choice.kernel.aggregate(buildAggregateRequest(task, columns, choice.loops))
 *
 * VEILBOX_NATIVE=0 (or false, off, no, in any case: src/config/switch.ts)
 * forces the TypeScript kernel, as does `native: false`; a word that is
 * neither on nor off does too, with the configuration error as the reason. The addon is found where `npm install` / `npm ci` built it
 * (node-pre-gyp's binding path for native/package.json), unless
 * `bindingPath` names another .node file.
 */

export interface LoadKernelOptions {
  /** false: the TypeScript kernel, whatever is built. */
  readonly native: boolean
  /** The .node file to load; default: node-pre-gyp's binding path for native/. */
  readonly bindingPath?: string
  /** An instruction-set variant ('avx2', 'sse2', 'generic'); default: the best this machine runs. */
  readonly isa?: string
  /** Where VEILBOX_NATIVE is read; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /**
   * The source hash the addon must report (native/source-hash.cjs); default:
   * the hash of the checked-out native/src, when it is there; null: no check.
   */
  readonly expectedSource?: string | null
}

export interface KernelChoice {
  readonly kernel: Kernel
  /** The request-building loops: native with the native kernel, else tsLoops. */
  readonly loops: Loops
  /** Why the TypeScript kernel runs; absent when the native one does. */
  readonly reason?: string
  /** The loaded .node file, when the native kernel runs. */
  readonly binding?: string
  /** The addon's build and variant, when the native kernel runs. */
  readonly native?: NativeInfo & { readonly variant: string }
}

/** A plain, JSON-ready summary of a choice: for the start-up log line and for /healthz. */
export interface KernelReport {
  readonly kernel: 'native' | 'ts'
  /** Why not native (null when native runs). */
  readonly reason: string | null
  readonly binding: string | null
  /** The instruction-set variant of the native kernel ('avx2', 'sse2', 'generic'), or null. */
  readonly isa: string | null
  readonly compiler: string | null
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const NATIVE_PACKAGE = path.join(ROOT, 'native', 'package.json')
const require = createRequire(import.meta.url)

/**
 * True unless VEILBOX_NATIVE says 0, false, off or no (readSwitch: the
 * configuration's reading); VEILBOX_ERR_CONFIG_INVALID for another word.
 */
export function nativeEnabled(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return readSwitch(env, 'VEILBOX_NATIVE', true)
}

/** Where node-pre-gyp installed the addon for this Node, platform and architecture. */
export function defaultBindingPath(): string {
  const preGyp = require('@mapbox/node-pre-gyp') as { find(packageJson: string): string }
  return preGyp.find(NATIVE_PACKAGE)
}

export function loadKernel(options: LoadKernelOptions): KernelChoice {
  if (!options.native) return ts('the native kernel is disabled by configuration')
  let enabled: boolean
  try {
    enabled = nativeEnabled(options.env)
  } catch (e) {
    return ts(isVeilboxError(e) ? e.detail : String(e))
  }
  if (!enabled) return ts('the native kernel is disabled by VEILBOX_NATIVE')
  try {
    return loadNative(options)
  } catch (e) {
    return ts(isVeilboxError(e) ? e.detail : String(e))
  }
}

/**
 * The native kernel or VEILBOX_ERR_NATIVE_UNAVAILABLE: for the parity tests and
 * benchmarks, which must not quietly measure the fallback.
 */
export function requireNativeKernel(options: Omit<LoadKernelOptions, 'native' | 'env'> = {}): KernelChoice {
  return loadNative(options)
}

/**
 * The hash of the checked-out addon sources, or null where they are not
 * (a deployment that ships only the built addon).
 */
export function checkedOutSourceHash(): string | null {
  if (!fs.existsSync(path.join(ROOT, 'native', 'src'))) return null
  const { sourceHash } = require(path.join(ROOT, 'native', 'source-hash.cjs')) as { sourceHash(): string }
  return sourceHash()
}

export function kernelReport(choice: KernelChoice): KernelReport {
  return {
    kernel: choice.kernel.name,
    reason: choice.reason ?? null,
    binding: choice.binding ?? null,
    isa: choice.native?.variant ?? null,
    compiler: choice.native?.compiler ?? null,
  }
}

function ts(reason: string): KernelChoice {
  return Object.freeze({ kernel: tsKernel, loops: tsLoops, reason })
}

function unavailable(detail: string, cause?: unknown): VeilboxError {
  return new VeilboxError('VEILBOX_ERR_NATIVE_UNAVAILABLE', detail, {}, cause === undefined ? {} : { cause })
}

function loadNative(options: Omit<LoadKernelOptions, 'native' | 'env'>): KernelChoice {
  const { bindingPath, isa } = options
  let file: string
  try {
    file = bindingPath ?? defaultBindingPath()
  } catch (e) {
    throw unavailable(`cannot locate the native addon: ${message(e)}`, e)
  }
  if (!fs.existsSync(file)) throw unavailable(`the native addon is not built (no ${file}); run npm run native:rebuild`)
  let mod: unknown
  try {
    // dlopen rather than require: the file must be a native addon, whatever its name.
    const holder = { exports: {} as unknown }
    process.dlopen(holder, file)
    mod = holder.exports
  } catch (e) {
    throw unavailable(`cannot load ${file}: ${message(e)}`, e)
  }
  const binding = asNativeBinding(mod, file)
  const kernel = createNativeKernel(binding, isa === undefined ? {} : { isa })
  const loops = createNativeLoops(binding, isa === undefined ? {} : { isa })
  let info: NativeInfo
  try {
    info = binding.info()
  } catch (e) {
    throw unavailable(`${file}: info() failed: ${message(e)}`, e)
  }
  const expected = options.expectedSource === undefined ? checkedOutSourceHash() : options.expectedSource
  if (expected !== null && info.source !== expected) {
    throw unavailable(
      `the native addon ${file} was built from other sources (${info.source}) than native/ holds (${expected}); run npm run native:rebuild`,
    )
  }
  const variant = isa ?? info.isa
  const failure = selfCheck(kernel)
  if (failure !== null) throw unavailable(`the native addon ${file} (${variant}) failed its self-check: ${failure}`)
  const loopFailure = selfCheckLoops(loops)
  if (loopFailure !== null)
    throw unavailable(`the native addon ${file} (${variant}) failed the self-check of its loops: ${loopFailure}`)
  return Object.freeze({ kernel, loops, binding: file, native: Object.freeze({ ...info, variant }) })
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

/**
 * Runs a small request through both kernels and compares the results exactly
 * (every count, every BigInt): the null description when they agree, else
 * where they first differ. The request touches every path of the contract:
 * f64 and i32 columns, nulls with NaN under them, selection bytes other than
 * 0 and 1, each code width, many groups (unlaned accumulators), blocks
 * crossed and a partial last one, squares with |q| near 2^31 (where q * q rounds),
 * the rounding tie just below 0.5, infinities, histograms, and the refusal of
 * a NaN in a selected row.
 */
export function selfCheck(kernel: Kernel): string | null {
  try {
    for (const request of selfCheckRequests()) {
      const d = resultDifference(tsKernel.aggregate(request), kernel.aggregate(request))
      if (d !== null) return d
    }
    const nan = nanRequest()
    const expected = thrown(() => tsKernel.aggregate(nan))
    const got = thrown(() => kernel.aggregate(nan))
    if (expected !== got) return `a NaN in a selected row: expected ${expected}, got ${got}`
    return null
  } catch (e) {
    return `threw ${message(e)}`
  }
}

function thrown(fn: () => unknown): string {
  try {
    fn()
    return 'no error'
  } catch (e) {
    return isVeilboxError(e) ? `${e.code}: ${e.detail}` : message(e)
  }
}

/** The first place two results differ, or null. */
export function resultDifference(a: AggregateResult, b: AggregateResult): string | null {
  const seq = (x: ArrayLike<unknown>, y: ArrayLike<unknown>, at: string): string | null => {
    if (x.length !== y.length) return `${at}: length ${x.length} vs ${y.length}`
    for (let i = 0; i < x.length; i++)
      if (!Object.is(x[i], y[i])) return `${at}[${i}]: ${String(x[i])} vs ${String(y[i])}`
    return null
  }
  const found = seq(a.count, b.count, 'count')
  if (found !== null) return found
  if (a.measures.length !== b.measures.length) return `measures: ${a.measures.length} vs ${b.measures.length}`
  for (let k = 0; k < a.measures.length; k++) {
    const x = a.measures[k]!
    const y = b.measures[k]!
    const at = `measures[${k}]`
    if (x.kind !== y.kind) return `${at}.kind: ${x.kind} vs ${y.kind}`
    let d: string | null
    if (x.kind === 'moments' && y.kind === 'moments') {
      d = seq(x.nonNull, y.nonNull, `${at}.nonNull`) ?? seq(x.sum, y.sum, `${at}.sum`)
      if (d === null && (x.sumSquares === null) !== (y.sumSquares === null)) d = `${at}.sumSquares: presence differs`
      if (d === null && x.sumSquares !== null && y.sumSquares !== null)
        d = seq(x.sumSquares, y.sumSquares, `${at}.sumSquares`)
    } else if (x.kind === 'histogram' && y.kind === 'histogram') {
      d = x.bins === y.bins ? seq(x.counts, y.counts, `${at}.counts`) : `${at}.bins: ${x.bins} vs ${y.bins}`
    } else if (x.kind === 'nonNull' && y.kind === 'nonNull') {
      d = seq(x.nonNull, y.nonNull, `${at}.nonNull`)
    } else {
      d = `${at}.kind`
    }
    if (d !== null) return d
  }
  return null
}

function selfCheckRequests(): AggregateRequest[] {
  // Crosses two 2,048-row blocks of the native kernel and ends in a partial one.
  const rows = 2 * 2_048 + 11
  const r = mulberry32(0x5e1f)
  const f64 = new Float64Array(rows)
  const big = new Float64Array(rows)
  const i32 = new Int32Array(rows)
  const nulls = new Uint8Array(Math.ceil(rows / 8))
  const selection = new Uint8Array(rows)
  const u8 = new Uint8Array(rows)
  const u16 = new Uint16Array(rows)
  const u32 = new Uint32Array(rows)
  // One unit of the [-10, 10] grid: values at the rounding tie, halves, the bounds, infinities.
  const unit = pow2(quantumFor(-10, 10).exp)
  const special = [
    -Infinity,
    Infinity,
    -10,
    10,
    0,
    -0,
    0.49999999999999994 * unit,
    2.5 * unit,
    -0.5 * unit,
    -1.5 * unit,
  ]
  for (let i = 0; i < rows; i++) {
    f64[i] = r() < 0.05 ? special[i % special.length]! : r() * 24 - 12
    big[i] = i % 97 === 0 ? 2145272597.3 : (r() * 2 - 1) * 2 ** 31
    i32[i] = i % 89 === 0 ? (i % 2 === 0 ? 2 ** 31 - 1 : -(2 ** 31)) : Math.floor(r() * 2 ** 32) - 2 ** 31
    if (r() < 0.1) {
      nulls[i >> 3]! |= 1 << (i & 7)
      f64[i] = NaN
    }
    selection[i] = r() < 0.7 ? (i % 5 === 0 ? 255 : 1) : 0
    u8[i] = Math.floor(r() * 7)
    u16[i] = Math.floor(r() * 5000)
    u32[i] = i % 101 === 0 ? 2 : Math.floor(r() * 3)
  }
  const f64Col: NumericColumn = { kind: 'f64', values: f64, nulls }
  const bigCol: NumericColumn = { kind: 'f64', values: big, nulls: null }
  const i32Col: NumericColumn = { kind: 'i32', values: i32, nulls: null }
  const moments = (column: NumericColumn, lower: number, upper: number, squares: boolean): Measure => ({
    kind: 'moments',
    column,
    lower,
    upper,
    quantum: quantumFor(lower, upper),
    squares,
  })
  const measures: Measure[] = [
    moments(f64Col, -10, 10, true),
    moments(bigCol, -(2 ** 31), 2 ** 31, true),
    moments(i32Col, -(2 ** 31), 2 ** 31, true),
    moments(i32Col, -1000, 5000, false),
    { kind: 'histogram', column: f64Col, lower: -10, upper: 10, bins: 7 },
    { kind: 'histogram', column: i32Col, lower: -(2 ** 31), upper: 2 ** 31, bins: 3 },
    { kind: 'nonNull', column: f64Col },
  ]
  const groupings: ({ codes: CodeArray; count: number } | null)[] = [
    null,
    { codes: u8, count: 7 },
    { codes: u16, count: 5000 },
    { codes: u32, count: 3 },
  ]
  const out: AggregateRequest[] = []
  for (const grouping of groupings) {
    out.push({ rows, selection, grouping, measures })
    // Every column with nulls: COUNT(*) takes its own pass.
    out.push({ rows, selection: null, grouping, measures: [measures[0]!, measures[6]!] })
  }
  out.push({
    rows: 0,
    selection: new Uint8Array(0),
    grouping: null,
    measures: [moments({ kind: 'f64', values: new Float64Array(0), nulls: null }, 0, 1, true)],
  })
  return out
}

function nanRequest(): AggregateRequest {
  const values = Float64Array.from([1, 2, NaN, 4, 5])
  return {
    rows: 5,
    selection: Uint8Array.from([1, 1, 1, 0, 1]),
    grouping: { codes: Uint8Array.from([0, 1, 0, 1, 0]), count: 2 },
    measures: [
      {
        kind: 'moments',
        column: { kind: 'f64', values, nulls: null },
        lower: 0,
        upper: 10,
        quantum: quantumFor(0, 10),
        squares: false,
      },
    ],
  }
}
