import t from 'tap'

import { chiSquareCritical, chiSquareSurvival, gammaQ } from './stats.js'

t.test('the chi-square survival function matches known quantiles', async (t) => {
  // Upper 5% and 1e-6 points (standard tables; scipy.stats.chi2.isf).
  const close = (x: number, df: number, p: number): boolean => Math.abs(chiSquareSurvival(x, df) - p) / p < 1e-9
  t.ok(close(3.8414588206941285, 1, 0.05))
  t.ok(close(18.30703805327515, 10, 0.05))
  t.ok(close(23.928126976934827, 1, 1e-6))
  t.ok(close(65.42068103504783, 20, 1e-6))
  t.ok(Math.abs(gammaQ(1, 2) - Math.exp(-2)) < 1e-15)
})

t.test('Wilson-Hilferty with margin is at or beyond the exact 1e-6 quantile for every df used', async (t) => {
  for (let df = 1; df <= 2000; df++) {
    const c = chiSquareCritical(df)
    const p = chiSquareSurvival(c, df)
    if (!(p <= 1e-6)) t.fail(`df ${df}: P(chi2 > ${c}) = ${p}`)
  }
  t.pass('all df from 1 to 2000')
})
