/**
 * @deprecated Only for engine/queries.ts, until it imports `Custodian` from
 * './he/types.js'; then delete this file. The custodian role's interface is
 * in types.ts, its implementation in key-holder.ts.
 */
export type { Custodian } from './types.js'
