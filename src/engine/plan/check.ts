import { VeilboxError } from '../../errors/index.js'
import { toRational, type Epsilon, type Rho } from '../dp/budget.js'
import { Rational } from '../dp/rational.js'
import type { Spend } from './context.js'

/**
 * After planning, before anything runs: the privacy maps of every mechanism
 * in the plan, each at the sensitivity the planner declared for it, composed
 * (added: basic composition for epsilon, zCDP for rho), must be within what
 * the query is charged. A planner bug that under-charges (a part counted
 * twice, a mechanism built at the wrong budget, a rounding step left out of
 * a sensitivity) then fails loudly here instead of leaking, as Tumult's
 * compiler checks its measurement against the budget at run time.
 */
export function checkWithinCharge(
  spends: readonly Spend[],
  mechanism: 'laplace' | 'gaussian',
  charge: Epsilon | Rho,
): void {
  const charged = toRational(mechanism === 'gaussian' ? 'rho' : 'epsilon', charge)
  let used = Rational.ZERO
  for (const s of spends) {
    if (s.mechanism.kind !== mechanism) {
      throw planBug(`a ${s.mechanism.kind} mechanism in a ${mechanism} plan`)
    }
    used = used.add(s.mechanism.privacyMap(s.sensitivity))
  }
  if (used.gt(charged)) {
    throw planBug(
      `its mechanisms spend ${used.toNumber('up')} of ${mechanism === 'gaussian' ? 'rho' : 'epsilon'} but the query is charged ${charged.toNumber()}`,
    )
  }
}

function planBug(what: string): VeilboxError {
  return new VeilboxError(
    'VEILBOX_ERR_INTERNAL',
    `the query's plan failed its privacy check (${what}); nothing was run or charged. This is a bug in veilbox's planner`,
  )
}
