/**
 * A stand-in for the `wx` object of the WeChat client: an in-memory storage, a scripted
 * server behind wx.request, and a record of every modal, toast and navigation, so a test
 * can say what the student saw.
 */
const config = require('../../config')

const BASE = 'https://api.test'

/**
 * @param {object} opts
 * @param {Record<string, Function|object|Array>} opts.routes 'METHOD /api/v1/path' → a reply
 *   `{status, body, header}`, a function of the request returning one (or 'offline'), or a
 *   list of replies used one after the other (the last one repeats)
 * @param {Function} [opts.werun] returns `{encryptedData, iv}` or throws `{errMsg}`
 * @param {boolean} [opts.modalConfirm] what the student taps in every modal (default true)
 * @param {object} [opts.subscribe] the answer of wx.requestSubscribeMessage
 */
function installWx(opts = {}) {
  const storage = new Map()
  const seen = { requests: [], modals: [], toasts: [], navigations: [], settingsOpened: 0, subscribeAsks: [] }
  let codes = 0
  let werunCalls = 0
  const later = fn => setTimeout(fn, 0)

  function reply(method, url, data, header) {
    const [path] = url.slice(BASE.length).split('?')
    const full = url.slice(BASE.length)
    const req = { method, path, url: full, data, header }
    seen.requests.push(req)
    const route = opts.routes[`${method} ${full}`] || opts.routes[`${method} ${path}`]
    if (!route) return { status: 404, body: { code: 'not_found', detail: `No resource at ${method} ${path}.` } }
    if (Array.isArray(route)) {
      const next = route.length > 1 ? route.shift() : route[0]
      return typeof next === 'function' ? next(req) : next
    }
    return typeof route === 'function' ? route(req) : route
  }

  const wx = {
    request({ url, method = 'GET', data, header, success, fail }) {
      later(() => {
        const r = reply(method, url, data, header)
        if (r === 'offline') fail({ errMsg: 'request:fail timeout' })
        else success({ statusCode: r.status || 200, data: r.body === undefined ? '' : r.body, header: r.header || {} })
      })
    },
    login({ success }) {
      codes += 1
      later(() => success({ code: `code-${codes}`, errMsg: 'login:ok' }))
    },
    getWeRunData({ success, fail }) {
      werunCalls += 1
      later(() => {
        try {
          success((opts.werun || (() => ({ encryptedData: `payload-${werunCalls}`, iv: `iv-${werunCalls}` })))(werunCalls))
        } catch (err) {
          fail(err)
        }
      })
    },
    requestSubscribeMessage({ tmplIds, success }) {
      seen.subscribeAsks.push(tmplIds)
      later(() => success(opts.subscribe || Object.fromEntries(tmplIds.map(id => [id, 'accept']))))
    },
    showModal(options) {
      seen.modals.push(options)
      later(() => options.success && options.success({ confirm: opts.modalConfirm !== false, cancel: opts.modalConfirm === false }))
    },
    showToast(options) {
      seen.toasts.push(options)
    },
    showLoading() {},
    hideLoading() {},
    openSetting() {
      seen.settingsOpened += 1
    },
    navigateTo({ url }) {
      seen.navigations.push(url)
    },
    switchTab({ url }) {
      seen.navigations.push(url)
    },
    reLaunch({ url }) {
      seen.navigations.push(url)
    },
    setStorageSync: (k, v) => storage.set(k, JSON.parse(JSON.stringify(v))),
    getStorageSync: k => (storage.has(k) ? storage.get(k) : ''),
    removeStorageSync: k => storage.delete(k),
    clearStorageSync: () => storage.clear(),
    getWindowInfo: () => ({ pixelRatio: 2, windowWidth: 375, windowHeight: 667 }),
    canvasToTempFilePath({ success }) {
      later(() => success({ tempFilePath: 'wxfile://poster.png' }))
    },
    saveImageToPhotosAlbum({ success }) {
      later(() => success({}))
    },
    setClipboardData({ data, success }) {
      seen.clipboard = data
      if (success) later(() => success({}))
    },
  }

  global.wx = Object.assign(global.wx || {}, wx)
  config.apiBase = BASE
  config.retry = { attempts: 3, baseMs: 1, maxMs: 5 }
  return { wx: global.wx, seen, storage }
}

module.exports = { installWx, BASE }
