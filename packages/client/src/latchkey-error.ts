import type { ErrorCode } from './error-codes.ts'

/** Failures the client itself detects: no HTTP answer, or an answer that is not Latchkey's. */
export type ClientErrorCode = 'network_error' | 'unexpected_response'

/** A problem+json body (RFC 9457) as Latchkey sends it. */
export interface Problem {
  type?: string
  title?: string
  status?: number
  detail?: string
  code?: ErrorCode
  errors?: Array<{ field: string; message: string }>
}

/** Every failed call rejects with this; `switch (err.code)` narrows over the documented codes. */
export class LatchkeyError extends Error {
  override readonly name = 'LatchkeyError'
  readonly code: ErrorCode | ClientErrorCode
  /** The HTTP status; 0 when no response arrived. */
  readonly status: number
  readonly problem: Problem | undefined

  constructor(status: number, code: ErrorCode | ClientErrorCode, message: string, problem?: Problem, options?: { cause?: unknown }) {
    super(message, options)
    this.status = status
    this.code = code
    this.problem = problem
  }
}

/** Reads a problem+json body; anything else yields undefined. */
export async function readProblem(res: Response): Promise<Problem | undefined> {
  try {
    const body = (await res.json()) as unknown
    return body && typeof body === 'object' ? (body as Problem) : undefined
  } catch {
    return undefined
  }
}

/** The error for a non-2xx response. */
export async function errorFromResponse(res: Response): Promise<LatchkeyError> {
  const problem = await readProblem(res)
  const code = problem?.code ?? 'unexpected_response'
  return new LatchkeyError(res.status, code, problem?.detail ?? problem?.title ?? `HTTP ${res.status}`, problem)
}

export function networkError(cause: unknown): LatchkeyError {
  return new LatchkeyError(0, 'network_error', `no response from Latchkey: ${String(cause)}`, undefined, { cause })
}

/** Whether a failed refresh is worth repeating with the same refresh token. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof LatchkeyError)) return false
  return err.status === 0 || err.status === 429 || err.status >= 500
}
