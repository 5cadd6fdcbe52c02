// 首页: where the subject (the class or the student, by the campaign's mode) stands on the
// route, today's steps and the 同步步数 button. A Component-based page (its lifecycle in
// `methods`), the form miniprogram-simulate can render in tests.
const api = require('../../utils/api')
const context = require('../../utils/context')
const werun = require('../../utils/werun')
const format = require('../../utils/format')

function positionData(progress, detail) {
  const classMode = progress.subject === 'cohort' && progress.cohort
  const station = s => (s ? `第${s.seq}站 ${s.name}` : '')
  return {
    subjectLabel: classMode ? `${progress.cohort.name}（班级进度）` : '我的进度',
    km: format.km(progress.metres),
    totalKm: format.km(detail.route.total_metres),
    percent: Math.min(100, progress.percent || 0),
    currentStation: station(progress.current_station) || '尚未出发',
    nextStation: station(progress.next_station),
    toNextKm: progress.metres_to_next === null || progress.metres_to_next === undefined ? '' : format.km(progress.metres_to_next),
    finishedOn: progress.finished_on ? format.day(progress.finished_on) : '',
    reached: `${progress.stations_reached} / ${progress.stations_total}`,
    ownKm: classMode ? format.km(progress.own.metres) : '',
  }
}

function todaySteps(days, tz) {
  const today = format.today(tz)
  const row = (days || []).find(d => d.date === today)
  return row ? row.steps : 0
}

Component({
  data: {
    loading: true,
    error: '',
    loadFailed: false,
    joined: false,
    syncing: false,
    denied: false,
    campaignTitle: '',
    todaySteps: '0',
    lastSync: '',
  },
  methods: {
    onShow() {
      return this.load().then(() => (this.data.joined ? this.sync(false) : undefined))
    },

    async load() {
      this.setData({ error: '', loadFailed: false })
      try {
        const slug = await context.campaignOf(this)
        if (!slug) return
        const [detail, progress, steps] = await Promise.all([api.campaign(slug), api.progress(slug), api.steps(slug)])
        this.detail = detail
        this.setData({
          loading: false,
          joined: true,
          campaignTitle: detail.title,
          todaySteps: format.count(todaySteps(steps.items, detail.timezone)),
          ...positionData(progress, detail),
          lastSync: format.moment(werun.lastSync(slug)),
        })
      } catch (err) {
        this.setData({ loading: false, loadFailed: true, error: err.message })
      }
    },

    /** Uploads WeRun steps; `interactive` when the student tapped (explain a refusal). */
    async sync(interactive) {
      if (this.data.syncing || !this.slug) return
      this.setData({ syncing: true, error: '' })
      try {
        const result = await werun.syncSteps(this.slug, { interactive })
        if (result.status === 'denied') {
          this.setData({ denied: true })
          return
        }
        const { answer } = result
        const today = format.today(this.detail.timezone)
        const todayRow = answer.accepted.find(d => d.date === today)
        this.setData({
          denied: false,
          ...positionData(answer.progress, this.detail),
          lastSync: format.moment(werun.lastSync(this.slug)),
          ...(todayRow ? { todaySteps: format.count(todayRow.stored_steps) } : {}),
        })
        if (interactive) {
          const n = answer.accepted.length
          wx.showToast({ title: n ? `已同步 ${n} 天步数` : '步数已是最新', icon: 'success' })
        }
      } catch (err) {
        this.setData({ error: err.message })
      } finally {
        this.setData({ syncing: false })
      }
    },

    /** The 同步步数 tap: ask for the daily reminder first (it must come from a tap), then sync. */
    async onSync() {
      if (this.detail) {
        try {
          await werun.requestReminders(this.detail.reminder_template_ids)
        } catch (err) {
          // The reminder is optional; its failure must not stop the sync.
        }
      }
      return this.sync(true)
    },

    onOpenSetting() {
      werun.explainPermission()
    },

    onRetry() {
      return this.onShow()
    },

    onJoin() {
      wx.navigateTo({ url: '/pages/join/join' })
    },
  },
})
