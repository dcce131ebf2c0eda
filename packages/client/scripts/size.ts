// Reports the size of the browser build: dist/ bundled into one minified ESM file, then gzipped.
// Writes it to dist/latchkey-client.min.js too (the example SPA serves that file).
import { writeFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const GOAL_BYTES = 10 * 1024

/** The browser bundle: its bytes, minified and min+gzip sizes. */
export async function measureBrowserBundle(): Promise<{ code: Uint8Array; minified: number; gzipped: number }> {
  const result = await build({
    entryPoints: [new URL('../dist/index.js', import.meta.url).pathname],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
  })
  const code = result.outputFiles[0]!.contents
  return { code, minified: code.byteLength, gzipped: gzipSync(code, { level: 9 }).byteLength }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { code, minified, gzipped } = await measureBrowserBundle()
  writeFileSync(new URL('../dist/latchkey-client.min.js', import.meta.url), code)
  const kb = (n: number) => `${(n / 1024).toFixed(2)} KB`
  console.log(`@latchkey/client browser build: ${kb(minified)} minified, ${kb(gzipped)} min+gzip (goal < ${kb(GOAL_BYTES)})`)
  if (gzipped >= GOAL_BYTES) {
    console.error('over the size goal')
    process.exit(1)
  }
}
