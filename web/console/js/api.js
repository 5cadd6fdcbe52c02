// The one place that talks to the API: the organiser's token (sessionStorage, gone when
// the tab closes), JSON and CSV requests, problem+json errors, downloads and the event URL.

import { problemText, t } from './i18n.js';

const TOKEN = 'longmarch.console.token';
const USER = 'longmarch.console.user';

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN);
  },
  get user() {
    try {
      return JSON.parse(sessionStorage.getItem(USER) || 'null');
    } catch {
      return null;
    }
  },
  save(answer) {
    sessionStorage.setItem(TOKEN, answer.token);
    sessionStorage.setItem(USER, JSON.stringify({ ...answer.organiser, expires_at: answer.expires_at }));
  },
  clear() {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(USER);
  },
};

/** A failed request: `code` is the API's stable code, `errors` its per-field or per-line list. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problemText(problem.code, problem.detail));
    this.status = status;
    this.code = problem.code;
    this.detail = problem.detail;
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
  }
}

let unauthorized = () => {};

/** What to do when the token is refused (the app goes back to the login). */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

async function request(method, path, { body, csv, query } = {}) {
  const headers = { Accept: 'application/json, application/problem+json' };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  let payload;
  if (csv !== undefined) {
    headers['Content-Type'] = 'text/csv; charset=utf-8';
    payload = csv;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const search = query ? `?${new URLSearchParams(clean(query))}` : '';
  let res;
  try {
    res = await fetch(`/api/v1${path}${search}`, { method, headers, body: payload });
  } catch {
    throw new ApiError(0, { code: 'network', detail: t('error.network') });
  }
  if (res.status === 204) return null;
  const type = res.headers.get('content-type') || '';
  const data = type.includes('json') ? await res.json() : await res.text();
  if (!res.ok) {
    const problem = typeof data === 'object' && data ? data : { code: `http_${res.status}`, detail: String(data) };
    const err = new ApiError(res.status, problem);
    if (res.status === 401 && path !== '/auth/organiser') {
      session.clear();
      unauthorized(err);
    }
    throw err;
  }
  return data;
}

function clean(query) {
  return Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== ''));
}

const slugPath = (slug) => encodeURIComponent(slug);

export const api = {
  get: (path, query) => request('GET', path, { query }),
  post: (path, body, query) => request('POST', path, { body: body ?? {}, query }),
  patch: (path, body, query) => request('PATCH', path, { body, query }),
  put: (path) => request('PUT', path),
  del: (path) => request('DELETE', path),
  csv: (path, text, query) => request('POST', path, { csv: text, query }),
  admin: (slug, rest = '') => `/admin/campaigns/${slugPath(slug)}${rest}`,
  campaign: (slug, rest = '') => `/campaigns/${slugPath(slug)}${rest}`,
};

/** Logs in and keeps the token for this tab. */
export async function login(username, password) {
  const answer = await request('POST', '/auth/organiser', { body: { username, password } });
  session.save(answer);
  return answer;
}

/** Downloads an authenticated file (the token can't ride on a plain link). */
export async function download(path, filename) {
  const res = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${session.token}` } });
  if (!res.ok) {
    const problem = await res.json().catch(() => ({ code: `http_${res.status}` }));
    if (res.status === 401) {
      session.clear();
      unauthorized();
    }
    throw new ApiError(res.status, problem);
  }
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** The live stream's URL: `EventSource` can't send headers, so the token rides in the query. */
export function eventsUrl(slug) {
  return `/api/v1/campaigns/${slugPath(slug)}/events?access_token=${encodeURIComponent(session.token ?? '')}`;
}
