"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const b = document.getElementById("public-toggle");
  if (!b) return;
  b.addEventListener("click", async () => {
    const r = await window.dalel.api("POST", "/api/results/public", { public: b.dataset.public !== "on" });
    if (r.status === 200) location.reload();
  });
});
