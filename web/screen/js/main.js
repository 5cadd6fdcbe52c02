// The big screen of one campaign: loads the route and the boards, then follows the live
// events. Whatever happens to the connection, the last state stays on screen.

import { ApiProblem, LiveFeed, getJson, slugFromPath, takeToken, withRetry } from './api.js';
import { RouteMap } from './map.js';
import {
  nextDay, pushUnlock, showCohorts, showCountdown, showParticipants, showStats, zoneMidnight,
} from './panels.js';

const slug = slugFromPath();
const base = `/campaigns/${encodeURIComponent(slug)}`;
const state = {
  map: null,
  cohorts: [],
  participants: [],
  refreshing: false,
  again: false,
};

function fatal(message) {
  const box = document.getElementById('fatal');
  box.textContent = message;
  box.hidden = false;
}

function explain(problem) {
  if (problem.status === 401) return '大屏令牌无效或已过期：请在控制台重新生成大屏链接。';
  if (problem.status === 403) return '这个大屏令牌不属于本活动：请使用控制台给出的链接。';
  if (problem.status === 404) return `找不到活动 “${slug}”，或活动尚未公开。`;
  return `无法加载大屏：${problem.message}`;
}

function setLive(live) {
  document.getElementById('reconnecting').hidden = live;
  document.body.classList.toggle('offline', !live);
}

/** Moves the markers: cohorts (classes) where the campaign has any, else the top participants. */
function redrawMarkers() {
  if (!state.map) return;
  const subjects = state.cohorts.length > 0
    ? state.cohorts.map((c) => ({ key: `c${c.id}`, name: c.name, metres: c.position.metres }))
    : state.participants.map((p, i) => ({ key: `p${i}`, name: p.display_name, metres: p.metres }));
  state.map.update(subjects);
}

/** Reloads the class board; calls that come while one runs are folded into one more. */
async function refreshCohorts() {
  if (state.refreshing) {
    state.again = true;
    return;
  }
  state.refreshing = true;
  try {
    do {
      state.again = false;
      const board = await getJson(`${base}/leaderboards/cohorts?metric=progress&level=leaf`);
      state.cohorts = board.items;
      showCohorts(board.items);
      redrawMarkers();
    } while (state.again);
  } catch (e) {
    // The stream's next snapshot tries again; the screen keeps what it shows.
    if (e instanceof ApiProblem && e.fatal) fatal(explain(e));
  } finally {
    state.refreshing = false;
  }
}

async function refreshParticipants() {
  const page = await getJson(`${base}/leaderboards/participants?limit=10`);
  state.participants = page.items;
  showParticipants(page.items);
  redrawMarkers();
}

function onEvent(name, data) {
  switch (name) {
    case 'unlock':
      pushUnlock(data);
      break;
    case 'leaderboard':
      state.participants = data.participants;
      showParticipants(data.participants);
      redrawMarkers();
      refreshCohorts();
      break;
    case 'stats':
      showStats(data);
      break;
    case 'resync':
      refreshCohorts();
      refreshParticipants().catch(() => {});
      break;
    default:
  }
}

async function start() {
  const token = takeToken();
  if (!token) {
    fatal('请使用控制台给出的大屏链接打开本页（链接中带有大屏令牌）。为安全起见，令牌只保存在本页内存中，刷新页面后需要重新打开链接。');
    return;
  }
  let campaign;
  try {
    campaign = await withRetry(() => getJson(base), () => setLive(false));
  } catch (e) {
    fatal(e instanceof ApiProblem ? explain(e) : String(e));
    return;
  }
  setLive(true);
  document.title = `${campaign.title} · 大屏`;
  document.getElementById('title').textContent = campaign.title;
  const km = Math.round(campaign.route.total_metres / 1000);
  document.getElementById('subtitle').textContent = `${campaign.route.name} · ${campaign.route.station_count}站 · 全程${km.toLocaleString('zh-CN')}公里`;
  const hasClasses = campaign.cohorts.length > 0;
  document.getElementById('cohorts-heading').textContent = hasClasses ? '班级 TOP 10' : '分组 TOP 10';
  state.map = new RouteMap(document.getElementById('map'), campaign.stations);

  const end = zoneMidnight(nextDay(campaign.ends_on), campaign.timezone);
  const closed = campaign.status === 'closed';
  showCountdown(end, closed);
  setInterval(() => showCountdown(end, closed), 1000);

  try {
    await Promise.all([refreshParticipants(), refreshCohorts()]);
  } catch (e) {
    if (e instanceof ApiProblem && e.fatal) {
      fatal(explain(e));
      return;
    }
  }
  new LiveFeed(slug, onEvent, setLive, (e) => fatal(explain(e))).start();
}

start();
