import type { Readable } from 'node:stream'
import { parse as parseCsv, type CsvError } from 'csv-parse'

/** One line (or CSV row) of an import file: its parsed value, or why it could not be read. */
export type SourceRecord = { line: number; value: unknown } | { line: number; error: 'invalid_json' | 'invalid_csv'; reason: string }

export type ImportFormat = 'ndjson' | 'csv'

/** A line longer than this is refused unread: no record of DESIGN §8 comes near it. */
export const MAX_LINE_BYTES = 64 * 1024
const NEWLINE = 0x0a

/**
 * NDJSON records, pulled from `input` one chunk at a time: while the consumer is busy (writing a
 * batch) nothing more is read, and only the current chunk and one partial line are held.
 */
export async function* ndjsonRecords(input: Readable): AsyncGenerator<SourceRecord> {
  let line = 0
  let partial: Buffer[] = []
  let partialBytes = 0
  let overlong = false

  function* complete(bytes: Buffer): Generator<SourceRecord> {
    line++
    if (overlong) {
      overlong = false
      yield { line, error: 'invalid_json', reason: `line is longer than ${MAX_LINE_BYTES} bytes` }
      return
    }
    const text = bytes.toString('utf8').trim()
    if (text === '') return
    try {
      yield { line, value: JSON.parse(text) as unknown }
    } catch (err) {
      yield { line, error: 'invalid_json', reason: `not JSON: ${(err as Error).message}` }
    }
  }

  for await (const chunk of input as AsyncIterable<Buffer>) {
    let start = 0
    let end: number
    while ((end = chunk.indexOf(NEWLINE, start)) !== -1) {
      const piece = chunk.subarray(start, end)
      if (partialBytes === 0) {
        yield* complete(piece)
      } else {
        if (!overlong) partial.push(piece)
        yield* complete(overlong ? piece : Buffer.concat(partial))
        partial = []
        partialBytes = 0
      }
      start = end + 1
    }
    if (start < chunk.length) {
      partialBytes += chunk.length - start
      if (partialBytes > MAX_LINE_BYTES) {
        overlong = true
        partial = []
      } else {
        // Copied: holding a view would keep the whole chunk alive.
        partial.push(Buffer.from(chunk.subarray(start)))
      }
    }
  }
  if (partialBytes > 0) yield* complete(overlong ? Buffer.alloc(0) : Buffer.concat(partial))
}

/**
 * CSV rows with a header line of DESIGN §8's column names. A malformed row (an unclosed quote, a
 * wrong number of cells) is reported and skipped; the parser is a Transform, so it too is read
 * only as fast as records are consumed.
 */
export async function* csvRecords(input: Readable): AsyncGenerator<SourceRecord> {
  const skipped: SourceRecord[] = []
  const parser = parseCsv({
    columns: true,
    info: true,
    bom: true,
    trim: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    max_record_size: MAX_LINE_BYTES,
    on_skip: (err: CsvError | undefined) => {
      // At most the rows of one chunk wait here before the loop below hands them on.
      const lines = typeof err?.lines === 'number' ? err.lines : 0
      skipped.push({ line: lines, error: 'invalid_csv', reason: err?.message ?? 'malformed row' })
      return undefined
    },
  })
  input.on('error', (err) => parser.destroy(err))
  input.pipe(parser)
  for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
    while (skipped.length > 0) yield skipped.shift()!
    yield { line: info.lines, value: record }
  }
  while (skipped.length > 0) yield skipped.shift()!
}

export function recordsOf(input: Readable, format: ImportFormat): AsyncGenerator<SourceRecord> {
  return format === 'csv' ? csvRecords(input) : ndjsonRecords(input)
}
