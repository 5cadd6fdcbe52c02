const { installWx } = require('./helpers/wx')
const { renderPage, textOf, tap, expectText } = require('./helpers/render')
const f = require('./helpers/fixtures')

/** A 2d canvas context that remembers the text drawn on it. */
function recordingCanvas() {
  const texts = []
  const ctx = {
    texts,
    scale() {},
    fillRect() {},
    strokeRect() {},
    fillText: text => texts.push(text),
    measureText: text => ({ width: [...text].length * 12 }),
  }
  return { width: 0, height: 0, getContext: () => ctx, ctx }
}

function stubCanvas(page, canvas) {
  page.instance.createSelectorQuery = () => ({
    select: () => ({ fields: () => ({ exec: cb => cb([{ node: canvas, width: 300, height: 460 }]) }) }),
  })
}

describe('我的', () => {
  test('a student sees the profile, enrollments, privacy notice and, before finishing, when the certificate comes', async () => {
    installWx({ routes: f.joinedRoutes({ [`GET ${f.P}/me/certificate`]: f.problem(404, 'certificate_not_found', 'Not finished yet.') }) })
    const page = await renderPage('mine')
    expectText(page, {
      shows: [
        '姓名 李明 学号 2023001',
        '长征永远在路上 计算机学院/软件2301 · 2026年11月20日加入 参与中',
        '走完长征全程后，可以在这里生成完赛证书。',
        '隐私说明',
        '删除我的账号',
      ],
      hides: ['生成证书海报'],
    })
  })

  test('a finisher draws the certificate poster with the verification link on a 2d canvas', async () => {
    installWx({ routes: f.joinedRoutes({ [`GET ${f.P}/me/certificate`]: { body: f.certificate } }) })
    const page = await renderPage('mine')
    expect(textOf(page)).toContain('2026年12月15日走完全程 12,500 公里 验证链接：https://longmarch.example.edu.cn/api/v1/certificates/c0ffee12')
    const canvas = recordingCanvas()
    stubCanvas(page, canvas)
    await tap(page, '.mine-poster')
    expect(canvas.width).toBe(600)
    // Long lines are wrapped to the poster's width: read the text as one string.
    const drawn = canvas.ctx.texts.join('')
    expect(drawn).toContain('完赛证书')
    expect(drawn).toContain('李*')
    expect(drawn).toContain('示范大学')
    expect(drawn).toContain('于2026年12月15日走完长征全程 12,500 公里，特发此证。')
    expect(drawn).toContain('访问以下链接验证本证书')
    expect(canvas.ctx.texts.filter(t => /^[\w:/.-]+$/.test(t)).join('')).toBe(f.certificate.verify_url)
    expect(textOf(page)).toContain('保存到相册 复制验证链接')
  })

  test('erasing the account asks first, calls the erase API and forgets the login', async () => {
    const { seen, storage } = installWx({
      routes: f.joinedRoutes({ [`GET ${f.P}/me/certificate`]: f.problem(404, 'not_found', 'x'), 'DELETE /api/v1/me': { status: 204 } }),
    })
    const page = await renderPage('mine')
    await tap(page, '.mine-erase')
    expect(seen.modals[0].title).toBe('删除账号')
    expect(seen.requests.some(r => r.method === 'DELETE' && r.path === '/api/v1/me')).toBe(true)
    expect(storage.has('lm_token')).toBe(false)
    expect(textOf(page)).toBe('账号已删除 你的个人信息已从服务器清除。再次打开小程序会以新身份登录。')
  })

  test('a student who cancels keeps the account', async () => {
    const { seen } = installWx({ modalConfirm: false, routes: f.joinedRoutes({ 'DELETE /api/v1/me': { status: 204 } }) })
    const page = await renderPage('mine')
    await tap(page, '.mine-erase')
    expect(seen.requests.some(r => r.method === 'DELETE')).toBe(false)
    expect(textOf(page)).toContain('删除我的账号')
  })

  test('a server without account erasure says whom to ask', async () => {
    installWx({ routes: f.joinedRoutes() })
    const page = await renderPage('mine')
    await tap(page, '.mine-erase')
    expect(textOf(page)).toContain('服务器暂不支持删除账号，请联系活动组织者。')
  })
})
