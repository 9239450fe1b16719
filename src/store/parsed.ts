/**
 * A parse that depends on its text alone, kept per text (least recently used
 * evicted) and frozen. Stored JSON (dataset specs, HE profiles) is parsed and
 * validated again whenever it is read, so that a row edited by hand cannot
 * pass for a valid one; with this a read pays one map lookup, and any changed
 * text, however it came to be, is validated afresh. Query texts are parsed
 * the same way: a repeated SQL text is parsed once.
 */
export class ParsedByText<T extends object> {
  private readonly cache = new Map<string, T>()

  constructor(
    private readonly parse: (text: string) => T,
    private readonly limit = 256,
  ) {}

  get(text: string): T {
    const hit = this.cache.get(text)
    if (hit !== undefined) {
      this.cache.delete(text)
      this.cache.set(text, hit)
      return hit
    }
    // A text that fails to parse throws here and is not kept.
    const value = deepFreeze(this.parse(text))
    if (this.cache.size >= this.limit) this.cache.delete(this.cache.keys().next().value!)
    this.cache.set(text, value)
    return value
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}
