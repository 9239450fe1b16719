import { randomBytes, randomFillSync } from 'node:crypto'

/** Random bytes drawn from node:crypto a page at a time; each byte is handed out once. */
const RANDOM_PAGE = Buffer.alloc(4096)
let randomAt = RANDOM_PAGE.length

/** `bytes` fresh CSPRNG bytes as hex (ids): one randomFillSync per page instead of one call per id. */
export function randomHex(bytes: number): string {
  if (bytes > RANDOM_PAGE.length) return randomBytes(bytes).toString('hex')
  if (randomAt + bytes > RANDOM_PAGE.length) {
    randomFillSync(RANDOM_PAGE)
    randomAt = 0
  }
  const hex = RANDOM_PAGE.toString('hex', randomAt, randomAt + bytes)
  randomAt += bytes
  return hex
}
