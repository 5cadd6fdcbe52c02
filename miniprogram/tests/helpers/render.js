/** Renders a page with miniprogram-simulate and runs its lifecycle like the client would. */
const path = require('path')
const simulate = require('miniprogram-simulate')

const ROOT = path.join(__dirname, '..', '..')

const loaded = {}

async function settle() {
  for (let i = 0; i < 25; i += 1) await new Promise(resolve => setTimeout(resolve, 2))
}

/**
 * @param {string} name the page folder under pages/
 * @param {object} [query] the page's onLoad query
 */
async function renderPage(name, query = {}) {
  // Jest keeps its own module cache, so a page's script runs (and registers) once per test file.
  if (!loaded[name]) loaded[name] = simulate.load(path.join(ROOT, 'pages', name, name), { rootPath: ROOT })
  const id = loaded[name]
  const page = simulate.render(id)
  page.attach(document.createElement('parent-wrapper'))
  if (page.instance.onLoad) await page.instance.onLoad(query)
  if (page.instance.onShow) await page.instance.onShow()
  await settle()
  return page
}

/** All the text the student sees, whitespace collapsed. */
function textOf(page) {
  const parts = []
  const walk = node => {
    if (node.nodeType === 3) parts.push(node.textContent.replace(/\s+/g, ' ').trim())
    node.childNodes.forEach(walk)
  }
  walk(page.dom)
  return parts.filter(Boolean).join(' ')
}

/**
 * Expects the page to show every one of `shows` and none of `hides`.
 * @param {object} page a rendered page
 * @param {{ shows?: string[], hides?: string[] }} texts
 */
function expectText(page, { shows = [], hides = [] }) {
  const text = textOf(page)
  for (const shown of shows) expect(text).toContain(shown)
  for (const hidden of hides) expect(text).not.toContain(hidden)
}

/** Taps an element (or the first one matching a selector) and waits for what follows. */
async function tap(page, target) {
  const el = typeof target === 'string' ? page.querySelector(target) : target
  if (!el) throw new Error(`nothing matches ${target}`)
  el.dispatchEvent('tap')
  await settle()
}

module.exports = { renderPage, textOf, expectText, tap, settle, simulate }
