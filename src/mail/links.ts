/** Where each link points: a page under the link base (PUBLIC_URL by default) that reads `?token=`. */
export const LINK_PATHS = {
  verify_email: '/verify-email',
  change_email: '/verify-email',
  reset_password: '/reset-password',
} as const

/** Built from configuration only, never from a request's Host header. */
export function mailLink(baseUrl: string, purpose: keyof typeof LINK_PATHS, token: string): string {
  const url = new URL(`${baseUrl}${LINK_PATHS[purpose]}`)
  url.searchParams.set('token', token)
  return url.toString()
}

/** "24 hours", "30 minutes": for the templates' {{expires_in}}. */
export function humanDuration(seconds: number): string {
  if (seconds % 86400 === 0 && seconds > 86400) return plural(seconds / 86400, 'day')
  if (seconds % 3600 === 0) return plural(seconds / 3600, 'hour')
  if (seconds % 60 === 0) return plural(seconds / 60, 'minute')
  return plural(seconds, 'second')
}

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`
