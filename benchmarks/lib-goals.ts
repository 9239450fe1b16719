/** The goal shape every benchmark's result carries (benchmarks/lib.ts re-exports it). */

/**
 * A goal of the service, as every result file carries it: what is measured
 * (a ratio to a reference measured in the same run, or an absolute figure
 * where the goal is one), the target, and whether this run met it: null when
 * this run cannot tell (the reference was skipped, or the goal is stated at
 * another size than the run used), with a note saying why. Goals are
 * reported, never enforced: a missed goal fails no benchmark.
 */
export interface Goal {
  readonly name: string
  readonly target: string
  readonly measured: number | null
  readonly met: boolean | null
  readonly note?: string
}

export interface GoalTarget {
  readonly op: '>=' | '<=' | '<'
  readonly value: number
}

/**
 * One goal judged. `unjudged`: why this run cannot tell (met is null, the
 * figure still reported); `failed`: why it fails whatever the figure (errors
 * during the measurement). A null figure is never met.
 */
export function goal(
  name: string,
  target: GoalTarget,
  measured: number | null,
  why: { unjudged?: string | null; failed?: string | null } = {},
): Goal {
  const base = { name, target: `${target.op} ${target.value}`, measured }
  if (measured === null || !Number.isFinite(measured))
    return { ...base, measured: null, met: null, note: why.unjudged ?? 'not measured' }
  if (why.failed) return { ...base, met: false, note: why.failed }
  if (why.unjudged) return { ...base, met: null, note: why.unjudged }
  const met =
    target.op === '>='
      ? measured >= target.value
      : target.op === '<='
        ? measured <= target.value
        : measured < target.value
  return { ...base, met }
}

/** Why a goal stated at one size is not judged at another: null when the sizes agree. */
export function statedAt(what: string, stated: number, used: number): string | null {
  return stated === used
    ? null
    : `the goal is stated at ${stated.toLocaleString('en-US')} ${what}; this run used ${used.toLocaleString('en-US')}`
}

/** Goals as table rows (name, target, measured, met, note). */
export function goalRows(goals: readonly (Goal & { benchmark?: string })[]): Record<string, string | number>[] {
  return goals.map((g) => ({
    ...(g.benchmark === undefined ? {} : { benchmark: g.benchmark }),
    goal: g.name,
    target: g.target,
    measured: g.measured ?? '',
    met: g.met === null ? 'not judged' : g.met ? 'yes' : 'no',
    note: g.note ?? '',
  }))
}
