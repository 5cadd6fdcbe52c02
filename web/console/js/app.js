// The console's shell: login state, language switch, the campaign tabs and a hash router
// (`#/campaigns`, `#/new`, `#/c/<slug>/<tab>`). Each view is a module with `render(ctx)`
// that may return a function to stop what it started (the live stream).

import { api, onUnauthorized, session } from './api.js';
import { h, mount } from './dom.js';
import { language, setLanguage, t, translate } from './i18n.js';
import { fail, toast } from './ui.js';
import * as login from './views/login.js';
import * as campaigns from './views/campaigns.js';
import * as wizard from './views/wizard.js';
import * as dashboard from './views/dashboard.js';
import * as settings from './views/settings.js';
import * as cohorts from './views/cohorts.js';
import * as imports from './views/imports.js';
import * as codes from './views/codes.js';
import * as review from './views/review.js';
import * as audit from './views/audit.js';
import * as exports from './views/exports.js';
import * as sharing from './views/sharing.js';

const TABS = { dashboard, settings, cohorts, imports, codes, review, audit, exports, sharing };

let stop = null;
let generation = 0;

function parse(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'c' && parts[1]) return { view: 'campaign', slug: parts[1], tab: TABS[parts[2]] ? parts[2] : 'dashboard' };
  if (parts[0] === 'new') return { view: 'new' };
  return { view: 'campaigns' };
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function renderNav(slug, tab) {
  const nav = document.getElementById('campaign-nav');
  nav.hidden = !slug;
  if (!slug) return nav.replaceChildren();
  mount(nav,
    h('a', { href: '#/campaigns', class: 'crumb' }, t('nav.campaigns')),
    h('span', { class: 'slug' }, slug),
    Object.keys(TABS).map((name) => h('a', {
      href: `#/c/${encodeURIComponent(slug)}/${name}`,
      class: name === tab ? 'tab current' : 'tab',
      'aria-current': name === tab ? 'page' : false,
      dataset: { tab: name },
    }, t(`nav.${name}`))));
}

function renderTopbar() {
  const user = session.user;
  document.getElementById('who').textContent = user ? `${user.username}${user.role === 'admin' ? ' · admin' : ''}` : '';
  document.getElementById('logout').hidden = !user;
  document.getElementById('lang').textContent = t('lang.switch');
  document.title = t('app.title');
  translate();
}

async function route() {
  if (stop) {
    stop();
    stop = null;
  }
  const mine = ++generation;
  renderTopbar();
  // Each navigation renders into a fresh element: a slower earlier view that finishes late
  // fills a detached element instead of the page.
  const main = document.getElementById('view');
  const root = h('div');
  mount(main, root);
  if (!session.token) {
    renderNav(null);
    main.className = 'view view-login';
    login.render({ root, done: () => (location.hash && location.hash !== '#/' ? route() : go('#/campaigns')) });
    return;
  }
  const where = parse(location.hash);
  renderNav(where.slug, where.tab);
  main.className = `view view-${where.tab ?? where.view}`;
  try {
    let cleanup;
    if (where.view === 'campaigns') cleanup = await campaigns.render({ root, go });
    else if (where.view === 'new') cleanup = await wizard.render({ root, go });
    else cleanup = await TABS[where.tab].render({ root, slug: where.slug, go, user: session.user, api });
    if (mine === generation) stop = cleanup ?? null;
    else cleanup?.();
  } catch (err) {
    // A refused token has already brought the login back.
    if (err.status === 401 || mine !== generation) return;
    fail(err);
    mount(root, h('p', { class: 'error' }, err.message));
  }
}

onUnauthorized(() => {
  toast(t('login.expired'), 'error');
  route();
});

document.getElementById('lang').addEventListener('click', () => {
  setLanguage(language() === 'en' ? 'zh' : 'en');
  route();
});
document.getElementById('logout').addEventListener('click', () => {
  session.clear();
  go('#/campaigns');
});
window.addEventListener('hashchange', route);
setLanguage(language());
route();
