// The teacher's page: a resumable upload through /v1/uploads (parts to presigned S3 URLs, or through the
// API on local storage) that survives a dropped connection, and a page that updates once screening ends.
(function () {
  "use strict";
  const { api, t, csrf, language } = window.evidence;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // -- waiting for screenings to finish --------------------------------------------------------------
  const list = document.getElementById("submissions");
  const waiting = (list && list.dataset.waiting ? list.dataset.waiting.split(",") : []).filter(Boolean);
  if (waiting.length) {
    const poll = async () => {
      for (const id of waiting) {
        try {
          const sub = await api("GET", "/v1/submissions/" + encodeURIComponent(id));
          if (sub.status !== "queued" && sub.status !== "processing") {
            window.location.reload();
            return;
          }
        } catch (e) {
          /* try again on the next round */
        }
      }
      setTimeout(poll, 3000);
    };
    setTimeout(poll, 3000);
  }

  // -- uploading ---------------------------------------------------------------------------------------
  const form = document.getElementById("upload-form");
  if (!form) return;
  const fileInput = document.getElementById("upload-file");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const button = document.getElementById("upload-button");

  const say = (text) => { status.textContent = text; };
  const show = (fraction) => {
    bar.hidden = false;
    bar.value = Math.round(1000 * Math.min(1, fraction));
  };

  function sendPart(part, blob, onProgress) {
    return new Promise((resolve, reject) => {
      const viaApi = part.url.startsWith("/");
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", part.url);
      if (viaApi) {
        xhr.setRequestHeader("X-CSRF-Token", csrf);
        xhr.setRequestHeader("Accept-Language", language);
      }
      xhr.upload.onprogress = (e) => onProgress(e.loaded);
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          let etag = xhr.getResponseHeader("ETag") || "";
          if (viaApi) etag = JSON.parse(xhr.responseText).etag;
          resolve(etag);
          return;
        }
        let message = "HTTP " + xhr.status;
        try { message = JSON.parse(xhr.responseText).error.message; } catch (e) { /* not ours */ }
        // 5xx: try again; 403 from S3: the presigned URL expired, fetch a fresh one.
        const retry = xhr.status >= 500 || (!viaApi && xhr.status === 403);
        reject(Object.assign(new Error(message), { retry }));
      };
      xhr.onerror = xhr.ontimeout = () => reject(Object.assign(new Error("network"), { retry: true }));
      xhr.send(blob);
    });
  }

  async function patiently(call) {
    for (let delay = 1000; ; delay = Math.min(2 * delay, 30000)) {
      try {
        return await call();
      } catch (e) {
        if (e.status && e.status < 500) throw e;  // an answer, not a dropped connection
        say(t("upload_retrying"));
        await sleep(delay);
      }
    }
  }

  async function openUpload(file, fields) {
    const key = ["evidence-upload", fields.teacher_id, fields.resubmission_of || "",
                 file.name, file.size, file.lastModified].join(":");
    const saved = localStorage.getItem(key);
    if (saved) {
      try {
        const upload = await patiently(() => api("GET", "/v1/uploads/" + encodeURIComponent(saved)));
        if (upload.status === "open") return [key, upload];
      } catch (e) { /* gone: start again */ }
      localStorage.removeItem(key);
    }
    const body = { ...fields, filename: file.name, size_bytes: file.size };
    const upload = await patiently(() => api("POST", "/v1/uploads", body));
    localStorage.setItem(key, upload.id);
    return [key, upload];
  }

  async function run(file, fields) {
    let [key, upload] = await openUpload(file, fields);
    const etags = {};
    let delay = 1000;
    for (;;) {
      for (const part of upload.received) etags[part.number] = part.etag;
      let done = upload.received.reduce((n, part) => n + part.size, 0);
      show(done / file.size);
      try {
        for (const part of upload.parts) {
          const start = (part.number - 1) * upload.part_bytes;
          const blob = file.slice(start, start + part.size, "application/octet-stream");
          say(t("uploading"));
          etags[part.number] = await sendPart(part, blob, (sent) => show((done + sent) / file.size));
          done += part.size;
          delay = 1000;
        }
        break;
      } catch (e) {
        if (!e.retry) throw e;
        say(t("upload_retrying"));
        await sleep(delay);
        delay = Math.min(2 * delay, 30000);
        const id = upload.id;
        upload = await patiently(() => api("GET", "/v1/uploads/" + encodeURIComponent(id)));
      }
    }
    const parts = Object.entries(etags).map(([number, etag]) => ({ number: Number(number), etag }));
    const id = upload.id;
    const submission = await patiently(() => api("POST", "/v1/uploads/" + encodeURIComponent(id) + "/complete", { parts }));
    localStorage.removeItem(key);
    return submission;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = fileInput.files[0];
    const caps = [...form.querySelectorAll('input[name="cap"]:checked')].map((box) => box.value);
    if (!file || !caps.length) {
      say(t("pick_file_and_caps"));
      return;
    }
    const fields = { teacher_id: form.dataset.teacherId, micro_capabilities: caps };
    if (form.dataset.resubmissionOf) fields.resubmission_of = form.dataset.resubmissionOf;
    button.disabled = true;
    try {
      const submission = await run(file, fields);
      show(1);
      say(t("upload_done"));
      form.dataset.submissionId = submission.id;
      setTimeout(() => { window.location.href = "/me"; }, 800);
    } catch (e) {
      say(t("upload_failed") + e.message);
      button.disabled = false;
    }
  });
})();
