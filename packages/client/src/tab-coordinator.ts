import type { AuthEvent, Session } from './types.ts'

/** The parts of the Web Locks API the client uses (navigator.locks). */
export interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>
}

/** The parts of BroadcastChannel the client uses. */
export interface ChannelLike {
  postMessage(message: unknown): void
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void
  close(): void
}

/** What one tab tells the others: a token it obtained, or that the session ended. */
export type TabMessage =
  | { type: 'session'; event: 'signed_in' | 'token_refreshed'; session: Session }
  | { type: 'ended'; event: 'signed_out' | 'session_expired' }

export interface TabCoordinator {
  /** Runs `fn` while no other tab of this origin runs a refresh (Web Locks), or at once without them. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>
  publish(message: TabMessage): void
  close(): void
}

export interface TabCoordinatorOptions {
  name: string
  locks?: LockManagerLike | undefined
  channel?: ChannelLike | undefined
  onMessage(message: TabMessage): void
}

/**
 * One refresh at a time across tabs: the lock serialises them, the channel hands the winner's
 * result to the rest so they need not spend the (shared) refresh token again.
 */
export function createTabCoordinator({ name, locks, channel, onMessage }: TabCoordinatorOptions): TabCoordinator {
  channel?.addEventListener('message', (event) => {
    const message = event.data as TabMessage | null
    if (message && (message.type === 'session' || message.type === 'ended')) onMessage(message)
  })
  return {
    exclusive: (fn) => (locks ? locks.request(`${name}:refresh`, fn) : fn()),
    publish: (message) => channel?.postMessage(message),
    close: () => channel?.close(),
  }
}

/** Web Locks and BroadcastChannel of this page, when it is a browser page that has both. */
export function browserTabPrimitives(name: string): { locks?: LockManagerLike; channel?: ChannelLike } {
  const g = globalThis as { document?: unknown; navigator?: { locks?: LockManagerLike }; BroadcastChannel?: new (name: string) => ChannelLike }
  // Node and React Native have no document: two clients in one process must never share tokens.
  if (typeof g.document === 'undefined') return {}
  const locks = g.navigator?.locks
  const channel = g.BroadcastChannel ? new g.BroadcastChannel(name) : undefined
  return { ...(locks ? { locks } : {}), ...(channel ? { channel } : {}) }
}

export type { AuthEvent }
