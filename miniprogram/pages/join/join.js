// 加入: join the campaign with the class's join code, typed or read from the class's
// 小程序码 (its `scene` is the join code), with display name and student number.
const config = require('../../config')
const api = require('../../utils/api')
const campaign = require('../../utils/campaign')

/** The same rules the server applies, said in Chinese before the request is sent. */
function checkForm({ name, studentNo }) {
  const n = name.trim()
  if (!n || [...n].length > 32) return '请填写姓名（1–32 个字）。'
  const s = studentNo.trim()
  if (s && ([...s].length > 32 || !/^[A-Za-z0-9-]+$/.test(s))) return '学号只能包含字母、数字和连字符，最多 32 位。'
  return ''
}

/** The campaigns a student can join here: the configured one, else every active one. */
async function joinable() {
  if (config.campaign) {
    const detail = await api.campaign(config.campaign)
    return [detail]
  }
  const list = await api.campaigns()
  return list.items.filter(c => c.status === 'active')
}

Component({
  data: {
    loading: true,
    error: '',
    fromScene: false,
    code: '',
    name: '',
    studentNo: '',
    campaigns: [],
    slug: '',
    individual: false,
    submitting: false,
    joinedText: '',
  },
  methods: {
    onLoad(query) {
      // A scanned 小程序码 opens the page with `scene` = the join code, URL-encoded.
      if (query && query.scene) this.setData({ code: decodeURIComponent(query.scene), fromScene: true })
      else if (query && query.code) this.setData({ code: query.code })
    },

    async onShow() {
      this.setData({ error: '' })
      try {
        const [me, campaigns] = await Promise.all([api.me(), joinable()])
        if (!campaigns.length) throw new Error('目前没有正在进行的活动。')
        const slug = this.data.slug || campaigns[0].slug
        this.setData({
          loading: false,
          campaigns: campaigns.map(c => ({ slug: c.slug, title: c.title })),
          slug,
          individual: campaigns.find(c => c.slug === slug).progress_mode === 'individual',
          name: this.data.name || (me.display_name.startsWith('长征队员') ? '' : me.display_name),
          studentNo: this.data.studentNo || me.student_no || '',
        })
      } catch (err) {
        this.setData({ loading: false, error: err.message })
      }
    },

    onCode(e) {
      this.setData({ code: e.detail.value })
    },
    onName(e) {
      this.setData({ name: e.detail.value })
    },
    onStudentNo(e) {
      this.setData({ studentNo: e.detail.value })
    },
    onPick(e) {
      this.setData({ slug: e.currentTarget.dataset.slug })
    },

    async onSubmit() {
      if (this.data.submitting) return
      const invalid = checkForm(this.data)
      if (invalid) {
        this.setData({ error: invalid })
        return
      }
      this.setData({ submitting: true, error: '' })
      try {
        const body = { display_name: this.data.name.trim(), student_no: this.data.studentNo.trim() }
        if (this.data.code.trim()) body.join_code = this.data.code.trim()
        const enrollment = await api.join(this.data.slug, body)
        campaign.choose(enrollment.campaign)
        this.setData({
          joinedText: enrollment.cohort
            ? `已加入 ${enrollment.campaign_title} · ${enrollment.cohort.path}`
            : `已加入 ${enrollment.campaign_title}`,
        })
        wx.showToast({ title: '加入成功', icon: 'success' })
        wx.switchTab({ url: '/pages/index/index' })
      } catch (err) {
        this.setData({ error: err.message })
      } finally {
        this.setData({ submitting: false })
      }
    },
  },
})
