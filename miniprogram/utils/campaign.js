/** Which campaign the pages show: the one chosen last, else the configured one, else the first joined. */
const config = require('../config')

const CAMPAIGN_KEY = 'lm_campaign'

/**
 * @param {{enrollments: {campaign: string}[]}} me the answer of GET /me
 * @returns {string|null} the slug, or null when the student has joined nothing
 */
function current(me) {
  const joined = (me.enrollments || []).map(e => e.campaign)
  if (!joined.length) return null
  const chosen = wx.getStorageSync(CAMPAIGN_KEY)
  if (chosen && joined.includes(chosen)) return chosen
  if (config.campaign && joined.includes(config.campaign)) return config.campaign
  return joined[0]
}

function choose(slug) {
  wx.setStorageSync(CAMPAIGN_KEY, slug)
}

function forget() {
  wx.removeStorageSync(CAMPAIGN_KEY)
}

module.exports = { current, choose, forget }
