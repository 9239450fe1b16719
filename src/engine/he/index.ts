/**
 * The HE core: parameters and profiles, per-thread SEAL contexts, keys and
 * the custodian's key store, the data owner's encryptor, encrypted aggregates
 * on the compute service, and the key holder's decryption (the custodian
 * role). docs/he.md explains the design; PRIVACY-NOTES §3 the facts it rests
 * on.
 */
export * from './aggregate.js'
export * from './context.js'
export * from './encrypt.js'
export * from './key-holder.js'
export * from './keys.js'
export * from './keystore.js'
export * from './params.js'
export * from './profile.js'
export * from './types.js'
export { crtCombine, toUnits } from './units.js'
