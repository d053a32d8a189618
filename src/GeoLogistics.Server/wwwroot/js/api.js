// REST calls with the session cookie. Errors come back as RFC 9457 problem details; a lost session goes to /login.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem ?? {};
  }
}

export async function api(path, { method = 'GET', body, headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    location.assign('/login');
    throw new ApiError(401, { detail: 'Your session has ended.' });
  }
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) {
    throw new ApiError(response.status, json);
  }
  return json;
}

/** The first field error of a validation problem, or its detail. */
export function describe(error) {
  const errors = error?.problem?.errors;
  if (errors) {
    const [field, messages] = Object.entries(errors)[0] ?? [];
    if (field) return `${field}: ${messages[0]}`;
  }
  return error?.message ?? String(error);
}
