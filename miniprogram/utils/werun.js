/**
 * Syncing WeChat WeRun (微信运动) steps: read them with wx.getWeRunData, upload the
 * encrypted payload, recover from a stale session key, announce new milestones, and ask
 * for the daily reminder subscription.
 */
const api = require('./api')

const LAST_SYNC_KEY = 'lm_last_sync'

/** Thrown when the student has refused (or not yet granted) the WeRun permission. */
class WerunDenied extends Error {
  constructor() {
    super('未授权读取微信运动步数。')
    this.name = 'WerunDenied'
    this.denied = true
  }
}

function getWeRunData() {
  return new Promise((resolve, reject) => {
    wx.getWeRunData({
      success: res => resolve({ encryptedData: res.encryptedData, iv: res.iv }),
      fail: err => {
        const msg = (err && err.errMsg) || ''
        if (/auth|deny|denied|scope|permission/i.test(msg)) reject(new WerunDenied())
        else reject(new Error(`读取微信运动失败：${msg || '未知原因'}`))
      },
    })
  })
}

function showModal(options) {
  return new Promise(resolve => {
    wx.showModal({ ...options, success: resolve, fail: () => resolve({ confirm: false }) })
  })
}

/** Explains why the permission is needed and offers the settings page. */
async function explainPermission() {
  const { confirm } = await showModal({
    title: '需要微信运动权限',
    content: '同步步数需要读取你的微信运动步数。请在设置中打开「微信运动步数」后再同步。',
    confirmText: '去设置',
    cancelText: '暂不',
  })
  if (confirm) wx.openSetting({})
}

/** One modal naming every station the upload unlocked. */
function announce(stations) {
  if (!stations.length) return Promise.resolve()
  const lines = stations.map(s => `第${s.seq}站 ${s.name}：${s.title}`)
  return showModal({
    title: stations.length === 1 ? `解锁新里程碑：${stations[0].title}` : `解锁 ${stations.length} 个新里程碑`,
    content: lines.join('\n'),
    showCancel: false,
    confirmText: '好的',
  })
}

async function uploadFresh(slug) {
  const data = await getWeRunData()
  return api.uploadWerun(slug, data.encryptedData, data.iv)
}

/**
 * Reads and uploads the WeRun steps for `slug`.
 *
 * A payload the server cannot decrypt means its stored session key is not the one WeChat
 * encrypted with: log in again (a new session key), read the steps again and retry once.
 * A stale payload is read again and retried once.
 * @param {string} slug
 * @param {{interactive?: boolean}} [opts] interactive: the student tapped, so explain a refused permission
 * @returns {Promise<{status: 'ok', answer: object} | {status: 'denied'}>}
 * @throws {api.ApiError|Error}
 */
async function syncSteps(slug, opts = {}) {
  let answer
  try {
    try {
      answer = await uploadFresh(slug)
    } catch (err) {
      if (err.code === 'werun_undecryptable') {
        await api.login()
        answer = await uploadFresh(slug)
      } else if (err.code === 'werun_stale') {
        answer = await uploadFresh(slug)
      } else {
        throw err
      }
    }
  } catch (err) {
    if (!err.denied) throw err
    if (opts.interactive) await explainPermission()
    return { status: 'denied' }
  }
  wx.setStorageSync(`${LAST_SYNC_KEY}:${slug}`, new Date().toISOString())
  await announce(answer.newly_unlocked || [])
  return { status: 'ok', answer }
}

/** When this device last synced `slug`, or null. */
function lastSync(slug) {
  const at = wx.getStorageSync(`${LAST_SYNC_KEY}:${slug}`)
  return at ? new Date(at) : null
}

/**
 * Asks for the daily reminder (订阅消息) and records the accepted templates. Must run
 * straight from a tap. Campaigns without template ids are skipped; a server without the
 * subscriptions endpoint (404) is ignored.
 * @param {string[]|undefined} templateIds
 * @returns {Promise<string[]>} the accepted template ids
 */
function requestReminders(templateIds) {
  if (!templateIds || !templateIds.length) return Promise.resolve([])
  return new Promise(resolve => {
    wx.requestSubscribeMessage({
      tmplIds: templateIds,
      success: res => resolve(templateIds.filter(id => res[id] === 'accept')),
      fail: () => resolve([]),
    })
  }).then(async accepted => {
    if (!accepted.length) return accepted
    try {
      await api.subscribe(accepted)
    } catch (err) {
      if (err.status !== 404) throw err
    }
    return accepted
  })
}

module.exports = { syncSteps, lastSync, requestReminders, explainPermission, WerunDenied }
