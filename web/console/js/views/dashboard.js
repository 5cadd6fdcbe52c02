// The live dashboard: headline figures, the per-day chart, the cohort board with drill-down
// and metric switch, and the participant board with search — refreshed whenever the
// campaign's event stream says something changed, never by reloading the page.

import { api, eventsUrl } from '../api.js';
import { debounce, h, mount, num, percent, table } from '../dom.js';
import { t } from '../i18n.js';
import { dayChart } from '../chart.js';

const METRICS = ['progress', 'total', 'mean', 'participation'];

export async function render({ root, slug }) {
  const campaign = await api.get(api.admin(slug));
  const route = await api.get(`/admin/routes/${campaign.route_id}`);
  const stationName = (n) => (n > 0 && route.stations[n - 1] ? t('dash.station', { seq: n, name: route.stations[n - 1].name }) : '—');

  const state = { metric: 'progress', trail: [], query: '', cohort: null };
  const live = h('span', { class: 'live off', id: 'live' }, t('dash.offline'));
  const tiles = h('div', { class: 'tiles', id: 'tiles' });
  const chart = h('div', { class: 'chart-box', id: 'chart' });
  const cohortBox = h('div', { id: 'cohort-board' });
  const peopleBox = h('div', { id: 'participant-board' });
  const unlocks = h('ul', { class: 'unlocks', id: 'unlocks' });
  const search = h('input', { type: 'search', id: 'participant-search', placeholder: t('dash.search'), autocomplete: 'off' });
  search.addEventListener('input', debounce(() => {
    state.query = search.value.trim();
    refreshPeople();
  }, 250));
  const metricSwitch = h('div', { class: 'switch', role: 'group', id: 'metric-switch' }, METRICS.map((m) => {
    const b = h('button', { type: 'button', dataset: { metric: m }, class: m === state.metric ? 'on' : '' }, t(`metric.${m}`));
    b.addEventListener('click', () => {
      state.metric = m;
      for (const x of metricSwitch.children) x.className = x.dataset.metric === m ? 'on' : '';
      refreshCohorts();
    });
    return b;
  }));
  const crumbs = h('nav', { class: 'crumbs', id: 'cohort-crumbs' });

  const tile = (key, value, sub, id) => h('div', { class: 'tile', id }, h('span', { class: 'label' }, t(key)), h('strong', { class: 'value' }, value), sub ? h('small', {}, sub) : null);
  const showStats = (s) => mount(tiles,
    tile('dash.enrolled', num(s.enrolled), s.suspended ? `− ${num(s.suspended)}` : null, 'tile-enrolled'),
    tile('dash.active_today', num(s.active_today), s.today, 'tile-active'),
    tile('dash.participation', percent(s.participation_percent), `${num(s.active_ever)} / ${num(s.enrolled)}`, 'tile-participation'),
    tile('dash.km', num(s.km, 1), `${num(s.counted_steps)} ${t('col.steps')}`, 'tile-km'),
    tile('dash.furthest', stationName(s.furthest_stations_reached), s.furthest_subject ?? '', 'tile-furthest'),
    tile('dash.median', stationName(s.median_stations_reached), t('dash.of_stations', { total: s.stations_total }), 'tile-median'),
    tile('dash.flagged', num(s.flagged_days), `${num(s.voided_days)} ${t('review.voided')}`, 'tile-flagged'));

  const refreshStats = async () => {
    const s = await api.get(api.admin(slug, '/stats'));
    showStats(s);
    mount(chart, dayChart(s.series, { title: t('dash.chart'), steps: t('dash.chart.steps'), active: t('dash.chart.active') }),
      h('p', { class: 'legend' }, h('span', { class: 'key bar' }), t('dash.chart.steps'), h('span', { class: 'key line' }), t('dash.chart.active')));
  };

  const metricCell = (c) => ({
    progress: `${num(c.position.km, 1)} km`,
    total: num(c.counted_steps),
    mean: num(c.mean_steps),
    participation: percent(c.participation_percent),
  })[state.metric];

  const refreshCohorts = async () => {
    const parent = state.trail.at(-1);
    const board = await api.get(api.campaign(slug, '/leaderboards/cohorts'), { metric: state.metric, parent: parent?.id });
    mount(crumbs,
      h('a', { href: '#', onclick: (e) => { e.preventDefault(); state.trail = []; state.cohort = null; refreshCohorts(); refreshPeople(); } }, t('dash.top')),
      state.trail.map((c, i) => [' › ', h('a', { href: '#', onclick: (e) => { e.preventDefault(); state.trail = state.trail.slice(0, i + 1); state.cohort = c.id; refreshCohorts(); refreshPeople(); } }, c.name)]));
    const rows = board.items.map((c) => {
      const row = h('tr', { class: c.has_children ? 'drill' : 'leaf', dataset: { cohort: c.id, path: c.path } },
        h('td', { class: 'num' }, c.rank),
        h('td', {}, c.name, c.has_children ? ' ›' : ''),
        h('td', { class: 'num' }, num(c.member_count)),
        h('td', { class: 'num metric' }, metricCell(c)),
        h('td', {}, c.position.current_station ? c.position.current_station.name : '—'));
      row.addEventListener('click', () => {
        state.cohort = c.id;
        if (c.has_children) {
          state.trail.push({ id: c.id, name: c.name });
          refreshCohorts();
        }
        refreshPeople();
      });
      return row;
    });
    mount(cohortBox, rows.length
      ? table([t('col.rank'), t('col.cohort'), t('col.members'), t(`metric.${state.metric}`), t('col.position')], rows, { class: 'board' })
      : h('p', { class: 'empty' }, t('common.none')));
  };

  const refreshPeople = async () => {
    const board = await api.get(api.campaign(slug, '/leaderboards/participants'), { limit: 20, q: state.query, cohort: state.cohort });
    const rows = board.items.map((p) => h('tr', {},
      h('td', { class: 'num' }, p.rank),
      h('td', {}, p.display_name),
      h('td', { class: 'mono' }, p.student_no ?? ''),
      h('td', {}, p.cohort ?? ''),
      h('td', { class: 'num' }, num(p.counted_steps)),
      h('td', { class: 'num' }, num(p.km, 1)),
      h('td', { class: 'num' }, p.stations_reached)));
    mount(peopleBox, rows.length
      ? [table([t('col.rank'), t('col.name'), t('col.student_no'), t('col.cohort'), t('col.steps'), t('col.km'), t('col.stations')], rows, { class: 'board' }),
        h('p', { class: 'muted' }, `${num(board.items.length)} / ${num(board.total)}`)]
      : h('p', { class: 'empty' }, t('common.none')));
  };

  const refreshAll = () => Promise.all([refreshStats(), refreshCohorts(), refreshPeople()]).catch(() => {});
  const soon = debounce(refreshAll, 200);

  mount(root,
    h('div', { class: 'page-head' }, h('h1', {}, campaign.title, ' ', h('span', { class: `badge ${campaign.status}` }, t(`status.${campaign.status}`))), live),
    tiles,
    h('section', { class: 'card' }, h('h2', {}, t('dash.chart')), chart),
    h('div', { class: 'grid two' },
      h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, t('dash.cohorts')), metricSwitch), crumbs, cohortBox),
      h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, t('dash.participants')), search), peopleBox)),
    h('section', { class: 'card' }, h('h2', {}, t('dash.unlocks')), unlocks));
  await Promise.all([refreshStats(), refreshCohorts(), refreshPeople()]);

  const stream = new EventSource(eventsUrl(slug));
  stream.addEventListener('open', () => {
    live.className = 'live on';
    live.textContent = t('dash.live');
  });
  stream.addEventListener('error', () => {
    live.className = 'live off';
    live.textContent = t('dash.offline');
  });
  stream.addEventListener('stats', (e) => {
    showStats(JSON.parse(e.data));
    soon();
  });
  stream.addEventListener('leaderboard', soon);
  stream.addEventListener('resync', soon);
  stream.addEventListener('unlock', (e) => {
    const u = JSON.parse(e.data);
    unlocks.prepend(h('li', {}, h('strong', {}, u.name), ` → ${u.station_name}`, h('small', {}, ` ${u.reached_on}`)));
    while (unlocks.children.length > 8) unlocks.lastChild.remove();
    soon();
  });
  return () => stream.close();
}
