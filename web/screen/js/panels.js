// The text parts of the screen: headline figures, the two top-10 boards, the ticker of
// unlocks and the countdown to the campaign's end.

const numberFormat = new Intl.NumberFormat('zh-CN', { maximumFractionDigits: 0 });
const kmFormat = new Intl.NumberFormat('zh-CN', { maximumFractionDigits: 1, minimumFractionDigits: 1 });
const TICKER_SIZE = 8;

function byId(id) {
  return document.getElementById(id);
}

function setText(id, text) {
  const node = byId(id);
  if (node.textContent !== text) node.textContent = text;
}

/** The last part of a cohort path: `计算机学院/软件2301` → `软件2301`. */
export function shortName(path) {
  const parts = String(path || '').split('/');
  return parts[parts.length - 1];
}

/** Headline figures from a `stats` event. */
export function showStats(stats) {
  setText('total-km', numberFormat.format(Math.floor(stats.km)));
  const ranked = Math.max(0, stats.enrolled - stats.suspended);
  setText('active-today', `${numberFormat.format(stats.active_today)}`);
  const pct = ranked > 0 ? (100 * stats.active_today) / ranked : 0;
  setText('active-today-percent', `人 · ${pct.toFixed(1)}%`);
  setText('enrolled', numberFormat.format(stats.enrolled));
  const furthest = stats.furthest_subject
    ? `${stats.subject === 'cohort' ? shortName(stats.furthest_subject) : stats.furthest_subject} · ${stats.furthest_stations_reached}/${stats.stations_total}站`
    : '—';
  setText('furthest', furthest);
}

function row(rank, name, detail, value, key) {
  const li = document.createElement('li');
  li.dataset.key = key;
  const r = document.createElement('span');
  r.className = 'rank';
  r.textContent = String(rank);
  const n = document.createElement('span');
  n.className = 'name';
  n.textContent = name;
  const d = document.createElement('span');
  d.className = 'detail';
  d.textContent = detail;
  const v = document.createElement('span');
  v.className = 'km';
  v.textContent = value;
  li.append(r, n, d, v);
  return li;
}

function fill(id, rows) {
  const list = byId(id);
  if (rows.length === 0) {
    const li = document.createElement('li');
    li.className = 'idle';
    li.textContent = '暂无数据';
    list.replaceChildren(li);
    return;
  }
  list.replaceChildren(...rows);
}

/** The top 10 participants (`BoardEntry` rows). */
export function showParticipants(entries) {
  fill(
    'top-participants',
    entries.slice(0, 10).map((e) => row(e.rank, e.display_name, e.cohort || '', `${kmFormat.format(e.km)} km`, e.display_name)),
  );
}

/** The top 10 cohorts (`CohortEntry` rows, ranked by progress). */
export function showCohorts(entries) {
  fill(
    'top-cohorts',
    entries.slice(0, 10).map((c) => {
      const at = c.position.current_station ? c.position.current_station.name : '尚未出发';
      return row(c.rank, c.name, at, `${kmFormat.format(c.position.km)} km`, String(c.id));
    }),
  );
}

/** Adds an unlock to the front of the ticker: "软件2301 到达 遵义会议". */
export function pushUnlock(u) {
  const list = byId('ticker');
  list.querySelector('.idle')?.remove();
  const li = document.createElement('li');
  li.className = 'fresh';
  const who = document.createElement('strong');
  who.textContent = u.subject === 'cohort' ? shortName(u.name) : u.name;
  const where = document.createElement('em');
  where.textContent = u.station_name;
  li.append(who, ' 到达 ', where);
  li.dataset.id = u.id;
  list.prepend(li);
  // Only whole entries: the oldest leave when the line is full.
  const right = list.getBoundingClientRect().right;
  while (
    list.children.length > TICKER_SIZE
    || (list.children.length > 1 && list.lastElementChild.getBoundingClientRect().right > right)
  ) {
    list.lastElementChild.remove();
  }
  setTimeout(() => li.classList.remove('fresh'), 4000);
}

/**
 * The instant a local date begins in an IANA time zone, without a time-zone library:
 * the zone's offset at a first guess, checked once more (for a change of offset that day).
 * @param {string} isoDate YYYY-MM-DD
 * @param {string} zone
 */
export function zoneMidnight(isoDate, zone) {
  const [y, m, d] = isoDate.split('-').map(Number);
  const wall = Date.UTC(y, m - 1, d);
  let guess = wall - offsetAt(wall, zone);
  guess = wall - offsetAt(guess, zone);
  return new Date(guess);
}

function offsetAt(instant, zone) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(instant));
  const get = (t) => Number(parts.find((p) => p.type === t).value);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return asUtc - Math.floor(instant / 1000) * 1000;
}

/** The day after an ISO date. */
export function nextDay(isoDate) {
  const [y, m, d] = isoDate.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

/** Shows the time left until `end` (a Date), or that the campaign has ended. */
export function showCountdown(end, closed) {
  const left = end.getTime() - Date.now();
  if (closed || left <= 0) {
    setText('countdown-label', '活动');
    setText('countdown', '已结束');
    return;
  }
  const s = Math.floor(left / 1000);
  const days = Math.floor(s / 86400);
  const pad = (n) => String(n).padStart(2, '0');
  const clock = `${pad(Math.floor((s % 86400) / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
  setText('countdown-label', '距活动结束');
  setText('countdown', days > 0 ? `${days}天 ${clock}` : clock);
}
