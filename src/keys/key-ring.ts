import type { KeySet } from './key-set.ts'

/**
 * Holds the key set in force and swaps it atomically. Readers take `ring.current` once per use, so a
 * request never sees half of an old set and half of a new one; listeners (the verified-token cache)
 * hear of every swap.
 */
export class KeyRing {
  #current: KeySet
  readonly #listeners = new Set<(next: KeySet, previous: KeySet) => void>()

  constructor(initial: KeySet) {
    this.#current = initial
  }

  get current(): KeySet {
    return this.#current
  }

  replace(next: KeySet): void {
    const previous = this.#current
    this.#current = next
    for (const listener of this.#listeners) listener(next, previous)
  }

  onChange(listener: (next: KeySet, previous: KeySet) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }
}
