const { installWx } = require('./helpers/wx')
const { renderPage, textOf, tap, expectText } = require('./helpers/render')
const f = require('./helpers/fixtures')

const enrollment = {
  campaign: f.SLUG,
  campaign_title: '长征永远在路上',
  cohort: { id: 3, name: '软件2301', path: '计算机学院/软件2301' },
  status: 'active',
  suspend_reason: null,
  joined_at: '2026-12-03T08:00:00Z',
}

const newcomer = { ...f.meWithoutCampaign, display_name: '长征队员ab12', student_no: null }

function type(page, selector, value) {
  page.querySelector(selector).dispatchEvent('input', { detail: { value } })
}

describe('加入', () => {
  test('a scanned class 小程序码 fills in the join code from its scene, and joining lands on the 首页', async () => {
    const { seen, storage } = installWx({
      routes: f.joinedRoutes({ 'GET /api/v1/me': { body: newcomer }, [`POST ${f.P}/join`]: { body: enrollment } }),
    })
    const page = await renderPage('join', { scene: encodeURIComponent('DEMO01') })
    expectText(page, { shows: ['长征永远在路上', '已从班级小程序码读取加入码。'] })
    expect(page.querySelector('.join-code').dom.value || page.instance.data.code).toBe('DEMO01')
    type(page, '.join-name', ' 李明 ')
    type(page, '.join-student-no', '2023001')
    await tap(page, '.join-submit')
    const join = seen.requests.find(r => r.path === `${f.P}/join`)
    expect(join.data).toEqual({ join_code: 'DEMO01', display_name: '李明', student_no: '2023001' })
    expect(textOf(page)).toContain('加入成功 已加入 长征永远在路上 · 计算机学院/软件2301')
    expect(seen.navigations).toEqual(['/pages/index/index'])
    expect(storage.get('lm_campaign')).toBe(f.SLUG)
  })

  test('a wrong code shows the reason in Chinese and keeps the form', async () => {
    const { seen } = installWx({
      routes: f.joinedRoutes({
        'GET /api/v1/me': { body: newcomer },
        [`POST ${f.P}/join`]: f.problem(404, 'cohort_not_found', 'No cohort of this campaign has that join code.'),
      }),
    })
    const page = await renderPage('join')
    type(page, '.join-code', 'NOPE99')
    type(page, '.join-name', '李明')
    await tap(page, '.join-submit')
    expect(textOf(page)).toContain('加入码不正确，请向老师确认。')
    expect(textOf(page)).toContain('加入码 姓名 学号')
    expect(seen.navigations).toEqual([])
  })

  test('a missing name or a bad student number is caught before anything is sent', async () => {
    const { seen } = installWx({ routes: f.joinedRoutes({ 'GET /api/v1/me': { body: newcomer } }) })
    const page = await renderPage('join', { code: 'DEMO01' })
    await tap(page, '.join-submit')
    expect(textOf(page)).toContain('请填写姓名（1–32 个字）。')
    type(page, '.join-name', '李明')
    type(page, '.join-student-no', '2023 001')
    await tap(page, '.join-submit')
    expect(textOf(page)).toContain('学号只能包含字母、数字和连字符，最多 32 位。')
    expect(seen.requests.some(r => r.path.endsWith('/join'))).toBe(false)
  })

  test('a server rule the client does not know is shown with the server’s own sentence', async () => {
    installWx({
      routes: f.joinedRoutes({
        'GET /api/v1/me': { body: newcomer },
        [`POST ${f.P}/join`]: f.problem(422, 'validation_failed', 'display_name: must be 1–32 characters after trimming'),
      }),
    })
    const page = await renderPage('join', { code: 'DEMO01' })
    type(page, '.join-name', '李明')
    await tap(page, '.join-submit')
    expect(textOf(page)).toContain('display_name: must be 1–32 characters after trimming')
  })
})
