// The API token of this tab, shared by the pages' scripts (loaded before them).
// When the service needs a token, open a page as /path#token=T: the fragment never
// reaches the server; the page keeps the token for this tab and sends it as a bearer
// token (and as access_token to EventSource, which cannot send headers). The token is
// read as written: URLSearchParams would turn a `+` of a base64 token into a space,
// so only %XX escapes are decoded (decodeURIComponent).
"use strict";

function tokenFromHash(hash) {
  for (const part of hash.replace(/^#/, "").split("&")) {
    if (part.startsWith("token=")) {
      try {
        return decodeURIComponent(part.slice("token=".length));
      } catch {
        return part.slice("token=".length);
      }
    }
  }
  return null;
}

const nanoAuth = (() => {
  const fromHash = tokenFromHash(location.hash);
  if (fromHash) {
    sessionStorage.setItem("nano-token", fromHash);
    history.replaceState(null, "", location.pathname + location.search);
  }
  const token = sessionStorage.getItem("nano-token");
  return {
    // fetch's options with the bearer token, when there is one.
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    // For EventSource: `&access_token=...`, or nothing.
    param: token ? `access_token=${encodeURIComponent(token)}` : "",
  };
})();

// The message of an error body: `{"error": {"message": ..}}` or `{"error": ".."}`.
async function errorMessage(response) {
  try {
    const body = await response.json();
    const e = body.error;
    return typeof e === "string" ? e : (e?.message ?? JSON.stringify(body));
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}
