import type { Mechanism, Reservation } from '../dp/index.js'

/**
 * A plan's noise, reserved and drawn while the sandbox computes: one
 * reservation per mechanism use (a count of an AVG and a COUNT of the same
 * parameters are two uses of one memoized mechanism) and one per histogram.
 * Each reservation releases once; `end` frees whatever was not released.
 */
export interface NoiseReservation {
  /** The reservation of output o's component (`mech`, `sum`, `count`, `squares`). */
  of(output: number, component: string): Reservation
  /** The reservation of histogram h. */
  ofHistogram(h: number): Reservation
  end(): void
}

/** The output index partition selection's noise is reserved under (plan/selection.ts). */
export const SELECTION_OUTPUT = -1

export interface NoiseUse {
  readonly output: number
  readonly component: string
  readonly mechanism: Mechanism
}

export async function reserveNoise(
  uses: readonly NoiseUse[],
  histograms: readonly { reserve(groups: number): Promise<Reservation> }[],
  groups: number,
): Promise<NoiseReservation> {
  const settled = await Promise.allSettled([
    ...uses.map((u) => u.mechanism.reserve(groups)),
    ...histograms.map((h) => h.reserve(groups)),
  ])
  const held = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  const end = (): void => {
    for (const r of held) r.end()
  }
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) {
    end()
    throw failed.reason
  }
  const byUse = new Map<string, Reservation>()
  uses.forEach((u, i) => {
    byUse.set(`${u.output}:${u.component}`, held[i]!)
  })
  const byHistogram = held.slice(uses.length)
  return {
    of: (output, component) => {
      const r = byUse.get(`${output}:${component}`)
      if (r === undefined) throw new Error(`no noise reserved for output ${output}'s ${component}`)
      return r
    },
    ofHistogram: (h) => {
      const r = byHistogram[h]
      if (r === undefined) throw new Error(`no noise reserved for histogram ${h}`)
      return r
    },
    end,
  }
}
