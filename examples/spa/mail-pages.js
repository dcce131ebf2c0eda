import { $, action } from './ui.js'

/** The pages that mailed links open: /verify-email?token=…, /reset-password?token=…, and /forgot-password. */
export function startMailPage(page, latchkey) {
  const token = new URLSearchParams(location.search).get('token') ?? ''
  const ready = () => {
    document.body.dataset.state = 'ready'
    $('#status').textContent = ''
  }

  if (page === 'forgot-password') {
    $('#forgot').addEventListener('submit', action(async () => {
      await latchkey.forgotPassword($('#forgot-email').value)
      $('#forgot').hidden = true
      $('#forgot-done').hidden = false
    }))
    ready()
  } else if (page === 'reset-password') {
    $('#reset').addEventListener('submit', action(async () => {
      await latchkey.resetPassword(token, $('#reset-password').value)
      $('#reset').hidden = true
      $('#reset-done').hidden = false
    }))
    ready()
  } else if (page === 'verify-email') {
    action(async () => {
      try {
        const result = await latchkey.verifyEmail(token)
        $('#verify-result').textContent = `${result.email} is verified.`
        document.body.dataset.verified = 'true'
      } catch (err) {
        $('#verify-result').textContent = 'This link cannot be used.'
        throw err
      } finally {
        ready()
      }
    })()
  }
}
