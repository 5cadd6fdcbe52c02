/**
 * What a student reads when the server refuses a request: a Chinese sentence per stable
 * problem `code`. Codes not listed here show the server's own `detail` sentence.
 */
const BY_CODE = {
  wechat_code_invalid: '微信登录凭证已失效，请重新进入小程序。',
  wechat_user_blocked: '该微信账号暂时无法登录，请联系微信客服。',
  wechat_rate_limited: '登录的人太多了，请稍后再试。',
  wechat_unavailable: '微信服务暂时不可用，请稍后再试。',
  rate_limited: '操作太频繁了，请稍后再试。',
  campaign_not_found: '找不到这个活动，请确认小程序版本。',
  campaign_not_open: '活动尚未开放报名。',
  campaign_closed: '活动已经结束。',
  uploads_closed: '活动已结束，步数同步已关闭。',
  already_enrolled: '你已经加入了这个活动的另一个班级，如需调整请联系老师。',
  cohort_not_found: '加入码不正确，请向老师确认。',
  cohort_not_leaf: '这个加入码属于学院，请使用班级的加入码。',
  join_code_required: '请输入班级加入码。',
  join_code_not_accepted: '这个加入码不能用于加入，请向老师确认。',
  not_enrolled: '你还没有加入这个活动。',
  participant_suspended: '你在本活动中的参与已被暂停，请联系老师。',
  source_not_accepted: '本活动不接受微信运动同步。',
  werun_undecryptable: '微信运动数据无法解密，请重新进入小程序后再试。',
  werun_not_step_data: '收到的不是微信运动步数，请重试。',
  werun_foreign_appid: '微信运动数据不属于本小程序。',
  werun_stale: '微信运动数据已过期，请重新同步。',
  missing_token: '登录已失效，请重新进入小程序。',
  invalid_token: '登录已失效，请重新进入小程序。',
  token_expired: '登录已过期，请重新进入小程序。',
}

const OFFLINE = '网络不可用，请检查网络后再试。'
const BUSY = '服务器繁忙，请稍后再试。'

/**
 * The sentence to show for a refused request.
 * @param {{status?: number, code?: string, detail?: string, offline?: boolean}} problem
 * @returns {string}
 */
function messageFor(problem) {
  if (problem.offline) return OFFLINE
  if (problem.code && BY_CODE[problem.code]) return BY_CODE[problem.code]
  if (problem.detail) return problem.detail
  if (problem.status === 429 || problem.status === 503) return BUSY
  return `请求失败（${problem.status || '未知错误'}），请稍后再试。`
}

module.exports = { messageFor, OFFLINE, BUSY }
