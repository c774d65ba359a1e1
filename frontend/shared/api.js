// The one way pages talk to the gateway: bearer token in, problem+json out as an ApiError.

import { token, signOut } from './session.js';

/** A failed request, with the problem+json details and per-field messages. */
export class ApiError extends Error {
  constructor({ status, title, detail, errors = [], requestId = null, type = null, method = 'GET' }) {
    super(detail || title || `Request failed (${status})`);
    this.status = status;
    this.method = method;
    this.title = title || '';
    this.detail = detail || '';
    this.type = type;
    this.requestId = requestId;
    /** [{field, message}] with field names as the API sent them, e.g. "score" or "kpis[0].weight". */
    this.errors = errors;
  }

  /** The message for a field (matching "score", "body.score" or "data.score"), or undefined. */
  fieldMessage(name) {
    const hit = this.errors.find((e) => fieldKey(e.field) === name);
    return hit && hit.message;
  }

  /** A sentence a person can act on. */
  get humanMessage() {
    if (this.status === 0) return 'The KPI service cannot be reached right now. Check your connection and try again.';
    if (this.status === 403) return this.detail || 'You do not have access to this.';
    // The gateway's own 503 and 504 say what to do (a 504's request may have been applied).
    if ((this.status === 503 || this.status === 504) && this.detail) return this.detail;
    const reference = this.requestId ? ` (Reference ${this.requestId})` : '';
    // Without a problem's words (a proxy's HTML page, say), the status says enough.
    if (this.status === 504) {
      return 'The KPI service took too long to answer.' + (this.method === 'GET'
        ? ' Please try again in a moment.'
        : ' What you sent may have been saved: check before sending it again.') + reference;
    }
    if (this.status === 502 || this.status === 503) {
      return 'The KPI service is not available right now. Please try again in a moment.' + reference;
    }
    if (this.status >= 500) return 'Something went wrong on our side. Please try again in a moment.' + reference;
    return this.detail || this.title || `The request could not be completed (error ${this.status}).`;
  }
}

/** Normalise an API field path to a form control name: "body.kpis[0].weight" -> "kpis[0].weight". */
export function fieldKey(field) {
  if (!field) return '';
  return String(field).replace(/^(body|data|request|\$)\.?/, '');
}

/** A response's JSON body, or null. An error's body that is not JSON (an HTML page from a proxy
 * or a load balancer) is no message for a person: its ApiError says the status in words instead. */
async function parseBody(response) {
  const type = response.headers.get('content-type') || '';
  if (response.status === 204) return null;
  const text = await response.text();
  if (!text) return null;
  if (type.includes('json')) {
    try { return JSON.parse(text); } catch { return response.ok ? { detail: text } : null; }
  }
  return response.ok ? { detail: text.slice(0, 300) } : null;
}

/** Send a request to any gateway path; JSON in and out; throws ApiError. */
export async function request(url, { method = 'GET', body, query, signal, auth = true, redirectOn401 = true, withNext = false } = {}) {
  const target = new URL(url, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') target.searchParams.set(key, value);
  }
  const headers = { Accept: 'application/json, application/problem+json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const bearer = token();
  if (auth && bearer) headers.Authorization = `Bearer ${bearer}`;

  let response;
  try {
    response = await fetch(target, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError({ status: 0, title: 'Network error' });
  }
  const data = await parseBody(response);
  if (response.ok) return withNext ? { data, next: nextLink(response, target) } : data;

  const problem = data && typeof data === 'object' ? data : {};
  const error = new ApiError({
    status: response.status,
    title: problem.title,
    detail: problem.detail,
    type: problem.type,
    errors: normaliseErrors(problem),
    requestId: response.headers.get('x-request-id'),
    method,
  });
  if (response.status === 401 && auth && redirectOn401) {
    signOut();
    const next = location.pathname.split('/').pop() + location.search;
    location.replace('index.html?expired=1&next=' + encodeURIComponent(next));
  }
  throw error;
}

function normaliseErrors(problem) {
  const list = Array.isArray(problem.errors) ? problem.errors : [];
  const out = [];
  for (const item of list) {
    if (item && typeof item === 'object') {
      out.push({ field: item.field || item.key || item.loc || '', message: item.message || item.msg || item.detail || 'Please check this value.' });
    }
  }
  // Litestar's default validation shape: {"extra": [{"key", "message"}]}
  if (!out.length && Array.isArray(problem.extra)) {
    for (const item of problem.extra) {
      if (item && typeof item === 'object') out.push({ field: item.key || '', message: item.message || 'Please check this value.' });
    }
  }
  return out;
}

/** A call to the KPI API under /api/v1. */
export function api(path, options) {
  return request('/api/v1' + path, options);
}

/** The URL of the next page a response names in its `Link` header (RFC 8288), or null. */
function nextLink(response, requested) {
  const match = /<([^>]*)>\s*;\s*rel="?next"?/.exec(response.headers.get('link') || '');
  return match ? new URL(match[1], requested).href : null;
}

/** Every item of a plain list whose pages are linked by `Link: <…>; rel="next"`, up to `max`. */
export async function allLinkedPages(path, { query = {}, max = 20000 } = {}) {
  const items = [];
  let page = await api(path, { query, withNext: true });
  items.push(...page.data);
  while (page.next && items.length < max) {
    page = await request(page.next, { withNext: true });
    items.push(...page.data);
  }
  return items;
}

/** A call to the contract-system simulator (the stand-in for the external contract system). */
export function contractSystem(path, options) {
  return request('/contract-sim' + path, options);
}

/**
 * Answers can come back out of order (a person switches a filter or a template quickly).
 * `latestOnly()` gives a function that marks the start of a load and returns `isLatest()`:
 * a load draws only while no later one has started.
 */
export function latestOnly() {
  let latest = 0;
  return () => {
    const mine = ++latest;
    return () => mine === latest;
  };
}
