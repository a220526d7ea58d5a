// The reviewer's packet: timeline stretches, keyframes and matched segments seek the player; a playhead
// follows it; the score form posts the decision to /v1 with the session's CSRF token.
(function () {
  "use strict";
  const { api, t } = window.evidence;
  const player = document.getElementById("player");

  if (player) {
    document.querySelectorAll(".seek").forEach((el) => {
      el.addEventListener("click", () => {
        player.currentTime = Number(el.dataset.t);
        player.play().catch(() => { /* the reader pressed nothing yet: seeking is enough */ });
      });
    });
    const timeline = document.getElementById("timeline");
    const duration = timeline ? Number(timeline.dataset.duration) : 0;
    player.addEventListener("timeupdate", () => {
      if (!duration) return;
      const left = Math.min(100, (100 * player.currentTime) / duration) + "%";
      document.querySelectorAll(".playhead").forEach((head) => { head.style.left = left; });
    });
  }

  const form = document.getElementById("decision-form");
  if (!form) return;
  const status = document.getElementById("decision-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = { score: Number(data.get("score")), comment: data.get("comment") || "" };
    if (data.get("override")) body.override = { overall: data.get("override"), reason: data.get("override_reason") || "" };
    document.getElementById("submit-decision").disabled = true;
    try {
      await api("POST", form.dataset.url, body);
      window.location.reload();
    } catch (e) {
      status.textContent = t("decision_failed") + e.message;
      document.getElementById("submit-decision").disabled = false;
    }
  });
})();
