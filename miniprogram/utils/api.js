/**
 * The one layer that talks to the longmarch server: base URL, token, login, renewal,
 * retries and problem+json errors. Pages call the functions at the bottom and show
 * `error.message` (a Chinese sentence) when one fails.
 */
const config = require('../config')
const { messageFor } = require('./messages')

const TOKEN_KEY = 'lm_token'
/** Renew a token this long before it expires rather than send one about to lapse. */
const EXPIRY_MARGIN_MS = 60 * 1000

/** A request the server refused, or one that never reached it (`offline`). */
class ApiError extends Error {
  /** @param {{status?: number, code?: string, detail?: string, offline?: boolean}} problem */
  constructor(problem) {
    super(messageFor(problem))
    this.name = 'ApiError'
    this.status = problem.status || 0
    this.code = problem.code || (problem.offline ? 'offline' : '')
    this.detail = problem.detail || ''
    this.offline = Boolean(problem.offline)
  }
}

function sleep(ms) {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** wx.request as a promise; rejects only when no HTTP answer arrived. */
function send(method, url, data, header) {
  return new Promise((resolve, reject) => {
    wx.request({
      url,
      method,
      data,
      header,
      dataType: 'json',
      timeout: 15000,
      success: resolve,
      fail: reject,
    })
  })
}

function wxLogin() {
  return new Promise((resolve, reject) => {
    wx.login({
      success: res => (res.code ? resolve(res.code) : reject(new ApiError({ code: 'wx_login_failed', detail: '微信登录失败，请重试。' }))),
      fail: () => reject(new ApiError({ offline: true })),
    })
  })
}

function headerValue(headers, name) {
  const key = Object.keys(headers || {}).find(k => k.toLowerCase() === name)
  return key ? headers[key] : undefined
}

/** How long to wait before retry number `n` (0-based): the server's Retry-After, else doubling. */
function backoffMs(n, res) {
  const { baseMs, maxMs } = config.retry
  const doubled = baseMs * 2 ** n
  const retryAfter = Number(headerValue(res && res.header, 'retry-after'))
  const wait = Number.isFinite(retryAfter) && retryAfter > 0 ? Math.max(retryAfter * 1000, doubled) : doubled
  return Math.min(wait, maxMs)
}

function tellRetrying(ms, offline) {
  const seconds = Math.max(1, Math.round(ms / 1000))
  wx.showToast({
    title: offline ? `网络不稳定，${seconds}秒后重试` : `服务器繁忙，${seconds}秒后重试`,
    icon: 'none',
    duration: Math.min(ms, 3000) || 1500,
  })
}

function problemOf(res) {
  const body = res.data && typeof res.data === 'object' ? res.data : {}
  return new ApiError({ status: res.statusCode, code: body.code, detail: body.detail })
}

function storedToken() {
  const saved = wx.getStorageSync(TOKEN_KEY)
  if (!saved || !saved.token) return null
  if (saved.expires_at && Date.parse(saved.expires_at) - Date.now() < EXPIRY_MARGIN_MS) return null
  return saved.token
}

function forgetToken() {
  wx.removeStorageSync(TOKEN_KEY)
}

let loggingIn = null

/**
 * Logs in with a fresh `wx.login` code (which also gives the server a fresh WeChat session
 * key). Concurrent callers share one login.
 * @returns {Promise<{token: string, expires_at: string, participant: object, new: boolean}>}
 */
function login() {
  if (!loggingIn) {
    loggingIn = (async () => {
      const code = await wxLogin()
      const answer = await request('POST', '/api/v1/auth/wechat', { code }, { auth: false })
      wx.setStorageSync(TOKEN_KEY, { token: answer.token, expires_at: answer.expires_at })
      return answer
    })()
    const done = () => {
      loggingIn = null
    }
    loggingIn.then(done, done)
  }
  return loggingIn
}

async function bearer() {
  const token = storedToken()
  if (token) return token
  await login()
  return storedToken()
}

/**
 * One API call. Logs in first when there is no token; on 401 logs in again once and
 * repeats; on 429, 503 or a lost connection waits (Retry-After or doubling back-off, told
 * to the student) and tries again up to `config.retry.attempts` times.
 * @param {'GET'|'POST'|'PATCH'|'PUT'|'DELETE'} method
 * @param {string} path starting with /api/v1
 * @param {object} [data]
 * @param {{auth?: boolean}} [opts]
 * @returns {Promise<any>} the JSON body, or null for 204
 * @throws {ApiError}
 */
async function request(method, path, data, opts = {}) {
  const auth = opts.auth !== false
  let renewed = false
  let retries = 0
  for (;;) {
    const header = { 'content-type': 'application/json' }
    if (auth) header.Authorization = `Bearer ${await bearer()}`
    let res
    try {
      res = await send(method, config.apiBase + path, data, header)
    } catch (lost) {
      if (retries < config.retry.attempts) {
        const wait = backoffMs(retries++, null)
        tellRetrying(wait, true)
        await sleep(wait)
        continue
      }
      throw new ApiError({ offline: true })
    }
    const status = res.statusCode
    if (status >= 200 && status < 300) return status === 204 ? null : res.data
    if (status === 401 && auth && !renewed) {
      renewed = true
      forgetToken()
      await login()
      continue
    }
    if ((status === 429 || status === 503) && retries < config.retry.attempts) {
      const wait = backoffMs(retries++, res)
      tellRetrying(wait, false)
      await sleep(wait)
      continue
    }
    throw problemOf(res)
  }
}

const enc = encodeURIComponent
const campaignPath = slug => `/api/v1/campaigns/${enc(slug)}`

function query(params) {
  const parts = Object.keys(params)
    .filter(k => params[k] !== undefined && params[k] !== null && params[k] !== '')
    .map(k => `${enc(k)}=${enc(params[k])}`)
  return parts.length ? `?${parts.join('&')}` : ''
}

module.exports = {
  ApiError,
  TOKEN_KEY,
  login,
  request,
  hasToken: () => Boolean(storedToken()),
  forgetToken,
  me: () => request('GET', '/api/v1/me'),
  updateMe: patch => request('PATCH', '/api/v1/me', patch),
  eraseMe: () => request('DELETE', '/api/v1/me'),
  subscribe: templateIds => request('POST', '/api/v1/me/subscriptions', { template_ids: templateIds }),
  campaigns: () => request('GET', '/api/v1/campaigns', undefined, { auth: false }),
  campaign: slug => request('GET', campaignPath(slug), undefined, { auth: false }),
  join: (slug, body) => request('POST', `${campaignPath(slug)}/join`, body),
  uploadWerun: (slug, encryptedData, iv) =>
    request('POST', `${campaignPath(slug)}/steps/werun`, { encrypted_data: encryptedData, iv }),
  progress: slug => request('GET', `${campaignPath(slug)}/me/progress`),
  milestones: slug => request('GET', `${campaignPath(slug)}/me/milestones`),
  steps: slug => request('GET', `${campaignPath(slug)}/me/steps`),
  certificate: slug => request('GET', `${campaignPath(slug)}/me/certificate`),
  participantsBoard: (slug, params) => request('GET', `${campaignPath(slug)}/leaderboards/participants${query(params)}`),
  myRank: slug => request('GET', `${campaignPath(slug)}/leaderboards/participants/me`),
  cohortsBoard: (slug, params) => request('GET', `${campaignPath(slug)}/leaderboards/cohorts${query(params)}`),
}
