// Requests to the cluster. Every request goes to the page's own origin.

export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }

  get retryable() {
    return this.status === 0 || this.status === 408 || this.status === 429 ||
      this.status >= 500;
  }
}

// Requests authenticated by the session cookie that change state must carry
// this header, which other sites cannot add without a CORS preflight.
export const STATE_HEADERS = {
  "X-Concord-Request": "1",
  "Content-Type": "application/json",
};

export function createApi(reauthUrl, onExpired) {
  async function request(method, path, body) {
    const init = { method, credentials: "same-origin", headers: {} };
    if (method !== "GET") {
      init.headers = { ...STATE_HEADERS };
      init.body = JSON.stringify(body === undefined ? {} : body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new ApiError(`Network error: ${error.message}`, 0, "network");
    }
    if (response.status === 401) {
      onExpired(reauthUrl);
      throw new ApiError("The session expired.", 401, "unauthorized");
    }
    return readResponse(response);
  }

  return {
    get: (path) => request("GET", path),
    post: (path, body) => request("POST", path, body),
  };
}

async function readResponse(response) {
  let payload = null;
  try {
    payload = await response.json();
  } catch (error) {
    payload = null;
  }
  if (response.ok) return payload;
  const detail = payload && payload.error ? payload.error : {};
  const message = detail.message || `Request failed with HTTP status ${response.status}.`;
  throw new ApiError(message, response.status, detail.code || "http_error");
}
