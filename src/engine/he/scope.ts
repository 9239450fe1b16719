/**
 * SEAL objects live on the WebAssembly heap, which can grow to 4 GiB and never
 * shrinks; node-seal's FinalizationRegistry frees them only when the garbage
 * collector gets round to it, which under load is too late. Every object a
 * function creates is registered in a scope and deleted in that function's
 * `finally`, whatever happens in between.
 */
export interface Deletable {
  delete(): void
}

export class SealScope {
  private readonly owned: Deletable[] = []

  /** Registers `obj` for deletion when the scope closes, and returns it. */
  add<T extends Deletable>(obj: T): T {
    this.owned.push(obj)
    return obj
  }

  /** Deletes every registered object, newest first. Safe to call twice. */
  close(): void {
    let first: unknown
    while (this.owned.length > 0) {
      const obj = this.owned.pop()!
      try {
        obj.delete()
      } catch (e) {
        // Keep deleting the rest: one failed delete must not leak the others.
        first ??= e
      }
    }
    if (first !== undefined) throw first
  }
}

/** Runs `fn` with a fresh scope and closes it afterwards, whatever `fn` does. */
export function withScope<T>(fn: (scope: SealScope) => T): T {
  const scope = new SealScope()
  try {
    return fn(scope)
  } finally {
    scope.close()
  }
}
