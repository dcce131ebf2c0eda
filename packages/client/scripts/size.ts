// Reports the size of the browser build: dist/ bundled into one minified ESM file, then gzipped.
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const GOAL_BYTES = 10 * 1024

/** The browser bundle: its bytes, minified and min+gzip sizes. */
export async function measureBrowserBundle(): Promise<{ minified: number; gzipped: number }> {
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
  return { minified: code.byteLength, gzipped: gzipSync(code, { level: 9 }).byteLength }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { minified, gzipped } = await measureBrowserBundle()
  const kb = (n: number) => `${(n / 1024).toFixed(2)} KB`
  console.log(`@latchkey/client browser build: ${kb(minified)} minified, ${kb(gzipped)} min+gzip (goal < ${kb(GOAL_BYTES)})`)
  if (gzipped >= GOAL_BYTES) {
    console.error('over the size goal')
    process.exit(1)
  }
}
