const api = require('./utils/api')

App({
  onLaunch() {
    // Log in early so the first page's requests find a token; pages log in themselves
    // (and show the error) if this fails.
    api.login().catch(() => {})
  },
})
