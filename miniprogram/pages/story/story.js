// The story of one unlocked station (`?seq=N`). Stories are markdown; they are shown as
// plain paragraphs, headings and emphasis markers dropped.
const context = require('../../utils/context')
const api = require('../../utils/api')
const format = require('../../utils/format')

/** Markdown to paragraphs of plain text. */
function paragraphs(markdown) {
  return (markdown || '')
    .split(/\n\s*\n/)
    .map(p =>
      p
        .replace(/^\s{0,3}(#{1,6}|>|[-*+])\s+/gm, '')
        .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
        .replace(/(\*\*|__|\*|_|`)/g, '')
        .replace(/\s*\n\s*/g, '')
        .trim(),
    )
    .filter(Boolean)
}

Component({
  data: { loading: true, error: '', locked: false, heading: '', title: '', meta: '', paragraphs: [] },
  methods: {
    onLoad(query) {
      this.seq = Number(query.seq)
    },

    async onShow() {
      this.setData({ error: '' })
      try {
        const { slug } = await context.load()
        if (!slug) throw new Error('你还没有加入活动。')
        const view = await api.milestones(slug)
        const m = view.items.find(i => i.seq === this.seq)
        if (!m) throw new Error('没有这一站。')
        if (m.status !== 'unlocked') {
          this.setData({ loading: false, locked: true, heading: `第${m.seq}站 ${m.name}` })
          return
        }
        const body = paragraphs(m.story)
        // A story that opens with its own title as a heading should not show it twice.
        if (body[0] === m.title) body.shift()
        this.setData({
          loading: false,
          locked: false,
          heading: `第${m.seq}站 ${m.name}`,
          title: m.title,
          meta: `历史日期 ${format.eventDates(m.event_date, m.event_date_end)} · ${format.day(m.reached_on)}到达`,
          paragraphs: body,
          image: m.image_url || '',
        })
      } catch (err) {
        this.setData({ loading: false, error: err.message })
      }
    },
  },
})
