const { installWx } = require('./helpers/wx')
const f = require('./helpers/fixtures')
const config = require('../config')
const api = require('../utils/api')

describe('the request layer', () => {
  test('concurrent requests without a token share one login', async () => {
    const { seen } = installWx({ routes: f.joinedRoutes() })
    const [me, progress] = await Promise.all([api.me(), api.progress(f.SLUG)])
    expect(me.display_name).toBe('李明')
    expect(progress.rank).toBe(3)
    expect(seen.requests.filter(r => r.path === '/api/v1/auth/wechat')).toHaveLength(1)
  })

  test('a 429 waits as long as the server’s Retry-After asks and says so', async () => {
    const { seen } = installWx({
      routes: f.joinedRoutes({
        [`GET ${f.P}/me/progress`]: [{ ...f.problem(429, 'rate_limited', 'Too many uploads.'), header: { 'Retry-After': '1' } }, { body: f.progress }],
      }),
    })
    config.retry = { attempts: 3, baseMs: 1, maxMs: 5000 }
    const started = Date.now()
    await api.progress(f.SLUG)
    expect(Date.now() - started).toBeGreaterThanOrEqual(950)
    expect(seen.toasts.map(t => t.title)).toEqual(['服务器繁忙，1秒后重试'])
  })

  test('a request still refused after the last retry fails with a sentence for the student', async () => {
    installWx({ routes: f.joinedRoutes({ [`GET ${f.P}/me/progress`]: f.problem(503, 'unavailable', 'The database is not answering.') }) })
    await expect(api.progress(f.SLUG)).rejects.toMatchObject({ status: 503, message: 'The database is not answering.' })
  })

  test('a failed login is not retried as a 401 renewal loop', async () => {
    const { seen } = installWx({
      routes: f.joinedRoutes({ 'POST /api/v1/auth/wechat': f.problem(401, 'wechat_code_invalid', 'The login code was rejected by WeChat.') }),
    })
    await expect(api.me()).rejects.toMatchObject({ code: 'wechat_code_invalid', message: '微信登录凭证已失效，请重新进入小程序。' })
    expect(seen.requests.map(r => r.path)).toEqual(['/api/v1/auth/wechat'])
  })
})
