const { installWx } = require('./helpers/wx')
const { renderPage, textOf, tap, expectText } = require('./helpers/render')
const f = require('./helpers/fixtures')
const format = require('../utils/format')

const today = format.today('Asia/Shanghai')
const todaysUpload = newly => ({ body: { ...f.upload(newly), accepted: [{ date: today, steps: 12345, stored_steps: 12345, counted: 12345, flagged: false }] } })

describe('首页', () => {
  test('a student sees the class position, the stations around it and today’s steps after the sync on show', async () => {
    const { seen } = installWx({ routes: f.joinedRoutes({ [`POST ${f.P}/steps/werun`]: todaysUpload([]) }) })
    const page = await renderPage('index')
    expectText(page, {
      shows: [
        '长征永远在路上 · 软件2301（班级进度）',
        '已行进 250.0 公里',
        '全程 12500.0 公里 · 已到达 2 / 36 站',
        '第2站 于都渡河',
        '第3站 突破第一道封锁线，还有 118.0 公里',
        '我个人 5000.0 公里',
        '12,345 步',
        '同步步数',
      ],
      hides: ['尚未同步'],
    })
    const upload = seen.requests.find(r => r.path === `${f.P}/steps/werun`)
    expect(upload.data).toEqual({ encrypted_data: 'payload-1', iv: 'iv-1' })
    expect(upload.header.Authorization).toBe('Bearer token-1')
  })

  test('in an individual campaign the student sees their own walk, and the finish date once there', async () => {
    const own = { ...f.progress, progress_mode: 'individual', subject: 'participant', cohort: null, metres: 12500000, current_station: { seq: 36, name: '吴起镇会师', metres: 12500000 }, next_station: null, metres_to_next: null, percent: 100, stations_reached: 36, finished_on: '2026-12-20' }
    installWx({ routes: f.joinedRoutes({ [`GET ${f.P}/me/progress`]: { body: own }, [`POST ${f.P}/steps/werun`]: { body: { ...f.upload(), progress: own } } }) })
    const page = await renderPage('index')
    expectText(page, {
      shows: [
        '长征永远在路上 · 我的进度',
        '已行进 12500.0 公里',
        '当前站 第36站 吴起镇会师',
        '到达终点 2026年12月20日',
      ],
      hides: ['下一站', '我个人'],
    })
  })

  test('a student who has not joined is invited to join and taken to the join page', async () => {
    const { seen } = installWx({ routes: { ...f.joinedRoutes(), 'GET /api/v1/me': { body: f.meWithoutCampaign } } })
    const page = await renderPage('index')
    expect(textOf(page)).toContain('你还没有加入活动')
    await tap(page, '.weui-btn_primary')
    expect(seen.navigations).toEqual(['/pages/join/join'])
    expect(seen.requests.some(r => r.path.endsWith('/steps/werun'))).toBe(false)
  })

  test('tapping 同步步数 asks for the daily reminder, records it and announces a new milestone by its title', async () => {
    const newly = [{ seq: 3, name: '突破第一道封锁线', title: '血战突围', reached_on: today }]
    const { seen } = installWx({
      routes: f.joinedRoutes({
        [`POST ${f.P}/steps/werun`]: [todaysUpload([]), todaysUpload(newly)],
        'POST /api/v1/me/subscriptions': { status: 204 },
      }),
    })
    const page = await renderPage('index')
    await tap(page, '.weui-btn_primary')
    expect(seen.subscribeAsks).toEqual([['tmpl-daily']])
    const recorded = seen.requests.find(r => r.path === '/api/v1/me/subscriptions')
    expect(recorded.data).toEqual({ template_ids: ['tmpl-daily'] })
    expect(seen.modals.map(m => m.title)).toEqual(['解锁新里程碑：血战突围'])
    expect(seen.modals[0].content).toContain('第3站 突破第一道封锁线：血战突围')
    expect(seen.toasts.map(t => t.title)).toContain('已同步 1 天步数')
  })

  test('a campaign without reminder templates syncs without asking, and a server without subscriptions still syncs', async () => {
    const { seen } = installWx({
      routes: f.joinedRoutes({ [`GET ${f.P}`]: { body: { ...f.campaign, reminder_template_ids: undefined } } }),
    })
    const page = await renderPage('index')
    await tap(page, '.weui-btn_primary')
    expect(seen.subscribeAsks).toEqual([])
    expect(seen.requests.filter(r => r.path.endsWith('/steps/werun'))).toHaveLength(2)

    const second = installWx({ routes: f.joinedRoutes() })
    const again = await renderPage('index')
    await tap(again, '.weui-btn_primary')
    expect(second.seen.subscribeAsks).toEqual([['tmpl-daily']])
    expect(second.seen.requests.filter(r => r.path.endsWith('/steps/werun'))).toHaveLength(2)
    expect(textOf(again)).not.toContain('No resource')
  })

  test('a refused WeRun permission is explained on tap and the settings page is opened', async () => {
    const { seen } = installWx({
      routes: f.joinedRoutes(),
      werun: () => {
        throw { errMsg: 'getWeRunData:fail auth deny' }
      },
    })
    const page = await renderPage('index')
    expect(textOf(page)).toContain('未授权读取微信运动步数，无法同步。')
    expect(seen.modals).toEqual([])
    await tap(page, '.weui-btn_primary')
    expect(seen.modals[0].title).toBe('需要微信运动权限')
    expect(seen.modals[0].content).toContain('微信运动步数')
    expect(seen.settingsOpened).toBe(1)
  })

  test('a payload the server cannot decrypt makes the client log in again once and upload fresh data', async () => {
    const { seen } = installWx({
      routes: f.joinedRoutes({
        [`POST ${f.P}/steps/werun`]: [
          f.problem(422, 'werun_undecryptable', 'The WeRun data could not be decrypted (bad padding).'),
          todaysUpload([]),
        ],
      }),
    })
    const page = await renderPage('index')
    const uploads = seen.requests.filter(r => r.path.endsWith('/steps/werun'))
    expect(uploads.map(u => u.data.encrypted_data)).toEqual(['payload-1', 'payload-2'])
    expect(seen.requests.filter(r => r.path === '/api/v1/auth/wechat').map(r => r.data.code)).toEqual(['code-1', 'code-2'])
    expect(textOf(page)).toContain('12,345 步')
  })

  test('a payload still undecryptable after the new login is reported, not retried forever', async () => {
    const { seen } = installWx({
      routes: f.joinedRoutes({ [`POST ${f.P}/steps/werun`]: f.problem(422, 'werun_undecryptable', 'bad padding') }),
    })
    const page = await renderPage('index')
    expect(seen.requests.filter(r => r.path.endsWith('/steps/werun'))).toHaveLength(2)
    expect(textOf(page)).toContain('微信运动数据无法解密，请重新进入小程序后再试。')
  })

  test('an expired token is renewed once with a new login and the request repeated', async () => {
    const { seen, storage } = installWx({
      routes: f.joinedRoutes({
        'GET /api/v1/me': [f.problem(401, 'token_expired', 'The token has expired.'), { body: f.me }],
        'POST /api/v1/auth/wechat': [{ body: f.login }, { body: { ...f.login, token: 'token-2' } }],
      }),
    })
    storage.set('lm_token', { token: 'old', expires_at: '2099-01-01T00:00:00Z' })
    const page = await renderPage('index')
    const meCalls = seen.requests.filter(r => r.path === '/api/v1/me')
    expect(meCalls.map(r => r.header.Authorization)).toEqual(['Bearer old', 'Bearer token-1'])
    expect(textOf(page)).toContain('已行进 250.0 公里')
  })

  test('a busy server is retried with back-off and the student is told so', async () => {
    const { seen } = installWx({
      routes: f.joinedRoutes({
        [`GET ${f.P}/me/progress`]: [f.problem(503, 'unavailable', 'busy'), f.problem(429, 'rate_limited', 'slow down'), { body: f.progress }],
      }),
    })
    const page = await renderPage('index')
    expect(seen.toasts.map(t => t.title)).toEqual(['服务器繁忙，1秒后重试', '服务器繁忙，1秒后重试'])
    expect(textOf(page)).toContain('已行进 250.0 公里')
  })

  test('a phone that stays offline is told to check its network after the retries', async () => {
    const { seen } = installWx({ routes: f.joinedRoutes({ 'GET /api/v1/me': () => 'offline' }) })
    const page = await renderPage('index')
    expect(seen.requests.filter(r => r.path === '/api/v1/me')).toHaveLength(4)
    expect(seen.toasts[0].title).toBe('网络不稳定，1秒后重试')
    expect(textOf(page)).toContain('加载失败 网络不可用，请检查网络后再试。 重试')
  })

  test('a refused upload shows the server’s reason', async () => {
    installWx({
      routes: f.joinedRoutes({ [`POST ${f.P}/steps/werun`]: f.problem(409, 'some_new_rule', 'Uploads pause during the audit.') }),
    })
    const page = await renderPage('index')
    expect(textOf(page)).toContain('Uploads pause during the audit.')
  })
})
