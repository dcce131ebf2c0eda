// Small DOM helpers shared by the pages.

export const $ = (selector) => document.querySelector(selector)

export function showError(err) {
  $('#error').textContent = err ? `${err.code ?? 'error'}: ${err.message}` : ''
}

// Every action clears the last error, runs, and shows what went wrong instead of throwing.
export function action(fn) {
  return async (event) => {
    event?.preventDefault()
    showError(null)
    try {
      await fn()
    } catch (err) {
      showError(err)
    }
  }
}
