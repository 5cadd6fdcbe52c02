/**
 * Draws a finisher's certificate on a 2d canvas context. Pure drawing: the page finds the
 * canvas node and scales it for the screen.
 */
const format = require('./format')

/**
 * Lines of text wrapped to `maxWidth` (measured per character: Chinese has no spaces to break at).
 * @returns {string[]}
 */
function wrap(ctx, text, maxWidth) {
  const lines = []
  let line = ''
  for (const ch of text) {
    if (line && ctx.measureText(line + ch).width > maxWidth) {
      lines.push(line)
      line = ch
    } else {
      line += ch
    }
  }
  if (line) lines.push(line)
  return lines
}

/**
 * @param {any} ctx the 2d context of a `<canvas type="2d">` node (`canvas.getContext('2d')`)
 * @param {{verify_url: string, display_name_masked: string, campaign_title: string, route_name: string, finished_on: string, km: number, school?: string}} cert
 * @param {number} width CSS pixels
 * @param {number} height CSS pixels
 */
function drawCertificate(ctx, cert, width, height) {
  ctx.fillStyle = '#fdf6e3'
  ctx.fillRect(0, 0, width, height)
  ctx.strokeStyle = '#b22222'
  ctx.lineWidth = 4
  ctx.strokeRect(10, 10, width - 20, height - 20)

  const centre = (text, y, font, colour) => {
    ctx.font = font
    ctx.fillStyle = colour
    ctx.textAlign = 'center'
    ctx.fillText(text, width / 2, y)
  }
  centre('完赛证书', 70, 'bold 30px sans-serif', '#b22222')
  centre(cert.campaign_title, 110, '16px sans-serif', '#333333')
  centre(cert.display_name_masked, 180, 'bold 26px sans-serif', '#111111')
  if (cert.school) centre(cert.school, 212, '15px sans-serif', '#555555')

  ctx.font = '15px sans-serif'
  ctx.fillStyle = '#333333'
  ctx.textAlign = 'center'
  const body = `于${format.day(cert.finished_on)}走完${cert.route_name}全程 ${format.count(cert.km)} 公里，特发此证。`
  wrap(ctx, body, width - 60).forEach((line, i) => ctx.fillText(line, width / 2, 260 + i * 24))

  centre('访问以下链接验证本证书', height - 90, '12px sans-serif', '#777777')
  ctx.font = '11px monospace'
  ctx.fillStyle = '#576b95'
  wrap(ctx, cert.verify_url, width - 40).forEach((line, i) => ctx.fillText(line, width / 2, height - 68 + i * 16))
}

module.exports = { drawCertificate, wrap }
