// The page's only door to the service: bearer token from the sign-in form, problem+json errors as messages.

const TOKEN_KEY = "salpimi.token";

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forget() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** Sign in with the API's OAuth2 password flow; the token lives in this tab's session storage only. */
export async function signIn(username, password) {
  const body = new URLSearchParams({ username, password });
  const res = await fetch("/v1/auth/token", { method: "POST", body });
  if (!res.ok) throw new ApiError(res.status, await problem(res));
  const data = await res.json();
  sessionStorage.setItem(TOKEN_KEY, data.access_token);
  return data;
}

async function problem(res) {
  try {
    return await res.json();
  } catch {
    return null;
  }
}

/** `method path` with an optional JSON body; resolves to the JSON answer (null for 204). */
export async function call(method, path, body) {
  const headers = { Accept: "application/json, application/problem+json" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (!res.ok) throw new ApiError(res.status, await problem(res));
  if (res.status === 204) return null;
  return res.json();
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body);

/** GET that answers null on 404 (optional endpoints: the page works without them). */
export async function maybe(path) {
  try {
    return await get(path);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return null;
    throw e;
  }
}

/** An authenticated image (charts): an object URL of its bytes, since an <img> cannot send the token. */
export async function objectUrl(path) {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${token()}` } });
  if (!res.ok) throw new ApiError(res.status, await problem(res));
  return URL.createObjectURL(await res.blob());
}
