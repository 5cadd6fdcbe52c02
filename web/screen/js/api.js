// The one place that talks to the server: the board token (kept in memory only), JSON
// requests with it, problem+json errors, and the live events stream.

let token = null;

/**
 * Takes the board token from `?access_token=` and removes it from the address bar, so it
 * is not left in the history, a bookmark or a screenshot of the browser.
 * @returns {string|null}
 */
export function takeToken() {
  const url = new URL(window.location.href);
  const found = url.searchParams.get('access_token');
  if (found !== null) {
    url.searchParams.delete('access_token');
    const rest = url.searchParams.toString();
    window.history.replaceState(null, '', url.pathname + (rest ? `?${rest}` : '') + url.hash);
    token = found;
  }
  return token;
}

/** The campaign slug: the last segment of `/screen/{slug}`. */
export function slugFromPath() {
  const parts = window.location.pathname.split('/').filter(Boolean);
  return decodeURIComponent(parts[parts.length - 1] || '');
}

/** An answer other than 2xx: the problem+json `code` where the server gave one. */
export class ApiProblem extends Error {
  constructor(status, code, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }

  /** True when retrying can't help: the token is wrong, expired or for another campaign. */
  get fatal() {
    return this.status === 401 || this.status === 403 || this.status === 404;
  }
}

/**
 * GET a JSON resource of the API (`path` below `/api/v1`), with the board token.
 * @throws {ApiProblem|TypeError} on an error answer, or when the server can't be reached
 */
export async function getJson(path) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`/api/v1${path}`, { headers, cache: 'no-store' });
  if (!res.ok) {
    let body = {};
    try {
      body = await res.json();
    } catch {
      // Not problem+json (a proxy's page): the status says enough.
    }
    throw new ApiProblem(res.status, body.code || '', body.detail || '');
  }
  return res.json();
}

/**
 * Repeats `load` until it succeeds, waiting 1 s, 2 s, 4 s … (at most 30 s) between
 * attempts; a fatal problem ends the attempts.
 */
export async function withRetry(load, onRetry) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await load();
    } catch (e) {
      if (e instanceof ApiProblem && e.fatal) throw e;
      onRetry?.(e);
      await new Promise((r) => { setTimeout(r, backoff(attempt)); });
    }
  }
}

/** Delay before reconnect attempt `n` (from 0): doubling from 1 s to 30 s, with jitter. */
export function backoff(n) {
  const base = Math.min(30000, 1000 * 2 ** Math.min(n, 5));
  return base / 2 + Math.random() * (base / 2);
}

const EVENTS = ['unlock', 'leaderboard', 'stats', 'resync'];

/**
 * The campaign's live events. `EventSource` reconnects by itself after a dropped stream
 * and sends `Last-Event-ID`; when it gives up (an error answer while the server restarts
 * behind a proxy), a new one is opened after a back-off, resuming after the last unlock
 * seen (`?last_event_id=`, since `EventSource` can't set headers for a new stream).
 */
export class LiveFeed {
  /**
   * @param {string} slug
   * @param {(name:string, data:any) => void} onEvent
   * @param {(live:boolean) => void} onState
   * @param {(problem:ApiProblem) => void} onFatal
   */
  constructor(slug, onEvent, onState, onFatal) {
    this.slug = slug;
    this.onEvent = onEvent;
    this.onState = onState;
    this.onFatal = onFatal;
    this.lastId = '';
    this.failures = 0;
    this.source = null;
  }

  start() {
    const q = new URLSearchParams({ access_token: token || '' });
    if (this.lastId) q.set('last_event_id', this.lastId);
    const source = new EventSource(`/api/v1/campaigns/${encodeURIComponent(this.slug)}/events?${q}`);
    this.source = source;
    for (const name of EVENTS) {
      source.addEventListener(name, (e) => {
        if (e.lastEventId) this.lastId = e.lastEventId;
        let data = null;
        try {
          data = JSON.parse(e.data);
        } catch {
          return;
        }
        this.onEvent(name, data);
      });
    }
    source.onopen = () => {
      this.failures = 0;
      this.onState(true);
    };
    source.onerror = () => {
      this.onState(false);
      if (source.readyState === EventSource.CLOSED) this.reopen();
    };
  }

  async reopen() {
    this.source?.close();
    const wait = backoff(this.failures);
    this.failures += 1;
    await new Promise((r) => { setTimeout(r, wait); });
    // The stream can't say why it was refused: ask the API once, to stop on a bad token.
    try {
      await getJson(`/campaigns/${encodeURIComponent(this.slug)}/leaderboards/participants?limit=1`);
    } catch (e) {
      if (e instanceof ApiProblem && e.fatal) {
        this.onFatal(e);
        return;
      }
    }
    this.start();
  }
}
