/**
 * @jest-environment node
 *
 * End to end: the mini-program's real request layer and WeRun sync against a real
 * `longmarch serve` (development settings: the demo campaign, join code DEMO01) on a fresh
 * SQLite file, with a local WeChat jscode2session mock and a WeRun payload encrypted with
 * the session key the mock handed out.
 */
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const { startWechatMock, encryptWerun } = require('./wechat-mock')
const { nodeWx } = require('./node-wx')

const REPO = path.resolve(__dirname, '..', '..', '..')
const BIN = process.env.LONGMARCH_BIN || path.join(REPO, 'target', 'debug', 'longmarch')
const APPID = 'wx4f4bc4dec97d474b'
const SECRET = 'e2e-wechat-secret'
const SLUG = 'long-march-demo'
const OPENID = 'o_e2e_student'
const STEPS_PER_DAY = 20000

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

async function waitReady(base, child, log) {
  const deadline = Date.now() + 90000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`longmarch exited with ${child.exitCode}:\n${log()}`)
    try {
      const res = await fetch(`${base}/readyz`)
      if (res.ok) return
    } catch (e) {
      // not listening yet
    }
    await new Promise(r => setTimeout(r, 200))
  }
  throw new Error(`longmarch did not become ready:\n${log()}`)
}

/** 00:00 in Asia/Shanghai (the device's zone) of the day `back` days before today, in Unix seconds. */
function shanghaiMidnight(back) {
  const now = new Date(Date.now() + 8 * 3600 * 1000)
  const utcMidnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - back)
  return Math.floor((utcMidnight - 8 * 3600 * 1000) / 1000)
}

describe('the mini-program against a real longmarch server', () => {
  let wechat
  let server
  let output = ''
  let tmp
  let api
  let werun
  let device
  let config

  beforeAll(async () => {
    if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: run \`cargo build\` in ${REPO} first`)
    wechat = await startWechatMock({ appid: APPID, secret: SECRET })
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lm-miniprogram-'))
    const port = await freePort()
    server = spawn(BIN, ['serve'], {
      cwd: REPO,
      env: {
        ...process.env,
        LONGMARCH_ENV: 'development',
        LONGMARCH__DATABASE__URL: `sqlite://${tmp}/lm.db`,
        LONGMARCH__SERVER__HOST: '127.0.0.1',
        LONGMARCH__SERVER__PORT: String(port),
        LONGMARCH__SERVER__WORKERS: '2',
        LONGMARCH__WECHAT__API_BASE: wechat.base,
        LONGMARCH__WECHAT__APPID: APPID,
        LONGMARCH__WECHAT__SECRET: SECRET,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    server.stdout.on('data', d => (output += d))
    server.stderr.on('data', d => (output += d))
    const base = `http://127.0.0.1:${port}`
    await waitReady(base, server, () => output)

    // What the phone's WeChat would hand out: the last 3 days of steps, encrypted with the
    // session key WeChat currently holds for this user.
    const werunData = () => ({
      stepInfoList: [2, 1, 0].map(back => ({ timestamp: shanghaiMidnight(back), step: STEPS_PER_DAY })),
      watermark: { timestamp: Math.floor(Date.now() / 1000), appid: APPID },
    })
    device = nodeWx({ openid: OPENID, werun: () => encryptWerun(wechat.keyOf(OPENID), werunData()) })
    global.wx = device.wx
    config = require('../../config')
    config.apiBase = base
    config.campaign = SLUG
    config.retry = { attempts: 2, baseMs: 50, maxMs: 200 }
    api = require('../../utils/api')
    werun = require('../../utils/werun')
  }, 120000)

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise(resolve => server.once('exit', resolve))
      server.kill('SIGTERM')
      await exited
    }
    if (wechat) await wechat.close()
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  })

  test('a student logs in, joins with DEMO01, syncs real WeRun data and unlocks the stations it reaches', async () => {
    const login = await api.login()
    expect(login.new).toBe(true)
    expect(wechat.calls).toEqual([`${OPENID}.1`])

    const campaign = await api.campaign(SLUG)
    expect(campaign.stations).toHaveLength(36)

    const enrollment = await api.join(SLUG, { join_code: 'DEMO01', display_name: '李明', student_no: '2023001' })
    expect(enrollment.cohort.path).toBe('计算机学院/软件2301')

    // WeChat ended the session the server knows: the first payload is encrypted with a key
    // the server has never seen, so the client must log in again and read the steps afresh.
    wechat.rotate(OPENID)
    const result = await werun.syncSteps(SLUG, { interactive: true })
    expect(result.status).toBe('ok')
    expect(wechat.calls).toEqual([`${OPENID}.1`, `${OPENID}.2`])

    const { answer } = result
    expect(answer.rejected).toEqual([])
    expect(answer.accepted).toHaveLength(3)
    const metres = Math.floor((3 * STEPS_PER_DAY * 1000) / 18)
    expect(answer.progress.own.metres).toBe(metres)
    // One member in 软件2301, so the class's mean is this student's walk.
    expect(answer.progress.metres).toBe(metres)

    const reachable = campaign.stations.filter(s => s.metres <= metres).map(s => s.seq)
    expect(reachable.length).toBeGreaterThan(1)
    expect(answer.newly_unlocked.map(s => s.seq)).toEqual(reachable)

    // The student was told, by the station's title.
    expect(device.seen.modals).toHaveLength(1)
    for (const s of answer.newly_unlocked) expect(device.seen.modals[0].content).toContain(s.title)

    const milestones = await api.milestones(SLUG)
    const unlocked = milestones.items.filter(m => m.status === 'unlocked')
    expect(unlocked.map(m => m.seq)).toEqual(reachable)
    for (const m of unlocked) {
      expect(m.reached_on).toMatch(/^\d{4}-\d{2}-\d{2}$/)
      expect(m.story.length).toBeGreaterThan(0)
    }
    for (const m of milestones.items.filter(i => i.status === 'locked')) expect(m.story).toBeUndefined()

    // The same data again changes nothing and unlocks nothing (uploads merge by max).
    const again = await werun.syncSteps(SLUG, { interactive: true })
    expect(again.answer.newly_unlocked).toEqual([])
    expect(again.answer.progress.own.metres).toBe(metres)
  })

  test('a token the server no longer accepts is renewed by logging in again', async () => {
    wx.setStorageSync(api.TOKEN_KEY, { token: 'not-a-token', expires_at: '2099-01-01T00:00:00Z' })
    const me = await api.me()
    expect(me.display_name).toBe('李明')
    expect(me.enrollments.map(e => e.campaign)).toEqual([SLUG])
    expect(wechat.calls).toHaveLength(3)
  })

  test('a refusal from the server reaches the student as a sentence, not a crash', async () => {
    await expect(api.join(SLUG, { join_code: 'NOPE99' })).rejects.toMatchObject({
      status: 404,
      code: 'cohort_not_found',
      message: '加入码不正确，请向老师确认。',
    })
  })
})
