/**
 * The pure DP library: exact samplers, mechanisms, intervals, quantiles and
 * accounting. No HTTP, no database. docs/dp.md describes how the engine uses it.
 */
export * from './zcdp.js'
export * from './discrete-gaussian.js'
export * from './discrete-laplace.js'
export * from './gaussian.js'
export * from './intervals.js'
export * from './laplace.js'
export * from './mechanism.js'
export * from './moments.js'
export * from './noise-pool.js'
export * from './quantile.js'
export * from './random.js'
export * from './rational.js'
export * from './sensitivity.js'
export { invalid, type Amount } from './validate.js'
export * from './memo.js'
