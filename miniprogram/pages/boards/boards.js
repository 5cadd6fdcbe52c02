// 排行榜: participants (campaign to date or today, with my rank and neighbours) and cohorts
// (schools → colleges → classes, tap one with children to drill down).
const context = require('../../utils/context')
const api = require('../../utils/api')
const format = require('../../utils/format')

const BOARD_SIZE = 50

const METRICS = {
  total: { label: '总步数', value: c => `${format.count(c.counted_steps)} 步` },
  mean: { label: '人均', value: c => `人均 ${format.count(c.mean_steps)} 步` },
  progress: { label: '进度', value: c => `${format.km(c.position.metres)} 公里` },
}

function personRow(e) {
  return {
    key: `${e.rank}-${e.display_name}-${e.is_me}`,
    rank: e.rank,
    name: e.display_name,
    cohort: e.cohort || '',
    steps: `${format.count(e.counted_steps)} 步`,
    km: `${format.km(e.metres)} 公里`,
    isMe: e.is_me,
  }
}

function cohortRow(c, metric) {
  return {
    id: c.id,
    rank: c.rank,
    name: c.name,
    hasChildren: c.has_children,
    value: METRICS[metric].value(c),
    note: `${c.member_count} 人 · 参与 ${c.participation_percent}% · 今日活跃 ${c.active_today_percent}%`,
  }
}

Component({
  data: {
    loading: true,
    error: '',
    joined: true,
    tab: 'people',
    period: 'total',
    metric: 'total',
    people: [],
    mine: null,
    neighbours: [],
    trail: [],
    cohorts: [],
    empty: false,
  },
  methods: {
    async onShow() {
      try {
        const slug = await context.campaignOf(this)
        if (!slug) return
        await this.refresh()
      } catch (err) {
        this.setData({ loading: false, error: err.message })
      }
    },

    async refresh() {
      this.setData({ error: '' })
      try {
        if (this.data.tab === 'people') await this.loadPeople()
        else await this.loadCohorts()
        this.setData({ loading: false })
      } catch (err) {
        this.setData({ loading: false, error: err.message })
      }
    },

    async loadPeople() {
      const total = this.data.period === 'total'
      const [page, mine] = await Promise.all([
        api.participantsBoard(this.slug, { period: this.data.period, limit: BOARD_SIZE }),
        // My rank and neighbours are kept for the campaign-to-date board only.
        total ? api.myRank(this.slug).catch(() => null) : Promise.resolve(null),
      ])
      const meShown = page.items.some(e => e.is_me)
      this.setData({
        people: page.items.map(personRow),
        empty: page.items.length === 0,
        mine: mine ? { rank: mine.rank, total: mine.total, steps: format.count(mine.me.counted_steps) } : null,
        // Neighbours only help when I am not already on the page shown.
        neighbours: mine && !meShown ? [...mine.above, mine.me, ...mine.below].map(personRow) : [],
      })
    },

    async loadCohorts() {
      const parent = this.data.trail.length ? this.data.trail[this.data.trail.length - 1].id : undefined
      const board = await api.cohortsBoard(this.slug, { parent, metric: this.data.metric })
      this.setData({ cohorts: board.items.map(c => cohortRow(c, this.data.metric)), empty: board.items.length === 0 })
    },

    onTab(e) {
      this.setData({ tab: e.currentTarget.dataset.tab })
      return this.refresh()
    },

    onPeriod(e) {
      this.setData({ period: e.currentTarget.dataset.period })
      return this.refresh()
    },

    onMetric(e) {
      this.setData({ metric: e.currentTarget.dataset.metric })
      return this.refresh()
    },

    onCohort(e) {
      const { id, name, children } = e.currentTarget.dataset
      if (!children) return undefined
      this.setData({ trail: [...this.data.trail, { id, name }] })
      return this.refresh()
    },

    onUp() {
      this.setData({ trail: this.data.trail.slice(0, -1) })
      return this.refresh()
    },

    onJoin() {
      wx.navigateTo({ url: '/pages/join/join' })
    },
  },
})
