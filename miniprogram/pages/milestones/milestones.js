// 里程碑: every station of the route, unlocked ones with the date they were reached and a
// link to their story, locked ones with their distance.
const context = require('../../utils/context')
const api = require('../../utils/api')
const format = require('../../utils/format')

function row(m) {
  const unlocked = m.status === 'unlocked'
  return {
    seq: m.seq,
    label: `第${m.seq}站 ${m.name}`,
    title: m.title,
    unlocked,
    note: unlocked ? `${format.day(m.reached_on)}到达` : `${format.km(m.metres)} 公里处 · 未解锁`,
  }
}

Component({
  data: { loading: true, error: '', joined: true, summary: '', rows: [] },
  methods: {
    async onShow() {
      this.setData({ error: '' })
      try {
        const slug = await context.campaignOf(this)
        if (!slug) return
        const view = await api.milestones(slug)
        const rows = view.items.map(row)
        const reached = rows.filter(r => r.unlocked).length
        const whose = view.subject === 'cohort' ? '班级' : '我'
        this.setData({
          loading: false,
          joined: true,
          rows,
          summary: `${whose}已解锁 ${reached} / ${view.total} 站`,
        })
      } catch (err) {
        this.setData({ loading: false, error: err.message })
      }
    },

    onOpen(e) {
      const { seq, unlocked } = e.currentTarget.dataset
      if (!unlocked) {
        wx.showToast({ title: '继续前进，到达后解锁', icon: 'none' })
        return
      }
      wx.navigateTo({ url: `/pages/story/story?seq=${seq}` })
    },

    onJoin() {
      wx.navigateTo({ url: '/pages/join/join' })
    },
  },
})
