const { installWx } = require('./helpers/wx')
const { renderPage, textOf, tap, expectText } = require('./helpers/render')
const f = require('./helpers/fixtures')

const routes = extra =>
  f.joinedRoutes({
    [`GET ${f.P}/leaderboards/participants?period=total&limit=50`]: { body: f.board },
    [`GET ${f.P}/leaderboards/participants?period=day&limit=50`]: { body: { ...f.board, period: 'day', items: [] } },
    [`GET ${f.P}/leaderboards/participants/me`]: { body: f.myRank },
    [`GET ${f.P}/leaderboards/cohorts?metric=total`]: { body: f.cohortsTop },
    [`GET ${f.P}/leaderboards/cohorts?metric=mean`]: { body: { ...f.cohortsTop, metric: 'mean' } },
    [`GET ${f.P}/leaderboards/cohorts?parent=1&metric=total`]: { body: f.cohortsOfCs },
    [`GET ${f.P}/leaderboards/cohorts?parent=1&metric=mean`]: { body: { ...f.cohortsOfCs, metric: 'mean' } },
    ...extra,
  })

describe('排行榜', () => {
  test('the participants board shows ranks, classes, steps, and my own rank', async () => {
    installWx({ routes: routes() })
    const page = await renderPage('boards')
    expectText(page, {
      shows: [
        '我的排名：第 3 名 / 共 3 人 · 90,000 步',
        '1 王芳 网络2302 200,000 步 11111.1 公里',
        '3 李明（我） 软件2301 90,000 步',
      ],
      hides: ['我附近'],
    })
  })

  test('when I am below the page shown, my neighbours are listed', async () => {
    installWx({ routes: routes({ [`GET ${f.P}/leaderboards/participants?period=total&limit=50`]: { body: { ...f.board, items: f.board.items.slice(0, 1) } } }) })
    const page = await renderPage('boards')
    expect(textOf(page)).toContain('我附近 2 张伟 150,000 步 3 李明（我） 90,000 步')
  })

  test('today’s board with nobody synced yet says so', async () => {
    installWx({ routes: routes() })
    const page = await renderPage('boards')
    await tap(page, '.period-day')
    expect(textOf(page)).toContain('今天还没有人同步步数')
    expect(textOf(page)).not.toContain('我的排名')
  })

  test('the cohort board drills down from colleges to classes and back', async () => {
    const { seen } = installWx({ routes: routes() })
    const page = await renderPage('boards')
    await tap(page, '.tab-cohorts')
    expect(textOf(page)).toContain('1 计算机学院 60 人 · 参与 83.33% · 今日活跃 40% 900,000 步')
    await tap(page, '.cohort-1')
    expectText(page, { shows: ['‹ 返回上一级 · 计算机学院', '1 软件2301', '2 网络2302'] })
    await tap(page, '.metric-mean')
    expect(textOf(page)).toContain('人均 10,000 步')
    await tap(page, '.boards__up')
    expect(textOf(page)).toContain('2 商学院')
    expect(seen.requests.filter(r => r.path.endsWith('/leaderboards/cohorts')).map(r => r.url.split('?')[1])).toEqual([
      'metric=total',
      'parent=1&metric=total',
      'parent=1&metric=mean',
      'metric=mean',
    ])
  })
})
