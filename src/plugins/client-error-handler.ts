import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import { AppError, toProblem, type ErrorCode } from '../errors.ts'

/** Node's client error codes we answer with a problem; the rest are a 400 malformed_request. */
function codeFor(err: NodeJS.ErrnoException): ErrorCode {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return 'header_too_large'
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'request_timeout'
    default:
      return 'malformed_request'
  }
}

/**
 * Fastify's `clientErrorHandler`: the HTTP parser or a timeout refused the request before any route
 * saw it (header overflow, slowloris, garbage bytes). Answer with a problem document when the socket
 * can still take one and no response has started on it, then close the socket — a client this far
 * off the protocol gets no keep-alive.
 */
export function createClientErrorHandler(logger: FastifyBaseLogger) {
  return function handleClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || socket.destroyed) {
      socket.destroy()
      return
    }
    const code = codeFor(err)
    logger.info({ code, reason: err.code }, 'client error: connection refused before routing')
    // Node's own rule: never write into a response that has already started on this socket.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
    if (socket.writable && !inFlight?.headersSent) {
      const problem = toProblem(new AppError(code))
      const body = JSON.stringify(problem)
      socket.write(
        `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\n` +
          'Content-Type: application/problem+json\r\n' +
          `Content-Length: ${Buffer.byteLength(body)}\r\n` +
          'Cache-Control: no-store\r\n' +
          'X-Content-Type-Options: nosniff\r\n' +
          'Connection: close\r\n\r\n' +
          body,
      )
      socket.end()
      // A client that never reads must not keep the socket half-open.
      setTimeout(() => socket.destroy(), 1000).unref()
      return
    }
    socket.destroy()
  }
}
