// 我的: profile, enrollments, the privacy notice, the certificate poster once the route is
// finished, and erasing the account.
const context = require('../../utils/context')
const api = require('../../utils/api')
const campaign = require('../../utils/campaign')
const format = require('../../utils/format')
const { drawCertificate } = require('../../utils/poster')

const POSTER = { width: 300, height: 460 }

function confirm(options) {
  return new Promise(resolve => {
    wx.showModal({ ...options, success: res => resolve(res.confirm), fail: () => resolve(false) })
  })
}

const STATUS = { active: '参与中', suspended: '已暂停' }

Component({
  data: {
    loading: true,
    error: '',
    erased: false,
    name: '',
    studentNo: '',
    enrollments: [],
    certificate: null,
    certificateNote: '',
    posterShown: false,
    poster: POSTER,
  },
  methods: {
    async onShow() {
      if (this.data.erased) return
      this.setData({ error: '' })
      try {
        const { me, slug } = await context.load()
        this.slug = slug
        this.setData({
          loading: false,
          name: me.display_name,
          studentNo: me.student_no || '未填写',
          enrollments: me.enrollments.map(e => ({
            key: e.campaign,
            title: e.campaign_title,
            cohort: e.cohort ? e.cohort.path : '个人参赛',
            status: STATUS[e.status] || e.status,
            joined: format.day(e.joined_at.slice(0, 10)),
          })),
        })
        await this.loadCertificate()
      } catch (err) {
        this.setData({ loading: false, error: err.message })
      }
    },

    async loadCertificate() {
      if (!this.slug) {
        this.setData({ certificate: null, certificateNote: '' })
        return
      }
      try {
        const cert = await api.certificate(this.slug)
        this.cert = cert
        this.setData({
          certificate: { finished: format.day(cert.finished_on), km: format.count(cert.km), url: cert.verify_url },
          certificateNote: '',
        })
      } catch (err) {
        if (err.status !== 404) throw err
        this.setData({ certificate: null, certificateNote: '走完长征全程后，可以在这里生成完赛证书。' })
      }
    },

    /** Draws the poster on the 2d canvas. */
    onPoster() {
      // The canvas exists only once the view has rendered `posterShown`.
      return new Promise(resolve => this.setData({ posterShown: true }, () => resolve())).then(() => this.drawPoster())
    },

    drawPoster() {
      return new Promise(resolve => {
        this.createSelectorQuery()
          .select('#poster')
          .fields({ node: true, size: true })
          .exec(([res]) => {
            if (!res || !res.node) {
              this.setData({ error: '无法创建证书画布，请升级微信后再试。' })
              resolve()
              return
            }
            const canvas = res.node
            const ratio = (wx.getWindowInfo ? wx.getWindowInfo() : wx.getSystemInfoSync()).pixelRatio || 1
            canvas.width = POSTER.width * ratio
            canvas.height = POSTER.height * ratio
            const ctx = canvas.getContext('2d')
            ctx.scale(ratio, ratio)
            drawCertificate(ctx, this.cert, POSTER.width, POSTER.height)
            this.canvas = canvas
            resolve()
          })
      })
    },

    onSavePoster() {
      if (!this.canvas) return
      wx.canvasToTempFilePath({
        canvas: this.canvas,
        success: res =>
          wx.saveImageToPhotosAlbum({
            filePath: res.tempFilePath,
            success: () => wx.showToast({ title: '已保存到相册', icon: 'success' }),
            fail: () => this.setData({ error: '未能保存到相册，请在设置中允许保存图片。' }),
          }),
        fail: () => this.setData({ error: '生成图片失败，请重试。' }),
      })
    },

    onCopyLink() {
      if (this.cert) wx.setClipboardData({ data: this.cert.verify_url })
    },

    async onErase() {
      const sure = await confirm({
        title: '删除账号',
        content: '删除后，你的姓名、学号和微信身份将被清除且无法恢复；已计入班级的步数会匿名保留。确定删除吗？',
        confirmText: '删除',
        confirmColor: '#FA5151',
      })
      if (!sure) return
      try {
        await api.eraseMe()
        api.forgetToken()
        campaign.forget()
        wx.clearStorageSync()
        this.setData({ erased: true })
      } catch (err) {
        this.setData({
          error: err.status === 404 ? '服务器暂不支持删除账号，请联系活动组织者。' : err.message,
        })
      }
    },
  },
})
