/**
 * A local stand-in for WeChat's `GET /sns/jscode2session`, speaking its wire format: JSON
 * served as text/plain, `{openid, session_key, unionid}` on success, `{errcode, errmsg}` on
 * failure. Codes look like `<openid>.<n>`. Each user has a current 16-byte session key,
 * which `rotate` replaces (as WeChat does when a session ends) without telling the server.
 */
const http = require('node:http')
const crypto = require('node:crypto')

function startWechatMock({ appid, secret }) {
  const keys = new Map()
  const calls = []
  const keyOf = openid => {
    if (!keys.has(openid)) keys.set(openid, crypto.randomBytes(16))
    return keys.get(openid)
  }
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://mock')
    const send = body => {
      res.writeHead(200, { 'Content-Type': 'text/plain' })
      res.end(JSON.stringify(body))
    }
    if (req.method !== 'GET' || url.pathname !== '/sns/jscode2session') {
      res.writeHead(404, { 'Content-Type': 'text/plain' })
      res.end(JSON.stringify({ errcode: 404, errmsg: 'not found' }))
      return
    }
    const q = url.searchParams
    const code = q.get('js_code') || ''
    calls.push(code)
    if (q.get('appid') !== appid || q.get('secret') !== secret) return send({ errcode: 40013, errmsg: 'invalid appid' })
    if (q.get('grant_type') !== 'authorization_code') return send({ errcode: 40002, errmsg: 'invalid grant_type' })
    const openid = code.split('.')[0]
    if (!openid) return send({ errcode: 40029, errmsg: 'invalid code' })
    return send({ openid, session_key: keyOf(openid).toString('base64'), unionid: `u_${openid}` })
  })
  return new Promise(resolve => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        base: `http://127.0.0.1:${server.address().port}`,
        calls,
        keyOf,
        rotate: openid => keys.set(openid, crypto.randomBytes(16)),
        close: () => new Promise(done => server.close(done)),
      })
    })
  })
}

/**
 * Encrypts a WeRun payload the way WeChat does: AES-128-CBC, PKCS#7, standard base64, with
 * the user's session key and a random iv.
 * @returns {{encryptedData: string, iv: string}}
 */
function encryptWerun(sessionKey, data) {
  const iv = crypto.randomBytes(16)
  const cipher = crypto.createCipheriv('aes-128-cbc', sessionKey, iv)
  const encrypted = Buffer.concat([cipher.update(JSON.stringify(data), 'utf8'), cipher.final()])
  return { encryptedData: encrypted.toString('base64'), iv: iv.toString('base64') }
}

module.exports = { startWechatMock, encryptWerun }
