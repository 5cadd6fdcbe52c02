/**
 * The parts of `wx` the request layer and the WeRun sync use, implemented over Node's
 * http so the mini-program's own modules talk to a real server.
 */
const http = require('node:http')

function request({ url, method = 'GET', data, header = {}, timeout = 15000, success, fail }) {
  const target = new URL(url)
  const body = data === undefined || method === 'GET' ? undefined : Buffer.from(JSON.stringify(data))
  const headers = { ...header }
  if (body) headers['Content-Length'] = body.length
  const req = http.request(
    { hostname: target.hostname, port: target.port, path: target.pathname + target.search, method, headers, timeout },
    res => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let parsed = text
        try {
          // Like wx.request with dataType json: parse whatever the content type says.
          parsed = text ? JSON.parse(text) : ''
        } catch (e) {
          parsed = text
        }
        success({ statusCode: res.statusCode, data: parsed, header: res.headers })
      })
    },
  )
  req.on('timeout', () => req.destroy(new Error('timeout')))
  req.on('error', err => fail({ errMsg: `request:fail ${err.message}` }))
  if (body) req.write(body)
  req.end()
}

/**
 * @param {{openid: string, werun: () => {encryptedData: string, iv: string}}} device
 */
function nodeWx(device) {
  const storage = new Map()
  const seen = { modals: [], toasts: [], codes: [] }
  let n = 0
  return {
    seen,
    wx: {
      request,
      login({ success }) {
        n += 1
        const code = `${device.openid}.${n}`
        seen.codes.push(code)
        setImmediate(() => success({ code, errMsg: 'login:ok' }))
      },
      getWeRunData({ success, fail }) {
        setImmediate(() => {
          try {
            success({ ...device.werun(), errMsg: 'getWeRunData:ok' })
          } catch (err) {
            fail({ errMsg: `getWeRunData:fail ${err.message}` })
          }
        })
      },
      showModal(options) {
        seen.modals.push(options)
        setImmediate(() => options.success && options.success({ confirm: true, cancel: false }))
      },
      showToast(options) {
        seen.toasts.push(options)
      },
      openSetting() {},
      requestSubscribeMessage({ fail }) {
        setImmediate(() => fail({ errMsg: 'requestSubscribeMessage:fail no templates' }))
      },
      setStorageSync: (k, v) => storage.set(k, JSON.parse(JSON.stringify(v))),
      getStorageSync: k => (storage.has(k) ? storage.get(k) : ''),
      removeStorageSync: k => storage.delete(k),
      clearStorageSync: () => storage.clear(),
    },
  }
}

module.exports = { nodeWx }
