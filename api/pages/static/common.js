// Shared by every page: the page's strings, and calls to /v1 with the session cookie and its CSRF token.
(function () {
  "use strict";
  const strings = JSON.parse(document.getElementById("strings").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const language = document.documentElement.lang === "en" ? "en" : "zh-CN";

  async function api(method, path, body) {
    const headers = { Accept: "application/json", "Accept-Language": language };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrf;
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const type = response.headers.get("content-type") || "";
    const data = type.includes("json") ? await response.json() : null;
    if (!response.ok) {
      const error = new Error((data && data.error && data.error.message) || response.statusText);
      error.status = response.status;
      error.code = data && data.error && data.error.code;
      throw error;
    }
    return data;
  }

  window.evidence = { strings, csrf, language, api, t: (key) => strings[key] || key };
})();
