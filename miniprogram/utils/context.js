/** What every page needs first: who is logged in and which campaign to show. */
const api = require('./api')
const campaign = require('./campaign')

/**
 * Logs in if needed and loads the profile.
 * @returns {Promise<{me: object, slug: string|null}>}
 */
async function load() {
  const me = await api.me()
  return { me, slug: campaign.current(me) }
}

module.exports = { load }

/**
 * The campaign a page shows, kept on the page as `page.slug`; a student who has joined
 * nothing gets the page's 加入活动 state (`joined: false`) and null.
 * @param {{setData: Function, slug?: string}} page
 * @returns {Promise<string|null>}
 */
async function campaignOf(page) {
  const { slug } = await load()
  page.slug = slug
  if (!slug) page.setData({ loading: false, joined: false })
  return slug
}

module.exports.campaignOf = campaignOf
