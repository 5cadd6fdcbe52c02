const { installWx } = require('./helpers/wx')
const { renderPage, textOf, tap, expectText } = require('./helpers/render')
const f = require('./helpers/fixtures')

describe('里程碑', () => {
  test('a student sees unlocked stations with the day reached and locked ones with their distance', async () => {
    installWx({ routes: f.joinedRoutes({ [`GET ${f.P}/me/milestones`]: { body: f.milestones } }) })
    const page = await renderPage('milestones')
    expectText(page, {
      shows: [
        '班级已解锁 2 / 3 站',
        '已解锁 第1站 瑞金出发 踏上征途 2026年11月21日到达',
        '未解锁 第3站 突破第一道封锁线 368.0 公里处 · 未解锁',
      ],
      hides: ['突破封锁'],
    })
  })

  test('tapping an unlocked station opens its story, a locked one only encourages', async () => {
    const { seen } = installWx({ routes: f.joinedRoutes({ [`GET ${f.P}/me/milestones`]: { body: f.milestones } }) })
    const page = await renderPage('milestones')
    const cells = page.querySelectorAll('.weui-cell')
    await tap(page, cells[1])
    await tap(page, cells[2])
    expect(seen.navigations).toEqual(['/pages/story/story?seq=2'])
    expect(seen.toasts.map(t => t.title)).toEqual(['继续前进，到达后解锁'])
  })

  test('a student who has not joined is pointed to the join page', async () => {
    installWx({ routes: { ...f.joinedRoutes(), 'GET /api/v1/me': { body: f.meWithoutCampaign } } })
    const page = await renderPage('milestones')
    expect(textOf(page)).toContain('加入活动后，这里会显示长征路上的 36 个里程碑。')
  })

  test('a failed load says why and offers a retry', async () => {
    installWx({ routes: f.joinedRoutes({ [`GET ${f.P}/me/milestones`]: f.problem(403, 'not_enrolled', 'Join first.') }) })
    const page = await renderPage('milestones')
    expect(textOf(page)).toBe('加载失败 你还没有加入这个活动。 重试')
  })
})

describe('里程碑故事', () => {
  test('an unlocked station shows its title, dates and story as paragraphs', async () => {
    installWx({ routes: f.joinedRoutes({ [`GET ${f.P}/me/milestones`]: { body: f.milestones } }) })
    const page = await renderPage('story', { seq: '1' })
    expectText(page, {
      shows: [
        '踏上征途 第1站 瑞金出发 · 历史日期 1934年10月10日 · 2026年11月21日到达',
        '中央红军从瑞金出发，开始战略转移。 这一天，瑞金出发。',
      ],
      hides: ['#'],
    })
  })

  test('a locked station keeps its story hidden', async () => {
    installWx({ routes: f.joinedRoutes({ [`GET ${f.P}/me/milestones`]: { body: f.milestones } }) })
    const page = await renderPage('story', { seq: '3' })
    expect(textOf(page)).toBe('第3站 突破第一道封锁线 这一站尚未解锁，继续前进吧。')
  })
})
